/* nn_math.h: what the fused nn kernels (nn_*.c) share: a vectorizable float32 exp, the
 * outer/size/inner split of a tensor around one dim, and the attribute that compiles a
 * hot loop for AVX-512, AVX2 and baseline x86-64, picked at load time. Not part of the API. */
#ifndef AG_NN_MATH_H
#define AG_NN_MATH_H
#include "internal.h"
#include "ag_nn.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(AG_NO_CLONES)
#define AG_NN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AG_NN_CLONES
#endif

/* exp(x) for x <= 88.7 in float32, within 1.5 ulp; NaN propagates, x < -87.3 gives 0.
 * Branch-free so loops over it vectorize: Cody-Waite reduction by ln 2 with the rounding
 * done by a magic-number add whose bits also hold the biased exponent, and Cephes'
 * polynomial for exp on [-ln2/2, ln2/2]. Callers guarantee x <= 0 (x - max). */
static inline float agt_exp_f32(float x) {
  float xc = x < -87.3f ? -87.3f : x;
  float t = xc * 1.44269504088896341f + 12583039.0f;   /* 1.5 * 2^23 + 127 */
  float k = t - 12583039.0f;
  float r = xc - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits;
  memcpy(&bits, &t, 4);
  bits = (int32_t)((uint32_t)bits << 23);             /* (k + 127) << 23: the scale 2^k */
  float sc;
  memcpy(&sc, &bits, 4);
  float res = p * sc;
  return x < -87.3f ? 0.0f : res;
}
static inline double agt_exp_f64(double x) { return exp(x); }

/* A tensor seen as [outer, size, inner] around dim d (0-based). */
static inline void agt_split_dim(const ag_tensor *t, int d, int64_t *outer, int64_t *size, int64_t *inner) {
  int64_t o = 1, in = 1;
  for (int i = 0; i < d; i++) o *= t->sizes[i];
  for (int i = d + 1; i < t->ndim; i++) in *= t->sizes[i];
  *outer = o;
  *size = t->ndim ? t->sizes[d] : 1;
  *inner = in;
}

/* x itself (retained) if contiguous, else a contiguous copy. */
static inline ag_tensor *agt_contig_ref(ag_tensor *x) {
  if (agt_is_contiguous(x)) { agt_retain(x); return x; }
  return agt_contiguous(x);
}
#endif
