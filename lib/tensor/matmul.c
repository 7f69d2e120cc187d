/* matmul.c: mm, bmm and matmul with PyTorch's rules (1-D and batched operands, broadcast
 * batch dims). Float GEMM goes through cblas (OpenBLAS); integer products use a loop. */
#include "internal.h"
#include <limits.h>
#include <string.h>

static int same_dtype(const char *op, ag_tensor *a, ag_tensor *b) {
  if (a->scalar_type != b->scalar_type)
    return agt_failc("%s: expected both tensors to have the same dtype, but got %s and %s; convert "
                     "one with :to(...)", op, agt_dtype_name(a->scalar_type), agt_dtype_name(b->scalar_type));
  if (a->scalar_type == AG_BOOL) return agt_failc("%s: not implemented for bool tensors", op);
  return 0;
}

/* How a 2-D slice with strides (rs, cs) can be handed to BLAS: 0 no-trans, 1 trans, -1 copy. */
static int blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, int64_t *ld) {
  if ((cs == 1 || cols == 1) && rs >= (cols > 1 ? cols : 1)) { *ld = rs > 1 ? rs : (cols > 1 ? cols : 1); return 0; }
  if ((rs == 1 || rows == 1) && cs >= (rows > 1 ? rows : 1)) { *ld = cs > 1 ? cs : (rows > 1 ? rows : 1); return 1; }
  return -1;
}

static inline int64_t load_int(int dtype, const char *p) {
  switch (dtype) {
  case AG_INT64: return *(const int64_t *)p;
  case AG_INT32: return *(const int32_t *)p;
  default: return *(const uint8_t *)p;
  }
}

/* C[n,m] = A[n,k] B[k,m] (+ C when acc, float dtypes only) for one 2-D slice each (element
 * pointers and strides; C contiguous). */
static void gemm_acc(int dtype, int64_t n, int64_t k, int64_t m, const char *A, int64_t ars, int64_t acs,
                     const char *B, int64_t brs, int64_t bcs, char *C, int accumulate) {
  if (n == 0 || m == 0) return;
  int es = agt_dtype_size(dtype);
  if (k == 0) { if (!accumulate) memset(C, 0, (size_t)(n * m * es)); return; }
  int64_t lda = 0, ldb = 0;
  int ta = blas_layout(n, k, ars, acs, &lda), tb = blas_layout(k, m, brs, bcs, &ldb);
  /* cblas takes int sizes: anything larger takes the plain loop */
  bool fits = n <= INT_MAX && m <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX;
  if (agt_is_float(dtype) && ta >= 0 && tb >= 0 && fits) {
    if (dtype == AG_FLOAT32)
      agt_sgemm(ta, tb, n, m, k, 1.0f, (const float *)A, lda, (const float *)B, ldb, accumulate ? 1.0f : 0.0f, (float *)C, m);
    else
      agt_dgemm(ta, tb, n, m, k, 1.0, (const double *)A, lda, (const double *)B, ldb, accumulate ? 1.0 : 0.0, (double *)C, m);
    return;
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < m; j++) {
      double acc = 0;
      uint64_t iacc = 0;       /* integer products wrap around, as PyTorch's */
      for (int64_t p = 0; p < k; p++) {
        const char *x = A + (i * ars + p * acs) * es, *y = B + (p * brs + j * bcs) * es;
        if (agt_is_float(dtype)) acc += agt_load(dtype, x) * agt_load(dtype, y);
        else iacc += (uint64_t)load_int(dtype, x) * (uint64_t)load_int(dtype, y);
      }
      char *c = C + (i * m + j) * es;
      if (accumulate && agt_is_float(dtype)) acc += agt_load(dtype, c);
      switch (dtype) {
      case AG_INT64: *(int64_t *)c = (int64_t)iacc; break;
      case AG_INT32: *(int32_t *)c = (int32_t)(uint32_t)iacc; break;
      case AG_UINT8: *(uint8_t *)c = (uint8_t)iacc; break;
      default: agt_store(dtype, c, acc);
      }
    }
}

