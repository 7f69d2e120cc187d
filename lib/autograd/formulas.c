/* formulas.c: the backward formulas of the tensor core's ops in one registry, as
 * derivatives.yaml is for PyTorch (op families in other files keep their own tables).
 * The engine sums broadcast gradients back to each input's shape and casts them to its
 * dtype, so no formula handles broadcasting. See formula.h for the toolkit. */
#include "formula.h"
#include "ag_index_grad.h"
#include "ag_math_grad.h"
#include <string.h>

/* ---- arithmetic ---- */
FORMULA(f_add0) { BEGIN; SET(0, g); SET(1, g); END; }
FORMULA(f_add1) { BEGIN; SET(0, g); END; }
FORMULA(f_sub0) { BEGIN; SET(0, g); SET(1, neg(s, g)); END; }
FORMULA(f_rsub1) { BEGIN; SET(0, neg(s, g)); END; }
FORMULA(f_mul0) {
  BEGIN;
  SET(0, mul(s, g, saved(s, n, 1)));
  SET(1, mul(s, g, saved(s, n, 0)));
  END;
}
FORMULA(f_mul1) { BEGIN; SET(0, muls(s, g, n->d[3])); END; }
FORMULA(f_div0) {
  BEGIN;
  if (n->i[0]) {            /* s / a: -g * result / a */
    ag_tensor *a = saved(s, n, 0), *r = saved(s, n, 1);
    SET(0, neg(s, mul(s, g, dvd(s, r, a))));
    END;
  }
  ag_tensor *a = saved(s, n, 0), *b = saved(s, n, 1);
  SET(0, dvd(s, g, b));
  SET(1, neg(s, mul(s, g, dvd(s, a, mul(s, b, b)))));
  END;
}
FORMULA(f_div1) { BEGIN; SET(0, muls(s, g, 1.0 / n->d[3])); END; }
FORMULA(f_pow0) {              /* a ^ e: g * e * a^(e-1), exactly zero when e == 0 */
  BEGIN;
  double e = n->d[3];
  ag_tensor *a = saved(s, n, 0);
  if (e == 0) SET(0, zeros_like(s, g));
  else SET(0, mul(s, g, muls(s, pows(s, a, e - 1), e)));
  END;
}
FORMULA(f_pow1) {              /* a ^ b */
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *b = saved(s, n, 1), *r = saved(s, n, 2);
  SET(0, mul(s, g, mul(s, b, pw(s, a, adds(s, b, -1)))));
  if (needs(n, 1)) {
    /* zero where a == 0 and b >= 0, as PyTorch: the limit, not 0 * -inf */
    ag_tensor *mask = a && b ? track(s, agt_binary(AG_OP_LOGICAL_AND, eqs(s, a, 0), ges(s, b, 0))) : NULL;
    SET(1, where(s, mask, zeros_like(s, g), mul(s, g, mul(s, r, lg(s, a)))));
  }
  END;
}
FORMULA(f_pow2) {              /* s ^ a: g * result * log(s) */
  BEGIN;
  double base = n->d[3];
  ag_tensor *r = saved(s, n, 0);
  if (base == 0) SET(0, zeros_like(s, g));
  else SET(0, mul(s, g, muls(s, r, log(base))));
  END;
}
static int minmax(aga_node *n, ag_tensor **gout, ag_tensor **gin, int lose_op) {
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *b = saved(s, n, 1);
  ag_tensor *half = muls(s, g, 0.5), *z = zeros_like(s, g), *tie = eq(s, a, b);
  SET(0, where(s, cmp(s, lose_op, a, b), z, where(s, tie, half, g)));
  SET(1, where(s, cmp(s, lose_op, b, a), z, where(s, tie, half, g)));
  END;
}
FORMULA(f_maximum) { return minmax(n, gout, gin, AG_OP_LT); }
FORMULA(f_minimum) { return minmax(n, gout, gin, AG_OP_GT); }
FORMULA(f_atan2) {
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *b = saved(s, n, 1);
  ag_tensor *den = add(s, mul(s, a, a), mul(s, b, b));
  SET(0, mul(s, g, dvd(s, b, den)));
  SET(1, neg(s, mul(s, g, dvd(s, a, den))));
  END;
}
FORMULA(f_remainder0) {        /* a - floor(a / b) * b */
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *b = saved(s, n, 1);
  SET(0, g);
  SET(1, neg(s, mul(s, g, track(s, a && b ? agt_unary(AG_UOP_FLOOR, dvd(s, a, b)) : NULL))));
  END;
}
FORMULA(f_remainder1) { BEGIN; SET(0, g); END; }

