/* shape_ops.c: ops that rearrange whole blocks of a tensor: cat, stack, split and unbind
 * (views), flip, roll, repeat, tril/triu, diag, diagonal (a view) and pad.
 *
 * Copies go through copy_block, a same-dtype strided copy on agt_iter (collapsed dims,
 * OpenMP above the grain), between tensor headers built on the stack where a view is only
 * needed for the length of one copy. flip reads through negative strides; repeat fills the
 * first tile and then doubles it along each dim; reflect/replicate/circular pads are an
 * index_select per padded dim with a computed source index. */
#include "iter.h"
#include "ag_index.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AG_BIG ((int64_t)1 << 62)   /* offsets and pads beyond this are refused, not overflowed */

/* ---------------- same-dtype strided copy ---------------- */
#define COPY_LOOP(NAME, ES)                                                                \
  static void NAME(int64_t n, char **p, const int64_t *s) {                                \
    if (s[0] == 1 && s[1] == 1) { memcpy(p[0], p[1], (size_t)(n * ES)); return; }          \
    for (int64_t i = 0; i < n; i++) memcpy(p[0] + i * s[0] * ES, p[1] + i * s[1] * ES, ES); \
  }
COPY_LOOP(copy1, 1) COPY_LOOP(copy4, 4) COPY_LOOP(copy8, 8)

/* dst <- src (same shape, same dtype, no overlap between what is read and written) */
static void copy_block(ag_tensor *dst, ag_tensor *src) {
  if (agt_numel(dst) == 0) return;
  agt_iter it;
  agt_iter_init(&it, 2, (ag_tensor *[]){dst, src});
  int es = agt_dtype_size(dst->scalar_type);
  agt_iter_run(&it, es == 1 ? copy1 : es == 4 ? copy4 : copy8);
}

/* dst <- src converted to dst's dtype */
static int copy_cast(ag_tensor *dst, ag_tensor *src) {
  if (dst->scalar_type == src->scalar_type) { copy_block(dst, src); return 0; }
  ag_tensor *c = agt_to_dtype(src, dst->scalar_type);
  if (!c) return -1;
  copy_block(dst, c);
  agt_release(c);
  return 0;
}

/* A header for t narrowed to [start, start + len) along d (0-based), sharing its data. */
static ag_tensor narrowed(const ag_tensor *t, int d, int64_t start, int64_t len) {
  ag_tensor r = *t;
  r.offset += start * t->strides[d];
  r.sizes[d] = len;
  return r;
}

/* ---------------- cat / stack ---------------- */
static bool legacy_empty(const ag_tensor *t) { return t->ndim == 1 && t->sizes[0] == 0; }

ag_tensor *agt_cat(int n, ag_tensor **ts, int dim) {
  char b1[256], b2[256];
  if (n <= 0) return agt_fail("ag.cat: expected a non-empty list of tensors");
  int ref = -1, dtype = ts[0]->scalar_type;
  for (int i = 0; i < n; i++) {
    dtype = agt_promote_types(dtype, ts[i]->scalar_type);
    if (ts[i]->ndim == 0)
      return agt_fail("ag.cat: zero-dimensional tensor (at position %d) cannot be concatenated; "
                      "unsqueeze it or use ag.stack", i + 1);
    if (ref < 0 && !legacy_empty(ts[i])) ref = i;
  }
  if (ref < 0) return agt_new_contig(1, (int64_t[]){0}, dtype);   /* only [0]-shaped tensors */
  const ag_tensor *r = ts[ref];
  int d = agt_normalize_dim("ag.cat", dim, r->ndim);
  if (d < 0) return NULL;
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    const ag_tensor *t = ts[i];
    if (legacy_empty(t) && r->ndim != 1) continue;
    if (t->ndim != r->ndim)
      return agt_fail("ag.cat: tensors must have the same number of dimensions, but tensor %d has shape %s "
                      "and tensor %d has shape %s", ref + 1, AGT_SHAPE(r, b1), i + 1, AGT_SHAPE(t, b2));
    for (int k = 0; k < r->ndim; k++)
      if (k != d && t->sizes[k] != r->sizes[k])
        return agt_fail("ag.cat: shapes %s (tensor %d) and %s (tensor %d) cannot be concatenated along "
                        "dimension %d: sizes must match except in dimension %d, but differ in dimension %d",
                        AGT_SHAPE(r, b1), ref + 1, AGT_SHAPE(t, b2), i + 1, d + 1, d + 1, k + 1);
    total += t->sizes[d];
  }
  int64_t shape[AG_MAX_DIMS];
  memcpy(shape, r->sizes, sizeof shape);
  shape[d] = total;
  ag_tensor *out = agt_new_contig(r->ndim, shape, dtype);
  if (!out) return NULL;
  int64_t at = 0, outer = 1, inner = 1;
  for (int k = 0; k < d; k++) outer *= shape[k];
  for (int k = d + 1; k < r->ndim; k++) inner *= shape[k];
  int es = agt_dtype_size(dtype);
  for (int i = 0; i < n; i++) {
    ag_tensor *t = ts[i];
    if (t->ndim != r->ndim || t->sizes[d] == 0) continue;
    if (t->scalar_type == dtype && agt_is_contiguous(t) && outer * total * inner < AG_PARALLEL_GRAIN) {
      /* a block of sizes[d] * inner elements per outer index */
      int64_t block = t->sizes[d] * inner * es;
      char *dst = agt_ptr(out) + at * inner * es;
      const char *src = agt_ptr(t);
      for (int64_t o = 0; o < outer; o++) memcpy(dst + o * total * inner * es, src + o * block, (size_t)block);
    } else {
      ag_tensor v = narrowed(out, d, at, t->sizes[d]);
      if (copy_cast(&v, t)) { agt_release(out); return NULL; }
    }
    at += t->sizes[d];
  }
  return out;
}

