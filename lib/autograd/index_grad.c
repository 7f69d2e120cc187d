/* index_grad.c: the shape and indexing ops as differentiable ops (ag_index_grad.h), and
 * their backward formulas in one registry at the bottom, as formulas.c is for the core.
 *
 * The formulas are PyTorch's: gather <-> scatter_add, index_select <-> index_add,
 * masked_select <-> masked_scatter, cat -> narrow, stack -> select, split -> cat,
 * unbind -> stack, flip -> flip, roll -> roll back, tril/triu -> tril/triu,
 * diagonal <-> diagonal_backward, constant pad -> pad with the negated pads, reflect and
 * replicate pads -> index_add per dim, repeat -> sums over the tiles, and embedding ->
 * embedding_backward (an index_add of rows into zeros, padding_idx left out). Each is
 * written with aga_ ops, so create_graph records them. */
#include "formula.h"
#include "record.h"
#include "ag_index_grad.h"
#include <stdlib.h>
#include <string.h>

/* ---------------- node kinds (formulas below) ---------------- */
static int f_index_select(aga_node *, ag_tensor **, ag_tensor **);
static int f_gather(aga_node *, ag_tensor **, ag_tensor **);
static int f_scatter(aga_node *, ag_tensor **, ag_tensor **);
static int f_scatter_add(aga_node *, ag_tensor **, ag_tensor **);
static int f_index_add(aga_node *, ag_tensor **, ag_tensor **);
static int f_embedding(aga_node *, ag_tensor **, ag_tensor **);
static int f_embedding_bw(aga_node *, ag_tensor **, ag_tensor **);
static int f_masked_fill(aga_node *, ag_tensor **, ag_tensor **);
static int f_masked_select(aga_node *, ag_tensor **, ag_tensor **);
static int f_masked_scatter(aga_node *, ag_tensor **, ag_tensor **);
static int f_cat(aga_node *, ag_tensor **, ag_tensor **);
static int f_stack(aga_node *, ag_tensor **, ag_tensor **);
static int f_split(aga_node *, ag_tensor **, ag_tensor **);
static int f_unbind(aga_node *, ag_tensor **, ag_tensor **);
static int f_flip(aga_node *, ag_tensor **, ag_tensor **);
static int f_roll(aga_node *, ag_tensor **, ag_tensor **);
static int f_repeat(aga_node *, ag_tensor **, ag_tensor **);
static int f_tril(aga_node *, ag_tensor **, ag_tensor **);
static int f_diag(aga_node *, ag_tensor **, ag_tensor **);
static int f_diagonal(aga_node *, ag_tensor **, ag_tensor **);
static int f_diagonal_bw(aga_node *, ag_tensor **, ag_tensor **);
static int f_pad_constant(aga_node *, ag_tensor **, ag_tensor **);
static int f_pad_index(aga_node *, ag_tensor **, ag_tensor **);

static const aga_kind_info
  K_INDEX_SELECT = {"IndexSelectBackward0", f_index_select}, K_GATHER = {"GatherBackward0", f_gather},
  K_SCATTER = {"ScatterBackward0", f_scatter}, K_SCATTER_VALUE = {"ScatterBackward1", f_scatter},
  K_SCATTER_ADD = {"ScatterAddBackward0", f_scatter_add}, K_INDEX_ADD = {"IndexAddBackward0", f_index_add},
  K_EMBEDDING = {"EmbeddingBackward0", f_embedding},
  K_EMBEDDING_BW = {"EmbeddingDenseBackwardBackward0", f_embedding_bw},
  K_MASKED_FILL = {"MaskedFillBackward0", f_masked_fill},
  K_MASKED_SELECT = {"MaskedSelectBackward0", f_masked_select},
  K_MASKED_SCATTER = {"MaskedScatterBackward0", f_masked_scatter},
  K_CAT = {"CatBackward0", f_cat}, K_STACK = {"StackBackward0", f_stack},
  K_SPLIT = {"SplitBackward0", f_split}, K_SPLIT_SIZES = {"SplitWithSizesBackward0", f_split},
  K_UNBIND = {"UnbindBackward0", f_unbind}, K_FLIP = {"FlipBackward0", f_flip},
  K_ROLL = {"RollBackward0", f_roll}, K_REPEAT = {"RepeatBackward0", f_repeat},
  K_TRIL = {"TrilBackward0", f_tril}, K_TRIU = {"TriuBackward0", f_tril},
  K_DIAG = {"DiagBackward0", f_diag}, K_DIAGONAL = {"DiagonalBackward0", f_diagonal},
  K_DIAGONAL_BW = {"DiagonalBackwardBackward0", f_diagonal_bw},
  K_PAD_CONSTANT = {"ConstantPadNdBackward0", f_pad_constant};
