/* conv_grad.c: autograd for convolution, pooling and interpolation: the differentiable
 * wrappers, their node kinds (named as PyTorch's) and the backward formulas, all in one
 * registry below. The formulas are written with these same differentiable ops:
 *   conv(x, w):           gx = conv_transpose(g, w),  gw = conv_weight_grad(g, x),  gb = sum(g)
 *   conv_transpose(x, w): gx = conv(g, w),            gw = conv_weight_grad(x, g)
 *   conv_weight_grad(gy, x) [ggw]:  d gy = conv(x, ggw),  d x = conv_transpose(gy, ggw)
 * and every pooling/interpolation op is linear, paired with its adjoint (max pooling's is
 * a scatter at the saved indices, whose adjoint is the gather), so create_graph gives
 * gradients of any order. Op parameters live in the node: the opts struct is copied into
 * node->i (and the weight's sizes after it). */
#include "ag_conv_grad.h"
#include "formula.h"
#include "record.h"
#include <string.h>

_Static_assert(sizeof(ag_conv_opts) + 4 * sizeof(int64_t) <= sizeof(((aga_node *)0)->i), "conv opts fit a node");
_Static_assert(sizeof(ag_pool_opts) <= sizeof(((aga_node *)0)->i), "pool opts fit a node");

static ag_conv_opts conv_opts(aga_node *n) { ag_conv_opts o; memcpy(&o, n->i, sizeof o); return o; }
static ag_pool_opts pool_opts(aga_node *n) { ag_pool_opts o; memcpy(&o, n->i, sizeof o); return o; }
static aga_node *node_of(const aga_kind_info *k, ag_tensor *a) { return aga_node_new(k, 1, &a, 1); }
static const int64_t *wsizes(aga_node *n) { return n->i + (sizeof(ag_conv_opts) + 7) / 8; }

/* The transposed convolution that maps `small` (conv output side) back onto exactly `big`'s
 * spatial sizes: output_padding takes up what the forward's floor division dropped. */
static ag_conv_opts transpose_to(ag_conv_opts o, const int64_t *small, const int64_t *big, const int64_t *ws) {
  o.transposed = 1;
  for (int d = 0; d < o.nsp; d++) {
    int k = 2 - o.nsp + d;
    o.output_padding[k] = big[2 + d] - ((small[2 + d] - 1) * o.stride[k] - 2 * o.padding[k] +
                                        o.dilation[k] * (ws[2 + d] - 1) + 1);
  }
  return o;
}
static ag_conv_opts plain(ag_conv_opts o) {
  o.transposed = 0;
  o.output_padding[0] = o.output_padding[1] = 0;
  return o;
}

static ag_tensor *conv(scope *s, ag_tensor *x, ag_tensor *w, const ag_conv_opts *o) {
  return x && w ? track(s, aga_convolution(x, w, NULL, o)) : NULL;
}
static ag_tensor *wgrad(scope *s, ag_tensor *gy, ag_tensor *x, const int64_t *ws, const ag_conv_opts *o) {
  return gy && x ? track(s, aga_conv_weight_grad(gy, x, ws, o)) : NULL;
}

