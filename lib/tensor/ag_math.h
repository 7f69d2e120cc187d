/* ag_math.h: the public C API of ag's math op family (lib/tensor/math_*.c, linalg.c):
 * fused activations (gelu, silu, elu, softplus, ...), the ternary elementwise ops (lerp,
 * addcmul, addcdiv), the extra reductions and scans (logsumexp, norm, cumsum, cumprod,
 * sort, topk) and linear algebra (addmm, baddbmm, trace, and inv/det/solve/cholesky
 * through LAPACKE). Plain kernels with no gradients; lib/autograd/ag_math_grad.h wraps
 * them as differentiable ops.
 *
 * Conventions as ag_tensor.h: dims are 1-based (negative from the end), indices returned
 * by sort/topk are 1-based int64, results are new references or NULL with ag_last_error().
 * Everything between AG_FFI_BEGIN and AG_FFI_END is read by LuaJIT's FFI. */
#ifndef AG_MATH_H
#define AG_MATH_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
typedef enum {
  AG_ACT_LOGSIGMOID = 0, AG_ACT_HARDTANH = 1, AG_ACT_LEAKY_RELU = 2, AG_ACT_ELU = 3,
  AG_ACT_GELU = 4, AG_ACT_GELU_TANH = 5, AG_ACT_SILU = 6, AG_ACT_MISH = 7, AG_ACT_SOFTPLUS = 8,
  AG_NACT = 9
} ag_activation;

/* y = f(x; p0, p1, p2) on float32/float64 tensors. Parameters by op:
 *   hardtanh: min_val, max_val;  leaky_relu: negative_slope;
 *   elu: alpha, scale, input_scale (selu is elu with its two constants);
 *   softplus: beta, threshold;   the others take none.
 * The backward kernel gives g * f'(x). */
ag_tensor *agt_activation(int op, ag_tensor *x, double p0, double p1, double p2);
ag_tensor *agt_activation_backward(int op, ag_tensor *g, ag_tensor *x, double p0, double p1, double p2);
const char *agt_activation_name(int op);

/* ternary elementwise, broadcasting all operands:
 *   addcmul: a + value * t1 * t2;  addcdiv: a + value * t1 / t2;
 *   lerp: start + weight * (end - start), weight a tensor or a number */
ag_tensor *agt_addcmul(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value);
ag_tensor *agt_addcdiv(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value);
ag_tensor *agt_lerp(ag_tensor *start, ag_tensor *end, ag_tensor *weight);
ag_tensor *agt_lerp_scalar(ag_tensor *start, ag_tensor *end, double weight);

/* reductions over a set of dims (ndims == 0 means all dims) */
ag_tensor *agt_logsumexp(ag_tensor *x, int ndims, const int64_t *dims, int keepdim);
/* vector p-norm: p may be any number, inf or -inf (p = 2 is also the Frobenius norm) */
ag_tensor *agt_norm(ag_tensor *x, double p, int ndims, const int64_t *dims, int keepdim);

/* scans along one dim; reverse = 1 accumulates from the end (the adjoint of cumsum).
 * Integer and bool inputs give int64, as PyTorch. */
ag_tensor *agt_cumsum(ag_tensor *x, int dim, int reverse);
ag_tensor *agt_cumprod(ag_tensor *x, int dim);

/* sorting along dim: values, and 1-based int64 indices in *indices. NaN sorts as the
 * largest value. sort is always stable. topk keeps the k largest (or smallest) in order. */
ag_tensor *agt_sort(ag_tensor *x, int dim, int descending, ag_tensor **indices);
ag_tensor *agt_topk(ag_tensor *x, int64_t k, int dim, int largest, ag_tensor **indices);
/* out = x gathered along dim at the 1-based positions idx (same shape as idx), and its
 * adjoint: zeros of shape sizes with g added at those positions */
ag_tensor *agt_gather_dim(ag_tensor *x, int dim, ag_tensor *idx);
ag_tensor *agt_scatter_add_zeros(ag_tensor *g, int dim, ag_tensor *idx, int ndim, const int64_t *sizes);

/* linear algebra */
ag_tensor *agt_addmm(ag_tensor *input, ag_tensor *m1, ag_tensor *m2, double beta, double alpha);
ag_tensor *agt_baddbmm(ag_tensor *input, ag_tensor *b1, ag_tensor *b2, double beta, double alpha);
ag_tensor *agt_trace(ag_tensor *a);
/* float32/float64 square matrices [..., n, n], batched over the leading dims */
ag_tensor *agt_linalg_inv(ag_tensor *a);
ag_tensor *agt_linalg_det(ag_tensor *a);
/* the cofactor matrix (the transposed adjugate): the gradient of det, singular or not */
ag_tensor *agt_linalg_cofactor(ag_tensor *a);
/* A X = B for A [..., n, n] and B [..., n, k], or B a (batch of) vector(s) [..., n] */
ag_tensor *agt_linalg_solve(ag_tensor *a, ag_tensor *b);
ag_tensor *agt_linalg_cholesky(ag_tensor *a, int upper);
/* AG_FFI_END */

#endif
