/* reduce.c: reductions over all dims or a set of dims, with keepdim: sum, mean, prod,
 * amax, amin, all, any, var/std, max/min with 1-based indices, argmax/argmin, and
 * sum_to_size (how autograd folds broadcast gradients back to an input's shape). */
#include "internal.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *reduce_names[AG_NREDUCE] = {"ag.sum", "ag.mean", "ag.prod", "ag.amax", "ag.amin",
                                                "ag.all", "ag.any"};

/* Kept dims index the output; reduced dims are walked for each output element. */
typedef struct {
  int nk, nr;
  int64_t ksz[AG_MAX_DIMS], kst[AG_MAX_DIMS], rsz[AG_MAX_DIMS], rst[AG_MAX_DIMS];
  int64_t kcount, rcount;
  int out_ndim;
  int64_t out_sizes[AG_MAX_DIMS];
} plan;

static int make_plan(const char *op, ag_tensor *a, int ndims, const int64_t *dims, int keepdim, plan *p) {
  bool red[AG_MAX_DIMS] = {0};
  if (ndims == 0) for (int d = 0; d < a->ndim; d++) red[d] = true;
  for (int i = 0; i < ndims; i++) {
    int d = agt_normalize_dim(op, (int)dims[i], a->ndim);
    if (d < 0) return -1;
    if (a->ndim == 0) continue;
    if (red[d]) return agt_failc("%s: dim %d appears multiple times in the list of dims", op, d + 1);
    red[d] = true;
  }
  p->nk = p->nr = p->out_ndim = 0;
  p->kcount = p->rcount = 1;
  for (int d = 0; d < a->ndim; d++) {
    if (red[d]) {
      p->rsz[p->nr] = a->sizes[d]; p->rst[p->nr++] = a->strides[d]; p->rcount *= a->sizes[d];
      if (keepdim) p->out_sizes[p->out_ndim++] = 1;
    } else {
      p->ksz[p->nk] = a->sizes[d]; p->kst[p->nk++] = a->strides[d]; p->kcount *= a->sizes[d];
      p->out_sizes[p->out_ndim++] = a->sizes[d];
    }
  }
  /* collapse reduced dims that are contiguous with each other */
  int m = 0;
  for (int i = 1; i < p->nr; i++) {
    if (p->rst[m] == p->rst[i] * p->rsz[i]) { p->rsz[m] *= p->rsz[i]; p->rst[m] = p->rst[i]; }
    else { m++; p->rsz[m] = p->rsz[i]; p->rst[m] = p->rst[i]; }
  }
  if (p->nr > 0) p->nr = m + 1;
  return 0;
}

static inline int64_t offset_of(int n, const int64_t *sz, const int64_t *st, int64_t lin) {
  int64_t off = 0;
  for (int d = n - 1; d >= 0; d--) { off += (lin % sz[d]) * st[d]; lin /= sz[d]; }
  return off;
}

/* A single output over one long strided run is folded in fixed blocks of RED_BLOCK
 * elements, in parallel, and the block results are folded in order: the answer does not
 * depend on the number of threads. */
#define RED_BLOCK 32768

/* Run BODY with x bound to each reduced element under `base`, innermost dim as a plain
 * strided loop (the division-heavy offset_of runs once per row, not per element). A
 * `break` in BODY ends the current row only. */
#define FOR_REDUCED(p, base, T, BODY)                                                      \
  do {                                                                                     \
    int nr_ = (p)->nr;                                                                     \
    int64_t in_ = nr_ ? (p)->rsz[nr_ - 1] : 1, s_ = nr_ ? (p)->rst[nr_ - 1] : 0;          \
    int64_t rows_ = in_ ? (p)->rcount / in_ : 0;                                           \
    for (int64_t q_ = 0; q_ < rows_; q_++) {                                               \
      const T *row_ = (base) + (nr_ > 1 ? offset_of(nr_ - 1, (p)->rsz, (p)->rst, q_) : 0);  \
      if (s_ == 1) { for (int64_t r_ = 0; r_ < in_; r_++) { T x = row_[r_]; BODY; } }     \
      else { for (int64_t r_ = 0; r_ < in_; r_++) { T x = row_[r_ * s_]; BODY; } }        \
    }                                                                                      \
  } while (0)

