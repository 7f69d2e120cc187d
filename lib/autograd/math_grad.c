/* math_grad.c: the differentiable math ops (ag_math_grad.h) and their backward formulas:
 * activations, lerp/addcmul/addcdiv, logsumexp, norm, cumsum, cumprod, sort/topk and the
 * gather/scatter pair behind them. Activation nodes call the fused backward kernel when
 * the backward is not recorded, and a formula of aga_ ops under create_graph, so every
 * order of gradient works. See formula.h for the toolkit. */
#include "record.h"
#include "formula.h"
#include "ag_math.h"
#include "ag_math_grad.h"

/* ---- a few more formula helpers ---- */
static inline ag_tensor *un(scope *s, int op, ag_tensor *a) { return a ? track(s, aga_unary(op, a)) : NULL; }
static inline ag_tensor *cmps(scope *s, int op, ag_tensor *a, double v) {   /* no gradient */
  return a ? track(s, agt_binary_scalar(op, a, v, 0)) : NULL;
}
static inline ag_tensor *land(scope *s, ag_tensor *a, ag_tensor *b) {
  return a && b ? track(s, agt_binary(AG_OP_LOGICAL_AND, a, b)) : NULL;
}
static inline ag_tensor *full_like(scope *s, ag_tensor *a, double v) {
  return a ? track(s, agt_full(a->ndim, a->sizes, v, a->scalar_type)) : NULL;
}
static inline ag_tensor *scalar_of(scope *s, double v, int dtype) { return track(s, agt_full(0, NULL, v, dtype)); }
static inline ag_tensor *act(scope *s, int op, ag_tensor *a, double p0, double p1, double p2) {
  return a ? track(s, aga_activation(op, a, p0, p1, p2)) : NULL;
}
static inline ag_tensor *cumsum_(scope *s, ag_tensor *a, int dim, int rev) { return a ? track(s, aga_cumsum(a, dim, rev)) : NULL; }

/* Reduction nodes store: i[0] keepdim, i[1] ndims, i[2..] 1-based dims (formula.h's layout) */
static int store_dims(aga_node *n, const char *op, ag_tensor *a, int ndims, const int64_t *dims, int keepdim) {
  n->i[0] = keepdim;
  n->i[1] = ndims;
  for (int k = 0; k < ndims && k < AG_MAX_DIMS; k++) {
    int d = agt_normalize_dim(op, (int)dims[k], a->ndim);
    if (d < 0) return -1;
    n->i[2 + k] = d + 1;
  }
  return 0;
}
static ag_tensor *finish_dims(ag_tensor *out, aga_node *n, const char *op, ag_tensor *a, int ndims,
                              const int64_t *dims, int keepdim) {
  if (n && store_dims(n, op, a, ndims, dims, keepdim)) { aga_node_release(n); n = NULL; }
  return finish(out, n);
}

