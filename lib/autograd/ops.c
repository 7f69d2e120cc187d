/* ops.c: the differentiable ops. Each runs the tensor library's kernel and, when grad mode
 * is on and an input requires grad, records a node with the edges and the saved tensors
 * its backward formula (formulas.c) needs. In-place forms check PyTorch's rules and rebase
 * the tensor's history onto the new node. */
#include "record.h"
#include <math.h>
#include <string.h>

static bool differentiable_out(ag_tensor *out) { return agt_is_float(out->scalar_type); }

/* ---------------- elementwise ---------------- */
ag_tensor *aga_binary(int op, ag_tensor *a, ag_tensor *b) {
  ag_tensor *out = agt_binary(op, a, b);
  if (!out || !(aga_should_record(a) || aga_should_record(b)) || !differentiable_out(out)) return out;
  aga_node *n;
  switch (op) {
  case AG_OP_ADD: n = node2(K_ADD0, a, b); break;
  case AG_OP_SUB: n = node2(K_SUB0, a, b); break;
  case AG_OP_MUL: n = keep(node2(K_MUL0, a, b), aga_req(b) ? a : NULL, 0, aga_req(a) ? b : NULL, 0, NULL, 0); break;
  case AG_OP_DIV: n = keep(node2(K_DIV0, a, b), a, 0, b, 0, NULL, 0); break;
  case AG_OP_POW: n = keep(node2(K_POW1, a, b), a, 0, b, 0, out, 1); break;
  case AG_OP_MAXIMUM: n = keep(node2(K_MAXIMUM, a, b), a, 0, b, 0, NULL, 0); break;
  case AG_OP_MINIMUM: n = keep(node2(K_MINIMUM, a, b), a, 0, b, 0, NULL, 0); break;
  case AG_OP_ATAN2: n = keep(node2(K_ATAN2, a, b), a, 0, b, 0, NULL, 0); break;
  case AG_OP_REMAINDER: n = keep(node2(K_REMAINDER0, a, b), a, 0, b, 0, NULL, 0); break;
  default: return out;                       /* comparisons and logic have no gradient */
  }
  return finish(out, n);
}

ag_tensor *aga_binary_scalar(int op, ag_tensor *a, double s, int scalar_first) {
  ag_tensor *out = agt_binary_scalar(op, a, s, scalar_first);
  if (!out || !aga_should_record(a) || !differentiable_out(out)) return out;
  aga_node *n;
  switch (op) {
  case AG_OP_ADD: n = node1(K_ADD1, a); break;
  case AG_OP_SUB: n = node1(scalar_first ? K_RSUB1 : K_SUB1, a); break;
  case AG_OP_MUL: n = node1(K_MUL1, a); break;
  case AG_OP_DIV:
    n = scalar_first ? keep(node1(K_DIV0, a), a, 0, out, 1, NULL, 0) : node1(K_DIV1, a);
    if (scalar_first && n) n->i[0] = 1;    /* s / a */
    break;
  case AG_OP_POW:
    n = scalar_first ? keep(node1(K_POW2, a), out, 1, NULL, 0, NULL, 0) : keep(node1(K_POW0, a), a, 0, NULL, 0, NULL, 0);
    break;
  case AG_OP_MAXIMUM: case AG_OP_MINIMUM:
    n = keep(node1(K_CLAMP, a), a, 0, NULL, 0, NULL, 0);
    if (n) { n->d[0] = op == AG_OP_MAXIMUM ? s : -INFINITY; n->d[1] = op == AG_OP_MAXIMUM ? INFINITY : s; }
    break;
  case AG_OP_REMAINDER:
    if (scalar_first) return out;            /* d/da of s mod a: not supported, like PyTorch */
    n = node1(K_REMAINDER1, a);
    break;
  default: return out;
  }
  if (n) n->d[3] = s;
  return finish(out, n);
}

