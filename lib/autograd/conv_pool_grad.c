/* conv_pool_grad.c: y = max_pool2d(conv2d(x, w, b)) as one node, ConvolutionMaxPoolBackward,
 * for an x that needs no gradient (a network's first layer, fed images). The conv's output
 * is never part of the graph: the node keeps x and the pool's indices, and its first-order
 * backward gives w's and b's gradients from the pooled gradient (lib/tensor/conv.c,
 * agt_conv_pool_weight_grad), without the conv-sized gradient the pool's backward would
 * write and the weight gradient read back. Under create_graph the same gradients come from
 * the differentiable ops (the pool's scatter, conv_weight_grad, a sum), so higher orders
 * work. Values and gradients are those of the two ops; only the weight gradient's rounding
 * order may differ. */
#include "ag_conv_grad.h"
#include "formula.h"
#include "record.h"
#include <string.h>

_Static_assert(sizeof(ag_conv_opts) <= sizeof(((aga_node *)0)->i), "conv opts fit a node");

FORMULA(f_conv_pool) {            /* inputs x (needs no gradient), w, b; saved x, indices */
  BEGIN;
  ag_conv_opts co;   /* the pool's own options are not needed: its indices say it all */
  memcpy(&co, n->i, sizeof co);
  const int64_t *ws = n->in_meta[1].sizes, *xs = n->in_meta[0].sizes;
  ag_tensor *x = saved(s, n, 0), *idx = saved(s, n, 1);
  if (!x || !idx) END;
  if (!aga_grad_mode && !aga_should_record(g)) {
    ag_tensor *gb = NULL;
    ag_tensor *gw = track(s, agt_conv_pool_weight_grad(g, idx, x, ws, &co, needs(n, 2) ? &gb : NULL));
    if (gb) track(s, gb);
    SET(1, gw);
    if (gw) SET(2, gb);
    END;
  }
  int64_t ys[4] = {xs[0], ws[0]};
  for (int d = 0; d < 2; d++)
    ys[2 + d] = (xs[2 + d] + 2 * co.padding[d] - co.dilation[d] * (ws[2 + d] - 1) - 1) / co.stride[d] + 1;
  ag_tensor *gy = track(s, aga_pool_scatter(g, idx, 2, 4, ys));
  if (!gy) END;
  SET(1, track(s, aga_conv_weight_grad(gy, x, ws, &co)));
  int64_t dims[3] = {1, 3, 4};
  SET(2, track(s, aga_reduce(AG_RED_SUM, gy, 3, dims, 0)));
  END;
}
static const aga_kind_info k_conv_pool = {"ConvolutionMaxPoolBackward", f_conv_pool};

ag_tensor *aga_conv_max_pool2d(ag_tensor *x, ag_tensor *w, ag_tensor *b, const ag_conv_opts *co,
                               const ag_pool_opts *po) {
  bool rec = aga_should_record(w) || aga_should_record(b);
  if (aga_should_record(x) || !rec || co->transposed || co->groups != 1 || co->nsp != 2 || po->nsp != 2) {
    ag_tensor *y = aga_convolution(x, w, b, co);
    ag_tensor *out = y ? aga_max_pool(y, po, NULL) : NULL;
    agt_release(y);
    return out;
  }
  ag_tensor *idx = NULL, *out = agt_conv_max_pool(x, w, b, co, po, &idx);
  if (!out) { agt_release(idx); return NULL; }
  aga_node *n = keep(aga_node_new(&k_conv_pool, 3, (ag_tensor *[]){x, w, b}, 1), x, 0, idx, 0, NULL, 0);
  agt_release(idx);
  if (n) memcpy(n->i, co, sizeof *co);
  return finish(out, n);
}