/* ---- convolution ---- */
FORMULA(f_conv) {                 /* inputs x, w, b; saved x (for gw), w (for gx) */
  BEGIN;
  ag_conv_opts o = conv_opts(n);
  const int64_t *ws = n->in_meta[1].sizes, *xs = n->in_meta[0].sizes;
  /* A gradient constant across output channels (stride 0 on dim 1, as from sum() or mean())
   * gives every output channel the same bias gradient, and with one group the same weight
   * gradient: both come from channel 1's slice hc (N, 1, ...), made dense, instead of from
   * g. The weight gradient does so on the direct path (few taps; Winograd wants g dense
   * anyway) and when x is not part of a recorded graph. Nothing here is recorded: g is not. */
  ag_tensor *hc = NULL;
  bool wshort = false;
  if (!aga_should_record(g) && g->ndim >= 3 && g->sizes[1] > 1 && g->strides[1] == 0 &&
      (needs(n, 1) || needs(n, 2))) {
    int64_t hs[AG_MAX_DIMS];
    memcpy(hs, g->sizes, sizeof(int64_t) * (size_t)g->ndim);
    hs[1] = 1;
    ag_tensor *h = track(s, agt_as_strided(g, g->ndim, hs, g->strides, g->offset));
    hc = h ? track(s, agt_contiguous(h)) : NULL;
    if (!hc) END;
    if (needs(n, 2)) {
      int64_t O = g->sizes[1];
      ag_tensor *gb1 = track(s, agt_conv_bias_grad(hc));
      ag_tensor *gbe = gb1 ? track(s, agt_expand(gb1, 1, &O)) : NULL;
      SET(2, gbe ? track(s, agt_contiguous(gbe)) : NULL);
    }
    if (needs(n, 1) && !o.transposed && o.groups == 1 && ws[1] * ws[2] * (o.nsp == 2 ? ws[3] : 1) <= 16) {
      ag_tensor *x = saved(s, n, 0);
      if (x && !aga_should_record(x)) {
        int64_t w1[AG_MAX_DIMS];
        memcpy(w1, ws, sizeof(int64_t) * (size_t)g->ndim);
        w1[0] = 1;
        ag_tensor *gw1 = track(s, agt_conv_weight_grad(hc, x, w1, &o));
        ag_tensor *gwe = gw1 ? track(s, agt_expand(gw1, g->ndim, ws)) : NULL;
        SET(1, gwe ? track(s, agt_contiguous(gwe)) : NULL);
        wshort = true;
      }
    }
  }
  bool need_w = needs(n, 1) && !wshort, need_b = needs(n, 2) && !hc;
  /* an expanded gradient (from sum()) is made dense once, not once per kernel */
  if (!agt_is_contiguous(g) && !aga_should_record(g) && (needs(n, 0) + need_w) > 1) g = track(s, agt_contiguous(g));
  if (!g) END;
  if (!o.transposed && needs(n, 0) && need_w && !aga_grad_mode) {   /* first order: one pass when it can */
    ag_tensor *x = saved(s, n, 0), *w = saved(s, n, 1), *gx = NULL, *gw = NULL, *gb = NULL;
    int r = x && w ? agt_conv_backward_all(g, x, w, &o, &gx, &gw, need_b ? &gb : NULL) : -1;
    if (r < 0) { S.failed = 1; END; }
    if (r == 1) {
      SET(0, track(s, gx));
      SET(1, track(s, gw));
      if (gb) SET(2, track(s, gb));
      END;
    }
  }
  if (!o.transposed) {
    if (needs(n, 0)) {
      ag_conv_opts t = transpose_to(o, g->sizes, xs, ws);
      SET(0, conv(s, g, saved(s, n, 1), &t));
    }
    if (need_w && need_b && !aga_grad_mode) {   /* first order: the bias from the weight pass when it can */
      ag_tensor *x = saved(s, n, 0), *gb = NULL;
      ag_tensor *gw = x ? track(s, agt_conv_weight_bias_grad(g, x, ws, &o, &gb)) : NULL;
      if (gb) { SET(2, track(s, gb)); need_b = false; }
      SET(1, gw);
      need_w = false;
    }
    if (need_w) SET(1, wgrad(s, g, saved(s, n, 0), ws, &o));
  } else {
    ag_conv_opts p = plain(o);
    if (needs(n, 0)) SET(0, conv(s, g, saved(s, n, 1), &p));
    if (need_w) SET(1, wgrad(s, saved(s, n, 0), g, ws, &p));
  }
  if (need_b) {
    int64_t dims[3] = {1, 3, 4};   /* a fused kernel unless this sum must be recorded (create_graph) */
    SET(2, track(s, aga_should_record(g) ? aga_reduce(AG_RED_SUM, g, o.nsp + 1, dims, 0) : agt_conv_bias_grad(g)));
  }
  END;
}

FORMULA(f_conv_wgrad) {           /* inputs gy, x; saved gy (for d x), x (for d gy); g is ggw */
  BEGIN;
  ag_conv_opts o = conv_opts(n);
  if (needs(n, 0)) SET(0, conv(s, saved(s, n, 1), g, &o));
  if (needs(n, 1)) {
    ag_conv_opts t = transpose_to(o, n->in_meta[0].sizes, n->in_meta[1].sizes, wsizes(n));
    SET(1, conv(s, saved(s, n, 0), g, &t));
  }
  END;
}

static const aga_kind_info k_conv = {"ConvolutionBackward0", f_conv};
static const aga_kind_info k_conv_wgrad = {"ConvolutionBackwardBackward0", f_conv_wgrad};

ag_tensor *aga_convolution(ag_tensor *x, ag_tensor *w, ag_tensor *b, const ag_conv_opts *o) {
  ag_tensor *out = agt_convolution(x, w, b, o);
  if (!out || !(aga_should_record(x) || aga_should_record(w) || aga_should_record(b))) return out;
  aga_node *n = aga_node_new(&k_conv, 3, (ag_tensor *[]){x, w, b}, 1);
  n = keep(n, aga_req(w) ? x : NULL, 0, aga_req(x) ? w : NULL, 0, NULL, 0);
  if (n) memcpy(n->i, o, sizeof *o);
  return finish(out, n);
}