static void gemm(int dtype, int64_t n, int64_t k, int64_t m, const char *A, int64_t ars, int64_t acs,
                 const char *B, int64_t brs, int64_t bcs, char *C) {
  gemm_acc(dtype, n, k, m, A, ars, acs, B, brs, bcs, C, 0);
}

/* Make a slice BLAS-friendly if its strides are not. */
static ag_tensor *blas_ready(ag_tensor *t) {
  int nd = t->ndim;
  int64_t ld;
  if (blas_layout(t->sizes[nd - 2], t->sizes[nd - 1], t->strides[nd - 2], t->strides[nd - 1], &ld) >= 0) {
    agt_retain(t);
    return t;
  }
  return agt_clone(t);
}

ag_tensor *agt_mm(ag_tensor *a, ag_tensor *b) {
  char b1[256], b2[256];
  if (a->ndim != 2 || b->ndim != 2)
    return agt_fail("ag.mm: expected 2-D tensors, got shapes %s and %s; use matmul for other ranks",
                    AGT_SHAPE(a, b1), AGT_SHAPE(b, b2));
  if (a->sizes[1] != b->sizes[0])
    return agt_fail("ag.mm: mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld): the "
                    "inner sizes %lld and %lld must match", (long long)a->sizes[0], (long long)a->sizes[1],
                    (long long)b->sizes[0], (long long)b->sizes[1], (long long)a->sizes[1], (long long)b->sizes[0]);
  if (same_dtype("ag.mm", a, b)) return NULL;
  ag_tensor *ca = blas_ready(a), *cb = ca ? blas_ready(b) : NULL;
  ag_tensor *out = cb ? agt_new_contig(2, (int64_t[]){a->sizes[0], b->sizes[1]}, a->scalar_type) : NULL;
  if (out)
    gemm(a->scalar_type, a->sizes[0], a->sizes[1], b->sizes[1], agt_ptr(ca), ca->strides[0], ca->strides[1],
         agt_ptr(cb), cb->strides[0], cb->strides[1], agt_ptr(out));
  agt_release(ca);
  agt_release(cb);
  return out;
}

/* out[n,m] += a[n,k] b[k,m] for float matrices, out contiguous: addmm's fused path (the
 * bias is written first and the GEMM adds onto it, one pass fewer than product then add).
 * Shapes and dtypes are the caller's to check. Returns 0, or -1 with the error set. */
int agt_mm_acc(ag_tensor *out, ag_tensor *a, ag_tensor *b) {
  ag_tensor *ca = blas_ready(a), *cb = ca ? blas_ready(b) : NULL;
  if (cb)
    gemm_acc(a->scalar_type, a->sizes[0], a->sizes[1], b->sizes[1], agt_ptr(ca), ca->strides[0], ca->strides[1],
             agt_ptr(cb), cb->strides[0], cb->strides[1], agt_ptr(out), 1);
  agt_release(ca);
  agt_release(cb);
  return cb ? 0 : -1;
}

ag_tensor *agt_bmm(ag_tensor *a, ag_tensor *b) {
  char b1[256], b2[256];
  if (a->ndim != 3 || b->ndim != 3)
    return agt_fail("ag.bmm: expected 3-D tensors, got shapes %s and %s", AGT_SHAPE(a, b1), AGT_SHAPE(b, b2));
  if (a->sizes[0] != b->sizes[0] || a->sizes[2] != b->sizes[1])
    return agt_fail("ag.bmm: shapes %s and %s cannot be multiplied: batch sizes must match and the "
                    "inner sizes (%lld and %lld) must match", AGT_SHAPE(a, b1), AGT_SHAPE(b, b2),
                    (long long)a->sizes[2], (long long)b->sizes[1]);
  if (same_dtype("ag.bmm", a, b)) return NULL;
  ag_tensor *ca = blas_ready(a), *cb = ca ? blas_ready(b) : NULL;
  int64_t B = a->sizes[0], n = a->sizes[1], k = a->sizes[2], m = b->sizes[2];
  ag_tensor *out = cb ? agt_new_contig(3, (int64_t[]){B, n, m}, a->scalar_type) : NULL;
  int es = agt_dtype_size(a->scalar_type);
  if (out)
    for (int64_t i = 0; i < B; i++)
      gemm(a->scalar_type, n, k, m, agt_ptr(ca) + i * ca->strides[0] * es, ca->strides[1], ca->strides[2],
           agt_ptr(cb) + i * cb->strides[0] * es, cb->strides[1], cb->strides[2],
           agt_ptr(out) + i * n * m * es);
  agt_release(ca);
  agt_release(cb);
  return out;
}

