/* node.c: graph nodes and tensors' autograd state: creation, edges, saved tensors with
 * version checks, AccumulateGrad for leaves, and freeing. Freeing is iterative (a pending
 * stack), so a chain of a million nodes never recurses. */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aga_grad_mode = 1;
int aga_anomaly_mode = 0;
static uint64_t next_seq = 0;

size_t aga_meta_size(void) { return sizeof(ag_meta); }

void aga_set_grad_enabled(int enabled) { aga_grad_mode = enabled != 0; }
int aga_is_grad_enabled(void) { return aga_grad_mode; }
void aga_set_anomaly_enabled(int enabled) { aga_anomaly_mode = enabled != 0; }
int aga_is_anomaly_enabled(void) { return aga_anomaly_mode; }

/* ---- ids of Lua objects (hooks, Function contexts) whose owner died ---- */
static int32_t *dead_ids;
static int n_dead, cap_dead;

void aga_push_dead_id(int32_t id) {
  if (id <= 0) return;
  if (n_dead == cap_dead) {
    int cap = cap_dead ? cap_dead * 2 : 256;
    int32_t *p = realloc(dead_ids, cap * sizeof(int32_t));
    if (!p) return;                          /* worst case: Lua keeps a stale entry */
    dead_ids = p; cap_dead = cap;
  }
  dead_ids[n_dead++] = id;
}

int aga_dead_id_count(void) { return n_dead; }

int aga_take_dead_ids(int32_t *buf, int max) {
  int n = n_dead < max ? n_dead : max;
  if (n > 0) memcpy(buf, dead_ids + n_dead - n, n * sizeof(int32_t));
  n_dead -= n;
  return n;
}

/* ---- allocation: nodes with up to SMALL_INPUTS inputs, and metadata, are recycled through
 * free lists (a forward pass makes one of each per op) ---- */
#define SMALL_INPUTS 3
static const size_t small_node_size =
  sizeof(aga_node) + SMALL_INPUTS * (sizeof(aga_edge) + sizeof(aga_input_meta));
static aga_node *free_nodes;
static ag_meta *free_metas;

static aga_node *node_alloc(int n_inputs) {
  bool small = n_inputs <= SMALL_INPUTS;
  aga_node *n = small ? free_nodes : NULL;
  if (n) free_nodes = *(aga_node **)n;
  else n = malloc(small ? small_node_size : sizeof(aga_node) + (size_t)n_inputs * (sizeof(aga_edge) + sizeof(aga_input_meta)));
  if (!n) return agt_fail("ag: out of memory (graph node)");
  memset(n, 0, sizeof(aga_node));
  n->small = small;
  n->next = (aga_edge *)(n + 1);
  n->in_meta = (aga_input_meta *)(n->next + n_inputs);
  memset(n->next, 0, (size_t)n_inputs * sizeof(aga_edge));
  return n;
}

static void node_free(aga_node *n) {
  if (!n->small) { free(n); return; }
  *(aga_node **)n = free_nodes;
  free_nodes = n;
}

/* ---- iterative destruction ---- */
static aga_node **pending;
static int64_t n_pending, cap_pending;
static int draining;

static void node_destroy(aga_node *n) {
  for (int i = 0; i < n->n_inputs; i++) aga_node_release(n->next[i].node);
  aga_release_saved(n);
  if (n->leaf) {
    if (n->leaf->meta && n->leaf->meta->grad_acc == n) n->leaf->meta->grad_acc = NULL;
    agt_release(n->leaf);
  }
  if (n->retained)
    for (int k = 0; k < n->n_outputs; k++)
      if (n->retained[k] && n->retained[k]->meta) n->retained[k]->meta->retains_grad = 0;
  if (n->pre_hooks)
    for (int k = 0; k < n->n_outputs; k++) aga_push_dead_id(n->pre_hooks[k]);
  aga_push_dead_id(n->lua_id);
  free(n->pre_hooks);
  free(n->retained);
  free(n->trace);
  free(n->custom_name);
  node_free(n);
}

void aga_node_retain(aga_node *n) { if (n) n->refcount++; }

void aga_node_release(aga_node *n) {
  if (!n || --n->refcount > 0) return;
  if (n_pending == cap_pending) {
    int64_t cap = cap_pending ? cap_pending * 2 : 1024;
    aga_node **p = realloc(pending, cap * sizeof(aga_node *));
    if (!p) { node_destroy(n); return; }     /* out of memory: fall back to recursion */
    pending = p; cap_pending = cap;
  }
  pending[n_pending++] = n;
  if (draining) return;
  draining = 1;
  while (n_pending > 0) node_destroy(pending[--n_pending]);
  draining = 0;
}

