/* engine.c: the backward pass. It finds the graph from the roots, counts dependencies,
 * runs nodes from a ready queue ordered by sequence number (newest first), sums the
 * gradients arriving at each input, folds broadcast gradients to the input's shape,
 * and accumulates into leaves. Formulas may also add into an input's pending buffer
 * directly (select/narrow gradients, aga_pending_slice_add) or leave a leaf's weight
 * gradient as factors summed when its AccumulateGrad node runs (lazy_grad.c). It never
 * calls Lua: at a Lua node or hook it returns a code, Lua does the work and calls
 * aga_engine_run again. */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PH_NEXT, PH_PRE_HOOKS, PH_NODE, PH_AFTER_LUA, PH_POST_HOOK, PH_DISPATCH };

struct aga_engine {
  int retain_graph, create_graph, accumulate, allow_unused, saved_grad_mode, finished;
  aga_node **heap; int64_t nheap, capheap;
  aga_node **seen; int64_t nseen, capseen;
  int n_inputs;
  ag_tensor **inputs;          /* for autograd.grad / backward(inputs=) (strong) */
  aga_node **cap_node;         /* where each input's gradient is read */
  int *cap_nr;
  ag_tensor **captured;
  aga_node *cur;
  int phase, hook_k;
  ag_tensor **gin;             /* the current node's results, [n_inputs] */
  int pending_hook, n_pending;
  ag_tensor **pending;         /* borrowed: the gradients Lua gets */
  ag_tensor *pending_tensor;
};

static int grow(void **arr, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return 0;
  int64_t c = *cap ? *cap * 2 : 64;
  while (c < need) c *= 2;
  void *p = realloc(*arr, c * elem);
  if (!p) return agt_failc("ag: out of memory in the autograd engine");
  *arr = p; *cap = c;
  return 0;
}

/* ---- ready queue: a max-heap on seq ---- */
static int heap_push(aga_engine *e, aga_node *n) {
  if (grow((void **)&e->heap, &e->capheap, e->nheap + 1, sizeof(aga_node *))) return -1;
  int64_t i = e->nheap++;
  while (i > 0) {
    int64_t p = (i - 1) / 2;
    if (e->heap[p]->seq >= n->seq) break;
    e->heap[i] = e->heap[p];
    i = p;
  }
  e->heap[i] = n;
  n->visited = 2;
  return 0;
}

static aga_node *heap_pop(aga_engine *e) {
  if (e->nheap == 0) return NULL;
  aga_node *top = e->heap[0], *last = e->heap[--e->nheap];
  int64_t i = 0;
  for (;;) {
    int64_t c = 2 * i + 1;
    if (c >= e->nheap) break;
    if (c + 1 < e->nheap && e->heap[c + 1]->seq > e->heap[c]->seq) c++;
    if (e->heap[c]->seq <= last->seq) break;
    e->heap[i] = e->heap[c];
    i = c;
  }
  if (e->nheap > 0) e->heap[i] = last;
  return top;
}

static int see(aga_engine *e, aga_node *n) {
  if (grow((void **)&e->seen, &e->capseen, e->nseen + 1, sizeof(aga_node *))) return -1;
  e->seen[e->nseen++] = n;
  n->refcount++;
  n->visited = 1;
  n->deps = 0;
  return 0;
}

/* Visit every node reachable from the roots and count its incoming edges. */
static int discover(aga_engine *e, int64_t first) {
  for (int64_t k = first; k < e->nseen; k++) {
    aga_node *n = e->seen[k];
    for (int i = 0; i < n->n_inputs; i++) {
      aga_node *c = n->next[i].node;
      if (!c) continue;
      if (!c->visited && see(e, c)) return -1;
      c->deps++;
    }
  }
  return 0;
}

static int cmp_seq(const void *a, const void *b) {
  uint64_t x = (*(aga_node *const *)a)->seq, y = (*(aga_node *const *)b)->seq;
  return x < y ? -1 : x > y;
}