/* ---- unary ---- */
FORMULA(f_neg) { BEGIN; SET(0, neg(s, g)); END; }
FORMULA(f_zero) { BEGIN; SET(0, zeros_like(s, g)); END; }
FORMULA(f_abs) { BEGIN; SET(0, mul(s, g, sgn(s, saved(s, n, 0)))); END; }
FORMULA(f_relu) {             /* one fused pass; composite ops when it must record */
  BEGIN;
  ag_tensor *r = saved(s, n, 0);
  /* the incoming gradient is overwritten when only the engine holds it */
  int own = g->refcount == 1 && g->storage->refcount == 1 && !g->meta;
  if (!aga_grad_mode && r) SET(0, track(s, agt_relu_backward_ex(g, r, own)));
  else SET(0, where(s, gts(s, r, 0), g, zeros_like(s, g)));
  END;
}
FORMULA(f_exp) { BEGIN; SET(0, mul(s, g, saved(s, n, 0))); END; }
FORMULA(f_expm1) { BEGIN; SET(0, mul(s, g, adds(s, saved(s, n, 0), 1))); END; }
FORMULA(f_log) { BEGIN; SET(0, dvd(s, g, saved(s, n, 0))); END; }
FORMULA(f_log1p) { BEGIN; SET(0, dvd(s, g, adds(s, saved(s, n, 0), 1))); END; }
FORMULA(f_log2) { BEGIN; SET(0, dvd(s, g, muls(s, saved(s, n, 0), M_LN2))); END; }
FORMULA(f_sqrt) { BEGIN; SET(0, dvd(s, g, muls(s, saved(s, n, 0), 2))); END; }
FORMULA(f_rsqrt) { BEGIN; SET(0, mul(s, g, muls(s, pows(s, saved(s, n, 0), 3), -0.5))); END; }
FORMULA(f_reciprocal) { BEGIN; ag_tensor *r = saved(s, n, 0); SET(0, neg(s, mul(s, g, mul(s, r, r)))); END; }
FORMULA(f_tanh) { BEGIN; ag_tensor *r = saved(s, n, 0); SET(0, mul(s, g, rsubs(s, mul(s, r, r), 1))); END; }
FORMULA(f_sigmoid) { BEGIN; ag_tensor *r = saved(s, n, 0); SET(0, mul(s, g, mul(s, r, rsubs(s, r, 1)))); END; }
FORMULA(f_tan) { BEGIN; ag_tensor *r = saved(s, n, 0); SET(0, mul(s, g, adds(s, mul(s, r, r), 1))); END; }
FORMULA(f_sin) { BEGIN; SET(0, mul(s, g, cs(s, saved(s, n, 0)))); END; }
FORMULA(f_cos) { BEGIN; SET(0, neg(s, mul(s, g, sn(s, saved(s, n, 0))))); END; }
FORMULA(f_sinh) { BEGIN; SET(0, mul(s, g, ch(s, saved(s, n, 0)))); END; }
FORMULA(f_cosh) { BEGIN; SET(0, mul(s, g, sh(s, saved(s, n, 0)))); END; }
FORMULA(f_asin) { BEGIN; ag_tensor *a = saved(s, n, 0); SET(0, dvd(s, g, sq(s, rsubs(s, mul(s, a, a), 1)))); END; }
FORMULA(f_acos) { BEGIN; ag_tensor *a = saved(s, n, 0); SET(0, neg(s, dvd(s, g, sq(s, rsubs(s, mul(s, a, a), 1))))); END; }
FORMULA(f_atan) { BEGIN; ag_tensor *a = saved(s, n, 0); SET(0, dvd(s, g, adds(s, mul(s, a, a), 1))); END; }
FORMULA(f_erf) {
  BEGIN;
  ag_tensor *a = saved(s, n, 0);
  SET(0, mul(s, g, muls(s, ex(s, neg(s, mul(s, a, a))), 1.1283791670955126)));
  END;
}
FORMULA(f_clamp) {             /* gradient passes where lo <= a <= hi; exact zeros elsewhere */
  BEGIN;
  ag_tensor *a = saved(s, n, 0);
  ag_tensor *in = a ? track(s, agt_binary(AG_OP_LOGICAL_AND, ges(s, a, n->d[0]), les(s, a, n->d[1]))) : NULL;
  SET(0, where(s, in, g, zeros_like(s, g)));
  END;
}
FORMULA(f_where) {             /* NaN-safe: the unselected branch gets exact zeros */
  BEGIN;
  ag_tensor *c = saved(s, n, 0), *z = zeros_like(s, g);
  SET(0, where(s, c, g, z));
  SET(1, where(s, c, z, g));
  END;
}