static const int unary_kind[AG_NUNARY] = {
  [AG_UOP_NEG] = K_NEG, [AG_UOP_ABS] = K_ABS, [AG_UOP_RELU] = K_RELU, [AG_UOP_SIGN] = K_SIGN,
  [AG_UOP_EXP] = K_EXP, [AG_UOP_LOG] = K_LOG, [AG_UOP_SQRT] = K_SQRT, [AG_UOP_TANH] = K_TANH,
  [AG_UOP_SIGMOID] = K_SIGMOID, [AG_UOP_SIN] = K_SIN, [AG_UOP_COS] = K_COS, [AG_UOP_TAN] = K_TAN,
  [AG_UOP_EXPM1] = K_EXPM1, [AG_UOP_LOG1P] = K_LOG1P, [AG_UOP_LOG2] = K_LOG2, [AG_UOP_RSQRT] = K_RSQRT,
  [AG_UOP_RECIPROCAL] = K_RECIPROCAL, [AG_UOP_ASIN] = K_ASIN, [AG_UOP_ACOS] = K_ACOS,
  [AG_UOP_ATAN] = K_ATAN, [AG_UOP_SINH] = K_SINH, [AG_UOP_COSH] = K_COSH, [AG_UOP_ERF] = K_ERF,
  [AG_UOP_FLOOR] = K_FLOOR, [AG_UOP_CEIL] = K_CEIL, [AG_UOP_ROUND] = K_ROUND, [AG_UOP_TRUNC] = K_TRUNC};

/* Formulas that are cheapest in terms of the result save the output instead of the input. */
static bool saves_output(int op) {
  return op == AG_UOP_EXP || op == AG_UOP_TANH || op == AG_UOP_SIGMOID || op == AG_UOP_SQRT ||
         op == AG_UOP_RSQRT || op == AG_UOP_RECIPROCAL || op == AG_UOP_TAN || op == AG_UOP_EXPM1 ||
         op == AG_UOP_RELU;
}
static bool saves_nothing(int op) {
  return op == AG_UOP_NEG || op == AG_UOP_SIGN || op == AG_UOP_FLOOR || op == AG_UOP_CEIL ||
         op == AG_UOP_ROUND || op == AG_UOP_TRUNC;
}

ag_tensor *aga_unary(int op, ag_tensor *a) {
  ag_tensor *out = agt_unary(op, a);
  if (!out || !aga_should_record(a) || !differentiable_out(out) || op >= AG_UOP_LOGICAL_NOT) return out;
  aga_node *n = node1(unary_kind[op], a);
  if (!saves_nothing(op)) n = keep(n, saves_output(op) ? out : a, saves_output(op), NULL, 0, NULL, 0);
  return finish(out, n);
}

ag_tensor *aga_clamp(ag_tensor *a, double lo, double hi) {
  ag_tensor *out = agt_clamp(a, lo, hi);
  if (!out || !aga_should_record(a)) return out;
  aga_node *n = keep(node1(K_CLAMP, a), a, 0, NULL, 0, NULL, 0);
  if (n) { n->d[0] = lo; n->d[1] = hi; }
  return finish(out, n);
}

ag_tensor *aga_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b) {
  ag_tensor *out = agt_where(cond, a, b);
  if (!out || !(aga_should_record(a) || aga_should_record(b))) return out;
  aga_node *n = keep(aga_node_new(AGA_KIND(K_WHERE), 3, (ag_tensor *[]){a, b, cond}, 1), cond, 0, NULL, 0, NULL, 0);
  return finish(out, n);
}

/* ---------------- in-place ---------------- */
int aga_check_inplace(ag_tensor *t, const char *op) {
  if (!aga_grad_mode || !t->meta) return 0;
  if (t->meta->requires_grad && !t->meta->grad_fn)
    return agt_failc("a leaf Variable that requires grad is being used in an in-place operation. (%s) "
                     "Wrap the update in ag.no_grad(...) as optimizers do, or clone() the tensor first.", op);
  ag_tensor *base = t->meta->view_base;
  if (base && !(base->meta && base->meta->grad_fn))
    return agt_failc("a view of a leaf Variable that requires grad is being used in an in-place "
                     "operation. (%s) Wrap the update in ag.no_grad(...), or clone() the view first.", op);
  /* a view of a non-leaf: rebase (record.h) gives the base a CopySlices history */
  return 0;
}


