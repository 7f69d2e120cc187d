/* index_ops.c: ops driven by index tensors and masks: index_select, gather, scatter(_add),
 * index_add, embedding and its weight gradient, masked_fill/select/scatter and one_hot.
 *
 * Index values are 1-based. Every index tensor is checked in full before anything is
 * written, so a bad index leaves an in-place target untouched and the message quotes it.
 * Kernels walk agt_iter's collapsed layout with a context (the stride of the indexed
 * dimension); pure copies move bytes with fixed-size memcpy (one load and store), and the
 * accumulating ones are instantiated per dtype. index_select and embedding have
 * contiguous row-copy fast paths, and their gradients (index_add, embedding_backward)
 * row-add fast paths; all of them split across OpenMP threads above AG_PARALLEL_GRAIN. */
#include "iter.h"
#include "ag_index.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* A 0-dim tensor seen as shape [1] (a header copy; it shares the data). */
static ag_tensor as1d(const ag_tensor *t) {
  ag_tensor r = *t;
  if (r.ndim == 0) { r.ndim = 1; r.sizes[0] = 1; r.strides[0] = 1; }
  return r;
}

static bool expanded(const ag_tensor *t) {
  for (int d = 0; d < t->ndim; d++) if (t->strides[d] == 0 && t->sizes[d] > 1) return true;
  return false;
}

/* ---------------- index checks ---------------- */
static int check_index_dtype(const char *op, const ag_tensor *index, const char *what) {
  if (index->scalar_type == AG_INT64 || index->scalar_type == AG_INT32) return 0;
  return agt_failc("ag.%s: expected %s to be an int64 (or int32) tensor, got %s; convert it with :long()",
                   op, what, agt_dtype_name(index->scalar_type));
}

typedef struct { int64_t size, bad; int found; } range_ctx;
#define RANGE_LOOP(NAME, IT)                                                               \
  static void NAME(void *c, int64_t n, char **p, const int64_t *s) {                       \
    range_ctx *r = c;                                                                      \
    if (r->found) return;                                                                  \
    const IT *x = (const IT *)p[0];                                                        \
    for (int64_t i = 0; i < n; i++) {                                                      \
      int64_t v = x[i * s[0]];                                                             \
      if (v < 1 || v > r->size) { r->bad = v; r->found = 1; return; }                      \
    }                                                                                      \
  }
RANGE_LOOP(range_i64, int64_t)
RANGE_LOOP(range_i32, int32_t)

/* Every value of index is in 1..size; otherwise the message quotes the first bad one. */
static int check_index_range(const char *op, const ag_tensor *index, int64_t size, int dim) {
  int64_t n = agt_numel(index);
  if (n == 0) return 0;
  range_ctx r = {size, 0, 0};
  if (agt_is_contiguous(index)) {
    char *p = agt_ptr(index);
    int64_t s1 = 1;
    (index->scalar_type == AG_INT64 ? range_i64 : range_i32)(&r, n, &p, &s1);
  } else {
    ag_tensor x = as1d(index);
    agt_iter it;
    agt_iter_init(&it, 1, (ag_tensor *[]){&x});
    agt_iter_run_ctx(&it, index->scalar_type == AG_INT64 ? range_i64 : range_i32, &r, false);
  }
  if (!r.found) return 0;
  return agt_failc("ag.%s: index %lld is out of bounds for dimension %d with size %lld%s", op,
                   (long long)r.bad, dim + 1, (long long)size,
                   r.bad < 1 ? " (indices are 1-based)" : "");
}

/* The values of a 0-D or 1-D index tensor, 0-based, in a malloc'd buffer. */
static int64_t *index_values(const ag_tensor *index) {
  int64_t n = agt_numel(index);
  int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  if (!v) return agt_fail("ag: out of memory (index buffer)");
  int64_t st = index->ndim ? index->strides[0] : 0;
  const char *p = agt_ptr(index);
  if (index->scalar_type == AG_INT64)
    for (int64_t i = 0; i < n; i++) v[i] = ((const int64_t *)p)[i * st] - 1;
  else
    for (int64_t i = 0; i < n; i++) v[i] = (int64_t)((const int32_t *)p)[i * st] - 1;
  return v;
}

/* ---------------- gather-style copy: out[i] = a[i + (index[i] - 1) * stride] ---------------- */
#define GATHER_LOOP(NAME, ES, IT)                                                          \
  static void NAME(void *c, int64_t n, char **p, const int64_t *s) {                       \
    int64_t ds = *(const int64_t *)c * ES;                                                 \
    char *o = p[0]; const IT *ix = (const IT *)p[1]; const char *a = p[2];                 \
    int64_t s0 = s[0] * ES, s1 = s[1], s2 = s[2] * ES;                                     \
    for (int64_t i = 0; i < n; i++)                                                        \
      memcpy(o + i * s0, a + i * s2 + ((int64_t)ix[i * s1] - 1) * ds, ES);                 \
  }