ag_tensor *agt_stack(int n, ag_tensor **ts, int dim) {
  char b1[256], b2[256];
  if (n <= 0) return agt_fail("ag.stack: expected a non-empty list of tensors");
  const ag_tensor *r = ts[0];
  if (r->ndim + 1 > AG_MAX_DIMS) return agt_fail("ag.stack: ag supports at most %d dimensions", AG_MAX_DIMS);
  int d = agt_normalize_dim("ag.stack", dim, r->ndim + 1);
  if (d < 0) return NULL;
  int dtype = r->scalar_type;
  for (int i = 1; i < n; i++) {
    const ag_tensor *t = ts[i];
    if (t->ndim != r->ndim || memcmp(t->sizes, r->sizes, r->ndim * sizeof(int64_t)))
      return agt_fail("ag.stack: expects each tensor to be equal size, but got %s at entry 1 and %s at entry %d",
                      AGT_SHAPE(r, b1), AGT_SHAPE(t, b2), i + 1);
    dtype = agt_promote_types(dtype, t->scalar_type);
  }
  int64_t shape[AG_MAX_DIMS];
  for (int k = 0, j = 0; k <= r->ndim; k++) shape[k] = k == d ? n : r->sizes[j++];
  ag_tensor *out = agt_new_contig(r->ndim + 1, shape, dtype);
  if (!out) return NULL;
  for (int i = 0; i < n; i++) {
    /* entry i of out along d, as a header with that dim removed */
    ag_tensor v = *out;
    v.offset += i * out->strides[d];
    for (int k = d; k < r->ndim; k++) { v.sizes[k] = out->sizes[k + 1]; v.strides[k] = out->strides[k + 1]; }
    v.ndim = r->ndim;
    if (copy_cast(&v, ts[i])) { agt_release(out); return NULL; }
  }
  return out;
}

/* ---------------- split / unbind (views) ---------------- */
int agt_split_with_sizes(ag_tensor *a, int dim, int n, const int64_t *sizes, ag_tensor **outs) {
  char b[256];
  if (a->ndim == 0) return agt_failc("ag.split: cannot split a 0-dim tensor");
  int d = agt_normalize_dim("ag.split", dim, a->ndim);
  if (d < 0) return -1;
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    if (sizes[i] < 0) return agt_failc("ag.split: split sizes must be >= 0, got %lld", (long long)sizes[i]);
    if (sizes[i] > a->sizes[d] - total) { total = -1; break; }   /* more than the dim holds */
    total += sizes[i];
  }
  if (total != a->sizes[d]) {
    char list[256];
    int m = 0;
    for (int i = 0; i < n && m < 200; i++) m += snprintf(list + m, sizeof list - m, i ? ", %lld" : "%lld", (long long)sizes[i]);
    return agt_failc("ag.split: split sizes {%s} do not add up to the size %lld of dimension %d (shape %s)",
                     list, (long long)a->sizes[d], d + 1, AGT_SHAPE(a, b));
  }
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    outs[i] = agt_new_view(a);
    if (!outs[i]) { while (i-- > 0) { agt_release(outs[i]); outs[i] = NULL; } return -1; }
    outs[i]->offset += at * a->strides[d];
    outs[i]->sizes[d] = sizes[i];
    at += sizes[i];
  }
  return 0;
}

