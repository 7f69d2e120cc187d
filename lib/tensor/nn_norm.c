/* nn_norm.c: fused layer_norm and batch_norm, forward and backward. Statistics are
 * accumulated in double, two passes per row or channel (mean, then the centered sum of
 * squares), so large offsets do not cancel. With xhat = (x - mean) rstd and gw = g w:
 *   dx = rstd (gw - mean(gw) - xhat mean(gw xhat)),  dweight = sum(g xhat),  dbias = sum(g)
 * (means and sums over the normalized elements; batch_norm in evaluation uses the running
 * statistics, which are constants: dx = gw rstd). The statistics are kept in float64 and
 * x - mean is formed as (x - hi) - lo, so float32 input with a large offset stays exact.
 * layer_norm rows run in parallel, with
 * per-thread partial sums for dweight/dbias; batch_norm runs channels in parallel. */
#include "nn_math.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static ag_tensor *contig_as(ag_tensor *t, int dtype) {
  ag_tensor *c = t->scalar_type == dtype ? agt_contig_ref(t) : agt_to_dtype(t, dtype);
  if (c && !agt_is_contiguous(c)) { ag_tensor *d = agt_contiguous(c); agt_release(c); c = d; }
  return c;
}

/* ---------------------------------------------------------------- layer_norm */

#define LN_KERNELS(T, SFX)                                                                   \
  static void ln_fwd_##SFX(const T *x, const T *w, const T *b, T *y, double *mean, double *rstd, \
                           int64_t R, int64_t D, double eps) {                             \
    _Pragma("omp parallel for schedule(static) if(R * D > AG_NN_PARALLEL_GRAIN && R > 1)")     \
    for (int64_t r = 0; r < R; r++) {                                                      \
      const T *xr = x + r * D;                                                             \
      T *yr = y + r * D;                                                                   \
      double s = 0, ss = 0;                                                                \
      _Pragma("omp simd reduction(+:s)")                                                   \
      for (int64_t j = 0; j < D; j++) s += xr[j];                                          \
      double mu = D > 0 ? s / (double)D : 0;                                               \
      _Pragma("omp simd reduction(+:ss)")                                                  \
      for (int64_t j = 0; j < D; j++) { double d = xr[j] - mu; ss += d * d; }              \
      double rs = 1.0 / sqrt((D > 0 ? ss / (double)D : 0) + eps);                          \
      mean[r] = mu;                                                                        \
      rstd[r] = rs;                                                                        \
      /* x - mean as (x - hi) - lo: exact for x near the mean, so a large offset cancels */ \
      T m = (T)mu, ml = (T)(mu - (double)m), q = (T)rs;                                    \
      if (w && b) { _Pragma("omp simd") for (int64_t j = 0; j < D; j++) yr[j] = ((xr[j] - m) - ml) * q * w[j] + b[j]; } \
      else if (w) { _Pragma("omp simd") for (int64_t j = 0; j < D; j++) yr[j] = ((xr[j] - m) - ml) * q * w[j]; } \
      else if (b) { _Pragma("omp simd") for (int64_t j = 0; j < D; j++) yr[j] = ((xr[j] - m) - ml) * q + b[j]; } \
      else { _Pragma("omp simd") for (int64_t j = 0; j < D; j++) yr[j] = ((xr[j] - m) - ml) * q; } \
    }                                                                                      \
  }                                                                                        \
  /* rows [r0, r1): dx into gx (if not NULL); g xhat and g summed into dw, db (if not NULL) */ \
  static void ln_bwd_rows_##SFX(const T *g, const T *x, const double *mean, const double *rstd, const T *w, \
                                T *gx, double *dw, double *db, int64_t r0, int64_t r1, int64_t D) { \
    for (int64_t r = r0; r < r1; r++) {                                                    \
      const T *gr = g + r * D, *xr = x + r * D;                                            \
      T m = (T)mean[r], ml = (T)(mean[r] - (double)m), q = (T)rstd[r];                     \
      if (dw) for (int64_t j = 0; j < D; j++) dw[j] += (double)gr[j] * (double)(((xr[j] - m) - ml) * q); \
      if (db) for (int64_t j = 0; j < D; j++) db[j] += gr[j];                              \
      if (!gx) continue;                                                                   \
      double a = 0, c = 0;                                                                 \
      _Pragma("omp simd reduction(+:a,c)")                                                 \
      for (int64_t j = 0; j < D; j++) {                                                    \
        T gw = w ? gr[j] * w[j] : gr[j];                                                   \
        a += gw;                                                                           \
        c += (double)gw * (double)(((xr[j] - m) - ml) * q);                                \
      }                                                                                    \
      T am = (T)(a / (double)D), cm = (T)(c / (double)D);                                  \
      T *o = gx + r * D;                                                                   \
      _Pragma("omp simd")                                                                  \
      for (int64_t j = 0; j < D; j++) {                                                    \
        T gw = w ? gr[j] * w[j] : gr[j];                                                   \
        o[j] = q * (gw - am - ((xr[j] - m) - ml) * q * cm);                                \
      }                                                                                    \
    }                                                                                      \
  }