GATHER_LOOP(gather1_i64, 1, int64_t) GATHER_LOOP(gather4_i64, 4, int64_t) GATHER_LOOP(gather8_i64, 8, int64_t)
GATHER_LOOP(gather1_i32, 1, int32_t) GATHER_LOOP(gather4_i32, 4, int32_t) GATHER_LOOP(gather8_i32, 8, int32_t)

static agt_loop_ctx_fn gather_loop(int esize, int idx_dtype) {
  bool i64 = idx_dtype == AG_INT64;
  switch (esize) {
  case 1: return i64 ? gather1_i64 : gather1_i32;
  case 4: return i64 ? gather4_i64 : gather4_i32;
  default: return i64 ? gather8_i64 : gather8_i32;
  }
}

/* out (shape of idx) <- src at idx along dim d, where srcv is src's header with idx's sizes
 * and stride 0 along d (the real stride is ds). */
static void run_gather(ag_tensor *out, ag_tensor *idx, ag_tensor *srcv, int64_t ds) {
  agt_iter it;
  agt_iter_init(&it, 3, (ag_tensor *[]){out, idx, srcv});
  agt_iter_run_ctx(&it, gather_loop(agt_dtype_size(out->scalar_type), idx->scalar_type), &ds, true);
}

ag_tensor *agt_gather(ag_tensor *a, int dim, ag_tensor *index) {
  char b1[256], b2[256];
  if (check_index_dtype("gather", index, "index")) return NULL;
  int d = agt_normalize_dim("ag.gather", dim, a->ndim);
  if (d < 0) return NULL;
  ag_tensor A = as1d(a), I = as1d(index);
  if (I.ndim != A.ndim)
    return agt_fail("ag.gather: index %s must have as many dimensions as the input %s", AGT_SHAPE(index, b1),
                    AGT_SHAPE(a, b2));
  for (int k = 0; k < A.ndim; k++)
    if (k != d && I.sizes[k] > A.sizes[k])
      return agt_fail("ag.gather: index %s is larger than the input %s in dimension %d (only the gathered "
                      "dimension %d may be larger)", AGT_SHAPE(index, b1), AGT_SHAPE(a, b2), k + 1, d + 1);
  if (check_index_range("gather", index, A.sizes[d], d)) return NULL;
  ag_tensor *out = agt_new_contig(index->ndim, index->sizes, a->scalar_type);
  if (!out || agt_numel(out) == 0) return out;
  ag_tensor O = as1d(out), AV = A;
  memcpy(AV.sizes, I.sizes, sizeof AV.sizes);
  AV.strides[d] = 0;
  run_gather(&O, &I, &AV, A.strides[d]);
  return out;
}

/* ---------------- index_select ---------------- */
static int check_index_1d(const char *op, const ag_tensor *index) {
  char b[256];
  if (index->ndim > 1)
    return agt_failc("ag.%s: index must be a 0-D or 1-D tensor, got shape %s", op, AGT_SHAPE(index, b));
  return 0;
}

/* The contiguous case of index_select: out[o, j, :] = a[o, iv[j], :] with `inner` elements per
 * row. Units u0..u1 are outer indices when inner == 1 (fixed-size element copies), else
 * (outer, j) rows copied whole. */
static void copy_selected(char *dst, const char *src, const int64_t *iv, int64_t n, int64_t size,
                          int64_t inner, int es, int64_t u0, int64_t u1) {
  if (inner == 1) {
    for (int64_t o = u0; o < u1; o++) {
      char *d = dst + o * n * es;
      const char *s = src + o * size * es;
      switch (es) {
      case 8: for (int64_t j = 0; j < n; j++) memcpy(d + j * 8, s + iv[j] * 8, 8); break;
      case 4: for (int64_t j = 0; j < n; j++) memcpy(d + j * 4, s + iv[j] * 4, 4); break;
      default: for (int64_t j = 0; j < n; j++) d[j] = s[iv[j]]; break;
      }
    }
    return;
  }
  int64_t row = inner * es, o = n ? u0 / n : 0, j = n ? u0 % n : 0;
  for (int64_t r = u0; r < u1; r++) {
    memcpy(dst + r * row, src + (o * size + iv[j]) * row, (size_t)row);
    if (++j == n) { j = 0; o++; }
  }
}

