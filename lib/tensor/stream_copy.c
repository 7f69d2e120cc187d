/* stream_copy.c: copying a finished block from a warm scratch buffer to a freshly allocated
 * (cold) destination with streaming stores. Kernels that write their output in small
 * scattered pieces (a transpose to NCHW, rows of 26 floats) would make the CPU read every
 * destination line in before the partial store; staging the block in cache and streaming it
 * out writes each line once without reading it. */
#include "internal.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

__attribute__((target("avx512f"))) static void stream_avx512(float *dst, const float *src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  if (i < n) memcpy(dst + i, src + i, sizeof(float) * (size_t)(n - i));
  _mm_sfence();
}

void agt_copy_streaming(float *dst, const float *src, int64_t n) {
  if (n >= 16 && ((uintptr_t)dst & 63) == 0 && agt_cpu_avx512()) stream_avx512(dst, src, n);
  else memcpy(dst, src, sizeof(float) * (size_t)(n > 0 ? n : 0));
}
