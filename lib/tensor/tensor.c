/* tensor.c: storage and tensor lifetime (refcounts), dtype facts, and element access. */
#include "internal.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* Set by lib/autograd so that freeing a tensor frees its autograd metadata. */
void (*ag_meta_free_fn)(struct ag_meta *) = NULL;

static const int dtype_sizes[AG_NDTYPES] = {4, 8, 8, 4, 1, 1};
static const char *dtype_names[AG_NDTYPES] = {"float32", "float64", "int64", "int32", "uint8", "bool"};

size_t ag_struct_size(int which) {
  switch (which) {
  case 0: return sizeof(ag_tensor);
  case 1: return sizeof(ag_storage);
  case 2: return sizeof(ag_alloc_stats);
  case 3: return sizeof(ag_ref);
  default: return 0;
  }
}

int agt_dtype_size(int dtype) { return (dtype >= 0 && dtype < AG_NDTYPES) ? dtype_sizes[dtype] : 0; }
const char *agt_dtype_name(int dtype) {
  return (dtype >= 0 && dtype < AG_NDTYPES) ? dtype_names[dtype] : "invalid";
}

/* PyTorch's promotion lattice for two tensors: bool < uint8 < int32 < int64 < float32 < float64
 * (uint8 with int32 gives int32, which this order already does). */
int agt_promote_types(int a, int b) {
  static const int rank[AG_NDTYPES] = {4, 5, 3, 2, 1, 0};   /* by dtype id */
  return rank[a] >= rank[b] ? a : b;
}

int64_t agt_numel(const ag_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->sizes[i];
  return n;
}

int agt_is_contiguous(const ag_tensor *t) {
  int64_t expected = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->sizes[i] == 1) continue;
    if (t->strides[i] != expected) return 0;
    expected *= t->sizes[i];
  }
  return 1;
}

int agt_normalize_dim(const char *op, int dim, int ndim) {
  int n = ndim == 0 ? 1 : ndim;
  if (dim == 0)
    return agt_failc("%s: dimension 0 is invalid: ag counts dimensions from 1 (use 1..%d, or -1 for the last)", op, n);
  if (dim < -n || dim > n)
    return agt_failc("%s: dimension out of range (expected to be in range of [%d, %d] but got %d)", op, -n, n, dim);
  return dim > 0 ? dim - 1 : dim + n;
}

int agt_check_sizes(const char *op, int ndim, const int64_t *sizes) {
  if (ndim < 0 || ndim > AG_MAX_DIMS)
    return agt_failc("%s: %d dimensions requested; ag supports at most %d", op, ndim, AG_MAX_DIMS);
  for (int i = 0; i < ndim; i++)
    if (sizes[i] < 0)
      return agt_failc("%s: negative dimension %lld in size (dimension %d); sizes must be >= 0",
                       op, (long long)sizes[i], i + 1);
  if (agt_numel_checked(ndim, sizes) < 0) {
    char b[256];
    return agt_failc("%s: a tensor of shape %s has too many elements (more than 2^62)", op,
                     agt_shape_str(ndim, sizes, b));
  }
  return 0;
}

/* The element count of a shape, or -1 if it passes 2^62 (so byte counts cannot overflow). */
int64_t agt_numel_checked(int ndim, const int64_t *sizes) {
  int64_t n = 1;
  bool zero = false;
  for (int i = 0; i < ndim; i++) if (sizes[i] == 0) zero = true;
  if (zero) return 0;
  for (int i = 0; i < ndim; i++) {
    if (sizes[i] < 0 || (sizes[i] && n > ((int64_t)1 << 62) / sizes[i])) return -1;
    n *= sizes[i];
  }
  return n;
}

void agt_set_contig_strides(ag_tensor *t) {
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    t->strides[i] = s;
    s *= t->sizes[i] > 0 ? t->sizes[i] : 1;
  }
}

/* Tensor and storage headers are recycled through free lists (linked through their first
 * field): a training step makes and drops thousands of them. Lua owns all tensors, and
 * kernels never create any inside OpenMP regions, so no locking is needed. */
static ag_tensor *free_tensors;
static ag_storage *free_storages;

static ag_storage *storage_struct(void) {
  ag_storage *s = free_storages;
  if (s) { free_storages = (ag_storage *)s->data; return s; }
  return malloc(sizeof(ag_storage));
}
static void storage_recycle(ag_storage *s) { s->data = free_storages; free_storages = s; }

static ag_tensor *tensor_struct(void) {
  ag_tensor *t = free_tensors;
  if (t) free_tensors = (ag_tensor *)t->storage;
  else t = malloc(sizeof(ag_tensor));
  if (!t) return agt_fail("ag: out of memory (tensor header)");
  t->refcount = 1;
  t->meta = NULL;
  t->offset = 0;
  return t;
}

ag_tensor *agt_new_contig(int ndim, const int64_t *sizes, int dtype) {
  int64_t numel = agt_numel_checked(ndim, sizes);
  if (numel < 0 || numel > INT64_MAX / 16) {
    char b[256];
    return agt_fail("ag: a tensor of shape %s has too many elements to allocate", agt_shape_str(ndim, sizes, b));
  }
  int64_t nbytes = numel * dtype_sizes[dtype];
  ag_storage *s = storage_struct();
  if (!s) return agt_fail("ag: out of memory (storage header)");
  s->data = ag_alloc(nbytes > 0 ? nbytes : 1);
  if (!s->data) { storage_recycle(s); return NULL; }
  s->nbytes = nbytes;
  s->refcount = 1;
  s->version = 0;
  ag_tensor *t = tensor_struct();
  if (!t) { ag_free(s->data, nbytes > 0 ? nbytes : 1); storage_recycle(s); return NULL; }
  t->storage = s;
  t->ndim = ndim;
  t->scalar_type = dtype;
  for (int i = 0; i < ndim; i++) t->sizes[i] = sizes[i];
  agt_set_contig_strides(t);
  return t;
}