/* Formulas that read `self` get the value from before the write, as PyTorch's original_self. */
static ag_tensor *original(ag_tensor *a, bool needed) {
  if (!needed) { agt_retain(a); return a; }
  return aga_clone(a);
}

static const char *inplace_name(int op) {
  static const char *names[AG_NBINARY] = {"add_", "sub_", "mul_", "div_", "pow_", "maximum_", "minimum_",
                                          "atan2_", "eq_", "ne_", "lt_", "le_", "gt_", "ge_",
                                          "logical_and_", "logical_or_", "remainder_"};
  return op >= 0 && op < AG_NBINARY ? names[op] : "in-place op";
}

int aga_binary_(int op, ag_tensor *a, ag_tensor *b) {
  if (aga_check_inplace(a, inplace_name(op))) return -1;
  if (!aga_grad_mode || !(aga_req(a) || aga_req(b))) return agt_binary_(op, a, b);
  if (agt_is_float(agt_promote_types(a->scalar_type, b->scalar_type)) && !agt_is_float(a->scalar_type))
    return agt_binary_(op, a, b);             /* let the kernel raise its dtype error */
  ag_tensor *self = original(a, op != AG_OP_ADD && op != AG_OP_SUB);
  if (!self) return -1;
  ag_tensor *r = aga_binary(op, self, b);
  agt_release(self);
  return r ? rebase(a, r) : -1;
}

int aga_binary_scalar_(int op, ag_tensor *a, double s) {
  if (aga_check_inplace(a, inplace_name(op))) return -1;
  if (!aga_grad_mode || !aga_req(a)) return agt_binary_scalar_(op, a, s);
  ag_tensor *r = aga_binary_scalar(op, a, s, 0);
  return r ? rebase(a, r) : -1;
}

int aga_unary_(int op, ag_tensor *a) {
  if (aga_check_inplace(a, "unary op_")) return -1;
  if (!aga_grad_mode || !aga_req(a)) return agt_unary_(op, a);
  ag_tensor *self = original(a, !saves_output(op) && !saves_nothing(op));
  if (!self) return -1;
  ag_tensor *r = aga_unary(op, self);
  agt_release(self);
  return r ? rebase(a, r) : -1;
}

int aga_clamp_(ag_tensor *a, double lo, double hi) {
  if (aga_check_inplace(a, "clamp_")) return -1;
  if (!aga_grad_mode || !aga_req(a)) return agt_clamp_(a, lo, hi);
  ag_tensor *self = aga_clone(a);
  if (!self) return -1;
  ag_tensor *r = aga_clamp(self, lo, hi);
  agt_release(self);
  return r ? rebase(a, r) : -1;
}

int aga_copy_(ag_tensor *dst, ag_tensor *src) {
  if (aga_check_inplace(dst, "copy_")) return -1;
  if (!aga_grad_mode || !(aga_req(dst) || aga_req(src))) return agt_copy_(dst, src);
  ag_tensor *c = aga_to_dtype(src, dst->scalar_type);
  ag_tensor *r = c ? aga_expand(c, dst->ndim, dst->sizes) : NULL;
  agt_release(c);
  ag_tensor *cl = r ? aga_clone(r) : NULL;
  agt_release(r);
  return cl ? rebase(dst, cl) : -1;
}

int aga_fill_(ag_tensor *t, double value) {
  if (aga_check_inplace(t, "fill_")) return -1;
  if (!aga_grad_mode || !aga_req(t)) return agt_fill_(t, value);
  /* the old history gets a zero gradient: record t*0, then write the value */
  ag_tensor *z = aga_binary_scalar(AG_OP_MUL, t, 0, 0);
  if (!z) return -1;
  int rc = agt_fill_(z, value);
  return rc ? (agt_release(z), -1) : rebase(t, z);
}

