/* nn_softmax.c: fused, numerically stable softmax and log_softmax along one dim, and their
 * backward kernels. One pass finds the row max, one sums exp(x - max) (storing it for
 * softmax), one normalizes; rows along the last dim run as contiguous SIMD loops, other
 * dims walk blocks of the inner positions side by side. OpenMP over rows when large. */
#include "nn_math.h"
#include <omp.h>
#include <stdio.h>

enum { JB = 64 };   /* inner positions processed together when the dim is not the last */

/* ---- forward: rows [r0, r1) of length C, contiguous ---- */
#define SOFTMAX_ROWS(T, SFX, EXP)                                                           \
  AG_NN_CLONES static void sm_rows_##SFX(const T *x, T *y, int64_t r0, int64_t r1, int64_t C, int lg) { \
    for (int64_t r = r0; r < r1; r++) {                                                    \
      const T *xr = x + r * C;                                                              \
      T *yr = y + r * C;                                                                    \
      T m = -INFINITY;                                                                      \
      _Pragma("omp simd reduction(max:m)")                                                  \
      for (int64_t c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;                            \
      if (m == -INFINITY) m = 0;   /* all -inf: sum 0, NaN out as PyTorch; NaN x: NaN sum */ \
      T s = 0;                                                                              \
      if (lg) {                                                                            \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int64_t c = 0; c < C; c++) s += EXP(xr[c] - m);                                \
        T ls = (T)log((double)s);   /* (x - max) - log(sum): exact first step */             \
        _Pragma("omp simd")                                                                 \
        for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m) - ls;                           \
      } else {                                                                              \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int64_t c = 0; c < C; c++) { T e = EXP(xr[c] - m); yr[c] = e; s += e; }        \
        T inv = (T)1 / s;                                                                   \
        _Pragma("omp simd")                                                                 \
        for (int64_t c = 0; c < C; c++) yr[c] *= inv;                                       \
      }                                                                                     \
    }                                                                                       \
  }                                                                                         \
  /* block (o, j0..j0+nj) of a [outer, C, inner] tensor: nj positions reduced side by side */ \
  AG_NN_CLONES static void sm_block_##SFX(const T *x, T *y, int64_t C, int64_t inner, int64_t nj, int lg) { \
    T m[JB], s[JB];                                                                         \
    for (int64_t j = 0; j < nj; j++) { m[j] = -INFINITY; s[j] = 0; }                        \
    for (int64_t c = 0; c < C; c++) {                                                       \
      const T *xc = x + c * inner;                                                          \
      for (int64_t j = 0; j < nj; j++) m[j] = xc[j] > m[j] ? xc[j] : m[j]; \
    }                                                                                       \
    for (int64_t j = 0; j < nj; j++) if (m[j] == -INFINITY) m[j] = 0;                       \
    for (int64_t c = 0; c < C; c++) {                                                       \
      const T *xc = x + c * inner;                                                          \
      T *yc = y + c * inner;                                                                \
      if (lg) { for (int64_t j = 0; j < nj; j++) s[j] += EXP(xc[j] - m[j]); }              \
      else { for (int64_t j = 0; j < nj; j++) { T e = EXP(xc[j] - m[j]); yc[j] = e; s[j] += e; } } \
    }                                                                                       \
    if (lg) {                                                                              \
      for (int64_t j = 0; j < nj; j++) s[j] = (T)log((double)s[j]);                         \
      for (int64_t c = 0; c < C; c++)                                                       \
        for (int64_t j = 0; j < nj; j++) y[c * inner + j] = (x[c * inner + j] - m[j]) - s[j]; \
    } else {                                                                                \
      for (int64_t j = 0; j < nj; j++) s[j] = (T)1 / s[j];                                  \
      for (int64_t c = 0; c < C; c++)                                                       \
        for (int64_t j = 0; j < nj; j++) y[c * inner + j] *= s[j];                          \
    }                                                                                       \
  }
SOFTMAX_ROWS(float, f32, agt_exp_f32)
SOFTMAX_ROWS(double, f64, agt_exp_f64)

#ifdef AG_NN_AVX512
/* float32 rows with the AVX-512 helpers: softmax stores exp(x - m) and scales it by 1/sum;
 * log_softmax sums exp(x - m) without storing and writes (x - m) - log(sum) */
