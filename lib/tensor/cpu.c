/* cpu.c: which vector extensions this CPU has, asked once. The AVX-512 kernels (direct and
 * Winograd convolutions, max pooling, short GEMMs, the nn row helpers) run only where this
 * says yes; everything else has a portable path. */
#include "internal.h"

int agt_cpu_avx512(void) {
  static int have = -1;
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") ? 1 : 0;
  }
  return have;
}
