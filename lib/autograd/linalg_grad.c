/* linalg_grad.c: the differentiable linear algebra ops of the math family (ag_math_grad.h)
 * and their backward formulas, written with aga_ ops so create_graph works:
 *   addmm/baddbmm: beta g, alpha g B^T, alpha A^T g;      trace: g I;
 *   inv: -A^-T g A^-T;   det: g det A^-T (the cofactor matrix when A is singular);
 *   solve: gB = A^-T g, gA = -gB X^T;   cholesky: PyTorch's formula (see f_cholesky). */
#include "record.h"
#include "formula.h"
#include "ag_math.h"
#include "ag_math_grad.h"

static inline ag_tensor *mm_(scope *s, ag_tensor *a, ag_tensor *b) { return a && b ? track(s, aga_matmul(a, b)) : NULL; }
static inline ag_tensor *mT(scope *s, ag_tensor *a) { return transpose(s, a, -2, -1); }
static inline ag_tensor *unsq(scope *s, ag_tensor *a, int d) { return a ? track(s, aga_unsqueeze(a, d)) : NULL; }
static inline ag_tensor *inv_(scope *s, ag_tensor *a) { return a ? track(s, aga_linalg_inv(a)) : NULL; }

/* ---- addmm / baddbmm: inputs input, A, B; saves A (slot 0), B (slot 1); d[0] beta, d[1] alpha ---- */
static inline ag_tensor *scaled(scope *s, ag_tensor *a, double v) { return v == 1 ? a : muls(s, a, v); }
/* i[0], i[1]: addmm's m1/m2 were column-major (aga_col_major): their gradients are computed
 * transposed-then-transposed back, in the same layout (as mm's) */
FORMULA(f_addmm) {
  BEGIN;
  double beta = n->d[0], alpha = n->d[1];
  SET(0, scaled(s, g, beta));
  if (needs(n, 1)) {
    ag_tensor *b = saved(s, n, 1);
    SET(1, scaled(s, n->i[0] ? mT(s, mm_(s, b, mT(s, g))) : mm_(s, g, mT(s, b)), alpha));
  }
  if (needs(n, 2)) {
    ag_tensor *a = saved(s, n, 0);
    SET(2, scaled(s, n->i[1] ? mT(s, mm_(s, mT(s, g), a)) : mm_(s, mT(s, a), g), alpha));
  }
  END;
}
static const aga_kind_info addmm_kind = {"AddmmBackward0", f_addmm};
static const aga_kind_info baddbmm_kind = {"BaddbmmBackward0", f_addmm};

static ag_tensor *record_addmm(const aga_kind_info *kind, ag_tensor *out, ag_tensor *in, ag_tensor *a,
                               ag_tensor *b, double beta, double alpha) {
  if (!out || !(aga_should_record(in) || aga_should_record(a) || aga_should_record(b)) ||
      !agt_is_float(out->scalar_type)) return out;
  aga_node *n = keep(aga_node_new(kind, 3, (ag_tensor *[]){in, a, b}, 1),
                     aga_req(b) ? a : NULL, 0, aga_req(a) ? b : NULL, 0, NULL, 0);
  if (n) {
    n->d[0] = beta; n->d[1] = alpha;
    n->i[0] = aga_col_major(a); n->i[1] = aga_col_major(b);
  }
  return finish(out, n);
}
ag_tensor *aga_addmm(ag_tensor *input, ag_tensor *m1, ag_tensor *m2, double beta, double alpha) {
  return record_addmm(&addmm_kind, agt_addmm(input, m1, m2, beta, alpha), input, m1, m2, beta, alpha);
}
ag_tensor *aga_baddbmm(ag_tensor *input, ag_tensor *b1, ag_tensor *b2, double beta, double alpha) {
  return record_addmm(&baddbmm_kind, agt_baddbmm(input, b1, b2, beta, alpha), input, b1, b2, beta, alpha);
}

/* ---- trace: g times the identity of the input's shape ---- */
FORMULA(f_trace) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  ag_tensor *eye = track(s, agt_eye(m->sizes[0], m->sizes[1], g->scalar_type));
  SET(0, mul(s, g, eye));
  END;
}
static const aga_kind_info trace_kind = {"TraceBackward0", f_trace};

ag_tensor *aga_trace(ag_tensor *a) {
  ag_tensor *out = agt_trace(a);
  if (!out || !aga_should_record(a) || !agt_is_float(out->scalar_type)) return out;
  return finish(out, aga_node_new(&trace_kind, 1, &a, 1));
}

/* ---- inv: saves the inverse (output) ---- */
FORMULA(f_inv) {
  BEGIN;
  ag_tensor *ai = saved(s, n, 0);
  ag_tensor *ait = mT(s, ai);
  SET(0, neg(s, mm_(s, mm_(s, ait, g), ait)));
  END;
}
static const aga_kind_info inv_kind = {"LinalgInvExBackward0", f_inv};

