/* ag_tensor.h: the public C API of ag's tensor library: refcounted storage, strided
 * tensors, dtypes, the caching allocator, creation, views, kernels and BLAS.
 *
 * Conventions:
 *  - Functions return a new reference (refcount 1) or NULL; int functions return 0 or -1.
 *    On failure ag_last_error() holds a message that names the op, the shapes and the fix.
 *  - Dimensions given to these functions are the user's: 1-based, negative counts from
 *    the end. Positions (select, narrow) are 1-based too, and so are index tensors.
 *
 * Everything between AG_FFI_BEGIN and AG_FFI_END is read by LuaJIT's FFI
 * (tools/gen_cdef.lua writes lua/ag/cdef.lua from it): plain declarations only. */
#ifndef AG_TENSOR_H
#define AG_TENSOR_H
#include <stdint.h>
#include <stddef.h>

/* AG_FFI_BEGIN */
enum { AG_MAX_DIMS = 16 };

typedef enum {
  AG_FLOAT32 = 0, AG_FLOAT64 = 1, AG_INT64 = 2, AG_INT32 = 3, AG_UINT8 = 4, AG_BOOL = 5,
  AG_NDTYPES = 6
} ag_dtype;

typedef struct ag_storage {
  void *data;
  int64_t nbytes;
  int64_t refcount;
  int64_t version;      /* bumped by every in-place write; shared by all views */
} ag_storage;

struct ag_meta;         /* autograd metadata, defined by lib/autograd */

typedef struct ag_tensor {
  ag_storage *storage;
  int64_t offset;       /* in elements */
  int64_t refcount;
  struct ag_meta *meta; /* NULL for tensors that never took part in autograd */
  int32_t ndim;
  int32_t scalar_type;  /* an ag_dtype; Lua reads t.dtype as its name */
  int64_t sizes[AG_MAX_DIMS];
  int64_t strides[AG_MAX_DIMS];   /* in elements */
} ag_tensor;

/* The Lua handle of a tensor: LuaJIT gives pointers built-in arithmetic and indexing, so
 * Tensor metamethods live on this one-field struct instead. It owns one reference. */
typedef struct ag_ref { ag_tensor *p; } ag_ref;

typedef struct ag_alloc_stats {
  int32_t over_limit;   /* set when live_bytes passes soft_limit; the Lua layer then collects */
  int32_t pad;
  int64_t soft_limit;
  int64_t live_bytes;   /* bytes held by live storages */
  int64_t peak_bytes;
  int64_t cached_bytes; /* freed buffers kept for reuse */
  int64_t n_allocs;
} ag_alloc_stats;

typedef enum {
  AG_OP_ADD, AG_OP_SUB, AG_OP_MUL, AG_OP_DIV, AG_OP_POW, AG_OP_MAXIMUM, AG_OP_MINIMUM,
  AG_OP_ATAN2, AG_OP_EQ, AG_OP_NE, AG_OP_LT, AG_OP_LE, AG_OP_GT, AG_OP_GE,
  AG_OP_LOGICAL_AND, AG_OP_LOGICAL_OR, AG_OP_REMAINDER,
  AG_NBINARY
} ag_binary_op;

typedef enum {
  AG_UOP_NEG, AG_UOP_ABS, AG_UOP_RELU, AG_UOP_SIGN, AG_UOP_EXP, AG_UOP_LOG, AG_UOP_SQRT,
  AG_UOP_TANH, AG_UOP_SIGMOID, AG_UOP_SIN, AG_UOP_COS, AG_UOP_TAN, AG_UOP_EXPM1, AG_UOP_LOG1P,
  AG_UOP_LOG2, AG_UOP_RSQRT, AG_UOP_RECIPROCAL, AG_UOP_ASIN, AG_UOP_ACOS, AG_UOP_ATAN,
  AG_UOP_SINH, AG_UOP_COSH, AG_UOP_ERF, AG_UOP_FLOOR, AG_UOP_CEIL, AG_UOP_ROUND, AG_UOP_TRUNC,
  AG_UOP_LOGICAL_NOT, AG_UOP_ISNAN, AG_UOP_ISINF,
  AG_NUNARY
} ag_unary_op;

typedef enum {
  AG_RED_SUM, AG_RED_MEAN, AG_RED_PROD, AG_RED_AMAX, AG_RED_AMIN, AG_RED_ALL, AG_RED_ANY,
  AG_NREDUCE
} ag_reduce_op;

/* the C sizes of the shared structs, so the Lua layer can refuse a stale libag.so */
size_t ag_struct_size(int which);   /* 0 ag_tensor, 1 ag_storage, 2 ag_alloc_stats, 3 ag_ref */

/* errors */
const char *ag_last_error(void);
void ag_set_error(const char *msg);

/* memory */
ag_alloc_stats *ag_alloc_stats_get(void);
int64_t ag_memory_allocated(void);
void ag_empty_cache(void);
void ag_set_memory_hard_limit(int64_t bytes);   /* allocations past it fail as out of memory; 0: none */
int64_t ag_memory_hard_limit(void);

/* threads */
void ag_set_num_threads(int n);
int ag_get_num_threads(void);

/* lifetime */
void agt_retain(ag_tensor *t);
void agt_release(ag_tensor *t);
void ag_ref_release(ag_ref *r);   /* the ffi.gc finalizer of a handle */

