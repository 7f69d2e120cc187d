/* nn_loss.c: fused classification losses. cross_entropy with class indices runs
 * log_softmax and nll_loss in one pass per row (max, sum of exp(x - max), the target's
 * logit, and the weighted sum of logits for label smoothing) and keeps only each row's max
 * and log-sum-exp for the backward, which rebuilds softmax on the fly: for rows r, classes c
 *   dL/dx[r,c] = g_r (Arow_r p[r,c] - A[r,c]),
 *   A[r,c] = (1-eps) w[t_r] [c == t_r] / D1 + (eps/C) w[c] / D2   (0 on ignored rows),
 * with D1 = D2 the 'mean' denominator, PyTorch 1.13's: the sum of w[t] over the rows not ignored
 * (their count without a weight). nll_loss gathers and scatters.
 * Class labels are 1-based; the class dim is the 2nd (the only one for 1-D input). */
#include "nn_math.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  ag_tensor *rows;        /* x as [R, C], contiguous (class dim moved last when ndim > 2) */
  ag_tensor *tgt;         /* int64 [R], contiguous */
  ag_tensor *w;           /* NULL, or [C] in x's dtype, contiguous */
  int64_t R, C;
  double D1, D2, W;       /* 'mean' denominators, and the sum of the class weights */
} ce_plan;

static void ce_free(ce_plan *p) {
  agt_release(p->rows);
  agt_release(p->tgt);
  agt_release(p->w);
}

/* Permutation that moves dim 2 (the class dim) last, for inputs of 3 or more dims. */
static void class_last_perm(int ndim, int64_t *perm) {
  perm[0] = 1;
  for (int d = 2; d < ndim; d++) perm[d - 1] = d + 1;
  perm[ndim - 1] = 2;
}

/* Validate x, target and weight, lay x out as rows (when with_rows) and compute the
 * denominators. `shape_of` is the input's shape (x may be NULL for backward-only uses). */
static int ce_prepare(const char *op, ag_tensor *x, int ndim, const int64_t *sizes, int dtype,
                      ag_tensor *target, ag_tensor *weight, int64_t ii, int with_rows, ce_plan *p) {
  char b1[256], b2[256];
  memset(p, 0, sizeof *p);
  if (!agt_is_float(dtype))
    return agt_failc("%s: expected a floating point input, got %s", op, agt_dtype_name(dtype));
  if (ndim < 1)
    return agt_failc("%s: expected an input of shape [C], [N, C] or [N, C, d1, ...], got a 0-dim tensor", op);
  p->C = ndim == 1 ? sizes[0] : sizes[1];
  /* target: class indices, shape [] for [C] input, else the input's shape without dim 2 */
  int64_t tsz[AG_MAX_DIMS];
  int tnd = ndim == 1 ? 0 : ndim - 1;
  if (ndim > 1) { tsz[0] = sizes[0]; for (int d = 2; d < ndim; d++) tsz[d - 1] = sizes[d]; }
  if (agt_is_float(target->scalar_type) || target->scalar_type == AG_BOOL)
    return agt_failc("%s: expected class indices as an int64 target of shape %s (or class probabilities "
                     "of the input's shape %s), got a %s target of shape %s", op,
                     agt_shape_str(tnd, tsz, b1), agt_shape_str(ndim, sizes, b2),
                     agt_dtype_name(target->scalar_type), AGT_SHAPE(target, b2 + 128));
  if (target->ndim != tnd || memcmp(target->sizes, tsz, sizeof(int64_t) * tnd)) {
    char b3[256];
    return agt_failc("%s: expected a target of shape %s for an input of shape %s, got %s", op,
                     agt_shape_str(tnd, tsz, b1), agt_shape_str(ndim, sizes, b2), AGT_SHAPE(target, b3));
  }
  p->tgt = target->scalar_type == AG_INT64 ? agt_contig_ref(target) : agt_to_dtype(target, AG_INT64);
  if (!p->tgt) return -1;
  if (!agt_is_contiguous(p->tgt)) {
    ag_tensor *c = agt_contiguous(p->tgt);
    agt_release(p->tgt);
    if (!(p->tgt = c)) return -1;
  }
  p->R = agt_numel(p->tgt);
  if (weight) {
    if (weight->ndim != 1 || weight->sizes[0] != p->C) {
      ce_free(p);
      return agt_failc("%s: weight should be a 1-D tensor with one entry per class (%lld), got shape %s",
                       op, (long long)p->C, AGT_SHAPE(weight, b1));
    }
    p->w = weight->scalar_type == dtype ? agt_contig_ref(weight) : agt_to_dtype(weight, dtype);
    if (p->w && !agt_is_contiguous(p->w)) { ag_tensor *c = agt_contiguous(p->w); agt_release(p->w); p->w = c; }
    if (!p->w) { ce_free(p); return -1; }
  }
  /* targets in range, and the denominators */
  const int64_t *t = (const int64_t *)agt_ptr(p->tgt);
  double D1 = 0;
  for (int64_t r = 0; r < p->R; r++) {
    int64_t k = t[r];
    if (k == ii) continue;
    if (k < 1 || k > p->C) {
      ce_free(p);
      return agt_failc("%s: target %lld is out of bounds for %lld classes (class labels are 1-based)",
                       op, (long long)k, (long long)p->C);
    }
    D1 += p->w ? agt_load(dtype, agt_ptr(p->w) + (k - 1) * agt_dtype_size(dtype)) : 1.0;
  }
  p->D1 = D1;
  p->D2 = D1;
  p->W = (double)p->C;
  if (p->w) {
    p->W = 0;
    for (int64_t c = 0; c < p->C; c++) p->W += agt_load(dtype, agt_ptr(p->w) + c * agt_dtype_size(dtype));
  }
  if (with_rows) {
    if (ndim <= 2) p->rows = agt_contig_ref(x);
    else {
      int64_t perm[AG_MAX_DIMS];
      class_last_perm(ndim, perm);
      ag_tensor *v = agt_permute(x, ndim, perm);
      p->rows = v ? agt_contiguous(v) : NULL;
      agt_release(v);
    }
    if (!p->rows) { ce_free(p); return -1; }
  }
  return 0;
}