/* With explicit inputs only the nodes that lead to them run. Inputs of a node are always
 * older (smaller seq), so one pass in seq order settles it. */
static void mark_needed(aga_engine *e) {
  if (!e->inputs) {
    for (int64_t k = 0; k < e->nseen; k++) e->seen[k]->needed = 1;
    return;
  }
  for (int i = 0; i < e->n_inputs; i++) if (e->cap_node[i]) e->cap_node[i]->needed = 1;
  aga_node **order = malloc(e->nseen * sizeof(aga_node *));
  if (!order) { for (int64_t k = 0; k < e->nseen; k++) e->seen[k]->needed = 1; return; }
  memcpy(order, e->seen, e->nseen * sizeof(aga_node *));
  qsort(order, e->nseen, sizeof(aga_node *), cmp_seq);
  for (int64_t k = 0; k < e->nseen; k++) {
    aga_node *n = order[k];
    for (int i = 0; i < n->n_inputs && !n->needed; i++)
      if (n->next[i].node && n->next[i].node->needed) n->needed = 1;
  }
  free(order);
}

int aga_add_pending(aga_node *n, int nr, ag_tensor *g) {
  if (!n->grads) {
    n->grads = calloc(n->n_outputs, sizeof(ag_tensor *));
    if (!n->grads) return agt_failc("ag: out of memory in the autograd engine");
  }
  if (!n->grads[nr]) { agt_retain(g); n->grads[nr] = g; return 0; }
  ag_tensor *buf = n->grads[nr];
  /* a buffer only the engine holds takes the sum in place (not under create_graph, where
   * the sum must record); otherwise a new tensor */
  if (!aga_grad_mode && buf->refcount == 1 && buf->storage->refcount == 1 && !buf->meta &&
      buf->scalar_type == g->scalar_type && agt_is_contiguous(buf) && buf->ndim == g->ndim &&
      !memcmp(buf->sizes, g->sizes, g->ndim * sizeof(int64_t)))
    return agt_binary_(AG_OP_ADD, buf, g);
  ag_tensor *sum = aga_binary(AG_OP_ADD, buf, g);
  if (!sum) return -1;
  agt_release(n->grads[nr]);
  n->grads[nr] = sum;
  return 0;
}

/* The gradient of a select/narrow view, added straight into its slice of the input's
 * pending gradient when the engine owns that buffer outright (first order only): a loop
 * over x:select(2, t) then costs one full-size buffer instead of a zero-filled copy per step
 * added into the sum (64 MB of traffic per step for a [32, 64, 128] embedding output).
 * Returns 1 when done, 0 when the formula must produce the gradient itself, -1 on error. */
int aga_pending_slice_add(aga_node *n, int i, ag_tensor *g, int dim, int64_t start, int64_t len, int select) {
  aga_node *next = n->next[i].node;
  if (aga_grad_mode || !g || !next || !next->grads) return 0;
  ag_tensor *buf = next->grads[n->next[i].input_nr];
  const aga_input_meta *m = &n->in_meta[i];
  if (!buf || buf->refcount != 1 || buf->storage->refcount != 1 || buf->meta || !agt_is_contiguous(buf) ||
      buf->scalar_type != g->scalar_type || buf->scalar_type != m->scalar_type || buf->ndim != m->ndim ||
      memcmp(buf->sizes, m->sizes, m->ndim * sizeof(int64_t)))
    return 0;
  ag_tensor *v = select ? agt_select(buf, dim + 1, start) : agt_narrow(buf, dim + 1, start, len);
  if (!v) return -1;
  int rc = agt_binary_(AG_OP_ADD, v, g);
  agt_release(v);
  return rc ? -1 : 1;
}

static aga_node *root_node(ag_tensor *t, int *nr) {
  if (t->meta && t->meta->grad_fn) { *nr = t->meta->output_nr; return t->meta->grad_fn; }
  *nr = 0;
  return aga_grad_accumulator(t);
}