ag_tensor *agt_matmul(ag_tensor *a, ag_tensor *b) {
  char b1[256], b2[256];
  if (a->ndim == 0 || b->ndim == 0)
    return agt_fail("ag.matmul: both arguments need at least 1 dimension, got shapes %s and %s",
                    AGT_SHAPE(a, b1), AGT_SHAPE(b, b2));
  if (same_dtype("ag.matmul", a, b)) return NULL;
  int64_t ka = a->sizes[a->ndim - 1], kb = b->sizes[b->ndim >= 2 ? b->ndim - 2 : 0];
  if (ka != kb)
    return agt_fail("ag.matmul: shapes %s and %s cannot be multiplied: the last dim of the first (%lld) "
                    "must match the %s dim of the second (%lld)", AGT_SHAPE(a, b1), AGT_SHAPE(b, b2),
                    (long long)ka, b->ndim >= 2 ? "second-to-last" : "only", (long long)kb);
  if (a->ndim == 2 && b->ndim == 2) return agt_mm(a, b);
  /* general case: lift 1-D operands, broadcast batch dims, run bmm, drop lifted dims */
  int64_t n = a->ndim >= 2 ? a->sizes[a->ndim - 2] : 1, m = b->ndim >= 2 ? b->sizes[b->ndim - 1] : 1;
  int na = a->ndim >= 2 ? a->ndim - 2 : 0, nb = b->ndim >= 2 ? b->ndim - 2 : 0;
  int nbatch = na > nb ? na : nb;
  int64_t batch[AG_MAX_DIMS], B = 1;
  for (int i = 0; i < nbatch; i++) {
    int ia = na - nbatch + i, ib = nb - nbatch + i;
    int64_t sa = ia >= 0 ? a->sizes[ia] : 1, sb = ib >= 0 ? b->sizes[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      return agt_fail("ag.matmul: batch dims of shapes %s and %s cannot be broadcast (%lld vs %lld)",
                      AGT_SHAPE(a, b1), AGT_SHAPE(b, b2), (long long)sa, (long long)sb);
    batch[i] = sa == 1 ? sb : sa;
    B *= batch[i];
  }
  int64_t ea[AG_MAX_DIMS + 2], eb[AG_MAX_DIMS + 2];
  memcpy(ea, batch, nbatch * sizeof(int64_t));
  memcpy(eb, batch, nbatch * sizeof(int64_t));
  ea[nbatch] = n; ea[nbatch + 1] = ka;
  eb[nbatch] = ka; eb[nbatch + 1] = m;
  ag_tensor *la = a->ndim == 1 ? agt_view(a, 2, (int64_t[]){1, ka}) : (agt_retain(a), a);
  ag_tensor *lb = b->ndim == 1 ? agt_view(b, 2, (int64_t[]){ka, 1}) : (agt_retain(b), b);
  ag_tensor *xa = la ? agt_expand(la, nbatch + 2, ea) : NULL, *xb = lb ? agt_expand(lb, nbatch + 2, eb) : NULL;
  ag_tensor *ra = xa ? agt_reshape(xa, 3, (int64_t[]){B, n, ka}) : NULL;
  ag_tensor *rb = xb ? agt_reshape(xb, 3, (int64_t[]){B, ka, m}) : NULL;
  ag_tensor *prod = ra && rb ? agt_bmm(ra, rb) : NULL, *out = NULL;
  if (prod) {
    int64_t os[AG_MAX_DIMS + 2];
    int no = nbatch;
    memcpy(os, batch, nbatch * sizeof(int64_t));
    if (a->ndim >= 2) os[no++] = n;
    if (b->ndim >= 2) os[no++] = m;
    out = agt_view(prod, no, os);
  }
  agt_release(la); agt_release(lb); agt_release(xa); agt_release(xb);
  agt_release(ra); agt_release(rb); agt_release(prod);
  return out;
}