/* ======================= activations ======================= */
/* g * f'(x) as aga_ ops (recorded under create_graph). a, b, c: the op's parameters. */
static ag_tensor *act_grad(scope *s, int op, ag_tensor *g, ag_tensor *x, double a, double b, double c) {
  switch (op) {
  case AG_ACT_LOGSIGMOID: return mul(s, g, un(s, AG_UOP_SIGMOID, neg(s, x)));
  case AG_ACT_HARDTANH: {
    ag_tensor *in = land(s, cmps(s, AG_OP_GT, x, a), cmps(s, AG_OP_LT, x, b));
    return where(s, in, g, zeros_like(s, g));
  }
  case AG_ACT_LEAKY_RELU: return where(s, gts(s, x, 0), g, muls(s, g, a));
  case AG_ACT_ELU:
    return where(s, gts(s, x, 0), muls(s, g, b), mul(s, g, muls(s, ex(s, muls(s, x, c)), a * b * c)));
  case AG_ACT_GELU: {
    ag_tensor *cdf = muls(s, adds(s, un(s, AG_UOP_ERF, muls(s, x, M_SQRT1_2)), 1), 0.5);
    ag_tensor *pdf = muls(s, ex(s, muls(s, mul(s, x, x), -0.5)), 0.3989422804014327);
    return mul(s, g, add(s, cdf, mul(s, x, pdf)));
  }
  case AG_ACT_GELU_TANH: {
    const double kb = 0.7978845608028654, kk = 0.044715;
    ag_tensor *x2 = mul(s, x, x);
    ag_tensor *t = un(s, AG_UOP_TANH, muls(s, add(s, x, muls(s, mul(s, x2, x), kk)), kb));
    ag_tensor *dl = muls(s, adds(s, t, 1), 0.5);
    ag_tensor *dr = mul(s, mul(s, muls(s, x, 0.5), rsubs(s, mul(s, t, t), 1)), muls(s, adds(s, muls(s, x2, 3 * kk), 1), kb));
    return mul(s, g, add(s, dl, dr));
  }
  case AG_ACT_SILU: {
    ag_tensor *sg = un(s, AG_UOP_SIGMOID, x);
    return mul(s, g, mul(s, sg, adds(s, mul(s, x, rsubs(s, sg, 1)), 1)));
  }
  case AG_ACT_MISH: {
    ag_tensor *t = un(s, AG_UOP_TANH, act(s, AG_ACT_SOFTPLUS, x, 1, INFINITY, 0));
    ag_tensor *sg = un(s, AG_UOP_SIGMOID, x);
    return mul(s, g, add(s, t, mul(s, mul(s, x, sg), rsubs(s, mul(s, t, t), 1))));
  }
  case AG_ACT_SOFTPLUS: {
    ag_tensor *bx = muls(s, x, a);
    return where(s, gts(s, bx, b), g, mul(s, g, un(s, AG_UOP_SIGMOID, bx)));
  }
  }
  agt_fail("ag: unknown activation %d", op);
  return NULL;
}

/* n->i[0] = op; n->d[0..2] = parameters; saves x */
FORMULA(f_activation) {
  BEGIN;
  int op = (int)n->i[0];
  ag_tensor *x = saved(s, n, 0);
  if (!aga_grad_mode) SET(0, x ? track(s, agt_activation_backward(op, g, x, n->d[0], n->d[1], n->d[2])) : NULL);
  else SET(0, x ? act_grad(s, op, g, x, n->d[0], n->d[1], n->d[2]) : NULL);
  END;
}
static const aga_kind_info act_kinds[AG_NACT] = {
  {"LogSigmoidBackward0", f_activation}, {"HardtanhBackward0", f_activation},
  {"LeakyReluBackward0", f_activation}, {"EluBackward0", f_activation},
  {"GeluBackward0", f_activation}, {"GeluBackward0", f_activation},
  {"SiluBackward0", f_activation}, {"MishBackward0", f_activation},
  {"SoftplusBackward0", f_activation}};

ag_tensor *aga_activation(int op, ag_tensor *x, double p0, double p1, double p2) {
  ag_tensor *out = agt_activation(op, x, p0, p1, p2);
  if (!out || !aga_should_record(x)) return out;
  aga_node *n = keep(aga_node_new(&act_kinds[op], 1, &x, 1), x, 0, NULL, 0, NULL, 0);
  if (n) { n->i[0] = op; n->d[0] = p0; n->d[1] = p1; n->d[2] = p2; }
  return finish(out, n);
}

/* ======================= ternary ======================= */
/* inputs a, t1, t2; saves t1 (slot 0), t2 (slot 1); d[0] = value */
FORMULA(f_addcmul) {
  BEGIN;
  double v = n->d[0];
  SET(0, g);
  if (needs(n, 1)) SET(1, muls(s, mul(s, g, saved(s, n, 1)), v));
  if (needs(n, 2)) SET(2, muls(s, mul(s, g, saved(s, n, 0)), v));
  END;
}
FORMULA(f_addcdiv) {
  BEGIN;
  double v = n->d[0];
  ag_tensor *t2 = saved(s, n, 1);
  SET(0, g);
  if (needs(n, 1)) SET(1, muls(s, dvd(s, g, t2), v));
  if (needs(n, 2)) SET(2, muls(s, dvd(s, mul(s, g, saved(s, n, 0)), mul(s, t2, t2)), -v));
  END;
}
static const aga_kind_info addcmul_kind = {"AddcmulBackward0", f_addcmul};
static const aga_kind_info addcdiv_kind = {"AddcdivBackward0", f_addcdiv};