/* ---- tensor metadata ---- */
static void meta_free(struct ag_meta *m) {
  if (m->grad_fn && m->retains_grad && m->grad_fn->retained) {
    /* the weak pointer from the node to this tensor dies with it */
    for (int k = 0; k < m->grad_fn->n_outputs; k++) m->grad_fn->retained[k] = NULL;
  }
  aga_push_dead_id(m->hook_id);
  aga_push_dead_id(m->post_hook_id);
  agt_release(m->grad);
  agt_release(m->view_base);
  aga_node_release(m->grad_fn);
  *(ag_meta **)m = free_metas;
  free_metas = m;
}

extern void (*ag_meta_free_fn)(struct ag_meta *);
__attribute__((constructor)) static void install_meta_free(void) { ag_meta_free_fn = meta_free; }

ag_meta *aga_meta_get(ag_tensor *t) {
  if (!t->meta) {
    ag_meta *m = free_metas;
    if (m) free_metas = *(ag_meta **)m;
    else m = malloc(sizeof(ag_meta));
    if (!m) return agt_fail("ag: out of memory (autograd metadata)");
    memset(m, 0, sizeof(ag_meta));
    t->meta = m;
  }
  return t->meta;
}

/* ---- nodes ---- */
aga_node *aga_grad_accumulator(ag_tensor *leaf) {
  ag_meta *m = leaf->meta;
  if (m->grad_acc) return m->grad_acc;
  aga_node *n = node_alloc(0);
  if (!n) return NULL;
  n->kind = AGA_KIND(K_ACCUMULATE);
  n->n_outputs = 1;
  n->seq = UINT64_MAX;                    /* run as soon as ready */
  n->leaf = leaf;
  agt_retain(leaf);
  m->grad_acc = n;
  return n;                               /* refcount 0: edges own it */
}

aga_node *aga_node_new(const aga_kind_info *kind, int n_inputs, ag_tensor **inputs, int n_outputs) {
  aga_node *n = node_alloc(n_inputs);
  if (!n) return NULL;
  n->refcount = 1;
  n->seq = next_seq++;
  n->kind = kind;
  n->n_inputs = n_inputs;
  n->n_outputs = n_outputs;
  for (int i = 0; i < n_inputs; i++) {
    ag_tensor *t = inputs[i];
    if (!t) continue;
    n->in_meta[i].ndim = t->ndim;
    n->in_meta[i].scalar_type = t->scalar_type;
    memcpy(n->in_meta[i].sizes, t->sizes, t->ndim * sizeof(int64_t));
    if (!aga_req(t)) continue;
    const ag_tensor *vb = t->meta->view_base;
    if (aga_view_stale(t)) {
      aga_node_release(n);
      agt_failc(vb ? "this view was taken before an in-place write to its base (directly or through another "
                     "view); PyTorch regenerates such views, ag does not: take the view again after the write "
                     "(or clone() before writing)"
                   : "a view of this tensor was modified in place where ag could not record it on the tensor "
                     "(it is not contiguous), so its gradient would miss the write; make it contiguous() "
                     "before writing through views, or clone() the view first");
      return NULL;
    }
    aga_node *target = t->meta->grad_fn;
    int nr = t->meta->output_nr;
    if (!target) { target = aga_grad_accumulator(t); nr = 0; }
    if (!target) { aga_node_release(n); return NULL; }
    target->refcount++;
    n->next[i].node = target;
    n->next[i].input_nr = nr;
  }
  return n;
}

int aga_set_history(ag_tensor *out, aga_node *node, int output_nr) {
  ag_meta *m = aga_meta_get(out);
  if (!m) return -1;
  node->refcount++;
  aga_node_release(m->grad_fn);
  m->grad_fn = node;
  m->output_nr = output_nr;
  m->requires_grad = 1;
  return 0;
}

const char *aga_type_name(int dtype) {
  static const char *names[AG_NDTYPES] = {"ag.FloatTensor", "ag.DoubleTensor", "ag.LongTensor",
                                          "ag.IntTensor", "ag.ByteTensor", "ag.BoolTensor"};
  return names[dtype];
}

