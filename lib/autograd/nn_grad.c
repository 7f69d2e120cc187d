/* nn_grad.c: the differentiable fused nn ops and their backward formulas: softmax and
 * log_softmax. A node's backward calls the fused backward kernel through another
 * differentiable op whose own formula is written with aga_ ops, so create_graph works to
 * any order. */
#include "record.h"
#include "formula.h"
#include "ag_nn.h"
#include "ag_nn_grad.h"
#include <string.h>

/* ---- softmax / log_softmax: n->i[0] = dim (1-based), n->i[1] = is_log; saves y ---- */
FORMULA(f_softmax) {
  BEGIN;
  SET(0, track(s, aga_softmax_backward_data(g, saved(s, n, 0), (int)n->i[0], (int)n->i[1])));
  END;
}
static const aga_kind_info softmax_kind = {"SoftmaxBackward0", f_softmax};
static const aga_kind_info log_softmax_kind = {"LogSoftmaxBackward0", f_softmax};

static int norm_dim(const char *op, int dim, int ndim) {
  int d = agt_normalize_dim(op, dim, ndim);
  return d < 0 ? 0 : d + 1;
}

ag_tensor *aga_softmax(ag_tensor *x, int dim, int is_log) {
  ag_tensor *y = agt_softmax(x, dim, is_log);
  if (!y || !aga_should_record(x)) return y;
  aga_node *n = keep(aga_node_new(is_log ? &log_softmax_kind : &softmax_kind, 1, &x, 1), y, 1, NULL, 0, NULL, 0);
  if (n) { n->i[0] = norm_dim("ag.softmax", dim, x->ndim); n->i[1] = is_log; }
  return finish(y, n);
}

/* The backward's backward. softmax: gi = y (g - sum(g y)), so
 *   d/dg: softmax_backward(ggi, y);   d/dy: ggi (g - sum(g y)) - g sum(ggi y).
 * log_softmax: gi = g - exp(y) sum(g), so
 *   d/dg: ggi - sum(ggi exp(y));      d/dy: -ggi exp(y) sum(g).
 * Inputs: 0 = g, 1 = y; saves g (slot 0) and y (slot 1). */
FORMULA(f_softmax_backward_data) {
  BEGIN;
  int dim = (int)n->i[0], lg = (int)n->i[1];
  int64_t d = dim;
  ag_tensor *go = saved(s, n, 0), *y = saved(s, n, 1);
#define SUMD(t) ((t) ? track(s, aga_reduce(AG_RED_SUM, (t), 1, &d, 1)) : NULL)
  if (!lg) {
    SET(0, track(s, go && y ? aga_softmax_backward_data(g, y, dim, 0) : NULL));
    SET(1, sub(s, mul(s, g, sub(s, go, SUMD(mul(s, go, y)))), mul(s, go, SUMD(mul(s, g, y)))));
  } else {
    ag_tensor *ey = ex(s, y);
    SET(0, sub(s, g, SUMD(mul(s, g, ey))));
    SET(1, neg(s, mul(s, mul(s, g, ey), SUMD(go))));
  }
#undef SUMD
  END;
}
static const aga_kind_info softmax_bwd_kind = {"SoftmaxBackwardDataBackward0", f_softmax_backward_data};
static const aga_kind_info log_softmax_bwd_kind = {"LogSoftmaxBackwardDataBackward0", f_softmax_backward_data};

ag_tensor *aga_softmax_backward_data(ag_tensor *g, ag_tensor *y, int dim, int is_log) {
  ag_tensor *gi = agt_softmax_backward(g, y, dim, is_log);
  if (!gi || !(aga_should_record(g) || aga_should_record(y))) return gi;
  aga_node *n = aga_node_new(is_log ? &log_softmax_bwd_kind : &softmax_bwd_kind, 2, (ag_tensor *[]){g, y}, 1);
  n = keep(n, g, 0, y, 0, NULL, 0);
  if (n) { n->i[0] = norm_dim("ag.softmax_backward", dim, y->ndim); n->i[1] = is_log; }
  return finish(gi, n);
}

/* ---- cross_entropy (class indices): i[0] = ignore_index, i[1] = reduction, i[2] = has
 * weight, d[0] = label_smoothing; saves x, lse, target, weight ---- */