aga_engine *aga_engine_new(int n_roots, ag_tensor **roots, ag_tensor **grads, int retain_graph,
                           int create_graph, int n_inputs, ag_tensor **inputs, int accumulate,
                           int allow_unused) {
  char b1[256], b2[256];
  for (int i = 0; i < n_roots; i++) {
    if (!aga_req(roots[i]))
      return agt_fail("element %d of tensors does not require grad and does not have a grad_fn", i);
    if (grads[i] && (grads[i]->ndim != roots[i]->ndim ||
                     memcmp(grads[i]->sizes, roots[i]->sizes, roots[i]->ndim * sizeof(int64_t))))
      return agt_fail("Mismatch in shape: grad_output[%d] has a shape of %s and output[%d] has a shape of %s.",
                      i, AGT_SHAPE(grads[i], b1), i, AGT_SHAPE(roots[i], b2));
  }
  for (int i = 0; i < n_inputs; i++)
    if (!aga_req(inputs[i])) return agt_fail("One of the differentiated Tensors does not require grad");
  aga_engine *e = calloc(1, sizeof(aga_engine));
  if (!e) return agt_fail("ag: out of memory in the autograd engine");
  e->retain_graph = retain_graph;
  e->create_graph = create_graph;
  e->accumulate = accumulate;
  e->allow_unused = allow_unused;
  e->saved_grad_mode = aga_grad_mode;
  e->phase = PH_NEXT;
  for (int i = 0; i < n_roots; i++) {
    int nr;
    aga_node *n = root_node(roots[i], &nr);
    if (!n || (!n->visited && see(e, n))) goto fail;
  }
  if (discover(e, 0)) goto fail;
  if (n_inputs > 0) {
    e->n_inputs = n_inputs;
    e->inputs = calloc(n_inputs, sizeof(ag_tensor *));
    e->cap_node = calloc(n_inputs, sizeof(aga_node *));
    e->cap_nr = calloc(n_inputs, sizeof(int));
    e->captured = calloc(n_inputs, sizeof(ag_tensor *));
    if (!e->inputs || !e->cap_node || !e->cap_nr || !e->captured) { agt_fail("ag: out of memory"); goto fail; }
    for (int i = 0; i < n_inputs; i++) {
      ag_tensor *t = inputs[i];
      agt_retain(t);
      e->inputs[i] = t;
      aga_node *target = t->meta->grad_fn ? t->meta->grad_fn : t->meta->grad_acc;
      e->cap_nr[i] = t->meta->grad_fn ? t->meta->output_nr : 0;
      if (target && target->visited) e->cap_node[i] = target;
      else if (!allow_unused) {
        agt_fail("One of the differentiated Tensors appears to not have been used in the graph. "
                 "Set allow_unused=true if this is the desired behavior.");
        goto fail;
      }
    }
  }
  mark_needed(e);
  aga_grad_mode = create_graph;
  for (int i = 0; i < n_roots; i++) {
    int nr;
    aga_node *n = root_node(roots[i], &nr);
    ag_tensor *g = grads[i];
    ag_tensor *ones = NULL;
    if (!g) {
      if (agt_numel(roots[i]) != 1) { agt_fail("grad can be implicitly created only for scalar outputs"); goto fail; }
      ones = agt_full(roots[i]->ndim, roots[i]->sizes, 1, roots[i]->scalar_type);
      if (!ones) goto fail;
      g = ones;
    }
    int rc = aga_add_pending(n, nr, g);
    agt_release(ones);
    if (rc) goto fail;
  }
  for (int i = 0; i < n_roots; i++) {
    int nr;
    aga_node *n = root_node(roots[i], &nr);
    if (n->deps == 0 && n->visited == 1 && heap_push(e, n)) goto fail;
  }
  return e;
fail:
  aga_engine_free(e);
  return NULL;
}