/* [mode - 1][padded dims - 1]; more than 3 dims use the last entry's name */
static const aga_kind_info K_PAD[3][4] = {
  {{"ReflectionPad1DBackward0", f_pad_index}, {"ReflectionPad2DBackward0", f_pad_index},
   {"ReflectionPad3DBackward0", f_pad_index}, {"ReflectionPadBackward0", f_pad_index}},
  {{"ReplicationPad1DBackward0", f_pad_index}, {"ReplicationPad2DBackward0", f_pad_index},
   {"ReplicationPad3DBackward0", f_pad_index}, {"ReplicationPadBackward0", f_pad_index}},
  {{"CircularPad1DBackward0", f_pad_index}, {"CircularPad2DBackward0", f_pad_index},
   {"CircularPad3DBackward0", f_pad_index}, {"CircularPadBackward0", f_pad_index}},
};

/* ---------------- recording helpers ---------------- */
static bool floating(const ag_tensor *t) { return agt_is_float(t->scalar_type); }

/* Save t in slot (not an output); NULL after releasing n on failure. */
static aga_node *with_saved(aga_node *n, int slot, ag_tensor *t) {
  if (!n || !t) return n;
  if (aga_save(n, slot, t, 0)) { aga_node_release(n); return NULL; }
  return n;
}

static aga_node *node_of(const aga_kind_info *k, int nin, ag_tensor **ins, int nout) {
  return aga_node_new(k, nin, ins, nout);
}

/* An output that is a view of a tensor requiring grad remembers its base, for the in-place
 * check, as ops.c's views do. */
static int mark_view(ag_tensor *out, ag_tensor *a) {
  if (a->meta && a->meta->requires_grad && out->meta) {
    ag_tensor *base = a->meta->view_base ? a->meta->view_base : a;
    agt_retain(base);
    agt_release(out->meta->view_base);
    out->meta->view_base = base;
    out->meta->view_written = base->meta->view_written;
  }
  return 0;
}


static int norm_dim(int dim, int ndim) { return agt_normalize_dim("", dim, ndim); }

/* ---------------- index_select / gather / scatter / index_add ---------------- */
ag_tensor *aga_index_select(ag_tensor *a, int dim, ag_tensor *index) {
  ag_tensor *out = agt_index_select(a, dim, index);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  aga_node *n = with_saved(node_of(&K_INDEX_SELECT, 1, &a, 1), 0, index);
  if (n) n->i[0] = norm_dim(dim, a->ndim);
  return finish(out, n);
}

ag_tensor *aga_gather(ag_tensor *a, int dim, ag_tensor *index) {
  ag_tensor *out = agt_gather(a, dim, index);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  aga_node *n = with_saved(node_of(&K_GATHER, 1, &a, 1), 0, index);
  if (n) n->i[0] = norm_dim(dim, a->ndim);
  return finish(out, n);
}

ag_tensor *aga_scatter(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce) {
  ag_tensor *out = agt_scatter(a, dim, index, src, value, reduce);
  if (!out || !(aga_should_record(a) || (src && aga_should_record(src))) || !floating(out)) return out;
  if (reduce == AG_SCATTER_MULTIPLY) {
    agt_release(out);
    return agt_fail("ag.scatter: the derivative of scatter with reduce='multiply' is not implemented; "
                    "compute it under ag.no_grad, or use inputs that do not require grad");
  }
  const aga_kind_info *k = reduce == AG_SCATTER_ADD ? &K_SCATTER_ADD : src ? &K_SCATTER : &K_SCATTER_VALUE;
  aga_node *n = with_saved(src ? node_of(k, 2, (ag_tensor *[]){a, src}, 1) : node_of(k, 1, &a, 1), 0, index);
  if (n) n->i[0] = norm_dim(dim, a->ndim);
  return finish(out, n);
}

