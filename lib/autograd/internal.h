/* internal.h: lib/autograd's private structures: nodes, edges, saved tensors, the kind
 * registry shared by node.c, ops.c, formulas.c and engine.c. Not part of the API. */
#ifndef AG_AUTOGRAD_INTERNAL_H
#define AG_AUTOGRAD_INTERNAL_H
#include "ag_autograd.h"
#include "../tensor/internal.h"

enum { AGA_MAX_SAVED = 8 };

typedef struct { aga_node *node; int32_t input_nr; } aga_edge;
typedef struct { int32_t ndim, scalar_type; int64_t sizes[AG_MAX_DIMS]; } aga_input_meta;

/* A backward formula: gout[n_outputs] -> gin[n_inputs] (new refs; NULL = none). A node runs
 * only when some output got a gradient, so a single-output node's gout[0] is never NULL; in a
 * multi-output node an entry is NULL when that output got none.
 * Only inputs whose edge is set need a gradient (see needs()). Returns 0 or -1. */
typedef int (*aga_backward_fn)(aga_node *n, ag_tensor **gout, ag_tensor **gin);

typedef enum {
  K_ACCUMULATE, K_LUA,
  K_ADD0, K_ADD1, K_SUB0, K_SUB1, K_RSUB1, K_MUL0, K_MUL1, K_DIV0, K_DIV1,
  K_POW0, K_POW1, K_POW2, K_MAXIMUM, K_MINIMUM, K_ATAN2, K_REMAINDER0, K_REMAINDER1,
  K_NEG, K_ABS, K_RELU, K_SIGN, K_EXP, K_LOG, K_SQRT, K_TANH, K_SIGMOID, K_SIN, K_COS, K_TAN,
  K_EXPM1, K_LOG1P, K_LOG2, K_RSQRT, K_RECIPROCAL, K_ASIN, K_ACOS, K_ATAN, K_SINH, K_COSH,
  K_ERF, K_FLOOR, K_CEIL, K_ROUND, K_TRUNC,
  K_CLAMP, K_WHERE,
  K_SUM0, K_SUM1, K_MEAN0, K_MEAN1, K_PROD0, K_PROD1, K_AMAX, K_AMIN, K_MAX_ALL, K_MIN_ALL,
  K_MAX_DIM, K_MIN_DIM, K_VAR, K_STD,
  K_VIEW, K_TRANSPOSE, K_PERMUTE, K_SLICE, K_SELECT, K_SQUEEZE0, K_SQUEEZE1, K_UNSQUEEZE,
  K_EXPAND, K_CLONE, K_TO_COPY, K_SLICE_BACKWARD, K_SELECT_BACKWARD, K_T, K_RESHAPE_ALIAS,
  K_UNSAFE_VIEW, K_DOT,
  K_MM, K_BMM,
  K_NKINDS
} aga_kind;

/* What a node does: its PyTorch name and backward formula. The core ops' kinds are the
 * table below (formulas.c); op families in other files define their own. */
typedef struct { const char *name; aga_backward_fn fn; } aga_kind_info;
extern const aga_kind_info aga_kinds[K_NKINDS];
#define AGA_KIND(k) (&aga_kinds[k])

/* Fields that creation and destruction touch come first and the edges follow the header
 * directly, so freeing a (cold) node reads as few cache lines as possible. */