int agt_unbind(ag_tensor *a, int dim, ag_tensor **outs) {
  if (a->ndim == 0) return agt_failc("ag.unbind: cannot unbind a 0-dim tensor");
  int d = agt_normalize_dim("ag.unbind", dim, a->ndim);
  if (d < 0) return -1;
  for (int64_t i = 0; i < a->sizes[d]; i++) {
    outs[i] = agt_select(a, d + 1, i + 1);
    if (!outs[i]) { while (i-- > 0) { agt_release(outs[i]); outs[i] = NULL; } return -1; }
  }
  return 0;
}

/* ---------------- flip / roll / repeat ---------------- */
/* dims (user's) into a 0-based set; -1 if one is bad or repeats */
static int dim_set(const char *op, int ndims, const int64_t *dims, int ndim, bool *set) {
  memset(set, 0, AG_MAX_DIMS * sizeof(bool));
  for (int i = 0; i < ndims; i++) {
    int d = agt_normalize_dim(op, (int)dims[i], ndim);
    if (d < 0) return -1;
    if (set[d]) return agt_failc("%s: dim %d appears multiple times in the list of dims", op, d + 1);
    set[d] = true;
  }
  return 0;
}

ag_tensor *agt_flip(ag_tensor *a, int ndims, const int64_t *dims) {
  bool set[AG_MAX_DIMS];
  if (dim_set("ag.flip", ndims, dims, a->ndim, set)) return NULL;
  ag_tensor v = *a;                      /* read backwards through negative strides */
  for (int d = 0; d < a->ndim; d++)
    if (set[d] && a->sizes[d] > 1) { v.offset += (a->sizes[d] - 1) * a->strides[d]; v.strides[d] = -a->strides[d]; }
  ag_tensor *out = agt_new_contig(a->ndim, a->sizes, a->scalar_type);
  if (out) copy_block(out, &v);
  return out;
}

/* a rolled by s along d, into a new tensor */
static ag_tensor *roll1(ag_tensor *a, int d, int64_t s) {
  ag_tensor *out = agt_new_contig(a->ndim, a->sizes, a->scalar_type);
  if (!out || agt_numel(a) == 0) return out;
  int64_t n = a->sizes[d];
  s %= n;
  if (s < 0) s += n;
  ag_tensor d1 = narrowed(out, d, s, n - s), s1 = narrowed(a, d, 0, n - s);
  copy_block(&d1, &s1);
  if (s) {
    ag_tensor d2 = narrowed(out, d, 0, s), s2 = narrowed(a, d, n - s, s);
    copy_block(&d2, &s2);
  }
  return out;
}

ag_tensor *agt_roll(ag_tensor *a, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims) {
  if (ndims == 0) {                      /* roll the flattened tensor, then restore the shape */
    if (nshifts != 1)
      return agt_fail("ag.roll: without dims, shifts must be a single number (got %d shifts)", nshifts);
    ag_tensor *c = agt_contiguous(a);
    if (!c) return NULL;
    ag_tensor flat = *c;
    flat.ndim = 1; flat.sizes[0] = agt_numel(c); flat.strides[0] = 1;
    ag_tensor *r = roll1(&flat, 0, shifts[0]);
    agt_release(c);
    if (!r) return NULL;
    r->ndim = a->ndim;
    memcpy(r->sizes, a->sizes, sizeof r->sizes);
    agt_set_contig_strides(r);
    return r;
  }
  if (nshifts != ndims)
    return agt_fail("ag.roll: shifts and dims must have the same length, got %d shifts and %d dims", nshifts, ndims);
  int ds[AG_MAX_DIMS];
  for (int i = 0; i < ndims; i++) {
    ds[i] = agt_normalize_dim("ag.roll", (int)dims[i], a->ndim);
    if (ds[i] < 0) return NULL;
    if (a->ndim == 0) ds[i] = -1;
  }
  agt_retain(a);
  ag_tensor *cur = a;
  for (int i = 0; i < ndims; i++) {
    ag_tensor *next = ds[i] < 0 ? agt_clone(cur) : roll1(cur, ds[i], shifts[i]);
    agt_release(cur);
    if (!next) return NULL;
    cur = next;
  }
  return cur;
}