/* Rows of a picked by a 1-D (or 0-D) index along d; op names the caller in errors. */
static ag_tensor *select_rows(const char *op, ag_tensor *a, int d, ag_tensor *index) {
  ag_tensor A = as1d(a);
  int64_t n = agt_numel(index);
  if (check_index_range(op, index, A.sizes[d], d)) return NULL;
  if (a->ndim == 0 && n != 1)
    return agt_fail("ag.%s: selecting from a 0-dim tensor takes exactly one index, got %lld", op, (long long)n);
  int64_t shape[AG_MAX_DIMS];
  memcpy(shape, a->sizes, sizeof shape);
  if (a->ndim) shape[d] = n;
  ag_tensor *out = agt_new_contig(a->ndim, shape, a->scalar_type);
  if (!out || agt_numel(out) == 0) return out;
  int es = agt_dtype_size(a->scalar_type);
  if (agt_is_contiguous(a)) {
    int64_t outer = 1, inner = 1, size = A.sizes[d];
    for (int k = 0; k < d; k++) outer *= A.sizes[k];
    for (int k = d + 1; k < A.ndim; k++) inner *= A.sizes[k];
    int64_t *iv = index_values(index);
    if (!iv) { agt_release(out); return NULL; }
    const char *src = agt_ptr(a);
    char *dst = agt_ptr(out);
    int64_t rows = outer * n;
    int nt = rows * inner >= AG_PARALLEL_GRAIN ? omp_get_max_threads() : 1;
    int64_t units = inner == 1 ? outer : rows;   /* split outer rows, or (outer, index) rows */
    if (nt <= 1 || units < 2) {
      copy_selected(dst, src, iv, n, size, inner, es, 0, units);
    } else {
      #pragma omp parallel num_threads(nt)
      {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        copy_selected(dst, src, iv, n, size, inner, es, units * t / T, units * (t + 1) / T);
      }
    }
    free(iv);
    return out;
  }
  /* strided input: the gather kernel, with the index broadcast along the other dims */
  ag_tensor O = as1d(out), AV = A, IV = as1d(index);
  memcpy(AV.sizes, O.sizes, sizeof AV.sizes);
  AV.strides[d] = 0;
  int64_t ist = IV.strides[0];
  IV.ndim = O.ndim;
  for (int k = 0; k < O.ndim; k++) { IV.sizes[k] = O.sizes[k]; IV.strides[k] = k == d ? ist : 0; }
  run_gather(&O, &IV, &AV, A.strides[d]);
  return out;
}

ag_tensor *agt_index_select(ag_tensor *a, int dim, ag_tensor *index) {
  if (check_index_dtype("index_select", index, "index") || check_index_1d("index_select", index)) return NULL;
  int d = agt_normalize_dim("ag.index_select", dim, a->ndim);
  if (d < 0) return NULL;
  return select_rows("index_select", a, d, index);
}

/* ---------------- embedding ---------------- */
ag_tensor *agt_embedding(ag_tensor *w, ag_tensor *indices) {
  char b[256];
  if (w->ndim != 2)
    return agt_fail("ag.embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape %s", AGT_SHAPE(w, b));
  if (check_index_dtype("embedding", indices, "indices")) return NULL;
  if (indices->ndim + 1 > AG_MAX_DIMS) return agt_fail("ag.embedding: indices have too many dimensions");
  int64_t n = agt_numel(indices);
  ag_tensor *flat = agt_reshape(indices, 1, &n);
  if (!flat) return NULL;
  ag_tensor *rows = select_rows("embedding", w, 0, flat);
  agt_release(flat);
  if (!rows) return NULL;
  int64_t shape[AG_MAX_DIMS];
  memcpy(shape, indices->sizes, indices->ndim * sizeof(int64_t));
  shape[indices->ndim] = w->sizes[1];
  ag_tensor *out = agt_view(rows, indices->ndim + 1, shape);
  agt_release(rows);
  return out;
}

/* dst[k] += f * src[k] for k < n, per floating dtype */
#define ROW_AXPY(T, S)                                                                     \
  static void axpy_##S(T *dst, const T *src, int64_t n, T f) {                             \
    if (f == 1) for (int64_t k = 0; k < n; k++) dst[k] += src[k];                          \
    else for (int64_t k = 0; k < n; k++) dst[k] += f * src[k];                             \
  }
ROW_AXPY(float, f32)
ROW_AXPY(double, f64)

/* out[idx[j]] += f[j] * g[j] for rows of length D, columns c0..c1; f NULL means 1; rows with
 * idx < 0 are skipped. */
static void scatter_cols(char *out, const char *g, const int64_t *idx, const double *f, int64_t N,
                         int64_t D, int dtype, int64_t c0, int64_t c1) {
  int es = agt_dtype_size(dtype);
  if (c0 >= c1) return;
  for (int64_t j = 0; j < N; j++) {
    if (idx[j] < 0) continue;
    char *dst = out + (idx[j] * D + c0) * es;
    const char *src = g + (j * D + c0) * es;
    if (dtype == AG_FLOAT32) axpy_f32((float *)dst, (const float *)src, c1 - c0, f ? (float)f[j] : 1.0f);
    else axpy_f64((double *)dst, (const double *)src, c1 - c0, f ? f[j] : 1.0);
  }
}