AG_AVX512 static void sm_rows_f32_avx512(const float *x, float *y, int64_t r0, int64_t r1, int64_t C, int lg) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float m = agt_max512(xr, C);
    if (m == -INFINITY) m = 0;
    if (lg) {   /* y = x - m while summing, then y -= log(sum) in cache */
      float ls = (float)log((double)agt_expsum512(xr, m, yr, C, 1));
      agt_affine512(yr, yr, 0.0f, 1.0f, -ls, C);
    } else {
      float s = agt_expsum512(xr, m, yr, C, 0);
      agt_affine512(yr, yr, 0.0f, 1.0f / s, 0.0f, C);
    }
  }
}
#endif

/* ---- backward: softmax gi = y (g - sum(g y)); log_softmax gi = g - exp(y) sum(g) ---- */
#define SOFTMAX_BWD(T, SFX, EXP)                                                            \
  AG_NN_CLONES static void smb_rows_##SFX(const T *g, const T *y, T *gi, int64_t r0, int64_t r1, int64_t C, int lg) { \
    for (int64_t r = r0; r < r1; r++) {                                                    \
      const T *gr = g + r * C, *yr = y + r * C;                                             \
      T *o = gi + r * C;                                                                    \
      T s = 0;                                                                              \
      if (lg) {                                                                            \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int64_t c = 0; c < C; c++) s += gr[c];                                         \
        _Pragma("omp simd")                                                                 \
        for (int64_t c = 0; c < C; c++) o[c] = gr[c] - EXP(yr[c]) * s;                      \
      } else {                                                                              \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int64_t c = 0; c < C; c++) s += gr[c] * yr[c];                                 \
        _Pragma("omp simd")                                                                 \
        for (int64_t c = 0; c < C; c++) o[c] = yr[c] * (gr[c] - s);                         \
      }                                                                                     \
    }                                                                                       \
  }                                                                                         \
  AG_NN_CLONES static void smb_block_##SFX(const T *g, const T *y, T *gi, int64_t C, int64_t inner, int64_t nj, int lg) { \
    T s[JB];                                                                                \
    for (int64_t j = 0; j < nj; j++) s[j] = 0;                                              \
    for (int64_t c = 0; c < C; c++)                                                         \
      for (int64_t j = 0; j < nj; j++)                                                      \
        s[j] += lg ? g[c * inner + j] : g[c * inner + j] * y[c * inner + j];               \
    for (int64_t c = 0; c < C; c++)                                                         \
      for (int64_t j = 0; j < nj; j++) {                                                    \
        int64_t k = c * inner + j;                                                          \
        gi[k] = lg ? g[k] - EXP(y[k]) * s[j] : y[k] * (g[k] - s[j]);                       \
      }                                                                                     \
  }
/* exp(y) of a log-probability y <= 0; anything larger (only a caller's odd input) saturates */
static inline float exp_any_f32(float x) { return x > 88.7f ? INFINITY : agt_exp_f32(x); }
SOFTMAX_BWD(float, f32, exp_any_f32)
SOFTMAX_BWD(double, f64, agt_exp_f64)

/* Run rows or blocks of a [outer, C, inner] layout, in parallel when the work is large. */
#define DISPATCH(SFX, T, ROWS_CALL, BLOCK_CALL)                                              \
  do {                                                                                      \
    int64_t work_ = outer * C * inner;                                                      \
    if (inner == 1) {                                                                       \
      _Pragma("omp parallel if(work_ > AG_NN_PARALLEL_GRAIN && outer > 1)")                     \
      {                                                                                     \
        int nt_ = omp_get_num_threads(), id_ = omp_get_thread_num();                        \
        int64_t r0 = outer * id_ / nt_, r1 = outer * (id_ + 1) / nt_;                       \
        ROWS_CALL;                                                                          \
      }                                                                                     \
    } else {                                                                                \
      int64_t nb_ = (inner + JB - 1) / JB, items_ = outer * nb_;                            \
      _Pragma("omp parallel for schedule(static) if(work_ > AG_NN_PARALLEL_GRAIN && items_ > 1)") \
      for (int64_t it = 0; it < items_; it++) {                                             \
        int64_t o = it / nb_, j0 = (it % nb_) * JB;                                         \
        int64_t nj = inner - j0 < JB ? inner - j0 : JB, base = o * C * inner + j0;          \
        BLOCK_CALL;                                                                         \
      }                                                                                     \
    }                                                                                       \
  } while (0)