ag_tensor *aga_conv_weight_grad(ag_tensor *gy, ag_tensor *x, const int64_t *w_sizes, const ag_conv_opts *o) {
  ag_conv_opts p = plain(*o);
  ag_tensor *out = agt_conv_weight_grad(gy, x, w_sizes, &p);
  if (!out || !(aga_should_record(gy) || aga_should_record(x))) return out;
  aga_node *n = aga_node_new(&k_conv_wgrad, 2, (ag_tensor *[]){gy, x}, 1);
  n = keep(n, aga_req(x) ? gy : NULL, 0, aga_req(gy) ? x : NULL, 0, NULL, 0);
  if (n) {
    memcpy(n->i, &p, sizeof p);
    memcpy((int64_t *)wsizes(n), w_sizes, sizeof(int64_t) * (p.nsp + 2));
  }
  return finish(out, n);
}

/* ---- max pooling: forward gathers at the argmax indices, backward scatters there ---- */
FORMULA(f_max_pool) {             /* input x; saved indices */
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  ag_tensor *idx = saved(s, n, 0);
  SET(0, idx ? track(s, aga_pool_scatter(g, idx, (int)n->i[0], m->ndim, m->sizes)) : NULL);
  END;
}
FORMULA(f_pool_scatter) {         /* input g; saved indices: the adjoint is the gather */
  BEGIN;
  ag_tensor *idx = saved(s, n, 0);
  SET(0, idx ? track(s, aga_pool_gather(g, idx, (int)n->i[0])) : NULL);
  END;
}
static const aga_kind_info k_max_pool = {"MaxPool2DWithIndicesBackward0", f_max_pool};
static const aga_kind_info k_pool_scatter = {"MaxPool2DWithIndicesBackwardBackward0", f_pool_scatter};

static ag_tensor *record_gather(ag_tensor *out, ag_tensor *x, ag_tensor *idx, int nsp) {
  aga_node *n = keep(node_of(&k_max_pool, x), idx, 0, NULL, 0, NULL, 0);
  if (n) n->i[0] = nsp;
  return finish(out, n);
}

ag_tensor *aga_max_pool(ag_tensor *x, const ag_pool_opts *o, ag_tensor **indices) {
  ag_tensor *idx = NULL;
  bool rec = aga_should_record(x);
  ag_tensor *out = agt_max_pool(x, o, rec || indices ? &idx : NULL);
  if (!out) return NULL;
  if (rec) out = record_gather(out, x, idx, o->nsp);
  if (out && indices) *indices = idx;
  else agt_release(idx);
  return out;
}

ag_tensor *aga_pool_gather(ag_tensor *x, ag_tensor *idx, int nsp) {
  ag_tensor *out = agt_pool_gather(x, idx, nsp);
  if (!out || !aga_should_record(x)) return out;
  return record_gather(out, x, idx, nsp);
}

ag_tensor *aga_pool_scatter(ag_tensor *g, ag_tensor *idx, int nsp, int ndim, const int64_t *sizes) {
  ag_tensor *out = agt_pool_scatter(g, idx, nsp, ndim, sizes);
  if (!out || !aga_should_record(g)) return out;
  aga_node *n = keep(node_of(&k_pool_scatter, g), idx, 0, NULL, 0, NULL, 0);
  if (n) n->i[0] = nsp;
  return finish(out, n);
}

/* ---- average pooling (linear: forward and backward are each other's adjoint) ---- */
FORMULA(f_avg_pool) {
  BEGIN;
  ag_pool_opts o = pool_opts(n);
  const aga_input_meta *m = &n->in_meta[0];
  SET(0, track(s, aga_avg_pool_backward(g, &o, m->ndim, m->sizes)));
  END;
}
FORMULA(f_avg_pool_backward) {
  BEGIN;
  ag_pool_opts o = pool_opts(n);
  SET(0, track(s, aga_avg_pool(g, &o)));
  END;
}
static const aga_kind_info k_avg_pool = {"AvgPool2DBackward0", f_avg_pool};
static const aga_kind_info k_avg_pool_backward = {"AvgPool2DBackwardBackward0", f_avg_pool_backward};

static ag_tensor *record_pool(ag_tensor *out, ag_tensor *x, const aga_kind_info *k, const ag_pool_opts *o) {
  aga_node *n = node_of(k, x);
  if (n) memcpy(n->i, o, sizeof *o);
  return finish(out, n);
}