static ag_tensor *addc(const aga_kind_info *kind, ag_tensor *out, ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double v) {
  if (!out || !(aga_should_record(a) || aga_should_record(t1) || aga_should_record(t2)) ||
      !agt_is_float(out->scalar_type)) return out;
  aga_node *n = keep(aga_node_new(kind, 3, (ag_tensor *[]){a, t1, t2}, 1), t1, 0, t2, 0, NULL, 0);
  if (n) n->d[0] = v;
  return finish(out, n);
}
ag_tensor *aga_addcmul(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value) {
  return addc(&addcmul_kind, agt_addcmul(a, t1, t2, value), a, t1, t2, value);
}
ag_tensor *aga_addcdiv(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value) {
  return addc(&addcdiv_kind, agt_addcdiv(a, t1, t2, value), a, t1, t2, value);
}

/* tensor weight: inputs start, end, weight; saves all three */
FORMULA(f_lerp1) {
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *b = saved(s, n, 1), *w = saved(s, n, 2);
  SET(0, mul(s, g, rsubs(s, w, 1)));
  SET(1, mul(s, g, w));
  SET(2, mul(s, g, sub(s, b, a)));
  END;
}
/* number weight d[0]: inputs start, end */
FORMULA(f_lerp0) {
  BEGIN;
  SET(0, muls(s, g, 1 - n->d[0]));
  SET(1, muls(s, g, n->d[0]));
  END;
}
static const aga_kind_info lerp1_kind = {"LerpBackward1", f_lerp1};
static const aga_kind_info lerp0_kind = {"LerpBackward0", f_lerp0};

ag_tensor *aga_lerp(ag_tensor *start, ag_tensor *end, ag_tensor *weight) {
  ag_tensor *out = agt_lerp(start, end, weight);
  if (!out || !(aga_should_record(start) || aga_should_record(end) || aga_should_record(weight))) return out;
  aga_node *n = keep(aga_node_new(&lerp1_kind, 3, (ag_tensor *[]){start, end, weight}, 1),
                     start, 0, end, 0, weight, 0);
  return finish(out, n);
}
ag_tensor *aga_lerp_scalar(ag_tensor *start, ag_tensor *end, double weight) {
  ag_tensor *out = agt_lerp_scalar(start, end, weight);
  if (!out || !(aga_should_record(start) || aga_should_record(end))) return out;
  aga_node *n = aga_node_new(&lerp0_kind, 2, (ag_tensor *[]){start, end}, 1);
  if (n) n->d[0] = weight;
  return finish(out, n);
}

/* ======================= logsumexp and norm ======================= */
/* saves x (slot 0) and the result (slot 1): g * exp(x - result) */
FORMULA(f_logsumexp) {
  BEGIN;
  ag_tensor *x = saved(s, n, 0), *r = saved(s, n, 1);
  ag_tensor *ru = unsqueeze_reduced(s, n, r), *gu = unsqueeze_reduced(s, n, g);
  SET(0, mul(s, gu, ex(s, sub(s, x, ru))));
  END;
}
static const aga_kind_info logsumexp_kind = {"LogsumexpBackward0", f_logsumexp};

ag_tensor *aga_logsumexp(ag_tensor *x, int ndims, const int64_t *dims, int keepdim) {
  ag_tensor *out = agt_logsumexp(x, ndims, dims, keepdim);
  if (!out || !aga_should_record(x)) return out;
  aga_node *n = keep(aga_node_new(&logsumexp_kind, 1, &x, 1), x, 0, out, 1, NULL, 0);
  return finish_dims(out, n, "ag.logsumexp", x, ndims, dims, keepdim);
}

/* saves x (slot 0) and the norm (slot 1); d[1] = p. PyTorch's subgradients: zero where the
 * norm is 0 (and, for p < 1, where x is 0); inf norms split the gradient among ties. */
