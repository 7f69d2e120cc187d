/* linalg.c: linear algebra kernels: addmm and baddbmm (beta * input + alpha * product),
 * trace, and LAPACKE-backed inv (getrf + getri), det (getrf), solve (gesv) and cholesky
 * (potrf) on float32/float64 square matrices, batched over leading dims. LAPACK runs on
 * row-major contiguous copies, one matrix at a time, never inside an OpenMP region. */
#include "math_internal.h"
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

/* ---------------- addmm / baddbmm ---------------- */
static int same_dtypes(const char *op, ag_tensor *a, ag_tensor *b, ag_tensor *c) {
  if (a->scalar_type != b->scalar_type || a->scalar_type != c->scalar_type)
    return agt_failc("%s: expected all operands to have the same dtype, but got input %s, %s and %s; "
                     "convert them first, e.g. with :to(...)", op, agt_dtype_name(a->scalar_type),
                     agt_dtype_name(b->scalar_type), agt_dtype_name(c->scalar_type));
  if (a->scalar_type == AG_BOOL) return agt_failc("%s: not implemented for bool tensors", op);
  return 0;
}

/* prod = alpha * product; then += beta * input, with input broadcast to prod's shape */
static ag_tensor *add_scaled(const char *op, ag_tensor *prod, ag_tensor *input, double beta, double alpha) {
  char b1[256], b2[256];
  if (input->ndim > prod->ndim) goto bad;
  for (int i = 1; i <= input->ndim; i++) {   /* from the right: equal, or 1 */
    int64_t si = input->sizes[input->ndim - i];
    if (si != 1 && si != prod->sizes[prod->ndim - i]) goto bad;
  }
  if (alpha != 1 && agt_binary_scalar_(AG_OP_MUL, prod, alpha)) goto fail;
  if (beta != 0) {
    ag_tensor *bi = beta == 1 ? (agt_retain(input), input) : agt_binary_scalar(AG_OP_MUL, input, beta, 0);
    int rc = bi ? agt_binary_(AG_OP_ADD, prod, bi) : -1;
    if (bi) agt_release(bi);
    if (rc) goto fail;
  }
  return prod;
bad:
  agt_fail("%s: input of shape %s cannot be broadcast to the product's shape %s", op,
           AGT_SHAPE(input, b1), AGT_SHAPE(prod, b2));
fail:
  agt_release(prod);
  return NULL;
}

ag_tensor *agt_addmm(ag_tensor *input, ag_tensor *m1, ag_tensor *m2, double beta, double alpha) {
  const char *op = "ag.addmm";
  char b1[256], b2[256];
  if (same_dtypes(op, input, m1, m2)) return NULL;
  if (m1->ndim != 2 || m2->ndim != 2)
    return agt_fail("%s: mat1 and mat2 must be matrices, but got shapes %s and %s", op, AGT_SHAPE(m1, b1), AGT_SHAPE(m2, b2));
  if (m1->sizes[1] != m2->sizes[0])
    return agt_fail("%s: mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld)", op,
                    (long long)m1->sizes[0], (long long)m1->sizes[1], (long long)m2->sizes[0], (long long)m2->sizes[1]);
  /* the common nn.Linear case (alpha 1, a bias that broadcasts over the rows): write
   * beta * input into the result and let the GEMM add the product onto it */
  int64_t n = m1->sizes[0], m = m2->sizes[1];
  if (alpha == 1 && beta != 0 && agt_is_float(input->scalar_type) && input->ndim <= 2 &&
      (input->ndim == 0 || input->sizes[input->ndim - 1] == m || input->sizes[input->ndim - 1] == 1) &&
      (input->ndim < 2 || input->sizes[0] == n || input->sizes[0] == 1)) {
    ag_tensor *out = agt_new_contig(2, (int64_t[]){n, m}, input->scalar_type);
    ag_tensor *bias = out ? agt_expand(input, 2, (int64_t[]){n, m}) : NULL;
    int rc = bias ? agt_copy_(out, bias) : -1;
    if (!rc && beta != 1) rc = agt_binary_scalar_(AG_OP_MUL, out, beta);
    if (!rc) rc = agt_mm_acc(out, m1, m2);
    agt_release(bias);
    if (rc) { agt_release(out); return NULL; }
    return out;
  }
  ag_tensor *prod = agt_mm(m1, m2);
  return prod ? add_scaled(op, prod, input, beta, alpha) : NULL;
}

