/* binary.c: elementwise binary ops (arithmetic, comparisons, logical) with NumPy
 * broadcasting and PyTorch's type promotion. One generic loop, instantiated per dtype. */
#include "iter.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *binary_names[AG_NBINARY] = {
  "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "eq", "ne", "lt", "le",
  "gt", "ge", "logical_and", "logical_or", "remainder"};

/* Loop with fast paths for contiguous and scalar-broadcast operands. x, y: the inputs. */
#define BIN_LOOP(NAME, T, OT, EXPR)                                                        \
  static void NAME(int64_t n, char **p, const int64_t *s) {                               \
    OT *o = (OT *)p[0];                                                                   \
    const T *a = (const T *)p[1], *b = (const T *)p[2];                                   \
    int64_t so = s[0], sa = s[1], sb = s[2];                                              \
    if (so == 1 && sa == 1 && sb == 1) {                                                  \
      for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (OT)(EXPR); }        \
    } else if (so == 1 && sa == 1 && sb == 0) {                                           \
      const T y = b[0];                                                                   \
      for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (OT)(EXPR); }                  \
    } else if (so == 1 && sa == 0 && sb == 1) {                                           \
      const T x = a[0];                                                                   \
      for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (OT)(EXPR); }                  \
    } else {                                                                              \
      for (int64_t i = 0; i < n; i++) { T x = a[i * sa], y = b[i * sb]; o[i * so] = (OT)(EXPR); } \
    }                                                                                     \
  }

#define FLOAT_HELPERS(T, SFX, POW, ATAN2, FMOD)                                            \
  static inline T div_##SFX(T x, T y) { return x / y; }                                    \
  static inline T pow_##SFX(T x, T y) { return y == 2 ? x * x : POW(x, y); }               \
  static inline T atan2_##SFX(T x, T y) { return ATAN2(x, y); }                            \
  static inline T rem_##SFX(T x, T y) {                                                    \
    T r = FMOD(x, y); return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r; }               \
  static inline T max_##SFX(T x, T y) { return (x != x || x > y) ? x : y; }                \
  static inline T min_##SFX(T x, T y) { return (x != x || x < y) ? x : y; }

/* Integer helpers never divide by zero or overflow into UB (division promotes to float
 * before it gets here; these exist so the table is total). */
#define INT_HELPERS(T, SFX)                                                                \
  static inline T div_##SFX(T x, T y) { return (y == 0 || y == (T)-1) ? 0 : x / y; }       \
  static inline T pow_##SFX(T x, T y) {                                                    \
    if (y < 0) return x == 1 ? 1 : (x == (T)-1 ? ((y & 1) ? (T)-1 : 1) : 0);              \
    uint64_t r = 1, bx = (uint64_t)x, e = (uint64_t)y;                                     \
    while (e) { if (e & 1) r *= bx; bx *= bx; e >>= 1; }                                   \
    return (T)r; }                                                                         \
  static inline T atan2_##SFX(T x, T y) { return (T)atan2((double)x, (double)y); }         \
  static inline T rem_##SFX(T x, T y) {                                                    \
    if (y == 0 || y == (T)-1) return 0;                                                    \
    T r = x % y; return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r; }                    \
  static inline T max_##SFX(T x, T y) { return x > y ? x : y; }                            \
  static inline T min_##SFX(T x, T y) { return x < y ? x : y; }

FLOAT_HELPERS(float, f32, powf, atan2f, fmodf)
FLOAT_HELPERS(double, f64, pow, atan2, fmod)
INT_HELPERS(int64_t, i64)
INT_HELPERS(int32_t, i32)
INT_HELPERS(uint8_t, u8)
INT_HELPERS(uint8_t, b8)

