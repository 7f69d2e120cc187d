/* copy.c: copying between tensors of any dtype and layout (copy_, contiguous, clone, to),
 * and fill_. The cast loop is generated for every (destination, source) dtype pair. */
#include "iter.h"
#include <math.h>
#include <string.h>

#define AG_FOREACH_DTYPE2(X, DT1, T1, S1) \
  X(DT1, T1, S1, AG_FLOAT32, float, f32) X(DT1, T1, S1, AG_FLOAT64, double, f64) \
  X(DT1, T1, S1, AG_INT64, int64_t, i64) X(DT1, T1, S1, AG_INT32, int32_t, i32) \
  X(DT1, T1, S1, AG_UINT8, uint8_t, u8) X(DT1, T1, S1, AG_BOOL, uint8_t, b8)

/* Float to integer conversion of NaN/inf or out-of-range values is undefined in C: clamp
 * through int64 first (PyTorch's results there are unspecified too). */
static inline int64_t safe_i64(double v) {
  if (!(v == v)) return 0;
  if (v >= 9.2233720368547758e18) return INT64_MAX;
  if (v <= -9.2233720368547758e18) return INT64_MIN;
  return (int64_t)v;
}
#define CONVERT_b8(x) ((x) != 0)
#define CONVERT_f32(x) ((float)(x))
#define CONVERT_f64(x) ((double)(x))
#define CONVERT_i64(x) (agt_is_float(SRC_DT) ? safe_i64((double)(x)) : (int64_t)(x))
#define CONVERT_i32(x) (agt_is_float(SRC_DT) ? (int32_t)safe_i64((double)(x)) : (int32_t)(x))
#define CONVERT_u8(x) (agt_is_float(SRC_DT) ? (uint8_t)safe_i64((double)(x)) : (uint8_t)(x))

#define CAST_LOOP(DT1, T1, S1, DT2, T2, S2)                                                \
  static void cast_##S1##_##S2(int64_t n, char **p, const int64_t *s) {                   \
    enum { SRC_DT = DT2 };                                                                \
    T1 *o = (T1 *)p[0]; const T2 *a = (const T2 *)p[1];                                   \
    if (s[0] == 1 && s[1] == 1) { for (int64_t i = 0; i < n; i++) o[i] = (T1)CONVERT_##S1(a[i]); } \
    else if (s[0] == 1 && s[1] == 0) {        /* a broadcast value: a fill */                \
      const T1 v = (T1)CONVERT_##S1(a[0]);                                                  \
      for (int64_t i = 0; i < n; i++) o[i] = v;                                             \
    }                                                                                       \
    else for (int64_t i = 0; i < n; i++) o[i * s[0]] = (T1)CONVERT_##S1(a[i * s[1]]);       \
  }
#define CAST_ROW_DEFS(DT1, T1, S1) AG_FOREACH_DTYPE2(CAST_LOOP, DT1, T1, S1)
AG_FOREACH_DTYPE(CAST_ROW_DEFS)

#define CAST_ENTRY(DT1, T1, S1, DT2, T2, S2) [DT2] = cast_##S1##_##S2,
#define CAST_ROW(DT1, T1, S1) [DT1] = {AG_FOREACH_DTYPE2(CAST_ENTRY, DT1, T1, S1)},
static const agt_loop_fn cast_loops[AG_NDTYPES][AG_NDTYPES] = {AG_FOREACH_DTYPE(CAST_ROW)};

static void copy_into(ag_tensor *dst, ag_tensor *src) {
  if (dst->scalar_type == src->scalar_type && agt_is_contiguous(dst) && agt_is_contiguous(src) &&
      agt_numel(dst) == agt_numel(src)) {
    memmove(agt_ptr(dst), agt_ptr(src), (size_t)(agt_numel(dst) * agt_dtype_size(dst->scalar_type)));
    return;
  }
  agt_iter it;
  agt_iter_init(&it, 2, (ag_tensor *[]){dst, src});
  agt_iter_run(&it, cast_loops[dst->scalar_type][src->scalar_type]);
}

int agt_copy_(ag_tensor *dst, ag_tensor *src) {
  int ndim;
  int64_t sizes[AG_MAX_DIMS];
  char b1[256], b2[256];
  if (agt_broadcast_shape("copy_", dst, src, &ndim, sizes)) return -1;
  if (ndim != dst->ndim || memcmp(sizes, dst->sizes, ndim * sizeof(int64_t)))
    return agt_failc("ag.copy_: source of shape %s cannot be copied into a tensor of shape %s "
                     "(it must broadcast to the destination)", AGT_SHAPE(src, b1), AGT_SHAPE(dst, b2));
  for (int d = 0; d < dst->ndim; d++)
    if (dst->strides[d] == 0 && dst->sizes[d] > 1)
      return agt_failc("ag.copy_: the destination is an expanded tensor (several elements share one "
                       "memory location); clone() it first");
  /* copying a tensor onto an overlapping view of itself goes through a temporary */
  if (dst->storage == src->storage && !(dst->offset == src->offset &&
      !memcmp(dst->strides, src->strides, sizeof dst->strides) && dst->ndim == src->ndim)) {
    ag_tensor *tmp = agt_clone(src);
    if (!tmp) return -1;
    copy_into(dst, tmp);
    agt_release(tmp);
  } else {
    copy_into(dst, src);
  }
  dst->storage->version++;
  return 0;
}

ag_tensor *agt_to_dtype(ag_tensor *t, int dtype) {
  if (dtype < 0 || dtype >= AG_NDTYPES) return agt_fail("ag.to: unknown dtype %d", dtype);
  ag_tensor *out = agt_new_contig(t->ndim, t->sizes, dtype);
  if (out) copy_into(out, t);
  return out;
}

ag_tensor *agt_clone(ag_tensor *t) { return agt_to_dtype(t, t->scalar_type); }

ag_tensor *agt_contiguous(ag_tensor *t) {
  if (agt_is_contiguous(t)) { agt_retain(t); return t; }
  return agt_clone(t);
}

int agt_fill_(ag_tensor *t, double value) {
  char scalar[16];
  agt_store(t->scalar_type, scalar, value);
  agt_iter it;
  agt_iter_init(&it, 2, (ag_tensor *[]){t, NULL});
  agt_iter_set_scalar(&it, 1, scalar, agt_dtype_size(t->scalar_type));
  agt_iter_run(&it, cast_loops[t->scalar_type][t->scalar_type]);
  t->storage->version++;
  return 0;
}
