/* conv_winograd.h: private interface of conv_winograd.c, the float32 Winograd F(4x4, 3x3)
 * kernels that conv.c uses for 3x3, stride-1, dilation-1, ungrouped layers when the CPU
 * has AVX-512. Not part of the FFI (no ag_ prefix). All tensors are contiguous NCHW;
 * geometry: input (N, C, H, W), weight (O, C, 3, 3), output (N, O, OH, OW) with
 * OH = H + 2*ph - 2, OW = W + 2*pw - 2. Each returns 0, or -1 with agt_fail's message. */
#ifndef AG_CONV_WINOGRAD_H
#define AG_CONV_WINOGRAD_H
#include <stdint.h>

/* 1 when the kernels can run here (AVX-512F and FMA at run time). */
int agt_wino_available(void);

/* y = conv(x, w) + bias (bias may be NULL); y is overwritten. */
int agt_wino_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                     const float *x, const float *w, const float *bias, float *y);

/* gx = the input gradient of that convolution for output gradient gy (N, O, OH, OW):
 * the adjoint of the forward's tiles when a sample is one work item, else a Winograd
 * convolution of gy with the rotated, channel-swapped kernel (padding 2 - p, so ph and pw
 * must be <= 2); gx is overwritten. */
int agt_wino_backward_data(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                           const float *gy, const float *w, float *gx);

/* gw (O, C, 3, 3) = the weight gradient: sum over samples and positions of gy x shifted x;
 * gw is overwritten. When gb is not NULL it gets the bias gradient (O), the sum of gy over
 * samples and positions, from the same pass over gy. */
int agt_wino_backward_weight(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                             const float *gy, const float *x, float *gw, float *gb);

/* the input, weight and bias (gb may be NULL) gradients of that convolution together: one
 * pass over gy per sample when a sample is one work item (gy repacked and transformed once
 * for both), else the two functions above; gx and gw are overwritten. */
int agt_wino_backward_both(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                           const float *gy, const float *x, const float *w, float *gx, float *gw, float *gb);
#endif