int aga_scatter_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce) {
  const char *op = reduce == AG_SCATTER_ADD ? "scatter_add_" : "scatter_";
  if (aga_check_inplace(a, op)) return -1;
  if (!aga_grad_mode || !(aga_req(a) || (src && aga_req(src)))) return agt_scatter_(a, dim, index, src, value, reduce);
  ag_tensor *r = aga_scatter(a, dim, index, src, value, reduce);
  return r ? rebase(a, r) : -1;
}

ag_tensor *aga_index_add(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha) {
  ag_tensor *out = agt_index_add(a, dim, index, src, alpha);
  if (!out || !(aga_should_record(a) || aga_should_record(src)) || !floating(out)) return out;
  aga_node *n = with_saved(node_of(&K_INDEX_ADD, 2, (ag_tensor *[]){a, src}, 1), 0, index);
  if (n) { n->i[0] = norm_dim(dim, a->ndim); n->d[0] = alpha; }
  return finish(out, n);
}

int aga_index_add_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha) {
  if (aga_check_inplace(a, "index_add_")) return -1;
  if (!aga_grad_mode || !(aga_req(a) || aga_req(src))) return agt_index_add_(a, dim, index, src, alpha);
  ag_tensor *r = aga_index_add(a, dim, index, src, alpha);
  return r ? rebase(a, r) : -1;
}

/* ---------------- embedding ---------------- */
static int check_padding_idx(int64_t *padding_idx, int64_t V) {
  int64_t p = *padding_idx;
  if (p == 0) return 0;
  if (p < 0) p += V + 1;
  if (p < 1 || p > V)
    return agt_failc("ag.embedding: padding_idx %lld is out of range for %lld embeddings (1-based; "
                     "negative counts from the end)", (long long)*padding_idx, (long long)V);
  *padding_idx = p;
  return 0;
}

ag_tensor *aga_embedding(ag_tensor *w, ag_tensor *indices, int64_t padding_idx, int scale) {
  ag_tensor *out = agt_embedding(w, indices);
  if (!out) return NULL;
  if (check_padding_idx(&padding_idx, w->sizes[0])) { agt_release(out); return NULL; }
  if (!aga_should_record(w) || !floating(out)) return out;
  aga_node *n = with_saved(node_of(&K_EMBEDDING, 1, &w, 1), 0, indices);
  if (n) { n->i[0] = w->sizes[0]; n->i[1] = padding_idx; n->i[2] = scale; }
  return finish(out, n);
}

ag_tensor *aga_embedding_backward(ag_tensor *g, ag_tensor *indices, int64_t V, int64_t padding_idx, int scale) {
  if (check_padding_idx(&padding_idx, V)) return NULL;
  ag_tensor *out = agt_embedding_backward(g, indices, V, padding_idx, scale);
  if (!out || !aga_should_record(g)) return out;
  aga_node *n = with_saved(node_of(&K_EMBEDDING_BW, 1, &g, 1), 0, indices);
  if (n) { n->i[0] = V; n->i[1] = padding_idx; n->i[2] = scale; }
  return finish(out, n);
}

/* ---------------- masks ---------------- */
ag_tensor *aga_masked_fill(ag_tensor *a, ag_tensor *mask, double value) {
  ag_tensor *out = agt_masked_fill(a, mask, value);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  return finish(out, with_saved(node_of(&K_MASKED_FILL, 1, &a, 1), 0, mask));
}

int aga_masked_fill_(ag_tensor *a, ag_tensor *mask, double value) {
  char b1[256], b2[256];
  if (aga_check_inplace(a, "masked_fill_")) return -1;
  if (!aga_grad_mode || !aga_req(a)) return agt_masked_fill_(a, mask, value);
  ag_tensor *r = aga_masked_fill(a, mask, value);
  if (!r) return -1;
  if (r->ndim != a->ndim || memcmp(r->sizes, a->sizes, a->ndim * sizeof(int64_t))) {
    agt_release(r);
    return agt_failc("ag.masked_fill_: a mask of shape %s does not broadcast to the tensor's shape %s "
                     "(use the out-of-place masked_fill to broadcast both)", AGT_SHAPE(mask, b1), AGT_SHAPE(a, b2));
  }
  return rebase(a, r);
}

