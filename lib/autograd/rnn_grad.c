/* rnn_grad.c: autograd for the fused LSTM cell (lib/tensor/rnn_cell.c). One node,
 * LstmCellBackward, with inputs x, h, c, w_ih, w_hh, b_ih, b_hh and outputs h', c'.
 * It saves the inputs, the biases and the forward's work buffer (activated gates and
 * tanh(c')).
 *
 * First order (the usual backward, grad mode off): one fused kernel gives the
 * pre-activation gate gradients dG [B, 4H] and dc, then dx = dG w_ih, dh = dG w_hh,
 * dW_ih = dG^T x, dW_hh = dG^T h (cblas) and db = the column sums of dG. The weight and
 * bias gradients of leaf parameters are handed to the engine as factors instead
 * (aga_defer_grouped: dG stored once, [x | h | 1] beside it), which sums a whole
 * sequence's with one GEMM.
 *
 * Under create_graph (grad mode on during backward), the formula instead recomputes the
 * cell from the saved inputs with differentiable aga_ ops and writes the same gradient
 * with them, so gradients of gradients (gradgradcheck) are correct, only slower. */
#include "ag_rnn_grad.h"
#include "ag_index_grad.h"
#include "formula.h"
#include "record.h"

static ag_tensor *sig(scope *s, ag_tensor *a) { return a ? track(s, aga_unary(AG_UOP_SIGMOID, a)) : NULL; }
static ag_tensor *th(scope *s, ag_tensor *a) { return a ? track(s, aga_unary(AG_UOP_TANH, a)) : NULL; }
static ag_tensor *mmd(scope *s, ag_tensor *a, ag_tensor *b) { return a && b ? track(s, aga_mm(a, b)) : NULL; }
static ag_tensor *tr(scope *s, ag_tensor *a) { return a ? track(s, aga_t(a)) : NULL; }
static ag_tensor *nar(scope *s, ag_tensor *a, int64_t start, int64_t len) {
  return a ? track(s, aga_narrow(a, 2, start, len)) : NULL;
}
/* a + b where either may be NULL (zero) */
static ag_tensor *add0(scope *s, ag_tensor *a, ag_tensor *b) { return !a ? b : !b ? a : add(s, a, b); }
/* a * b where a NULL means zero */
static ag_tensor *mul0(scope *s, ag_tensor *a, ag_tensor *b) { return a ? mul(s, a, b) : NULL; }
/* x * (1 - x) */
static ag_tensor *dsig(scope *s, ag_tensor *x) { return mul(s, x, rsubs(s, x, 1)); }

static int lstm_composite(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  scope S1 = {.n = 0}, S2 = {.n = 0};
  scope *s = &S1, *s2 = &S2;
  int64_t H = n->in_meta[1].sizes[1];
  ag_tensor *x = saved(s, n, 0), *h = saved(s, n, 1), *c = saved(s, n, 2), *wi = saved(s, n, 3), *wh = saved(s, n, 4);
  ag_tensor *bi = n->saved[6] ? saved(s, n, 6) : NULL, *bh = n->saved[7] ? saved(s, n, 7) : NULL;
  ag_tensor *pre = add(s, mmd(s, x, tr(s, wi)), mmd(s, h, tr(s, wh)));
  pre = add0(s, add0(s, pre, bi), bh);
  ag_tensor *ig = sig(s, nar(s, pre, 1, H)), *fg = sig(s, nar(s, pre, H + 1, H));
  ag_tensor *gg = th(s, nar(s, pre, 2 * H + 1, H)), *og = sig(s, nar(s, pre, 3 * H + 1, H));
  ag_tensor *tc = th(s, add(s, mul(s, fg, c), mul(s, ig, gg)));
  if (s->failed) { done(s2); return done(s); }
  ag_tensor *gh = gout[0], *gc = gout[1];
  ag_tensor *dcn = add0(s2, gc, mul0(s2, gh, mul(s2, og, rsubs(s2, mul(s2, tc, tc), 1))));
  if (!dcn) dcn = zeros_like(s2, c);
  ag_tensor *dout = gh ? mul(s2, mul(s2, gh, tc), dsig(s2, og)) : zeros_like(s2, og);
  ag_tensor *di = mul(s2, mul(s2, dcn, gg), dsig(s2, ig));
  ag_tensor *df = mul(s2, mul(s2, dcn, c), dsig(s2, fg));
  ag_tensor *dg = mul(s2, mul(s2, dcn, ig), rsubs(s2, mul(s2, gg, gg), 1));
  ag_tensor *dG = NULL;
  if (di && df && dg && dout) dG = track(s2, aga_cat(4, (ag_tensor *[]){di, df, dg, dout}, 2));
  else s2->failed = 1;
  scope *keep_s = s;
  if (needs(n, 0)) { ag_tensor *r = mmd(s2, dG, wi); gin[0] = r ? out(r) : NULL; if (!r) s2->failed = 1; }
  if (needs(n, 1)) { ag_tensor *r = mmd(s2, dG, wh); gin[1] = r ? out(r) : NULL; if (!r) s2->failed = 1; }
  if (needs(n, 2)) { ag_tensor *r = mul(s2, dcn, fg); gin[2] = r ? out(r) : NULL; if (!r) s2->failed = 1; }
  ag_tensor *dGt = (needs(n, 3) || needs(n, 4)) ? tr(s2, dG) : NULL;
  if (needs(n, 3)) { ag_tensor *r = mmd(s2, dGt, x); gin[3] = r ? out(r) : NULL; if (!r) s2->failed = 1; }
  if (needs(n, 4)) { ag_tensor *r = mmd(s2, dGt, h); gin[4] = r ? out(r) : NULL; if (!r) s2->failed = 1; }
  for (int k = 5; k <= 6; k++)
    if (needs(n, k)) {
      int64_t dim = 1;
      ag_tensor *r = dG ? track(s2, aga_reduce(AG_RED_SUM, dG, 1, &dim, 0)) : NULL;
      gin[k] = r ? out(r) : NULL;
      if (!r) s2->failed = 1;
    }
  int r2 = done(s2), r1 = done(keep_s);
  return r1 || r2 ? -1 : 0;
}

