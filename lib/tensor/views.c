/* views.c: ops that return a new tensor header over the same storage (no copy), and
 * reshape, which copies only when no view can express the new shape. */
#include "internal.h"
#include <string.h>

ag_tensor *agt_alias(ag_tensor *t) { return agt_new_view(t); }

/* Resolve one -1 in a requested shape and check the element count. */
static int infer_shape(const char *op, ag_tensor *t, int ndim, const int64_t *in, int64_t *out) {
  char b1[256], b2[256];
  if (ndim > AG_MAX_DIMS) return agt_failc("%s: at most %d dimensions", op, AG_MAX_DIMS);
  int64_t numel = agt_numel(t), prod = 1;
  int infer = -1;
  for (int i = 0; i < ndim; i++) {
    out[i] = in[i];
    if (in[i] == -1) {
      if (infer >= 0) return agt_failc("%s: only one dimension can be inferred (-1)", op);
      infer = i;
    } else if (in[i] < 0) {
      return agt_failc("%s: invalid shape dimension %lld", op, (long long)in[i]);
    } else {
      if (in[i] && prod > ((int64_t)1 << 62) / in[i])
        return agt_failc("%s: shape '%s' is invalid for input of size %lld", op,
                         agt_shape_str(ndim, in, b1), (long long)numel);
      prod *= in[i];
    }
  }
  if (infer >= 0) {
    if (prod == 0 || numel % prod != 0)
      return agt_failc("%s: shape '%s' is invalid for input of size %lld", op,
                       agt_shape_str(ndim, in, b1), (long long)numel);
    out[infer] = numel / prod;
  } else if (prod != numel) {
    return agt_failc("%s: shape '%s' is invalid for input of size %lld (input shape %s)", op,
                     agt_shape_str(ndim, in, b1), (long long)numel, AGT_SHAPE(t, b2));
  }
  return 0;
}

/* Strides for viewing t as `sizes` without a copy, or -1 (PyTorch's computeStride rule). */
static int view_strides(ag_tensor *t, int ndim, const int64_t *sizes, int64_t *strides) {
  int64_t numel = agt_numel(t);
  if (numel == 0 || t->ndim == 0) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) { strides[i] = s; s *= sizes[i] > 0 ? sizes[i] : 1; }
    return 0;
  }
  int view_d = ndim - 1;
  int64_t chunk = t->strides[t->ndim - 1], tnumel = 1, vnumel = 1;
  for (int td = t->ndim - 1; td >= 0; td--) {
    tnumel *= t->sizes[td];
    if (td == 0 || (t->sizes[td - 1] != 1 && t->strides[td - 1] != tnumel * chunk)) {
      while (view_d >= 0 && (vnumel < tnumel || sizes[view_d] == 1)) {
        strides[view_d] = vnumel * chunk;
        vnumel *= sizes[view_d];
        view_d--;
      }
      if (vnumel != tnumel) return -1;
      if (td > 0) { chunk = t->strides[td - 1]; tnumel = 1; vnumel = 1; }
    }
  }
  return view_d == -1 ? 0 : -1;
}

ag_tensor *agt_view(ag_tensor *t, int ndim, const int64_t *sizes) {
  int64_t shape[AG_MAX_DIMS], strides[AG_MAX_DIMS];
  char b[256];
  if (infer_shape("ag.view", t, ndim, sizes, shape)) return NULL;
  if (view_strides(t, ndim, shape, strides))
    return agt_fail("ag.view: view size %s is not compatible with input tensor's size %s and stride "
                    "(at least one dimension spans across two contiguous subspaces). "
                    "Use :reshape(...) instead, or call :contiguous() first.",
                    agt_shape_str(ndim, shape, b), AGT_SHAPE(t, (char[256]){0}));
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  r->ndim = ndim;
  memcpy(r->sizes, shape, ndim * sizeof(int64_t));
  memcpy(r->strides, strides, ndim * sizeof(int64_t));
  return r;
}

ag_tensor *agt_reshape(ag_tensor *t, int ndim, const int64_t *sizes) {
  int64_t shape[AG_MAX_DIMS], strides[AG_MAX_DIMS];
  if (infer_shape("ag.reshape", t, ndim, sizes, shape)) return NULL;
  if (view_strides(t, ndim, shape, strides) == 0) return agt_view(t, ndim, shape);
  ag_tensor *c = agt_contiguous(t);
  if (!c) return NULL;
  ag_tensor *r = agt_view(c, ndim, shape);
  agt_release(c);
  return r;
}