ag_tensor *aga_masked_select(ag_tensor *a, ag_tensor *mask) {
  ag_tensor *out = agt_masked_select(a, mask);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  return finish(out, with_saved(node_of(&K_MASKED_SELECT, 1, &a, 1), 0, mask));
}

ag_tensor *aga_masked_scatter(ag_tensor *a, ag_tensor *mask, ag_tensor *src) {
  ag_tensor *out = agt_masked_scatter(a, mask, src);
  if (!out || !(aga_should_record(a) || aga_should_record(src)) || !floating(out)) return out;
  return finish(out, with_saved(node_of(&K_MASKED_SCATTER, 2, (ag_tensor *[]){a, src}, 1), 0, mask));
}

/* ---------------- cat / stack / split / unbind ---------------- */
static bool any_records(int n, ag_tensor **ts) {
  for (int i = 0; i < n; i++) if (aga_should_record(ts[i])) return true;
  return false;
}

ag_tensor *aga_cat(int n, ag_tensor **ts, int dim) {
  ag_tensor *out = agt_cat(n, ts, dim);
  if (!out || !any_records(n, ts) || !floating(out)) return out;
  aga_node *node = node_of(&K_CAT, n, ts, 1);
  int d = norm_dim(dim, out->ndim);
  if (node) node->i[0] = d < 0 ? 0 : d;        /* d < 0: only [0]-shaped inputs */
  return finish(out, node);
}

ag_tensor *aga_stack(int n, ag_tensor **ts, int dim) {
  ag_tensor *out = agt_stack(n, ts, dim);
  if (!out || !any_records(n, ts) || !floating(out)) return out;
  aga_node *node = node_of(&K_STACK, n, ts, 1);
  if (node) node->i[0] = norm_dim(dim, out->ndim);
  return finish(out, node);
}

/* Give outs[0..n-1] node's outputs 0..n-1 as history (they are views of a); releases node. */
static int multi_history(aga_node *node, ag_tensor *a, int n, ag_tensor **outs) {
  int rc = node ? 0 : -1;
  for (int k = 0; k < n && !rc; k++) rc = aga_set_history(outs[k], node, k) || mark_view(outs[k], a);
  aga_node_release(node);
  if (rc) for (int k = 0; k < n; k++) { agt_release(outs[k]); outs[k] = NULL; }
  return rc;
}

int aga_split_with_sizes(ag_tensor *a, int dim, int n, const int64_t *sizes, ag_tensor **outs, int uniform) {
  if (agt_split_with_sizes(a, dim, n, sizes, outs)) return -1;
  if (!aga_should_record(a) || !floating(a) || n == 0) return 0;
  int d = norm_dim(dim, a->ndim);
  if (!uniform && n > AG_MAX_DIMS) {          /* too many sizes to keep: one narrow per piece */
    int64_t at = 1;
    for (int k = 0; k < n; k++) {
      agt_release(outs[k]);
      outs[k] = aga_narrow(a, d + 1, at, sizes[k]);
      at += sizes[k];
      if (!outs[k]) { while (k-- > 0) { agt_release(outs[k]); outs[k] = NULL; } return -1; }
    }
    return 0;
  }
  aga_node *node = node_of(uniform ? &K_SPLIT : &K_SPLIT_SIZES, 1, &a, n);
  if (node) {
    node->i[0] = d;
    if (uniform) node->i[1] = sizes[0];
    else for (int k = 0; k < n; k++) node->i[1 + k] = sizes[k];
  }
  return multi_history(node, a, n, outs);
}

int aga_unbind(ag_tensor *a, int dim, ag_tensor **outs) {
  if (agt_unbind(a, dim, outs)) return -1;
  int d = norm_dim(dim, a->ndim);
  int n = (int)a->sizes[d];
  if (!aga_should_record(a) || !floating(a) || n == 0) return 0;
  aga_node *node = node_of(&K_UNBIND, 1, &a, n);
  if (node) node->i[0] = d;
  return multi_history(node, a, n, outs);
}

/* ---------------- flip / roll / repeat ---------------- */
ag_tensor *aga_flip(ag_tensor *a, int ndims, const int64_t *dims) {
  ag_tensor *out = agt_flip(a, ndims, dims);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  aga_node *n = node_of(&K_FLIP, 1, &a, 1);
  if (n) {
    n->i[0] = ndims;
    for (int k = 0; k < ndims; k++) n->i[1 + k] = norm_dim((int)dims[k], a->ndim) + 1;
  }
  return finish(out, n);
}