/* Threads split the columns, so rows that repeat an index never race. */
static void scatter_rows(char *out, const char *g, const int64_t *idx, const double *f, int64_t N,
                         int64_t D, int dtype) {
  int nt = omp_get_max_threads();
  if (N * D < AG_PARALLEL_GRAIN || D < 64 || nt <= 1) {
    scatter_cols(out, g, idx, f, N, D, dtype, 0, D);
    return;
  }
  #pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    scatter_cols(out, g, idx, f, N, D, dtype, D * t / T, D * (t + 1) / T);
  }
}

/* idx (0-based, padding rows set to -1) and per-row factors for the weight gradient */
static int embedding_rows(const ag_tensor *indices, int64_t V, int64_t padding_idx, int scale,
                          int64_t **idx_out, double **f_out) {
  *idx_out = NULL; *f_out = NULL;
  if (check_index_range("embedding", indices, V, 0)) return -1;
  int64_t N = agt_numel(indices);
  ag_tensor *flat = agt_reshape((ag_tensor *)indices, 1, &N);
  if (!flat) return -1;
  int64_t *idx = index_values(flat);
  agt_release(flat);
  if (!idx) return -1;
  for (int64_t j = 0; j < N; j++) if (padding_idx > 0 && idx[j] == padding_idx - 1) idx[j] = -1;
  if (scale) {
    int64_t *count = calloc((size_t)(V > 0 ? V : 1), sizeof(int64_t));
    double *f = malloc((size_t)(N > 0 ? N : 1) * sizeof(double));
    if (!count || !f) { free(count); free(f); free(idx); return agt_failc("ag: out of memory (embedding)"); }
    for (int64_t j = 0; j < N; j++) if (idx[j] >= 0) count[idx[j]]++;
    for (int64_t j = 0; j < N; j++) f[j] = idx[j] >= 0 ? 1.0 / (double)count[idx[j]] : 0.0;
    free(count);
    *f_out = f;
  }
  *idx_out = idx;
  return 0;
}

static int64_t norm_padding_idx(int64_t padding_idx, int64_t V) {
  return padding_idx < 0 ? padding_idx + V + 1 : padding_idx;
}

ag_tensor *agt_embedding_backward(ag_tensor *grad, ag_tensor *indices, int64_t V, int64_t padding_idx,
                                  int scale) {
  char b1[256], b2[256];
  if (check_index_dtype("embedding_backward", indices, "indices")) return NULL;
  if (!agt_is_float(grad->scalar_type))
    return agt_fail("ag.embedding_backward: expected a floating point gradient, got %s", agt_dtype_name(grad->scalar_type));
  int64_t N = agt_numel(indices);
  int64_t D = grad->ndim ? grad->sizes[grad->ndim - 1] : 1;
  bool ok = grad->ndim == indices->ndim + 1;
  for (int k = 0; ok && k < indices->ndim; k++) ok = grad->sizes[k] == indices->sizes[k];
  if (!ok)
    return agt_fail("ag.embedding_backward: gradient of shape %s does not match indices of shape %s plus "
                    "an embedding dimension", AGT_SHAPE(grad, b1), AGT_SHAPE(indices, b2));
  padding_idx = norm_padding_idx(padding_idx, V);
  ag_tensor *out = agt_full(2, (int64_t[]){V, D}, 0, grad->scalar_type);
  if (!out || N == 0 || D == 0) return out;
  int64_t *idx; double *f;
  if (embedding_rows(indices, V, padding_idx, scale, &idx, &f)) { agt_release(out); return NULL; }
  ag_tensor *g = agt_contiguous(grad);
  if (g) scatter_rows(agt_ptr(out), agt_ptr(g), idx, f, N, D, grad->scalar_type);
  agt_release(g);
  free(idx); free(f);
  if (!g) { agt_release(out); return NULL; }
  return out;
}

ag_tensor *agt_embedding_row_scale(ag_tensor *indices, int64_t V, int64_t padding_idx, int scale, int dtype) {
  int64_t shape[AG_MAX_DIMS];
  memcpy(shape, indices->sizes, indices->ndim * sizeof(int64_t));
  shape[indices->ndim] = 1;
  ag_tensor *out = agt_new_contig(indices->ndim + 1, shape, dtype);
  if (!out) return NULL;
  int64_t N = agt_numel(indices), *idx; double *f;
  if (embedding_rows(indices, V, norm_padding_idx(padding_idx, V), scale, &idx, &f)) { agt_release(out); return NULL; }
  char *p = agt_ptr(out);
  for (int64_t j = 0; j < N; j++)
    agt_store(dtype, p + j * agt_dtype_size(dtype), idx[j] < 0 ? 0.0 : f ? f[j] : 1.0);
  free(idx); free(f);
  return out;
}

