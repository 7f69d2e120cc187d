/* math_sort.c: sort and topk along one dim (values and 1-based int64 indices), with a
 * stable bottom-up merge sort per line in which NaN sorts as the largest value, as in
 * PyTorch; and the pair their gradients need: gather along a dim at 1-based positions,
 * and its adjoint, adding into zeros at those positions. */
#include "math_internal.h"
#include <omp.h>
#include <stdlib.h>

/* a goes strictly before b (ascending: a < b, NaN last; descending: a > b, NaN first) */
#define BEFORE(a, b, desc) ((desc) ? ((a) > (b) || ((a) != (a) && (b) == (b))) \
                                   : ((a) < (b) || ((b) != (b) && (a) == (a))))

#define SORT_KERNEL(DT, T, SFX)                                                                   \
  static void msort_##SFX(T *key, int64_t *id, T *tk, int64_t *ti, int64_t n, int desc) {         \
    T *ka = key, *kb = tk;                                                                        \
    int64_t *ia = id, *ib = ti;                                                                   \
    for (int64_t w = 1; w < n; w *= 2) {                                                          \
      for (int64_t lo = 0; lo < n; lo += 2 * w) {                                                 \
        int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;              \
        int64_t i = lo, j = mid, o = lo;                                                          \
        while (i < mid && j < hi) {                                                               \
          if (BEFORE(ka[j], ka[i], desc)) { kb[o] = ka[j]; ib[o++] = ia[j++]; }                   \
          else { kb[o] = ka[i]; ib[o++] = ia[i++]; }                                              \
        }                                                                                         \
        while (i < mid) { kb[o] = ka[i]; ib[o++] = ia[i++]; }                                     \
        while (j < hi) { kb[o] = ka[j]; ib[o++] = ia[j++]; }                                      \
      }                                                                                           \
      T *t = ka; ka = kb; kb = t;                                                                 \
      int64_t *u = ia; ia = ib; ib = u;                                                           \
    }                                                                                             \
    if (ka != key) { memcpy(key, ka, n * sizeof(T)); memcpy(id, ia, n * sizeof(int64_t)); }       \
  }                                                                                               \
  /* x contiguous [outer, n, inner] -> vals, idx contiguous [outer, k, inner] */                  \
  static int sort_lines_##SFX(const T *x, T *vals, int64_t *idx, int64_t outer, int64_t n,        \
                              int64_t inner, int64_t k, int desc) {                               \
    int fail = 0;                                                                                 \
    int64_t lines = outer * inner;                                                                \
    _Pragma("omp parallel if (lines * n >= AG_PARALLEL_GRAIN && lines > 1)")                      \
    {                                                                                             \
      size_t m = (size_t)(n > 0 ? n : 1);                                                         \
      T *key = malloc(2 * m * sizeof(T));                                                         \
      int64_t *id = malloc(2 * m * sizeof(int64_t));                                              \
      if (!key || !id) { _Pragma("omp atomic write") fail = 1; }                                   \
      else {                                                                                      \
        _Pragma("omp for schedule(static)")                                                       \
        for (int64_t l = 0; l < lines; l++) {                                                     \
          int64_t o = l / inner, in = l % inner;                                                  \
          const T *xl = x + o * n * inner + in;                                                   \
          for (int64_t j = 0; j < n; j++) { key[j] = xl[j * inner]; id[j] = j; }                  \
          msort_##SFX(key, id, key + m, id + m, n, desc);                                         \
          T *vl = vals + o * k * inner + in;                                                      \
          int64_t *il = idx + o * k * inner + in;                                                 \
          for (int64_t j = 0; j < k; j++) { vl[j * inner] = key[j]; il[j * inner] = id[j] + 1; }  \
        }                                                                                         \
      }                                                                                           \
      free(key);                                                                                  \
      free(id);                                                                                   \
    }                                                                                             \
    return fail ? agt_failc("ag.sort: out of memory") : 0;                                        \
  }
