/* ag_optim.h: the fused optimizer update kernels behind ag.optim. Each call updates one
 * parameter in place from its gradient and its state buffers in a single pass (OpenMP over
 * large tensors), with the arithmetic in the order PyTorch's single-tensor optimizers use,
 * so results agree step for step. All tensors must share the parameter's float dtype and
 * number of elements; state buffers must be contiguous. Optional buffers may be NULL.
 * The parameter's version counter is bumped, as an in-place write. 0 ok, -1 error. */
#ifndef AG_OPTIM_H
#define AG_OPTIM_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
/* SGD: momentum_buf may be NULL when momentum == 0; init_buf = 1 on the first step
 * (the buffer is then set to the gradient, as PyTorch's clone). */
int agt_sgd_step(ag_tensor *param, ag_tensor *grad, ag_tensor *momentum_buf, double lr,
                 double momentum, double dampening, double weight_decay, int nesterov,
                 int maximize, int init_buf);
/* Adam / AdamW (decoupled = 1): step is the count after this update (1 on the first);
 * max_exp_avg_sq non-NULL means amsgrad. */
int agt_adam_step(ag_tensor *param, ag_tensor *grad, ag_tensor *exp_avg, ag_tensor *exp_avg_sq,
                  ag_tensor *max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
                  double weight_decay, double step, int decoupled, int maximize);
/* RMSprop: grad_avg non-NULL means centered; momentum_buf non-NULL when momentum > 0. */
int agt_rmsprop_step(ag_tensor *param, ag_tensor *grad, ag_tensor *square_avg, ag_tensor *grad_avg,
                     ag_tensor *momentum_buf, double lr, double alpha, double eps,
                     double weight_decay, double momentum, int maximize);
/* Adagrad: clr is the decayed learning rate lr / (1 + (step - 1) * lr_decay). */
int agt_adagrad_step(ag_tensor *param, ag_tensor *grad, ag_tensor *state_sum, double clr,
                     double weight_decay, double eps, int maximize);
/* AG_FFI_END */

#endif