LN_KERNELS(float, f32)
LN_KERNELS(double, f64)

/* the normalized dims are the last nd dims of x; w and b (optional) have their shape */
static int ln_check(const char *op, ag_tensor *x, int nd, ag_tensor *w, ag_tensor *b, int64_t *R, int64_t *D) {
  char b1[256], b2[256];
  if (!agt_is_float(x->scalar_type))
    return agt_failc("%s: expected a floating point input, got %s", op, agt_dtype_name(x->scalar_type));
  if (nd < 1 || nd > x->ndim)
    return agt_failc("%s: normalized_shape has %d dims but the input %s has %d", op, nd, AGT_SHAPE(x, b1), x->ndim);
  int64_t d = 1;
  for (int i = x->ndim - nd; i < x->ndim; i++) d *= x->sizes[i];
  for (int k = 0; k < 2; k++) {
    ag_tensor *p = k ? b : w;
    if (!p) continue;
    if (p->ndim != nd || memcmp(p->sizes, x->sizes + x->ndim - nd, sizeof(int64_t) * nd))
      return agt_failc("%s: %s of shape %s does not match normalized_shape %s", op, k ? "bias" : "weight",
                       AGT_SHAPE(p, b1), agt_shape_str(nd, x->sizes + x->ndim - nd, b2));
  }
  *D = d;
  *R = d > 0 ? agt_numel(x) / d : 0;
  return 0;
}

ag_tensor *agt_layer_norm(ag_tensor *x, int nd, ag_tensor *w, ag_tensor *b, double eps, ag_tensor **mean_out,
                          ag_tensor **rstd_out) {
  const char *op = "ag.layer_norm";
  int64_t R, D;
  if (mean_out) *mean_out = NULL;
  if (rstd_out) *rstd_out = NULL;
  if (ln_check(op, x, nd, w, b, &R, &D)) return NULL;
  int dt = x->scalar_type;
  ag_tensor *xc = contig_as(x, dt), *wc = w ? contig_as(w, dt) : NULL, *bc = b ? contig_as(b, dt) : NULL;
  ag_tensor *y = agt_new_contig(x->ndim, x->sizes, dt);
  int64_t sz[AG_MAX_DIMS];
  int snd = x->ndim - nd;
  for (int i = 0; i < snd; i++) sz[i] = x->sizes[i];
  ag_tensor *mean = agt_new_contig(snd, sz, AG_FLOAT64), *rstd = agt_new_contig(snd, sz, AG_FLOAT64);
  if (!xc || (w && !wc) || (b && !bc) || !y || !mean || !rstd) {
    agt_release(y); y = NULL;
  } else if (R * D > 0) {
    if (dt == AG_FLOAT32)
      ln_fwd_f32((void *)agt_ptr(xc), wc ? (float *)agt_ptr(wc) : NULL, bc ? (float *)agt_ptr(bc) : NULL, (float *)agt_ptr(y),
                 (double *)agt_ptr(mean), (double *)agt_ptr(rstd), R, D, eps);
    else
      ln_fwd_f64((void *)agt_ptr(xc), wc ? (double *)agt_ptr(wc) : NULL, bc ? (double *)agt_ptr(bc) : NULL, (double *)agt_ptr(y),
                 (double *)agt_ptr(mean), (double *)agt_ptr(rstd), R, D, eps);
  } else if (D == 0) {
    agt_fill_(mean, 0);
    agt_fill_(rstd, 1.0 / sqrt(eps));
  }
  agt_release(xc); agt_release(wc); agt_release(bc);
  if (y && mean_out) { *mean_out = mean; mean = NULL; }
  if (y && rstd_out) { *rstd_out = rstd; rstd = NULL; }
  agt_release(mean); agt_release(rstd);
  return y;
}

