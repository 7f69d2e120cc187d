/* iter.h: the strided N-operand iterator behind every elementwise kernel. Operand 0 is
 * the output; inputs are broadcast to its shape with stride 0. Adjacent dimensions that
 * are contiguous for every operand are collapsed, so a contiguous op runs as one loop,
 * and large iterations are split across OpenMP threads. */
#ifndef AG_ITER_H
#define AG_ITER_H
#include "internal.h"

#define AGT_ITER_MAX_OPS 4

/* Inner loop: n elements; p[k] points at operand k; s[k] is its stride in elements. */
typedef void (*agt_loop_fn)(int64_t n, char **p, const int64_t *s);

typedef struct {
  int nops, ndim;
  int64_t sizes[AG_MAX_DIMS];
  int64_t strides[AGT_ITER_MAX_OPS][AG_MAX_DIMS];
  char *base[AGT_ITER_MAX_OPS];
  int esize[AGT_ITER_MAX_OPS];
} agt_iter;

/* ops[0] is the output; the others must broadcast to its shape (checked by the caller).
 * An operand may be NULL with `scalar` data: then it is a stride-0 value at scalars[k]. */
void agt_iter_init(agt_iter *it, int nops, ag_tensor **ops);
void agt_iter_set_scalar(agt_iter *it, int k, void *data, int esize);
void agt_iter_run(const agt_iter *it, agt_loop_fn fn);

/* The same walk for loops that need a context (an indexed dim's stride, a fill value);
 * parallel = false keeps it on one thread (e.g. kernels that scatter into shared rows). */
typedef void (*agt_loop_ctx_fn)(void *ctx, int64_t n, char **p, const int64_t *s);
void agt_iter_run_ctx(const agt_iter *it, agt_loop_ctx_fn fn, void *ctx, bool parallel);
#endif