ag_tensor *agt_new_view(ag_tensor *base) {
  ag_tensor *t = tensor_struct();
  if (!t) return NULL;
  t->storage = base->storage;
  t->storage->refcount++;
  t->offset = base->offset;
  t->ndim = base->ndim;
  t->scalar_type = base->scalar_type;
  memcpy(t->sizes, base->sizes, sizeof t->sizes);
  memcpy(t->strides, base->strides, sizeof t->strides);
  return t;
}

void agt_retain(ag_tensor *t) { if (t) t->refcount++; }

void agt_release(ag_tensor *t) {
  if (!t || --t->refcount > 0) return;
  if (t->meta && ag_meta_free_fn) ag_meta_free_fn(t->meta);
  ag_storage *s = t->storage;
  if (--s->refcount == 0) {
    ag_free(s->data, s->nbytes > 0 ? s->nbytes : 1);
    storage_recycle(s);
  }
  t->storage = (ag_storage *)free_tensors;
  free_tensors = t;
}

void ag_ref_release(ag_ref *r) {
  ag_tensor *t = r->p;
  r->p = NULL;
  agt_release(t);
}

void agt_bump_version(ag_tensor *t) { t->storage->version++; }

double agt_load(int dtype, const char *p) {
  switch (dtype) {
  case AG_FLOAT32: return *(const float *)p;
  case AG_FLOAT64: return *(const double *)p;
  case AG_INT64: return (double)*(const int64_t *)p;
  case AG_INT32: return *(const int32_t *)p;
  case AG_UINT8: return *(const uint8_t *)p;
  default: return *(const uint8_t *)p ? 1.0 : 0.0;
  }
}

/* double to int64 without C's undefined behaviour: NaN gives 0, out-of-range values saturate
 * (PyTorch leaves these unspecified); narrower integers then wrap around. */
static inline int64_t to_i64(double v) {
  if (!(v == v)) return 0;
  if (v >= 9.2233720368547758e18) return INT64_MAX;
  if (v <= -9.2233720368547758e18) return INT64_MIN;
  return (int64_t)v;
}

void agt_store(int dtype, char *p, double v) {
  switch (dtype) {
  case AG_FLOAT32: *(float *)p = (float)v; break;
  case AG_FLOAT64: *(double *)p = v; break;
  case AG_INT64: *(int64_t *)p = to_i64(v); break;
  case AG_INT32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)to_i64(v); break;
  case AG_UINT8: *(uint8_t *)p = (uint8_t)(uint64_t)to_i64(v); break;
  default: *(uint8_t *)p = v != 0; break;
  }
}

/* Walk every element in logical (row-major) order. */
int agt_to_doubles(ag_tensor *t, double *out) {
  int64_t n = agt_numel(t), idx[AG_MAX_DIMS] = {0};
  int es = dtype_sizes[t->scalar_type];
  const char *base = agt_ptr(t);
  for (int64_t k = 0; k < n; k++) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->strides[d];
    out[k] = agt_load(t->scalar_type, base + off * es);
    for (int d = t->ndim - 1; d >= 0; d--) {
      if (++idx[d] < t->sizes[d]) break;
      idx[d] = 0;
    }
  }
  return 0;
}

int agt_item(ag_tensor *t, double *out) {
  int64_t n = agt_numel(t);
  if (n != 1) {
    char b[256];
    return agt_failc("ag.item: a Tensor with %lld elements cannot be converted to Scalar (shape %s); "
                     "only one-element tensors can", (long long)n, AGT_SHAPE(t, b));
  }
  *out = agt_load(t->scalar_type, agt_ptr(t));
  return 0;
}

static int element_offset(const char *op, ag_tensor *t, int n, const int64_t *index, int64_t *off) {
  char b[256];
  if (n != t->ndim)
    return agt_failc("%s: %d indices given for a tensor of shape %s; give one per dimension", op, n, AGT_SHAPE(t, b));
  *off = 0;
  for (int d = 0; d < n; d++) {
    int64_t i = index[d];
    if (i < 0) i += t->sizes[d] + 1;
    if (i < 1 || i > t->sizes[d])
      return agt_failc("%s: index %lld is out of bounds for dimension %d with size %lld (indices are 1-based)",
                       op, (long long)index[d], d + 1, (long long)t->sizes[d]);
    *off += (i - 1) * t->strides[d];
  }
  return 0;
}

int agt_get_item(ag_tensor *t, int n, const int64_t *index, double *out) {
  int64_t off;
  if (element_offset("ag.index", t, n, index, &off)) return -1;
  *out = agt_load(t->scalar_type, agt_ptr(t) + off * dtype_sizes[t->scalar_type]);
  return 0;
}

int agt_set_item(ag_tensor *t, int n, const int64_t *index, double value) {
  int64_t off;
  if (element_offset("ag.index assignment", t, n, index, &off)) return -1;
  agt_store(t->scalar_type, agt_ptr(t) + off * dtype_sizes[t->scalar_type], value);
  t->storage->version++;
  return 0;
}
