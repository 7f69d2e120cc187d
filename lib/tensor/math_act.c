/* math_act.c: fused activation kernels and their backward kernels (g * f'(x)):
 * logsigmoid, hardtanh (relu6), leaky_relu, elu (selu), gelu (erf and tanh forms), silu,
 * mish and softplus, on float32 and float64. Each is one pass through the strided
 * iterator; softplus-like terms use the stable max(x, 0) + log1p(exp(-|x|)). */
#include "iter.h"
#include "ag_math.h"
#include <tgmath.h>

static const char *act_names[AG_NACT] = {"logsigmoid", "hardtanh", "leaky_relu", "elu", "gelu",
                                         "gelu", "silu", "mish", "softplus"};
const char *agt_activation_name(int op) { return op >= 0 && op < AG_NACT ? act_names[op] : "activation"; }

/* The op's parameters, written before the iterator runs (ag's ops are called from one host
 * thread; OpenMP workers only read them inside the parallel region). */
static double act_p[3];

#define KBETA 0.7978845608028654     /* sqrt(2 / pi) */
#define KKAPPA 0.044715
#define KINV_SQRT2PI 0.3989422804014327

/* one scalar function per op and dtype: f(x) and g * f'(x) */
#define ACT_FUNCS(T, SFX)                                                                        \
  static inline T softplus1_##SFX(T x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }        \
  static inline T sigm_##SFX(T x) { return (T)1 / ((T)1 + exp(-x)); }                           \
  static inline T f_logsigmoid_##SFX(T x, T a, T b, T c) { return -softplus1_##SFX(-x); }        \
  static inline T d_logsigmoid_##SFX(T g, T x, T a, T b, T c) { return g * sigm_##SFX(-x); }      \
  static inline T f_hardtanh_##SFX(T x, T a, T b, T c) { return x < a ? a : (x > b ? b : x); }  \
  static inline T d_hardtanh_##SFX(T g, T x, T a, T b, T c) { return (x <= a || x >= b) ? 0 : g; } \
  static inline T f_leaky_##SFX(T x, T a, T b, T c) { return x > 0 ? x : x * a; }               \
  static inline T d_leaky_##SFX(T g, T x, T a, T b, T c) { return x > 0 ? g : g * a; }          \
  static inline T f_elu_##SFX(T x, T a, T b, T c) { return x <= 0 ? expm1(x * c) * a * b : x * b; } \
  static inline T d_elu_##SFX(T g, T x, T a, T b, T c) {                                        \
    return x <= 0 ? g * c * a * b * exp(x * c) : g * b; }                                      \
  static inline T f_gelu_##SFX(T x, T a, T b, T c) {                                            \
    return x * (T)0.5 * ((T)1 + erf(x * (T)M_SQRT1_2)); }                                      \
  static inline T d_gelu_##SFX(T g, T x, T a, T b, T c) {                                       \
    T cdf = (T)0.5 * ((T)1 + erf(x * (T)M_SQRT1_2));                                           \
    T pdf = exp((T)-0.5 * x * x) * (T)KINV_SQRT2PI;                                            \
    return g * (cdf + x * pdf); }                                                              \
  static inline T f_gelut_##SFX(T x, T a, T b, T c) {                                           \
    T inner = (T)KBETA * (x + (T)KKAPPA * x * x * x);                                          \
    return (T)0.5 * x * ((T)1 + tanh(inner)); }                                                \
  static inline T d_gelut_##SFX(T g, T x, T a, T b, T c) {                                      \
    T x2 = x * x, inner = (T)KBETA * (x + (T)KKAPPA * x2 * x), t = tanh(inner);                \
    T left = (T)0.5 * x, right = (T)1 + t;                                                     \
    T dl = (T)0.5 * right, dr = left * ((T)1 - t * t) * (T)KBETA * ((T)1 + (T)3 * (T)KKAPPA * x2); \
    return g * (dl + dr); }                                                                    \
  static inline T f_silu_##SFX(T x, T a, T b, T c) { return x / ((T)1 + exp(-x)); }              \
  static inline T d_silu_##SFX(T g, T x, T a, T b, T c) {                                       \
    T s = sigm_##SFX(x); return g * s * ((T)1 + x * ((T)1 - s)); }                             \
  static inline T f_mish_##SFX(T x, T a, T b, T c) { return x * tanh(softplus1_##SFX(x)); }      \
  static inline T d_mish_##SFX(T g, T x, T a, T b, T c) {                                       \
    T t = tanh(softplus1_##SFX(x)), s = sigm_##SFX(x);                                         \
    return g * (t + x * s * ((T)1 - t * t)); }                                                 \
  static inline T f_softplus_##SFX(T x, T a, T b, T c) {                                        \
    T bx = x * a; return bx > b ? x : softplus1_##SFX(bx) / a; }                               \
  static inline T d_softplus_##SFX(T g, T x, T a, T b, T c) {                                   \
    T bx = x * a; return bx > b ? g : g * sigm_##SFX(bx); }
ACT_FUNCS(float, f32)
ACT_FUNCS(double, f64)