ag_tensor *aga_roll(ag_tensor *a, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims) {
  if (ndims > 8 && nshifts == ndims && aga_should_record(a)) {   /* keep each node's list short */
    ag_tensor *first = aga_roll(a, 8, shifts, 8, dims);
    ag_tensor *out = first ? aga_roll(first, nshifts - 8, shifts + 8, ndims - 8, dims + 8) : NULL;
    agt_release(first);
    return out;
  }
  ag_tensor *out = agt_roll(a, nshifts, shifts, ndims, dims);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  aga_node *n = node_of(&K_ROLL, 1, &a, 1);
  if (n) {
    n->i[0] = ndims;
    if (ndims == 0) n->i[1] = shifts[0];
    for (int k = 0; k < ndims; k++) { n->i[1 + k] = dims[k]; n->i[1 + ndims + k] = shifts[k]; }
  }
  return finish(out, n);
}

ag_tensor *aga_repeat(ag_tensor *a, int nrep, const int64_t *reps) {
  ag_tensor *out = agt_repeat(a, nrep, reps);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  if (nrep >= AG_MAX_DIMS) {
    agt_release(out);
    return agt_fail("ag.repeat: the gradient of a repeat over %d dims is not supported (at most %d)", nrep,
                    AG_MAX_DIMS - 1);
  }
  aga_node *n = node_of(&K_REPEAT, 1, &a, 1);
  if (n) { n->i[0] = nrep; for (int k = 0; k < nrep; k++) n->i[1 + k] = reps[k]; }
  return finish(out, n);
}

/* ---------------- triangles and diagonals ---------------- */
ag_tensor *aga_tril(ag_tensor *a, int64_t k, int upper) {
  ag_tensor *out = agt_tril(a, k, upper);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  aga_node *n = node_of(upper ? &K_TRIU : &K_TRIL, 1, &a, 1);
  if (n) { n->i[0] = k; n->i[1] = upper; }
  return finish(out, n);
}

ag_tensor *aga_diag(ag_tensor *a, int64_t k) {
  ag_tensor *out = agt_diag(a, k);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  aga_node *n = node_of(&K_DIAG, 1, &a, 1);
  if (n) n->i[0] = k;
  return finish(out, n);
}

ag_tensor *aga_diagonal(ag_tensor *a, int64_t offset, int dim1, int dim2) {
  ag_tensor *out = agt_diagonal(a, offset, dim1, dim2);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  aga_node *n = node_of(&K_DIAGONAL, 1, &a, 1);
  if (n) { n->i[0] = offset; n->i[1] = norm_dim(dim1, a->ndim) + 1; n->i[2] = norm_dim(dim2, a->ndim) + 1; }
  out = finish(out, n);
  if (out) mark_view(out, a);
  return out;
}

ag_tensor *aga_diagonal_backward(ag_tensor *g, int ndim, const int64_t *sizes, int64_t offset, int dim1, int dim2) {
  ag_tensor *out = agt_diagonal_backward(g, ndim, sizes, offset, dim1, dim2);
  if (!out || !aga_should_record(g) || !floating(out)) return out;
  aga_node *n = node_of(&K_DIAGONAL_BW, 1, &g, 1);
  if (n) { n->i[0] = offset; n->i[1] = dim1; n->i[2] = dim2; }
  return finish(out, n);
}

/* ---------------- pad ---------------- */
ag_tensor *aga_pad(ag_tensor *a, int npad, const int64_t *pads, int mode, double value) {
  ag_tensor *out = agt_pad(a, npad, pads, mode, value);
  if (!out || !aga_should_record(a) || !floating(out)) return out;
  int keep = npad;                       /* trailing zero pairs pad nothing */
  while (keep >= 2 && pads[keep - 1] == 0 && pads[keep - 2] == 0) keep -= 2;
  if (keep > AG_MAX_DIMS) {
    agt_release(out);
    return agt_fail("ag.pad: the gradient of a pad over %d dims is not supported (at most %d)", keep / 2,
                    AG_MAX_DIMS / 2);
  }
  int nd = npad / 2 < 4 ? npad / 2 : 4;
  const aga_kind_info *k = mode == AG_PAD_CONSTANT ? &K_PAD_CONSTANT : &K_PAD[mode - 1][nd > 0 ? nd - 1 : 0];
  aga_node *n = node_of(k, 1, &a, 1);
  if (n) {
    n->i[0] = keep;
    for (int j = 0; j < keep; j++) n->i[1 + j] = pads[j];
    n->d[0] = mode;
  }
  return finish(out, n);
}