ag_tensor *agt_baddbmm(ag_tensor *input, ag_tensor *b1, ag_tensor *b2, double beta, double alpha) {
  const char *op = "ag.baddbmm";
  char s1[256], s2[256];
  if (same_dtypes(op, input, b1, b2)) return NULL;
  if (b1->ndim != 3 || b2->ndim != 3)
    return agt_fail("%s: batch1 and batch2 must be 3-D tensors, but got shapes %s and %s", op, AGT_SHAPE(b1, s1), AGT_SHAPE(b2, s2));
  if (b1->sizes[0] != b2->sizes[0] || b1->sizes[2] != b2->sizes[1])
    return agt_fail("%s: batch1 %s and batch2 %s cannot be multiplied; expected [b, n, k] and [b, k, m]", op,
                    AGT_SHAPE(b1, s1), AGT_SHAPE(b2, s2));
  ag_tensor *prod = agt_bmm(b1, b2);
  return prod ? add_scaled(op, prod, input, beta, alpha) : NULL;
}

ag_tensor *agt_trace(ag_tensor *a) {
  char b[256];
  if (a->ndim != 2) return agt_fail("ag.trace: expected a matrix, but got a tensor of shape %s", AGT_SHAPE(a, b));
  int dt = agt_is_float(a->scalar_type) ? a->scalar_type : AG_INT64;
  int64_t n = a->sizes[0] < a->sizes[1] ? a->sizes[0] : a->sizes[1];
  int es = agt_dtype_size(a->scalar_type);
  const char *p = agt_ptr(a);
  double s = 0;
  int64_t si = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = agt_load(a->scalar_type, p + i * (a->strides[0] + a->strides[1]) * es);
    s += v;
    si += (int64_t)v;
  }
  ag_tensor *out = agt_new_contig(0, NULL, dt);
  if (!out) return NULL;
  if (dt == AG_INT64) *(int64_t *)agt_ptr(out) = si;
  else agt_store(dt, agt_ptr(out), s);
  return out;
}

/* ---------------- LAPACK ---------------- */
/* A square float matrix or batch of them; returns n, or -1 with an error. */
static int64_t check_square(const char *op, ag_tensor *a) {
  char b[256];
  if (!agt_is_float(a->scalar_type))
    return agt_failc("%s: expected a floating-point tensor (float32 or float64), but got %s; convert "
                     "it first, e.g. A:double()", op, agt_dtype_name(a->scalar_type));
  if (a->ndim < 2)
    return agt_failc("%s: the input tensor A must have at least 2 dimensions, but got shape %s", op, AGT_SHAPE(a, b));
  if (a->sizes[a->ndim - 1] != a->sizes[a->ndim - 2])
    return agt_failc("%s: A must be batches of square matrices, but they are %lld by %lld matrices (shape %s)", op,
                     (long long)a->sizes[a->ndim - 2], (long long)a->sizes[a->ndim - 1], AGT_SHAPE(a, b));
  if (a->sizes[a->ndim - 1] > INT_MAX / 2) return agt_failc("%s: the matrix is too large for LAPACK", op);
  return a->sizes[a->ndim - 1];
}

static int64_t batch_count(ag_tensor *a, int core) {
  int64_t nb = 1;
  for (int i = 0; i < a->ndim - core; i++) nb *= a->sizes[i];
  return nb;
}

/* " (matrix 3 of the batch)" for batched inputs, "" otherwise */
static const char *batch_note(char *buf, size_t len, ag_tensor *a, int64_t b) {
  if (a->ndim <= 2) { buf[0] = 0; return buf; }
  snprintf(buf, len, " (batch element %lld, counted from 1)", (long long)b + 1);
  return buf;
}