/* rows [R, C] back to the input's layout [N, C, d1, ...] (a contiguous tensor) */
static ag_tensor *rows_to_input(ag_tensor *rows, int ndim, const int64_t *sizes) {
  if (ndim <= 2) {
    ag_tensor *v = agt_view(rows, ndim, sizes);
    agt_release(rows);
    return v;
  }
  int64_t psz[AG_MAX_DIMS], perm[AG_MAX_DIMS];
  psz[0] = sizes[0];
  for (int d = 2; d < ndim; d++) psz[d - 1] = sizes[d];
  psz[ndim - 1] = sizes[1];
  ag_tensor *v = agt_view(rows, ndim, psz);
  agt_release(rows);
  if (!v) return NULL;
  /* inverse of class_last_perm: (1, ndim, 2, ..., ndim-1) in 1-based dims */
  perm[0] = 1; perm[1] = ndim;
  for (int d = 2; d < ndim; d++) perm[d] = d;
  ag_tensor *pv = agt_permute(v, ndim, perm);
  agt_release(v);
  if (!pv) return NULL;
  ag_tensor *c = agt_contiguous(pv);
  agt_release(pv);
  return c;
}

/* ---- cross_entropy forward. Per row: m = max, ls = log(sum(exp(x - m))) (kept as the row's
 * pair in lse, so the backward's exp((x - m) - ls) never rounds m + ls), nll = (m - x[t]) + ls,
 * smooth = sum_c w[c] (m - x[c]) + W ls: no large number is rounded before the subtraction ---- */