/* ================= backward formulas ================= */
/* zeros shaped as input i, in g's dtype */
static ag_tensor *zeros_for(scope *s, aga_node *n, int i, ag_tensor *g) {
  return g ? track(s, agt_full(n->in_meta[i].ndim, n->in_meta[i].sizes, 0, g->scalar_type)) : NULL;
}

/* a tensor of shape t's, but m's sizes: t padded with zeros at the end of each dim */
static ag_tensor *pad_to(scope *s, ag_tensor *t, const aga_input_meta *m) {
  if (!t) return NULL;
  if (t->ndim != m->ndim) return reshape_to(s, t, m);
  int64_t pads[2 * AG_MAX_DIMS];
  bool same = true;
  for (int k = 0; k < t->ndim; k++) {
    int d = t->ndim - 1 - k;
    pads[2 * k] = 0;
    pads[2 * k + 1] = m->sizes[d] - t->sizes[d];
    if (pads[2 * k + 1]) same = false;
  }
  return same ? t : track(s, aga_pad(t, 2 * t->ndim, pads, AG_PAD_CONSTANT, 0));
}

/* zeros of input 0's shape with g added in at idx along dim: by index_add (rows) or
 * scatter_add (elements); in place on the fresh zeros unless the call must record */
static ag_tensor *add_into_zeros(scope *s, aga_node *n, ag_tensor *g, ag_tensor *idx, bool rows) {
  ag_tensor *z = zeros_for(s, n, 0, g);
  int dim = (int)n->i[0] + 1;
  if (!z || !idx) return NULL;
  if (aga_should_record(g))
    return track(s, rows ? aga_index_add(z, dim, idx, g, 1.0) : aga_scatter(z, dim, idx, g, 0, AG_SCATTER_ADD));
  int rc = rows ? agt_index_add_(z, dim, idx, g, 1.0) : agt_scatter_(z, dim, idx, g, 0, AG_SCATTER_ADD);
  if (rc) { s->failed = 1; return NULL; }
  return z;
}

static int f_index_select(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  SET(0, add_into_zeros(s, n, g, saved(s, n, 0), true));
  END;
}

static int f_gather(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  SET(0, add_into_zeros(s, n, g, saved(s, n, 0), false));
  END;
}

static int f_scatter(aga_node *n, ag_tensor **gout, ag_tensor **gin) {   /* ScatterBackward0/1 */
  BEGIN;
  int d = (int)n->i[0] + 1;
  ag_tensor *idx = saved(s, n, 0);
  SET(0, idx ? track(s, aga_scatter(g, d, idx, NULL, 0, AG_SCATTER_REPLACE)) : NULL);
  if (n->n_inputs > 1) SET(1, pad_to(s, idx ? track(s, aga_gather(g, d, idx)) : NULL, &n->in_meta[1]));
  END;
}

static int f_scatter_add(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  ag_tensor *idx = saved(s, n, 0);
  SET(0, g);
  if (n->n_inputs > 1) SET(1, pad_to(s, idx ? track(s, aga_gather(g, (int)n->i[0] + 1, idx)) : NULL, &n->in_meta[1]));
  END;
}

static int f_index_add(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  ag_tensor *idx = saved(s, n, 0);
  SET(0, g);
  if (needs(n, 1)) {
    ag_tensor *r = idx ? track(s, aga_index_select(g, (int)n->i[0] + 1, idx)) : NULL;
    if (n->d[0] != 1) r = muls(s, r, n->d[0]);
    SET(1, r);
  }
  END;
}

static int f_embedding(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  ag_tensor *idx = saved(s, n, 0);
  SET(0, idx ? track(s, aga_embedding_backward(g, idx, n->i[0], n->i[1], (int)n->i[2])) : NULL);
  END;
}