static int lapack_oom(const char *op, lapack_int info) {
  if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
    return agt_failc("%s: out of memory in LAPACK", op);
  return agt_failc("%s: LAPACK failed with info = %d", op, (int)info);
}

static lapack_int getrf(int dt, lapack_int n, void *a, lapack_int *ipiv) {
  if (dt == AG_FLOAT64) return LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, (double *)a, n, ipiv);
  return LAPACKE_sgetrf(LAPACK_ROW_MAJOR, n, n, (float *)a, n, ipiv);
}

ag_tensor *agt_linalg_inv(ag_tensor *a) {
  const char *op = "ag.linalg.inv";
  int64_t n = check_square(op, a);
  if (n < 0) return NULL;
  ag_tensor *out = agt_clone(a);   /* contiguous, row-major */
  if (!out || n == 0) return out;
  lapack_int *ipiv = malloc(n * sizeof(lapack_int));
  if (!ipiv) { agt_release(out); return agt_fail("%s: out of memory", op); }
  int64_t nb = batch_count(a, 2), es = agt_dtype_size(a->scalar_type);
  int rc = 0;
  char note[64];
  for (int64_t b = 0; b < nb && !rc; b++) {
    char *m = agt_ptr(out) + b * n * n * es;
    lapack_int info = getrf(a->scalar_type, (lapack_int)n, m, ipiv);
    if (info > 0)
      rc = agt_failc("%s: the matrix is singular%s: the diagonal element %d of its LU factorization is "
                     "zero, so the inversion could not be completed. Check the input for linearly "
                     "dependent rows, or use linalg.solve with a regularized matrix", op,
                     batch_note(note, sizeof note, a, b), (int)info);
    else if (info < 0) rc = lapack_oom(op, info);
    else {
      info = a->scalar_type == AG_FLOAT64 ? LAPACKE_dgetri(LAPACK_ROW_MAJOR, (lapack_int)n, (double *)m, (lapack_int)n, ipiv)
                                          : LAPACKE_sgetri(LAPACK_ROW_MAJOR, (lapack_int)n, (float *)m, (lapack_int)n, ipiv);
      if (info != 0) rc = lapack_oom(op, info);
    }
  }
  free(ipiv);
  if (rc) { agt_release(out); return NULL; }
  return out;
}

/* det of one row-major n x n matrix m (overwritten by its LU factors) */
static int det1(const char *op, int dt, lapack_int n, char *m, lapack_int *ipiv, double *det) {
  if (n == 0) { *det = 1; return 0; }
  lapack_int info = getrf(dt, n, m, ipiv);
  if (info < 0) return lapack_oom(op, info);
  double d = 1;
  for (lapack_int i = 0; i < n; i++) {
    d *= agt_load(dt, m + (i * n + i) * agt_dtype_size(dt));
    if (ipiv[i] != i + 1) d = -d;
  }
  *det = d;
  return 0;
}

ag_tensor *agt_linalg_det(ag_tensor *a) {
  const char *op = "ag.linalg.det";
  int64_t n = check_square(op, a);
  if (n < 0) return NULL;
  ag_tensor *lu = agt_clone(a);
  ag_tensor *out = lu ? agt_new_contig(a->ndim - 2, a->sizes, a->scalar_type) : NULL;
  lapack_int *ipiv = malloc((n ? n : 1) * sizeof(lapack_int));
  int rc = out && ipiv ? 0 : -1;
  if (out && !ipiv) agt_fail("%s: out of memory", op);
  int64_t nb = batch_count(a, 2), es = agt_dtype_size(a->scalar_type);
  for (int64_t b = 0; b < nb && !rc; b++) {
    double d;
    rc = det1(op, a->scalar_type, (lapack_int)n, agt_ptr(lu) + b * n * n * es, ipiv, &d);
    if (!rc) agt_store(a->scalar_type, agt_ptr(out) + b * es, d);
  }
  free(ipiv);
  if (lu) agt_release(lu);
  if (rc) { if (out) agt_release(out); return NULL; }
  return out;
}

/* cofactor(A) = det(A) inv(A)^T when A is invertible; otherwise each entry is the signed
 * determinant of its minor (n^2 small LU factorizations: singular inputs only). */