ag_tensor *agt_repeat(ag_tensor *a, int n, const int64_t *reps) {
  char b[256];
  if (n < a->ndim)
    return agt_fail("ag.repeat: the number of repeat dims (%d) can not be smaller than the number of "
                    "dimensions of the tensor (%d, shape %s)", n, a->ndim, AGT_SHAPE(a, b));
  if (n > AG_MAX_DIMS) return agt_fail("ag.repeat: ag supports at most %d dimensions", AG_MAX_DIMS);
  int shift = n - a->ndim;
  ag_tensor p = *a;                      /* a with leading size-1 dims, as many as reps */
  p.ndim = n;
  int64_t shape[AG_MAX_DIMS];
  for (int k = 0; k < n; k++) {
    if (reps[k] < 0) return agt_fail("ag.repeat: repeats must be >= 0, got %lld", (long long)reps[k]);
    p.sizes[k] = k < shift ? 1 : a->sizes[k - shift];
    p.strides[k] = k < shift ? 0 : a->strides[k - shift];
  }
  for (int k = 0; k < n; k++) {
    if (p.sizes[k] && reps[k] > ((int64_t)1 << 62) / p.sizes[k])
      return agt_fail("ag.repeat: the result has too many elements");
    shape[k] = p.sizes[k] * reps[k];
  }
  if (agt_check_sizes("ag.repeat", n, shape)) return NULL;
  ag_tensor *out = agt_new_contig(n, shape, a->scalar_type);
  if (!out || agt_numel(out) == 0) return out;
  ag_tensor tile = *out;                 /* the first tile, then doubled along each dim */
  memcpy(tile.sizes, p.sizes, sizeof tile.sizes);
  copy_block(&tile, &p);
  for (int k = n - 1; k >= 0; k--) {
    ag_tensor part = *out;
    for (int j = 0; j < k; j++) part.sizes[j] = p.sizes[j];
    int64_t have = 1, s = p.sizes[k];
    while (have < reps[k]) {
      int64_t c = have < reps[k] - have ? have : reps[k] - have;
      ag_tensor dst = narrowed(&part, k, have * s, c * s), src = narrowed(&part, k, 0, c * s);
      copy_block(&dst, &src);
      have += c;
    }
  }
  return out;
}

/* ---------------- tril / triu, diag, diagonal ---------------- */
ag_tensor *agt_tril(ag_tensor *a, int64_t k, int upper) {
  char b[256];
  if (k > AG_BIG) k = AG_BIG;
  if (k < -AG_BIG) k = -AG_BIG;
  if (a->ndim < 2)
    return agt_fail("ag.%s: input tensor must have at least 2 dimensions, got shape %s", upper ? "triu" : "tril",
                    AGT_SHAPE(a, b));
  ag_tensor *out = agt_clone(a);
  if (!out) return NULL;
  int64_t R = a->sizes[a->ndim - 2], C = a->sizes[a->ndim - 1], rows = agt_numel(a) / (C ? C : 1);
  if (C == 0 || R == 0) return out;
  int es = agt_dtype_size(a->scalar_type);
  char *p = agt_ptr(out);
  #pragma omp parallel for schedule(static) if (rows * C >= AG_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t i = r % R, lo, hi;           /* zero columns [lo, hi) of row i */
    if (upper) { lo = 0; hi = i + k; }
    else { lo = i + k + 1; hi = C; }
    if (lo < 0) lo = 0;
    if (hi > C) hi = C;
    if (lo < hi) memset(p + (r * C + lo) * es, 0, (size_t)((hi - lo) * es));
  }
  return out;
}