FORMULA(f_cross_entropy) {
  BEGIN;
  if (!needs(n, 0)) END;
  ag_tensor *x = saved(s, n, 0), *lse = saved(s, n, 1), *t = saved(s, n, 2);
  ag_tensor *w = n->i[2] ? saved(s, n, 3) : NULL;
  if (!x || !lse || !t || (n->i[2] && !w)) END;
  int red = (int)n->i[1];
  if (!aga_grad_mode) {   /* plain backward: the fused kernel */
    SET(0, track(s, agt_cross_entropy_backward(g, x, lse, t, w, n->i[0], n->d[0], red)));
    END;
  }
  /* create_graph: g (Arow softmax(x) - A) with differentiable ops */
  int64_t cd = x->ndim == 1 ? 1 : 2;
  ag_tensor *A = track(s, agt_cross_entropy_target_weights(x, t, w, n->i[0], n->d[0], red));
  ag_tensor *arow = A ? track(s, agt_reduce(AG_RED_SUM, A, 1, &cd, 1)) : NULL;
  ag_tensor *p = track(s, aga_softmax(x, (int)cd, 0));
  ag_tensor *gb = red == AG_REDUCTION_NONE && x->ndim > 1 ? track(s, aga_unsqueeze(g, 2)) : g;
  SET(0, mul(s, gb, sub(s, mul(s, p, arow), A)));
  END;
}
static const aga_kind_info cross_entropy_kind = {"CrossEntropyLossBackward0", f_cross_entropy};

ag_tensor *aga_cross_entropy(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                             double label_smoothing, int reduction) {
  bool rec = aga_should_record(x);
  ag_tensor *lse = NULL;
  ag_tensor *out = agt_cross_entropy(x, target, weight, ignore_index, label_smoothing, reduction, rec ? &lse : NULL);
  if (!out || !rec) return out;
  aga_node *n = keep(aga_node_new(&cross_entropy_kind, 1, &x, 1), x, 0, lse, 0, target, 0);
  agt_release(lse);
  if (n && weight && aga_save(n, 3, weight, 0)) { aga_node_release(n); n = NULL; }
  if (n) { n->i[0] = ignore_index; n->i[1] = reduction; n->i[2] = weight != NULL; n->d[0] = label_smoothing; }
  return finish(out, n);
}

/* ---- nll_loss: i[0] = ignore_index, i[1] = reduction, i[2] = has weight; saves target,
 * weight. Its backward is linear in g, and the backward of that is nll_loss again. ---- */
FORMULA(f_nll_loss) {
  BEGIN;
  ag_tensor *t = saved(s, n, 0), *w = n->i[2] ? saved(s, n, 1) : NULL;
  const aga_input_meta *m = &n->in_meta[0];
  if (t && (w || !n->i[2]))
    SET(0, track(s, aga_nll_loss_backward(g, t, w, n->i[0], (int)n->i[1], m->ndim, m->sizes, m->scalar_type)));
  END;
}
FORMULA(f_nll_loss_backward) {
  BEGIN;
  ag_tensor *t = saved(s, n, 0), *w = n->i[2] ? saved(s, n, 1) : NULL;
  if (t && (w || !n->i[2])) SET(0, track(s, aga_nll_loss(g, t, w, n->i[0], (int)n->i[1])));
  END;
}
static const aga_kind_info nll_kind = {"NllLossBackward0", f_nll_loss};
static const aga_kind_info nll_bwd_kind = {"NllLossBackwardBackward0", f_nll_loss_backward};

static ag_tensor *nll_record(const aga_kind_info *kind, ag_tensor *out, ag_tensor *in, ag_tensor *target,
                             ag_tensor *weight, int64_t ignore_index, int reduction) {
  aga_node *n = keep(aga_node_new(kind, 1, &in, 1), target, 0, weight, 0, NULL, 0);
  if (n) { n->i[0] = ignore_index; n->i[1] = reduction; n->i[2] = weight != NULL; }
  return finish(out, n);
}

ag_tensor *aga_nll_loss(ag_tensor *x, ag_tensor *target, ag_tensor *weight, int64_t ignore_index, int reduction) {
  ag_tensor *out = agt_nll_loss(x, target, weight, ignore_index, reduction);
  if (!out || !aga_should_record(x)) return out;
  return nll_record(&nll_kind, out, x, target, weight, ignore_index, reduction);
}