SORT_KERNEL(AG_FLOAT32, float, f32)
SORT_KERNEL(AG_FLOAT64, double, f64)
SORT_KERNEL(AG_INT64, int64_t, i64)
SORT_KERNEL(AG_INT32, int32_t, i32)
SORT_KERNEL(AG_UINT8, uint8_t, u8)

static ag_tensor *sort_k(const char *op, ag_tensor *x, int dim, int desc, int64_t k, int is_topk, ag_tensor **indices) {
  int d = agt_normalize_dim(op, dim, x->ndim);
  if (d < 0) return NULL;
  int64_t n = x->ndim ? x->sizes[d] : 1;
  if (!is_topk) k = n;
  else if (k < 0 || k > n)
    return agt_fail("%s: k (%lld) is out of range for dimension %d of size %lld; expected 0 <= k <= %lld",
                    op, (long long)k, d + 1, (long long)n, (long long)n);
  ag_tensor *xc = agm_contig(x, x->scalar_type);
  if (!xc) return NULL;
  int64_t sizes[AG_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) sizes[i] = i == d ? k : x->sizes[i];
  ag_tensor *vals = agt_new_contig(x->ndim, sizes, x->scalar_type);
  ag_tensor *idx = vals ? agt_new_contig(x->ndim, sizes, AG_INT64) : NULL;
  int rc = -1;
  if (idx) {
    int64_t outer, nn, inner;
    agm_split(xc, d, &outer, &nn, &inner);
    const void *src = agt_ptr(xc);
    void *v = agt_ptr(vals);
    int64_t *ip = (int64_t *)agt_ptr(idx);
    switch (x->scalar_type) {
    case AG_FLOAT32: rc = sort_lines_f32(src, v, ip, outer, n, inner, k, desc); break;
    case AG_FLOAT64: rc = sort_lines_f64(src, v, ip, outer, n, inner, k, desc); break;
    case AG_INT64: rc = sort_lines_i64(src, v, ip, outer, n, inner, k, desc); break;
    case AG_INT32: rc = sort_lines_i32(src, v, ip, outer, n, inner, k, desc); break;
    default: rc = sort_lines_u8(src, v, ip, outer, n, inner, k, desc); break;
    }
  }
  agt_release(xc);
  if (rc) { agt_release(vals); agt_release(idx); return NULL; }
  *indices = idx;
  return vals;
}

ag_tensor *agt_sort(ag_tensor *x, int dim, int descending, ag_tensor **indices) {
  return sort_k("ag.sort", x, dim, descending, 0, 0, indices);
}

ag_tensor *agt_topk(ag_tensor *x, int64_t k, int dim, int largest, ag_tensor **indices) {
  return sort_k("ag.topk", x, dim, largest, k, 1, indices);
}

/* Check idx against x (gather) or sizes (scatter): same rank, int64, the same sizes except
 * along dim, and every index in 1..size(dim). */
static int check_index(const char *op, int ndim, const int64_t *sizes, int d, ag_tensor *idx) {
  char b1[256], b2[256];
  if (idx->scalar_type != AG_INT64)
    return agt_failc("%s: expected an int64 index tensor, but got %s", op, agt_dtype_name(idx->scalar_type));
  if (idx->ndim != ndim) goto bad;
  for (int i = 0; i < ndim; i++)
    if (i != d && idx->sizes[i] != sizes[i]) goto bad;
  return 0;
bad:
  return agt_failc("%s: index of shape %s does not match the tensor's shape %s outside dim %d", op,
                   AGT_SHAPE(idx, b1), agt_shape_str(ndim, sizes, b2), d + 1);
}

static int bad_index(const char *op, int64_t v, int d, int64_t n) {
  return agt_failc("%s: index %lld is out of bounds for dimension %d with size %lld (indices are "
                   "1-based: 1..%lld)", op, (long long)v, d + 1, (long long)n, (long long)n);
}