#define CE_ROWS(T, SFX, EXP)                                                                \
  AG_NN_CLONES static void ce_rows_##SFX(const T *x, const int64_t *tg, const T *w, int64_t r0, int64_t r1, \
                                         int64_t C, int64_t ii, int smooth, double W, T *lse, double *nll, double *sm) { \
    for (int64_t r = r0; r < r1; r++) {                                                    \
      const T *xr = x + r * C;                                                              \
      T m = -INFINITY;                                                                      \
      _Pragma("omp simd reduction(max:m)")                                                  \
      for (int64_t c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;                            \
      if (m == -INFINITY) m = 0;                                                            \
      T s = 0;                                                                              \
      _Pragma("omp simd reduction(+:s)")                                                    \
      for (int64_t c = 0; c < C; c++) s += EXP(xr[c] - m);                                  \
      double ls = log((double)s);                                                           \
      lse[2 * r] = m;                                                                       \
      lse[2 * r + 1] = (T)ls;                                                               \
      int64_t k = tg[r];                                                                    \
      if (k == ii) { nll[r] = 0; sm[r] = 0; continue; }                                     \
      nll[r] = (w ? (double)w[k - 1] : 1.0) * (((double)m - (double)xr[k - 1]) + ls);      \
      if (smooth) {                                                                         \
        T sx = 0;                                                                           \
        if (w) { _Pragma("omp simd reduction(+:sx)") for (int64_t c = 0; c < C; c++) sx += w[c] * (m - xr[c]); } \
        else { _Pragma("omp simd reduction(+:sx)") for (int64_t c = 0; c < C; c++) sx += m - xr[c]; } \
        sm[r] = (double)sx + W * ls;                                                        \
      }                                                                                     \
    }                                                                                       \
  }
CE_ROWS(float, f32, agt_exp_f32)
CE_ROWS(double, f64, agt_exp_f64)

#ifdef AG_NN_AVX512
AG_AVX512 static void ce_rows_f32_avx512(const float *x, const int64_t *tg, const float *w, int64_t r0, int64_t r1,
                                         int64_t C, int64_t ii, int smooth, double W, float *lse, double *nll, double *sm) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = x + r * C;
    float m = agt_max512(xr, C);
    if (m == -INFINITY) m = 0;
    double ls = log((double)agt_expsum512(xr, m, NULL, C, 0));
    lse[2 * r] = m;
    lse[2 * r + 1] = (float)ls;
    int64_t k = tg[r];
    if (k == ii) { nll[r] = 0; sm[r] = 0; continue; }
    nll[r] = (w ? (double)w[k - 1] : 1.0) * (((double)m - (double)xr[k - 1]) + ls);
    if (smooth) {
      float sx = 0;
      if (w) { _Pragma("omp simd reduction(+:sx)") for (int64_t c = 0; c < C; c++) sx += w[c] * (m - xr[c]); }
      else { _Pragma("omp simd reduction(+:sx)") for (int64_t c = 0; c < C; c++) sx += m - xr[c]; }
      sm[r] = (double)sx + W * ls;
    }
  }
}
#endif

/* rows [0, R) split across threads when the work is large */
#define PAR_ROWS(R, C, CALL)                                                                \
  do {                                                                                      \
    int64_t R_ = (R), C_ = (C);                                                             \
    _Pragma("omp parallel if(R_ * C_ > AG_NN_PARALLEL_GRAIN && R_ > 1)")                       \
    {                                                                                       \
      int nt_ = omp_get_num_threads(), id_ = omp_get_thread_num();                          \
      int64_t r0 = R_ * id_ / nt_, r1 = R_ * (id_ + 1) / nt_;                               \
      CALL;                                                                                 \
    }                                                                                       \
  } while (0)

static int check_common(const char *op, double eps, int reduction) {
  if (reduction < 0 || reduction > 2)
    return agt_failc("%s: reduction must be 'none', 'mean' or 'sum' (got %d)", op, reduction);
  if (!(eps >= 0 && eps <= 1))
    return agt_failc("%s: label_smoothing must be between 0.0 and 1.0, got %g", op, eps);
  return 0;
}