/* ---- one node's work ---- */
static void capture(aga_engine *e, aga_node *n, int nr, ag_tensor *g) {
  for (int i = 0; i < e->n_inputs; i++) {
    if (e->cap_node[i] != n || e->cap_nr[i] != nr) continue;
    if (!e->captured[i]) { agt_retain(g); e->captured[i] = g; }
    else {
      ag_tensor *s = aga_binary(AG_OP_ADD, e->captured[i], g);
      if (s) { agt_release(e->captured[i]); e->captured[i] = s; }
    }
  }
}

static bool selected(aga_engine *e, ag_tensor *t) {
  if (!e->inputs) return true;
  for (int i = 0; i < e->n_inputs; i++) if (e->inputs[i] == t) return true;
  return false;
}

static int accumulate(aga_engine *e, ag_tensor *leaf, ag_tensor *g) {
  ag_meta *m = leaf->meta;
  if (!m->grad) {
    if (e->create_graph || (g->refcount == 1 && g->storage->refcount == 1 && agt_is_contiguous(g) &&
                            g->scalar_type == leaf->scalar_type && !(g->meta && g->meta->grad_fn))) {
      agt_retain(g);                                 /* steal: nothing else holds it */
      m->grad = g;
    } else {
      m->grad = agt_to_dtype(g, leaf->scalar_type);        /* a detached copy */
      if (!m->grad) return -1;
    }
    return 0;
  }
  if (e->create_graph) {
    ag_tensor *s = aga_binary(AG_OP_ADD, m->grad, g);
    if (!s) return -1;
    agt_release(m->grad);
    m->grad = s;
    return 0;
  }
  return agt_binary_(AG_OP_ADD, m->grad, g);
}

static int has_nan(ag_tensor *t) {
  if (!agt_is_float(t->scalar_type)) return 0;
  ag_tensor *m = agt_unary(AG_UOP_ISNAN, t);
  ag_tensor *a = m ? agt_reduce(AG_RED_ANY, m, 0, NULL, 0) : NULL;
  double v = 0;
  if (a) agt_item(a, &v);
  agt_release(m);
  agt_release(a);
  return v != 0;
}

static int fail_in_node(aga_node *n) {
  if (aga_anomaly_mode && n->trace) {
    char msg[2048];
    snprintf(msg, sizeof msg, "%s\n\nError detected in %s. Traceback of forward call that caused the error:\n%s",
             ag_last_error(), aga_node_name(n), n->trace);
    ag_set_error(msg);
  }
  return -1;
}

/* Fold gin[i] to input i's shape and dtype, then hand it to the next node. */
static int dispatch(aga_engine *e, aga_node *n) {
  char b1[256], b2[256];
  for (int i = 0; i < n->n_inputs; i++) {
    aga_node *next = n->next[i].node;
    ag_tensor *g = e->gin[i];
    e->gin[i] = NULL;
    if (!next) { agt_release(g); continue; }
    if (g) {
      const aga_input_meta *m = &n->in_meta[i];
      if (g->ndim != m->ndim || memcmp(g->sizes, m->sizes, m->ndim * sizeof(int64_t))) {
        ag_tensor *r = aga_sum_to_size(g, m->ndim, m->sizes);
        if (!r) {
          agt_fail("Function %s returned an invalid gradient at index %d - got %s but expected shape "
                   "compatible with %s", aga_node_name(n), i, AGT_SHAPE(g, b1), agt_shape_str(m->ndim, m->sizes, b2));
          agt_release(g);
          return -1;
        }
        agt_release(g);
        g = r;
      }
      if (g->scalar_type != m->scalar_type && agt_is_float(m->scalar_type)) {
        ag_tensor *r = aga_to_dtype(g, m->scalar_type);
        agt_release(g);
        if (!r) return -1;
        g = r;
      }
      int rc = aga_add_pending(next, n->next[i].input_nr, g);
      agt_release(g);
      if (rc) return -1;
    }
    if (--next->deps == 0 && next->visited == 1 && heap_push(e, next)) return -1;
  }
  return 0;
}