ag_tensor *agt_diagonal(ag_tensor *a, int64_t offset, int dim1, int dim2) {
  char b[256];
  if (a->ndim < 2)
    return agt_fail("ag.diagonal: input tensor must have at least 2 dimensions, got shape %s", AGT_SHAPE(a, b));
  int d1 = agt_normalize_dim("ag.diagonal", dim1, a->ndim);
  if (d1 < 0) return NULL;
  int d2 = agt_normalize_dim("ag.diagonal", dim2, a->ndim);
  if (d2 < 0) return NULL;
  if (d1 == d2) return agt_fail("ag.diagonal: dim1 and dim2 cannot be the same dimension (both %d)", d1 + 1);
  if (offset > AG_BIG || offset < -AG_BIG) offset = offset > 0 ? AG_BIG : -AG_BIG;
  int64_t len, start;
  if (offset >= 0) {
    len = a->sizes[d2] - offset < a->sizes[d1] ? a->sizes[d2] - offset : a->sizes[d1];
    start = offset * a->strides[d2];
  } else {
    len = a->sizes[d1] + offset < a->sizes[d2] ? a->sizes[d1] + offset : a->sizes[d2];
    start = -offset * a->strides[d1];
  }
  if (len <= 0) { len = 0; start = 0; }
  ag_tensor *r = agt_new_view(a);
  if (!r) return NULL;
  r->offset += start;
  int m = 0;
  for (int k = 0; k < a->ndim; k++)
    if (k != d1 && k != d2) { r->sizes[m] = a->sizes[k]; r->strides[m] = a->strides[k]; m++; }
  r->sizes[m] = len;
  r->strides[m] = a->strides[d1] + a->strides[d2];
  r->ndim = m + 1;
  return r;
}

ag_tensor *agt_diagonal_backward(ag_tensor *g, int ndim, const int64_t *sizes, int64_t offset, int dim1, int dim2) {
  char b1[256], b2[256];
  ag_tensor *z = agt_full(ndim, sizes, 0, g->scalar_type);
  ag_tensor *v = z ? agt_diagonal(z, offset, dim1, dim2) : NULL;
  if (!v) { agt_release(z); return NULL; }
  if (v->ndim != g->ndim || memcmp(v->sizes, g->sizes, g->ndim * sizeof(int64_t))) {
    agt_fail("ag.diagonal_backward: a gradient of shape %s does not fit the diagonal %s of shape %s",
             AGT_SHAPE(g, b1), AGT_SHAPE(v, b2), agt_shape_str(ndim, sizes, (char[256]){0}));
    agt_release(v); agt_release(z);
    return NULL;
  }
  copy_block(v, g);
  agt_release(v);
  return z;
}

ag_tensor *agt_diag(ag_tensor *a, int64_t k) {
  char b[256];
  if (a->ndim == 1) {
    if (k > AG_BIG || k < -AG_BIG) return agt_fail("ag.diag: diagonal %lld is too far from the main diagonal", (long long)k);
    int64_t n = a->sizes[0], m = n + (k < 0 ? -k : k);
    ag_tensor *z = agt_full(2, (int64_t[]){m, m}, 0, a->scalar_type);
    ag_tensor *v = z ? agt_diagonal(z, k, 1, 2) : NULL;
    if (!v) { agt_release(z); return NULL; }
    copy_block(v, a);
    agt_release(v);
    return z;
  }
  if (a->ndim == 2) {
    ag_tensor *v = agt_diagonal(a, k, 1, 2);
    ag_tensor *out = v ? agt_clone(v) : NULL;
    agt_release(v);
    return out;
  }
  return agt_fail("ag.diag: expected a 1-D or 2-D tensor, got shape %s (use diagonal for more dims)", AGT_SHAPE(a, b));
}

/* ---------------- pad ---------------- */
ag_tensor *agt_pad_index(int64_t n, int64_t before, int64_t after, int mode) {
  int64_t m = before + n + after;
  ag_tensor *t = agt_new_contig(1, &m, AG_INT64);
  if (!t) return NULL;
  int64_t *p = (int64_t *)agt_ptr(t);
  for (int64_t o = 0; o < m; o++) {
    int64_t i = o - before;
    if (mode == AG_PAD_REFLECT) { if (i < 0) i = -i; if (i >= n) i = 2 * (n - 1) - i; }
    else if (mode == AG_PAD_REPLICATE) { if (i < 0) i = 0; if (i >= n) i = n - 1; }
    else { i %= n; if (i < 0) i += n; }
    p[o] = i + 1;
  }
  return t;
}

static const char *pad_mode_name(int mode) {
  static const char *names[] = {"constant", "reflect", "replicate", "circular"};
  return mode >= 0 && mode < 4 ? names[mode] : "unknown";
}

