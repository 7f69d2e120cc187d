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

/* OpenMP threshold of these kernels, in elements. ag's idle OpenMP threads spin for a few
 * ms before they sleep (one pool, lua/ag/lib.lua), so a parallel region costs a few µs and
 * pays off from about 32k elements of exp-heavy work (softmax of 128 x 1000: 38 -> 2x µs).
 * (It was 2^18 while idle threads slept at once and a wake cost tens of µs.) */
#define AG_NN_PARALLEL_GRAIN (1 << 15)

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

/* Hand-vectorized float32 row helpers for AVX-512 (chosen at run time with
 * agt_nn_avx512()): the same polynomial, with the scaling by 2^k done by vscalefps, which
 * underflows to 0 and needs no integer tricks, and two accumulators per loop. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(AG_NO_CLONES)
#include <immintrin.h>
#define AG_NN_AVX512 1
#define AG_AVX512 __attribute__((target("avx512f")))
static inline int agt_nn_avx512(void) { return agt_cpu_avx512(); }
AG_AVX512 static inline __m512 agt_exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);       /* NaN stays NaN; exp(-104) -> 0 */
  __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, k);
}
static inline __mmask16 agt_tail_mask(int64_t n) { return (__mmask16)((1u << n) - 1); }
AG_AVX512 static inline float agt_max512(const float *x, int64_t n) {
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
  int64_t c = 0;
  for (; c + 32 <= n; c += 32) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + c));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + c + 16));
  }
  for (; c + 16 <= n; c += 16) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + c));
  if (c < n) m1 = _mm512_mask_max_ps(m1, agt_tail_mask(n - c), m1, _mm512_maskz_loadu_ps(agt_tail_mask(n - c), x + c));
  return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}
/* sum of exp(x - m); stores each exp in y (or, with shifted, x - m) unless y is NULL */
AG_AVX512 static inline float agt_expsum512(const float *x, float m, float *y, int64_t n, int shifted) {
  __m512 mb = _mm512_set1_ps(m), s0 = _mm512_setzero_ps(), s1 = s0;
  int64_t c = 0;
  for (; c + 32 <= n; c += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + c), mb), d1 = _mm512_sub_ps(_mm512_loadu_ps(x + c + 16), mb);
    __m512 e0 = agt_exp512(d0), e1 = agt_exp512(d1);
    if (y) {
      _mm512_storeu_ps(y + c, shifted ? d0 : e0);
      _mm512_storeu_ps(y + c + 16, shifted ? d1 : e1);
    }
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
  }
  for (; c < n; c += 16) {
    __mmask16 k = n - c >= 16 ? (__mmask16)0xFFFF : agt_tail_mask(n - c);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + c), mb);
    __m512 e = _mm512_maskz_mov_ps(k, agt_exp512(d));
    if (y) _mm512_mask_storeu_ps(y + c, k, shifted ? d : e);
    s0 = _mm512_add_ps(s0, e);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
/* y = (x - a) * b + c over n elements (y may be x) */
AG_AVX512 static inline void agt_affine512(const float *x, float *y, float a, float b, float cst, int64_t n) {
  __m512 av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b), cv = _mm512_set1_ps(cst);
  int64_t c = 0;
  for (; c + 16 <= n; c += 16)
    _mm512_storeu_ps(y + c, _mm512_fmadd_ps(_mm512_sub_ps(_mm512_loadu_ps(x + c), av), bv, cv));
  if (c < n) {
    __mmask16 k = agt_tail_mask(n - c);
    _mm512_mask_storeu_ps(y + c, k, _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + c), av), bv, cv));
  }
}
#endif

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