ag_tensor *agt_as_strided(ag_tensor *t, int ndim, const int64_t *sizes, const int64_t *strides, int64_t offset) {
  if (agt_check_sizes("ag.as_strided", ndim, sizes)) return NULL;
  int64_t max_off = offset, limit = t->storage->nbytes / agt_dtype_size(t->scalar_type);
  for (int i = 0; i < ndim; i++) {
    if (strides[i] < 0) return agt_fail("ag.as_strided: negative strides are not supported");
    if (sizes[i] == 0) { max_off = -1; break; }
  }
  for (int i = 0; i < ndim && max_off >= 0; i++) {
    if (strides[i] && (sizes[i] - 1) > (limit - max_off) / strides[i]) { max_off = limit; break; }
    max_off += (sizes[i] - 1) * strides[i];
  }
  if (offset < 0 || max_off >= limit)
    return agt_fail("ag.as_strided: the requested view reaches outside the storage (%lld elements)",
                    (long long)(t->storage->nbytes / agt_dtype_size(t->scalar_type)));
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  r->ndim = ndim;
  r->offset = offset;
  memcpy(r->sizes, sizes, ndim * sizeof(int64_t));
  memcpy(r->strides, strides, ndim * sizeof(int64_t));
  return r;
}

ag_tensor *agt_transpose(ag_tensor *t, int dim0, int dim1) {
  int a = agt_normalize_dim("ag.transpose", dim0, t->ndim);
  if (a < 0) return NULL;
  int b = agt_normalize_dim("ag.transpose", dim1, t->ndim);
  if (b < 0) return NULL;
  ag_tensor *r = agt_new_view(t);
  if (!r || t->ndim == 0) return r;
  int64_t s = r->sizes[a]; r->sizes[a] = r->sizes[b]; r->sizes[b] = s;
  s = r->strides[a]; r->strides[a] = r->strides[b]; r->strides[b] = s;
  return r;
}

ag_tensor *agt_permute(ag_tensor *t, int ndims, const int64_t *dims) {
  char b[256];
  if (ndims != t->ndim)
    return agt_fail("ag.permute: number of dims don't match: got %d dims for a tensor of shape %s",
                    ndims, AGT_SHAPE(t, b));
  int seen[AG_MAX_DIMS] = {0}, perm[AG_MAX_DIMS];
  for (int i = 0; i < ndims; i++) {
    int d = agt_normalize_dim("ag.permute", (int)dims[i], t->ndim);
    if (d < 0) return NULL;
    if (seen[d]++) return agt_fail("ag.permute: dimension %d repeats in the permutation", d + 1);
    perm[i] = d;
  }
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  for (int i = 0; i < ndims; i++) { r->sizes[i] = t->sizes[perm[i]]; r->strides[i] = t->strides[perm[i]]; }
  return r;
}

ag_tensor *agt_narrow(ag_tensor *t, int dim, int64_t start, int64_t length) {
  char b[256];
  if (t->ndim == 0) return agt_fail("ag.narrow: cannot be applied to a 0-dim tensor");
  int d = agt_normalize_dim("ag.narrow", dim, t->ndim);
  if (d < 0) return NULL;
  int64_t size = t->sizes[d];
  if (start < 0) start += size + 1;
  if (start < 1 || start > size + 1 || length < 0 || start - 1 + length > size)
    return agt_fail("ag.narrow: start %lld and length %lld are out of range for dimension %d of shape %s "
                    "(start is 1-based; start - 1 + length must be <= %lld)",
                    (long long)start, (long long)length, d + 1, AGT_SHAPE(t, b), (long long)size);
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  r->offset += (start - 1) * t->strides[d];
  r->sizes[d] = length;
  return r;
}

ag_tensor *agt_select(ag_tensor *t, int dim, int64_t index) {
  char b[256];
  if (t->ndim == 0) return agt_fail("ag.select: cannot index a 0-dim tensor");
  int d = agt_normalize_dim("ag.select", dim, t->ndim);
  if (d < 0) return NULL;
  int64_t size = t->sizes[d], i = index < 0 ? index + size + 1 : index;
  if (i < 1 || i > size)
    return agt_fail("ag.select: index %lld is out of range for dimension %d with size %lld (shape %s; "
                    "indices are 1-based, negative counts from the end)",
                    (long long)index, d + 1, (long long)size, AGT_SHAPE(t, b));
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  r->offset += (i - 1) * t->strides[d];
  for (int k = d; k < t->ndim - 1; k++) { r->sizes[k] = t->sizes[k + 1]; r->strides[k] = t->strides[k + 1]; }
  r->ndim--;
  return r;
}

