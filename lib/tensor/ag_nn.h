/* ag_nn.h: the public C API of ag's fused nn kernels (lib/tensor/nn_*.c): softmax and
 * log_softmax, cross_entropy and nll_loss, and the normalization layers. Plain kernels
 * with no gradients; lib/autograd/ag_nn_grad.h wraps them as differentiable ops.
 *
 * Conventions as ag_tensor.h: dims are 1-based (negative from the end), class labels are
 * 1-based int64, results are new references or NULL with ag_last_error() set.
 * `reduction` is an ag_reduction. Everything between AG_FFI_BEGIN and AG_FFI_END is read
 * by LuaJIT's FFI. */
#ifndef AG_NN_H
#define AG_NN_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
typedef enum { AG_REDUCTION_NONE = 0, AG_REDUCTION_MEAN = 1, AG_REDUCTION_SUM = 2 } ag_reduction;

/* softmax (log = 0) or log_softmax (log = 1) along dim; the backward takes the forward's
 * output y and the gradient g of the same shape */
ag_tensor *agt_softmax(ag_tensor *x, int dim, int is_log);
ag_tensor *agt_softmax_backward(ag_tensor *g, ag_tensor *y, int dim, int is_log);

/* cross_entropy with class indices (int64 [N, d1, ...], 1-based; ignore_index skips a
 * row), optional class weight [C], label smoothing in [0, 1]. *lse (when lse is not NULL)
 * gets each row's max and log(sum(exp(x - max))) as an [R, 2] tensor, which the backward
 * takes instead of the softmax. */
ag_tensor *agt_cross_entropy(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                             double label_smoothing, int reduction, ag_tensor **lse);
ag_tensor *agt_cross_entropy_backward(ag_tensor *g, ag_tensor *x, ag_tensor *lse, ag_tensor *target,
                                      ag_tensor *weight, int64_t ignore_index, double label_smoothing,
                                      int reduction);
/* the target distribution the loss pulls softmax(x) toward, scaled by the reduction */
ag_tensor *agt_cross_entropy_target_weights(ag_tensor *x, ag_tensor *target, ag_tensor *weight,
                                            int64_t ignore_index, double label_smoothing, int reduction);
/* nll_loss on log-probabilities x; the backward makes the gradient for an input of the
 * given shape and dtype */
ag_tensor *agt_nll_loss(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index, int reduction);
ag_tensor *agt_nll_loss_backward(ag_tensor *g, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                                 int reduction, int ndim, const int64_t *sizes, int dtype);

/* layer_norm over the last nd dims (weight and bias, optional, have their shape); *mean and
 * *rstd (optional) get each row's statistics. The backward computes the gradients whose
 * pointers are not NULL (gx: the input's, gw/gb: the weight's and bias's). */
ag_tensor *agt_layer_norm(ag_tensor *x, int nd, ag_tensor *w, ag_tensor *b, double eps, ag_tensor **mean,
                          ag_tensor **rstd);
int agt_layer_norm_backward(ag_tensor *g, ag_tensor *x, ag_tensor *mean, ag_tensor *rstd, ag_tensor *w, int nd,
                            ag_tensor **gx, ag_tensor **gw, ag_tensor **gb);
/* batch_norm over [N, C, ...] per channel: in training the batch statistics (and the running
 * ones, when given, updated in place with momentum and the unbiased variance); otherwise the
 * running statistics. *mean and *rstd get the statistics used. */
ag_tensor *agt_batch_norm(ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *running_mean, ag_tensor *running_var,
                          int training, double momentum, double eps, ag_tensor **mean, ag_tensor **rstd);
int agt_batch_norm_backward(ag_tensor *g, ag_tensor *x, ag_tensor *mean, ag_tensor *rstd, ag_tensor *w, int training,
                            ag_tensor **gx, ag_tensor **gw, ag_tensor **gb);
/* AG_FFI_END */

#endif