/* Sum per-thread double partials into a tensor of dtype dt and the given shape. */
static ag_tensor *from_partials(double *acc, int nd, const int64_t *sizes, int dt) {
  int64_t n = agt_numel_checked(nd, sizes);
  ag_tensor *t = agt_new_contig(nd, sizes, dt);
  if (!t) return NULL;
  for (int64_t j = 0; j < n; j++) agt_store(dt, agt_ptr(t) + j * agt_dtype_size(dt), acc[j]);
  return t;
}

int agt_layer_norm_backward(ag_tensor *g, ag_tensor *x, ag_tensor *mean, ag_tensor *rstd, ag_tensor *w, int nd,
                            ag_tensor **gx_out, ag_tensor **gw_out, ag_tensor **gb_out) {
  const char *op = "ag.layer_norm_backward";
  int64_t R, D;
  char b1[256];
  int need_x = gx_out != NULL;
  if (gx_out) *gx_out = NULL;
  if (gw_out) *gw_out = NULL;
  if (gb_out) *gb_out = NULL;
  if (ln_check(op, x, nd, w, NULL, &R, &D)) return -1;
  if (g->ndim != x->ndim || memcmp(g->sizes, x->sizes, sizeof(int64_t) * x->ndim))
    return agt_failc("%s: grad_output of shape %s does not match the input's", op, AGT_SHAPE(g, b1));
  if (agt_numel(mean) != R || agt_numel(rstd) != R) return agt_failc("%s: saved statistics have the wrong size", op);
  int dt = x->scalar_type;
  ag_tensor *gc = contig_as(g, dt), *xc = contig_as(x, dt), *mc = contig_as(mean, AG_FLOAT64);
  ag_tensor *rc = contig_as(rstd, AG_FLOAT64);
  ag_tensor *wc = w ? contig_as(w, dt) : NULL;
  ag_tensor *gx = need_x ? agt_new_contig(x->ndim, x->sizes, dt) : NULL;
  double *dw = gw_out ? calloc((size_t)(D > 0 ? D : 1), sizeof(double)) : NULL;
  double *db = gb_out ? calloc((size_t)(D > 0 ? D : 1), sizeof(double)) : NULL;
  int ok = gc && xc && mc && rc && (!w || wc) && (!need_x || gx) && (!gw_out || dw) && (!gb_out || db);
  if (!ok) { agt_fail("%s: out of memory", op); goto done; }
  if (R * D > 0) {
    int par = R * D > AG_NN_PARALLEL_GRAIN && R > 1;
    #pragma omp parallel if(par)
    {
      int nt = omp_get_num_threads(), id = omp_get_thread_num();
      int64_t r0 = R * id / nt, r1 = R * (id + 1) / nt;
      double *ldw = dw && nt > 1 ? calloc((size_t)D, sizeof(double)) : dw;
      double *ldb = db && nt > 1 ? calloc((size_t)D, sizeof(double)) : db;
      if (dt == AG_FLOAT32)
        ln_bwd_rows_f32((void *)agt_ptr(gc), (void *)agt_ptr(xc), (void *)agt_ptr(mc), (void *)agt_ptr(rc), wc ? (float *)agt_ptr(wc) : NULL,
                        gx ? (float *)agt_ptr(gx) : NULL, ldw, ldb, r0, r1, D);
      else
        ln_bwd_rows_f64((void *)agt_ptr(gc), (void *)agt_ptr(xc), (void *)agt_ptr(mc), (void *)agt_ptr(rc), wc ? (double *)agt_ptr(wc) : NULL,
                        gx ? (double *)agt_ptr(gx) : NULL, ldw, ldb, r0, r1, D);
      if (nt > 1) {
        #pragma omp critical(ag_ln_partials)
        {
          if (dw && ldw) for (int64_t j = 0; j < D; j++) dw[j] += ldw[j];
          if (db && ldb) for (int64_t j = 0; j < D; j++) db[j] += ldb[j];
        }
        free(ldw == dw ? NULL : ldw);
        free(ldb == db ? NULL : ldb);
      }
    }
  }
  if (gw_out && !(*gw_out = from_partials(dw, nd, x->sizes + x->ndim - nd, dt))) ok = 0;
  if (gb_out && !(*gb_out = from_partials(db, nd, x->sizes + x->ndim - nd, dt))) ok = 0;
done:
  free(dw); free(db);
  agt_release(gc); agt_release(xc); agt_release(mc); agt_release(rc); agt_release(wc);
  if (!ok) {
    agt_release(gx);
    if (gw_out) { agt_release(*gw_out); *gw_out = NULL; }
    if (gb_out) { agt_release(*gb_out); *gb_out = NULL; }
    return -1;
  }
  if (gx_out) *gx_out = gx;
  return 0;
}