ag_tensor *agt_cross_entropy(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                             double eps, int reduction, ag_tensor **lse_out) {
  const char *op = "ag.cross_entropy";
  if (lse_out) *lse_out = NULL;
  if (check_common(op, eps, reduction)) return NULL;
  ce_plan p;
  if (ce_prepare(op, x, x->ndim, x->sizes, x->scalar_type, target, weight, ignore_index, 1, &p)) return NULL;
  int64_t R = p.R, C = p.C;
  int64_t lsz[2] = {R, 2};
  ag_tensor *lse = agt_new_contig(2, lsz, x->scalar_type);
  double *buf = malloc(sizeof(double) * 2 * (R > 0 ? R : 1));
  ag_tensor *out = NULL;
  if (!lse || !buf) { agt_fail("%s: out of memory", op); goto done; }
  double *nll = buf, *sm = buf + R;
  int smooth = eps > 0;
  const int64_t *tg = (const int64_t *)agt_ptr(p.tgt);
  if (C > 0) {
    if (x->scalar_type == AG_FLOAT32) {
      const float *xp = (const float *)agt_ptr(p.rows), *wp = p.w ? (const float *)agt_ptr(p.w) : NULL;
      float *lp = (float *)agt_ptr(lse);
#ifdef AG_NN_AVX512
      if (agt_nn_avx512())
        PAR_ROWS(R, C, ce_rows_f32_avx512(xp, tg, wp, r0, r1, C, ignore_index, smooth, p.W, lp, nll, sm));
      else
#endif
      PAR_ROWS(R, C, ce_rows_f32(xp, tg, wp, r0, r1, C, ignore_index, smooth, p.W, lp, nll, sm));
    } else {
      const double *xp = (const double *)agt_ptr(p.rows), *wp = p.w ? (const double *)agt_ptr(p.w) : NULL;
      double *lp = (double *)agt_ptr(lse);
      PAR_ROWS(R, C, ce_rows_f64(xp, tg, wp, r0, r1, C, ignore_index, smooth, p.W, lp, nll, sm));
    }
  } else {
    if (agt_fill_(lse, -INFINITY)) goto done;
    for (int64_t r = 0; r < R; r++) nll[r] = sm[r] = 0;
  }
  double a = 1 - eps, b = C > 0 ? eps / (double)C : 0;
  if (reduction == AG_REDUCTION_NONE) {
    out = agt_new_contig(target->ndim, target->sizes, x->scalar_type);
    if (out)
      for (int64_t r = 0; r < R; r++)
        agt_store(x->scalar_type, agt_ptr(out) + r * agt_dtype_size(x->scalar_type), a * nll[r] + (smooth ? b * sm[r] : 0));
  } else {
    double s1 = 0, s2 = 0;
    for (int64_t r = 0; r < R; r++) { s1 += nll[r]; if (smooth) s2 += sm[r]; }
    double v = reduction == AG_REDUCTION_SUM ? a * s1 + b * s2 : a * s1 / p.D1 + (smooth ? b * s2 / p.D2 : 0);
    out = agt_full(0, NULL, v, x->scalar_type);
  }
  if (out && lse_out) { *lse_out = lse; lse = NULL; }
done:
  free(buf);
  agt_release(lse);
  ce_free(&p);
  return out;
}

/* ---- cross_entropy backward ---- */
#define CE_BWD(T, SFX, EXP)                                                                 \
  AG_NN_CLONES static void ceb_rows_##SFX(const T *x, const T *lse, const int64_t *tg, const T *w, const T *g, \
                                          double gscalar, int64_t r0, int64_t r1, int64_t C, int64_t ii, \
                                          double a, double b, double W, T *gi) {            \
    for (int64_t r = r0; r < r1; r++) {                                                    \
      const T *xr = x + r * C;                                                              \
      T *o = gi + r * C;                                                                    \
      int64_t k = tg[r];                                                                    \
      if (k == ii) { for (int64_t c = 0; c < C; c++) o[c] = 0; continue; }                  \
      double gs = g ? (double)g[r] : gscalar;                                               \
      double ct = a * (w ? (double)w[k - 1] : 1.0);                                         \
      T arow = (T)(gs * (ct + b * W)), cs = (T)(gs * b), m = lse[2 * r], l = lse[2 * r + 1]; \
      if (w) { _Pragma("omp simd") for (int64_t c = 0; c < C; c++) o[c] = arow * EXP((xr[c] - m) - l) - cs * w[c]; } \
      else { _Pragma("omp simd") for (int64_t c = 0; c < C; c++) o[c] = arow * EXP((xr[c] - m) - l) - cs; } \
      o[k - 1] -= (T)(gs * ct);                                                             \
    }                                                                                       \
  }
static inline float exp_le0_f32(float x) { return x > 0 ? agt_exp_f32(x < 88.0f ? x : 88.0f) : agt_exp_f32(x); }
CE_BWD(float, f32, exp_le0_f32)
CE_BWD(double, f64, agt_exp_f64)

/* the factors a = (1-eps)/D1' and b = (eps/C)/D2' of A for a reduction */
static void ce_factors(const ce_plan *p, double eps, int reduction, double *a, double *b) {
  double bb = p->C > 0 ? eps / (double)p->C : 0;
  *a = 1 - eps;
  *b = bb;
  if (reduction == AG_REDUCTION_MEAN) { *a /= p->D1; *b /= p->D2; }
}

