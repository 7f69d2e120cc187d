/* optim.c: fused optimizer updates (SGD, Adam/AdamW, RMSprop, Adagrad). One call reads the
 * gradient and the state buffers and writes the parameter and the buffers in one pass over
 * the elements, OpenMP-parallel above AG_PARALLEL_GRAIN. The per-element arithmetic follows
 * the order of PyTorch's single-tensor optimizers (scalars rounded to the tensor's dtype
 * first, as its kernels do) so both agree step for step. One generic body per float dtype. */
#include "internal.h"
#include "ag_optim.h"
#include <math.h>
#include <xmmintrin.h>

enum { MAX_BUFS = 3 };

/* The tensors one update touches, checked; a non-contiguous parameter or gradient is
 * worked on through a contiguous copy (the parameter is copied back afterwards). */
typedef struct {
  ag_tensor *param, *p, *g;      /* p, g: contiguous (may be param/grad themselves) */
  int64_t n;
} upd;

static int check_buf(const char *op, const char *what, ag_tensor *param, ag_tensor *b) {
  char s1[256], s2[256];
  if (!b) return 0;
  if (b->scalar_type != param->scalar_type)
    return agt_failc("ag.optim.%s: state '%s' is %s but the parameter is %s; load a state_dict "
                     "saved for parameters of the same dtype", op, what,
                     agt_dtype_name(b->scalar_type), agt_dtype_name(param->scalar_type));
  if (agt_numel(b) != agt_numel(param))
    return agt_failc("ag.optim.%s: state '%s' has shape %s but the parameter has shape %s; was the "
                     "state_dict saved for another model?", op, what, AGT_SHAPE(b, s1), AGT_SHAPE(param, s2));
  if (!agt_is_contiguous(b))
    return agt_failc("ag.optim.%s: state '%s' must be contiguous", op, what);
  return 0;
}

static int begin(const char *op, upd *u, ag_tensor *param, ag_tensor *grad, int nb,
                 ag_tensor **bufs, const char **names) {
  char s1[256], s2[256];
  u->param = param; u->p = u->g = NULL;
  if (!param || !grad) return agt_failc("ag.optim.%s: missing parameter or gradient", op);
  if (!agt_is_float(param->scalar_type))
    return agt_failc("ag.optim.%s: can only optimize float32 or float64 parameters, got %s", op,
                     agt_dtype_name(param->scalar_type));
  if (grad->scalar_type != param->scalar_type)
    return agt_failc("ag.optim.%s: the gradient is %s but the parameter is %s", op,
                     agt_dtype_name(grad->scalar_type), agt_dtype_name(param->scalar_type));
  int same = grad->ndim == param->ndim;
  for (int d = 0; same && d < param->ndim; d++) same = grad->sizes[d] == param->sizes[d];
  if (!same)
    return agt_failc("ag.optim.%s: the gradient has shape %s but the parameter has shape %s", op,
                     AGT_SHAPE(grad, s1), AGT_SHAPE(param, s2));
  for (int i = 0; i < nb; i++)
    if (check_buf(op, names[i], param, bufs[i])) return -1;
  u->n = agt_numel(param);
  if (agt_is_contiguous(param)) { agt_retain(param); u->p = param; }
  else if (!(u->p = agt_contiguous(param))) return -1;
  if (agt_is_contiguous(grad)) { agt_retain(grad); u->g = grad; }
  else if (!(u->g = agt_contiguous(grad))) { agt_release(u->p); return -1; }
  return 0;
}

static int end(upd *u) {
  int rc = 0;
  if (u->p != u->param) rc = agt_copy_(u->param, u->p);
  else agt_bump_version(u->param);
  agt_release(u->p);
  agt_release(u->g);
  return rc;
}

#define BUF(T, t) ((t) ? (T *)agt_ptr(t) : (T *)0)