/* ---------------- scatter / scatter_add / index_add ---------------- */
typedef struct { int64_t ds; double alpha; } sc_ctx;
#define SC_ADD_X(d, v, al) (d) = (d) + (v) * (al)
#define SC_MUL_X(d, v, al) (d) = (d) * (v)
#define SC_ADD_f32 SC_ADD_X
#define SC_ADD_f64 SC_ADD_X
#define SC_ADD_i64 SC_ADD_X
#define SC_ADD_i32 SC_ADD_X
#define SC_ADD_u8 SC_ADD_X
#define SC_ADD_b8(d, v, al) (d) = (uint8_t)((d) | (v))
#define SC_MUL_f32 SC_MUL_X
#define SC_MUL_f64 SC_MUL_X
#define SC_MUL_i64 SC_MUL_X
#define SC_MUL_i32 SC_MUL_X
#define SC_MUL_u8 SC_MUL_X
#define SC_MUL_b8(d, v, al) (d) = (uint8_t)((d) & (v))

#define SC_LOOP(NAME, T, IT, OPX)                                                          \
  static void NAME(void *c, int64_t n, char **p, const int64_t *s) {                       \
    const sc_ctx *x = c;                                                                   \
    int64_t ds = x->ds;                                                                    \
    T al = (T)x->alpha; (void)al;                                                          \
    T *o = (T *)p[0]; const IT *ix = (const IT *)p[1]; const T *v = (const T *)p[2];       \
    for (int64_t i = 0; i < n; i++) {                                                      \
      T *dst = o + i * s[0] + ((int64_t)ix[i * s[1]] - 1) * ds;                            \
      OPX(*dst, v[i * s[2]], al);                                                          \
    }                                                                                      \
  }
