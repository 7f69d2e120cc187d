/* ag_math_grad.h: the differentiable forms of ag's math op family (lib/tensor/ag_math.h):
 * activations, lerp/addcmul/addcdiv, logsumexp, norm, cumsum, cumprod, sort, topk, and
 * linear algebra (addmm, baddbmm, trace, linalg inv/det/solve/cholesky). Each records a
 * node named as PyTorch names it; backward formulas are written with aga_ ops, so
 * create_graph gives higher-order gradients (a fused backward kernel is used only when
 * the backward itself is not being recorded).
 *
 * Everything between AG_FFI_BEGIN and AG_FFI_END is read by LuaJIT's FFI. */
#ifndef AG_MATH_GRAD_H
#define AG_MATH_GRAD_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
/* activations (op: an ag_activation; parameters as agt_activation) */
ag_tensor *aga_activation(int op, ag_tensor *x, double p0, double p1, double p2);

/* AddcmulBackward0, AddcdivBackward0, LerpBackward1 (tensor weight), LerpBackward0 */
ag_tensor *aga_addcmul(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value);
ag_tensor *aga_addcdiv(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value);
ag_tensor *aga_lerp(ag_tensor *start, ag_tensor *end, ag_tensor *weight);
ag_tensor *aga_lerp_scalar(ag_tensor *start, ag_tensor *end, double weight);

/* reductions and scans; norm's node is NormBackward1, or LinalgVectorNormBackward0 when
 * linalg_name is set */
ag_tensor *aga_logsumexp(ag_tensor *x, int ndims, const int64_t *dims, int keepdim);
ag_tensor *aga_norm(ag_tensor *x, double p, int ndims, const int64_t *dims, int keepdim, int linalg_name);
ag_tensor *aga_cumsum(ag_tensor *x, int dim, int reverse);
ag_tensor *aga_cumprod(ag_tensor *x, int dim);
ag_tensor *aga_sort(ag_tensor *x, int dim, int descending, ag_tensor **indices);
ag_tensor *aga_topk(ag_tensor *x, int64_t k, int dim, int largest, ag_tensor **indices);
ag_tensor *aga_gather_dim(ag_tensor *x, int dim, ag_tensor *idx);
ag_tensor *aga_scatter_add_zeros(ag_tensor *g, int dim, ag_tensor *idx, int ndim, const int64_t *sizes);

/* linear algebra */
ag_tensor *aga_addmm(ag_tensor *input, ag_tensor *m1, ag_tensor *m2, double beta, double alpha);
ag_tensor *aga_baddbmm(ag_tensor *input, ag_tensor *b1, ag_tensor *b2, double beta, double alpha);
ag_tensor *aga_trace(ag_tensor *a);
ag_tensor *aga_linalg_inv(ag_tensor *a);
ag_tensor *aga_linalg_det(ag_tensor *a);
ag_tensor *aga_linalg_solve(ag_tensor *a, ag_tensor *b);
ag_tensor *aga_linalg_cholesky(ag_tensor *a, int upper);
/* AG_FFI_END */

#endif