/* ---- reductions ---- */
FORMULA(f_sum) { BEGIN; SET(0, expand_to(s, unsqueeze_reduced(s, n, g), &n->in_meta[0])); END; }
FORMULA(f_mean) { BEGIN; SET(0, muls(s, expand_to(s, unsqueeze_reduced(s, n, g), &n->in_meta[0]), 1.0 / n->d[0])); END; }
/* For every element, the product of the other elements it was reduced with, as a
 * differentiable expression: reduced dims move last and flatten to R, and exclusive
 * cumulative products from both ends multiply. Exact with zeros, and its own gradient is
 * right too (what create_graph needs). */
static ag_tensor *prod_others(scope *s, aga_node *n, ag_tensor *a) {
  const aga_input_meta *m = &n->in_meta[0];
  int nd = m->ndim, nk = 0;
  if (!a || nd == 0) return a ? track(s, agt_full(0, NULL, 1, a->scalar_type)) : NULL;
  bool red[AG_MAX_DIMS] = {0};
  if (n->i[1] == 0) for (int d = 0; d < nd; d++) red[d] = true;
  for (int k = 0; k < n->i[1]; k++) red[n->i[2 + k] - 1] = true;
  int64_t perm[AG_MAX_DIMS], inv[AG_MAX_DIMS], shape[AG_MAX_DIMS + 1], psizes[AG_MAX_DIMS], R = 1;
  int k = 0;
  for (int d = 0; d < nd; d++) if (!red[d]) { perm[k] = d + 1; shape[k] = m->sizes[d]; k++; nk++; }
  for (int d = 0; d < nd; d++) if (red[d]) { perm[k++] = d + 1; R *= m->sizes[d]; }
  for (int q = 0; q < nd; q++) { inv[perm[q] - 1] = q + 1; psizes[q] = m->sizes[perm[q] - 1]; }
  shape[nk] = R;
  int last = nk + 1;                                   /* the flattened reduced dim, 1-based */
  ag_tensor *x = track(s, aga_reshape(track(s, aga_permute(a, nd, perm)), nk + 1, shape));
  ag_tensor *others;
  if (R <= 1) {
    others = x ? track(s, agt_full(nk + 1, shape, 1, a->scalar_type)) : NULL;
  } else {
    int64_t one_shape[AG_MAX_DIMS + 1];
    memcpy(one_shape, shape, (nk + 1) * sizeof(int64_t));
    one_shape[nk] = 1;
    int64_t flipdim = last;
    ag_tensor *ones = track(s, agt_full(nk + 1, one_shape, 1, a->scalar_type));
    ag_tensor *head = x ? track(s, aga_narrow(x, last, 1, R - 1)) : NULL;
    ag_tensor *tail = x ? track(s, aga_narrow(x, last, 2, R - 1)) : NULL;
    ag_tensor *lc = head ? track(s, aga_cumprod(head, last)) : NULL;
    ag_tensor *tf = tail ? track(s, aga_flip(tail, 1, &flipdim)) : NULL;
    ag_tensor *rc = tf ? track(s, aga_cumprod(tf, last)) : NULL;
    ag_tensor *rf = rc ? track(s, aga_flip(rc, 1, &flipdim)) : NULL;
    ag_tensor *left = ones && lc ? track(s, aga_cat(2, (ag_tensor *[]){ones, lc}, last)) : NULL;
    ag_tensor *right = ones && rf ? track(s, aga_cat(2, (ag_tensor *[]){rf, ones}, last)) : NULL;
    others = mul(s, left, right);
  }
  ag_tensor *back = others ? track(s, aga_reshape(others, nd, psizes)) : NULL;
  return back ? track(s, aga_permute(back, nd, inv)) : NULL;
}

