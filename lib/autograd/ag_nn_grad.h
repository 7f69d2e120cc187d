/* ag_nn_grad.h: the differentiable forms of ag's fused nn kernels (lib/tensor/ag_nn.h).
 * Each records its own node kind, named as PyTorch names it; the backward of each node is
 * itself a differentiable op, so create_graph gives double backward (gradgradcheck).
 *
 * Everything between AG_FFI_BEGIN and AG_FFI_END is read by LuaJIT's FFI. */
#ifndef AG_NN_GRAD_H
#define AG_NN_GRAD_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
/* SoftmaxBackward0 / LogSoftmaxBackward0 */
ag_tensor *aga_softmax(ag_tensor *x, int dim, int is_log);
/* their backward as an op of its own (SoftmaxBackwardDataBackward0, ...): g, y -> grad x */
ag_tensor *aga_softmax_backward_data(ag_tensor *g, ag_tensor *y, int dim, int is_log);
/* CrossEntropyLossBackward0: log_softmax and nll_loss fused (see agt_cross_entropy) */
ag_tensor *aga_cross_entropy(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                             double label_smoothing, int reduction);
/* NllLossBackward0, and its backward as an op (NllLossBackwardBackward0) */
ag_tensor *aga_nll_loss(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index, int reduction);
ag_tensor *aga_nll_loss_backward(ag_tensor *g, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                                 int reduction, int ndim, const int64_t *sizes, int dtype);
/* BinaryCrossEntropyBackward0 (logs clamped at -100; PyTorch's backward, finite at 0 and 1) */
ag_tensor *aga_binary_cross_entropy(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int reduction);
/* NativeLayerNormBackward0 / NativeBatchNormBackward0 over the fused kernels; weight and
 * bias may be NULL; batch_norm updates the running statistics in training when given */
ag_tensor *aga_layer_norm(ag_tensor *x, int nd, ag_tensor *w, ag_tensor *b, double eps);
ag_tensor *aga_batch_norm(ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *running_mean, ag_tensor *running_var,
                          int training, double momentum, double eps);
/* AG_FFI_END */

#endif