/* State buffers that decay geometrically (a momentum buffer under a zero gradient, Adam's
 * v) pass through the subnormal range for hundreds of steps, and every arithmetic op on a
 * subnormal takes a microcode assist: the MLP's SGD step ran 5x slower after ~800 steps.
 * The update loops run with flush-to-zero and denormals-are-zero on their own thread and put
 * the caller's mode back afterwards, so such values become 0 (they are below 1.2e-38 in
 * float32 and 2.2e-308 in float64). */
static inline unsigned flush_subnormals(void) {
  unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040);   /* FTZ (bit 15) | DAZ (bit 6) */
  return csr;
}
static inline void restore_subnormals(unsigned csr) { _mm_setcsr(csr); }

/* one Adam element i; AMS (a constant 0 or 1): keep the running max of v (amsgrad), so the
 * common loop has no branch and vectorizes */
#define ADAM_ELEM(T, AMS)                                                                    \
  T gi = maximize ? -g[i] : g[i];                                                            \
  T pi = p[i];                                                                               \
  if (decoupled) pi = pi * decay;                                                            \
  else if (use_wd) gi = gi + wd * pi;                                                        \
  T mi = m[i] * b1 + c1 * gi;                                                                \
  T vi = v[i] * b2 + c2 * gi * gi;                                                           \
  m[i] = mi; v[i] = vi;                                                                      \
  if (AMS) { T mx = vmax[i]; if (vi == vi && (mx > vi || mx != mx)) vi = mx; vmax[i] = vi; } \
  T denom = (T)sqrt(vi) / bc2s + e;                                                          \
  p[i] = pi + nss * mi / denom;