static const char *sm_name(int lg) { return lg ? "ag.log_softmax" : "ag.softmax"; }

ag_tensor *agt_softmax(ag_tensor *x, int dim, int lg) {
  const char *op = sm_name(lg);
  if (!agt_is_float(x->scalar_type))
    return agt_fail("%s: expected a floating point tensor, got %s; convert it first with :float() or :double()",
                    op, agt_dtype_name(x->scalar_type));
  int d = agt_normalize_dim(op, dim, x->ndim);
  if (d < 0) return NULL;
  ag_tensor *xc = agt_contig_ref(x);
  if (!xc) return NULL;
  ag_tensor *y = agt_new_contig(x->ndim, x->sizes, x->scalar_type);
  if (!y) { agt_release(xc); return NULL; }
  int64_t outer, C, inner;
  agt_split_dim(xc, d, &outer, &C, &inner);
  if (outer * C * inner > 0) {
    if (x->scalar_type == AG_FLOAT32) {
      const float *xp = (const float *)agt_ptr(xc); float *yp = (float *)agt_ptr(y);
#ifdef AG_NN_AVX512
      if (inner == 1 && agt_nn_avx512())
        DISPATCH(f32, float, sm_rows_f32_avx512(xp, yp, r0, r1, C, lg), ((void)nj, (void)base));
      else
#endif
      DISPATCH(f32, float, sm_rows_f32(xp, yp, r0, r1, C, lg),
               sm_block_f32(xp + base, yp + base, C, inner, nj, lg));
    } else {
      const double *xp = (const double *)agt_ptr(xc); double *yp = (double *)agt_ptr(y);
      DISPATCH(f64, double, sm_rows_f64(xp, yp, r0, r1, C, lg),
               sm_block_f64(xp + base, yp + base, C, inner, nj, lg));
    }
  }
  agt_release(xc);
  return y;
}

ag_tensor *agt_softmax_backward(ag_tensor *g, ag_tensor *y, int dim, int lg) {
  const char *op = lg ? "ag.log_softmax_backward" : "ag.softmax_backward";
  char b1[256], b2[256];
  if (g->ndim != y->ndim || memcmp(g->sizes, y->sizes, sizeof(int64_t) * y->ndim))
    return agt_fail("%s: grad_output of shape %s does not match the output's shape %s", op,
                    AGT_SHAPE(g, b1), AGT_SHAPE(y, b2));
  if (!agt_is_float(y->scalar_type))
    return agt_fail("%s: expected a floating point output, got %s", op, agt_dtype_name(y->scalar_type));
  int d = agt_normalize_dim(op, dim, y->ndim);
  if (d < 0) return NULL;
  ag_tensor *gc = g->scalar_type == y->scalar_type ? agt_contig_ref(g) : agt_to_dtype(g, y->scalar_type);
  ag_tensor *gcc = gc && !agt_is_contiguous(gc) ? agt_contiguous(gc) : NULL;
  if (gcc) { agt_release(gc); gc = gcc; }
  ag_tensor *yc = gc ? agt_contig_ref(y) : NULL;
  ag_tensor *gi = yc ? agt_new_contig(y->ndim, y->sizes, y->scalar_type) : NULL;
  if (!gi) { agt_release(gc); agt_release(yc); return NULL; }
  int64_t outer, C, inner;
  agt_split_dim(yc, d, &outer, &C, &inner);
  if (outer * C * inner > 0) {
    if (y->scalar_type == AG_FLOAT32) {
      const float *gp = (const float *)agt_ptr(gc), *yp = (const float *)agt_ptr(yc);
      float *op_ = (float *)agt_ptr(gi);
      DISPATCH(f32, float, smb_rows_f32(gp, yp, op_, r0, r1, C, lg),
               smb_block_f32(gp + base, yp + base, op_ + base, C, inner, nj, lg));
    } else {
      const double *gp = (const double *)agt_ptr(gc), *yp = (const double *)agt_ptr(yc);
      double *op_ = (double *)agt_ptr(gi);
      DISPATCH(f64, double, smb_rows_f64(gp, yp, op_, r0, r1, C, lg),
               smb_block_f64(gp + base, yp + base, op_ + base, C, inner, nj, lg));
    }
  }
  agt_release(gc);
  agt_release(yc);
  return gi;
}
