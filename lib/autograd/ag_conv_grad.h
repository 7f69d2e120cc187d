/* ag_conv_grad.h: the differentiable forms of the spatial kernels in lib/tensor/ag_conv.h
 * (convolution, pooling, interpolation). Each records a node named as PyTorch names it
 * (ConvolutionBackward0, MaxPool2DWithIndicesBackward0, AvgPool2DBackward0, ...). Every
 * backward is itself one of these ops, so create_graph gives higher-order gradients.
 *
 * Everything between AG_FFI_BEGIN and AG_FFI_END is read by LuaJIT's FFI; this block comes
 * before ag_conv.h's there, hence the struct tags declared ahead. */
#ifndef AG_CONV_GRAD_H
#define AG_CONV_GRAD_H
#include "ag_autograd.h"
#include "ag_conv.h"

/* AG_FFI_BEGIN */
struct ag_conv_opts;
struct ag_pool_opts;
ag_tensor *aga_convolution(ag_tensor *x, ag_tensor *w, ag_tensor *b, const struct ag_conv_opts *o);
ag_tensor *aga_conv_weight_grad(ag_tensor *gy, ag_tensor *x, const int64_t *w_sizes, const struct ag_conv_opts *o);
ag_tensor *aga_max_pool(ag_tensor *x, const struct ag_pool_opts *o, ag_tensor **indices);
/* max_pool2d(conv2d(x, w, b)) as one node when x needs no gradient (else the two ops) */
ag_tensor *aga_conv_max_pool2d(ag_tensor *x, ag_tensor *w, ag_tensor *b, const struct ag_conv_opts *co,
                               const struct ag_pool_opts *po);
ag_tensor *aga_pool_gather(ag_tensor *x, ag_tensor *idx, int nsp);
ag_tensor *aga_pool_scatter(ag_tensor *g, ag_tensor *idx, int nsp, int ndim, const int64_t *sizes);
ag_tensor *aga_avg_pool(ag_tensor *x, const struct ag_pool_opts *o);
ag_tensor *aga_avg_pool_backward(ag_tensor *g, const struct ag_pool_opts *o, int ndim, const int64_t *sizes);
ag_tensor *aga_adaptive_avg_pool(ag_tensor *x, int nsp, const int64_t *out_size);
ag_tensor *aga_adaptive_avg_pool_backward(ag_tensor *g, int nsp, int ndim, const int64_t *sizes);
ag_tensor *aga_upsample(ag_tensor *x, int mode, const int64_t *out_size, int align_corners, const double *scales);
ag_tensor *aga_upsample_backward(ag_tensor *g, int mode, int ndim, const int64_t *in_sizes, int align_corners,
                                 const double *scales);
/* AG_FFI_END */

#endif