ag_tensor *agt_linalg_cofactor(ag_tensor *a) {
  const char *op = "ag.linalg.det";
  int64_t n = check_square(op, a);
  if (n < 0) return NULL;
  int dt = a->scalar_type;
  int64_t nb = batch_count(a, 2), es = agt_dtype_size(dt);
  ag_tensor *src = agt_clone(a), *out = src ? agt_new_contig(a->ndim, a->sizes, dt) : NULL;
  char *work = malloc((n * n + 1) * es);
  lapack_int *ipiv = malloc((n + 1) * sizeof(lapack_int));
  int rc = out && work && ipiv ? 0 : -1;
  if (out && rc) agt_fail("%s: out of memory", op);
  for (int64_t b = 0; b < nb && !rc; b++) {
    const char *m = agt_ptr(src) + b * n * n * es;
    char *o = agt_ptr(out) + b * n * n * es;
    memcpy(work, m, n * n * es);
    double d;
    rc = det1(op, dt, (lapack_int)n, work, ipiv, &d);
    if (rc) break;
    lapack_int info = 1;
    if (d != 0 && n > 0)
      info = dt == AG_FLOAT64 ? LAPACKE_dgetri(LAPACK_ROW_MAJOR, (lapack_int)n, (double *)work, (lapack_int)n, ipiv)
                              : LAPACKE_sgetri(LAPACK_ROW_MAJOR, (lapack_int)n, (float *)work, (lapack_int)n, ipiv);
    if (d != 0 && n > 0 && info == 0) {
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)      /* det * inv^T */
          agt_store(dt, o + (i * n + j) * es, d * agt_load(dt, work + (j * n + i) * es));
      continue;
    }
    for (int64_t i = 0; i < n && !rc; i++)
      for (int64_t j = 0; j < n && !rc; j++) {
        int64_t q = 0;
        for (int64_t r = 0; r < n; r++)
          for (int64_t c = 0; c < n; c++)
            if (r != i && c != j) memcpy(work + (q++) * es, m + (r * n + c) * es, es);
        double md;
        rc = det1(op, dt, (lapack_int)(n - 1), work, ipiv, &md);
        agt_store(dt, o + (i * n + j) * es, ((i + j) % 2 ? -md : md));
      }
  }
  free(work);
  free(ipiv);
  if (src) agt_release(src);
  if (rc) { if (out) agt_release(out); return NULL; }
  return out;
}