/* ---------------------------------------------------------------- batch_norm */

/* x as [N, C, S]; channel c's elements are x[(n C + c) S + s] */
#define BN_KERNELS(T, SFX)                                                                   \
  static void bn_fwd_##SFX(const T *x, const T *w, const T *b, T *y, double *mean, double *rstd, const T *rm, \
                           const T *rv, double *var, int training, int64_t N, int64_t C, int64_t S, double eps) { \
    _Pragma("omp parallel for schedule(static) if(N * C * S > AG_NN_PARALLEL_GRAIN && C > 1)")  \
    for (int64_t c = 0; c < C; c++) {                                                      \
      double mu, rs;                                                                       \
      if (training) {                                                                      \
        double s = 0, ss = 0, M = (double)(N * S);                                         \
        for (int64_t n = 0; n < N; n++) {                                                  \
          const T *xp = x + (n * C + c) * S;                                               \
          _Pragma("omp simd reduction(+:s)")                                               \
          for (int64_t k = 0; k < S; k++) s += xp[k];                                      \
        }                                                                                  \
        mu = s / M;                                                                        \
        for (int64_t n = 0; n < N; n++) {                                                  \
          const T *xp = x + (n * C + c) * S;                                               \
          _Pragma("omp simd reduction(+:ss)")                                              \
          for (int64_t k = 0; k < S; k++) { double d = xp[k] - mu; ss += d * d; }          \
        }                                                                                  \
        var[c] = ss / M;                                                                   \
        rs = 1.0 / sqrt(ss / M + eps);                                                     \
      } else {                                                                             \
        mu = rm[c];                                                                        \
        rs = 1.0 / sqrt((double)rv[c] + eps);                                              \
      }                                                                                    \
      mean[c] = mu;                                                                        \
      rstd[c] = rs;                                                                        \
      T m = (T)mu, ml = (T)(mu - (double)m);                                               \
      T sc = (T)(rs * (w ? (double)w[c] : 1.0)), sh = (T)(b ? (double)b[c] : 0.0);         \
      for (int64_t n = 0; n < N; n++) {                                                    \
        const T *xp = x + (n * C + c) * S;                                                 \
        T *yp = y + (n * C + c) * S;                                                       \
        _Pragma("omp simd")                                                                \
        for (int64_t k = 0; k < S; k++) yp[k] = ((xp[k] - m) - ml) * sc + sh;              \
      }                                                                                    \
    }                                                                                      \
  }                                                                                        \
  static void bn_bwd_##SFX(const T *g, const T *x, const double *mean, const double *rstd, const T *w, T *gx, \
                           T *dw, T *db, int training, int64_t N, int64_t C, int64_t S) {  \
    _Pragma("omp parallel for schedule(static) if(N * C * S > AG_NN_PARALLEL_GRAIN && C > 1)")  \
    for (int64_t c = 0; c < C; c++) {                                                      \
      T m = (T)mean[c], ml = (T)(mean[c] - (double)m), q = (T)rstd[c];                     \
      double sg = 0, sgx = 0, M = (double)(N * S);                                         \
      for (int64_t n = 0; n < N; n++) {                                                    \
        const T *gp = g + (n * C + c) * S, *xp = x + (n * C + c) * S;                      \
        _Pragma("omp simd reduction(+:sg,sgx)")                                            \
        for (int64_t k = 0; k < S; k++) { sg += gp[k]; sgx += (double)gp[k] * (double)(((xp[k] - m) - ml) * q); } \
      }                                                                                    \
      if (dw) dw[c] = (T)sgx;                                                              \
      if (db) db[c] = (T)sg;                                                               \
      if (!gx) continue;                                                                   \
      T wc = w ? w[c] : (T)1, k1 = training ? (T)(sg / M) : 0, k2 = training ? (T)(sgx / M) : 0; \
      for (int64_t n = 0; n < N; n++) {                                                    \
        const T *gp = g + (n * C + c) * S, *xp = x + (n * C + c) * S;                      \
        T *o = gx + (n * C + c) * S;                                                       \
        _Pragma("omp simd")                                                                \
        for (int64_t k = 0; k < S; k++) o[k] = q * wc * (gp[k] - k1 - ((xp[k] - m) - ml) * q * k2); \
      }                                                                                    \
    }                                                                                      \
  }
