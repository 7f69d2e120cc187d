/* slice_assign.c: `t[spec] = v` with gradients, PyTorch's CopySlices for ag's setter.
 * aga_slice_assign_(t, view, src) writes src (broadcast, cast) into `view`, a region of t
 * (a view of t's storage), and gives t itself the new history: a CopySlices node whose
 * gradient for t's old value is the incoming gradient with the region zeroed, and for src
 * the region of the incoming gradient. So `out[{{}, k}] = h` in a loop leaves `out`
 * differentiable with respect to every h, as in PyTorch. The region's geometry (relative to
 * t, which must be contiguous) is saved as a small int64 tensor. First-order only: a second
 * derivative through it is an error. An in-place op on a view of a non-leaf (record.h's
 * rebase) lands here too, with the base as t: PyTorch's CopySlices for in-place views. */
#include "record.h"
#include "formula.h"
#include "ag_index_grad.h"

static int f_slice_assign(aga_node *n, ag_tensor **gout, ag_tensor **gin);
static const aga_kind_info K_SLICE_ASSIGN = {"CopySlices", f_slice_assign};

/* the region inside a contiguous tensor laid out like t: [ndim, offset delta, sizes, strides] */
static ag_tensor *region(ag_tensor *t, const ag_tensor *geom) {
  const int64_t *q = (const int64_t *)agt_ptr((ag_tensor *)geom);
  int nd = (int)q[0];
  return agt_as_strided(t, nd, q + 2, q + 2 + nd, t->offset + q[1]);
}

static ag_tensor *geometry(const ag_tensor *t, const ag_tensor *view) {
  int nd = view->ndim;
  ag_tensor *geom = agt_new_contig(1, (int64_t[]){2 + 2 * (int64_t)nd}, AG_INT64);
  if (!geom) return NULL;
  int64_t *q = (int64_t *)agt_ptr(geom);
  q[0] = nd;
  q[1] = view->offset - t->offset;
  for (int i = 0; i < nd; i++) { q[2 + i] = view->sizes[i]; q[2 + nd + i] = view->strides[i]; }
  return geom;
}

int aga_slice_assign_(ag_tensor *t, ag_tensor *view, ag_tensor *src) {
  if (!t || !view || !src) return agt_failc("ag.index_assign: missing tensor");
  /* t a view of a non-leaf: the write goes to that base's history (t itself is then stale) */
  ag_tensor *vb = t->meta ? t->meta->view_base : NULL;
  if (vb && aga_grad_mode && vb->meta && vb->meta->grad_fn && agt_is_contiguous(vb)) t = vb;
  if (view->storage != t->storage || view->offset < t->offset || view->scalar_type != t->scalar_type ||
      !agt_is_contiguous(t))
    return agt_failc("ag.index_assign: the region must be a view of a contiguous tensor");
  bool rec = aga_grad_mode && agt_is_float(t->scalar_type) && (aga_req(t) || aga_req(src));
  if (rec) {
    if (aga_check_inplace(t, "index_assign")) return -1;
    /* t itself a slice of a larger tensor: that tensor's history would miss the write */
    if (!aga_req(t) && aga_partial_view(t))
      return agt_failc("a value that requires grad is being written into a slice of a tensor that does not "
                       "require grad; ag cannot yet route the gradient through the whole tensor (PyTorch's "
                       "CopySlices), so it would be lost. Collect the pieces and use ag.stack / ag.cat instead.");
  }
  ag_tensor *geom = rec ? geometry(t, view) : NULL;
  if (rec && !geom) return -1;
  /* the node takes t's old history as its first input before the write changes it */
  aga_node *n = rec ? aga_node_new(&K_SLICE_ASSIGN, 2, (ag_tensor *[]){t, src}, 1) : NULL;
  if (rec && (!n || aga_save(n, 0, geom, 0))) {
    if (n) aga_node_release(n);
    agt_release(geom);
    return -1;
  }
  agt_release(geom);
  int rc = agt_copy_(view, src);
  if (!rc && n) rc = aga_set_history(t, n, 0);
  if (n) aga_node_release(n);
  /* count the write: views of t made before it no longer match (aga_view_stale) */
  if (!rc && n) t->meta->view_written = (uint8_t)((t->meta->view_written + 1) % 255);
  return rc;
}

static int f_slice_assign(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  if (aga_grad_mode)
    return agt_failc("ag: a second derivative through t[...] = v (CopySlices) is not supported; "
                     "build the tensor with ag.stack / ag.cat to differentiate twice");
  scope S = {.n = 0};
  scope *s = &S;
  ag_tensor *g = gout[0], *geom = saved(s, n, 0);
  ag_tensor *gc = geom ? track(s, agt_clone(g)) : NULL;   /* contiguous, ours to modify */
  if (gc && needs(n, 1)) {
    ag_tensor *r = track(s, region(gc, geom));
    SET(1, r ? track(s, agt_clone(r)) : NULL);   /* a copy: the region of gc is zeroed next */
  }
  if (gc && needs(n, 0)) {
    ag_tensor *r = track(s, region(gc, geom));
    if (!r || agt_fill_(r, 0)) S.failed = 1;
    else SET(0, gc);
  }
  if (!gc) S.failed = 1;
  return done(s);
}