#define SC_SET_(d, v, al) (d) = (v)
#define SC_DEFS(DT, T, S)                                                                  \
  SC_LOOP(sc_set_##S##_i64, T, int64_t, SC_SET_) SC_LOOP(sc_set_##S##_i32, T, int32_t, SC_SET_) \
  SC_LOOP(sc_add_##S##_i64, T, int64_t, SC_ADD_##S) SC_LOOP(sc_add_##S##_i32, T, int32_t, SC_ADD_##S) \
  SC_LOOP(sc_mul_##S##_i64, T, int64_t, SC_MUL_##S) SC_LOOP(sc_mul_##S##_i32, T, int32_t, SC_MUL_##S)
AG_FOREACH_DTYPE(SC_DEFS)
#define SC_ENTRY(DT, T, S) [DT] = {{sc_set_##S##_i64, sc_set_##S##_i32}, {sc_add_##S##_i64, sc_add_##S##_i32}, \
                                   {sc_mul_##S##_i64, sc_mul_##S##_i32}},
static const agt_loop_ctx_fn sc_loops[AG_NDTYPES][3][2] = {AG_FOREACH_DTYPE(SC_ENTRY)};

/* self[pos with dim d at index] (reduce)= src; selfv has the iteration's sizes and stride 0
 * along d (real stride ds); src NULL: the value. Serial: repeated indices accumulate. */
static void run_scatter(ag_tensor *selfv, ag_tensor *idx, ag_tensor *srcv, double value, int64_t ds,
                        int reduce, double alpha) {
  agt_iter it;
  agt_iter_init(&it, 3, (ag_tensor *[]){selfv, idx, srcv});
  char scalar[16];
  if (!srcv) {
    agt_store(selfv->scalar_type, scalar, value);
    agt_iter_set_scalar(&it, 2, scalar, agt_dtype_size(selfv->scalar_type));
  }
  sc_ctx ctx = {ds, alpha};
  agt_iter_run_ctx(&it, sc_loops[selfv->scalar_type][reduce][idx->scalar_type == AG_INT64 ? 0 : 1], &ctx, false);
}

static int check_writable(const char *op, const ag_tensor *a) {
  if (expanded(a))
    return agt_failc("ag.%s: the destination is an expanded tensor (several elements share one memory "
                     "location); clone() it first", op);
  return 0;
}

int agt_scatter_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce) {
  char b1[256], b2[256];
  const char *op = reduce == AG_SCATTER_ADD ? "scatter_add" : "scatter";
  if (reduce < 0 || reduce > 2) return agt_failc("ag.scatter: unknown reduce mode %d", reduce);
  if (check_index_dtype(op, index, "index")) return -1;
  int d = agt_normalize_dim(reduce == AG_SCATTER_ADD ? "ag.scatter_add" : "ag.scatter", dim, a->ndim);
  if (d < 0) return -1;
  ag_tensor A = as1d(a), I = as1d(index), S;
  if (I.ndim != A.ndim)
    return agt_failc("ag.%s: index %s must have as many dimensions as self %s", op, AGT_SHAPE(index, b1),
                     AGT_SHAPE(a, b2));
  if (src) {
    if (src->scalar_type != a->scalar_type)
      return agt_failc("ag.%s: expected self and src to have the same dtype, got %s and %s", op,
                       agt_dtype_name(a->scalar_type), agt_dtype_name(src->scalar_type));
    S = as1d(src);
    if (S.ndim != A.ndim)
      return agt_failc("ag.%s: src %s must have as many dimensions as self %s", op, AGT_SHAPE(src, b1),
                       AGT_SHAPE(a, b2));
    for (int k = 0; k < A.ndim; k++)
      if (I.sizes[k] > S.sizes[k])
        return agt_failc("ag.%s: index %s is larger than src %s in dimension %d", op, AGT_SHAPE(index, b1),
                         AGT_SHAPE(src, b2), k + 1);
  }
  for (int k = 0; k < A.ndim; k++)
    if (k != d && I.sizes[k] > A.sizes[k])
      return agt_failc("ag.%s: index %s is larger than self %s in dimension %d (only the scattered "
                       "dimension %d may be larger)", op, AGT_SHAPE(index, b1), AGT_SHAPE(a, b2), k + 1, d + 1);
  if (check_writable(op, a) || check_index_range(op, index, A.sizes[d], d)) return -1;
  if (agt_numel(index) > 0) {
    ag_tensor AV = A;
    memcpy(AV.sizes, I.sizes, sizeof AV.sizes);
    AV.strides[d] = 0;
    if (src) memcpy(S.sizes, I.sizes, sizeof S.sizes);
    run_scatter(&AV, &I, src ? &S : NULL, value, A.strides[d], reduce, 1.0);
  }
  a->storage->version++;
  return 0;
}

ag_tensor *agt_scatter(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce) {
  ag_tensor *out = agt_clone(a);
  if (out && agt_scatter_(out, dim, index, src, value, reduce)) { agt_release(out); return NULL; }
  if (out) out->storage->version = 0;
  return out;
}

int agt_index_add_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha) {
  char b1[256], b2[256];
  if (check_index_dtype("index_add", index, "index") || check_index_1d("index_add", index)) return -1;
  int d = agt_normalize_dim("ag.index_add", dim, a->ndim);
  if (d < 0) return -1;
  if (src->scalar_type != a->scalar_type)
    return agt_failc("ag.index_add: expected self and source to have the same dtype, got %s and %s",
                     agt_dtype_name(a->scalar_type), agt_dtype_name(src->scalar_type));
  ag_tensor A = as1d(a), S = as1d(src);
  int64_t n = agt_numel(index);
  bool ok = S.ndim == A.ndim && S.sizes[d] == n;
  for (int k = 0; ok && k < A.ndim; k++) ok = k == d || S.sizes[k] == A.sizes[k];
  if (!ok)
    return agt_failc("ag.index_add: source %s must have self's shape %s except in dimension %d, where "
                     "its size must be the index's length %lld", AGT_SHAPE(src, b1), AGT_SHAPE(a, b2), d + 1,
                     (long long)n);
  if (check_writable("index_add", a) || check_index_range("index_add", index, A.sizes[d], d)) return -1;
  a->storage->version++;
  if (agt_numel(src) == 0) return 0;
  if (agt_is_float(a->scalar_type) && agt_is_contiguous(a) && agt_is_contiguous(src) &&
      !(a->storage == src->storage)) {
    int64_t outer = 1, inner = 1, size = A.sizes[d];
    for (int k = 0; k < d; k++) outer *= A.sizes[k];
    for (int k = d + 1; k < A.ndim; k++) inner *= A.sizes[k];
    int64_t *iv = index_values(index);
    if (!iv) return -1;
    int es = agt_dtype_size(a->scalar_type);
    double *f = NULL;
    if (alpha != 1) {
      f = malloc((size_t)n * sizeof(double));
      if (!f) { free(iv); return agt_failc("ag: out of memory (index_add)"); }
      for (int64_t j = 0; j < n; j++) f[j] = alpha;
    }
    for (int64_t o = 0; o < outer; o++)
      scatter_rows(agt_ptr(a) + o * size * inner * es, agt_ptr(src) + o * n * inner * es, iv, f, n, inner,
                   a->scalar_type);
    free(iv); free(f);
    return 0;
  }
  /* general layout: the scatter kernel with the index broadcast along the other dims */
  ag_tensor AV = A, IV = as1d(index);
  memcpy(AV.sizes, S.sizes, sizeof AV.sizes);
  AV.strides[d] = 0;
  int64_t ist = IV.strides[0];
  IV.ndim = S.ndim;
  for (int k = 0; k < S.ndim; k++) { IV.sizes[k] = S.sizes[k]; IV.strides[k] = k == d ? ist : 0; }
  ag_tensor *tmp = NULL;
  if (a->storage == src->storage) {            /* reading what we write: read a copy */
    tmp = agt_clone(src);
    if (!tmp) return -1;
    S = as1d(tmp);
  }
  run_scatter(&AV, &IV, &S, 0, A.strides[d], AG_SCATTER_ADD, alpha);
  agt_release(tmp);
  return 0;
}

ag_tensor *agt_index_add(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha) {
  ag_tensor *out = agt_clone(a);
  if (out && agt_index_add_(out, dim, index, src, alpha)) { agt_release(out); return NULL; }
  if (out) out->storage->version = 0;
  return out;
}

/* ---------------- masks ---------------- */
static int check_mask(const char *op, const ag_tensor *mask) {
  if (mask->scalar_type == AG_BOOL || mask->scalar_type == AG_UINT8) return 0;
  return agt_failc("ag.%s: expected a bool mask, got %s; make one with a comparison such as t:gt(0)", op,
                   agt_dtype_name(mask->scalar_type));
}

#define FILL_LOOP(NAME, ES)                                                                \
  static void NAME(void *c, int64_t n, char **p, const int64_t *s) {                       \
    const char *v = c; char *o = p[0]; const uint8_t *m = (const uint8_t *)p[1];           \
    for (int64_t i = 0; i < n; i++) if (m[i * s[1]]) memcpy(o + i * s[0] * ES, v, ES);     \
  }
FILL_LOOP(fill1, 1) FILL_LOOP(fill4, 4) FILL_LOOP(fill8, 8)

static void run_masked_fill(ag_tensor *a, ag_tensor *mask, double value) {
  char scalar[16];
  agt_store(a->scalar_type, scalar, value);
  agt_iter it;
  agt_iter_init(&it, 2, (ag_tensor *[]){a, mask});
  int es = agt_dtype_size(a->scalar_type);
  agt_iter_run_ctx(&it, es == 1 ? fill1 : es == 4 ? fill4 : fill8, scalar, true);
}

int agt_masked_fill_(ag_tensor *a, ag_tensor *mask, double value) {
  char b1[256], b2[256];
  int ndim;
  int64_t sizes[AG_MAX_DIMS];
  if (check_mask("masked_fill_", mask)) return -1;
  if (agt_broadcast_shape("masked_fill_", a, mask, &ndim, sizes)) return -1;
  if (ndim != a->ndim || memcmp(sizes, a->sizes, ndim * sizeof(int64_t)))
    return agt_failc("ag.masked_fill_: a mask of shape %s does not broadcast to the tensor's shape %s "
                     "(use the out-of-place masked_fill to broadcast both)", AGT_SHAPE(mask, b1), AGT_SHAPE(a, b2));
  if (check_writable("masked_fill_", a)) return -1;
  run_masked_fill(a, mask, value);
  a->storage->version++;
  return 0;
}

/* A contiguous copy of a broadcast to sizes. */
static ag_tensor *broadcast_copy(ag_tensor *a, int ndim, const int64_t *sizes) {
  ag_tensor *e = agt_expand(a, ndim, sizes);
  ag_tensor *c = e ? agt_clone(e) : NULL;
  agt_release(e);
  return c;
}

ag_tensor *agt_masked_fill(ag_tensor *a, ag_tensor *mask, double value) {
  int ndim;
  int64_t sizes[AG_MAX_DIMS];
  if (check_mask("masked_fill", mask)) return NULL;
  if (agt_broadcast_shape("masked_fill", a, mask, &ndim, sizes)) return NULL;
  ag_tensor *out = broadcast_copy(a, ndim, sizes);
  if (out) run_masked_fill(out, mask, value);
  return out;
}

/* a and mask broadcast together, as contiguous copies (no copy when already so) */
static int broadcast_pair(const char *op, ag_tensor *a, ag_tensor *mask, ag_tensor **ca, ag_tensor **cm) {
  int ndim;
  int64_t sizes[AG_MAX_DIMS];
  *ca = *cm = NULL;
  if (check_mask(op, mask) || agt_broadcast_shape(op, a, mask, &ndim, sizes)) return -1;
  ag_tensor *ea = agt_expand(a, ndim, sizes), *em = ea ? agt_expand(mask, ndim, sizes) : NULL;
  *ca = em ? agt_contiguous(ea) : NULL;
  *cm = *ca ? agt_contiguous(em) : NULL;
  agt_release(ea); agt_release(em);
  if (!*cm) { agt_release(*ca); *ca = NULL; return -1; }
  return 0;
}

static int64_t count_true(const ag_tensor *cm) {
  const uint8_t *m = (const uint8_t *)agt_ptr(cm);
  int64_t n = agt_numel(cm), c = 0;
  for (int64_t i = 0; i < n; i++) c += m[i] != 0;
  return c;
}

ag_tensor *agt_masked_select(ag_tensor *a, ag_tensor *mask) {
  ag_tensor *ca, *cm;
  if (broadcast_pair("masked_select", a, mask, &ca, &cm)) return NULL;
  int64_t count = count_true(cm), n = agt_numel(cm);
  ag_tensor *out = agt_new_contig(1, &count, a->scalar_type);
  if (out) {
    int es = agt_dtype_size(a->scalar_type);
    const uint8_t *m = (const uint8_t *)agt_ptr(cm);
    const char *src = agt_ptr(ca);
    char *dst = agt_ptr(out);
    for (int64_t i = 0, k = 0; i < n; i++)
      if (m[i]) { memcpy(dst + k * es, src + i * es, (size_t)es); k++; }
  }
  agt_release(ca); agt_release(cm);
  return out;
}

ag_tensor *agt_masked_scatter(ag_tensor *a, ag_tensor *mask, ag_tensor *src) {
  if (src->scalar_type != a->scalar_type)
    return agt_fail("ag.masked_scatter: expected self and source to have the same dtype, got %s and %s",
                    agt_dtype_name(a->scalar_type), agt_dtype_name(src->scalar_type));
  ag_tensor *ca, *cm;
  if (broadcast_pair("masked_scatter", a, mask, &ca, &cm)) return NULL;
  int64_t count = count_true(cm), n = agt_numel(cm);
  ag_tensor *out = NULL, *cs = NULL;
  if (count > agt_numel(src)) {
    agt_fail("ag.masked_scatter: the mask selects %lld elements but source has only %lld", (long long)count,
             (long long)agt_numel(src));
    goto done;
  }
  out = agt_clone(ca);
  cs = out ? agt_contiguous(src) : NULL;
  if (!cs) { agt_release(out); out = NULL; goto done; }
  int es = agt_dtype_size(a->scalar_type);
  const uint8_t *m = (const uint8_t *)agt_ptr(cm);
  const char *s = agt_ptr(cs);
  char *dst = agt_ptr(out);
  for (int64_t i = 0, k = 0; i < n; i++)
    if (m[i]) { memcpy(dst + i * es, s + k * es, (size_t)es); k++; }
done:
  agt_release(ca); agt_release(cm); agt_release(cs);
  return out;
}

/* ---------------- one_hot ---------------- */
ag_tensor *agt_one_hot(ag_tensor *index, int64_t C) {
  if (check_index_dtype("one_hot", index, "the class tensor")) return NULL;
  if (index->ndim + 1 > AG_MAX_DIMS) return agt_fail("ag.one_hot: the class tensor has too many dimensions");
  int64_t n = agt_numel(index);
  ag_tensor *flat = agt_reshape(index, 1, &n);
  int64_t *v = flat ? index_values(flat) : NULL;
  agt_release(flat);
  if (!v) return NULL;
  ag_tensor *out = NULL;
  if (C < 0) {
    if (C != -1) { agt_fail("ag.one_hot: num_classes must be -1 (infer) or >= 0, got %lld", (long long)C); goto done; }
    if (n == 0) { agt_fail("ag.one_hot: cannot infer the number of classes from an empty tensor; pass num_classes"); goto done; }
    C = 0;
    for (int64_t i = 0; i < n; i++) if (v[i] + 1 > C) C = v[i] + 1;
  }
  for (int64_t i = 0; i < n; i++)
    if (v[i] < 0 || v[i] >= C) {
      agt_fail("ag.one_hot: class %lld is out of range for %lld classes (classes are 1-based: 1..%lld)",
               (long long)(v[i] + 1), (long long)C, (long long)C);
      goto done;
    }
  int64_t shape[AG_MAX_DIMS];
  memcpy(shape, index->sizes, index->ndim * sizeof(int64_t));
  shape[index->ndim] = C;
  out = agt_full(index->ndim + 1, shape, 0, AG_INT64);
  if (out) {
    int64_t *o = (int64_t *)agt_ptr(out);
    for (int64_t i = 0; i < n; i++) o[i * C + v[i]] = 1;
  }
done:
  free(v);
  return out;
}