/* Integer + - * wrap around (two's complement, as PyTorch) instead of overflowing into UB. */
#define WRAP_f32(T, e) (e)
#define WRAP_f64(T, e) (e)
#define WRAP_i64(T, e) ((T)(e))
#define WRAP_i32(T, e) ((T)(e))
#define WRAP_u8(T, e) ((T)(e))
#define WRAP_b8(T, e) ((T)(e))
#define ARG_f32(x) (x)
#define ARG_f64(x) (x)
#define ARG_i64(x) ((uint64_t)(x))
#define ARG_i32(x) ((uint64_t)(x))
#define ARG_u8(x) ((uint64_t)(x))
#define ARG_b8(x) ((uint64_t)(x))

#define DEFINE_BINARY(DT, T, SFX)                                                          \
  BIN_LOOP(add_##SFX, T, T, WRAP_##SFX(T, ARG_##SFX(x) + ARG_##SFX(y)))                     \
  BIN_LOOP(sub_##SFX, T, T, WRAP_##SFX(T, ARG_##SFX(x) - ARG_##SFX(y)))                     \
  BIN_LOOP(mul_##SFX, T, T, WRAP_##SFX(T, ARG_##SFX(x) * ARG_##SFX(y)))                     \
  BIN_LOOP(div_loop_##SFX, T, T, div_##SFX(x, y))                                          \
  BIN_LOOP(pow_loop_##SFX, T, T, pow_##SFX(x, y))                                          \
  BIN_LOOP(max_loop_##SFX, T, T, max_##SFX(x, y))                                          \
  BIN_LOOP(min_loop_##SFX, T, T, min_##SFX(x, y))                                          \
  BIN_LOOP(atan2_loop_##SFX, T, T, atan2_##SFX(x, y))                                      \
  BIN_LOOP(rem_loop_##SFX, T, T, rem_##SFX(x, y))                                          \
  BIN_LOOP(eq_##SFX, T, uint8_t, x == y)                                                   \
  BIN_LOOP(ne_##SFX, T, uint8_t, x != y)                                                   \
  BIN_LOOP(lt_##SFX, T, uint8_t, x < y)                                                    \
  BIN_LOOP(le_##SFX, T, uint8_t, x <= y)                                                   \
  BIN_LOOP(gt_##SFX, T, uint8_t, x > y)                                                    \
  BIN_LOOP(ge_##SFX, T, uint8_t, x >= y)                                                   \
  BIN_LOOP(and_##SFX, T, uint8_t, (x != 0) && (y != 0))                                    \
  BIN_LOOP(or_##SFX, T, uint8_t, (x != 0) || (y != 0))
AG_FOREACH_DTYPE(DEFINE_BINARY)

#define TABLE_ROW(DT, T, SFX)                                                              \
  [DT] = {[AG_OP_ADD] = add_##SFX, [AG_OP_SUB] = sub_##SFX, [AG_OP_MUL] = mul_##SFX,         \
          [AG_OP_DIV] = div_loop_##SFX, [AG_OP_POW] = pow_loop_##SFX,                       \
          [AG_OP_MAXIMUM] = max_loop_##SFX, [AG_OP_MINIMUM] = min_loop_##SFX,               \
          [AG_OP_ATAN2] = atan2_loop_##SFX, [AG_OP_EQ] = eq_##SFX, [AG_OP_NE] = ne_##SFX,   \
          [AG_OP_LT] = lt_##SFX, [AG_OP_LE] = le_##SFX, [AG_OP_GT] = gt_##SFX,              \
          [AG_OP_GE] = ge_##SFX, [AG_OP_LOGICAL_AND] = and_##SFX,                           \
          [AG_OP_LOGICAL_OR] = or_##SFX, [AG_OP_REMAINDER] = rem_loop_##SFX},
static const agt_loop_fn binary_loops[AG_NDTYPES][AG_NBINARY] = {AG_FOREACH_DTYPE(TABLE_ROW)};

static bool is_predicate(int op) { return op >= AG_OP_EQ && op <= AG_OP_LOGICAL_OR; }

/* The dtype an op computes in, given the promoted input dtype; -1 if unsupported. */
static int compute_dtype(int op, int ct, int *opp) {
  if ((op == AG_OP_DIV || op == AG_OP_ATAN2) && !agt_is_float(ct)) return AG_FLOAT32;
  if (ct == AG_BOOL && !is_predicate(op)) {
    if (op == AG_OP_ADD || op == AG_OP_MAXIMUM) { *opp = AG_OP_LOGICAL_OR; return AG_BOOL; }
    if (op == AG_OP_MUL || op == AG_OP_MINIMUM) { *opp = AG_OP_LOGICAL_AND; return AG_BOOL; }
    if (op == AG_OP_SUB)
      return agt_failc("ag.sub: subtraction, the `-` operator, with two bool tensors is not supported; "
                       "use :logical_xor() or convert with :long() first");
    return AG_INT64;
  }
  return ct;
}

int agt_broadcast_shape(const char *op, const ag_tensor *a, const ag_tensor *b, int *ndim, int64_t *sizes) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < n; i++) {
    int ia = a->ndim - n + i, ib = b->ndim - n + i;
    int64_t sa = ia >= 0 ? a->sizes[ia] : 1, sb = ib >= 0 ? b->sizes[ib] : 1;
    if (sa == sb || sb == 1) sizes[i] = sa;
    else if (sa == 1) sizes[i] = sb;
    else {
      char b1[256], b2[256];
      return agt_failc("ag.%s: shapes %s and %s cannot be broadcast: the size of tensor a (%lld) must "
                       "match the size of tensor b (%lld) at non-singleton dimension %d", op,
                       AGT_SHAPE(a, b1), AGT_SHAPE(b, b2), (long long)sa, (long long)sb, i + 1);
    }
  }
  *ndim = n;
  return 0;
}

/* PyTorch's result_type for two tensors: a 0-dim tensor only decides the dtype when it is
 * of a higher category (bool < integer < floating) than the dimensioned one, so
 * float32[n] * float64[] stays float32 but int32[n] * float64[] gives float64. */
static int category(int dt) { return dt == AG_BOOL ? 0 : agt_is_float(dt) ? 2 : 1; }
int agt_result_type(const ag_tensor *a, const ag_tensor *b) {
  if ((a->ndim == 0) == (b->ndim == 0)) return agt_promote_types(a->scalar_type, b->scalar_type);
  int dim = a->ndim ? a->scalar_type : b->scalar_type, zero = a->ndim ? b->scalar_type : a->scalar_type;
  if (category(zero) > category(dim)) return agt_promote_types(dim, zero);
  return dim;
}

/* PyTorch's canCast for writing a result of dtype `from` into a tensor of dtype `to`. */
static bool can_cast(int from, int to) {
  if (agt_is_float(from) && !agt_is_float(to)) return false;
  if (from != AG_BOOL && to == AG_BOOL) return false;
  return true;
}

/* Integer division by zero has no value (PyTorch raises ZeroDivisionError). */
static int check_int_divisor(int op, int ct, ag_tensor *b, const double *s) {
  if (op != AG_OP_REMAINDER || agt_is_float(ct)) return 0;
  bool zero = false;
  if (s) zero = *s == 0;
  else {
    ag_tensor *nz = agt_reduce(AG_RED_ALL, b, 0, NULL, 0);
    if (!nz) return -1;
    zero = *(uint8_t *)agt_ptr(nz) == 0;
    agt_release(nz);
  }
  if (zero) return agt_failc("ag.remainder: ZeroDivisionError: integer remainder by zero; convert to float "
                             "with :float() for NaN results");
  return 0;
}

/* If a write into `dst` would read `src` through other memory locations of the same storage,
 * return a private copy of src (a new reference); otherwise src itself, retained. */
static ag_tensor *unaliased(ag_tensor *dst, ag_tensor *src) {
  if (src->storage != dst->storage ||
      (src->offset == dst->offset && src->ndim == dst->ndim &&
       !memcmp(src->sizes, dst->sizes, src->ndim * sizeof(int64_t)) &&
       !memcmp(src->strides, dst->strides, src->ndim * sizeof(int64_t)))) {
    agt_retain(src);
    return src;
  }
  return agt_clone(src);
}

/* Cast t to dtype only if needed; returns a new reference either way. */
static ag_tensor *as_dtype(ag_tensor *t, int dtype) {
  if (t->scalar_type == dtype) { agt_retain(t); return t; }
  return agt_to_dtype(t, dtype);
}

ag_tensor *agt_binary(int op, ag_tensor *a, ag_tensor *b) {
  if (op < 0 || op >= AG_NBINARY) return agt_fail("ag: unknown binary op %d", op);
  int ndim;
  int64_t sizes[AG_MAX_DIMS];
  if (agt_broadcast_shape(binary_names[op], a, b, &ndim, sizes)) return NULL;
  int kop = op;
  int ct = compute_dtype(op, agt_result_type(a, b), &kop);
  if (ct < 0 || check_int_divisor(op, ct, b, NULL)) return NULL;
  ag_tensor *out = agt_new_contig(ndim, sizes, is_predicate(kop) ? AG_BOOL : ct);
  if (!out) return NULL;
  ag_tensor *ca = as_dtype(a, ct), *cb = ca ? as_dtype(b, ct) : NULL;
  if (!cb) { agt_release(ca); agt_release(out); return NULL; }
  agt_iter it;
  agt_iter_init(&it, 3, (ag_tensor *[]){out, ca, cb});
  agt_iter_run(&it, binary_loops[ct][kop]);
  agt_release(ca);
  agt_release(cb);
  return out;
}

/* The dtype a tensor-with-number op computes in (a Lua number is a "weak" scalar: an
 * integral number keeps an integer tensor's dtype, a fractional one makes it float32). */
static int scalar_dtype(int op, int dtype, double s, int *kop) {
  int ct = dtype;
  if (!agt_is_float(dtype)) {
    if (s != floor(s) || !isfinite(s)) ct = AG_FLOAT32;
    else if (dtype == AG_BOOL) ct = AG_INT64;
  }
  return compute_dtype(op, ct, kop);
}

/* Integer tensors raised to a negative integer number have no integer value. */
static int check_int_pow(int op, int ct, double s, int scalar_first) {
  if (op == AG_OP_POW && !scalar_first && !agt_is_float(ct) && s < 0)
    return agt_failc("ag.pow: Integers to negative integer powers are not allowed (exponent %g on a %s "
                     "tensor); convert with :float() first", s, agt_dtype_name(ct));
  return 0;
}

ag_tensor *agt_binary_scalar(int op, ag_tensor *a, double s, int scalar_first) {
  if (op < 0 || op >= AG_NBINARY) return agt_fail("ag: unknown binary op %d", op);
  int kop = op;
  int ct = scalar_dtype(op, a->scalar_type, s, &kop);
  if (ct < 0 || check_int_pow(op, ct, s, scalar_first)) return NULL;
  if (scalar_first ? check_int_divisor(op, ct, a, NULL) : check_int_divisor(op, ct, NULL, &s)) return NULL;
  ag_tensor *out = agt_new_contig(a->ndim, a->sizes, is_predicate(kop) ? AG_BOOL : ct);
  if (!out) return NULL;
  ag_tensor *ca = as_dtype(a, ct);
  if (!ca) { agt_release(out); return NULL; }
  char scalar[16];
  agt_store(ct, scalar, s);
  agt_iter it;
  int ta = scalar_first ? 2 : 1, ts = scalar_first ? 1 : 2;
  ag_tensor *ops[3] = {out, NULL, NULL};
  ops[ta] = ca;
  agt_iter_init(&it, 3, ops);
  agt_iter_set_scalar(&it, ts, scalar, agt_dtype_size(ct));
  agt_iter_run(&it, binary_loops[ct][kop]);
  agt_release(ca);
  return out;
}

/* Writes through an expanded tensor would race on one memory location (and apply the op
 * once per alias). */
int agt_check_writable(const char *op, ag_tensor *a) {
  for (int d = 0; d < a->ndim; d++)
    if (a->strides[d] == 0 && a->sizes[d] > 1)
      return agt_failc("ag.%s: unsupported operation: more than one element of the written-to tensor "
                       "refers to a single memory location. Please clone() the tensor before "
                       "performing the operation.", op);
  return 0;
}

/* The result of an in-place op is computed in the promoted dtype and must be castable
 * back into the tensor's own dtype (PyTorch's rule). */
static int inplace_dtype(int op, ag_tensor *a, int ct) {
  int kop = op;
  ct = compute_dtype(op, ct, &kop);
  if (ct < 0) return -1;
  if (!can_cast(ct, a->scalar_type))
    return agt_failc("ag.%s_: result type %s can't be cast to the desired output type %s; "
                     "convert the tensor with :%s() first", binary_names[op],
                     agt_dtype_name(ct), agt_dtype_name(a->scalar_type),
                     agt_is_float(ct) ? "float" : "long");
  return 0;
}

int agt_binary_(int op, ag_tensor *a, ag_tensor *b) {
  if (op < 0 || op >= AG_NBINARY || is_predicate(op)) return agt_failc("ag: op %d has no in-place form", op);
  int ndim;
  int64_t sizes[AG_MAX_DIMS];
  char b1[256], b2[256], name[32];
  snprintf(name, sizeof name, "%s_", binary_names[op]);
  if (agt_broadcast_shape(name, a, b, &ndim, sizes)) return -1;
  if (ndim != a->ndim || memcmp(sizes, a->sizes, ndim * sizeof(int64_t)))
    return agt_failc("ag.%s: output with shape %s doesn't match the broadcast shape %s; in-place ops "
                     "cannot grow their tensor", name, AGT_SHAPE(a, b1), agt_shape_str(ndim, sizes, b2));
  if (agt_check_writable(name, a)) return -1;
  if (inplace_dtype(op, a, agt_result_type(a, b))) return -1;
  if (check_int_divisor(op, a->scalar_type, b, NULL)) return -1;
  int kop = op;
  compute_dtype(op, a->scalar_type, &kop);
  /* b is read while a is written: a partially overlapping b is copied first */
  ag_tensor *ub = unaliased(a, b);
  if (!ub) return -1;
  ag_tensor *cb = as_dtype(ub, a->scalar_type);
  agt_release(ub);
  if (!cb) return -1;
  agt_iter it;
  agt_iter_init(&it, 3, (ag_tensor *[]){a, a, cb});
  agt_iter_run(&it, binary_loops[a->scalar_type][kop]);
  agt_release(cb);
  a->storage->version++;
  return 0;
}

int agt_binary_scalar_(int op, ag_tensor *a, double s) {
  if (op < 0 || op >= AG_NBINARY || is_predicate(op)) return agt_failc("ag: op %d has no in-place form", op);
  char name[32];
  snprintf(name, sizeof name, "%s_", binary_names[op]);
  if (agt_check_writable(name, a)) return -1;
  int kop = op;
  int ct = scalar_dtype(op, a->scalar_type, s, &kop);
  if (ct < 0 || inplace_dtype(op, a, ct)) return -1;
  if (check_int_pow(op, a->scalar_type, s, 0) || check_int_divisor(op, a->scalar_type, NULL, &s)) return -1;
  kop = op;
  compute_dtype(op, a->scalar_type, &kop);
  char scalar[16];
  agt_store(a->scalar_type, scalar, s);
  agt_iter it;
  agt_iter_init(&it, 3, (ag_tensor *[]){a, a, NULL});
  agt_iter_set_scalar(&it, 2, scalar, agt_dtype_size(a->scalar_type));
  agt_iter_run(&it, binary_loops[a->scalar_type][kop]);
  a->storage->version++;
  return 0;
}