#define FWD_LOOP(NAME, T, SFX)                                                                   \
  static void fwd_##NAME##_##SFX(int64_t n, char **p, const int64_t *s) {                       \
    T *o = (T *)p[0]; const T *x = (const T *)p[1];                                             \
    const T a = (T)act_p[0], b = (T)act_p[1], c = (T)act_p[2];                                  \
    int64_t so = s[0], sx = s[1];                                                               \
    if (so == 1 && sx == 1) { for (int64_t i = 0; i < n; i++) o[i] = f_##NAME##_##SFX(x[i], a, b, c); } \
    else { for (int64_t i = 0; i < n; i++) o[i * so] = f_##NAME##_##SFX(x[i * sx], a, b, c); }  \
  }                                                                                             \
  static void bwd_##NAME##_##SFX(int64_t n, char **p, const int64_t *s) {                       \
    T *o = (T *)p[0]; const T *g = (const T *)p[1], *x = (const T *)p[2];                       \
    const T a = (T)act_p[0], b = (T)act_p[1], c = (T)act_p[2];                                  \
    int64_t so = s[0], sg = s[1], sx = s[2];                                                    \
    if (so == 1 && sg == 1 && sx == 1) {                                                        \
      for (int64_t i = 0; i < n; i++) o[i] = d_##NAME##_##SFX(g[i], x[i], a, b, c);            \
    } else {                                                                                    \
      for (int64_t i = 0; i < n; i++) o[i * so] = d_##NAME##_##SFX(g[i * sg], x[i * sx], a, b, c); \
    }                                                                                           \
  }
#define ALL_LOOPS(T, SFX)                                                                        \
  FWD_LOOP(logsigmoid, T, SFX) FWD_LOOP(hardtanh, T, SFX) FWD_LOOP(leaky, T, SFX)              \
  FWD_LOOP(elu, T, SFX) FWD_LOOP(gelu, T, SFX) FWD_LOOP(gelut, T, SFX) FWD_LOOP(silu, T, SFX)   \
  FWD_LOOP(mish, T, SFX) FWD_LOOP(softplus, T, SFX)
ALL_LOOPS(float, f32)
ALL_LOOPS(double, f64)

#define TABLE(KIND, SFX)                                                                         \
  {KIND##_logsigmoid_##SFX, KIND##_hardtanh_##SFX, KIND##_leaky_##SFX, KIND##_elu_##SFX,         \
   KIND##_gelu_##SFX, KIND##_gelut_##SFX, KIND##_silu_##SFX, KIND##_mish_##SFX, KIND##_softplus_##SFX}
static const agt_loop_fn fwd_loops[2][AG_NACT] = {TABLE(fwd, f32), TABLE(fwd, f64)};
static const agt_loop_fn bwd_loops[2][AG_NACT] = {TABLE(bwd, f32), TABLE(bwd, f64)};

static int check_act(int op, ag_tensor *x, double p0, double p1) {
  if (op < 0 || op >= AG_NACT) return agt_failc("ag: unknown activation %d", op);
  if (!agt_is_float(x->scalar_type))
    return agt_failc("ag.%s: expected a floating-point tensor (float32 or float64), but got %s; "
                     "convert it first, e.g. x:float()", act_names[op], agt_dtype_name(x->scalar_type));
  if (op == AG_ACT_HARDTANH && p0 > p1)
    return agt_failc("ag.hardtanh: min_val (%g) cannot be greater than max_val (%g)", p0, p1);
  if (op == AG_ACT_SOFTPLUS && p0 == 0) return agt_failc("ag.softplus: beta must not be 0");
  return 0;
}

ag_tensor *agt_activation(int op, ag_tensor *x, double p0, double p1, double p2) {
  if (check_act(op, x, p0, p1)) return NULL;
  ag_tensor *out = agt_new_contig(x->ndim, x->sizes, x->scalar_type);
  if (!out) return NULL;
  act_p[0] = p0; act_p[1] = p1; act_p[2] = p2;
  agt_iter it;
  agt_iter_init(&it, 2, (ag_tensor *[]){out, x});
  agt_iter_run(&it, fwd_loops[x->scalar_type == AG_FLOAT64][op]);
  return out;
}

ag_tensor *agt_activation_backward(int op, ag_tensor *g, ag_tensor *x, double p0, double p1, double p2) {
  if (check_act(op, x, p0, p1)) return NULL;
  char b1[256], b2[256];
  if (g->ndim != x->ndim) goto bad;
  for (int d = 0; d < x->ndim; d++) if (g->sizes[d] != x->sizes[d]) goto bad;
  ag_tensor *gc = g->scalar_type == x->scalar_type ? (agt_retain(g), g) : agt_to_dtype(g, x->scalar_type);
  if (!gc) return NULL;
  ag_tensor *out = agt_new_contig(x->ndim, x->sizes, x->scalar_type);
  if (out) {
    act_p[0] = p0; act_p[1] = p1; act_p[2] = p2;
    agt_iter it;
    agt_iter_init(&it, 3, (ag_tensor *[]){out, gc, x});
    agt_iter_run(&it, bwd_loops[x->scalar_type == AG_FLOAT64][op]);
  }
  agt_release(gc);
  return out;
bad:
  return agt_fail("ag.%s_backward: gradient of shape %s does not match the input's shape %s",
                  act_names[op], AGT_SHAPE(g, b1), AGT_SHAPE(x, b2));
}