static ag_tensor *pmm(scope *s, ag_tensor *a, ag_tensor *b) { return a && b ? track(s, agt_mm(a, b)) : NULL; }

static int f_lstm_cell(aga_node *n, ag_tensor **gout, ag_tensor **gin) {
  if (aga_grad_mode) return lstm_composite(n, gout, gin);
  scope S = {.n = 0};
  scope *s = &S;
  ag_tensor *c = saved(s, n, 2), *work = saved(s, n, 5);
  if (!c || !work) return done(s);
  ag_tensor *dc = NULL;
  ag_tensor *dG = track(s, agt_lstm_cell_backward(gout[0], gout[1], work, c, &dc));
  if (!dG) return done(s);
  track(s, dc);
  ag_tensor *dx = NULL, *dh = NULL;
  if (needs(n, 0) && needs(n, 1) && agt_lstm_cell_input_grads(dG, saved(s, n, 3), saved(s, n, 4), &dx, &dh)) {
    SET(0, track(s, dx));
    SET(1, track(s, dh));
  } else {
    if (needs(n, 0)) SET(0, pmm(s, dG, saved(s, n, 3)));
    if (needs(n, 1)) SET(1, pmm(s, dG, saved(s, n, 4)));
  }
  SET(2, dc);
  /* the weight and bias gradients dG^T x, dG^T h and the column sums of dG: deferred to one
   * GEMM over the whole sequence when the parameters are leaves (lazy_grad.c), else here */
  int mat_in[2], vec_in[2], nmat = 0, nvec = 0;
  ag_tensor *Bs[2];
  for (int k = 3; k <= 4; k++)
    if (needs(n, k)) { mat_in[nmat] = k; Bs[nmat++] = saved(s, n, k - 3); }
  for (int k = 5; k <= 6; k++)
    if (needs(n, k)) vec_in[nvec++] = k;
  int d = 0;
  for (int k = 0; k < nmat; k++)
    if (!Bs[k]) S.failed = 1;
  if (nmat + nvec > 0 && !S.failed) {
    d = aga_defer_grouped(n, dG, nmat, mat_in, Bs, nvec, vec_in);
    if (d < 0) S.failed = 1;
  }
  if (d == 0 && !S.failed) {
    ag_tensor *dGt = nmat ? track(s, agt_transpose(dG, 1, 2)) : NULL;
    for (int k = 0; k < nmat; k++) SET(mat_in[k], pmm(s, dGt, Bs[k]));
    if (nvec) {
      int64_t G = dG->sizes[1];
      ag_tensor *db = track(s, agt_sum_to_size(dG, 1, &G));
      SET(5, db);
      /* each bias gets its own tensor: .grad buffers may be modified in place later */
      if (needs(n, 6)) SET(6, needs(n, 5) ? (db ? track(s, agt_clone(db)) : NULL) : db);
    }
  }
  return done(s);
}

static const aga_kind_info k_lstm_cell = {"LstmCellBackward", f_lstm_cell};

int aga_lstm_cell(ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih,
                  ag_tensor *b_hh, ag_tensor **out) {
  out[0] = out[1] = NULL;
  bool rec = aga_should_record(x) || aga_should_record(h) || aga_should_record(c) || aga_should_record(w_ih) ||
             aga_should_record(w_hh) || aga_should_record(b_ih) || aga_should_record(b_hh);
  ag_tensor *work = NULL;
  if (agt_lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, &out[0], &out[1], rec ? &work : NULL)) return -1;
  if (!rec) return 0;
  aga_node *n = aga_node_new(&k_lstm_cell, 7, (ag_tensor *[]){x, h, c, w_ih, w_hh, b_ih, b_hh}, 2);
  int rc = n ? 0 : -1;
  ag_tensor *sv[8] = {x, h, c, w_ih, w_hh, work, b_ih, b_hh};
  for (int k = 0; k < 8 && !rc; k++)
    if (sv[k]) rc = aga_save(n, k, sv[k], 0);
  if (!rc) rc = aga_set_history(out[0], n, 0);
  if (!rc) rc = aga_set_history(out[1], n, 1);
  if (n) aga_node_release(n);
  agt_release(work);
  if (rc) { agt_release(out[0]); agt_release(out[1]); out[0] = out[1] = NULL; return -1; }
  return 0;
}
