/* rnn_cell.c: the fused LSTM cell. The forward computes x w_ih^T + h w_hh^T (+ both biases)
 * into a scratch block (float32: one gemm_small pass) and one pointwise pass that applies
 * the activations, saves them with tanh(c') in the work buffer and writes c' and h'; the
 * backward's pointwise part is one pass from (gh, gc) to the pre-activation gate gradients
 * and dc, and dx, dh come from one paired product. lib/autograd/rnn_grad.c drives the
 * backward (weight gradients included). */
#include "ag_rnn.h"
#include "internal.h"
#include "simd_math.h"
#include <limits.h>
#include <math.h>
#include <string.h>

static int check_2d(const char *op, const char *what, ag_tensor *t, int64_t r, int64_t c, int dtype) {
  char b[256];
  if (!t) return agt_failc("%s: %s must be a tensor", op, what);
  if (t->scalar_type != dtype)
    return agt_failc("%s: %s has dtype %s but x has %s; convert it with :to(...)", op, what,
                     agt_dtype_name(t->scalar_type), agt_dtype_name(dtype));
  if (t->ndim != 2 || t->sizes[0] != r || t->sizes[1] != c)
    return agt_failc("%s: expected %s of shape [%lld, %lld], got %s", op, what, (long long)r, (long long)c,
                     AGT_SHAPE(t, b));
  return 0;
}
static int check_1d(const char *op, const char *what, ag_tensor *t, int64_t n, int dtype) {
  char b[256];
  if (!t) return 0;
  if (t->scalar_type != dtype)
    return agt_failc("%s: %s has dtype %s but x has %s; convert it with :to(...)", op, what,
                     agt_dtype_name(t->scalar_type), agt_dtype_name(dtype));
  if (t->ndim != 1 || t->sizes[0] != n)
    return agt_failc("%s: expected %s of shape [%lld], got %s", op, what, (long long)n, AGT_SHAPE(t, b));
  return 0;
}

/* C[B, N] (+)= A[B, K] W[N, K]^T; A's rows lda apart, W contiguous, C's rows ldc apart */
static void gemm_nt(int dtype, int64_t B, int64_t N, int64_t K, const void *A, int64_t lda, const void *W, void *C,
                    int64_t ldc, int acc) {
  if (B == 0 || N == 0) return;
  if (K == 0) {
    if (!acc) for (int64_t r = 0; r < B; r++) memset((char *)C + r * ldc * agt_dtype_size(dtype), 0, (size_t)(N * agt_dtype_size(dtype)));
    return;
  }
  if (dtype == AG_FLOAT32)
    agt_sgemm(0, 1, B, N, K, 1.0f, A, lda, W, K, acc ? 1.0f : 0.0f, C, ldc);
  else
    agt_dgemm(0, 1, B, N, K, 1.0, A, lda, W, K, acc ? 1.0 : 0.0, C, ldc);
}

#define LSTM_FWD(T, EXP, TANH)                                                                                 \
  static void lstm_fwd_##T(int64_t B, int64_t H, T *gates, const T *c, T *h2, T *c2) {                  \
    _Pragma("omp parallel for if (B * H > AG_PARALLEL_GRAIN / 8)")                                             \
    for (int64_t b = 0; b < B; b++) {                                                                         \
      T *gi = gates + b * 5 * H, *gf = gi + H, *gg = gf + H, *go = gg + H, *tb = go + H;                       \
      const T *cb = c + b * H;                                                                                 \
      T *hb = h2 + b * H, *cn = c2 + b * H;                                                                    \
      for (int64_t j = 0; j < H; j++) {                                                                        \
        T i = 1 / (1 + EXP(-gi[j])), f = 1 / (1 + EXP(-gf[j])), g = TANH(gg[j]), o = 1 / (1 + EXP(-go[j]));     \
        T cv = f * cb[j] + i * g, t = TANH(cv);                                                                \
        gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;                                                            \
        cn[j] = cv; hb[j] = o * t;                                                                             \
        tb[j] = t;                                                                                             \
      }                                                                                                        \
    }                                                                                                          \
  }
/* float32: one row through simd_math.h's branch-free sigmoid/tanh, which GCC vectorizes;
 * reads the pre-activations from pre (4H), writes the activations and tanh(c') to w (5H) */
