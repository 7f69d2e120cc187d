/* math_reduce.c: logsumexp and the vector p-norm over a set of dims, with keepdim,
 * composed from the core kernels (amax, sum, exp, pow, ...). logsumexp subtracts the max
 * first (an infinite max is replaced by 0, so all -inf gives -inf and +inf gives +inf,
 * not NaN); the p-norm covers p = 0, 1, 2, inf, -inf and any other p. */
#include "math_internal.h"
#include <math.h>

#define K(expr) agm_keep(&S, S.failed ? NULL : (expr))

static ag_tensor *float_input(const char *op, ag_tensor *x, int int_ok) {
  if (agt_is_float(x->scalar_type)) { agt_retain(x); return x; }
  if (!int_ok)
    return agt_fail("%s: expected a floating-point tensor (float32 or float64), but got %s; convert "
                    "it first, e.g. x:float()", op, agt_dtype_name(x->scalar_type));
  return agt_to_dtype(x, AG_FLOAT32);
}

ag_tensor *agt_logsumexp(ag_tensor *x, int ndims, const int64_t *dims, int keepdim) {
  if (agm_check_dims("ag.logsumexp", x, ndims, dims)) return NULL;
  agm_scope S = {.n = 0};
  ag_tensor *xf = K(float_input("ag.logsumexp", x, 1));
  ag_tensor *r = NULL;
  if (!S.failed && agt_numel(xf) == 0) {          /* the empty sum: log 0 = -inf */
    ag_tensor *z = K(agt_reduce(AG_RED_SUM, xf, ndims, dims, keepdim));
    if (z && agt_fill_(z, -INFINITY) == 0) r = agm_out(z);
    agm_free(&S);
    return r;
  }
  ag_tensor *m = K(agt_reduce(AG_RED_AMAX, xf, ndims, dims, 1));
  ag_tensor *zero = K(agt_full(0, NULL, 0, x->scalar_type == AG_FLOAT64 ? AG_FLOAT64 : AG_FLOAT32));
  ag_tensor *ms = K(agt_where(K(agt_unary(AG_UOP_ISINF, m)), zero, m));
  ag_tensor *sum = K(agt_reduce(AG_RED_SUM, K(agt_unary(AG_UOP_EXP, K(agt_binary(AG_OP_SUB, xf, ms)))),
                                ndims, dims, keepdim));
  ag_tensor *msk = keepdim ? ms : K(agt_reshape(ms, sum ? sum->ndim : 0, sum ? sum->sizes : NULL));
  r = K(agt_binary(AG_OP_ADD, K(agt_unary(AG_UOP_LOG, sum)), msk));
  r = S.failed ? NULL : agm_out(r);
  agm_free(&S);
  return r;
}

ag_tensor *agt_norm(ag_tensor *x, double p, int ndims, const int64_t *dims, int keepdim) {
  if (p != p) return agt_fail("ag.norm: p must be a number, got NaN");
  if (agm_check_dims("ag.norm", x, ndims, dims)) return NULL;
  agm_scope S = {.n = 0};
  ag_tensor *xf = K(float_input("ag.norm", x, 0));
  ag_tensor *r = NULL;
  if (S.failed) { agm_free(&S); return NULL; }
  if (p == 2) {
    r = K(agt_unary(AG_UOP_SQRT, K(agt_reduce(AG_RED_SUM, K(agt_binary(AG_OP_MUL, xf, xf)), ndims, dims, keepdim))));
  } else if (p == 0) {
    ag_tensor *nz = K(agt_to_dtype(K(agt_binary_scalar(AG_OP_NE, xf, 0, 0)), xf->scalar_type));
    r = K(agt_reduce(AG_RED_SUM, nz, ndims, dims, keepdim));
  } else {
    ag_tensor *a = K(agt_unary(AG_UOP_ABS, xf));
    if (p == INFINITY || p == -INFINITY) {
      if (!S.failed && agt_numel(a) == 0) {
        char b[256];
        agt_fail("ag.norm: the %s norm of an empty tensor (shape %s) is not defined; reduce over a "
                 "dim whose size is not 0", p > 0 ? "inf" : "-inf", AGT_SHAPE(x, b));
        agm_free(&S);
        return NULL;
      }
      r = K(agt_reduce(p > 0 ? AG_RED_AMAX : AG_RED_AMIN, a, ndims, dims, keepdim));
    } else if (p == 1) {
      r = K(agt_reduce(AG_RED_SUM, a, ndims, dims, keepdim));
    } else {
      ag_tensor *s = K(agt_reduce(AG_RED_SUM, K(agt_binary_scalar(AG_OP_POW, a, p, 0)), ndims, dims, keepdim));
      r = K(agt_binary_scalar(AG_OP_POW, s, 1.0 / p, 0));
    }
  }
  r = S.failed ? NULL : agm_out(r);
  agm_free(&S);
  return r;
}
