/* math_ternary.c: elementwise ops of three broadcast operands, each one fused pass:
 * addcmul (a + value * t1 * t2), addcdiv (a + value * t1 / t2) and lerp (start + weight *
 * (end - start), with a tensor or a number weight, in PyTorch's two-sided form that is
 * exact at weight 0 and 1). Operands are promoted to a common dtype as PyTorch does. */
#include "iter.h"
#include "ag_math.h"
#include <tgmath.h>

/* the number parameter (value, or lerp's weight), written before the iterator runs */
static double tern_v;

#define TERN_LOOP(NAME, T, SFX, EXPR)                                                            \
  static void NAME##_##SFX(int64_t n, char **p, const int64_t *s) {                             \
    T *o = (T *)p[0]; const T *A = (const T *)p[1], *B = (const T *)p[2], *Cc = (const T *)p[3]; \
    const T v = (T)tern_v; (void)v;                                                             \
    for (int64_t i = 0; i < n; i++) {                                                           \
      T a = A[i * s[1]], b = B[i * s[2]], c = Cc[i * s[3]]; (void)c;                            \
      o[i * s[0]] = (T)(EXPR);                                                                  \
    }                                                                                           \
  }
/* lerp's two-sided form: exact at both ends */
#define LERP(a, b, w) (fabs(w) < 0.5 ? (a) + (w) * ((b) - (a)) : (b) - ((b) - (a)) * (1 - (w)))

#define NUM_LOOPS(T, SFX)                                                                         \
  TERN_LOOP(addcmul, T, SFX, a + v * b * c)
#define FLOAT_LOOPS(T, SFX)                                                                       \
  NUM_LOOPS(T, SFX)                                                                               \
  TERN_LOOP(addcdiv, T, SFX, a + v * (b / c))                                                     \
  TERN_LOOP(lerp, T, SFX, LERP(a, b, c))                                                          \
  TERN_LOOP(lerps, T, SFX, LERP(a, b, v))
FLOAT_LOOPS(float, f32)
FLOAT_LOOPS(double, f64)
NUM_LOOPS(int64_t, i64)
NUM_LOOPS(int32_t, i32)
NUM_LOOPS(uint8_t, u8)

enum { T_ADDCMUL, T_ADDCDIV, T_LERP, T_LERPS };
static const char *tern_names[] = {"addcmul", "addcdiv", "lerp", "lerp"};
static const agt_loop_fn tern_loops[AG_NDTYPES][4] = {
  [AG_FLOAT32] = {addcmul_f32, addcdiv_f32, lerp_f32, lerps_f32},
  [AG_FLOAT64] = {addcmul_f64, addcdiv_f64, lerp_f64, lerps_f64},
  [AG_INT64] = {addcmul_i64}, [AG_INT32] = {addcmul_i32}, [AG_UINT8] = {addcmul_u8}};

/* broadcast shape and result dtype of up to three operands (c may be NULL) */
static int tern_plan(const char *op, ag_tensor *a, ag_tensor *b, ag_tensor *c, int *nd, int64_t *sz, int *dt) {
  int n1;
  int64_t s1[AG_MAX_DIMS];
  if (agt_broadcast_shape(op, a, b, &n1, s1)) return -1;
  ag_tensor ab = *a;   /* shape-only stand-in for the broadcast of a and b, with their dtype */
  ab.ndim = n1;
  for (int i = 0; i < n1; i++) ab.sizes[i] = s1[i];
  ab.scalar_type = agt_result_type(a, b);
  if (!c) {
    *nd = n1;
    for (int i = 0; i < n1; i++) sz[i] = s1[i];
    *dt = ab.scalar_type;
    return 0;
  }
  if (agt_broadcast_shape(op, &ab, c, nd, sz)) return -1;
  *dt = agt_result_type(&ab, c);
  return 0;
}

static ag_tensor *ternary(int kind, ag_tensor *a, ag_tensor *b, ag_tensor *c, double v) {
  const char *op = tern_names[kind];
  int nd, dt;
  int64_t sz[AG_MAX_DIMS];
  if (tern_plan(op, a, b, c, &nd, sz, &dt)) return NULL;   /* its errors say "ag.<op>: ..." */
  if ((kind == T_LERP || kind == T_LERPS) && !agt_is_float(dt))
    return agt_fail("ag.lerp: expected floating-point tensors, but got %s; convert them first, e.g. "
                    "x:float()", agt_dtype_name(dt));
  if (kind == T_ADDCDIV && !agt_is_float(dt))
    return agt_fail("ag.addcdiv: integer division is not supported (the operands are %s); convert "
                    "tensor1 or tensor2 to a floating-point dtype first", agt_dtype_name(dt));
  if (dt == AG_BOOL) return agt_fail("ag.%s: not implemented for bool tensors", op);
  ag_tensor *src[4] = {NULL, a, b, c}, *ops[4] = {NULL, NULL, NULL, NULL};
  for (int k = 1; k < 4; k++) {     /* each operand in the result dtype (a new reference) */
    if (!src[k]) continue;
    ops[k] = src[k]->scalar_type == dt ? (agt_retain(src[k]), src[k]) : agt_to_dtype(src[k], dt);
    if (!ops[k]) goto fail;
  }
  ops[0] = agt_new_contig(nd, sz, dt);
  if (!ops[0]) goto fail;
  tern_v = v;
  agt_iter it;
  agt_iter_init(&it, 4, ops);
  if (!c) {   /* a stride-0 zero stands in for the missing operand; the loop ignores it */
    static const double zero = 0;
    agt_iter_set_scalar(&it, 3, (void *)&zero, 8);
  }
  agt_iter_run(&it, tern_loops[dt][kind]);
  for (int k = 1; k < 4; k++) if (ops[k]) agt_release(ops[k]);
  return ops[0];
fail:
  for (int k = 1; k < 4; k++) if (ops[k]) agt_release(ops[k]);
  return NULL;
}

ag_tensor *agt_addcmul(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value) {
  return ternary(T_ADDCMUL, a, t1, t2, value);
}
ag_tensor *agt_addcdiv(ag_tensor *a, ag_tensor *t1, ag_tensor *t2, double value) {
  return ternary(T_ADDCDIV, a, t1, t2, value);
}
ag_tensor *agt_lerp(ag_tensor *start, ag_tensor *end, ag_tensor *weight) {
  return ternary(T_LERP, start, end, weight, 0);
}
ag_tensor *agt_lerp_scalar(ag_tensor *start, ag_tensor *end, double weight) {
  return ternary(T_LERPS, start, end, NULL, weight);
}