AG_SIMD_CLONES static void lstm_row_f32(int64_t H, const float *restrict pre, float *restrict w,
                                        const float *restrict cb, float *restrict hb, float *restrict cn) {
  for (int64_t j = 0; j < H; j++) {
    float i = agt_sm_sigmoid_f32(pre[j]), f = agt_sm_sigmoid_f32(pre[H + j]), g = agt_sm_tanh_f32(pre[2 * H + j]);
    float o = agt_sm_sigmoid_f32(pre[3 * H + j]);
    float cv = f * cb[j] + i * g, t = agt_sm_tanh_f32(cv);
    w[j] = i; w[H + j] = f; w[2 * H + j] = g; w[3 * H + j] = o; w[4 * H + j] = t;
    cn[j] = cv; hb[j] = o * t;
  }
}
/* pre: rows ldp apart (the gates buffer itself, ldp = 5H, or a scratch of 4H) */
static void lstm_fwd_float(int64_t B, int64_t H, const float *pre, int64_t ldp, float *gates, const float *c,
                           float *h2, float *c2) {
  #pragma omp parallel for if (B * H > AG_PARALLEL_GRAIN / 8)
  for (int64_t b = 0; b < B; b++)
    lstm_row_f32(H, pre + b * ldp, gates + b * 5 * H, c + b * H, h2 + b * H, c2 + b * H);
}
LSTM_FWD(double, exp, tanh)

/* gh, gc may be NULL (zero) */
#define LSTM_BWD(T)                                                                                            \
  static void lstm_bwd_##T(int64_t B, int64_t H, const T *gh, const T *gc, const T *act, const T *c,           \
                           T *dg, T *dc) {                                                                     \
    _Pragma("omp parallel for if (B * H > AG_PARALLEL_GRAIN / 8)")                                             \
    for (int64_t b = 0; b < B; b++) {                                                                         \
      const T *ai = act + b * 5 * H, *af = ai + H, *ag = af + H, *ao = ag + H, *at = ao + H;                   \
      T *di = dg + b * 4 * H, *df = di + H, *dgg = df + H, *dout = dgg + H;                                    \
      for (int64_t j = 0; j < H; j++) {                                                                        \
        int64_t k = b * H + j;                                                                                 \
        T i = ai[j], f = af[j], g = ag[j], o = ao[j], t = at[j];                                               \
        T ghv = gh ? gh[k] : 0, dcn = (gc ? gc[k] : 0) + ghv * o * (1 - t * t);                               \
        dout[j] = ghv * t * o * (1 - o);                                                                       \
        di[j] = dcn * g * i * (1 - i);                                                                         \
        df[j] = dcn * c[k] * f * (1 - f);                                                                      \
        dgg[j] = dcn * i * (1 - g * g);                                                                        \
        dc[k] = dcn * f;                                                                                       \
      }                                                                                                        \
    }                                                                                                          \
  }
LSTM_BWD(float)
LSTM_BWD(double)

static bool rows_dense(const ag_tensor *t) {
  return (t->strides[1] == 1 || t->sizes[1] <= 1) && (t->strides[0] >= t->sizes[1] || t->sizes[0] <= 1) &&
         t->strides[0] <= INT_MAX;
}
static ag_tensor *rows_ready(ag_tensor *t) {
  if (rows_dense(t)) { agt_retain(t); return t; }
  return agt_clone(t);
}
static int64_t row_stride(const ag_tensor *t) {
  return t->sizes[0] <= 1 || t->strides[0] < t->sizes[1] ? (t->sizes[1] > 0 ? t->sizes[1] : 1) : t->strides[0];
}