FORMULA(f_prod) {
  /* first order: with no zero, result / a; with one, the product of the others lands on the
   * zero; with more, everything is zero. Under create_graph: prod_others, whose own
   * gradient is right where zeros are. */
  BEGIN;
  if (aga_grad_mode) {
    ag_tensor *ge = expand_to(s, unsqueeze_reduced(s, n, g), &n->in_meta[0]);
    SET(0, mul(s, ge, prod_others(s, n, saved(s, n, 0))));
    END;
  }
  const int64_t *dims = &n->i[2];
  int nd = (int)n->i[1];
  ag_tensor *a = saved(s, n, 0);
  ag_tensor *is0 = eqs(s, a, 0);
  ag_tensor *one = a ? track(s, agt_full(a->ndim, a->sizes, 1, a->scalar_type)) : NULL;
  ag_tensor *safe = where(s, is0, one, a);
  ag_tensor *pnz = safe ? track(s, aga_reduce(AG_RED_PROD, safe, nd, dims, 1)) : NULL;
  ag_tensor *nz = is0 ? track(s, agt_reduce(AG_RED_SUM, is0, nd, dims, 1)) : NULL;
  ag_tensor *none = eqs(s, nz, 0), *single = eqs(s, nz, 1);
  ag_tensor *z = zeros_like(s, a);
  ag_tensor *at_nonzero = where(s, none ? track(s, agt_expand(none, a->ndim, a->sizes)) : NULL, dvd(s, pnz, safe), z);
  ag_tensor *at_zero = where(s, single ? track(s, agt_expand(single, a->ndim, a->sizes)) : NULL,
                             expand_to(s, pnz, &n->in_meta[0]), z);
  ag_tensor *ge = expand_to(s, unsqueeze_reduced(s, n, g), &n->in_meta[0]);
  SET(0, mul(s, ge, where(s, is0, at_zero, at_nonzero)));
  END;
}
FORMULA(f_evenly) {            /* amax/amin/max()/min(): split evenly among ties */
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *r = saved(s, n, 1);
  ag_tensor *rk = r ? unsqueeze_reduced(s, n, track(s, agt_alias(r))) : NULL;
  ag_tensor *mask = eq(s, a, rk);
  ag_tensor *maskf = mask ? track(s, agt_to_dtype(mask, g->scalar_type)) : NULL;
  ag_tensor *count = maskf ? track(s, agt_reduce(AG_RED_SUM, maskf, n->i[1] ? (int)n->i[1] : 0,
                                                 n->i[1] ? &n->i[2] : NULL, 1)) : NULL;
  if (count && n->i[1] == 0 && a) {
    int64_t ones[AG_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) ones[d] = 1;
    count = track(s, agt_view(count, a->ndim, ones));
  }
  ag_tensor *ge = expand_to(s, unsqueeze_reduced(s, n, g), &n->in_meta[0]);
  SET(0, dvd(s, mul(s, ge, maskf), count));
  END;
}
FORMULA(f_max_dim) {           /* route the gradient to the chosen (1-based) index */
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  int dim = (int)n->i[1];
  ag_tensor *idx = saved(s, n, 0);
  if (idx && !n->i[0] && m->ndim > 0) idx = track(s, agt_unsqueeze(idx, dim + 1));
  ag_tensor *gk = g;
  if (!n->i[0] && m->ndim > 0) gk = track(s, aga_unsqueeze(g, dim + 1));
  int64_t len = m->ndim ? m->sizes[dim] : 1;
  ag_tensor *ar = track(s, agt_arange(1, (double)len + 1, 1, AG_INT64));
  if (ar && m->ndim > 0) {
    int64_t shape[AG_MAX_DIMS];
    for (int d = 0; d < m->ndim; d++) shape[d] = d == dim ? len : 1;
    ar = track(s, agt_view(ar, m->ndim, shape));
  }
  ag_tensor *hit = eq(s, ar, idx);
  SET(0, where(s, hit, expand_to(s, gk, m), zeros_in(s, n, 0, g->scalar_type)));
  END;
}
FORMULA(f_var) {               /* g * 2 (a - mean) / (N - correction) */
  BEGIN;
  ag_tensor *a = saved(s, n, 0);
  int nd = (int)n->i[1];
  ag_tensor *mean = a ? track(s, aga_reduce(AG_RED_MEAN, a, nd, nd ? &n->i[2] : NULL, 1)) : NULL;
  double N = n->d[0] - n->d[1];
  ag_tensor *ge = expand_to(s, unsqueeze_reduced(s, n, g), &n->in_meta[0]);
  SET(0, mul(s, ge, muls(s, sub(s, a, mean), 2.0 / N)));
  END;
}
FORMULA(f_std) {               /* g (a - mean) / ((N - correction) std) */
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *r = saved(s, n, 1);
  int nd = (int)n->i[1];
  ag_tensor *mean = a ? track(s, aga_reduce(AG_RED_MEAN, a, nd, nd ? &n->i[2] : NULL, 1)) : NULL;
  double N = n->d[0] - n->d[1];
  ag_tensor *ge = expand_to(s, unsqueeze_reduced(s, n, dvd(s, g, muls(s, r, N))), &n->in_meta[0]);
  SET(0, mul(s, ge, sub(s, a, mean)));
  END;
}