#define OPTIM_KERNELS(T, SFX)                                                                \
  static void sgd_##SFX(int64_t n, T *p, const T *g, T *buf, double lr, double momentum,      \
                        double dampening, double weight_decay, int nesterov, int maximize,   \
                        int init) {                                                          \
    const T wd = (T)weight_decay, mom = (T)momentum, damp = (T)(1 - dampening), nlr = (T)(-lr); \
    const int use_wd = weight_decay != 0;                                                    \
    _Pragma("omp parallel if (n >= AG_PARALLEL_GRAIN)")                                        \
    {                                                                                        \
    const unsigned csr_ = flush_subnormals();                                                \
    _Pragma("omp for schedule(static)")                                                      \
    for (int64_t i = 0; i < n; i++) {                                                        \
      T d = maximize ? -g[i] : g[i];                                                         \
      if (use_wd) d = d + wd * p[i];                                                         \
      if (buf) {                                                                             \
        T b = init ? d : buf[i] * mom + damp * d;                                            \
        buf[i] = b;                                                                          \
        d = nesterov ? d + mom * b : b;                                                      \
      }                                                                                      \
      p[i] = p[i] + nlr * d;                                                                 \
    }                                                                                        \
    restore_subnormals(csr_);                                                            \
    }                                                                                    \
  }                                                                                          \
  static void adam_##SFX(int64_t n, T *p, const T *g, T *m, T *v, T *vmax, double lr,         \
                         double beta1, double beta2, double eps, double weight_decay,        \
                         double step, int decoupled, int maximize) {                         \
    const T b1 = (T)beta1, c1 = (T)(1 - beta1), b2 = (T)beta2, c2 = (T)(1 - beta2);           \
    const T wd = (T)weight_decay, decay = (T)(1 - lr * weight_decay), e = (T)eps;             \
    const double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);                     \
    const T nss = (T)(-(lr / bc1)), bc2s = (T)sqrt(bc2);                                      \
    const int use_wd = !decoupled && weight_decay != 0;                                      \
    _Pragma("omp parallel if (n >= AG_PARALLEL_GRAIN)")                                        \
    {                                                                                        \
    const unsigned csr_ = flush_subnormals();                                                \
    if (!vmax) {                                                                             \
      _Pragma("omp for schedule(static)")                                                    \
      for (int64_t i = 0; i < n; i++) { ADAM_ELEM(T, 0) }                                    \
    } else {                                                                                 \
      _Pragma("omp for schedule(static)")                                                    \
      for (int64_t i = 0; i < n; i++) { ADAM_ELEM(T, 1) }                                    \
    }                                                                                        \
    restore_subnormals(csr_);                                                            \
    }                                                                                    \
  }                                                                                          \
  static void rmsprop_##SFX(int64_t n, T *p, const T *g, T *sq, T *ga, T *buf, double lr,     \
                            double alpha, double eps, double weight_decay, double momentum,  \
                            int maximize) {                                                  \
    const T a = (T)alpha, ca = (T)(1 - alpha), wd = (T)weight_decay, e = (T)eps;              \
    const T mom = (T)momentum, nlr = (T)(-lr);                                                \
    const int use_wd = weight_decay != 0;                                                    \
    _Pragma("omp parallel if (n >= AG_PARALLEL_GRAIN)")                                        \
    {                                                                                        \
    const unsigned csr_ = flush_subnormals();                                                \
    _Pragma("omp for schedule(static)")                                                      \
    for (int64_t i = 0; i < n; i++) {                                                        \
      T gi = maximize ? -g[i] : g[i];                                                        \
      if (use_wd) gi = gi + wd * p[i];                                                       \
      T s = sq[i] * a + ca * gi * gi;                                                        \
      sq[i] = s;                                                                             \
      T avg;                                                                                 \
      if (ga) {                                                                              \
        T gm = ga[i] * a + ca * gi;                                                          \
        ga[i] = gm;                                                                          \
        avg = (T)sqrt(s + (T)(-1) * gm * gm);                                                \
      } else avg = (T)sqrt(s);                                                               \
      avg = avg + e;                                                                         \
      if (buf) {                                                                             \
        T b = buf[i] * mom + gi / avg;                                                       \
        buf[i] = b;                                                                          \
        p[i] = p[i] + nlr * b;                                                               \
      } else p[i] = p[i] + nlr * gi / avg;                                                   \
    }                                                                                        \
    restore_subnormals(csr_);                                                            \
    }                                                                                    \
  }                                                                                          \
  static void adagrad_##SFX(int64_t n, T *p, const T *g, T *sum, double clr,                 \
                            double weight_decay, double eps, int maximize) {                 \
    const T wd = (T)weight_decay, e = (T)eps, nlr = (T)(-clr);                                \
    const int use_wd = weight_decay != 0;                                                    \
    _Pragma("omp parallel if (n >= AG_PARALLEL_GRAIN)")                                        \
    {                                                                                        \
    const unsigned csr_ = flush_subnormals();                                                \
    _Pragma("omp for schedule(static)")                                                      \
    for (int64_t i = 0; i < n; i++) {                                                        \
      T gi = maximize ? -g[i] : g[i];                                                        \
      if (use_wd) gi = gi + wd * p[i];                                                       \
      T s = sum[i] + (T)1 * gi * gi;                                                         \
      sum[i] = s;                                                                            \
      T std = (T)sqrt(s) + e;                                                                \
      p[i] = p[i] + nlr * gi / std;                                                          \
    }                                                                                        \
    restore_subnormals(csr_);                                                            \
    }                                                                                    \
  }

OPTIM_KERNELS(float, f32)
OPTIM_KERNELS(double, f64)

int agt_sgd_step(ag_tensor *param, ag_tensor *grad, ag_tensor *buf, double lr, double momentum,
                 double dampening, double weight_decay, int nesterov, int maximize, int init_buf) {
  upd u;
  const char *names[] = {"momentum_buffer"};
  if (momentum != 0 && !buf) return agt_failc("ag.optim.SGD: momentum needs a momentum buffer");
  if (begin("SGD", &u, param, grad, 1, (ag_tensor *[]){buf}, names)) return -1;
  if (momentum == 0) buf = NULL;
  if (param->scalar_type == AG_FLOAT32)
    sgd_f32(u.n, BUF(float, u.p), BUF(float, u.g), BUF(float, buf), lr, momentum, dampening,
            weight_decay, nesterov, maximize, init_buf);
  else
    sgd_f64(u.n, BUF(double, u.p), BUF(double, u.g), BUF(double, buf), lr, momentum, dampening,
            weight_decay, nesterov, maximize, init_buf);
  if (buf) agt_bump_version(buf);
  return end(&u);
}