ag_tensor *agt_squeeze(ag_tensor *t, int dim, int all) {
  int d = -1;
  if (!all) {
    d = agt_normalize_dim("ag.squeeze", dim, t->ndim);
    if (d < 0) return NULL;
  }
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  int n = 0;
  for (int k = 0; k < t->ndim; k++) {
    bool drop = t->sizes[k] == 1 && (all || k == d);
    if (!drop) { r->sizes[n] = t->sizes[k]; r->strides[n] = t->strides[k]; n++; }
  }
  r->ndim = n;
  return r;
}

ag_tensor *agt_unsqueeze(ag_tensor *t, int dim) {
  if (t->ndim >= AG_MAX_DIMS) return agt_fail("ag.unsqueeze: ag supports at most %d dimensions", AG_MAX_DIMS);
  int d = agt_normalize_dim("ag.unsqueeze", dim, t->ndim + 1);
  if (d < 0) return NULL;
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  for (int k = t->ndim; k > d; k--) { r->sizes[k] = t->sizes[k - 1]; r->strides[k] = t->strides[k - 1]; }
  r->sizes[d] = 1;
  r->strides[d] = d < t->ndim ? t->sizes[d] * t->strides[d] : 1;
  r->ndim = t->ndim + 1;
  return r;
}

ag_tensor *agt_expand(ag_tensor *t, int ndim, const int64_t *sizes) {
  char b1[256], b2[256];
  if (ndim < t->ndim)
    return agt_fail("ag.expand: the number of sizes provided (%d) must be greater or equal to the number "
                    "of dimensions in the tensor (%d)", ndim, t->ndim);
  if (ndim > AG_MAX_DIMS) return agt_fail("ag.expand: at most %d dimensions", AG_MAX_DIMS);
  ag_tensor *r = agt_new_view(t);
  if (!r) return NULL;
  int shift = ndim - t->ndim;
  for (int i = ndim - 1; i >= 0; i--) {
    int j = i - shift;
    int64_t want = sizes[i];
    if (j < 0) {
      if (want < 0) goto bad;
      r->sizes[i] = want; r->strides[i] = 0;
    } else if (want == -1 || want == t->sizes[j]) {
      r->sizes[i] = t->sizes[j]; r->strides[i] = t->strides[j];
    } else if (t->sizes[j] == 1 && want >= 0) {
      r->sizes[i] = want; r->strides[i] = 0;
    } else goto bad;
  }
  r->ndim = ndim;
  if (agt_numel_checked(ndim, r->sizes) < 0) {
    agt_release(r);
    return agt_fail("ag.expand: the expanded size %s has too many elements (more than 2^62)",
                    agt_shape_str(ndim, sizes, b1));
  }
  return r;
bad:
  agt_release(r);
  return agt_fail("ag.expand: the expanded size %s must match the existing size %s at each non-singleton "
                  "dimension", agt_shape_str(ndim, sizes, b1), AGT_SHAPE(t, b2));
}

ag_tensor *agt_flatten(ag_tensor *t, int start_dim, int end_dim) {
  if (t->ndim == 0) { int64_t one = 1; return agt_reshape(t, 1, &one); }
  int s = agt_normalize_dim("ag.flatten", start_dim, t->ndim);
  if (s < 0) return NULL;
  int e = agt_normalize_dim("ag.flatten", end_dim, t->ndim);
  if (e < 0) return NULL;
  if (s > e) return agt_fail("ag.flatten: start_dim (%d) cannot come after end_dim (%d)", s + 1, e + 1);
  int64_t shape[AG_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < s; i++) shape[n++] = t->sizes[i];
  int64_t p = 1;
  for (int i = s; i <= e; i++) p *= t->sizes[i];
  shape[n++] = p;
  for (int i = e + 1; i < t->ndim; i++) shape[n++] = t->sizes[i];
  return agt_reshape(t, n, shape);
}
