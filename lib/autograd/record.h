/* record.h: how an op records itself, shared by every file that defines differentiable
 * ops: make a node with edges to the inputs, save tensors, attach it to the output. */
#ifndef AG_AUTOGRAD_RECORD_H
#define AG_AUTOGRAD_RECORD_H
#include "internal.h"
#include "ag_index_grad.h"

/* Attach node n as out's grad_fn and drop the creator's reference. */
static inline ag_tensor *finish(ag_tensor *out, aga_node *n) {
  if (!n) { agt_release(out); return NULL; }
  if (aga_set_history(out, n, 0)) { agt_release(out); out = NULL; }
  aga_node_release(n);
  return out;
}

static inline aga_node *node1(int kind, ag_tensor *a) { return aga_node_new(AGA_KIND(kind), 1, &a, 1); }
static inline aga_node *node2(int kind, ag_tensor *a, ag_tensor *b) {
  return aga_node_new(AGA_KIND(kind), 2, (ag_tensor *[]){a, b}, 1);
}

/* Save up to three tensors (NULL skips); returns n, or NULL after releasing it. */
static inline aga_node *keep(aga_node *n, ag_tensor *s0, int out0, ag_tensor *s1, int out1, ag_tensor *s2, int out2) {
  if (!n) return NULL;
  if ((s0 && aga_save(n, 0, s0, out0)) || (s1 && aga_save(n, 1, s1, out1)) || (s2 && aga_save(n, 2, s2, out2))) {
    aga_node_release(n);
    return NULL;
  }
  return n;
}
/* t covers only part of its storage: a slice of some larger tensor */
static inline bool aga_partial_view(const ag_tensor *t) {
  return t->offset != 0 || agt_numel((ag_tensor *)t) * agt_dtype_size(t->scalar_type) < t->storage->nbytes;
}
/* Make `result` the new value and history of t: how a recorded in-place op lands.
 * Writing a value that requires grad into a slice of a tensor that does not (Torch7's
 * `out[{{}, t}] = h`) would give the slice a history but not the tensor it belongs to
 * (PyTorch's CopySlices, which ag lacks): refused, before anything is written. */
static inline int rebase(ag_tensor *t, ag_tensor *result) {
  if (aga_grad_mode && !aga_req(t) && aga_req(result) && aga_partial_view(t)) {
    agt_release(result);
    return agt_failc("a value that requires grad is being written in place into a slice of a tensor that does "
                     "not require grad; ag cannot yet route the gradient through the whole tensor (PyTorch's "
                     "CopySlices), so it would be lost. Collect the pieces and use ag.stack / ag.cat, or "
                     "index_put / index_add out of place, instead.");
  }
  ag_tensor *base = t->meta ? t->meta->view_base : NULL;
  int rc;
  if (base && aga_grad_mode && base->meta && base->meta->grad_fn && agt_is_contiguous(base)) {
    /* a view of a non-leaf: the base takes the write as CopySlices (PyTorch's), the view
     * keeps the op's own history; views of the base made before this are now stale */
    rc = aga_slice_assign_(base, t, result);
    if (!rc) t->meta->view_written = base->meta->view_written;
  } else {
    if (base && aga_grad_mode && base->meta && base->meta->grad_fn) base->meta->view_written = 255;
    rc = agt_copy_(t, result);
  }
  if (!rc && result->meta && result->meta->grad_fn) {
    rc = aga_set_history(t, result->meta->grad_fn, 0);
    /* a write to a base itself: views taken from it before now read new values through an
     * old history (PyTorch regenerates them); count it so using them is refused */
    if (!rc && !base) t->meta->view_written = (uint8_t)((t->meta->view_written + 1) % 255);
  }
  agt_release(result);
  return rc;
}
/* A 2-D operand stored transposed (column-major), as w:t() in linear layers: mm and addmm
 * remember it so each gradient comes out in its input's own layout (contiguous for the
 * weight once the transpose's backward has run, no copy on accumulation). */
static inline bool aga_col_major(const ag_tensor *t) {
  return t->ndim == 2 && t->strides[0] == 1 && t->strides[1] == t->sizes[0] && t->sizes[0] > 1;
}

#endif