/* ---------------- reductions ---------------- */
static void store_dims(aga_node *n, ag_tensor *a, int ndims, const int64_t *dims, int keepdim) {
  n->i[0] = keepdim;
  n->i[1] = ndims;
  for (int k = 0; k < ndims && k < AG_MAX_DIMS; k++)   /* 1-based, ready to pass back to ops */
    n->i[2 + k] = agt_normalize_dim("", (int)dims[k], a->ndim) + 1;
  n->d[0] = (double)agt_numel(a);
}

ag_tensor *aga_reduce(int op, ag_tensor *a, int ndims, const int64_t *dims, int keepdim) {
  ag_tensor *out = agt_reduce(op, a, ndims, dims, keepdim);
  if (!out || !aga_should_record(a) || !differentiable_out(out)) return out;
  bool all = ndims == 0;
  aga_node *n;
  switch (op) {
  case AG_RED_SUM: n = node1(all ? K_SUM0 : K_SUM1, a); break;
  case AG_RED_MEAN: n = node1(all ? K_MEAN0 : K_MEAN1, a); break;
  case AG_RED_PROD: n = keep(node1(all ? K_PROD0 : K_PROD1, a), a, 0, NULL, 0, NULL, 0); break;
  case AG_RED_AMAX: n = keep(node1(K_AMAX, a), a, 0, out, 1, NULL, 0); break;
  case AG_RED_AMIN: n = keep(node1(K_AMIN, a), a, 0, out, 1, NULL, 0); break;
  default: return out;
  }
  if (n) {
    store_dims(n, a, ndims, dims, keepdim);
    n->d[0] /= (double)(agt_numel(out) ? agt_numel(out) : 1);   /* elements per output */
  }
  return finish(out, n);
}

ag_tensor *aga_var(ag_tensor *a, int ndims, const int64_t *dims, double correction, int keepdim, int take_sqrt) {
  ag_tensor *out = agt_var(a, ndims, dims, correction, keepdim, take_sqrt);
  if (!out || !aga_should_record(a)) return out;
  aga_node *n = keep(node1(take_sqrt ? K_STD : K_VAR, a), a, 0, take_sqrt ? out : NULL, 1, NULL, 0);
  if (n) {
    store_dims(n, a, ndims, dims, keepdim);
    n->d[0] /= (double)(agt_numel(out) ? agt_numel(out) : 1);
    n->d[1] = correction;
  }
  return finish(out, n);
}

ag_tensor *aga_max_dim(ag_tensor *a, int dim, int keepdim, int is_min, ag_tensor **indices) {
  ag_tensor *out = agt_max_dim(a, dim, keepdim, is_min, indices);
  if (!out || !aga_should_record(a)) return out;
  aga_node *n = keep(node1(is_min ? K_MIN_DIM : K_MAX_DIM, a), *indices, 0, NULL, 0, NULL, 0);
  if (n) { n->i[0] = keepdim; n->i[1] = agt_normalize_dim("", dim, a->ndim); }
  return finish(out, n);
}

ag_tensor *aga_max_all(ag_tensor *a, int is_min) {
  char b[256];
  if (agt_numel(a) == 0)
    return agt_fail("ag.%s: expected a non-empty tensor (got shape %s); give a dim to reduce instead",
                    is_min ? "min" : "max", AGT_SHAPE(a, b));
  ag_tensor *out = agt_reduce(is_min ? AG_RED_AMIN : AG_RED_AMAX, a, 0, NULL, 0);
  if (!out || !aga_should_record(a)) return out;
  aga_node *n = keep(node1(is_min ? K_MIN_ALL : K_MAX_ALL, a), a, 0, out, 1, NULL, 0);
  if (n) { n->i[0] = 0; n->i[1] = 0; }
  return finish(out, n);
}

