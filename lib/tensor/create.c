/* create.c: tensors from sizes, values, ranges and Lua data (empty, full, arange, linspace,
 * eye, from_doubles). */
#include "internal.h"
#include <math.h>
#include <string.h>

ag_tensor *agt_empty(int ndim, const int64_t *sizes, int dtype) {
  if (dtype < 0 || dtype >= AG_NDTYPES) return agt_fail("ag.empty: unknown dtype %d", dtype);
  if (agt_check_sizes("ag.empty", ndim, sizes)) return NULL;
  return agt_new_contig(ndim, sizes, dtype);
}

ag_tensor *agt_full(int ndim, const int64_t *sizes, double value, int dtype) {
  ag_tensor *t = agt_empty(ndim, sizes, dtype);
  if (t) {
    agt_fill_(t, value);
    t->storage->version = 0;
  }
  return t;
}

ag_tensor *agt_from_doubles(const double *data, int ndim, const int64_t *sizes, int dtype) {
  ag_tensor *t = agt_empty(ndim, sizes, dtype);
  if (!t) return NULL;
  int64_t n = agt_numel(t);
  char *p = agt_ptr(t);
  int es = agt_dtype_size(dtype);
  if (dtype == AG_FLOAT64) memcpy(p, data, (size_t)n * sizeof(double));
  else if (dtype == AG_FLOAT32) { float *f = (float *)p; for (int64_t i = 0; i < n; i++) f[i] = (float)data[i]; }
  else for (int64_t i = 0; i < n; i++) agt_store(dtype, p + i * es, data[i]);
  return t;
}

/* Raw little-endian bytes in the dtype's layout (IDX files, checkpoints). */
ag_tensor *agt_from_buffer(const void *data, int64_t nbytes, int ndim, const int64_t *sizes, int dtype) {
  ag_tensor *t = agt_empty(ndim, sizes, dtype);
  if (!t) return NULL;
  int64_t want = agt_numel(t) * agt_dtype_size(dtype);
  if (nbytes != want) {
    char b[256];
    agt_release(t);
    return agt_fail("ag.from_buffer: %lld bytes given, but shape %s of %s needs %lld", (long long)nbytes,
                    agt_shape_str(ndim, sizes, b), agt_dtype_name(dtype), (long long)want);
  }
  if (want) memcpy(agt_ptr(t), data, (size_t)want);
  if (dtype == AG_BOOL) {
    uint8_t *p = (uint8_t *)agt_ptr(t);
    for (int64_t i = 0; i < want; i++) p[i] = p[i] != 0;
  }
  return t;
}

void *agt_data_ptr(ag_tensor *t) { return agt_ptr(t); }

ag_tensor *agt_arange(double start, double end, double step, int dtype) {
  if (!isfinite(start) || !isfinite(end) || !isfinite(step))
    return agt_fail("ag.arange: start (%g), end (%g) and step (%g) must be finite", start, end, step);
  if (step == 0) return agt_fail("ag.arange: step must be nonzero");
  if ((step > 0 && end < start) || (step < 0 && end > start))
    return agt_fail("ag.arange: upper bound and larger bound inconsistent with step sign "
                    "(start %g, end %g, step %g)", start, end, step);
  double count = ceil((end - start) / step);
  if (count > 1e12) return agt_fail("ag.arange: %g elements is too many", count);
  int64_t n = (int64_t)count;
  ag_tensor *t = agt_empty(1, &n, dtype);
  if (!t) return NULL;
  char *p = agt_ptr(t);
  int es = agt_dtype_size(dtype);
  for (int64_t i = 0; i < n; i++) agt_store(dtype, p + i * es, start + (double)i * step);
  return t;
}

ag_tensor *agt_linspace(double start, double end, int64_t steps, int dtype) {
  if (steps < 0) return agt_fail("ag.linspace: number of steps must be non-negative, got %lld", (long long)steps);
  ag_tensor *t = agt_empty(1, &steps, dtype);
  if (!t) return NULL;
  char *p = agt_ptr(t);
  int es = agt_dtype_size(dtype);
  int64_t half = steps / 2;
  /* PyTorch fills the second half backwards from `end` for symmetry, computing in the
   * output's precision (float arithmetic for float32) */
  if (dtype == AG_FLOAT32) {
    float fs = (float)start, fe = (float)end, step = steps > 1 ? (fe - fs) / (float)(steps - 1) : 0;
    float *f = (float *)p;
    for (int64_t i = 0; i < steps; i++)
      f[i] = steps == 1 ? fs : i < half ? fs + step * (float)i : fe - step * (float)(steps - 1 - i);
    return t;
  }
  double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
  for (int64_t i = 0; i < steps; i++)
    agt_store(dtype, p + i * es, steps == 1 ? start : i < half ? start + step * (double)i : end - step * (double)(steps - 1 - i));
  return t;
}

ag_tensor *agt_eye(int64_t n, int64_t m, int dtype) {
  if (m < 0) m = n;
  int64_t sizes[2] = {n, m};
  ag_tensor *t = agt_full(2, sizes, 0, dtype);
  if (!t) return NULL;
  char *p = agt_ptr(t);
  int es = agt_dtype_size(dtype);
  for (int64_t i = 0; i < n && i < m; i++) agt_store(dtype, p + (i * m + i) * es, 1);
  return t;
}
