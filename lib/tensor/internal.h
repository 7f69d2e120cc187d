/* internal.h: helpers shared by lib/tensor's sources: error reporting, shape strings,
 * the per-dtype X-macro and the allocator's private entry points. Not part of the API. */
#ifndef AG_TENSOR_INTERNAL_H
#define AG_TENSOR_INTERNAL_H
#include "ag_tensor.h"
#include <stdbool.h>

/* One generic source per op family: each instantiates its kernels with this X-macro. */
#define AG_FOREACH_DTYPE(X) \
  X(AG_FLOAT32, float, f32) X(AG_FLOAT64, double, f64) X(AG_INT64, int64_t, i64) \
  X(AG_INT32, int32_t, i32) X(AG_UINT8, uint8_t, u8) X(AG_BOOL, uint8_t, b8)

/* Set the thread-local error (printf-style) and return NULL / -1. */
void *agt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int agt_failc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "[2, 3]" into buf (at least 256 bytes); returns buf. */
char *agt_shape_str(int ndim, const int64_t *sizes, char *buf);
#define AGT_SHAPE(t, buf) agt_shape_str((t)->ndim, (t)->sizes, (buf))

/* PyTorch's result_type of two tensors (0-dim tensors weigh less; see binary.c) */
int agt_result_type(const ag_tensor *a, const ag_tensor *b);
/* 0, or -1 with an error naming `op` ("ag.<op>") if t has aliased elements (stride 0, size > 1) */
int agt_check_writable(const char *op, ag_tensor *t);

/* allocator */
void *ag_alloc(int64_t nbytes);      /* counted in live_bytes; NULL + error on failure */
void ag_free(void *p, int64_t nbytes);

/* tensor construction helpers */
ag_tensor *agt_new_view(ag_tensor *base);           /* shares storage, copies shape */
ag_tensor *agt_new_contig(int ndim, const int64_t *sizes, int dtype);
void agt_set_contig_strides(ag_tensor *t);
int agt_check_sizes(const char *op, int ndim, const int64_t *sizes);   /* also numel <= 2^62 */
int64_t agt_numel_checked(int ndim, const int64_t *sizes);             /* -1 on overflow */

static inline char *agt_ptr(const ag_tensor *t) {
  return (char *)t->storage->data + t->offset * agt_dtype_size(t->scalar_type);
}
static inline bool agt_is_float(int dtype) { return dtype == AG_FLOAT32 || dtype == AG_FLOAT64; }

/* Read or write one element as double, whatever the dtype. */
double agt_load(int dtype, const char *p);
void agt_store(int dtype, char *p, double v);

/* OpenMP threshold: below this many elements kernels stay single-threaded. */
#define AG_PARALLEL_GRAIN 32768

/* Row-major C = alpha op(A) op(B) + beta C (op: transpose when ta/tb), split across ag's
 * OpenMP threads (gemm.c); every float GEMM goes through these. */
void agt_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void agt_dgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
               const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

/* unary.c: relu's gradient, written over g when overwrite_g (the caller owns g outright) */
ag_tensor *agt_relu_backward_ex(ag_tensor *g, ag_tensor *r, int overwrite_g);

/* conv.c: the weight gradient, and the bias gradient in *gb when the kernel gives it from
 * the same pass (else *gb = NULL: compute it with agt_conv_bias_grad) */
struct ag_conv_opts;
ag_tensor *agt_conv_weight_bias_grad(ag_tensor *gy, ag_tensor *x, const int64_t *w_sizes,
                                     const struct ag_conv_opts *o, ag_tensor **gb);
/* pool.c: one output row of 2x2 / stride 2 max pooling over input rows r0, r1 (AVX-512 only):
 * values into y, 1-based plane indices (base + position) into ip unless NULL */
void agt_max2x2_row(const float *r0, const float *r1, float *y, int64_t *ip, int64_t OW, int64_t base, int64_t W);
/* conv.c: max_pool2d(conv2d(x, w, b)) and the pool's indices; a first layer on the direct
 * kernel with a 2x2 / stride 2 pool pools each item's planes in cache, never writing the conv
 * output; anything else runs the two ops */
struct ag_pool_opts;
ag_tensor *agt_conv_max_pool(ag_tensor *x, ag_tensor *w, ag_tensor *b, const struct ag_conv_opts *o,
                             const struct ag_pool_opts *po, ag_tensor **indices);
/* the weight (and, gb not NULL, bias) gradient of max_pool2d(conv2d(x, w, b)) from the pooled
 * gradient gp and the pool's 1-based indices into the conv's output planes (2-D, one group,
 * not transposed): the direct kernel rebuilds the conv-sized gradient plane by plane in
 * cache; other layers take the pool's scatter and the usual kernels */
ag_tensor *agt_conv_pool_weight_grad(ag_tensor *gp, ag_tensor *idx, ag_tensor *x, const int64_t *w_sizes,
                                     const struct ag_conv_opts *o, ag_tensor **gb);
/* the input, weight and (gb not NULL) bias gradients of a float32 conv2d in one pass over gy
 * (Winograd layers); 1 when done, 0 when the caller must use the separate functions, -1 on
 * error */
int agt_conv_backward_all(ag_tensor *gy, ag_tensor *x, ag_tensor *w, const struct ag_conv_opts *o, ag_tensor **gx,
                          ag_tensor **gw, ag_tensor **gb);

/* stream_copy.c: n floats from a warm scratch to a cold, fresh destination with streaming
 * stores (memcpy when dst is not 64-byte aligned or the CPU lacks AVX-512) */
void agt_copy_streaming(float *dst, const float *src, int64_t n);

/* cpu.c: 1 when the CPU has AVX-512F and FMA (asked once) */
int agt_cpu_avx512(void);

/* gemm_small.c: the float32 kernels for m <= 128 (ta == 0); 1 when it computed C, 0 when
 * the caller must (another shape, no AVX-512, out of memory). */
int agt_sgemm_small(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* C = A1 W1^T + A2 W2^T + beta C (+ bias[n] on every row when bias is not NULL) in one pass
 * (an LSTM cell's two products and its biases); 0: not taken */
int agt_sgemm_small_nt2(int64_t m, int64_t n, const float *a1, int64_t lda1, const float *w1, int64_t ldw1,
                        int64_t k1, const float *a2, int64_t lda2, const float *w2, int64_t ldw2, int64_t k2,
                        float beta, const float *bias, float *c, int64_t ldc);
/* C1 = A B1 and C2 = A B2 (A m x k; B1 k x n1, B2 k x n2) with A^T packed once; 0: not taken */
int agt_sgemm_small_nn2(int64_t m, int64_t k, const float *a, int64_t lda, const float *b1, int64_t ldb1, int64_t n1,
                        float *c1, int64_t ldc1, const float *b2, int64_t ldb2, int64_t n2, float *c2, int64_t ldc2);

/* rnn_cell.c: dx = dG w_ih and dh = dG w_hh of an LSTM cell in one gemm_small pass; 1 when
 * done (*dx, *dh new), 0 when the caller must compute them (dtype, layout, CPU) */
int agt_lstm_cell_input_grads(ag_tensor *dG, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor **dx, ag_tensor **dh);

/* out[n,m] += a[n,k] b[k,m] (matmul.c): float matrices, out contiguous; unchecked shapes. */
int agt_mm_acc(ag_tensor *out, ag_tensor *a, ag_tensor *b);
#endif