/* Composite: sum over the broadcast dims, then view to the target shape. */
ag_tensor *aga_sum_to_size(ag_tensor *a, int ndim, const int64_t *sizes) {
  if (!aga_should_record(a)) return agt_sum_to_size(a, ndim, sizes);
  char b1[256], b2[256];
  int lead = a->ndim - ndim;
  int64_t dims[AG_MAX_DIMS];
  int n = 0;
  if (lead < 0) goto bad;
  for (int d = 0; d < a->ndim; d++) {
    if (d < lead) dims[n++] = d + 1;
    else if (sizes[d - lead] == 1 && a->sizes[d] != 1) dims[n++] = d + 1;
    else if (sizes[d - lead] != a->sizes[d]) goto bad;
  }
  if (n == 0 && a->ndim == ndim) { agt_retain(a); return a; }
  ag_tensor *s = n ? aga_reduce(AG_RED_SUM, a, n, dims, 1) : (agt_retain(a), a);
  if (!s) return NULL;
  ag_tensor *r = aga_view(s, ndim, sizes);
  agt_release(s);
  return r;
bad:
  return agt_fail("ag.sum_to_size: size %s is not expandable to size %s",
                  agt_shape_str(ndim, sizes, b1), AGT_SHAPE(a, b2));
}

/* ---------------- views ---------------- */
/* A view of a tensor that requires grad remembers its base, for the in-place check. */
static ag_tensor *view_of(ag_tensor *out, ag_tensor *a, aga_node *n) {
  out = finish(out, n);
  if (out && a->meta && a->meta->requires_grad) {
    ag_tensor *base = a->meta->view_base ? a->meta->view_base : a;
    agt_retain(base);
    out->meta->view_base = base;
    out->meta->view_written = base->meta->view_written;   /* the base's write count now */
  }
  return out;
}

#define VIEW_OP(CALL, KIND, PARAMS)                                                        \
  ag_tensor *out = CALL;                                                                   \
  if (!out || !aga_should_record(a)) return out;                                           \
  aga_node *n = node1(KIND, a);                                                            \
  if (n) { PARAMS; }                                                                       \
  return view_of(out, a, n);

static ag_tensor *aga_alias_view(ag_tensor *a) {
  VIEW_OP(agt_alias(a), K_VIEW, (void)0)
}

ag_tensor *aga_view(ag_tensor *a, int ndim, const int64_t *sizes) {
  VIEW_OP(agt_view(a, ndim, sizes), K_VIEW, (void)0)
}

ag_tensor *aga_reshape(ag_tensor *a, int ndim, const int64_t *sizes) {
  if (!aga_should_record(a)) return agt_reshape(a, ndim, sizes);
  ag_tensor *probe = agt_view(a, ndim, sizes);
  if (probe) {
    aga_node *n = node1(K_RESHAPE_ALIAS, a);
    return view_of(probe, a, n);
  }
  ag_tensor *c = aga_contiguous(a);
  if (!c) return NULL;
  ag_tensor *out = agt_view(c, ndim, sizes);
  if (!out) { agt_release(c); return NULL; }
  aga_node *n = node1(K_UNSAFE_VIEW, c);
  agt_release(c);
  return finish(out, n);
}

ag_tensor *aga_transpose(ag_tensor *a, int d0, int d1) {
  VIEW_OP(agt_transpose(a, d0, d1), K_TRANSPOSE, n->i[0] = d0; n->i[1] = d1)
}

ag_tensor *aga_t(ag_tensor *a) {
  char b[256];
  if (a->ndim > 2) return agt_fail("t: expects a tensor with <= 2 dimensions, but got shape %s; use "
                                   "transpose(dim0, dim1) instead", AGT_SHAPE(a, b));
  if (a->ndim < 2) return aga_alias_view(a);
  VIEW_OP(agt_transpose(a, 1, 2), K_T, (void)0)
}

ag_tensor *aga_permute(ag_tensor *a, int ndims, const int64_t *dims) {
  VIEW_OP(agt_permute(a, ndims, dims), K_PERMUTE,
          for (int k = 0; k < ndims; k++) n->i[k] = agt_normalize_dim("", (int)dims[k], a->ndim))
}

ag_tensor *aga_narrow(ag_tensor *a, int dim, int64_t start, int64_t length) {
  VIEW_OP(agt_narrow(a, dim, start, length), K_SLICE,
          n->i[0] = agt_normalize_dim("", dim, a->ndim);
          n->i[1] = start < 0 ? start + a->sizes[n->i[0]] + 1 : start; n->i[2] = length)
}