static void drop_grads(aga_node *n) {
  aga_lazy_free(n);
  if (!n->grads) return;
  for (int k = 0; k < n->n_outputs; k++) agt_release(n->grads[k]);
  free(n->grads);
  n->grads = NULL;
}

static int finish(aga_engine *e, int rc) {
  aga_grad_mode = e->saved_grad_mode;
  e->finished = 1;
  return rc;
}

int aga_engine_run(aga_engine *e) {
  if (e->finished) return agt_failc("ag: this backward pass has already finished");
  aga_grad_mode = e->create_graph;
  for (;;) {
    aga_node *n = e->cur;
    switch (e->phase) {
    case PH_NEXT:
      n = e->cur = heap_pop(e);
      if (!n) return finish(e, AGA_DONE);
      free(e->gin);
      e->gin = calloc(n->n_inputs ? n->n_inputs : 1, sizeof(ag_tensor *));
      if (!e->gin) return finish(e, agt_failc("ag: out of memory in the autograd engine"));
      e->hook_k = 0;
      if (n->lazy && aga_lazy_materialize(n)) return finish(e, -1);
      e->phase = n->needed && n->grads ? PH_PRE_HOOKS : PH_DISPATCH;
      break;
    case PH_PRE_HOOKS: {
      /* Lua hooks on the gradient of each output (or of the leaf) before the node runs */
      int k = e->hook_k;
      int id = 0;
      if (k < n->n_outputs) {
        if (n->kind == AGA_KIND(K_ACCUMULATE)) id = n->leaf->meta ? n->leaf->meta->hook_id : 0;
        else if (n->pre_hooks) id = n->pre_hooks[k];
      }
      if (k >= n->n_outputs) { e->phase = PH_NODE; break; }
      e->hook_k = k + 1;
      if (id && n->grads[k]) {
        e->pending_hook = id;
        e->n_pending = 1;
        e->pending = &n->grads[k];
        e->pending_tensor = n->leaf;
        return AGA_RUN_HOOK;
      }
      break;
    }
    case PH_NODE:
      for (int k = 0; k < n->n_outputs; k++) {
        if (!n->grads[k]) continue;
        if (n->retained && n->retained[k]) {
          ag_tensor *t = n->retained[k];
          if (!t->meta->grad) { agt_retain(n->grads[k]); t->meta->grad = n->grads[k]; }
          else {
            ag_tensor *s = aga_binary(AG_OP_ADD, t->meta->grad, n->grads[k]);
            if (!s) return finish(e, -1);
            agt_release(t->meta->grad);
            t->meta->grad = s;
          }
        }
        capture(e, n, k, n->grads[k]);
      }
      if (n->kind == AGA_KIND(K_ACCUMULATE)) {
        ag_tensor *leaf = n->leaf;
        if (e->accumulate && selected(e, leaf) && accumulate(e, leaf, n->grads[0])) return finish(e, -1);
        e->phase = PH_DISPATCH;
        if (e->accumulate && selected(e, leaf) && leaf->meta->post_hook_id) {
          e->pending_hook = leaf->meta->post_hook_id;
          e->n_pending = 0;
          e->pending_tensor = leaf;
          return AGA_RUN_POST_HOOK;
        }
        break;
      }
      if (n->kind == AGA_KIND(K_LUA)) {
        e->phase = PH_AFTER_LUA;
        e->n_pending = n->n_outputs;
        e->pending = n->grads;
        e->pending_hook = n->lua_id;
        return AGA_RUN_LUA_NODE;
      }
      if (n->kind->fn(n, n->grads, e->gin)) return finish(e, fail_in_node(n));
      /* fall through */
    case PH_AFTER_LUA:
      if (aga_anomaly_mode)
        for (int i = 0; i < n->n_inputs; i++)
          if (e->gin[i] && has_nan(e->gin[i])) {
            agt_failc("Function '%s' returned nan values in its %dth output.", aga_node_name(n), i);
            return finish(e, fail_in_node(n));
          }
      if (!e->retain_graph) aga_release_saved(n);
      e->phase = PH_DISPATCH;
      break;
    case PH_DISPATCH:
      if (dispatch(e, n)) return finish(e, -1);
      drop_grads(n);
      e->cur = NULL;
      e->phase = PH_NEXT;
      break;
    default:
      return finish(e, agt_failc("ag: engine in a bad state"));
    }
  }
}