ag_tensor *aga_avg_pool(ag_tensor *x, const ag_pool_opts *o) {
  ag_tensor *out = agt_avg_pool(x, o);
  if (!out || !aga_should_record(x)) return out;
  return record_pool(out, x, &k_avg_pool, o);
}

ag_tensor *aga_avg_pool_backward(ag_tensor *g, const ag_pool_opts *o, int ndim, const int64_t *sizes) {
  ag_tensor *out = agt_avg_pool_backward(g, o, ndim, sizes);
  if (!out || !aga_should_record(g)) return out;
  return record_pool(out, g, &k_avg_pool_backward, o);
}

/* ---- adaptive average pooling ---- */
FORMULA(f_adaptive) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  SET(0, track(s, aga_adaptive_avg_pool_backward(g, (int)n->i[0], m->ndim, m->sizes)));
  END;
}
FORMULA(f_adaptive_backward) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];     /* the forward's output: its spatial sizes */
  int nsp = (int)n->i[0];
  SET(0, track(s, aga_adaptive_avg_pool(g, nsp, m->sizes + m->ndim - nsp)));
  END;
}
static const aga_kind_info k_adaptive = {"AdaptiveAvgPool2DBackward0", f_adaptive};
static const aga_kind_info k_adaptive_backward = {"AdaptiveAvgPool2DBackwardBackward0", f_adaptive_backward};

ag_tensor *aga_adaptive_avg_pool(ag_tensor *x, int nsp, const int64_t *out_size) {
  ag_tensor *out = agt_adaptive_avg_pool(x, nsp, out_size);
  if (!out || !aga_should_record(x)) return out;
  aga_node *n = node_of(&k_adaptive, x);
  if (n) n->i[0] = nsp;
  return finish(out, n);
}

ag_tensor *aga_adaptive_avg_pool_backward(ag_tensor *g, int nsp, int ndim, const int64_t *sizes) {
  ag_tensor *out = agt_adaptive_avg_pool_backward(g, nsp, ndim, sizes);
  if (!out || !aga_should_record(g)) return out;
  aga_node *n = node_of(&k_adaptive_backward, g);
  if (n) n->i[0] = nsp;
  return finish(out, n);
}

/* ---- interpolation: n->i = {mode, align_corners}, n->d = scales ---- */
FORMULA(f_upsample) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];
  SET(0, track(s, aga_upsample_backward(g, (int)n->i[0], m->ndim, m->sizes, (int)n->i[1], n->d)));
  END;
}
FORMULA(f_upsample_backward) {
  BEGIN;
  const aga_input_meta *m = &n->in_meta[0];     /* the forward's output */
  SET(0, track(s, aga_upsample(g, (int)n->i[0], m->sizes + m->ndim - 2, (int)n->i[1], n->d)));
  END;
}
static const aga_kind_info k_nearest = {"UpsampleNearest2DBackward1", f_upsample};
static const aga_kind_info k_bilinear = {"UpsampleBilinear2DBackward1", f_upsample};
static const aga_kind_info k_nearest_backward = {"UpsampleNearest2DBackwardBackward1", f_upsample_backward};
static const aga_kind_info k_bilinear_backward = {"UpsampleBilinear2DBackwardBackward1", f_upsample_backward};

static ag_tensor *record_upsample(ag_tensor *out, ag_tensor *x, const aga_kind_info *k, int mode, int align,
                                  const double *scales) {
  aga_node *n = node_of(k, x);
  if (n) {
    n->i[0] = mode;
    n->i[1] = align;
    n->d[0] = scales ? scales[0] : 0;
    n->d[1] = scales ? scales[1] : 0;
  }
  return finish(out, n);
}

ag_tensor *aga_upsample(ag_tensor *x, int mode, const int64_t *out_size, int align_corners, const double *scales) {
  ag_tensor *out = agt_upsample(x, mode, out_size, align_corners, scales);
  if (!out || !aga_should_record(x)) return out;
  return record_upsample(out, x, mode ? &k_bilinear : &k_nearest, mode, align_corners, scales);
}

ag_tensor *aga_upsample_backward(ag_tensor *g, int mode, int ndim, const int64_t *in_sizes, int align_corners,
                                 const double *scales) {
  ag_tensor *out = agt_upsample_backward(g, mode, ndim, in_sizes, align_corners, scales);
  if (!out || !aga_should_record(g)) return out;
  return record_upsample(out, g, mode ? &k_bilinear_backward : &k_nearest_backward, mode, align_corners, scales);
}