/* An output saved by its own node is saved without its grad_fn, so no cycle forms. */
int aga_save(aga_node *n, int slot, ag_tensor *t, int is_output) {
  if (slot < 0 || slot >= AGA_MAX_SAVED)
    return agt_failc("ag: a node can save at most %d tensors", AGA_MAX_SAVED);
  ag_tensor *s = t;
  if (is_output) { s = agt_alias(t); if (!s) return -1; }
  else agt_retain(t);
  agt_release(n->saved[slot]);
  n->saved[slot] = s;
  n->saved_version[slot] = t->storage->version;
  n->saved_is_output[slot] = (uint8_t)is_output;
  n->saved_producer[slot] = is_output ? aga_node_name(n)
                           : (t->meta && t->meta->grad_fn ? aga_node_name(t->meta->grad_fn) : NULL);
  n->saved_producer_nr[slot] = is_output ? 0 : (t->meta ? t->meta->output_nr : 0);
  if (slot >= n->n_saved) n->n_saved = slot + 1;
  return 0;
}

ag_tensor *aga_unpack(aga_node *n, int slot) {
  if (n->saved_released)
    return agt_fail("Trying to backward through the graph a second time (or directly access saved "
                    "tensors after they have already been freed). Saved intermediate values of the "
                    "graph are freed when you call :backward() or ag.autograd.grad(). Specify "
                    "retain_graph=true if you need to backward through the graph a second time or "
                    "if you need to access saved tensors after calling backward.");
  ag_tensor *s = n->saved[slot];
  if (!s) return agt_fail("ag: %s has no saved tensor %d", aga_node_name(n), slot + 1);
  if (s->storage->version != n->saved_version[slot]) {
    char shape[256], producer[160] = "";
    if (n->saved_producer[slot])
      snprintf(producer, sizeof producer, ", which is output %d of %s,", n->saved_producer_nr[slot],
               n->saved_producer[slot]);
    return agt_fail("one of the variables needed for gradient computation has been modified by an "
                    "inplace operation: [%s %s]%s is at version %lld; expected version %lld instead. "
                    "Hint: enable anomaly detection to find the operation that failed to compute its "
                    "gradient, with ag.autograd.detect_anomaly(fn).", aga_type_name(s->scalar_type),
                    AGT_SHAPE(s, shape), producer, (long long)s->storage->version,
                    (long long)n->saved_version[slot]);
  }
  if (n->saved_is_output[slot] && aga_grad_mode) {
    /* under create_graph the saved output must carry its history again */
    ag_tensor *r = agt_alias(s);
    if (!r) return NULL;
    if (aga_set_history(r, n, 0)) { agt_release(r); return NULL; }
    return r;
  }
  agt_retain(s);
  return s;
}

void aga_release_saved(aga_node *n) {
  for (int i = 0; i < n->n_saved; i++) { agt_release(n->saved[i]); n->saved[i] = NULL; }
  if (n->n_saved) n->saved_released = 1;
}

/* ---- the API on tensors ---- */
int aga_requires_grad(const ag_tensor *t) { return aga_req(t); }
int aga_is_leaf(const ag_tensor *t) { return !t->meta || !t->meta->grad_fn; }
int aga_output_nr(const ag_tensor *t) { return t->meta ? t->meta->output_nr : 0; }

int aga_set_requires_grad(ag_tensor *t, int flag) {
  if (!aga_is_leaf(t)) {
    if (flag) return 0;
    return agt_failc("you can only change requires_grad flags of leaf variables. If you want to use a "
                     "computed variable in a subgraph that doesn't require differentiation use "
                     "var_no_grad = var:detach().");
  }
  if (flag && !agt_is_float(t->scalar_type))
    return agt_failc("only Tensors of floating point dtype can require gradients (got %s); convert "
                     "with :float() first", agt_dtype_name(t->scalar_type));
  if (!flag && !t->meta) return 0;
  ag_meta *m = aga_meta_get(t);
  if (!m) return -1;
  m->requires_grad = (uint8_t)(flag != 0);
  return 0;
}

ag_tensor *aga_grad(ag_tensor *t) {
  if (!t->meta || !t->meta->grad) return NULL;
  agt_retain(t->meta->grad);
  return t->meta->grad;
}

int aga_set_grad(ag_tensor *t, ag_tensor *g) {
  char b1[256], b2[256];
  if (g) {
    if (g->ndim != t->ndim || memcmp(g->sizes, t->sizes, t->ndim * sizeof(int64_t)))
      return agt_failc("assigned grad has data of a different size: grad %s, tensor %s",
                       AGT_SHAPE(g, b1), AGT_SHAPE(t, b2));
    if (g->scalar_type != t->scalar_type)
      return agt_failc("assigned grad has data of a different type: grad %s, tensor %s",
                       agt_dtype_name(g->scalar_type), agt_dtype_name(t->scalar_type));
  }
  if (!g && !t->meta) return 0;
  ag_meta *m = aga_meta_get(t);
  if (!m) return -1;
  agt_retain(g);
  agt_release(m->grad);
  m->grad = g;
  return 0;
}