static int f_embedding_bw(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  ag_tensor *idx = saved(s, n, 0);
  ag_tensor *r = idx ? track(s, aga_embedding(g, idx, 0, 0)) : NULL;
  if (n->i[1] || n->i[2])
    r = mul(s, r, idx ? track(s, agt_embedding_row_scale(idx, n->i[0], n->i[1], (int)n->i[2], g->scalar_type)) : NULL);
  SET(0, r);
  END;
}

static int f_masked_fill(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  ag_tensor *mask = saved(s, n, 0);
  SET(0, mask ? track(s, aga_masked_fill(g, mask, 0)) : NULL);
  END;
}

static int f_masked_select(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  ag_tensor *mask = saved(s, n, 0), *z = NULL;
  if (mask) {
    int nd;
    int64_t shape[AG_MAX_DIMS];
    ag_tensor probe = {.ndim = n->in_meta[0].ndim};
    memcpy(probe.sizes, n->in_meta[0].sizes, sizeof probe.sizes);
    if (!agt_broadcast_shape("masked_select", &probe, mask, &nd, shape)) z = track(s, agt_full(nd, shape, 0, g->scalar_type));
    else S.failed = 1;
  }
  SET(0, z ? track(s, aga_masked_scatter(z, mask, g)) : NULL);
  END;
}

static int f_masked_scatter(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  ag_tensor *mask = saved(s, n, 0);
  SET(0, mask ? track(s, aga_masked_fill(g, mask, 0)) : NULL);
  if (needs(n, 1)) {
    const aga_input_meta *m = &n->in_meta[1];
    ag_tensor *sel = mask ? track(s, aga_masked_select(g, mask)) : NULL;
    int64_t total = 1;
    for (int k = 0; k < m->ndim; k++) total *= m->sizes[k];
    if (sel && sel->sizes[0] < total)
      sel = track(s, aga_pad(sel, 2, (int64_t[]){0, total - sel->sizes[0]}, AG_PAD_CONSTANT, 0));
    SET(1, reshape_to(s, sel, m));
  }
  END;
}

/* cat and stack can have many inputs: results go straight to gin, no scope */
static int f_cat(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  ag_tensor *g = gout[0];
  int d = (int)n->i[0];
  int64_t at = 1;
  for (int i = 0; i < n->n_inputs; i++) {
    const aga_input_meta *m = &n->in_meta[i];
    if (m->ndim != g->ndim) {                /* a skipped [0]-shaped input */
      if (needs(n, i) && !(gin[i] = agt_full(m->ndim, m->sizes, 0, g->scalar_type))) return -1;
      continue;
    }
    if (needs(n, i) && !(gin[i] = aga_narrow(g, d + 1, at, m->sizes[d]))) return -1;
    at += m->sizes[d];
  }
  return 0;
}

static int f_stack(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  for (int i = 0; i < n->n_inputs; i++)
    if (needs(n, i) && !(gin[i] = aga_select(gout[0], (int)n->i[0] + 1, i + 1))) return -1;
  return 0;
}

/* The pieces' gradients, zeros where an output got none, joined by cat or stack. */
static int join_grads(aga_node *n, ag_tensor **gout, ag_tensor **gin, bool stack) {
  if (!needs(n, 0)) return 0;
  const aga_input_meta *m = &n->in_meta[0];
  int d = (int)n->i[0], nout = n->n_outputs, dtype = m->scalar_type;
  for (int k = 0; k < nout; k++) if (gout[k]) { dtype = gout[k]->scalar_type; break; }
  ag_tensor **pieces = calloc((size_t)(nout > 0 ? nout : 1), sizeof(ag_tensor *));
  if (!pieces) return agt_failc("ag: out of memory (split backward)");
  int rc = 0;
  int64_t left = m->sizes[d];
  for (int k = 0; k < nout && !rc; k++) {
    int64_t shape[AG_MAX_DIMS];
    int nd = m->ndim;
    memcpy(shape, m->sizes, sizeof shape);
    if (stack) {
      for (int j = d; j < nd - 1; j++) shape[j] = shape[j + 1];
      nd--;
    } else {
      int64_t len = n->kind == &K_SPLIT ? (n->i[1] < left ? n->i[1] : left) : n->i[1 + k];
      shape[d] = len;
      left -= len;
    }
    if (gout[k]) { agt_retain(gout[k]); pieces[k] = gout[k]; }
    else if (!(pieces[k] = agt_full(nd, shape, 0, dtype))) rc = -1;
  }
  if (!rc) {
    gin[0] = stack ? aga_stack(nout, pieces, d + 1) : aga_cat(nout, pieces, d + 1);
    if (!gin[0]) rc = -1;
  }
  for (int k = 0; k < nout; k++) agt_release(pieces[k]);
  free(pieces);
  return rc;
}