/* For each output element o: walk the reduced elements x and fold them with STEP. */
#define RED_KERNEL(NAME, T, ACC_T, INIT, STEP, FINISH, OUT_T)                               \
  static inline void NAME##_one(const plan *p, const T *in, OUT_T *out, int64_t o) {        \
    const T *base = in + offset_of(p->nk, p->ksz, p->kst, o);                             \
    ACC_T acc = INIT;                                                                      \
    FOR_REDUCED(p, base, T, STEP);                                                         \
    out[o] = (OUT_T)(FINISH);                                                              \
  }                                                                                        \
  static void NAME(const plan *p, const T *in, OUT_T *out, double extra) {                 \
    (void)extra;                                                                          \
    int64_t work = p->kcount * p->rcount;                                                 \
    if (p->kcount == 1 && p->nr == 1 && p->rcount > RED_BLOCK) {                          \
      int64_t n = p->rcount, s = p->rst[0], nb = (n + RED_BLOCK - 1) / RED_BLOCK;         \
      ACC_T part[nb > 4096 ? 1 : nb];                                                     \
      ACC_T *parts = nb > 4096 ? malloc((size_t)nb * sizeof(ACC_T)) : part;               \
      if (parts) {                                                                        \
        _Pragma("omp parallel for")                                                       \
        for (int64_t b = 0; b < nb; b++) {                                                \
          ACC_T acc = INIT;                                                               \
          int64_t e = (b + 1) * RED_BLOCK < n ? (b + 1) * RED_BLOCK : n;                  \
          for (int64_t r = b * RED_BLOCK; r < e; r++) { T x = in[r * s]; STEP; }          \
          parts[b] = acc;                                                                 \
        }                                                                                 \
        ACC_T acc = INIT;                                                                 \
        for (int64_t b = 0; b < nb; b++) { ACC_T x = parts[b]; STEP; }                    \
        out[0] = (OUT_T)(FINISH);                                                         \
        if (parts != part) free(parts);                                                   \
        return;                                                                           \
      }                                                                                   \
    }                                                                                     \
    /* small work stays out of OpenMP entirely: an if(false) region still costs a team */ \
    if (work > AG_PARALLEL_GRAIN && p->kcount > 1) {                                      \
      _Pragma("omp parallel for")                                                         \
      for (int64_t o = 0; o < p->kcount; o++) NAME##_one(p, in, out, o);                  \
    } else {                                                                              \
      for (int64_t o = 0; o < p->kcount; o++) NAME##_one(p, in, out, o);                  \
    }                                                                                     \
  }

