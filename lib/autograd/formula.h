/* formula.h: the toolkit backward formulas are written with. Temporaries live in a scope
 * `S` and are released at the end; every helper passes NULL through, so a failure anywhere
 * surfaces as -1 with the first error message kept. Helpers call the differentiable aga_
 * ops, so formulas record under create_graph and higher-order gradients come for free.
 *
 *   FORMULA(f_mul) { BEGIN; SET(0, mul(s, g, saved(s, n, 1))); SET(1, ...); END; }
 */
#ifndef AG_AUTOGRAD_FORMULA_H
#define AG_AUTOGRAD_FORMULA_H
#include "internal.h"
#include <math.h>

typedef struct { ag_tensor *t[48]; int n; int failed; } scope;

static inline ag_tensor *track(scope *s, ag_tensor *x) {
  if (!x) { s->failed = 1; return NULL; }
  if (s->n == 48) { s->failed = 1; agt_release(x); agt_fail("ag: formula scope overflow"); return NULL; }
  s->t[s->n++] = x;
  return x;
}
static inline int done(scope *s) {
  for (int i = 0; i < s->n; i++) agt_release(s->t[i]);
  return s->failed ? -1 : 0;
}
/* hand a result to the engine: a new reference it owns */
static inline ag_tensor *out(ag_tensor *x) { agt_retain(x); return x; }

#define BIN(name, OP) static inline ag_tensor *name(scope *s, ag_tensor *a, ag_tensor *b) { \
  return a && b ? track(s, aga_binary(OP, a, b)) : NULL; }
BIN(add, AG_OP_ADD) BIN(sub, AG_OP_SUB) BIN(mul, AG_OP_MUL) BIN(dvd, AG_OP_DIV) BIN(pw, AG_OP_POW)
#define BINS(name, OP, FIRST) static inline ag_tensor *name(scope *s, ag_tensor *a, double v) { \
  return a ? track(s, aga_binary_scalar(OP, a, v, FIRST)) : NULL; }
BINS(adds, AG_OP_ADD, 0) BINS(muls, AG_OP_MUL, 0) BINS(pows, AG_OP_POW, 0) BINS(rsubs, AG_OP_SUB, 1)
BINS(gts, AG_OP_GT, 0) BINS(eqs, AG_OP_EQ, 0) BINS(ges, AG_OP_GE, 0) BINS(les, AG_OP_LE, 0)
#define UN(name, OP) static inline ag_tensor *name(scope *s, ag_tensor *a) { return a ? track(s, aga_unary(OP, a)) : NULL; }
UN(neg, AG_UOP_NEG) UN(sgn, AG_UOP_SIGN) UN(ex, AG_UOP_EXP) UN(lg, AG_UOP_LOG) UN(sn, AG_UOP_SIN)
UN(cs, AG_UOP_COS) UN(sq, AG_UOP_SQRT) UN(sh, AG_UOP_SINH) UN(ch, AG_UOP_COSH)
static inline ag_tensor *where(scope *s, ag_tensor *c, ag_tensor *a, ag_tensor *b) {
  return c && a && b ? track(s, aga_where(c, a, b)) : NULL;
}
static inline ag_tensor *eq(scope *s, ag_tensor *a, ag_tensor *b) { return a && b ? track(s, agt_binary(AG_OP_EQ, a, b)) : NULL; }
static inline ag_tensor *cmp(scope *s, int op, ag_tensor *a, ag_tensor *b) { return a && b ? track(s, agt_binary(op, a, b)) : NULL; }
static inline ag_tensor *zeros_like(scope *s, ag_tensor *a) { return a ? track(s, agt_full(a->ndim, a->sizes, 0, a->scalar_type)) : NULL; }
static inline ag_tensor *zeros_in(scope *s, aga_node *n, int i, int dtype) {
  return track(s, agt_full(n->in_meta[i].ndim, n->in_meta[i].sizes, 0, dtype));
}
static inline ag_tensor *saved(scope *s, aga_node *n, int slot) { return track(s, aga_unpack(n, slot)); }
static inline ag_tensor *expand_to(scope *s, ag_tensor *a, const aga_input_meta *m) {
  return a ? track(s, aga_expand(a, m->ndim, m->sizes)) : NULL;
}
static inline ag_tensor *reshape_to(scope *s, ag_tensor *a, const aga_input_meta *m) {
  return a ? track(s, aga_reshape(a, m->ndim, m->sizes)) : NULL;
}
static inline ag_tensor *transpose(scope *s, ag_tensor *a, int d0, int d1) { return a ? track(s, aga_transpose(a, d0, d1)) : NULL; }
/* Undo a reduction's squeezing: unsqueeze the reduced dims (n->i: keepdim, ndims, dims...). */
static inline ag_tensor *unsqueeze_reduced(scope *s, aga_node *n, ag_tensor *g) {
  if (!g) return NULL;
  const aga_input_meta *m = &n->in_meta[0];
  if (n->i[0] || m->ndim == 0) return g;
  int64_t shape[AG_MAX_DIMS];
  bool red[AG_MAX_DIMS] = {0};
  if (n->i[1] == 0) for (int d = 0; d < m->ndim; d++) red[d] = true;
  for (int k = 0; k < n->i[1]; k++) red[n->i[2 + k] - 1] = true;
  for (int d = 0; d < m->ndim; d++) shape[d] = red[d] ? 1 : m->sizes[d];
  return track(s, aga_reshape(g, m->ndim, shape));
}

#define FORMULA(NAME) static int NAME(aga_node *n, ag_tensor **gout, ag_tensor **gin)
#define BEGIN scope S = {.n = 0}; scope *s = &S; ag_tensor *g = gout[0]; (void)g; (void)s
#define SET(i, expr) do { if (needs(n, i)) { ag_tensor *r_ = (expr); gin[i] = r_ ? out(r_) : NULL; if (!r_) S.failed = 1; } } while (0)
#define END return done(s)

#endif