aga_node *aga_engine_pending_node(aga_engine *e) { return e->cur; }
int aga_engine_pending_hook(aga_engine *e) { return e->pending_hook; }
ag_tensor *aga_engine_pending_tensor(aga_engine *e) { return e->pending_tensor; }
int aga_engine_num_pending(aga_engine *e) { return e->n_pending; }

ag_tensor *aga_engine_pending_grad(aga_engine *e, int i) {
  if (i < 0 || i >= e->n_pending || !e->pending[i]) return NULL;
  agt_retain(e->pending[i]);
  return e->pending[i];
}

/* Lua's answer: for a Lua node, the gradient for input i; for a hook, the replacement. */
int aga_engine_set_result(aga_engine *e, int i, ag_tensor *g) {
  char b1[256], b2[256];
  aga_node *n = e->cur;
  if (!n) return agt_failc("ag: no node is waiting for a result");
  if (e->phase == PH_AFTER_LUA) {
    if (i < 0 || i >= n->n_inputs) return agt_failc("ag: %s has %d inputs", aga_node_name(n), n->n_inputs);
    const aga_input_meta *m = &n->in_meta[i];
    if (g && (g->ndim != m->ndim || memcmp(g->sizes, m->sizes, m->ndim * sizeof(int64_t)))) {
      ag_tensor *probe = agt_sum_to_size(g, m->ndim, m->sizes);
      if (!probe)
        return agt_failc("Function %s returned an invalid gradient at index %d - got %s but expected "
                         "shape compatible with %s", aga_node_name(n), i + 1, AGT_SHAPE(g, b1),
                         agt_shape_str(m->ndim, m->sizes, b2));
      agt_release(probe);
    }
    agt_retain(g);
    agt_release(e->gin[i]);
    e->gin[i] = g;
    return 0;
  }
  if (i != 0 || e->n_pending != 1) return agt_failc("ag: no gradient is waiting for a hook result");
  if (g) {
    ag_tensor *old = e->pending[0];
    if (g->ndim != old->ndim || memcmp(g->sizes, old->sizes, old->ndim * sizeof(int64_t)))
      return agt_failc("hook returned a gradient of shape %s, but the gradient it replaces has shape %s",
                       AGT_SHAPE(g, b1), AGT_SHAPE(old, b2));
    agt_retain(g);
    agt_release(old);
    e->pending[0] = g;
  }
  return 0;
}

ag_tensor *aga_engine_captured(aga_engine *e, int i) {
  if (i < 0 || i >= e->n_inputs || !e->captured[i]) return NULL;
  agt_retain(e->captured[i]);
  return e->captured[i];
}

void aga_engine_free(aga_engine *e) {
  if (!e) return;
  aga_grad_mode = e->saved_grad_mode;
  for (int64_t k = 0; k < e->nseen; k++) {
    aga_node *n = e->seen[k];
    n->visited = 0;
    n->needed = 0;
    n->deps = 0;
    drop_grads(n);
  }
  if (e->gin && e->cur) for (int i = 0; i < e->cur->n_inputs; i++) agt_release(e->gin[i]);
  free(e->gin);
  for (int i = 0; i < e->n_inputs; i++) { agt_release(e->inputs[i]); agt_release(e->captured[i]); }
  free(e->inputs); free(e->cap_node); free(e->cap_nr); free(e->captured);
  for (int64_t k = 0; k < e->nseen; k++) aga_node_release(e->seen[k]);
  free(e->seen);
  free(e->heap);
  free(e);
}