ag_tensor *aga_nll_loss_backward(ag_tensor *g, ag_tensor *target, ag_tensor *weight, int64_t ignore_index,
                                 int reduction, int ndim, const int64_t *sizes, int dtype) {
  ag_tensor *out = agt_nll_loss_backward(g, target, weight, ignore_index, reduction, ndim, sizes, dtype);
  if (!out || !aga_should_record(g)) return out;
  return nll_record(&nll_bwd_kind, out, g, target, weight, ignore_index, reduction);
}

/* ---- binary_cross_entropy: the forward runs the tensor ops (each log clamped at -100, as
 * PyTorch does); the node carries PyTorch's backward, g w (x - t) / max(x (1 - x), 1e-12)
 * for x and g w (log(1 - x) - log(x)) for t, so the gradient is finite at x = 0 and 1.
 * Inputs x, t; saves x, t, weight; i[0] = reduction, i[1] = has weight, d[0] = numel ---- */
FORMULA(f_bce) {
  BEGIN;
  ag_tensor *x = saved(s, n, 0), *t = saved(s, n, 1), *w = n->i[1] ? saved(s, n, 2) : NULL;
  ag_tensor *gs = g;
  if (n->i[0] == AG_REDUCTION_MEAN) gs = muls(s, g, n->d[0] > 0 ? 1.0 / n->d[0] : NAN);
  if (w) gs = mul(s, gs, w);
  ag_tensor *one_minus = rsubs(s, x, 1);
  /* PyTorch's EPSILON is the float 1e-12f */
  ag_tensor *den = x && one_minus ? track(s, aga_clamp(mul(s, x, one_minus), (double)1e-12f, INFINITY)) : NULL;
  SET(0, mul(s, gs, dvd(s, sub(s, x, t), den)));
  SET(1, mul(s, gs, sub(s, lg(s, one_minus), lg(s, x))));
  END;
}
static const aga_kind_info bce_kind = {"BinaryCrossEntropyBackward0", f_bce};

ag_tensor *aga_binary_cross_entropy(ag_tensor *x, ag_tensor *t, ag_tensor *weight, int reduction) {
  char b1[256], b2[256];
  if (!agt_is_float(x->scalar_type) || !agt_is_float(t->scalar_type))
    return agt_fail("ag.binary_cross_entropy: expected floating point input and target, got %s and %s",
                    agt_dtype_name(x->scalar_type), agt_dtype_name(t->scalar_type));
  if (x->ndim != t->ndim || memcmp(x->sizes, t->sizes, sizeof(int64_t) * x->ndim))
    return agt_fail("ag.binary_cross_entropy: target of shape %s must have the input's shape %s",
                    AGT_SHAPE(t, b1), AGT_SHAPE(x, b2));
  if (reduction < 0 || reduction > 2)
    return agt_fail("ag.binary_cross_entropy: reduction must be 'none', 'mean' or 'sum' (got %d)", reduction);
  scope S = {.n = 0};
  scope *s = &S;
  ag_tensor *loss;
  int was = aga_grad_mode;
  aga_grad_mode = 0;
  {
    ag_tensor *lx = track(s, agt_unary(AG_UOP_LOG, x));
    ag_tensor *omx = track(s, agt_binary_scalar(AG_OP_SUB, x, 1, 1));
    ag_tensor *l1 = omx ? track(s, agt_unary(AG_UOP_LOG, omx)) : NULL;
    if (lx) agt_clamp_(lx, -100, INFINITY);
    if (l1) agt_clamp_(l1, -100, INFINITY);
    ag_tensor *omt = track(s, agt_binary_scalar(AG_OP_SUB, t, 1, 1));
    ag_tensor *sum = add(s, mul(s, t, lx), mul(s, omt, l1));
    loss = neg(s, sum);
    if (weight) loss = mul(s, loss, weight);
    if (loss && reduction != AG_REDUCTION_NONE)
      loss = track(s, agt_reduce(reduction == AG_REDUCTION_MEAN ? AG_RED_MEAN : AG_RED_SUM, loss, 0, NULL, 0));
    if (loss) agt_retain(loss);
  }
  aga_grad_mode = was;
  done(s);
  if (!loss || !(aga_should_record(x) || aga_should_record(t))) return loss;
  aga_node *n = keep(aga_node_new(&bce_kind, 2, (ag_tensor *[]){x, t}, 1), x, 0, t, 0, weight, 0);
  if (n) { n->i[0] = reduction; n->i[1] = weight != NULL; n->d[0] = (double)agt_numel(x); }
  return finish(loss, n);
}