#define FLOAT_REDUCERS(T, SFX)                                                             \
  RED_KERNEL(sum_##SFX, T, double, 0, acc += x, acc, T)                                    \
  RED_KERNEL(mean_##SFX, T, double, 0, acc += x, acc / (double)p->rcount, T)               \
  RED_KERNEL(prod_##SFX, T, double, 1, acc *= x, acc, T)                                   \
  RED_KERNEL(amax_##SFX, T, T, -INFINITY, if (x > acc || x != x) acc = x; if (acc != acc) break, acc, T) \
  RED_KERNEL(amin_##SFX, T, T, INFINITY, if (x < acc || x != x) acc = x; if (acc != acc) break, acc, T) \
  RED_KERNEL(all_##SFX, T, int, 1, acc = acc && x != 0, acc, uint8_t)                      \
  RED_KERNEL(any_##SFX, T, int, 0, acc = acc || x != 0, acc, uint8_t)
FLOAT_REDUCERS(float, f32)
FLOAT_REDUCERS(double, f64)
RED_KERNEL(sum_i64, int64_t, uint64_t, 0, acc += (uint64_t)x, (int64_t)acc, int64_t)
RED_KERNEL(prod_i64, int64_t, uint64_t, 1, acc *= (uint64_t)x, (int64_t)acc, int64_t)
RED_KERNEL(amax_i64, int64_t, int64_t, INT64_MIN, if (x > acc) acc = x, acc, int64_t)
RED_KERNEL(amin_i64, int64_t, int64_t, INT64_MAX, if (x < acc) acc = x, acc, int64_t)
RED_KERNEL(all_i64, int64_t, int, 1, acc = acc && x != 0, acc, uint8_t)
RED_KERNEL(any_i64, int64_t, int, 0, acc = acc || x != 0, acc, uint8_t)

/* Sums down columns: when the last kept dim is contiguous (a bias gradient, a mean over the
 * batch), each reduced row is added into a block of accumulators, so memory is read once and
 * in order instead of once per output with a long stride. Blocks run in parallel. */
#define COL_BLOCK 256
#define COL_SUM(T, SFX)                                                                    \
  static void colsum_##SFX(const plan *p, const T *in, T *out, int mean) {                \
    int64_t K = p->ksz[p->nk - 1], outer = p->kcount / K, nblk = (K + COL_BLOCK - 1) / COL_BLOCK; \
    _Pragma("omp parallel for collapse(2) if(p->kcount * p->rcount > AG_PARALLEL_GRAIN)")  \
    for (int64_t ob = 0; ob < outer; ob++)                                                \
      for (int64_t c = 0; c < nblk; c++) {                                                \
        const T *base = in + offset_of(p->nk - 1, p->ksz, p->kst, ob) + c * COL_BLOCK;   \
        int64_t len = K - c * COL_BLOCK < COL_BLOCK ? K - c * COL_BLOCK : COL_BLOCK;      \
        double acc[COL_BLOCK] = {0};                                                      \
        for (int64_t r = 0; r < p->rcount; r++) {                                         \
          const T *row = base + offset_of(p->nr, p->rsz, p->rst, r);                     \
          for (int64_t j = 0; j < len; j++) acc[j] += row[j];                             \
        }                                                                                 \
        T *o = out + ob * K + c * COL_BLOCK;                                              \
        for (int64_t j = 0; j < len; j++) o[j] = (T)(mean ? acc[j] / (double)p->rcount : acc[j]); \
      }                                                                                   \
  }
COL_SUM(float, f32)
COL_SUM(double, f64)

/* Sums of contiguous runs with eight independent accumulators, so the adds pipeline (one
 * accumulator waits on the add latency for every element). Long single runs fold in fixed
 * blocks in parallel; block boundaries never depend on the thread count. */
#define ROW_SUM(T, SFX)                                                                    \
  static inline double run_sum_##SFX(const T *x, int64_t n) {                             \
    double a[8] = {0};                                                                    \
    int64_t i = 0;                                                                        \
    for (; i + 8 <= n; i += 8)                                                            \
      for (int k = 0; k < 8; k++) a[k] += x[i + k];                                       \
    double t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));          \
    for (; i < n; i++) t += x[i];                                                         \
    return t;                                                                             \
  }                                                                                       \
  static void rowsum_##SFX(const plan *p, const T *in, T *out, int mean) {                \
    int64_t n = p->rcount;                                                                \
    if (p->kcount == 1 && n > RED_BLOCK) {                                                \
      int64_t nb = (n + RED_BLOCK - 1) / RED_BLOCK;                                       \
      double *parts = malloc((size_t)nb * sizeof(double));                                \
      if (parts) {                                                                        \
        _Pragma("omp parallel for")                                                       \
        for (int64_t b = 0; b < nb; b++) {                                                \
          int64_t e = (b + 1) * RED_BLOCK < n ? (b + 1) * RED_BLOCK : n;                  \
          parts[b] = run_sum_##SFX(in + b * RED_BLOCK, e - b * RED_BLOCK);                \
        }                                                                                 \
        double t = 0;                                                                     \
        for (int64_t b = 0; b < nb; b++) t += parts[b];                                   \
        free(parts);                                                                      \
        out[0] = (T)(mean ? t / (double)n : t);                                           \
        return;                                                                           \
      }                                                                                   \
    }                                                                                     \
    if (p->kcount * n > AG_PARALLEL_GRAIN && p->kcount > 1) {                             \
      _Pragma("omp parallel for")                                                         \
      for (int64_t o = 0; o < p->kcount; o++) {                                           \
        double t = run_sum_##SFX(in + offset_of(p->nk, p->ksz, p->kst, o), n);            \
        out[o] = (T)(mean ? t / (double)n : t);                                           \
      }                                                                                   \
    } else {                                                                              \
      for (int64_t o = 0; o < p->kcount; o++) {                                           \
        double t = run_sum_##SFX(in + offset_of(p->nk, p->ksz, p->kst, o), n);            \
        out[o] = (T)(mean ? t / (double)n : t);                                           \
      }                                                                                   \
    }                                                                                     \
  }
ROW_SUM(float, f32)
ROW_SUM(double, f64)

static bool row_case(int op, const plan *p, int dtype) {
  return (op == AG_RED_SUM || op == AG_RED_MEAN) && agt_is_float(dtype) && p->nr == 1 &&
         p->rst[0] == 1 && p->rcount >= 16;
}

static bool column_case(int op, const plan *p, int dtype) {
  return (op == AG_RED_SUM || op == AG_RED_MEAN) && agt_is_float(dtype) && p->nk >= 1 &&
         p->nr >= 1 && p->kst[p->nk - 1] == 1 && p->ksz[p->nk - 1] >= 8 && p->rcount > 1;
}

typedef void (*red_fn)(const plan *, const void *, void *, double);
#define F(fn) ((red_fn)(fn))
static const red_fn reducers[3][AG_NREDUCE] = {
  {F(sum_f32), F(mean_f32), F(prod_f32), F(amax_f32), F(amin_f32), F(all_f32), F(any_f32)},
  {F(sum_f64), F(mean_f64), F(prod_f64), F(amax_f64), F(amin_f64), F(all_f64), F(any_f64)},
  {F(sum_i64), NULL, F(prod_i64), F(amax_i64), F(amin_i64), F(all_i64), F(any_i64)}};

ag_tensor *agt_reduce(int op, ag_tensor *a, int ndims, const int64_t *dims, int keepdim) {
  if (op < 0 || op >= AG_NREDUCE) return agt_fail("ag: unknown reduction %d", op);
  char b[256];
  const char *name = reduce_names[op];
  if (op == AG_RED_MEAN && !agt_is_float(a->scalar_type))
    return agt_fail("ag.mean: could not infer output dtype. Input dtype must be a floating point "
                    "dtype, but got %s; convert with :float() first", agt_dtype_name(a->scalar_type));
  plan p;
  if (make_plan(name, a, ndims, dims, keepdim, &p)) return NULL;
  if ((op == AG_RED_AMAX || op == AG_RED_AMIN) && p.rcount == 0)
    return agt_fail("%s: expected a non-empty tensor to reduce (input shape %s); name a dim whose "
                    "size is not 0", name, AGT_SHAPE(a, b));
  int kd = a->scalar_type == AG_FLOAT32 ? 0 : a->scalar_type == AG_FLOAT64 ? 1 : 2;
  int out_dtype = (op == AG_RED_ALL || op == AG_RED_ANY) ? AG_BOOL
                  : kd < 2 ? a->scalar_type
                  : (op == AG_RED_AMAX || op == AG_RED_AMIN) ? a->scalar_type : AG_INT64;
  ag_tensor *in = kd == 2 && a->scalar_type != AG_INT64 ? agt_to_dtype(a, AG_INT64) : a;
  if (!in) return NULL;
  int kernel_out = (out_dtype == AG_BOOL) ? AG_BOOL : (kd == 2 ? AG_INT64 : a->scalar_type);
  ag_tensor *out = agt_new_contig(p.out_ndim, p.out_sizes, kernel_out);
  if (out && column_case(op, &p, a->scalar_type)) {
    if (kd == 0) colsum_f32(&p, (const float *)agt_ptr(in), (float *)agt_ptr(out), op == AG_RED_MEAN);
    else colsum_f64(&p, (const double *)agt_ptr(in), (double *)agt_ptr(out), op == AG_RED_MEAN);
  } else if (out && row_case(op, &p, a->scalar_type)) {
    if (kd == 0) rowsum_f32(&p, (const float *)agt_ptr(in), (float *)agt_ptr(out), op == AG_RED_MEAN);
    else rowsum_f64(&p, (const double *)agt_ptr(in), (double *)agt_ptr(out), op == AG_RED_MEAN);
  } else if (out) {
    reducers[kd][op](&p, (const char *)agt_ptr(in), agt_ptr(out), 0);
  }
  if (in != a) agt_release(in);
  if (out && out->scalar_type != out_dtype) {
    ag_tensor *c = agt_to_dtype(out, out_dtype);
    agt_release(out);
    out = c;
  }
  return out;
}

/* Two-pass variance per output element, accumulated in double. */
#define VAR_KERNEL(T, SFX)                                                                 \
  static void var_##SFX(const plan *p, const T *in, T *out, double correction, int take_sqrt) { \
    _Pragma("omp parallel for if(p->kcount * p->rcount > AG_PARALLEL_GRAIN && p->kcount > 1)") \
    for (int64_t o = 0; o < p->kcount; o++) {                                             \
      const T *base = in + offset_of(p->nk, p->ksz, p->kst, o);                          \
      double mean = 0, m2 = 0;                                                            \
      FOR_REDUCED(p, base, T, mean += x);                                                 \
      mean /= (double)p->rcount;                                                          \
      FOR_REDUCED(p, base, T, double d_ = x - mean; m2 += d_ * d_);                       \
      double dof = (double)p->rcount - correction;                                        \
      double v = dof > 0 ? m2 / dof : (m2 == m2 ? INFINITY : m2);                         \
      if (dof <= 0 && m2 == 0) v = NAN;                                                   \
      out[o] = (T)(take_sqrt ? sqrt(v) : v);                                              \
    }                                                                                     \
  }
VAR_KERNEL(float, f32)
VAR_KERNEL(double, f64)

ag_tensor *agt_var(ag_tensor *a, int ndims, const int64_t *dims, double correction, int keepdim, int take_sqrt) {
  const char *name = take_sqrt ? "ag.std" : "ag.var";
  if (!agt_is_float(a->scalar_type))
    return agt_fail("%s: expected a floating point tensor, got %s", name, agt_dtype_name(a->scalar_type));
  plan p;
  if (make_plan(name, a, ndims, dims, keepdim, &p)) return NULL;
  ag_tensor *out = agt_new_contig(p.out_ndim, p.out_sizes, a->scalar_type);
  if (!out) return NULL;
  if (a->scalar_type == AG_FLOAT32) var_f32(&p, (const float *)agt_ptr(a), (float *)agt_ptr(out), correction, take_sqrt);
  else var_f64(&p, (const double *)agt_ptr(a), (double *)agt_ptr(out), correction, take_sqrt);
  return out;
}

/* max/min along one dim: values and 1-based int64 indices; NaN wins, as in PyTorch. */
static ag_tensor *max_dim(const char *name, ag_tensor *a, int dim, int keepdim, int is_min, ag_tensor **indices) {
  char b[256];
  int64_t d64 = dim;
  plan p;
  if (make_plan(name, a, 1, &d64, keepdim, &p)) return NULL;
  if (p.rcount == 0)
    return agt_fail("%s: cannot reduce over a zero-size dimension %d (input shape %s)", name,
                    dim, AGT_SHAPE(a, b));
  ag_tensor *vals = agt_new_contig(p.out_ndim, p.out_sizes, a->scalar_type);
  ag_tensor *idx = vals ? agt_new_contig(p.out_ndim, p.out_sizes, AG_INT64) : NULL;
  if (!idx) { agt_release(vals); return NULL; }
  const char *in = agt_ptr(a);
  int es = agt_dtype_size(a->scalar_type);
  int64_t *ip = (int64_t *)agt_ptr(idx);
  for (int64_t o = 0; o < p.kcount; o++) {
    int64_t base = offset_of(p.nk, p.ksz, p.kst, o), best_i = 0;
    double best = agt_load(a->scalar_type, in + base * es);
    for (int64_t r = 1; r < p.rcount && best == best; r++) {
      double x = agt_load(a->scalar_type, in + (base + r * p.rst[0]) * es);
      if (x != x || (is_min ? x < best : x > best)) { best = x; best_i = r; }
    }
    memcpy(agt_ptr(vals) + o * es, in + (base + best_i * p.rst[0]) * es, es);
    ip[o] = best_i + 1;
  }
  *indices = idx;
  return vals;
}

ag_tensor *agt_max_dim(ag_tensor *a, int dim, int keepdim, int is_min, ag_tensor **indices) {
  return max_dim(is_min ? "ag.min" : "ag.max", a, dim, keepdim, is_min, indices);
}

ag_tensor *agt_argmax(ag_tensor *a, int dim, int keepdim, int is_min, int all) {
  ag_tensor *src = a, *idx = NULL, *vals;
  if (all) {
    int64_t n = -1;
    if (agt_numel(a) == 0) {
      char b[256];
      return agt_fail("%s: expected a non-empty tensor (got shape %s); give a dim to reduce instead",
                      is_min ? "ag.argmin" : "ag.argmax", AGT_SHAPE(a, b));
    }
    src = agt_reshape(a, 1, &n);
    if (!src) return NULL;
    dim = 1;
    keepdim = 0;
  }
  vals = max_dim(is_min ? "ag.argmin" : "ag.argmax", src, dim, keepdim, is_min, &idx);
  if (src != a) agt_release(src);
  agt_release(vals);
  return vals ? idx : NULL;
}

ag_tensor *agt_sum_to_size(ag_tensor *a, int ndim, const int64_t *sizes) {
  char b1[256], b2[256];
  int lead = a->ndim - ndim;
  if (lead < 0) goto bad;
  int64_t dims[AG_MAX_DIMS];
  int n = 0;
  for (int d = 0; d < a->ndim; d++) {
    if (d < lead) dims[n++] = d + 1;
    else if (sizes[d - lead] == 1 && a->sizes[d] != 1) dims[n++] = d + 1;
    else if (sizes[d - lead] != a->sizes[d]) goto bad;
  }
  if (n == 0) {
    if (a->ndim == ndim) { agt_retain(a); return a; }
    return agt_view(a, ndim, sizes);
  }
  ag_tensor *s = agt_reduce(AG_RED_SUM, a, n, dims, 1);
  if (!s) return NULL;
  ag_tensor *r = agt_reshape(s, ndim, sizes);
  agt_release(s);
  return r;
bad:
  return agt_fail("ag.sum_to_size: size %s is not expandable to size %s",
                  agt_shape_str(ndim, sizes, b1), AGT_SHAPE(a, b2));
}