ag_tensor *agt_cross_entropy_backward(ag_tensor *g, ag_tensor *x, ag_tensor *lse, ag_tensor *target,
                                      ag_tensor *weight, int64_t ignore_index, double eps, int reduction) {
  const char *op = "ag.cross_entropy_backward";
  if (check_common(op, eps, reduction)) return NULL;
  ce_plan p;
  if (ce_prepare(op, x, x->ndim, x->sizes, x->scalar_type, target, weight, ignore_index, 1, &p)) return NULL;
  char b1[256];
  ag_tensor *gc = NULL, *rows = NULL, *lc = NULL;
  double gscalar = 0;
  if (reduction == AG_REDUCTION_NONE) {
    if (g->ndim != target->ndim || memcmp(g->sizes, target->sizes, sizeof(int64_t) * g->ndim)) {
      agt_fail("%s: grad_output of shape %s does not match the loss's shape", op, AGT_SHAPE(g, b1));
      goto done;
    }
    gc = agt_to_dtype(g, x->scalar_type);
    if (gc && !agt_is_contiguous(gc)) { ag_tensor *c = agt_contiguous(gc); agt_release(gc); gc = c; }
    if (!gc) goto done;
  } else if (agt_numel(g) != 1 || agt_item(g, &gscalar)) {
    agt_fail("%s: expected a scalar grad_output, got shape %s", op, AGT_SHAPE(g, b1));
    goto done;
  }
  lc = lse->scalar_type == x->scalar_type && agt_is_contiguous(lse) ? (agt_retain(lse), lse) : agt_to_dtype(lse, x->scalar_type);
  if (lc && !agt_is_contiguous(lc)) { ag_tensor *c = agt_contiguous(lc); agt_release(lc); lc = c; }
  if (!lc) goto done;
  if (agt_numel(lc) != 2 * p.R) {
    agt_fail("%s: the saved row statistics have %lld entries, expected %lld", op, (long long)agt_numel(lc), (long long)(2 * p.R));
    goto done;
  }
  int64_t rs[2] = {p.R, p.C};
  rows = agt_new_contig(2, rs, x->scalar_type);
  if (!rows) goto done;
  double a, b;
  ce_factors(&p, eps, reduction, &a, &b);
  const int64_t *tg = (const int64_t *)agt_ptr(p.tgt);
  if (p.R * p.C > 0) {
    if (x->scalar_type == AG_FLOAT32) {
      const float *gp = gc ? (const float *)agt_ptr(gc) : NULL, *wp = p.w ? (const float *)agt_ptr(p.w) : NULL;
      PAR_ROWS(p.R, p.C, ceb_rows_f32((const float *)agt_ptr(p.rows), (const float *)agt_ptr(lc), tg, wp, gp, gscalar,
                                      r0, r1, p.C, ignore_index, a, b, p.W, (float *)agt_ptr(rows)));
    } else {
      const double *gp = gc ? (const double *)agt_ptr(gc) : NULL, *wp = p.w ? (const double *)agt_ptr(p.w) : NULL;
      PAR_ROWS(p.R, p.C, ceb_rows_f64((const double *)agt_ptr(p.rows), (const double *)agt_ptr(lc), tg, wp, gp, gscalar,
                                      r0, r1, p.C, ignore_index, a, b, p.W, (double *)agt_ptr(rows)));
    }
  }
  rows = rows_to_input(rows, x->ndim, x->sizes);
done:
  agt_release(gc);
  agt_release(lc);
  ce_free(&p);
  return rows;
}

/* A (see the top of the file) in the input's layout: the target distribution, scaled for
 * the reduction, that the create_graph form of the backward uses. */
ag_tensor *agt_cross_entropy_target_weights(ag_tensor *x, ag_tensor *target, ag_tensor *weight,
                                            int64_t ignore_index, double eps, int reduction) {
  const char *op = "ag.cross_entropy";
  if (check_common(op, eps, reduction)) return NULL;
  ce_plan p;
  if (ce_prepare(op, NULL, x->ndim, x->sizes, x->scalar_type, target, weight, ignore_index, 0, &p)) return NULL;
  int64_t rs[2] = {p.R, p.C};
  ag_tensor *rows = agt_full(2, rs, 0, x->scalar_type);
  if (rows) {
    double a, b;
    ce_factors(&p, eps, reduction, &a, &b);
    const int64_t *tg = (const int64_t *)agt_ptr(p.tgt);
    int dt = x->scalar_type, es = agt_dtype_size(dt);
    char *o = agt_ptr(rows);
    for (int64_t r = 0; r < p.R; r++) {
      int64_t k = tg[r];
      if (k == ignore_index) continue;
      for (int64_t c = 0; c < p.C; c++) {
        double wc = p.w ? agt_load(dt, agt_ptr(p.w) + c * es) : 1.0;
        agt_store(dt, o + (r * p.C + c) * es, b * wc + (c == k - 1 ? a * wc : 0));
      }
    }
    rows = rows_to_input(rows, x->ndim, x->sizes);
  }
  ce_free(&p);
  return rows;
}