ag_tensor *agt_linalg_solve(ag_tensor *a, ag_tensor *b) {
  const char *op = "ag.linalg.solve";
  char s1[256], s2[256];
  int64_t n = check_square(op, a);
  if (n < 0) return NULL;
  if (b->scalar_type != a->scalar_type)
    return agt_fail("%s: expected A and B to have the same dtype, but got %s and %s", op,
                    agt_dtype_name(a->scalar_type), agt_dtype_name(b->scalar_type));
  /* B is a (batch of) vector(s) when 1-D, or when its shape is A's without the last dim */
  bool vec = b->ndim == 1;
  if (!vec && b->ndim == a->ndim - 1) {
    vec = true;
    for (int i = 0; i < b->ndim; i++) if (b->sizes[i] != a->sizes[i]) vec = false;
  }
  int bcore = vec ? 1 : 2;
  if (b->ndim < bcore || b->sizes[b->ndim - bcore] != n)
    return agt_fail("%s: incompatible shapes of A and B for the equation AX = B (%s and %s); B must be "
                    "[..., %lld] or [..., %lld, k]", op, AGT_SHAPE(a, s1), AGT_SHAPE(b, s2), (long long)n, (long long)n);
  int64_t k = vec ? 1 : b->sizes[b->ndim - 1];
  if (k > INT_MAX) return agt_fail("%s: too many right-hand sides for LAPACK", op);
  /* broadcast the batch dims */
  ag_tensor ba = *a, bb = *b;
  ba.ndim = a->ndim - 2;
  bb.ndim = b->ndim - bcore;
  int nbd;
  int64_t bs[AG_MAX_DIMS + 2];
  if (agt_broadcast_shape("linalg.solve", &ba, &bb, &nbd, bs)) return NULL;   /* says "ag.linalg.solve: ..." */
  if (nbd + 2 > AG_MAX_DIMS) return agt_fail("%s: too many dimensions", op);
  int64_t as[AG_MAX_DIMS], xs[AG_MAX_DIMS];
  for (int i = 0; i < nbd; i++) as[i] = xs[i] = bs[i];
  as[nbd] = as[nbd + 1] = n;
  xs[nbd] = n;
  xs[nbd + 1] = k;
  ag_tensor *ae = agt_expand(a, nbd + 2, as);
  ag_tensor *lu = ae ? agt_clone(ae) : NULL;
  ag_tensor *be = NULL, *x = NULL;
  if (lu) {
    ag_tensor *b2 = vec ? agt_unsqueeze(b, -1) : (agt_retain(b), b);
    be = b2 ? agt_expand(b2, nbd + 2, xs) : NULL;
    x = be ? agt_clone(be) : NULL;
    if (b2) agt_release(b2);
  }
  lapack_int *ipiv = malloc((n ? n : 1) * sizeof(lapack_int));
  int rc = x && ipiv ? 0 : -1;
  if (x && !ipiv) agt_fail("%s: out of memory", op);
  int64_t nb = 1, es = agt_dtype_size(a->scalar_type);
  for (int i = 0; i < nbd; i++) nb *= bs[i];
  char note[64];
  for (int64_t i = 0; i < nb && !rc && n > 0 && k > 0; i++) {
    char *am = agt_ptr(lu) + i * n * n * es, *xm = agt_ptr(x) + i * n * k * es;
    lapack_int info = a->scalar_type == AG_FLOAT64
      ? LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)k, (double *)am, (lapack_int)n, ipiv, (double *)xm, (lapack_int)k)
      : LAPACKE_sgesv(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)k, (float *)am, (lapack_int)n, ipiv, (float *)xm, (lapack_int)k);
    if (info > 0)
      rc = agt_failc("%s: the matrix A is singular%s: the diagonal element %d of its LU factorization is "
                     "zero, so the system has no unique solution", op, batch_note(note, sizeof note, lu, i), (int)info);
    else if (info < 0) rc = lapack_oom(op, info);
  }
  free(ipiv);
  if (ae) agt_release(ae);
  if (lu) agt_release(lu);
  if (be) agt_release(be);
  if (rc) { if (x) agt_release(x); return NULL; }
  if (vec) {   /* drop the unit column */
    ag_tensor *v = agt_view(x, nbd + 1, xs);
    agt_release(x);
    return v;
  }
  return x;
}

ag_tensor *agt_linalg_cholesky(ag_tensor *a, int upper) {
  const char *op = "ag.linalg.cholesky";
  int64_t n = check_square(op, a);
  if (n < 0) return NULL;
  ag_tensor *out = agt_clone(a);
  if (!out || n == 0) return out;
  int dt = a->scalar_type;
  int64_t nb = batch_count(a, 2), es = agt_dtype_size(dt);
  char uplo = upper ? 'U' : 'L';
  int rc = 0;
  char note[64];
  for (int64_t b = 0; b < nb && !rc; b++) {
    char *m = agt_ptr(out) + b * n * n * es;
    lapack_int info = dt == AG_FLOAT64 ? LAPACKE_dpotrf(LAPACK_ROW_MAJOR, uplo, (lapack_int)n, (double *)m, (lapack_int)n)
                                       : LAPACKE_spotrf(LAPACK_ROW_MAJOR, uplo, (lapack_int)n, (float *)m, (lapack_int)n);
    if (info > 0)
      rc = agt_failc("%s: the factorization could not be completed because the input is not "
                     "positive-definite%s (the leading minor of order %d is not positive-definite)", op,
                     batch_note(note, sizeof note, a, b), (int)info);
    else if (info < 0) rc = lapack_oom(op, info);
    else   /* zero the other triangle */
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
          if (upper ? j < i : j > i) memset(m + (i * n + j) * es, 0, es);
  }
  if (rc) { agt_release(out); return NULL; }
  return out;
}