ag_tensor *aga_select(ag_tensor *a, int dim, int64_t index) {
  VIEW_OP(agt_select(a, dim, index), K_SELECT,
          n->i[0] = agt_normalize_dim("", dim, a->ndim);
          n->i[1] = index < 0 ? index + a->sizes[n->i[0]] + 1 : index)
}

ag_tensor *aga_squeeze(ag_tensor *a, int dim, int all) {
  VIEW_OP(agt_squeeze(a, dim, all), all ? K_SQUEEZE0 : K_SQUEEZE1, (void)0)
}

ag_tensor *aga_unsqueeze(ag_tensor *a, int dim) {
  VIEW_OP(agt_unsqueeze(a, dim), K_UNSQUEEZE, (void)0)
}

ag_tensor *aga_expand(ag_tensor *a, int ndim, const int64_t *sizes) {
  VIEW_OP(agt_expand(a, ndim, sizes), K_EXPAND, (void)0)
}

ag_tensor *aga_flatten(ag_tensor *a, int start_dim, int end_dim) {
  if (a->ndim == 0) { int64_t one = 1; return aga_reshape(a, 1, &one); }
  int s = agt_normalize_dim("flatten", start_dim, a->ndim);
  if (s < 0) return NULL;
  int e = agt_normalize_dim("flatten", end_dim, a->ndim);
  if (e < 0) return NULL;
  if (s > e) return agt_fail("flatten: start_dim (%d) cannot come after end_dim (%d)", s + 1, e + 1);
  int64_t shape[AG_MAX_DIMS], p = 1;
  int n = 0;
  for (int i = 0; i < s; i++) shape[n++] = a->sizes[i];
  for (int i = s; i <= e; i++) p *= a->sizes[i];
  shape[n++] = p;
  for (int i = e + 1; i < a->ndim; i++) shape[n++] = a->sizes[i];
  return aga_reshape(a, n, shape);
}

ag_tensor *aga_clone(ag_tensor *a) {
  ag_tensor *out = agt_clone(a);
  if (!out || !aga_should_record(a)) return out;
  return finish(out, node1(K_CLONE, a));
}

ag_tensor *aga_contiguous(ag_tensor *a) {
  if (agt_is_contiguous(a)) { agt_retain(a); return a; }
  return aga_clone(a);
}

ag_tensor *aga_to_dtype(ag_tensor *a, int dtype) {
  if (a->scalar_type == dtype) { agt_retain(a); return a; }
  ag_tensor *out = agt_to_dtype(a, dtype);
  if (!out || !aga_should_record(a) || !differentiable_out(out)) return out;
  return finish(out, node1(K_TO_COPY, a));
}

/* ---------------- helpers for formulas: differentiable "scatter into zeros" ---------------- */
ag_tensor *aga_zeros_meta(const aga_input_meta *m) { return agt_full(m->ndim, m->sizes, 0, m->scalar_type); }

ag_tensor *aga_slice_backward(ag_tensor *g, const aga_input_meta *m, int dim, int64_t start, int64_t len) {
  ag_tensor *z = agt_full(m->ndim, m->sizes, 0, g->scalar_type);
  ag_tensor *v = z ? agt_narrow(z, dim + 1, start, len) : NULL;
  int rc = v ? agt_copy_(v, g) : -1;
  agt_release(v);
  if (rc) { agt_release(z); return NULL; }
  if (!aga_should_record(g)) return z;
  aga_node *n = node1(K_SLICE_BACKWARD, g);
  if (n) { n->i[0] = dim; n->i[1] = start; n->i[2] = len; }
  return finish(z, n);
}