/* ---- views ---- */
FORMULA(f_view) { BEGIN; SET(0, reshape_to(s, g, &n->in_meta[0])); END; }
FORMULA(f_transpose) { BEGIN; SET(0, transpose(s, g, (int)n->i[0], (int)n->i[1])); END; }
FORMULA(f_t) { BEGIN; SET(0, n->in_meta[0].ndim < 2 ? g : transpose(s, g, 1, 2)); END; }
FORMULA(f_permute) {
  BEGIN;
  int nd = n->in_meta[0].ndim;
  int64_t inv[AG_MAX_DIMS];
  for (int k = 0; k < nd; k++) inv[n->i[k]] = k + 1;
  SET(0, track(s, aga_permute(g, nd, inv)));
  END;
}
/* select/narrow: into the input's pending gradient in place when the engine owns it */
FORMULA(f_slice) {
  BEGIN;
  int d = needs(n, 0) ? aga_pending_slice_add(n, 0, g, (int)n->i[0], n->i[1], n->i[2], 0) : 0;
  if (d < 0) S.failed = 1;
  else if (d == 0) SET(0, track(s, aga_slice_backward(g, &n->in_meta[0], (int)n->i[0], n->i[1], n->i[2])));
  END;
}
FORMULA(f_select) {
  BEGIN;
  int d = needs(n, 0) ? aga_pending_slice_add(n, 0, g, (int)n->i[0], n->i[1], 0, 1) : 0;
  if (d < 0) S.failed = 1;
  else if (d == 0) SET(0, track(s, aga_select_backward(g, &n->in_meta[0], (int)n->i[0], n->i[1])));
  END;
}
FORMULA(f_slice_bw) { BEGIN; SET(0, track(s, aga_narrow(g, (int)n->i[0] + 1, n->i[1], n->i[2]))); END; }
FORMULA(f_select_bw) { BEGIN; SET(0, track(s, aga_select(g, (int)n->i[0] + 1, n->i[1]))); END; }
FORMULA(f_expand) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  SET(0, track(s, aga_sum_to_size(g, m->ndim, m->sizes)));
  END;
}
FORMULA(f_identity) { BEGIN; SET(0, g); END; }
FORMULA(f_to_copy) { BEGIN; SET(0, track(s, aga_to_dtype(g, n->in_meta[0].scalar_type))); END; }