BN_KERNELS(float, f32)
BN_KERNELS(double, f64)

static int bn_check(const char *op, ag_tensor *x, ag_tensor **vecs, const char **names, int nv, int64_t *N, int64_t *C,
                    int64_t *S) {
  char b1[256], b2[256];
  *N = *C = *S = 0;
  if (!agt_is_float(x->scalar_type))
    return agt_failc("%s: expected a floating point input, got %s", op, agt_dtype_name(x->scalar_type));
  if (x->ndim < 2)
    return agt_failc("%s: expected an input of shape [N, C] or [N, C, ...], got %s", op, AGT_SHAPE(x, b1));
  *N = x->sizes[0];
  *C = x->sizes[1];
  *S = 1;
  for (int d = 2; d < x->ndim; d++) *S *= x->sizes[d];
  for (int k = 0; k < nv; k++)
    if (vecs[k] && (vecs[k]->ndim != 1 || vecs[k]->sizes[0] != *C))
      return agt_failc("%s: %s should have %lld elements (one per channel, dim 2 of input %s), got shape %s", op,
                       names[k], (long long)*C, AGT_SHAPE(x, b1), AGT_SHAPE(vecs[k], b2));
  return 0;
}

ag_tensor *agt_batch_norm(ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *rm, ag_tensor *rv, int training,
                          double momentum, double eps, ag_tensor **mean_out, ag_tensor **rstd_out) {
  const char *op = "ag.batch_norm";
  char b1[256];
  int64_t N, C, S;
  if (mean_out) *mean_out = NULL;
  if (rstd_out) *rstd_out = NULL;
  ag_tensor *vecs[4] = {rm, rv, w, b};
  const char *names[4] = {"running_mean", "running_var", "weight", "bias"};
  if (bn_check(op, x, vecs, names, 4, &N, &C, &S)) return NULL;
  if (training && N * S <= 1)
    return agt_fail("%s: expected more than 1 value per channel when training, got input size %s", op, AGT_SHAPE(x, b1));
  if (!training && (!rm || !rv))
    return agt_fail("%s: running_mean and running_var are needed in evaluation mode (training = false)", op);
  int dt = x->scalar_type;
  ag_tensor *xc = contig_as(x, dt), *wc = w ? contig_as(w, dt) : NULL, *bc = b ? contig_as(b, dt) : NULL;
  ag_tensor *rmc = !training ? contig_as(rm, dt) : NULL, *rvc = !training ? contig_as(rv, dt) : NULL;
  ag_tensor *y = agt_new_contig(x->ndim, x->sizes, dt);
  ag_tensor *mean = agt_new_contig(1, &C, AG_FLOAT64), *rstd = agt_new_contig(1, &C, AG_FLOAT64);
  double *var = calloc((size_t)(C > 0 ? C : 1), sizeof(double));
  if (!xc || (w && !wc) || (b && !bc) || (!training && (!rmc || !rvc)) || !y || !mean || !rstd || !var) {
    if (!var) agt_fail("%s: out of memory", op);
    agt_release(y); y = NULL;
    goto done;
  }
  if (N * C * S > 0 || !training) {
    if (dt == AG_FLOAT32)
      bn_fwd_f32((void *)agt_ptr(xc), wc ? (float *)agt_ptr(wc) : NULL, bc ? (float *)agt_ptr(bc) : NULL, (float *)agt_ptr(y),
                 (double *)agt_ptr(mean), (double *)agt_ptr(rstd), rmc ? (float *)agt_ptr(rmc) : NULL,
                 rvc ? (float *)agt_ptr(rvc) : NULL, var, training, N, C, S, eps);
    else
      bn_fwd_f64((void *)agt_ptr(xc), wc ? (double *)agt_ptr(wc) : NULL, bc ? (double *)agt_ptr(bc) : NULL, (double *)agt_ptr(y),
                 (double *)agt_ptr(mean), (double *)agt_ptr(rstd), rmc ? (double *)agt_ptr(rmc) : NULL,
                 rvc ? (double *)agt_ptr(rvc) : NULL, var, training, N, C, S, eps);
  }
  /* running statistics: (1 - momentum) old + momentum new, with the unbiased variance */
  if (training && (rm || rv)) {
    double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
      double mu = ((double *)agt_ptr(mean))[c];
      int64_t idx = c;
      if (rm) {
        double old;
        agt_get_item(rm, 1, (int64_t[]){idx + 1}, &old);
        agt_set_item(rm, 1, (int64_t[]){idx + 1}, (1 - momentum) * old + momentum * mu);
      }
      if (rv) {
        double old;
        agt_get_item(rv, 1, (int64_t[]){idx + 1}, &old);
        agt_set_item(rv, 1, (int64_t[]){idx + 1}, (1 - momentum) * old + momentum * var[c] * M / (M - 1));
      }
    }
    if (rm) agt_bump_version(rm);
    if (rv) agt_bump_version(rv);
  }