ag_tensor *aga_linalg_inv(ag_tensor *a) {
  ag_tensor *out = agt_linalg_inv(a);
  if (!out || !aga_should_record(a)) return out;
  return finish(out, keep(aga_node_new(&inv_kind, 1, &a, 1), out, 1, NULL, 0, NULL, 0));
}

/* ---- det: saves A (slot 0) and det (slot 1). Recorded (create_graph): g det inv(A)^T with
 * aga_ ops; otherwise g times the cofactor matrix, which is defined for singular A too. ---- */
FORMULA(f_det) {
  BEGIN;
  ag_tensor *a = saved(s, n, 0);
  ag_tensor *gu = unsq(s, unsq(s, g, -1), -1);
  ag_tensor *ai = aga_grad_mode && a ? aga_linalg_inv(a) : NULL;   /* NULL when singular */
  if (ai) {
    track(s, ai);
    ag_tensor *d = unsq(s, unsq(s, saved(s, n, 1), -1), -1);
    SET(0, mul(s, mul(s, gu, d), mT(s, ai)));
  } else {   /* not recorded, or singular under create_graph (then first order only) */
    SET(0, mul(s, gu, a ? track(s, agt_linalg_cofactor(a)) : NULL));
  }
  END;
}
static const aga_kind_info det_kind = {"LinalgDetBackward0", f_det};

ag_tensor *aga_linalg_det(ag_tensor *a) {
  ag_tensor *out = agt_linalg_det(a);
  if (!out || !aga_should_record(a)) return out;
  return finish(out, keep(aga_node_new(&det_kind, 1, &a, 1), a, 0, out, 1, NULL, 0));
}

/* ---- solve: inputs A, B; saves A (slot 0) and X (slot 1, output); i[0]: B is a vector ---- */
FORMULA(f_solve) {
  BEGIN;
  ag_tensor *a = saved(s, n, 0), *x = saved(s, n, 1);
  ag_tensor *gb = a ? track(s, aga_linalg_solve(mT(s, a), g)) : NULL;
  SET(1, gb);
  if (needs(n, 0)) {
    if (n->i[0]) SET(0, neg(s, mul(s, unsq(s, gb, -1), unsq(s, x, -2))));
    else SET(0, neg(s, mm_(s, gb, mT(s, x))));
  }
  END;
}
static const aga_kind_info solve_kind = {"LinalgSolveExBackward0", f_solve};

ag_tensor *aga_linalg_solve(ag_tensor *a, ag_tensor *b) {
  ag_tensor *out = agt_linalg_solve(a, b);
  if (!out || !(aga_should_record(a) || aga_should_record(b))) return out;
  aga_node *n = keep(aga_node_new(&solve_kind, 2, (ag_tensor *[]){a, b}, 1), a, 0, out, 1, NULL, 0);
  if (n) n->i[0] = out->ndim == a->ndim - 1 || b->ndim == 1;
  return finish(out, n);
}

/* ---- cholesky: saves the factor (output); i[0] = upper. With L lower (L = U^T if upper) and
 * gL its gradient: phi = L^T gL with the upper triangle zeroed and the diagonal halved;
 * S = L^-T phi L^-1; gA = (S + S^T) / 2. ---- */
FORMULA(f_cholesky) {
  BEGIN;
  int upper = (int)n->i[0];
  ag_tensor *l = saved(s, n, 0);
  if (upper) { l = mT(s, l); g = mT(s, g); }
  ag_tensor *mask = NULL;
  if (l) {
    int64_t k = l->sizes[l->ndim - 1];
    mask = track(s, agt_full(2, (int64_t[]){k, k}, 0, l->scalar_type));
    if (mask)
      for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j <= i; j++)
          agt_set_item(mask, 2, (int64_t[]){i + 1, j + 1}, i == j ? 0.5 : 1.0);
  }
  ag_tensor *phi = mul(s, mm_(s, mT(s, l), g), mask);
  ag_tensor *li = inv_(s, l);
  ag_tensor *sm = mm_(s, mm_(s, mT(s, li), phi), li);
  SET(0, muls(s, add(s, sm, mT(s, sm)), 0.5));
  END;
}
static const aga_kind_info cholesky_kind = {"LinalgCholeskyExBackward0", f_cholesky};

ag_tensor *aga_linalg_cholesky(ag_tensor *a, int upper) {
  ag_tensor *out = agt_linalg_cholesky(a, upper);
  if (!out || !aga_should_record(a)) return out;
  aga_node *n = keep(aga_node_new(&cholesky_kind, 1, &a, 1), out, 1, NULL, 0, NULL, 0);
  if (n) n->i[0] = upper;
  return finish(out, n);
}