/* ---- matrix products ---- */
FORMULA(f_mm) {              /* each gradient in its input's layout (n->i[0], n->i[1]) */
  BEGIN;
  if (needs(n, 0)) {
    ag_tensor *b = saved(s, n, 1);
    if (n->i[0]) SET(0, transpose(s, track(s, b ? aga_mm(b, transpose(s, g, 1, 2)) : NULL), 1, 2));
    else SET(0, track(s, b ? aga_mm(g, transpose(s, b, 1, 2)) : NULL));
  }
  if (needs(n, 1)) {
    ag_tensor *a = saved(s, n, 0);
    if (n->i[1]) SET(1, transpose(s, track(s, a ? aga_mm(transpose(s, g, 1, 2), a) : NULL), 1, 2));
    else SET(1, track(s, a ? aga_mm(transpose(s, a, 1, 2), g) : NULL));
  }
  END;
}
FORMULA(f_bmm) {
  BEGIN;
  if (needs(n, 0)) SET(0, track(s, aga_bmm(g, transpose(s, saved(s, n, 1), 2, 3))));
  if (needs(n, 1)) SET(1, track(s, aga_bmm(transpose(s, saved(s, n, 0), 2, 3), g)));
  END;
}
FORMULA(f_dot) {
  BEGIN;
  SET(0, mul(s, g, saved(s, n, 1)));
  SET(1, mul(s, g, saved(s, n, 0)));
  END;
}