/* ---- nll_loss: loss_r = -w[t] x[r, t] ---- */
ag_tensor *agt_nll_loss(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index, int reduction) {
  const char *op = "ag.nll_loss";
  if (check_common(op, 0, reduction)) return NULL;
  ce_plan p;
  if (ce_prepare(op, x, x->ndim, x->sizes, x->scalar_type, target, weight, ignore_index, 1, &p)) return NULL;
  int dt = x->scalar_type, es = agt_dtype_size(dt);
  const int64_t *tg = (const int64_t *)agt_ptr(p.tgt);
  const char *xp = agt_ptr(p.rows);
  ag_tensor *out;
  if (reduction == AG_REDUCTION_NONE) {
    out = agt_new_contig(target->ndim, target->sizes, dt);
    if (out)
      for (int64_t r = 0; r < p.R; r++) {
        int64_t k = tg[r];
        double v = k == ignore_index ? 0 : -(p.w ? agt_load(dt, agt_ptr(p.w) + (k - 1) * es) : 1.0) *
                                               agt_load(dt, xp + (r * p.C + k - 1) * es);
        agt_store(dt, agt_ptr(out) + r * es, v);
      }
  } else {
    double s = 0;
    for (int64_t r = 0; r < p.R; r++) {
      int64_t k = tg[r];
      if (k == ignore_index) continue;
      s -= (p.w ? agt_load(dt, agt_ptr(p.w) + (k - 1) * es) : 1.0) * agt_load(dt, xp + (r * p.C + k - 1) * es);
    }
    out = agt_full(0, NULL, reduction == AG_REDUCTION_MEAN ? s / p.D1 : s, dt);
  }
  ce_free(&p);
  return out;
}

/* grad of nll_loss w.r.t. its input of shape `sizes`: -g w[t] / D1' at each target */
ag_tensor *agt_nll_loss_backward(ag_tensor *g, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                                 int reduction, int ndim, const int64_t *sizes, int dtype) {
  const char *op = "ag.nll_loss_backward";
  char b1[256];
  if (check_common(op, 0, reduction)) return NULL;
  ce_plan p;
  if (ce_prepare(op, NULL, ndim, sizes, dtype, target, weight, ignore_index, 0, &p)) return NULL;
  int es = agt_dtype_size(dtype);
  ag_tensor *gc = NULL, *rows = NULL;
  double gscalar = 0;
  if (reduction == AG_REDUCTION_NONE) {
    if (g->ndim != target->ndim || memcmp(g->sizes, target->sizes, sizeof(int64_t) * g->ndim)) {
      agt_fail("%s: grad_output of shape %s does not match the loss's shape", op, AGT_SHAPE(g, b1));
      goto done;
    }
    if (!(gc = agt_contig_ref(g))) goto done;
  } else if (agt_numel(g) != 1 || agt_item(g, &gscalar)) {
    agt_fail("%s: expected a scalar grad_output, got shape %s", op, AGT_SHAPE(g, b1));
    goto done;
  }
  int64_t rs[2] = {p.R, p.C};
  if (!(rows = agt_full(2, rs, 0, dtype))) goto done;
  const int64_t *tg = (const int64_t *)agt_ptr(p.tgt);
  double scale = reduction == AG_REDUCTION_MEAN ? 1.0 / p.D1 : 1.0;
  for (int64_t r = 0; r < p.R; r++) {
    int64_t k = tg[r];
    if (k == ignore_index) continue;
    double gs = gc ? agt_load(gc->scalar_type, agt_ptr(gc) + r * agt_dtype_size(gc->scalar_type)) : gscalar;
    double wk = p.w ? agt_load(dtype, agt_ptr(p.w) + (k - 1) * es) : 1.0;
    agt_store(dtype, agt_ptr(rows) + (r * p.C + k - 1) * es, -gs * wk * scale);
  }
  rows = rows_to_input(rows, ndim, sizes);
done:
  agt_release(gc);
  ce_free(&p);
  return rows;
}