aga_node *aga_grad_fn(ag_tensor *t) {
  if (!t->meta || !t->meta->grad_fn) return NULL;
  t->meta->grad_fn->refcount++;
  return t->meta->grad_fn;
}

ag_tensor *aga_detach(ag_tensor *t) { return agt_alias(t); }

int aga_detach_(ag_tensor *t) {
  if (!t->meta) return 0;
  aga_node_release(t->meta->grad_fn);
  t->meta->grad_fn = NULL;
  t->meta->requires_grad = 0;
  t->meta->output_nr = 0;
  return 0;
}

int aga_retain_grad(ag_tensor *t) {
  if (!aga_req(t))
    return agt_failc("can't retain_grad on Tensor that has requires_grad=False");
  if (aga_is_leaf(t) || t->meta->retains_grad) return 0;
  aga_node *n = t->meta->grad_fn;
  if (!n->retained) {
    n->retained = calloc(n->n_outputs, sizeof(ag_tensor *));
    if (!n->retained) return agt_failc("ag: out of memory");
  }
  n->retained[t->meta->output_nr] = t;     /* weak; meta_free clears it */
  t->meta->retains_grad = 1;
  return 0;
}

int aga_retains_grad(const ag_tensor *t) { return t->meta && t->meta->retains_grad; }

static int32_t next_lua_id = 1;

int aga_tensor_hook_id(ag_tensor *t, int post, int create) {
  if (!aga_req(t)) {
    if (!create) return 0;
    return agt_failc("cannot register a hook on a tensor that doesn't require gradient");
  }
  if (!aga_is_leaf(t)) {
    if (post) return agt_failc("post accumulate grad hooks cannot be registered on non-leaf tensors");
    return aga_node_pre_hook_id(t->meta->grad_fn, t->meta->output_nr, create);
  }
  int32_t *slot = post ? &t->meta->post_hook_id : &t->meta->hook_id;
  if (!*slot && create) *slot = next_lua_id++;
  return *slot;
}

/* ---- nodes seen from Lua ---- */
const char *aga_node_name(const aga_node *n) {
  return n->custom_name ? n->custom_name : n->kind->name;
}
int aga_node_num_inputs(const aga_node *n) { return n->n_inputs; }
int aga_node_num_outputs(const aga_node *n) { return n->n_outputs; }
int aga_node_lua_id(const aga_node *n) { return n->lua_id; }
uint64_t aga_node_seq(const aga_node *n) { return n->seq; }

aga_node *aga_node_next(aga_node *n, int i, int *input_nr) {
  if (i < 0 || i >= n->n_inputs || !n->next[i].node) return NULL;
  *input_nr = n->next[i].input_nr;
  n->next[i].node->refcount++;
  return n->next[i].node;
}

ag_tensor *aga_node_variable(aga_node *n) {
  if (!n->leaf) return NULL;
  agt_retain(n->leaf);
  return n->leaf;
}

void aga_node_set_trace(aga_node *n, const char *trace) {
  free(n->trace);
  n->trace = trace ? strdup(trace) : NULL;
}
const char *aga_node_trace(const aga_node *n) { return n->trace; }

int aga_node_pre_hook_id(aga_node *n, int output_nr, int create) {
  if (output_nr < 0 || output_nr >= n->n_outputs) return 0;
  if (!n->pre_hooks) {
    if (!create) return 0;
    n->pre_hooks = calloc(n->n_outputs, sizeof(int32_t));
    if (!n->pre_hooks) return agt_failc("ag: out of memory");
  }
  if (!n->pre_hooks[output_nr] && create) n->pre_hooks[output_nr] = next_lua_id++;
  return n->pre_hooks[output_nr];
}

aga_node *aga_lua_node_new(const char *name, int n_inputs, ag_tensor **inputs, int n_outputs) {
  aga_node *n = aga_node_new(AGA_KIND(K_LUA), n_inputs, inputs, n_outputs);
  if (!n) return NULL;
  n->custom_name = strdup(name ? name : "FunctionBackward");
  n->lua_id = next_lua_id++;
  return n;
}

int aga_node_save(aga_node *n, int slot, ag_tensor *t, int is_output) { return aga_save(n, slot, t, is_output); }
ag_tensor *aga_node_unpack(aga_node *n, int slot) { return aga_unpack(n, slot); }
int aga_node_num_saved(const aga_node *n) { return n->n_saved; }
int aga_node_needs_input_grad(const aga_node *n, int i) { return i >= 0 && i < n->n_inputs && needs(n, i); }