static int f_split(aga_node *n, ag_tensor **gout, ag_tensor **gin) { return join_grads(n, gout, gin, false); }
static int f_unbind(aga_node *n, ag_tensor **gout, ag_tensor **gin) { return join_grads(n, gout, gin, true); }

static int f_flip(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  SET(0, track(s, aga_flip(g, (int)n->i[0], &n->i[1])));
  END;
}

static int f_roll(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  int nd = (int)n->i[0];
  int64_t shifts[8];
  if (nd == 0) shifts[0] = -n->i[1];
  for (int k = 0; k < nd; k++) shifts[k] = -n->i[1 + nd + k];
  SET(0, track(s, aga_roll(g, nd ? nd : 1, shifts, nd, &n->i[1])));
  END;
}

static int f_repeat(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  /* sum the r_k tiles of each dim k in turn: [.., r_k * s_k, ..] -> [.., r_k, s_k, ..] -> sum */
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  int nr = (int)n->i[0], shift = nr - m->ndim;
  ag_tensor *cur = g;
  for (int k = 0; k < nr && cur; k++) {
    int64_t r = n->i[1 + k], sk = k < shift ? 1 : m->sizes[k - shift];
    if (r == 1) continue;
    int64_t shape[AG_MAX_DIMS];
    for (int j = 0, o = 0; j < nr; j++) {
      if (j == k) { shape[o++] = r; shape[o++] = sk; }
      else shape[o++] = cur->sizes[j];
    }
    ag_tensor *v = track(s, aga_reshape(cur, nr + 1, shape));
    int64_t dim = k + 1;
    cur = v ? track(s, aga_reduce(AG_RED_SUM, v, 1, &dim, 0)) : NULL;
  }
  SET(0, reshape_to(s, cur, m));
  END;
}

static int f_tril(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  SET(0, track(s, aga_tril(g, n->i[0], (int)n->i[1])));
  END;
}

static int f_diag(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  if (m->ndim == 1) SET(0, track(s, aga_diagonal(g, n->i[0], 1, 2)));
  else SET(0, track(s, aga_diagonal_backward(g, m->ndim, m->sizes, n->i[0], 1, 2)));
  END;
}

static int f_diagonal(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  SET(0, track(s, aga_diagonal_backward(g, m->ndim, m->sizes, n->i[0], (int)n->i[1], (int)n->i[2])));
  END;
}

static int f_diagonal_bw(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  SET(0, track(s, aga_diagonal(g, n->i[0], (int)n->i[1], (int)n->i[2])));
  END;
}

static int f_pad_constant(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  BEGIN;
  int np = (int)n->i[0];
  int64_t neg[AG_MAX_DIMS];
  for (int j = 0; j < np; j++) neg[j] = -n->i[1 + j];
  SET(0, track(s, aga_pad(g, np, neg, AG_PAD_CONSTANT, 0)));
  END;
}

static int f_pad_index(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  /* the forward was an index_select per padded dim; undo them in reverse with index_add */
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  int np = (int)n->i[0], mode = (int)n->d[0];
  ag_tensor *cur = g;
  for (int d = m->ndim - np / 2; d < m->ndim && cur; d++) {
    int k = m->ndim - 1 - d;
    int64_t before = n->i[1 + 2 * k], after = n->i[2 + 2 * k];
    if (before == 0 && after == 0) continue;
    ag_tensor *idx = track(s, agt_pad_index(m->sizes[d], before, after, mode));
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, cur->sizes, sizeof shape);
    shape[d] = m->sizes[d];
    ag_tensor *z = track(s, agt_full(cur->ndim, shape, 0, cur->scalar_type));
    cur = idx && z ? track(s, aga_index_add(z, d + 1, idx, cur, 1.0)) : NULL;
  }
  SET(0, cur);
  END;
}
