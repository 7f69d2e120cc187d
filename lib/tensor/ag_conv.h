/* ag_conv.h: the public C API of ag's spatial kernels: convolution (1-d and 2-d, transposed,
 * strided, padded, dilated, grouped) lowered to GEMM, max/avg/adaptive pooling and
 * nearest/bilinear interpolation, each with the backward kernels autograd needs.
 *
 * Layouts follow PyTorch: input (N, C, [H,] W), weight (out, in/groups, [kh,] kw) and, for
 * transposed convolution, (in, out/groups, [kh,] kw). Pooling and interpolation work on the
 * last one or two dims and treat all leading dims as independent planes. Max-pooling indices
 * are int64, 1-based flat positions within each input plane (PyTorch's + 1).
 *
 * Everything between AG_FFI_BEGIN and AG_FFI_END is read by LuaJIT's FFI. */
#ifndef AG_CONV_H
#define AG_CONV_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
/* One convolution's geometry. nsp: spatial dims (1 or 2; 1-d uses index 1 of the arrays,
 * index 0 is then ignored). For a transposed convolution, output_padding adds to the size. */
typedef struct ag_conv_opts {
  int32_t nsp;
  int32_t transposed;
  int64_t stride[2], padding[2], dilation[2], output_padding[2];
  int64_t groups;
} ag_conv_opts;

/* y = conv(x, w) + b (b may be NULL); transposed when o->transposed */
ag_tensor *agt_convolution(ag_tensor *x, ag_tensor *w, ag_tensor *b, const ag_conv_opts *o);
/* The gradient of a (non-transposed) convolution with respect to its weight: gy is the
 * output-side tensor, x the input side, w_sizes the weight's (2 + nsp) sizes. */
ag_tensor *agt_conv_weight_grad(ag_tensor *gy, ag_tensor *x, const int64_t *w_sizes, const ag_conv_opts *o);
/* The bias gradient: gy (N, C, ...) summed over every dim but the channels. */
ag_tensor *agt_conv_bias_grad(ag_tensor *gy);

/* Pooling windows: kernel, stride, padding, dilation per spatial dim (index 0: height). */
typedef struct ag_pool_opts {
  int32_t nsp;
  int32_t ceil_mode;
  int32_t count_include_pad;
  int32_t pad_;
  int64_t kernel[2], stride[2], padding[2], dilation[2];
  int64_t divisor_override;   /* avg_pool2d: 0 for none */
} ag_pool_opts;

ag_tensor *agt_max_pool(ag_tensor *x, const ag_pool_opts *o, ag_tensor **indices);
/* Linear maps on planes, each the adjoint of the other: gather picks x at 1-based plane
 * indices into idx's shape; scatter adds g at idx into a zero tensor of `sizes`. */
ag_tensor *agt_pool_gather(ag_tensor *x, ag_tensor *idx, int nsp);
ag_tensor *agt_pool_scatter(ag_tensor *g, ag_tensor *idx, int nsp, int ndim, const int64_t *sizes);
ag_tensor *agt_avg_pool(ag_tensor *x, const ag_pool_opts *o);
ag_tensor *agt_avg_pool_backward(ag_tensor *g, const ag_pool_opts *o, int ndim, const int64_t *sizes);
ag_tensor *agt_adaptive_avg_pool(ag_tensor *x, int nsp, const int64_t *out_size);
ag_tensor *agt_adaptive_avg_pool_backward(ag_tensor *g, int nsp, int ndim, const int64_t *sizes);

/* Interpolation of the last two dims to out_size (oh, ow). mode 0: nearest, 1: bilinear.
 * scales (h, w) as PyTorch's scale_factor (<= 0: derived from the sizes). */
ag_tensor *agt_upsample(ag_tensor *x, int mode, const int64_t *out_size, int align_corners, const double *scales);
ag_tensor *agt_upsample_backward(ag_tensor *g, int mode, int ndim, const int64_t *in_sizes, int align_corners,
                                 const double *scales);
/* AG_FFI_END */

#endif