/* ---- layer_norm and batch_norm (fused kernels in lib/tensor/nn_norm.c). Inputs x, weight,
 * bias (either may be absent); saves x, mean, rstd, weight. Without create_graph the fused
 * backward kernel runs; under create_graph the same formulas are built from aga_ ops on x,
 * with the statistics recomputed differentiably, so double backward is exact. ---- */

/* a per-channel [C] vector viewed as [1, C, 1, ...] against an input of ndim dims */
static ag_tensor *channel_view(scope *s, ag_tensor *v, int ndim) {
  if (!v) return NULL;
  int64_t shape[AG_MAX_DIMS];
  for (int d = 0; d < ndim; d++) shape[d] = 1;
  shape[1] = v->sizes[0];
  return track(s, aga_view(v, ndim, shape));
}
static ag_tensor *mean_keep(scope *s, ag_tensor *t, int nd, const int64_t *dims) {
  return t ? track(s, aga_reduce(AG_RED_MEAN, t, nd, dims, 1)) : NULL;
}

/* shared create_graph formula: dims = the normalized dims (1-based); training: statistics
 * from x, else m/r are the saved (constant) statistics already shaped to broadcast */
static int norm_formula(aga_node *n, ag_tensor **gout, ag_tensor **gin, int nd, const int64_t *dims,
                        int training, ag_tensor *m, ag_tensor *r, ag_tensor *wv, bool per_channel) {
  BEGIN;
  ag_tensor *x = saved(s, n, 0);
  double eps = n->d[0];
  ag_tensor *xc, *rstd;
  if (training) {
    xc = sub(s, x, mean_keep(s, x, nd, dims));
    rstd = pows(s, adds(s, mean_keep(s, mul(s, xc, xc), nd, dims), eps), -0.5);
  } else {
    xc = sub(s, x, m);
    rstd = r;
  }
  ag_tensor *xhat = mul(s, xc, rstd);
  ag_tensor *gw = wv ? mul(s, g, wv) : g;
  if (training)
    SET(0, mul(s, rstd, sub(s, sub(s, gw, mean_keep(s, gw, nd, dims)), mul(s, xhat, mean_keep(s, mul(s, gw, xhat), nd, dims)))));
  else
    SET(0, mul(s, gw, rstd));
  const aga_input_meta *mw = &n->in_meta[1], *mb = &n->in_meta[2];
  if (per_channel) {
    ag_tensor *gxh = mul(s, g, xhat);
    SET(1, gxh ? track(s, aga_reduce(AG_RED_SUM, gxh, nd, dims, 0)) : NULL);
    SET(2, track(s, aga_reduce(AG_RED_SUM, g, nd, dims, 0)));
  } else {
    ag_tensor *gxh = mul(s, g, xhat);
    SET(1, gxh ? track(s, aga_sum_to_size(gxh, mw->ndim, mw->sizes)) : NULL);
    SET(2, track(s, aga_sum_to_size(g, mb->ndim, mb->sizes)));
  }
  END;
}

/* hand a fused backward's results (NULL where not needed) to the engine */
static void fused_norm_backward(ag_tensor **gin, int rc, ag_tensor *gx, ag_tensor *gw, ag_tensor *gb) {
  if (rc) return;
  gin[0] = gx; gin[1] = gw; gin[2] = gb;
}