ag_tensor *agt_pad(ag_tensor *a, int npad, const int64_t *pads, int mode, double value) {
  char b[256];
  if (mode < 0 || mode > 3)
    return agt_fail("ag.pad: unknown mode %d; expected constant, reflect, replicate or circular", mode);
  if (npad % 2)
    return agt_fail("ag.pad: the padding table must have an even number of values (before, after for each "
                    "dimension from the last), got %d", npad);
  if (npad / 2 > a->ndim)
    return agt_fail("ag.pad: %d padding values pad %d dimensions, but the input has shape %s", npad, npad / 2,
                    AGT_SHAPE(a, b));
  int64_t shape[AG_MAX_DIMS], before[AG_MAX_DIMS] = {0}, after[AG_MAX_DIMS] = {0};
  memcpy(shape, a->sizes, sizeof shape);
  for (int k = 0; k < npad / 2; k++) {
    int d = a->ndim - 1 - k;
    before[d] = pads[2 * k]; after[d] = pads[2 * k + 1];
    if (before[d] > AG_BIG || before[d] < -AG_BIG || after[d] > AG_BIG || after[d] < -AG_BIG)
      return agt_fail("ag.pad: padding (%lld, %lld) is too large", (long long)before[d], (long long)after[d]);
    shape[d] = a->sizes[d] + before[d] + after[d];
    if (shape[d] < 0)
      return agt_fail("ag.pad: padding (%lld, %lld) makes dimension %d of shape %s negative", (long long)before[d],
                      (long long)after[d], d + 1, AGT_SHAPE(a, b));
    if (mode == AG_PAD_CONSTANT || (before[d] == 0 && after[d] == 0)) continue;
    int64_t n = a->sizes[d];
    const char *mn = pad_mode_name(mode);
    if (before[d] < 0 || after[d] < 0)
      return agt_fail("ag.pad: negative padding (%lld, %lld) is only supported in constant mode, not %s",
                      (long long)before[d], (long long)after[d], mn);
    if (mode == AG_PAD_REFLECT && (before[d] >= n || after[d] >= n))
      return agt_fail("ag.pad: reflect padding (%lld, %lld) must be less than the size %lld of dimension %d "
                      "(input shape %s)", (long long)before[d], (long long)after[d], (long long)n, d + 1,
                      AGT_SHAPE(a, b));
    if (mode == AG_PAD_CIRCULAR && (before[d] > n || after[d] > n))
      return agt_fail("ag.pad: circular padding (%lld, %lld) must be at most the size %lld of dimension %d "
                      "(input shape %s)", (long long)before[d], (long long)after[d], (long long)n, d + 1,
                      AGT_SHAPE(a, b));
    if (n == 0)
      return agt_fail("ag.pad: %s padding needs a non-empty dimension %d (input shape %s)", mn, d + 1,
                      AGT_SHAPE(a, b));
  }
  if (mode == AG_PAD_CONSTANT) {
    ag_tensor *out = agt_full(a->ndim, shape, value, a->scalar_type);
    if (!out) return NULL;
    ag_tensor src = *a, dst = *out;
    for (int d = 0; d < a->ndim; d++) {
      int64_t cut_lo = before[d] < 0 ? -before[d] : 0, cut_hi = after[d] < 0 ? -after[d] : 0;
      int64_t len = a->sizes[d] - cut_lo - cut_hi;
      if (len <= 0) return out;
      src = narrowed(&src, d, cut_lo, len);
      dst = narrowed(&dst, d, before[d] > 0 ? before[d] : 0, len);
    }
    copy_block(&dst, &src);
    return out;
  }
  agt_retain(a);
  ag_tensor *cur = a;
  bool any = false;
  for (int d = 0; d < a->ndim; d++) {
    if (before[d] == 0 && after[d] == 0) continue;
    ag_tensor *idx = agt_pad_index(a->sizes[d], before[d], after[d], mode);
    ag_tensor *next = idx ? agt_index_select(cur, d + 1, idx) : NULL;
    agt_release(idx);
    agt_release(cur);
    if (!next) return NULL;
    cur = next;
    any = true;
  }
  if (!any) {
    ag_tensor *c = agt_clone(cur);
    agt_release(cur);
    return c;
  }
  return cur;
}