ag_tensor *aga_select_backward(ag_tensor *g, const aga_input_meta *m, int dim, int64_t index) {
  ag_tensor *z = agt_full(m->ndim, m->sizes, 0, g->scalar_type);
  ag_tensor *v = z ? agt_select(z, dim + 1, index) : NULL;
  int rc = v ? agt_copy_(v, g) : -1;
  agt_release(v);
  if (rc) { agt_release(z); return NULL; }
  if (!aga_should_record(g)) return z;
  aga_node *n = node1(K_SELECT_BACKWARD, g);
  if (n) { n->i[0] = dim; n->i[1] = index; }
  return finish(z, n);
}

/* ---------------- matrix products ---------------- */
ag_tensor *aga_mm(ag_tensor *a, ag_tensor *b) {
  ag_tensor *out = agt_mm(a, b);
  if (!out || !(aga_should_record(a) || aga_should_record(b))) return out;
  aga_node *n = keep(node2(K_MM, a, b), aga_req(b) ? a : NULL, 0, aga_req(a) ? b : NULL, 0, NULL, 0);
  /* remember the layouts, so each gradient is produced in its input's own layout and a
   * leaf such as a linear layer's weight receives it contiguous (no copy on accumulation) */
  if (n) { n->i[0] = aga_col_major(a); n->i[1] = aga_col_major(b); }
  return finish(out, n);
}

ag_tensor *aga_bmm(ag_tensor *a, ag_tensor *b) {
  ag_tensor *out = agt_bmm(a, b);
  if (!out || !(aga_should_record(a) || aga_should_record(b))) return out;
  return finish(out, keep(node2(K_BMM, a, b), aga_req(b) ? a : NULL, 0, aga_req(a) ? b : NULL, 0, NULL, 0));
}

ag_tensor *aga_matmul(ag_tensor *a, ag_tensor *b) {
  bool rec = aga_should_record(a) || aga_should_record(b);
  if (!rec || a->ndim == 0 || b->ndim == 0 || a->scalar_type != b->scalar_type) return agt_matmul(a, b);
  if (a->ndim == 2 && b->ndim == 2) return aga_mm(a, b);
  if (a->ndim == 1 && b->ndim == 1) {
    ag_tensor *out = agt_matmul(a, b);
    if (!out) return NULL;
    return finish(out, keep(node2(K_DOT, a, b), a, 0, b, 0, NULL, 0));
  }
  /* the general case as differentiable views around bmm, checked first by the plain kernel */
  ag_tensor *probe = agt_matmul(a, b);
  if (!probe) return NULL;
  ag_tensor *la = a->ndim == 1 ? aga_unsqueeze(a, 1) : (agt_retain(a), a);
  ag_tensor *lb = b->ndim == 1 ? aga_unsqueeze(b, -1) : (agt_retain(b), b);
  int nbatch = probe->ndim - (a->ndim >= 2) - (b->ndim >= 2);
  int64_t ea[AG_MAX_DIMS + 2], eb[AG_MAX_DIMS + 2], B = 1;
  for (int i = 0; i < nbatch; i++) { ea[i] = eb[i] = probe->sizes[i]; B *= probe->sizes[i]; }
  int64_t n = la ? la->sizes[la->ndim - 2] : 0, k = la ? la->sizes[la->ndim - 1] : 0;
  int64_t m = lb ? lb->sizes[lb->ndim - 1] : 0;
  ea[nbatch] = n; ea[nbatch + 1] = k; eb[nbatch] = k; eb[nbatch + 1] = m;
  ag_tensor *xa = la ? aga_expand(la, nbatch + 2, ea) : NULL, *xb = lb ? aga_expand(lb, nbatch + 2, eb) : NULL;
  ag_tensor *ra = xa ? aga_reshape(xa, 3, (int64_t[]){B, n, k}) : NULL;
  ag_tensor *rb = xb ? aga_reshape(xb, 3, (int64_t[]){B, k, m}) : NULL;
  ag_tensor *prod = ra && rb ? aga_bmm(ra, rb) : NULL;
  ag_tensor *out = prod ? aga_reshape(prod, probe->ndim, probe->sizes) : NULL;
  agt_release(probe); agt_release(la); agt_release(lb); agt_release(xa); agt_release(xb);
  agt_release(ra); agt_release(rb); agt_release(prod);
  return out;
}