FORMULA(f_norm) {
  BEGIN;
  double p = n->d[1];
  ag_tensor *x = saved(s, n, 0), *r = unsqueeze_reduced(s, n, saved(s, n, 1));
  ag_tensor *gu = unsqueeze_reduced(s, n, g);
  if (p == 0) { SET(0, zeros_like(s, x)); END; }
  if (p == 1) { SET(0, mul(s, sgn(s, x), gu)); END; }
  if (p == INFINITY || p == -INFINITY) {
    ag_tensor *ax = un(s, AG_UOP_ABS, x);
    ag_tensor *mask = ax && r ? track(s, agt_to_dtype(eq(s, ax, r), x->scalar_type)) : NULL;
    int nd = (int)n->i[1];
    ag_tensor *count = mask ? track(s, agt_reduce(AG_RED_SUM, mask, nd, nd ? &n->i[2] : NULL, 1)) : NULL;
    SET(0, mul(s, sgn(s, x), mul(s, dvd(s, gu, count), mask)));
    END;
  }
  /* r0: where the norm is 0; rs: the norm with those replaced by 1 (no inf anywhere) */
  ag_tensor *r0 = eqs(s, r, 0), *rs = where(s, r0, full_like(s, r, 1), r);
  ag_tensor *scale = NULL;   /* the gradient per unit of x's direction term */
  if (p == 2) {
    scale = where(s, r0, full_like(s, r, 0), dvd(s, gu, rs));
    SET(0, mul(s, x, scale));
    END;
  }
  ag_tensor *x0 = eqs(s, x, 0);
  ag_tensor *xs = where(s, x0, full_like(s, x, 1), x);            /* x with zeros replaced by 1 */
  ag_tensor *zx = full_like(s, x, 0);
  if (p < 1) {
    ag_tensor *scaled = where(s, x0, zx, mul(s, sgn(s, x), pows(s, un(s, AG_UOP_ABS, xs), p - 1)));
    SET(0, mul(s, scaled, mul(s, gu, pows(s, r, 1 - p))));
    END;
  }
  scale = where(s, r0, full_like(s, r, 0), dvd(s, gu, pows(s, rs, p - 1)));
  if (p < 2) {
    ag_tensor *scaled = where(s, x0, zx, mul(s, sgn(s, x), pows(s, un(s, AG_UOP_ABS, xs), p - 1)));
    SET(0, mul(s, scaled, scale));
  } else {
    SET(0, mul(s, mul(s, x, pows(s, un(s, AG_UOP_ABS, x), p - 2)), scale));
  }
  END;
}
static const aga_kind_info norm_kind = {"NormBackward1", f_norm};
static const aga_kind_info vector_norm_kind = {"LinalgVectorNormBackward0", f_norm};

ag_tensor *aga_norm(ag_tensor *x, double p, int ndims, const int64_t *dims, int keepdim, int linalg_name) {
  ag_tensor *out = agt_norm(x, p, ndims, dims, keepdim);
  if (!out || !aga_should_record(x)) return out;
  aga_node *n = keep(aga_node_new(linalg_name ? &vector_norm_kind : &norm_kind, 1, &x, 1), x, 0, out, 1, NULL, 0);
  if (n) n->d[1] = p;
  return finish_dims(out, n, "ag.norm", x, ndims, dims, keepdim);
}

/* ======================= scans ======================= */
/* i[0] = dim (1-based), i[1] = reverse: the adjoint is the scan the other way */
FORMULA(f_cumsum) { BEGIN; SET(0, cumsum_(s, g, (int)n->i[0], !n->i[1])); END; }
static const aga_kind_info cumsum_kind = {"CumsumBackward0", f_cumsum};

ag_tensor *aga_cumsum(ag_tensor *x, int dim, int reverse) {
  ag_tensor *out = agt_cumsum(x, dim, reverse);
  if (!out || !aga_should_record(x) || !agt_is_float(out->scalar_type)) return out;
  aga_node *n = aga_node_new(&cumsum_kind, 1, &x, 1);
  if (n) { n->i[0] = agt_normalize_dim("ag.cumsum", dim, x->ndim) + 1; n->i[1] = reverse; }
  return finish(out, n);
}