int agt_lstm_cell(ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih,
                  ag_tensor *b_hh, ag_tensor **h_out, ag_tensor **c_out, ag_tensor **work) {
  const char *op = "ag.F.lstm_cell";
  char b1[256];
  *h_out = *c_out = NULL;
  if (work) *work = NULL;
  if (!x || !h || !c || !w_ih || !w_hh) return agt_failc("%s: x, h, c, w_ih and w_hh are required", op);
  int dt = x->scalar_type;
  if (!agt_is_float(dt))
    return agt_failc("%s: expected a float32 or float64 input, got %s", op, agt_dtype_name(dt));
  if (x->ndim != 2) return agt_failc("%s: expected x of shape [batch, input_size], got %s", op, AGT_SHAPE(x, b1));
  int64_t B = x->sizes[0], In = x->sizes[1];
  if (w_hh->ndim != 2)
    return agt_failc("%s: expected w_hh of shape [4*hidden_size, hidden_size], got %s", op, AGT_SHAPE(w_hh, b1));
  int64_t H = w_hh->sizes[1];
  if (check_2d(op, "w_hh", w_hh, 4 * H, H, dt) || check_2d(op, "w_ih", w_ih, 4 * H, In, dt) ||
      check_2d(op, "h", h, B, H, dt) || check_2d(op, "c", c, B, H, dt) || check_1d(op, "b_ih", b_ih, 4 * H, dt) ||
      check_1d(op, "b_hh", b_hh, 4 * H, dt))
    return -1;
  if (B > INT_MAX || 5 * H > INT_MAX || In > INT_MAX) return agt_failc("%s: sizes too large for BLAS", op);
  /* x and h go to BLAS as they are when their rows are dense (a time step of a
   * [batch, time, feature] tensor is); otherwise as a contiguous copy */
  ag_tensor *xc = rows_ready(x), *hc = rows_ready(h), *cc = agt_contiguous(c);
  ag_tensor *wi = agt_contiguous(w_ih), *wh = agt_contiguous(w_hh);
  ag_tensor *bi = b_ih ? agt_contiguous(b_ih) : NULL, *bh = b_hh ? agt_contiguous(b_hh) : NULL;
  int64_t gs[2] = {B, 5 * H}, hs[2] = {B, H};
  ag_tensor *gates = agt_empty(2, gs, dt), *h2 = agt_empty(2, hs, dt), *c2 = agt_empty(2, hs, dt);
  int rc = -1;
  if (!xc || !hc || !cc || !wi || !wh || (b_ih && !bi) || (b_hh && !bh) || !gates || !h2 || !c2) goto out;
  {
    int64_t G = 4 * H, ld = 5 * H;
    int es = agt_dtype_size(dt);
    char *gp = agt_ptr(gates);
    /* float32: the products go to a scratch block that the allocator hands back every step
     * (warm in cache); the pointwise pass then writes the saved activations in one
     * sequential stream, instead of the products missing on a fresh buffer tile by tile */
    int64_t sbytes = dt == AG_FLOAT32 ? (B + 1) * G * es : 0;
    char *scratch = sbytes ? ag_alloc(sbytes) : NULL;
    if (sbytes && !scratch) goto out;
    if (scratch) { gp = scratch; ld = G; }
    /* the biases' sum, one row (float32: after the scratch block, for the GEMM's epilogue) */
    char *bsum = scratch ? scratch + B * G * es : gp;
    if ((bi || bh) && dt == AG_FLOAT32) {   /* float32 in float, as the unfused cell adds them */
      const float *pi = bi ? (const float *)agt_ptr(bi) : NULL, *ph = bh ? (const float *)agt_ptr(bh) : NULL;
      float *ps = (float *)bsum;
      for (int64_t j = 0; j < G; j++) ps[j] = (pi ? pi[j] : 0.0f) + (ph ? ph[j] : 0.0f);
    } else if (bi || bh) {
      for (int64_t j = 0; j < G; j++) {
        double v = (bi ? agt_load(dt, agt_ptr(bi) + j * es) : 0) + (bh ? agt_load(dt, agt_ptr(bh) + j * es) : 0);
        agt_store(dt, bsum + j * es, v);
      }
    }
    /* float32: both products and the biases in one pass over the gates when gemm_small takes
     * the shape; otherwise every row starts as the biases and two GEMMs add onto it */
    if (!(dt == AG_FLOAT32 && agt_sgemm_small_nt2(B, G, (const float *)agt_ptr(xc), row_stride(xc),
                                                   (const float *)agt_ptr(wi), In, In, (const float *)agt_ptr(hc),
                                                   row_stride(hc), (const float *)agt_ptr(wh), H, H, 0.0f,
                                                   bi || bh ? (const float *)bsum : NULL, (float *)gp, ld))) {
      int acc = bi || bh;
      if (acc)
        for (int64_t r = bsum == gp ? 1 : 0; r < B; r++) memcpy(gp + r * ld * es, bsum, (size_t)(G * es));
      gemm_nt(dt, B, G, In, agt_ptr(xc), row_stride(xc), agt_ptr(wi), gp, ld, acc);
      gemm_nt(dt, B, G, H, agt_ptr(hc), row_stride(hc), agt_ptr(wh), gp, ld, 1);
    }
    if (dt == AG_FLOAT32)
      lstm_fwd_float(B, H, (const float *)gp, ld, (float *)agt_ptr(gates), (const float *)agt_ptr(cc),
                     (float *)agt_ptr(h2), (float *)agt_ptr(c2));
    else
      lstm_fwd_double(B, H, (double *)gp, (const double *)agt_ptr(cc), (double *)agt_ptr(h2), (double *)agt_ptr(c2));
    if (scratch) ag_free(scratch, sbytes);
    rc = 0;
  }
out:
  agt_release(xc); agt_release(hc); agt_release(cc); agt_release(wi); agt_release(wh);
  agt_release(bi); agt_release(bh);
  if (rc) { agt_release(gates); agt_release(h2); agt_release(c2); return -1; }
  *h_out = h2; *c_out = c2;
  if (work) *work = gates;
  else agt_release(gates);
  return 0;
}