/* dtypes and shapes */
const char *agt_dtype_name(int dtype);
int agt_dtype_size(int dtype);
int agt_promote_types(int a, int b);
int64_t agt_numel(const ag_tensor *t);
int agt_is_contiguous(const ag_tensor *t);
int agt_normalize_dim(const char *op, int dim, int ndim);

/* creation */
ag_tensor *agt_empty(int ndim, const int64_t *sizes, int dtype);
ag_tensor *agt_full(int ndim, const int64_t *sizes, double value, int dtype);
ag_tensor *agt_from_doubles(const double *data, int ndim, const int64_t *sizes, int dtype);
ag_tensor *agt_from_buffer(const void *data, int64_t nbytes, int ndim, const int64_t *sizes, int dtype);
void *agt_data_ptr(ag_tensor *t);   /* first element; with agt_is_contiguous, numel * size bytes */
ag_tensor *agt_arange(double start, double end, double step, int dtype);
ag_tensor *agt_linspace(double start, double end, int64_t steps, int dtype);
ag_tensor *agt_eye(int64_t n, int64_t m, int dtype);

/* random numbers: Philox4x32-10, counter-based; (seed, offset) is the whole state */
void agt_manual_seed(uint64_t seed);
uint64_t agt_rng_seed(void);
uint64_t agt_rng_offset(void);
void agt_rng_set_state(uint64_t seed, uint64_t offset);
void agt_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]);
int agt_uniform_(ag_tensor *t, double low, double high);
int agt_normal_(ag_tensor *t, double mean, double std);
int agt_randint_(ag_tensor *t, int64_t low, int64_t high);
int agt_bernoulli_(ag_tensor *t, double p);
ag_tensor *agt_randperm(int64_t n);

/* views (no copy) */
ag_tensor *agt_alias(ag_tensor *t);
ag_tensor *agt_view(ag_tensor *t, int ndim, const int64_t *sizes);
ag_tensor *agt_reshape(ag_tensor *t, int ndim, const int64_t *sizes);
ag_tensor *agt_as_strided(ag_tensor *t, int ndim, const int64_t *sizes, const int64_t *strides, int64_t offset);
ag_tensor *agt_transpose(ag_tensor *t, int dim0, int dim1);
ag_tensor *agt_permute(ag_tensor *t, int ndims, const int64_t *dims);
ag_tensor *agt_narrow(ag_tensor *t, int dim, int64_t start, int64_t length);
ag_tensor *agt_select(ag_tensor *t, int dim, int64_t index);
ag_tensor *agt_squeeze(ag_tensor *t, int dim, int all);
ag_tensor *agt_unsqueeze(ag_tensor *t, int dim);
ag_tensor *agt_expand(ag_tensor *t, int ndim, const int64_t *sizes);
ag_tensor *agt_flatten(ag_tensor *t, int start_dim, int end_dim);

/* copies and conversion */
ag_tensor *agt_contiguous(ag_tensor *t);
ag_tensor *agt_clone(ag_tensor *t);
ag_tensor *agt_to_dtype(ag_tensor *t, int dtype);
int agt_copy_(ag_tensor *dst, ag_tensor *src);
int agt_fill_(ag_tensor *t, double value);
int agt_to_doubles(ag_tensor *t, double *out);
int agt_item(ag_tensor *t, double *out);
int agt_set_item(ag_tensor *t, int n, const int64_t *index, double value);
int agt_get_item(ag_tensor *t, int n, const int64_t *index, double *out);
void agt_bump_version(ag_tensor *t);

/* elementwise: broadcasting and type promotion as PyTorch */
ag_tensor *agt_binary(int op, ag_tensor *a, ag_tensor *b);
ag_tensor *agt_binary_scalar(int op, ag_tensor *a, double s, int scalar_first);
int agt_binary_(int op, ag_tensor *a, ag_tensor *b);
int agt_binary_scalar_(int op, ag_tensor *a, double s);
ag_tensor *agt_unary(int op, ag_tensor *a);
int agt_unary_(int op, ag_tensor *a);
ag_tensor *agt_clamp(ag_tensor *a, double lo, double hi);
int agt_clamp_(ag_tensor *a, double lo, double hi);
ag_tensor *agt_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b);
ag_tensor *agt_relu_backward(ag_tensor *g, ag_tensor *result);
int agt_broadcast_shape(const char *op, const ag_tensor *a, const ag_tensor *b, int *ndim, int64_t *sizes);

/* reductions over a set of dims (ndims == 0 means all dims) */
ag_tensor *agt_reduce(int op, ag_tensor *a, int ndims, const int64_t *dims, int keepdim);
ag_tensor *agt_var(ag_tensor *a, int ndims, const int64_t *dims, double correction, int keepdim, int take_sqrt);
ag_tensor *agt_max_dim(ag_tensor *a, int dim, int keepdim, int is_min, ag_tensor **indices);
ag_tensor *agt_argmax(ag_tensor *a, int dim, int keepdim, int is_min, int all);
ag_tensor *agt_sum_to_size(ag_tensor *a, int ndim, const int64_t *sizes);

/* matrix products through cblas */
ag_tensor *agt_mm(ag_tensor *a, ag_tensor *b);
ag_tensor *agt_bmm(ag_tensor *a, ag_tensor *b);
ag_tensor *agt_matmul(ag_tensor *a, ag_tensor *b);
/* AG_FFI_END */

#endif