/* saves x (slot 0) and the output (slot 1); i[0] = dim (1-based). Along each line, with z
 * the first zero of x: before z, grad_k = sum_{j>=k} g_j out_j / x_k; at z, the same sum
 * of g_j times the cumprod of x with x_z replaced by 1; after z, 0. */
/* With zeros under create_graph the masked form above is right in value but not in its own
 * derivative (an entry after the first zero is 0, yet depends on that zero), so, as
 * PyTorch does, spell every entry out: grad_k = y_{k-1} (g_k + sum_{j>k} g_j prod_{k<i<=j} x_i),
 * O(n^2) differentiable ops along the dim, each written into zeros at position k. */
static ag_tensor *cumprod_grad_quadratic(ag_tensor *g, ag_tensor *x, ag_tensor *y, int dim, const aga_input_meta *m) {
  if (x->ndim == 0) { agt_retain(g); return g; }   /* a 0-dim cumprod is the identity */
  int d0 = agt_normalize_dim("ag.cumprod", dim, x->ndim);
  if (d0 < 0) return NULL;
  int64_t len = x->ndim ? x->sizes[d0] : 1, d64 = dim;
  ag_tensor *acc = NULL;
  for (int64_t k = 0; k < len; k++) {
    scope S = {.n = 0};
    scope *s = &S;
    ag_tensor *sk = track(s, aga_narrow(g, dim, k + 1, 1));
    if (k < len - 1) {
      ag_tensor *ck = track(s, aga_cumprod(track(s, aga_narrow(x, dim, k + 2, len - k - 1)), dim));
      ag_tensor *gr = track(s, aga_narrow(g, dim, k + 2, len - k - 1));
      ag_tensor *tail = mul(s, gr, ck);
      sk = add(s, sk, tail ? track(s, aga_reduce(AG_RED_SUM, tail, 1, &d64, 1)) : NULL);
    }
    if (k > 0) sk = mul(s, sk, track(s, aga_narrow(y, dim, k, 1)));
    ag_tensor *piece = sk ? track(s, aga_slice_backward(sk, m, d0, k + 1, 1)) : NULL;
    ag_tensor *next = piece ? (acc ? add(s, acc, piece) : piece) : NULL;
    if (next) agt_retain(next);
    int rc = done(s);
    if (acc) agt_release(acc);
    acc = next;
    if (rc || !acc) { if (acc) agt_release(acc); return NULL; }
  }
  return acc ? acc : agt_full(m->ndim, m->sizes, 0, g->scalar_type);
}

FORMULA(f_cumprod) {
  BEGIN;
  int dim = (int)n->i[0];
  ag_tensor *x = saved(s, n, 0), *y = saved(s, n, 1);
  ag_tensor *is0 = eqs(s, x, 0);
  ag_tensor *anyz = is0 ? track(s, agt_reduce(AG_RED_ANY, is0, 0, NULL, 0)) : NULL;
  if (!anyz) { S.failed = 1; END; }
  if (!*(uint8_t *)agt_ptr(anyz)) {
    SET(0, dvd(s, cumsum_(s, mul(s, g, y), dim, 1), x));
    END;
  }
  if (aga_grad_mode) {
    SET(0, track(s, cumprod_grad_quadratic(g, x, y, dim, &n->in_meta[0])));
    END;
  }
  ag_tensor *c = is0 ? track(s, agt_cumsum(is0, dim, 0)) : NULL;          /* zeros so far (int64) */
  ag_tensor *before = cmps(s, AG_OP_EQ, c, 0);
  ag_tensor *first = land(s, is0, cmps(s, AG_OP_EQ, c, 1));
  ag_tensor *one = x ? scalar_of(s, 1, x->scalar_type) : NULL, *zero = x ? scalar_of(s, 0, x->scalar_type) : NULL;
  ag_tensor *ga = dvd(s, cumsum_(s, mul(s, g, y), dim, 1), where(s, before, x, one));
  ag_tensor *xp = where(s, first, one, x);
  ag_tensor *outp = xp ? track(s, aga_cumprod(xp, dim)) : NULL;
  ag_tensor *gf = cumsum_(s, mul(s, g, outp), dim, 1);
  SET(0, where(s, before, ga, where(s, first, gf, zero)));
  END;
}
static const aga_kind_info cumprod_kind = {"CumprodBackward0", f_cumprod};

