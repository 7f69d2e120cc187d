/* ag_rnn.h: the public C API of ag's fused recurrent-cell kernels (lib/tensor/rnn_cell.c).
 * Plain kernels with no gradients; lib/autograd/ag_rnn_grad.h wraps them as a
 * differentiable op with its own node (LstmCellBackward).
 *
 * LSTM cell (PyTorch's gate layout i, f, g, o along the 4H dim):
 *   gates = x w_ih^T + h w_hh^T + b_ih + b_hh          (two cblas GEMMs)
 *   i, f, o = sigmoid(.), g = tanh(.)                   (one fused pointwise pass)
 *   c' = f*c + i*g,  h' = o*tanh(c')
 * Shapes: x [B, I], h and c [B, H], w_ih [4H, I], w_hh [4H, H], b_ih and b_hh [4H] or NULL;
 * float32 or float64, all of one dtype. Everything between AG_FFI_BEGIN and AG_FFI_END is
 * read by LuaJIT's FFI. */
#ifndef AG_RNN_H
#define AG_RNN_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
/* Forward: *h_out and *c_out get new references. When work is not NULL, *work gets
 * [B, 5H]: the activated gates i, f, g, o and tanh(c'), which the backward takes.
 * Returns 0, or -1 with ag_last_error() set. */
int agt_lstm_cell(ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih,
                  ag_tensor *b_hh, ag_tensor **h_out, ag_tensor **c_out, ag_tensor **work);
/* Backward of the pointwise part: from the gradients gh of h' and gc of c' (either may be
 * NULL: zero), the forward's work and c, returns the gradient of the pre-activation gates
 * [B, 4H] and sets *dc to the gradient of c [B, H]. */
ag_tensor *agt_lstm_cell_backward(ag_tensor *gh, ag_tensor *gc, ag_tensor *work, ag_tensor *c, ag_tensor **dc);
/* AG_FFI_END */

#endif