int agt_adam_step(ag_tensor *param, ag_tensor *grad, ag_tensor *m, ag_tensor *v, ag_tensor *vmax,
                  double lr, double beta1, double beta2, double eps, double weight_decay,
                  double step, int decoupled, int maximize) {
  upd u;
  const char *op = decoupled ? "AdamW" : "Adam";
  const char *names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  if (!m || !v) return agt_failc("ag.optim.%s: missing exp_avg or exp_avg_sq state", op);
  if (step < 1) return agt_failc("ag.optim.%s: step must be >= 1, got %g", op, step);
  if (begin(op, &u, param, grad, 3, (ag_tensor *[]){m, v, vmax}, names)) return -1;
  if (param->scalar_type == AG_FLOAT32)
    adam_f32(u.n, BUF(float, u.p), BUF(float, u.g), BUF(float, m), BUF(float, v), BUF(float, vmax),
             lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize);
  else
    adam_f64(u.n, BUF(double, u.p), BUF(double, u.g), BUF(double, m), BUF(double, v),
             BUF(double, vmax), lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize);
  agt_bump_version(m); agt_bump_version(v);
  if (vmax) agt_bump_version(vmax);
  return end(&u);
}

int agt_rmsprop_step(ag_tensor *param, ag_tensor *grad, ag_tensor *sq, ag_tensor *ga, ag_tensor *buf,
                     double lr, double alpha, double eps, double weight_decay, double momentum,
                     int maximize) {
  upd u;
  const char *names[] = {"square_avg", "grad_avg", "momentum_buffer"};
  if (!sq) return agt_failc("ag.optim.RMSprop: missing square_avg state");
  if (momentum > 0 && !buf) return agt_failc("ag.optim.RMSprop: momentum needs a momentum buffer");
  if (begin("RMSprop", &u, param, grad, 3, (ag_tensor *[]){sq, ga, buf}, names)) return -1;
  if (!(momentum > 0)) buf = NULL;
  if (param->scalar_type == AG_FLOAT32)
    rmsprop_f32(u.n, BUF(float, u.p), BUF(float, u.g), BUF(float, sq), BUF(float, ga), BUF(float, buf),
                lr, alpha, eps, weight_decay, momentum, maximize);
  else
    rmsprop_f64(u.n, BUF(double, u.p), BUF(double, u.g), BUF(double, sq), BUF(double, ga),
                BUF(double, buf), lr, alpha, eps, weight_decay, momentum, maximize);
  agt_bump_version(sq);
  if (ga) agt_bump_version(ga);
  if (buf) agt_bump_version(buf);
  return end(&u);
}

int agt_adagrad_step(ag_tensor *param, ag_tensor *grad, ag_tensor *sum, double clr,
                     double weight_decay, double eps, int maximize) {
  upd u;
  const char *names[] = {"sum"};
  if (!sum) return agt_failc("ag.optim.Adagrad: missing sum state");
  if (begin("Adagrad", &u, param, grad, 1, (ag_tensor *[]){sum}, names)) return -1;
  if (param->scalar_type == AG_FLOAT32)
    adagrad_f32(u.n, BUF(float, u.p), BUF(float, u.g), BUF(float, sum), clr, weight_decay, eps, maximize);
  else
    adagrad_f64(u.n, BUF(double, u.p), BUF(double, u.g), BUF(double, sum), clr, weight_decay, eps, maximize);
  agt_bump_version(sum);
  return end(&u);
}
