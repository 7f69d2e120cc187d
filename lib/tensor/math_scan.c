/* math_scan.c: cumulative sum and product along one dim (cumsum can run from the end, the
 * adjoint of cumsum). Float inputs accumulate in double, as PyTorch's CPU kernels do;
 * integer and bool inputs give int64. Lines along the dim are independent and run in
 * parallel when the tensor is large. */
#include "math_internal.h"
#include <omp.h>
#include <stdlib.h>

/* x and out are contiguous [outer, n, inner]; one accumulator per inner position */
#define SCAN_KERNEL(NAME, T, ACC, INIT, STEP)                                                    \
  static int NAME(const T *x, T *out, int64_t outer, int64_t n, int64_t inner, int reverse) {    \
    int fail = 0;                                                                                \
    _Pragma("omp parallel if (outer * n * inner >= AG_PARALLEL_GRAIN && outer > 1)")             \
    {                                                                                            \
      ACC *acc = malloc((size_t)(inner > 0 ? inner : 1) * sizeof(ACC));                          \
      if (!acc) { _Pragma("omp atomic write") fail = 1; }                                         \
      else {                                                                                     \
        _Pragma("omp for schedule(static)")                                                      \
        for (int64_t o = 0; o < outer; o++) {                                                    \
          const T *xo = x + o * n * inner;                                                       \
          T *yo = out + o * n * inner;                                                           \
          for (int64_t k = 0; k < inner; k++) acc[k] = INIT;                                     \
          for (int64_t jj = 0; jj < n; jj++) {                                                   \
            int64_t j = reverse ? n - 1 - jj : jj;                                               \
            for (int64_t k = 0; k < inner; k++) {                                                \
              ACC v = (ACC)xo[j * inner + k];                                                    \
              acc[k] = STEP;                                                                     \
              yo[j * inner + k] = (T)acc[k];                                                     \
            }                                                                                    \
          }                                                                                      \
        }                                                                                        \
        free(acc);                                                                               \
      }                                                                                          \
    }                                                                                            \
    return fail ? agt_failc("ag: out of memory in a scan") : 0;                                  \
  }
SCAN_KERNEL(cumsum_f32, float, double, 0, acc[k] + v)
SCAN_KERNEL(cumsum_f64, double, double, 0, acc[k] + v)
SCAN_KERNEL(cumsum_i64, int64_t, uint64_t, 0, acc[k] + v)      /* wraps around, as int64 */
SCAN_KERNEL(cumprod_f32, float, double, 1, acc[k] * v)
SCAN_KERNEL(cumprod_f64, double, double, 1, acc[k] * v)
SCAN_KERNEL(cumprod_i64, int64_t, uint64_t, 1, acc[k] * v)

static ag_tensor *scan(const char *op, ag_tensor *x, int dim, int reverse, int is_prod) {
  int d = agt_normalize_dim(op, dim, x->ndim);
  if (d < 0) return NULL;
  int dt = agt_is_float(x->scalar_type) ? x->scalar_type : AG_INT64;
  ag_tensor *xc = agm_contig(x, dt);
  if (!xc) return NULL;
  ag_tensor *out = agt_new_contig(x->ndim, x->sizes, dt);
  if (!out) { agt_release(xc); return NULL; }
  int64_t outer, n, inner;
  agm_split(xc, d, &outer, &n, &inner);
  int rc;
  const void *src = agt_ptr(xc);
  void *dst = agt_ptr(out);
  if (dt == AG_FLOAT32) rc = is_prod ? cumprod_f32(src, dst, outer, n, inner, reverse) : cumsum_f32(src, dst, outer, n, inner, reverse);
  else if (dt == AG_FLOAT64) rc = is_prod ? cumprod_f64(src, dst, outer, n, inner, reverse) : cumsum_f64(src, dst, outer, n, inner, reverse);
  else rc = is_prod ? cumprod_i64(src, dst, outer, n, inner, reverse) : cumsum_i64(src, dst, outer, n, inner, reverse);
  agt_release(xc);
  if (rc) { agt_release(out); return NULL; }
  return out;
}

ag_tensor *agt_cumsum(ag_tensor *x, int dim, int reverse) { return scan("ag.cumsum", x, dim, reverse, 0); }
ag_tensor *agt_cumprod(ag_tensor *x, int dim) { return scan("ag.cumprod", x, dim, 0, 1); }