struct aga_node {
  int64_t refcount;
  const aga_kind_info *kind;
  int32_t n_inputs, n_outputs, n_saved;
  uint8_t saved_released;
  uint8_t small;                         /* allocated from the small-node free list */
  uint8_t visited;                       /* engine: 1 reached, 2 queued */
  uint8_t needed;                        /* engine: leads to a gradient that was asked for */
  aga_edge *next;                        /* [n_inputs], right after this header */
  ag_tensor *saved[AGA_MAX_SAVED];
  ag_tensor *leaf;                       /* AccumulateGrad: the leaf (strong) */
  ag_tensor **retained;                  /* [n_outputs] weak, or NULL */
  int32_t *pre_hooks;                    /* [n_outputs] Lua hook ids, or NULL */
  char *trace;                           /* anomaly mode: where the node was created */
  char *custom_name;                     /* Lua nodes: the Function's name + "Backward" */
  int32_t lua_id;
  int32_t deps;                          /* engine scratch */
  ag_tensor **grads;                     /* engine: [n_outputs] gradients arriving */
  struct aga_lazy *lazy;                 /* engine: deferred A^T B terms (AccumulateGrad; lazy_grad.c) */
  uint64_t seq;
  aga_input_meta *in_meta;               /* [n_inputs], after the edges */
  int64_t saved_version[AGA_MAX_SAVED];
  uint8_t saved_is_output[AGA_MAX_SAVED];
  const char *saved_producer[AGA_MAX_SAVED];   /* for the version-counter error */
  int32_t saved_producer_nr[AGA_MAX_SAVED];
  double d[4];                           /* op parameters */
  int64_t i[AG_MAX_DIMS + 2];
};

extern int aga_grad_mode;
extern int aga_anomaly_mode;

static inline bool aga_req(const ag_tensor *t) { return t && t->meta && t->meta->requires_grad; }
static inline bool aga_should_record(const ag_tensor *t) { return aga_grad_mode && aga_req(t); }
static inline bool needs(const aga_node *n, int i) { return n->next[i].node != NULL; }
/* A tensor whose history misses an in-place write through a view: a base whose CopySlices
 * could not be recorded (255), or a view made before a later write through another view */
static inline bool aga_view_stale(const ag_tensor *t) {
  const ag_meta *m = t->meta;
  if (!m) return false;
  const ag_tensor *vb = m->view_base;
  if (!vb) return m->view_written == 255;
  return vb->meta && (vb->meta->view_written == 255 || vb->meta->view_written != m->view_written);
}

/* node.c */
aga_node *aga_node_new(const aga_kind_info *kind, int n_inputs, ag_tensor **inputs, int n_outputs);
ag_meta *aga_meta_get(ag_tensor *t);   /* create on demand; NULL on OOM */
int aga_save(aga_node *n, int slot, ag_tensor *t, int is_output);
ag_tensor *aga_unpack(aga_node *n, int slot);
void aga_release_saved(aga_node *n);
aga_node *aga_grad_accumulator(ag_tensor *leaf);
void aga_push_dead_id(int32_t id);
const char *aga_type_name(int dtype);

/* lazy_grad.c: a formula may give input i's gradient as A^T B (A: R x M, B: R x N) to be
 * summed with one GEMM when the leaf's AccumulateGrad node runs. Returns 1 when the engine
 * took it (the formula then leaves gin[i] NULL), 0 when it cannot (compute it as usual),
 * -1 on error. */
int aga_defer_outer(aga_node *n, int i, ag_tensor *A, ag_tensor *B);
/* the same for targets sharing A: input mat_in[k]'s gradient is A^T Bs[k] (k < nmat) and
 * input vec_in[k]'s is A^T 1, the column sums of A (k < nvec); all deferred, or none (0) */
int aga_defer_grouped(aga_node *n, ag_tensor *A, int nmat, const int *mat_in, ag_tensor *const *Bs, int nvec,
                      const int *vec_in);
int aga_lazy_materialize(aga_node *n);   /* into n->grads[0]; frees the stack */
void aga_lazy_free(aga_node *n);
/* engine.c: add g to node n's pending gradient for output nr */
int aga_add_pending(aga_node *n, int nr, ag_tensor *g);
/* engine.c: a select (index start) or narrow (start, len) view's gradient g added in place
 * into input i's pending gradient; 1 done, 0 not possible, -1 error */
int aga_pending_slice_add(aga_node *n, int i, ag_tensor *g, int dim, int64_t start, int64_t len, int select);

/* ops.c: a few helpers formulas share */
ag_tensor *aga_zeros_meta(const aga_input_meta *m);
ag_tensor *aga_slice_backward(ag_tensor *g, const aga_input_meta *m, int dim, int64_t start, int64_t len);
ag_tensor *aga_select_backward(ag_tensor *g, const aga_input_meta *m, int dim, int64_t index);
#endif