const aga_kind_info aga_kinds[K_NKINDS] = {
  [K_ACCUMULATE] = {"AccumulateGrad", NULL}, [K_LUA] = {"FunctionBackward", NULL},
  [K_ADD0] = {"AddBackward0", f_add0}, [K_ADD1] = {"AddBackward0", f_add1},
  [K_SUB0] = {"SubBackward0", f_sub0}, [K_SUB1] = {"SubBackward0", f_add1},
  [K_RSUB1] = {"RsubBackward1", f_rsub1},
  [K_MUL0] = {"MulBackward0", f_mul0}, [K_MUL1] = {"MulBackward0", f_mul1},
  [K_DIV0] = {"DivBackward0", f_div0}, [K_DIV1] = {"DivBackward0", f_div1},
  [K_POW0] = {"PowBackward0", f_pow0}, [K_POW1] = {"PowBackward1", f_pow1},
  [K_POW2] = {"PowBackward1", f_pow2},
  [K_MAXIMUM] = {"MaximumBackward0", f_maximum}, [K_MINIMUM] = {"MinimumBackward0", f_minimum},
  [K_ATAN2] = {"Atan2Backward0", f_atan2},
  [K_REMAINDER0] = {"RemainderBackward0", f_remainder0}, [K_REMAINDER1] = {"RemainderBackward0", f_remainder1},
  [K_NEG] = {"NegBackward0", f_neg}, [K_ABS] = {"AbsBackward0", f_abs}, [K_RELU] = {"ReluBackward0", f_relu},
  [K_SIGN] = {"SignBackward0", f_zero}, [K_EXP] = {"ExpBackward0", f_exp}, [K_LOG] = {"LogBackward0", f_log},
  [K_SQRT] = {"SqrtBackward0", f_sqrt}, [K_TANH] = {"TanhBackward0", f_tanh},
  [K_SIGMOID] = {"SigmoidBackward0", f_sigmoid}, [K_SIN] = {"SinBackward0", f_sin},
  [K_COS] = {"CosBackward0", f_cos}, [K_TAN] = {"TanBackward0", f_tan},
  [K_EXPM1] = {"Expm1Backward0", f_expm1}, [K_LOG1P] = {"Log1PBackward0", f_log1p},
  [K_LOG2] = {"Log2Backward0", f_log2}, [K_RSQRT] = {"RsqrtBackward0", f_rsqrt},
  [K_RECIPROCAL] = {"ReciprocalBackward0", f_reciprocal}, [K_ASIN] = {"AsinBackward0", f_asin},
  [K_ACOS] = {"AcosBackward0", f_acos}, [K_ATAN] = {"AtanBackward0", f_atan},
  [K_SINH] = {"SinhBackward0", f_sinh}, [K_COSH] = {"CoshBackward0", f_cosh},
  [K_ERF] = {"ErfBackward0", f_erf}, [K_FLOOR] = {"FloorBackward0", f_zero},
  [K_CEIL] = {"CeilBackward0", f_zero}, [K_ROUND] = {"RoundBackward0", f_zero},
  [K_TRUNC] = {"TruncBackward0", f_zero},
  [K_CLAMP] = {"ClampBackward1", f_clamp}, [K_WHERE] = {"WhereBackward0", f_where},
  [K_SUM0] = {"SumBackward0", f_sum}, [K_SUM1] = {"SumBackward1", f_sum},
  [K_MEAN0] = {"MeanBackward0", f_mean}, [K_MEAN1] = {"MeanBackward1", f_mean},
  [K_PROD0] = {"ProdBackward0", f_prod}, [K_PROD1] = {"ProdBackward1", f_prod},
  [K_AMAX] = {"AmaxBackward0", f_evenly}, [K_AMIN] = {"AminBackward0", f_evenly},
  [K_MAX_ALL] = {"MaxBackward1", f_evenly}, [K_MIN_ALL] = {"MinBackward1", f_evenly},
  [K_MAX_DIM] = {"MaxBackward0", f_max_dim}, [K_MIN_DIM] = {"MinBackward0", f_max_dim},
  [K_VAR] = {"VarBackward0", f_var}, [K_STD] = {"StdBackward0", f_std},
  [K_VIEW] = {"ViewBackward0", f_view}, [K_RESHAPE_ALIAS] = {"ReshapeAliasBackward0", f_view},
  [K_UNSAFE_VIEW] = {"UnsafeViewBackward0", f_view},
  [K_TRANSPOSE] = {"TransposeBackward0", f_transpose}, [K_T] = {"TBackward0", f_t},
  [K_PERMUTE] = {"PermuteBackward0", f_permute}, [K_SLICE] = {"SliceBackward0", f_slice},
  [K_SELECT] = {"SelectBackward0", f_select}, [K_SQUEEZE0] = {"SqueezeBackward0", f_view},
  [K_SQUEEZE1] = {"SqueezeBackward1", f_view}, [K_UNSQUEEZE] = {"UnsqueezeBackward0", f_view},
  [K_EXPAND] = {"ExpandBackward0", f_expand}, [K_CLONE] = {"CloneBackward0", f_identity},
  [K_TO_COPY] = {"ToCopyBackward0", f_to_copy},
  [K_SLICE_BACKWARD] = {"SliceBackwardBackward0", f_slice_bw},
  [K_SELECT_BACKWARD] = {"SelectBackwardBackward0", f_select_bw},
  [K_MM] = {"MmBackward0", f_mm}, [K_BMM] = {"BmmBackward0", f_bmm}, [K_DOT] = {"DotBackward0", f_dot},
};