ag_tensor *agt_gather_dim(ag_tensor *x, int dim, ag_tensor *idx) {
  const char *op = "ag.gather";
  int d = agt_normalize_dim(op, dim, x->ndim);
  if (d < 0 || check_index(op, x->ndim, x->sizes, d, idx)) return NULL;
  ag_tensor *xc = agm_contig(x, x->scalar_type), *ic = agm_contig(idx, AG_INT64);
  ag_tensor *out = xc && ic ? agt_new_contig(idx->ndim, idx->sizes, x->scalar_type) : NULL;
  int rc = out ? 0 : -1;
  if (out) {
    int64_t outer, n, inner, k, tmp;
    agm_split(xc, d, &outer, &n, &inner);
    agm_split(ic, d, &tmp, &k, &tmp);
    int es = agt_dtype_size(x->scalar_type);
    const char *src = agt_ptr(xc);
    char *dst = agt_ptr(out);
    const int64_t *ip = (const int64_t *)agt_ptr(ic);
    for (int64_t o = 0; o < outer && !rc; o++)
      for (int64_t j = 0; j < k && !rc; j++)
        for (int64_t in = 0; in < inner; in++) {
          int64_t pos = (o * k + j) * inner + in, v = ip[pos];
          if (v < 1 || v > n) { rc = bad_index(op, v, d, n); break; }
          memcpy(dst + pos * es, src + ((o * n + v - 1) * inner + in) * es, es);
        }
  }
  if (xc) agt_release(xc);
  if (ic) agt_release(ic);
  if (rc) { if (out) agt_release(out); return NULL; }
  return out;
}

#define SCATTER_ADD(T, SFX)                                                                        \
  static int scatter_##SFX(const T *g, const int64_t *ip, T *out, int64_t outer, int64_t k,        \
                           int64_t n, int64_t inner, int d) {                                      \
    for (int64_t o = 0; o < outer; o++)                                                            \
      for (int64_t j = 0; j < k; j++)                                                              \
        for (int64_t in = 0; in < inner; in++) {                                                   \
          int64_t pos = (o * k + j) * inner + in, v = ip[pos];                                     \
          if (v < 1 || v > n) return bad_index("ag.scatter_add", v, d, n);                         \
          out[(o * n + v - 1) * inner + in] += g[pos];                                             \
        }                                                                                          \
    return 0;                                                                                      \
  }
SCATTER_ADD(float, f32)
SCATTER_ADD(double, f64)

ag_tensor *agt_scatter_add_zeros(ag_tensor *g, int dim, ag_tensor *idx, int ndim, const int64_t *sizes) {
  const char *op = "ag.scatter_add";
  char b1[256], b2[256];
  if (!agt_is_float(g->scalar_type))
    return agt_fail("%s: expected a floating-point source, got %s", op, agt_dtype_name(g->scalar_type));
  int d = agt_normalize_dim(op, dim, ndim);
  if (d < 0 || check_index(op, ndim, sizes, d, idx)) return NULL;
  if (g->ndim != idx->ndim) goto bad;
  for (int i = 0; i < g->ndim; i++) if (g->sizes[i] != idx->sizes[i]) goto bad;
  ag_tensor *gc = agm_contig(g, g->scalar_type), *ic = agm_contig(idx, AG_INT64);
  ag_tensor *out = gc && ic ? agt_full(ndim, sizes, 0, g->scalar_type) : NULL;
  int rc = out ? 0 : -1;
  if (out) {
    int64_t outer, n, inner, k, tmp;
    agm_split(out, d, &outer, &n, &inner);
    agm_split(ic, d, &tmp, &k, &tmp);
    if (g->scalar_type == AG_FLOAT32)
      rc = scatter_f32((const float *)agt_ptr(gc), (const int64_t *)agt_ptr(ic), (float *)agt_ptr(out), outer, k, n, inner, d);
    else
      rc = scatter_f64((const double *)agt_ptr(gc), (const int64_t *)agt_ptr(ic), (double *)agt_ptr(out), outer, k, n, inner, d);
  }
  if (gc) agt_release(gc);
  if (ic) agt_release(ic);
  if (rc) { if (out) agt_release(out); return NULL; }
  return out;
bad:
  return agt_fail("%s: source of shape %s does not match the index's shape %s", op, AGT_SHAPE(g, b1),
                  AGT_SHAPE(idx, b2));
}
