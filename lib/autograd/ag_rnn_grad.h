/* ag_rnn_grad.h: the differentiable fused recurrent cells (lib/autograd/rnn_grad.c). */
#ifndef AG_RNN_GRAD_H
#define AG_RNN_GRAD_H
#include "../tensor/ag_rnn.h"

/* AG_FFI_BEGIN */
/* The fused LSTM cell (see ag_rnn.h); out[0] = h', out[1] = c' (new references). Records
 * one LstmCellBackward node when any input requires grad. Returns 0 or -1. */
int aga_lstm_cell(ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih,
                  ag_tensor *b_hh, ag_tensor **out);
/* AG_FFI_END */

#endif