/* i[0] = nd, i[1] = has weight; d[0] = eps */
FORMULA(f_layer_norm) {
  scope S0 = {.n = 0};
  ag_tensor *x = track(&S0, aga_unpack(n, 0)), *w = n->i[1] ? track(&S0, aga_unpack(n, 3)) : NULL;
  int nd = (int)n->i[0], rc = -1;
  if (x && (w || !n->i[1])) {
    if (!aga_grad_mode) {
      ag_tensor *mean = track(&S0, aga_unpack(n, 1)), *rstd = track(&S0, aga_unpack(n, 2));
      ag_tensor *gx = NULL, *gw = NULL, *gb = NULL;
      if (mean && rstd) {
        rc = agt_layer_norm_backward(gout[0], x, mean, rstd, w, nd, needs(n, 0) ? &gx : NULL, needs(n, 1) ? &gw : NULL,
                                     needs(n, 2) ? &gb : NULL);
        fused_norm_backward(gin, rc, gx, gw, gb);
      }
    } else {
      int64_t dims[AG_MAX_DIMS];
      for (int k = 0; k < nd; k++) dims[k] = x->ndim - nd + k + 1;
      rc = norm_formula(n, gout, gin, nd, dims, 1, NULL, NULL, w, false);
    }
  }
  int rc2 = done(&S0);
  return rc ? rc : rc2;
}
static const aga_kind_info layer_norm_kind = {"NativeLayerNormBackward0", f_layer_norm};

ag_tensor *aga_layer_norm(ag_tensor *x, int nd, ag_tensor *w, ag_tensor *b, double eps) {
  bool rec = aga_should_record(x) || aga_should_record(w) || aga_should_record(b);
  ag_tensor *mean = NULL, *rstd = NULL;
  ag_tensor *y = agt_layer_norm(x, nd, w, b, eps, rec ? &mean : NULL, rec ? &rstd : NULL);
  if (!y || !rec) return y;
  aga_node *n = keep(aga_node_new(&layer_norm_kind, 3, (ag_tensor *[]){x, w, b}, 1), x, 0, mean, 0, rstd, 0);
  agt_release(mean); agt_release(rstd);
  if (n && w && aga_save(n, 3, w, 0)) { aga_node_release(n); n = NULL; }
  if (n) { n->i[0] = nd; n->i[1] = w != NULL; n->d[0] = eps; }
  return finish(y, n);
}

/* i[0] = training, i[1] = has weight; d[0] = eps */
FORMULA(f_batch_norm) {
  scope S0 = {.n = 0};
  scope *s = &S0;
  ag_tensor *x = saved(s, n, 0), *w = n->i[1] ? saved(s, n, 3) : NULL;
  ag_tensor *mean = saved(s, n, 1), *rstd = saved(s, n, 2);
  int training = (int)n->i[0], rc = -1;
  if (x && mean && rstd && (w || !n->i[1])) {
    if (!aga_grad_mode) {
      ag_tensor *gx = NULL, *gw = NULL, *gb = NULL;
      rc = agt_batch_norm_backward(gout[0], x, mean, rstd, w, training, needs(n, 0) ? &gx : NULL,
                                   needs(n, 1) ? &gw : NULL, needs(n, 2) ? &gb : NULL);
      fused_norm_backward(gin, rc, gx, gw, gb);
    } else {
      int64_t dims[AG_MAX_DIMS];
      int nd = 0;
      for (int d = 0; d < x->ndim; d++) if (d != 1) dims[nd++] = d + 1;
      rc = norm_formula(n, gout, gin, nd, dims, training, channel_view(s, mean, x->ndim),
                        channel_view(s, rstd, x->ndim), channel_view(s, w, x->ndim), true);
    }
  }
  int rc2 = done(s);
  return rc ? rc : rc2;
}
static const aga_kind_info batch_norm_kind = {"NativeBatchNormBackward0", f_batch_norm};

ag_tensor *aga_batch_norm(ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *running_mean, ag_tensor *running_var,
                          int training, double momentum, double eps) {
  bool rec = aga_should_record(x) || aga_should_record(w) || aga_should_record(b);
  ag_tensor *mean = NULL, *rstd = NULL;
  ag_tensor *y = agt_batch_norm(x, w, b, running_mean, running_var, training, momentum, eps, rec ? &mean : NULL,
                                rec ? &rstd : NULL);
  if (!y || !rec) return y;
  aga_node *n = keep(aga_node_new(&batch_norm_kind, 3, (ag_tensor *[]){x, w, b}, 1), x, 0, mean, 0, rstd, 0);
  agt_release(mean); agt_release(rstd);
  if (n && w && aga_save(n, 3, w, 0)) { aga_node_release(n); n = NULL; }
  if (n) { n->i[0] = training; n->i[1] = w != NULL; n->d[0] = eps; }
  return finish(y, n);
}
