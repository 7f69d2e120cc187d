/* ag_autograd.h: the public C API of ag's reverse-mode tape engine.
 *
 * Every differentiable op aga_X wraps the tensor library's agt_X: when grad mode is on and
 * an input requires grad it records a node (grad_fn) named as PyTorch names it, saves what
 * the backward needs (with the saved tensor's version) and links edges to the inputs'
 * nodes. Backward formulas are written with these same aga_ ops, so create_graph gives
 * higher-order gradients. The engine never calls into Lua: when it meets a Lua node or a
 * Lua hook it returns, Lua runs it, and Lua resumes the engine.
 *
 * Everything between AG_FFI_BEGIN and AG_FFI_END is read by LuaJIT's FFI. */
#ifndef AG_AUTOGRAD_H
#define AG_AUTOGRAD_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
typedef struct aga_node aga_node;
typedef struct aga_engine aga_engine;

typedef struct ag_meta {
  ag_tensor *grad;
  aga_node *grad_fn;      /* strong; NULL for leaves */
  aga_node *grad_acc;     /* weak: a leaf's AccumulateGrad node, cleared when it dies */
  ag_tensor *view_base;   /* strong: the leaf requiring grad this tensor is a view of */
  int32_t output_nr;
  uint8_t requires_grad;
  uint8_t retains_grad;
  uint8_t view_written;   /* writes through views: a base's count (255: its history is stale), a view's
                           * copy of its base's count when it was made (record.h, aga_view_stale) */
  int32_t hook_id;        /* Lua hooks registered on a leaf (0: none) */
  int32_t post_hook_id;   /* Lua post-accumulate-grad hooks on a leaf (0: none) */
} ag_meta;

/* engine pauses: what Lua must do before calling aga_engine_run again */
enum { AGA_DONE = 0, AGA_RUN_LUA_NODE = 1, AGA_RUN_HOOK = 2, AGA_RUN_POST_HOOK = 3, AGA_ERROR = -1 };

size_t aga_meta_size(void);          /* sizeof(ag_meta), checked by the Lua layer */

/* grad mode */
void aga_set_grad_enabled(int enabled);
int aga_is_grad_enabled(void);
void aga_set_anomaly_enabled(int enabled);
int aga_is_anomaly_enabled(void);

/* tensor autograd state */
int aga_requires_grad(const ag_tensor *t);
int aga_is_leaf(const ag_tensor *t);
int aga_set_requires_grad(ag_tensor *t, int flag);
ag_tensor *aga_grad(ag_tensor *t);                 /* new reference or NULL */
int aga_set_grad(ag_tensor *t, ag_tensor *g);      /* g may be NULL */
aga_node *aga_grad_fn(ag_tensor *t);               /* new reference or NULL */
int aga_output_nr(const ag_tensor *t);
ag_tensor *aga_detach(ag_tensor *t);
int aga_detach_(ag_tensor *t);
int aga_retain_grad(ag_tensor *t);
int aga_retains_grad(const ag_tensor *t);
int aga_tensor_hook_id(ag_tensor *t, int post, int create);   /* 0 if none and !create */

/* nodes */
void aga_node_retain(aga_node *n);
void aga_node_release(aga_node *n);
const char *aga_node_name(const aga_node *n);
int aga_node_num_inputs(const aga_node *n);
int aga_node_num_outputs(const aga_node *n);
aga_node *aga_node_next(aga_node *n, int i, int *input_nr);   /* new reference or NULL */
ag_tensor *aga_node_variable(aga_node *n);                  /* AccumulateGrad's leaf */
int aga_node_lua_id(const aga_node *n);
uint64_t aga_node_seq(const aga_node *n);
void aga_node_set_trace(aga_node *n, const char *trace);
const char *aga_node_trace(const aga_node *n);
int aga_node_pre_hook_id(aga_node *n, int output_nr, int create);
int aga_take_dead_ids(int32_t *buf, int max);
int aga_dead_id_count(void);