ag_tensor *agt_lstm_cell_backward(ag_tensor *gh, ag_tensor *gc, ag_tensor *work, ag_tensor *c, ag_tensor **dc) {
  const char *op = "ag.F.lstm_cell (backward)";
  *dc = NULL;
  if (!work || !c || c->ndim != 2) return agt_fail("%s: bad saved tensors", op);
  int dt = c->scalar_type;
  int64_t B = c->sizes[0], H = c->sizes[1];
  if (check_2d(op, "work", work, B, 5 * H, dt) || (gh && check_2d(op, "the gradient of h'", gh, B, H, dt)) ||
      (gc && check_2d(op, "the gradient of c'", gc, B, H, dt)))
    return NULL;
  ag_tensor *ghc = gh ? agt_contiguous(gh) : NULL, *gcc = gc ? agt_contiguous(gc) : NULL;
  ag_tensor *ac = agt_contiguous(work), *cc = agt_contiguous(c);
  int64_t gs[2] = {B, 4 * H}, hs[2] = {B, H};
  ag_tensor *dg = agt_empty(2, gs, dt), *dcc = agt_empty(2, hs, dt);
  bool ok = (!gh || ghc) && (!gc || gcc) && ac && cc && dg && dcc;
  if (ok) {
    if (dt == AG_FLOAT32)
      lstm_bwd_float(B, H, ghc ? (const float *)agt_ptr(ghc) : NULL, gcc ? (const float *)agt_ptr(gcc) : NULL,
                     (const float *)agt_ptr(ac), (const float *)agt_ptr(cc), (float *)agt_ptr(dg),
                     (float *)agt_ptr(dcc));
    else
      lstm_bwd_double(B, H, ghc ? (const double *)agt_ptr(ghc) : NULL, gcc ? (const double *)agt_ptr(gcc) : NULL,
                      (const double *)agt_ptr(ac), (const double *)agt_ptr(cc), (double *)agt_ptr(dg),
                      (double *)agt_ptr(dcc));
  }
  agt_release(ghc); agt_release(gcc); agt_release(ac); agt_release(cc);
  if (!ok) { agt_release(dg); agt_release(dcc); return NULL; }
  *dc = dcc;
  return dg;
}

/* dx = dG w_ih and dh = dG w_hh in one pass (A^T packed once, both outputs' tiles shared by
 * the threads); 1 when done, 0 when the caller must use two products (not float32,
 * non-contiguous operands, no AVX-512) */
int agt_lstm_cell_input_grads(ag_tensor *dG, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor **dx, ag_tensor **dh) {
  *dx = *dh = NULL;
  if (!dG || !w_ih || !w_hh || dG->scalar_type != AG_FLOAT32 || w_ih->scalar_type != AG_FLOAT32 ||
      w_hh->scalar_type != AG_FLOAT32 || dG->ndim != 2 || w_ih->ndim != 2 || w_hh->ndim != 2 ||
      !agt_is_contiguous(dG) || !agt_is_contiguous(w_ih) || !agt_is_contiguous(w_hh) ||
      w_ih->sizes[0] != dG->sizes[1] || w_hh->sizes[0] != dG->sizes[1])
    return 0;
  int64_t B = dG->sizes[0], G = dG->sizes[1], In = w_ih->sizes[1], H = w_hh->sizes[1];
  ag_tensor *x = agt_empty(2, (int64_t[]){B, In}, AG_FLOAT32), *h = agt_empty(2, (int64_t[]){B, H}, AG_FLOAT32);
  if (x && h &&
      agt_sgemm_small_nn2(B, G, (const float *)agt_ptr(dG), G, (const float *)agt_ptr(w_ih), In, In,
                          (float *)agt_ptr(x), In, (const float *)agt_ptr(w_hh), H, H, (float *)agt_ptr(h), H)) {
    *dx = x; *dh = h;
    return 1;
  }
  agt_release(x); agt_release(h);
  return 0;
}