ag_tensor *aga_cumprod(ag_tensor *x, int dim) {
  ag_tensor *out = agt_cumprod(x, dim);
  if (!out || !aga_should_record(x) || !agt_is_float(out->scalar_type)) return out;
  aga_node *n = keep(aga_node_new(&cumprod_kind, 1, &x, 1), x, 0, out, 1, NULL, 0);
  if (n) n->i[0] = agt_normalize_dim("ag.cumprod", dim, x->ndim) + 1;
  return finish(out, n);
}

/* ======================= sort, topk, gather ======================= */
/* value-selecting ops: saves the indices (slot 0); i[0] = dim (1-based). The gradient
 * goes back to the selected positions; the pair gather / scatter-add are each other's
 * adjoints, so every order works. */
FORMULA(f_select_values) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  ag_tensor *idx = saved(s, n, 0);
  SET(0, idx ? track(s, aga_scatter_add_zeros(g, (int)n->i[0], idx, m->ndim, m->sizes)) : NULL);
  END;
}
FORMULA(f_scatter_add_zeros) {
  BEGIN;
  ag_tensor *idx = saved(s, n, 0);
  SET(0, idx ? track(s, aga_gather_dim(g, (int)n->i[0], idx)) : NULL);
  END;
}
static const aga_kind_info sort_kind = {"SortBackward0", f_select_values};
static const aga_kind_info topk_kind = {"TopkBackward0", f_select_values};
static const aga_kind_info gather_kind = {"GatherBackward0", f_select_values};
static const aga_kind_info scatter_kind = {"ScatterAddBackward0", f_scatter_add_zeros};

static ag_tensor *record_select(const aga_kind_info *kind, ag_tensor *out, ag_tensor *x, ag_tensor *idx, int dim) {
  if (!out || !aga_should_record(x) || !agt_is_float(out->scalar_type)) return out;
  aga_node *n = keep(aga_node_new(kind, 1, &x, 1), idx, 0, NULL, 0, NULL, 0);
  if (n) n->i[0] = agt_normalize_dim("", dim, x->ndim) + 1;
  return finish(out, n);
}

ag_tensor *aga_sort(ag_tensor *x, int dim, int descending, ag_tensor **indices) {
  ag_tensor *out = agt_sort(x, dim, descending, indices);
  if (!out) return NULL;
  out = record_select(&sort_kind, out, x, *indices, dim);
  if (!out) agt_release(*indices);
  return out;
}

ag_tensor *aga_topk(ag_tensor *x, int64_t k, int dim, int largest, ag_tensor **indices) {
  ag_tensor *out = agt_topk(x, k, dim, largest, indices);
  if (!out) return NULL;
  out = record_select(&topk_kind, out, x, *indices, dim);
  if (!out) agt_release(*indices);
  return out;
}

ag_tensor *aga_gather_dim(ag_tensor *x, int dim, ag_tensor *idx) {
  return record_select(&gather_kind, agt_gather_dim(x, dim, idx), x, idx, dim);
}

ag_tensor *aga_scatter_add_zeros(ag_tensor *g, int dim, ag_tensor *idx, int ndim, const int64_t *sizes) {
  ag_tensor *out = agt_scatter_add_zeros(g, dim, idx, ndim, sizes);
  if (!out || !aga_should_record(g)) return out;
  aga_node *n = keep(aga_node_new(&scatter_kind, 1, &g, 1), idx, 0, NULL, 0, NULL, 0);
  if (n) n->i[0] = agt_normalize_dim("", dim, ndim) + 1;
  return finish(out, n);
}