/* custom (Lua) functions */
aga_node *aga_lua_node_new(const char *name, int n_inputs, ag_tensor **inputs, int n_outputs);
int aga_set_history(ag_tensor *out, aga_node *node, int output_nr);
int aga_node_save(aga_node *n, int slot, ag_tensor *t, int is_output);
ag_tensor *aga_node_unpack(aga_node *n, int slot);
int aga_node_num_saved(const aga_node *n);
int aga_node_needs_input_grad(const aga_node *n, int i);

/* the engine */
aga_engine *aga_engine_new(int n_roots, ag_tensor **roots, ag_tensor **grads, int retain_graph,
                           int create_graph, int n_inputs, ag_tensor **inputs, int accumulate,
                           int allow_unused);
int aga_engine_run(aga_engine *e);
aga_node *aga_engine_pending_node(aga_engine *e);          /* borrowed */
int aga_engine_pending_hook(aga_engine *e);                /* hook id for AGA_RUN_HOOK / POST */
ag_tensor *aga_engine_pending_tensor(aga_engine *e);       /* borrowed: the leaf for POST hooks */
int aga_engine_num_pending(aga_engine *e);
ag_tensor *aga_engine_pending_grad(aga_engine *e, int i);  /* new reference or NULL */
int aga_engine_set_result(aga_engine *e, int i, ag_tensor *g);
ag_tensor *aga_engine_captured(aga_engine *e, int i);      /* new reference or NULL */
void aga_engine_free(aga_engine *e);

/* differentiable ops (same arguments as the agt_ forms) */
ag_tensor *aga_binary(int op, ag_tensor *a, ag_tensor *b);
ag_tensor *aga_binary_scalar(int op, ag_tensor *a, double s, int scalar_first);
int aga_binary_(int op, ag_tensor *a, ag_tensor *b);
int aga_binary_scalar_(int op, ag_tensor *a, double s);
ag_tensor *aga_unary(int op, ag_tensor *a);
int aga_unary_(int op, ag_tensor *a);
ag_tensor *aga_clamp(ag_tensor *a, double lo, double hi);
int aga_clamp_(ag_tensor *a, double lo, double hi);
ag_tensor *aga_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b);
int aga_copy_(ag_tensor *dst, ag_tensor *src);
int aga_fill_(ag_tensor *t, double value);
int aga_check_inplace(ag_tensor *t, const char *op);

ag_tensor *aga_reduce(int op, ag_tensor *a, int ndims, const int64_t *dims, int keepdim);
ag_tensor *aga_var(ag_tensor *a, int ndims, const int64_t *dims, double correction, int keepdim, int take_sqrt);
ag_tensor *aga_max_dim(ag_tensor *a, int dim, int keepdim, int is_min, ag_tensor **indices);
ag_tensor *aga_max_all(ag_tensor *a, int is_min);
ag_tensor *aga_sum_to_size(ag_tensor *a, int ndim, const int64_t *sizes);

ag_tensor *aga_view(ag_tensor *t, int ndim, const int64_t *sizes);
ag_tensor *aga_reshape(ag_tensor *t, int ndim, const int64_t *sizes);
ag_tensor *aga_transpose(ag_tensor *t, int dim0, int dim1);
ag_tensor *aga_t(ag_tensor *t);
ag_tensor *aga_permute(ag_tensor *t, int ndims, const int64_t *dims);
ag_tensor *aga_narrow(ag_tensor *t, int dim, int64_t start, int64_t length);
ag_tensor *aga_select(ag_tensor *t, int dim, int64_t index);
ag_tensor *aga_squeeze(ag_tensor *t, int dim, int all);
ag_tensor *aga_unsqueeze(ag_tensor *t, int dim);
ag_tensor *aga_expand(ag_tensor *t, int ndim, const int64_t *sizes);
ag_tensor *aga_flatten(ag_tensor *t, int start_dim, int end_dim);
ag_tensor *aga_contiguous(ag_tensor *t);
ag_tensor *aga_clone(ag_tensor *t);
ag_tensor *aga_to_dtype(ag_tensor *t, int dtype);

ag_tensor *aga_mm(ag_tensor *a, ag_tensor *b);
ag_tensor *aga_bmm(ag_tensor *a, ag_tensor *b);
ag_tensor *aga_matmul(ag_tensor *a, ag_tensor *b);
/* AG_FFI_END */

#endif