done:
  free(var);
  agt_release(xc); agt_release(wc); agt_release(bc); agt_release(rmc); agt_release(rvc);
  if (y && mean_out) { *mean_out = mean; mean = NULL; }
  if (y && rstd_out) { *rstd_out = rstd; rstd = NULL; }
  agt_release(mean); agt_release(rstd);
  return y;
}

int agt_batch_norm_backward(ag_tensor *g, ag_tensor *x, ag_tensor *mean, ag_tensor *rstd, ag_tensor *w, int training,
                            ag_tensor **gx_out, ag_tensor **gw_out, ag_tensor **gb_out) {
  const char *op = "ag.batch_norm_backward";
  char b1[256];
  int64_t N, C, S;
  int need_x = gx_out != NULL;
  if (gx_out) *gx_out = NULL;
  if (gw_out) *gw_out = NULL;
  if (gb_out) *gb_out = NULL;
  ag_tensor *vecs[3] = {mean, rstd, w};
  const char *names[3] = {"saved mean", "saved rstd", "weight"};
  if (bn_check(op, x, vecs, names, 3, &N, &C, &S)) return -1;
  if (g->ndim != x->ndim || memcmp(g->sizes, x->sizes, sizeof(int64_t) * x->ndim))
    return agt_failc("%s: grad_output of shape %s does not match the input's", op, AGT_SHAPE(g, b1));
  int dt = x->scalar_type;
  ag_tensor *gc = contig_as(g, dt), *xc = contig_as(x, dt), *mc = contig_as(mean, AG_FLOAT64);
  ag_tensor *rc = contig_as(rstd, AG_FLOAT64);
  ag_tensor *wc = w ? contig_as(w, dt) : NULL;
  ag_tensor *gx = need_x ? agt_new_contig(x->ndim, x->sizes, dt) : NULL;
  ag_tensor *dw = gw_out ? agt_full(1, &C, 0, dt) : NULL, *db = gb_out ? agt_full(1, &C, 0, dt) : NULL;
  int ok = gc && xc && mc && rc && (!w || wc) && (!need_x || gx) && (!gw_out || dw) && (!gb_out || db);
  if (ok && N * C * S > 0) {
    if (dt == AG_FLOAT32)
      bn_bwd_f32((void *)agt_ptr(gc), (void *)agt_ptr(xc), (void *)agt_ptr(mc), (void *)agt_ptr(rc), wc ? (float *)agt_ptr(wc) : NULL,
                 gx ? (float *)agt_ptr(gx) : NULL, dw ? (float *)agt_ptr(dw) : NULL, db ? (float *)agt_ptr(db) : NULL,
                 training, N, C, S);
    else
      bn_bwd_f64((void *)agt_ptr(gc), (void *)agt_ptr(xc), (void *)agt_ptr(mc), (void *)agt_ptr(rc), wc ? (double *)agt_ptr(wc) : NULL,
                 gx ? (double *)agt_ptr(gx) : NULL, dw ? (double *)agt_ptr(dw) : NULL, db ? (double *)agt_ptr(db) : NULL,
                 training, N, C, S);
  }
  agt_release(gc); agt_release(xc); agt_release(mc); agt_release(rc); agt_release(wc);
  if (!ok) { agt_release(gx); agt_release(dw); agt_release(db); return -1; }
  if (gx_out) *gx_out = gx;
  if (gw_out) *gw_out = dw;
  if (gb_out) *gb_out = db;
  return 0;
}
