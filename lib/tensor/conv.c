/* conv.c: convolution kernels (1-d and 2-d; strided, padded, dilated, grouped; transposed)
 * lowered to GEMM. Three primitives on one geometry (input x, weight w, output y):
 *   forward      y  = W * im2col(x)                       (+ bias)
 *   data grad    gx = col2im(W^T * gy)                    (also: transposed conv forward)
 *   weight grad  gw = sum_n gy_n * im2col(x_n)^T
 * Samples are processed in chunks sized to keep the column buffer in cache: im2col/col2im
 * over a chunk run in one OpenMP region, then the GEMMs run outside it (OpenBLAS's own
 * threads), so the two pools never spin against each other. 1x1 stride-1 unpadded
 * convolutions skip im2col. Layers with few input taps (C/groups * kh * kw small, such as
 * a first layer on grayscale images) use a direct vectorizable loop instead of GEMM.
 * The generic part below the #else is instantiated for float and double by including
 * this file into itself. */
#ifdef CONV_T
/* ======================= generic part (T = CONV_T) ======================= */
#define T CONV_T
#define FN(name) CONCAT(name, CONV_SFX)

/* im2col of channel c of one sample: rows (c, i, j) of col, each P = OH*OW long. */
static void FN(im2col_channel)(const geom *g, const T *x, T *col) {
  for (int64_t i = 0; i < g->KH; i++)
    for (int64_t j = 0; j < g->KW; j++) {
      T *row = col + (i * g->KW + j) * g->OH * g->OW;
      int64_t w0 = j * g->dw - g->pw;          /* input column of output column 0 */
      /* output columns whose input column lies inside [0, W) */
      int64_t lo = w0 >= 0 ? 0 : (-w0 + g->sw - 1) / g->sw;
      int64_t hi = g->W - 1 - w0 < 0 ? 0 : (g->W - 1 - w0) / g->sw + 1;
      if (hi > g->OW) hi = g->OW;
      if (lo > hi) lo = hi;
      for (int64_t oh = 0; oh < g->OH; oh++) {
        T *r = row + oh * g->OW;
        int64_t ih = oh * g->sh - g->ph + i * g->dh;
        if (ih < 0 || ih >= g->H) { memset(r, 0, sizeof(T) * g->OW); continue; }
        const T *xr = x + ih * g->W + w0;
        for (int64_t ow = 0; ow < lo; ow++) r[ow] = 0;
        if (g->sw == 1) memcpy(r + lo, xr + lo, sizeof(T) * (hi - lo));
        else for (int64_t ow = lo; ow < hi; ow++) r[ow] = xr[ow * g->sw];
        for (int64_t ow = hi; ow < g->OW; ow++) r[ow] = 0;
      }
    }
}

/* col2im of channel c: add rows (c, i, j) of col into x's plane (x must start zeroed). */
static void FN(col2im_channel)(const geom *g, const T *col, T *x) {
  for (int64_t i = 0; i < g->KH; i++)
    for (int64_t j = 0; j < g->KW; j++) {
      const T *row = col + (i * g->KW + j) * g->OH * g->OW;
      int64_t w0 = j * g->dw - g->pw;
      int64_t lo = w0 >= 0 ? 0 : (-w0 + g->sw - 1) / g->sw;
      int64_t hi = g->W - 1 - w0 < 0 ? 0 : (g->W - 1 - w0) / g->sw + 1;
      if (hi > g->OW) hi = g->OW;
      if (lo > hi) lo = hi;
      for (int64_t oh = 0; oh < g->OH; oh++) {
        int64_t ih = oh * g->sh - g->ph + i * g->dh;
        if (ih < 0 || ih >= g->H) continue;
        const T *r = row + oh * g->OW;
        T *xr = x + ih * g->W + w0;
        if (g->sw == 1) for (int64_t ow = lo; ow < hi; ow++) xr[ow] += r[ow];
        else for (int64_t ow = lo; ow < hi; ow++) xr[ow * g->sw] += r[ow];
      }
    }
}

static void FN(gemm)(int ta, int tb, int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                     const T *b, int64_t ldb, T beta, T *c, int64_t ldc) {
  CONV_GEMM(ta, tb, m, n, k, (T)1, a, lda, b, ldb, beta, c, ldc);
}

/* Direct forward for few taps: each output plane is a sum of K shifted, scaled input planes. */
static void FN(direct_fwd)(const geom *g, const T *x, const T *w, const T *bias, T *y) {
  int64_t Og = g->O / g->G, Cg = g->C / g->G, P = g->OH * g->OW, KK = g->KH * g->KW;
  int64_t items = g->N * g->O;
  #pragma omp parallel for schedule(static) if (items * P * Cg * KK >= AG_PARALLEL_GRAIN)
  for (int64_t it = 0; it < items; it++) {
    int64_t n = it / g->O, o = it % g->O, grp = o / Og;
    T *yp = y + it * P;
    T b0 = bias ? bias[o] : 0;
    for (int64_t p = 0; p < P; p++) yp[p] = b0;
    for (int64_t c = 0; c < Cg; c++) {
      const T *xp = x + (n * g->C + grp * Cg + c) * g->H * g->W;
      const T *wp = w + (o * Cg + c) * KK;
      for (int64_t i = 0; i < g->KH; i++)
        for (int64_t j = 0; j < g->KW; j++) {
          T wv = wp[i * g->KW + j];
          int64_t w0 = j * g->dw - g->pw;
          int64_t lo = w0 >= 0 ? 0 : (-w0 + g->sw - 1) / g->sw;
          int64_t hi = g->W - 1 - w0 < 0 ? 0 : (g->W - 1 - w0) / g->sw + 1;
          if (hi > g->OW) hi = g->OW;
          for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t ih = oh * g->sh - g->ph + i * g->dh;
            if (ih < 0 || ih >= g->H) continue;
            const T *xr = xp + ih * g->W + w0;
            T *yr = yp + oh * g->OW;
            if (g->sw == 1) for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow];
            else for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow * g->sw];
          }
        }
    }
  }
}

/* Direct weight gradient for few taps: gw[o, c, :, :] sums gy[n, o] * shifted x[n, c] over
 * samples and output rows. Each tap keeps a row of vector accumulators (acc[k][ow]), so the
 * inner loop is a plain vertical multiply-add; rows are summed across once at the end. */
static int FN(direct_wgrad)(const geom *g, const T *gy, const T *x, T *gw) {
  int failed = 0;
  int64_t Og = g->O / g->G, Cg = g->C / g->G, P = g->OH * g->OW, KK = g->KH * g->KW;
  int64_t items = g->O * Cg, OW = g->OW;
  #pragma omp parallel for schedule(dynamic, 1) if (g->N * P * items * KK >= AG_PARALLEL_GRAIN)
  for (int64_t it = 0; it < items; it++) {
    int64_t o = it / Cg, c = it % Cg, grp = o / Og;
    T *acc = malloc(sizeof(T) * (size_t)(KK * OW > 0 ? KK * OW : 1));
    int64_t lo[CONV_DIRECT_TAPS], hi[CONV_DIRECT_TAPS];
    if (!acc) {
      #pragma omp atomic write
      failed = 1;
      continue;
    }
    memset(acc, 0, sizeof(T) * (size_t)(KK * OW));
    for (int64_t j = 0; j < g->KW; j++) {
      int64_t w0 = j * g->dw - g->pw;
      lo[j] = w0 >= 0 ? 0 : (-w0 + g->sw - 1) / g->sw;
      hi[j] = g->W - 1 - w0 < 0 ? 0 : (g->W - 1 - w0) / g->sw + 1;
      if (hi[j] > OW) hi[j] = OW;
    }
    for (int64_t n = 0; n < g->N; n++) {
      const T *xp = x + (n * g->C + grp * Cg + c) * g->H * g->W;
      const T *gp = gy + (n * g->O + o) * P;
      for (int64_t oh = 0; oh < g->OH; oh++) {
        const T *gr = gp + oh * OW;
        for (int64_t i = 0; i < g->KH; i++) {
          int64_t ih = oh * g->sh - g->ph + i * g->dh;
          if (ih < 0 || ih >= g->H) continue;
          for (int64_t j = 0; j < g->KW; j++) {
            const T *xr = xp + ih * g->W + j * g->dw - g->pw;
            T *a = acc + (i * g->KW + j) * OW;
            if (g->sw == 1) {
              #pragma omp simd
              for (int64_t ow = lo[j]; ow < hi[j]; ow++) a[ow] += gr[ow] * xr[ow];
            } else {
              for (int64_t ow = lo[j]; ow < hi[j]; ow++) a[ow] += gr[ow] * xr[ow * g->sw];
            }
          }
        }
      }
    }
    for (int64_t k = 0; k < KK; k++) {
      double sum = 0;
      for (int64_t ow = 0; ow < OW; ow++) sum += acc[k * OW + ow];
      gw[it * KK + k] = (T)sum;
    }
    free(acc);
  }
  return failed ? agt_failc("ag.conv_weight_grad: out of memory (accumulators)") : 0;
}

static bool FN(is_pointwise)(const geom *g) {
  return g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Samples per chunk: the column buffer of a chunk stays within a few MB. */
static int64_t FN(chunk)(const geom *g) {
  int64_t per = g->C * g->KH * g->KW * g->OH * g->OW * (int64_t)sizeof(T);
  int64_t b = per > 0 ? (CONV_COL_BYTES) / per : g->N;
  if (b < 2) b = 2;
  return b < g->N ? b : g->N;
}

static int FN(conv_fwd)(const geom *g, const T *x, const T *w, const T *bias, T *y) {
  int64_t Og = g->O / g->G, Cg = g->C / g->G, P = g->OH * g->OW, KK = g->KH * g->KW, K = Cg * KK;
  int64_t HW = g->H * g->W;
  if (K <= CONV_DIRECT_TAPS) { FN(direct_fwd)(g, x, w, bias, y); return 0; }
  bool pw = FN(is_pointwise)(g);
  int64_t B = FN(chunk)(g);
  T *col = pw ? NULL : ag_alloc(B * g->C * KK * P * (int64_t)sizeof(T));
  if (!pw && !col) return -1;
  for (int64_t n0 = 0; n0 < g->N; n0 += B) {
    int64_t nb = g->N - n0 < B ? g->N - n0 : B;
    int64_t items = nb * g->C;
    if (!pw) {
      #pragma omp parallel for schedule(static) if (items * KK * P >= AG_PARALLEL_GRAIN)
      for (int64_t it = 0; it < items; it++)
        FN(im2col_channel)(g, x + (n0 * g->C + it) * HW, col + it * KK * P);
    }
    if (bias) {
      int64_t rows = nb * g->O;
      T *yc = y + n0 * g->O * P;
      #pragma omp parallel for schedule(static) if (rows * P >= AG_PARALLEL_GRAIN)
      for (int64_t r = 0; r < rows; r++)
        for (int64_t p = 0; p < P; p++) yc[r * P + p] = bias[r % g->O];
    }
    for (int64_t b = 0; b < nb; b++)
      for (int64_t grp = 0; grp < g->G; grp++) {
        const T *cb = pw ? x + ((n0 + b) * g->C + grp * Cg) * HW : col + (b * g->C + grp * Cg) * KK * P;
        FN(gemm)(0, 0, Og, P, K, w + grp * Og * K, K, cb, P, bias ? 1 : 0, y + ((n0 + b) * g->O + grp * Og) * P, P);
      }
  }
  if (col) ag_free(col, B * g->C * KK * P * (int64_t)sizeof(T));
  return 0;
}

/* gx (zeroed by the caller) += col2im(W^T gy) */
static int FN(conv_bwd_data)(const geom *g, const T *gy, const T *w, T *gx) {
  int64_t Og = g->O / g->G, Cg = g->C / g->G, P = g->OH * g->OW, KK = g->KH * g->KW, K = Cg * KK;
  int64_t HW = g->H * g->W;
  bool pw = FN(is_pointwise)(g);
  int64_t B = FN(chunk)(g);
  T *col = pw ? NULL : ag_alloc(B * g->C * KK * P * (int64_t)sizeof(T));
  if (!pw && !col) return -1;
  for (int64_t n0 = 0; n0 < g->N; n0 += B) {
    int64_t nb = g->N - n0 < B ? g->N - n0 : B;
    for (int64_t b = 0; b < nb; b++)
      for (int64_t grp = 0; grp < g->G; grp++) {
        T *cb = pw ? gx + ((n0 + b) * g->C + grp * Cg) * HW : col + (b * g->C + grp * Cg) * KK * P;
        FN(gemm)(1, 0, K, P, Og, w + grp * Og * K, K, gy + ((n0 + b) * g->O + grp * Og) * P, P, 0, cb, P);
      }
    if (pw) continue;
    int64_t items = nb * g->C;
    #pragma omp parallel for schedule(static) if (items * KK * P >= AG_PARALLEL_GRAIN)
    for (int64_t it = 0; it < items; it++)
      FN(col2im_channel)(g, col + it * KK * P, gx + (n0 * g->C + it) * HW);
  }
  if (col) ag_free(col, B * g->C * KK * P * (int64_t)sizeof(T));
  return 0;
}

static int FN(conv_bwd_weight)(const geom *g, const T *gy, const T *x, T *gw) {
  int64_t Og = g->O / g->G, Cg = g->C / g->G, P = g->OH * g->OW, KK = g->KH * g->KW, K = Cg * KK;
  int64_t HW = g->H * g->W;
  if (K <= CONV_DIRECT_TAPS) return FN(direct_wgrad)(g, gy, x, gw);
  bool pw = FN(is_pointwise)(g);
  int64_t B = FN(chunk)(g);
  T *col = pw ? NULL : ag_alloc(B * g->C * KK * P * (int64_t)sizeof(T));
  if (!pw && !col) return -1;
  for (int64_t n0 = 0; n0 < g->N; n0 += B) {
    int64_t nb = g->N - n0 < B ? g->N - n0 : B;
    int64_t items = nb * g->C;
    if (!pw) {
      #pragma omp parallel for schedule(static) if (items * KK * P >= AG_PARALLEL_GRAIN)
      for (int64_t it = 0; it < items; it++)
        FN(im2col_channel)(g, x + (n0 * g->C + it) * HW, col + it * KK * P);
    }
    for (int64_t b = 0; b < nb; b++)
      for (int64_t grp = 0; grp < g->G; grp++) {
        const T *cb = pw ? x + ((n0 + b) * g->C + grp * Cg) * HW : col + (b * g->C + grp * Cg) * KK * P;
        FN(gemm)(0, 1, Og, K, P, gy + ((n0 + b) * g->O + grp * Og) * P, P, cb, P, n0 + b > 0 ? 1 : 0,
                 gw + grp * Og * K, K);
      }
  }
  if (col) ag_free(col, B * g->C * KK * P * (int64_t)sizeof(T));
  return 0;
}

static void FN(add_bias)(const geom *g, const T *bias, T *y, int64_t C, int64_t P) {
  int64_t rows = g->N * C;
  #pragma omp parallel for schedule(static) if (rows * P >= AG_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t p = 0; p < P; p++) y[r * P + p] += bias[r % C];
}

/* gb[c] = sum over samples and positions of gy[n, c, :] */
static void FN(bias_grad)(int64_t N, int64_t C, int64_t P, const T *gy, T *gb) {
  #pragma omp parallel for schedule(static) if (N * C * P >= AG_PARALLEL_GRAIN)
  for (int64_t c = 0; c < C; c++) {
    double acc = 0;
    for (int64_t n = 0; n < N; n++) {
      const T *r = gy + (n * C + c) * P;
      T part = 0;
      #pragma omp simd reduction(+ : part)
      for (int64_t p = 0; p < P; p++) part += r[p];
      acc += part;
    }
    gb[c] = (T)acc;
  }
}

#undef T
#undef FN
#else
/* ======================= dispatch ======================= */
#include "ag_conv.h"
#include "conv_winograd.h"
#include "internal.h"
#include <omp.h>
#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t N, C, H, W, O, KH, KW, OH, OW, G;
  int64_t sh, sw, ph, pw, dh, dw;
} geom;

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
#define CONV_COL_BYTES ((int64_t)4 << 20)
#define CONV_DIRECT_TAPS 16

#define CONV_T float
#define CONV_SFX _f32
#define CONV_GEMM agt_sgemm
#include "conv.c"
#undef CONV_T
#undef CONV_SFX
#undef CONV_GEMM
#define CONV_T double
#define CONV_SFX _f64
#define CONV_GEMM agt_dgemm
#include "conv.c"
#undef CONV_T

/* ---- AVX-512 direct kernels for float32 layers with few taps and unit column stride ----
 * (a first layer on grayscale images: K = C/groups * kh * kw <= CONV_DIRECT_TAPS). One work
 * item is a sample and a group: its Cg input planes are copied once into a zero-padded
 * buffer (rows and columns of padding, plus slack on the right so that whole 16-wide loads
 * never need bounds checks), then
 *   forward:      8 output channels x 32 output columns (16 accumulators) per step, each tap
 *                 two input loads and 16 FMAs with broadcast weights; bias starts the sums;
 *   weight grad:  8 output channels x 3 taps (24 accumulators) per step over 16 columns,
 *                 reduced across lanes once per item into per-thread double sums.
 * Column tails use masked loads/stores. Other CPUs and float64 use the loops above. */
#define D5_OB 8

static int direct512_available(void) { return agt_cpu_avx512(); }

static bool direct512_ok(const geom *g, int dtype) {
  return dtype == AG_FLOAT32 && g->sw == 1 && g->C / g->G * g->KH * g->KW <= CONV_DIRECT_TAPS && g->OW > 0 &&
         g->OH > 0 && direct512_available();
}

/* padded row length and row count of one plane's buffer */
static int64_t d5_wp(const geom *g) {
  int64_t need = (g->OW + 31) / 32 * 32 + (g->KW - 1) * g->dw;
  int64_t wp = g->W + 2 * g->pw;
  return (wp > need ? wp : need) + 16;
}
static int64_t d5_hp(const geom *g) { return g->H + 2 * g->ph; }

/* copy planes x[c] (c < Cg) into pad (Cg, HP, WP) with zeros around */
static void d5_pad(const geom *g, const float *x, int64_t Cg, float *pad) {
  int64_t HP = d5_hp(g), WP = d5_wp(g);
  memset(pad, 0, sizeof(float) * (size_t)(Cg * HP * WP));
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t h = 0; h < g->H; h++)
      memcpy(pad + (c * HP + h + g->ph) * WP + g->pw, x + (c * g->H + h) * g->W, sizeof(float) * (size_t)g->W);
}

__attribute__((target("avx512f,fma")))
static void d5_fwd_block(const geom *g, const float *pad, const int64_t *off, int64_t K, const float *wk,
                         const float *b8, int nval, float *y) {
  int64_t HP = d5_hp(g), WP = d5_wp(g), OW = g->OW, P = g->OH * OW;
  (void)HP;
  for (int64_t oh = 0; oh < g->OH; oh++) {
    const float *prow = pad + oh * g->sh * WP;
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 32) {
      int64_t r = OW - ow0;
      __mmask16 m0 = r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
      __mmask16 m1 = r >= 32 ? (__mmask16)0xFFFF : r <= 16 ? 0 : (__mmask16)((1u << (r - 16)) - 1);
      __m512 a0[D5_OB], a1[D5_OB];
      for (int o = 0; o < D5_OB; o++) a0[o] = a1[o] = _mm512_set1_ps(b8[o]);
      for (int64_t k = 0; k < K; k++) {
        const float *xp = prow + off[k] + ow0;
        __m512 x0 = _mm512_loadu_ps(xp), x1 = _mm512_loadu_ps(xp + 16);
        const float *w = wk + k * D5_OB;
        for (int o = 0; o < D5_OB; o++) {
          __m512 wv = _mm512_set1_ps(w[o]);
          a0[o] = _mm512_fmadd_ps(wv, x0, a0[o]);
          a1[o] = _mm512_fmadd_ps(wv, x1, a1[o]);
        }
      }
      float *yo = y + oh * OW + ow0;
      for (int o = 0; o < D5_OB; o++) {
        if (o >= nval) break;
        _mm512_mask_storeu_ps(yo + o * P, m0, a0[o]);
        if (m1) _mm512_mask_storeu_ps(yo + o * P + 16, m1, a1[o]);
      }
    }
  }
}

/* offsets of the K = (c, i, j) taps inside a padded (Cg, HP, WP) buffer, relative to the
 * start of an output row's window */
static void d5_offsets(const geom *g, int64_t Cg, int64_t *off) {
  int64_t HP = d5_hp(g), WP = d5_wp(g), k = 0;
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t i = 0; i < g->KH; i++)
      for (int64_t j = 0; j < g->KW; j++) off[k++] = (c * HP + i * g->dh) * WP + j * g->dw;
}

/* py NULL: y = conv(x, w) + bias. py set: 2x2 / stride 2 max pooling of that, into py (and
 * its 1-based plane indices into pidx), each item's conv planes staged in cache and pooled
 * right away, so the conv output is never written to memory (y unused). */
static int direct512_fwd(const geom *g, const float *x, const float *w, const float *bias, float *y, float *py,
                         int64_t *pidx) {
  int64_t Og = g->O / g->G, Cg = g->C / g->G, K = Cg * g->KH * g->KW, P = g->OH * g->OW;
  int64_t nob = (Og + D5_OB - 1) / D5_OB, padn = Cg * d5_hp(g) * d5_wp(g);
  int64_t wkn = g->G * nob * (K * D5_OB + D5_OB);   /* per block: K x 8 weights, then 8 biases */
  float *wk = ag_alloc(wkn * (int64_t)sizeof(float));
  if (!wk) return -1;
  for (int64_t grp = 0; grp < g->G; grp++)
    for (int64_t ob = 0; ob < nob; ob++) {
      float *blk = wk + (grp * nob + ob) * (K * D5_OB + D5_OB);
      for (int o = 0; o < D5_OB; o++) {
        int64_t oo = ob * D5_OB + o, og = grp * Og + oo;
        for (int64_t k = 0; k < K; k++) blk[k * D5_OB + o] = oo < Og ? w[og * K + k] : 0;
        blk[K * D5_OB + o] = oo < Og && bias ? bias[og] : 0;
      }
    }
  int64_t off[CONV_DIRECT_TAPS];
  d5_offsets(g, Cg, off);
  int64_t items = g->N * g->G;
  /* one padded-input buffer per thread, taken before the parallel region: ag_alloc's caching
   * allocator is not thread-safe */
  int nt = items * Og * P * K >= AG_PARALLEL_GRAIN ? omp_get_max_threads() : 1;
  int64_t per = padn + (py ? Og * P : 0), PH = g->OH / 2, PW = g->OW / 2;
  float *pads = ag_alloc(nt * per * (int64_t)sizeof(float));
  if (!pads) {
    ag_free(wk, wkn * (int64_t)sizeof(float));
    return agt_failc("ag.conv2d: out of memory (padded input)");
  }
  #pragma omp parallel num_threads(nt)
  {
    float *pad = pads + omp_get_thread_num() * per, *stage = pad + padn;
    #pragma omp for schedule(static)
    for (int64_t it = 0; it < items; it++) {
      int64_t n = it / g->G, grp = it % g->G;
      float *yi = py ? stage : y + (n * g->O + grp * Og) * P;
      d5_pad(g, x + (n * g->C + grp * Cg) * g->H * g->W, Cg, pad);
      for (int64_t ob = 0; ob < nob; ob++) {
        const float *blk = wk + (grp * nob + ob) * (K * D5_OB + D5_OB);
        int64_t o0 = ob * D5_OB, nv = Og - o0 < D5_OB ? Og - o0 : D5_OB;
        d5_fwd_block(g, pad, off, K, blk, blk + K * D5_OB, (int)nv, yi + o0 * P);
      }
      if (py)
        for (int64_t o = 0; o < Og; o++) {
          int64_t pl = n * g->O + grp * Og + o;
          for (int64_t ph = 0; ph < PH; ph++)
            agt_max2x2_row(stage + o * P + 2 * ph * g->OW, stage + o * P + (2 * ph + 1) * g->OW,
                           py + (pl * PH + ph) * PW, pidx ? pidx + (pl * PH + ph) * PW : NULL, PW, 2 * ph * g->OW,
                           g->OW);
        }
    }
  }
  ag_free(pads, nt * per * (int64_t)sizeof(float));
  ag_free(wk, wkn * (int64_t)sizeof(float));
  return 0;
}

/* acc (nval x K doubles, row stride K) += sum over the item of gy[o] * tap[k] */
__attribute__((target("avx512f,fma")))
static void d5_wgrad_block(const geom *g, const float *pad, const int64_t *off, int64_t K, const float *gy,
                           int nval, double *acc) {
  int64_t WP = d5_wp(g), OW = g->OW, P = g->OH * OW;
  for (int64_t k0 = 0; k0 < K; k0 += 3) {
    int64_t o3[3];
    for (int t = 0; t < 3; t++) o3[t] = off[k0 + t < K ? k0 + t : k0];
    __m512 a[D5_OB][3];
    for (int o = 0; o < D5_OB; o++) a[o][0] = a[o][1] = a[o][2] = _mm512_setzero_ps();
    for (int64_t oh = 0; oh < g->OH; oh++) {
      const float *prow = pad + oh * g->sh * WP;
      const float *grow = gy + oh * OW;
      for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
        int64_t r = OW - ow0;
        __mmask16 m = r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
        __m512 gv[D5_OB];
        for (int o = 0; o < D5_OB; o++) gv[o] = _mm512_maskz_loadu_ps(o < nval ? m : 0, grow + o * P + ow0);
        for (int t = 0; t < 3; t++) {
          __m512 xv = _mm512_loadu_ps(prow + o3[t] + ow0);
          for (int o = 0; o < D5_OB; o++) a[o][t] = _mm512_fmadd_ps(gv[o], xv, a[o][t]);
        }
      }
    }
    for (int o = 0; o < nval; o++)
      for (int t = 0; t < 3 && k0 + t < K; t++) acc[o * K + k0 + t] += _mm512_reduce_add_ps(a[o][t]);
  }
}

/* gb (may be NULL): the bias gradient, summed per item from the gy planes the block kernel
 * has just read (in cache), instead of another pass over gy */
__attribute__((target("avx512f")))
static void d5_bias_rows(const float *gy, int64_t nplanes, int64_t P, double *acc) {
  for (int64_t o = 0; o < nplanes; o++) {
    const float *r = gy + o * P;
    __m512 s = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= P; p += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(r + p));
    if (p < P) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps((__mmask16)((1u << (P - p)) - 1), r + p));
    acc[o] += (double)_mm512_reduce_add_ps(s);
  }
}

static int direct512_wgrad(const geom *g, const float *gy, const float *x, float *gw, float *gb) {
  int64_t Og = g->O / g->G, Cg = g->C / g->G, K = Cg * g->KH * g->KW, P = g->OH * g->OW;
  int64_t nob = (Og + D5_OB - 1) / D5_OB, padn = Cg * d5_hp(g) * d5_wp(g), gwn = g->O * K + (gb ? g->O : 0);
  int64_t off[CONV_DIRECT_TAPS];
  d5_offsets(g, Cg, off);
  int64_t items = g->N * g->G;
  /* per-thread padded inputs and double accumulators, taken before the parallel region
   * (ag_alloc is not thread-safe) and summed in thread order, so the result is deterministic */
  int nt = items * Og * P * K >= AG_PARALLEL_GRAIN ? omp_get_max_threads() : 1;
  int64_t bytes = nt * (padn * (int64_t)sizeof(float) + gwn * (int64_t)sizeof(double));
  double *accs = ag_alloc(bytes);
  if (!accs) return agt_failc("ag.conv_weight_grad: out of memory (padded input)");
  float *pads = (float *)(accs + nt * gwn);
  memset(accs, 0, sizeof(double) * (size_t)(nt * gwn));
  #pragma omp parallel num_threads(nt)
  {
    int tid = omp_get_thread_num();
    float *pad = pads + tid * padn;
    double *acc = accs + tid * gwn;
    #pragma omp for schedule(static)
    for (int64_t it = 0; it < items; it++) {
      int64_t n = it / g->G, grp = it % g->G;
      d5_pad(g, x + (n * g->C + grp * Cg) * g->H * g->W, Cg, pad);
      for (int64_t ob = 0; ob < nob; ob++) {
        int64_t o0 = grp * Og + ob * D5_OB, nv = Og - ob * D5_OB < D5_OB ? Og - ob * D5_OB : D5_OB;
        d5_wgrad_block(g, pad, off, K, gy + (n * g->O + o0) * P, (int)nv, acc + o0 * K);
      }
      if (gb) d5_bias_rows(gy + (n * g->O + grp * Og) * P, Og, P, acc + g->O * K + grp * Og);
    }
  }
  for (int64_t i = 0; i < gwn; i++) {   /* gw, then the bias sums after it */
    double t = 0;
    for (int th = 0; th < nt; th++) t += accs[th * gwn + i];
    if (i < g->O * K) gw[i] = (float)t;
    else gb[i - g->O * K] = (float)t;
  }
  ag_free(accs, bytes);
  return 0;
}

/* The same weight gradient when gy is max_pool2d's backward of a pooled gradient gp at the
 * pool's 1-based plane indices idx (N, O, PH, PW): each item rebuilds its output channels'
 * gy planes in a per-thread buffer (zeros, gp at the indices) right before the block kernel
 * reads them, so the conv-sized gradient is never written to memory and read back, and the
 * bias gradient is the sum of gp. Overlapping windows add, as the scatter would. */
static int direct512_wgrad_pooled(const geom *g, const float *gp, const int64_t *idx, int64_t PP, const float *x,
                                  float *gw, float *gb) {
  int64_t K = g->C * g->KH * g->KW, P = g->OH * g->OW, nob = (g->O + D5_OB - 1) / D5_OB;
  int64_t padn = g->C * d5_hp(g) * d5_wp(g), gwn = g->O * K + (gb ? g->O : 0), planes = D5_OB * P;
  int64_t off[CONV_DIRECT_TAPS];
  d5_offsets(g, g->C, off);
  int nt = g->N * g->O * P * K >= AG_PARALLEL_GRAIN ? omp_get_max_threads() : 1;
  int64_t per = padn + planes;
  int64_t bytes = nt * (per * (int64_t)sizeof(float) + gwn * (int64_t)sizeof(double));
  double *accs = ag_alloc(bytes);
  if (!accs) return agt_failc("ag.conv_weight_grad: out of memory (padded input)");
  float *bufs = (float *)(accs + nt * gwn);
  memset(accs, 0, sizeof(double) * (size_t)(nt * gwn));
  int bad = 0;
  #pragma omp parallel num_threads(nt) reduction(|: bad)
  {
    int tid = omp_get_thread_num();
    float *pad = bufs + tid * per, *gyb = pad + padn;
    double *acc = accs + tid * gwn;
    #pragma omp for schedule(static)
    for (int64_t n = 0; n < g->N; n++) {
      d5_pad(g, x + n * g->C * g->H * g->W, g->C, pad);
      for (int64_t ob = 0; ob < nob; ob++) {
        int64_t o0 = ob * D5_OB, nv = g->O - o0 < D5_OB ? g->O - o0 : D5_OB;
        memset(gyb, 0, sizeof(float) * (size_t)(nv * P));
        for (int64_t o = 0; o < nv; o++) {
          const float *gr = gp + (n * g->O + o0 + o) * PP;
          const int64_t *ir = idx + (n * g->O + o0 + o) * PP;
          float *pl = gyb + o * P;
          double bs = 0;
          for (int64_t q = 0; q < PP; q++) {
            int64_t pos = ir[q] - 1;
            if (pos < 0 || pos >= P) { bad = 1; continue; }
            pl[pos] += gr[q];
            bs += gr[q];
          }
          if (gb) acc[g->O * K + o0 + o] += bs;
        }
        d5_wgrad_block(g, pad, off, K, gyb, (int)nv, acc + o0 * K);
      }
    }
  }
  for (int64_t i = 0; i < gwn; i++) {
    double t = 0;
    for (int th = 0; th < nt; th++) t += accs[th * gwn + i];
    if (i < g->O * K) gw[i] = (float)t;
    else gb[i - g->O * K] = (float)t;
  }
  ag_free(accs, bytes);
  return bad ? agt_failc("ag.conv_weight_grad: a max-pool index lies outside the conv output planes") : 0;
}

static const char *op_name(const ag_conv_opts *o) {
  if (o->transposed) return o->nsp == 1 ? "ag.conv_transpose1d" : "ag.conv_transpose2d";
  return o->nsp == 1 ? "ag.conv1d" : "ag.conv2d";
}

static int check_opts(const char *op, const ag_conv_opts *o) {
  if (o->nsp != 1 && o->nsp != 2) return agt_failc("%s: only 1-d and 2-d convolutions are supported", op);
  if (o->groups < 1) return agt_failc("%s: groups must be a positive integer, got %lld", op, (long long)o->groups);
  for (int d = 2 - o->nsp; d < 2; d++) {
    if (o->stride[d] < 1) return agt_failc("%s: stride must be positive, got %lld", op, (long long)o->stride[d]);
    if (o->padding[d] < 0) return agt_failc("%s: padding must be non-negative, got %lld", op, (long long)o->padding[d]);
    if (o->dilation[d] < 1) return agt_failc("%s: dilation must be positive, got %lld", op, (long long)o->dilation[d]);
    if (o->transposed && (o->output_padding[d] < 0 ||
                          (o->output_padding[d] >= o->stride[d] && o->output_padding[d] >= o->dilation[d])))
      return agt_failc("%s: output padding must be smaller than either stride or dilation, got output_padding %lld, "
                       "stride %lld, dilation %lld", op, (long long)o->output_padding[d], (long long)o->stride[d],
                       (long long)o->dilation[d]);
  }
  return 0;
}

static int check_float(const char *op, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
  if (!agt_is_float(x->scalar_type))
    return agt_failc("%s: expected a floating-point input (float32 or float64), got %s; convert it with :float()",
                     op, agt_dtype_name(x->scalar_type));
  if (w->scalar_type != x->scalar_type || (b && b->scalar_type != x->scalar_type))
    return agt_failc("%s: input (%s), weight (%s)%s%s must have the same dtype; convert with :to(...)", op,
                     agt_dtype_name(x->scalar_type), agt_dtype_name(w->scalar_type), b ? " and bias " : "",
                     b ? agt_dtype_name(b->scalar_type) : "");
  return 0;
}

/* The normal-convolution geometry from input sizes (N, C, sp...) and weight sizes. */
static void set_geom(geom *g, const ag_conv_opts *o, const int64_t *in, const int64_t *ws) {
  int one = o->nsp == 1;
  g->N = in[0]; g->C = in[1];
  g->H = one ? 1 : in[2]; g->W = in[one ? 2 : 3];
  g->O = ws[0];
  g->KH = one ? 1 : ws[2]; g->KW = ws[one ? 2 : 3];
  g->G = o->groups;
  g->sh = one ? 1 : o->stride[0]; g->sw = o->stride[1];
  g->ph = one ? 0 : o->padding[0]; g->pw = o->padding[1];
  g->dh = one ? 1 : o->dilation[0]; g->dw = o->dilation[1];
  g->OH = (g->H + 2 * g->ph - g->dh * (g->KH - 1) - 1) / g->sh + 1;
  g->OW = (g->W + 2 * g->pw - g->dw * (g->KW - 1) - 1) / g->sw + 1;
}

static bool fits_int(const geom *g) {
  int64_t K = g->C / g->G * g->KH * g->KW;
  return K < INT_MAX && g->OH * g->OW < INT_MAX && g->O < INT_MAX;
}

/* float32 3x3 stride-1 dilation-1 ungrouped layers with enough channels and at least one
 * whole 4x4 output tile go to Winograd F(4x4, 3x3) (conv_winograd.c) on AVX-512 CPUs; its
 * extra float32 rounding is of the order of oneDNN's (PyTorch's) own. The input gradient
 * there is a Winograd conv with padding 2 - p, so it needs p <= 2. float64 stays on the
 * exact im2col path. */
static bool wino_ok(const geom *g, int dtype, bool data) {
  return dtype == AG_FLOAT32 && g->KH == 3 && g->KW == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 &&
         g->dw == 1 && g->G == 1 && g->C >= 8 && g->O >= 8 && g->OH >= 4 && g->OW >= 4 &&
         (!data || (g->ph <= 2 && g->pw <= 2)) && agt_wino_available();
}

static ag_tensor *contig(ag_tensor *t) { return t ? agt_contiguous(t) : NULL; }

ag_tensor *agt_convolution(ag_tensor *x, ag_tensor *w, ag_tensor *b, const ag_conv_opts *o) {
  const char *op = op_name(o);
  char bx[256], bw[256], bb[256];
  if (check_opts(op, o) || check_float(op, x, w, b)) return NULL;
  int nd = o->nsp + 2;
  if (w->ndim != nd)
    return agt_fail("%s: expected a %d-D weight (%s, %s/groups, %s), got weight %s", op, nd,
                    o->transposed ? "in_channels" : "out_channels", o->transposed ? "out_channels" : "in_channels",
                    o->nsp == 1 ? "kw" : "kh, kw", AGT_SHAPE(w, bw));
  if (x->ndim != nd)
    return agt_fail("%s: expected a %d-D (batched) input (N, C, %s), got input %s", op, nd,
                    o->nsp == 1 ? "L" : "H, W", AGT_SHAPE(x, bx));
  int64_t G = o->groups;
  int64_t in_ch = o->transposed ? w->sizes[0] : w->sizes[1] * G;
  int64_t out_ch = o->transposed ? w->sizes[1] * G : w->sizes[0];
  if (x->sizes[1] != in_ch)
    return agt_fail("%s: expected input with %lld channels (weight %s, groups %lld), got input %s", op,
                    (long long)in_ch, AGT_SHAPE(w, bw), (long long)G, AGT_SHAPE(x, bx));
  if (w->sizes[0] % G)
    return agt_fail("%s: %s (%lld, from weight %s) must be divisible by groups (%lld)", op,
                    o->transposed ? "in_channels" : "out_channels", (long long)w->sizes[0], AGT_SHAPE(w, bw),
                    (long long)G);
  if (b && (b->ndim != 1 || b->sizes[0] != out_ch))
    return agt_fail("%s: expected a bias of shape [%lld] (one per output channel), got bias %s", op,
                    (long long)out_ch, AGT_SHAPE(b, bb));
  for (int d = 2; d < nd; d++)
    if (w->sizes[d] < 1) return agt_fail("%s: kernel sizes must be positive, got weight %s", op, AGT_SHAPE(w, bw));

  int64_t ysz[4] = {x->sizes[0], out_ch};
  geom g;
  if (!o->transposed) {
    set_geom(&g, o, x->sizes, w->sizes);
    for (int d = 0; d < o->nsp; d++) {
      int k = 2 - o->nsp + d;
      int64_t padded = x->sizes[2 + d] + 2 * o->padding[k], eff = o->dilation[k] * (w->sizes[2 + d] - 1) + 1;
      if (padded < eff)
        return agt_fail("%s: input %s padded to %lld along spatial dim %d is smaller than the (dilated) kernel "
                        "size %lld (weight %s); use a larger input or more padding", op, AGT_SHAPE(x, bx),
                        (long long)padded, d + 1, (long long)eff, AGT_SHAPE(w, bw));
    }
    if (o->nsp == 1) ysz[2] = g.OW; else { ysz[2] = g.OH; ysz[3] = g.OW; }
  } else {
    /* the transposed conv's output is the input of the normal conv whose output is x */
    int64_t in[4] = {x->sizes[0], out_ch};
    for (int d = 0; d < o->nsp; d++) {
      int k = 2 - o->nsp + d;
      in[2 + d] = (x->sizes[2 + d] - 1) * o->stride[k] - 2 * o->padding[k] + o->dilation[k] * (w->sizes[2 + d] - 1) +
                  o->output_padding[k] + 1;
      if (in[2 + d] < 1)
        return agt_fail("%s: the output size along spatial dim %d would be %lld for input %s and weight %s; "
                        "use less padding", op, d + 1, (long long)in[2 + d], AGT_SHAPE(x, bx), AGT_SHAPE(w, bw));
      ysz[2 + d] = in[2 + d];
    }
    set_geom(&g, o, in, w->sizes);
  }
  if (!fits_int(&g)) return agt_fail("%s: sizes too large for BLAS (input %s)", op, AGT_SHAPE(x, bx));
  /* a transposed conv accumulates into zeros, except on the Winograd path, which writes every element */
  bool zero = o->transposed && !(g.O > 0 && wino_ok(&g, x->scalar_type, true));
  ag_tensor *y = zero ? agt_full(nd, ysz, 0, x->scalar_type) : agt_new_contig(nd, ysz, x->scalar_type);
  ag_tensor *xc = contig(x), *wc = contig(w), *bc = contig(b);
  int rc = (!y || !xc || !wc || (b && !bc)) ? -1 : 0;
  if (!rc && agt_numel(y) > 0) {
    bool f = x->scalar_type == AG_FLOAT32;
    const void *bp = bc ? agt_ptr(bc) : NULL;
    if (!o->transposed && wino_ok(&g, x->scalar_type, false))
      rc = agt_wino_forward(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, (float *)agt_ptr(xc), (float *)agt_ptr(wc), bp,
                            (float *)agt_ptr(y));
    else if (!o->transposed && direct512_ok(&g, x->scalar_type))
      rc = direct512_fwd(&g, (float *)agt_ptr(xc), (float *)agt_ptr(wc), bp, (float *)agt_ptr(y), NULL, NULL);
    else if (!o->transposed)
      rc = f ? conv_fwd_f32(&g, (float *)agt_ptr(xc), (float *)agt_ptr(wc), bp, (float *)agt_ptr(y))
             : conv_fwd_f64(&g, (double *)agt_ptr(xc), (double *)agt_ptr(wc), bp, (double *)agt_ptr(y));
    else {
      if (g.O > 0 && wino_ok(&g, x->scalar_type, true))
        rc = agt_wino_backward_data(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, (float *)agt_ptr(xc), (float *)agt_ptr(wc),
                                    (float *)agt_ptr(y));
      else if (g.O > 0)
        rc = f ? conv_bwd_data_f32(&g, (float *)agt_ptr(xc), (float *)agt_ptr(wc), (float *)agt_ptr(y))
               : conv_bwd_data_f64(&g, (double *)agt_ptr(xc), (double *)agt_ptr(wc), (double *)agt_ptr(y));
      if (!rc && bc) {
        if (f) add_bias_f32(&g, bp, (float *)agt_ptr(y), g.C, g.H * g.W);
        else add_bias_f64(&g, bp, (double *)agt_ptr(y), g.C, g.H * g.W);
      }
    }
  }
  agt_release(xc); agt_release(wc); agt_release(bc);
  if (rc) { agt_release(y); return NULL; }
  return y;
}

/* The weight gradient; with gb, also the bias gradient when the kernel can give it from the
 * same pass over gy (Winograd and the direct kernel: *gb set; other paths leave *gb NULL). */
static ag_tensor *weight_grad(ag_tensor *gy, ag_tensor *x, const int64_t *w_sizes, const ag_conv_opts *o,
                              ag_tensor **gb) {
  const char *op = "ag.conv_weight_grad";
  char b1[256], b2[256];
  if (check_opts(op, o)) return NULL;
  int nd = o->nsp + 2;
  if (gy->scalar_type != x->scalar_type || !agt_is_float(x->scalar_type))
    return agt_fail("%s: expected float32 or float64 tensors of one dtype, got %s and %s", op,
                    agt_dtype_name(gy->scalar_type), agt_dtype_name(x->scalar_type));
  if (gy->ndim != nd || x->ndim != nd)
    return agt_fail("%s: expected %d-D tensors, got %s and %s", op, nd, AGT_SHAPE(gy, b1), AGT_SHAPE(x, b2));
  geom g;
  set_geom(&g, o, x->sizes, w_sizes);
  if (gy->sizes[0] != g.N || gy->sizes[1] != g.O || w_sizes[1] * g.G != g.C || g.O % g.G ||
      gy->sizes[nd - 1] != g.OW || (o->nsp == 2 && gy->sizes[2] != g.OH))
    return agt_fail("%s: output gradient %s does not match input %s and this weight", op, AGT_SHAPE(gy, b1),
                    AGT_SHAPE(x, b2));
  if (!fits_int(&g)) return agt_fail("%s: sizes too large for BLAS", op);
  bool wino = g.N > 0 && g.OH * g.OW > 0 && wino_ok(&g, x->scalar_type, false);   /* writes all of gw */
  ag_tensor *gw = wino ? agt_new_contig(nd, w_sizes, x->scalar_type) : agt_full(nd, w_sizes, 0, x->scalar_type);
  ag_tensor *gc = contig(gy), *xc = contig(x);
  int rc = (!gw || !gc || !xc) ? -1 : 0;
  if (!rc && agt_numel(gw) > 0 && g.N > 0 && g.OH * g.OW > 0) {
    if (wino) {
      ag_tensor *b = gb ? agt_new_contig(1, &g.O, x->scalar_type) : NULL;
      rc = agt_wino_backward_weight(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, (float *)agt_ptr(gc), (float *)agt_ptr(xc),
                                    (float *)agt_ptr(gw), b ? (float *)agt_ptr(b) : NULL);
      if (b && !rc) *gb = b;
      else agt_release(b);
    }
    else if (direct512_ok(&g, x->scalar_type)) {
      ag_tensor *b = gb ? agt_new_contig(1, &g.O, x->scalar_type) : NULL;
      rc = direct512_wgrad(&g, (float *)agt_ptr(gc), (float *)agt_ptr(xc), (float *)agt_ptr(gw),
                           b ? (float *)agt_ptr(b) : NULL);
      if (b && !rc) *gb = b;
      else agt_release(b);
    }
    else if (x->scalar_type == AG_FLOAT32)
      rc = conv_bwd_weight_f32(&g, (float *)agt_ptr(gc), (float *)agt_ptr(xc), (float *)agt_ptr(gw));
    else
      rc = conv_bwd_weight_f64(&g, (double *)agt_ptr(gc), (double *)agt_ptr(xc), (double *)agt_ptr(gw));
  }
  agt_release(gc); agt_release(xc);
  if (rc) { agt_release(gw); return NULL; }
  return gw;
}

ag_tensor *agt_conv_weight_grad(ag_tensor *gy, ag_tensor *x, const int64_t *w_sizes, const ag_conv_opts *o) {
  return weight_grad(gy, x, w_sizes, o, NULL);
}

ag_tensor *agt_conv_weight_bias_grad(ag_tensor *gy, ag_tensor *x, const int64_t *w_sizes, const ag_conv_opts *o,
                                     ag_tensor **gb) {
  *gb = NULL;
  return weight_grad(gy, x, w_sizes, o, gb);
}

int agt_conv_backward_all(ag_tensor *gy, ag_tensor *x, ag_tensor *w, const ag_conv_opts *o, ag_tensor **gx,
                          ag_tensor **gw, ag_tensor **gb) {
  *gx = *gw = NULL;
  if (gb) *gb = NULL;
  if (o->transposed || check_opts("ag.conv_backward", o) || gy->scalar_type != AG_FLOAT32 ||
      x->scalar_type != AG_FLOAT32 || w->scalar_type != AG_FLOAT32 || o->nsp != 2 || x->ndim != 4 || w->ndim != 4 ||
      gy->ndim != 4)
    return 0;
  geom g;
  set_geom(&g, o, x->sizes, w->sizes);
  if (gy->sizes[0] != g.N || gy->sizes[1] != g.O || gy->sizes[2] != g.OH || gy->sizes[3] != g.OW ||
      w->sizes[1] != g.C || g.N == 0 || !fits_int(&g) || !wino_ok(&g, AG_FLOAT32, true))
    return 0;
  ag_tensor *gxt = agt_new_contig(4, x->sizes, AG_FLOAT32), *gwt = agt_new_contig(4, w->sizes, AG_FLOAT32);
  ag_tensor *gbt = gb ? agt_new_contig(1, &g.O, AG_FLOAT32) : NULL;
  ag_tensor *gc = contig(gy), *xc = contig(x), *wc = contig(w);
  int rc = (!gxt || !gwt || (gb && !gbt) || !gc || !xc || !wc) ? -1 : 0;
  if (!rc)
    rc = agt_wino_backward_both(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, (float *)agt_ptr(gc), (float *)agt_ptr(xc),
                                (float *)agt_ptr(wc), (float *)agt_ptr(gxt), (float *)agt_ptr(gwt),
                                gbt ? (float *)agt_ptr(gbt) : NULL);
  agt_release(gc); agt_release(xc); agt_release(wc);
  if (rc) { agt_release(gxt); agt_release(gwt); agt_release(gbt); return -1; }
  *gx = gxt; *gw = gwt;
  if (gb) *gb = gbt;
  return 1;
}

ag_tensor *agt_conv_max_pool(ag_tensor *x, ag_tensor *w, ag_tensor *b, const ag_conv_opts *o, const ag_pool_opts *po,
                             ag_tensor **indices) {
  *indices = NULL;
  bool plain_pool = po->nsp == 2 && po->kernel[0] == 2 && po->kernel[1] == 2 && po->stride[0] == 2 &&
                    po->stride[1] == 2 && po->padding[0] == 0 && po->padding[1] == 0 && po->dilation[0] == 1 &&
                    po->dilation[1] == 1 && !po->ceil_mode;
  bool shapes = !o->transposed && o->nsp == 2 && o->groups == 1 && x->ndim == 4 && w->ndim == 4 &&
                x->scalar_type == AG_FLOAT32 && w->scalar_type == AG_FLOAT32 && x->sizes[1] == w->sizes[1] &&
                (!b || (b->ndim == 1 && b->sizes[0] == w->sizes[0] && b->scalar_type == AG_FLOAT32)) &&
                !check_opts("ag.conv2d", o);
  geom g;
  if (shapes) {
    set_geom(&g, o, x->sizes, w->sizes);
    shapes = g.OH >= 2 && g.OW >= 2 && g.H + 2 * g.ph >= g.dh * (g.KH - 1) + 1 && g.W + 2 * g.pw >= g.dw * (g.KW - 1) + 1 &&
             fits_int(&g) && direct512_ok(&g, AG_FLOAT32) && g.OH * g.OW < INT32_MAX / 2;
  }
  if (!(plain_pool && shapes)) {   /* the two ops */
    ag_tensor *y = agt_convolution(x, w, b, o);
    ag_tensor *out = y ? agt_max_pool(y, po, indices) : NULL;
    agt_release(y);
    return out;
  }
  int64_t ps[4] = {g.N, g.O, g.OH / 2, g.OW / 2};
  ag_tensor *py = agt_new_contig(4, ps, AG_FLOAT32), *pi = agt_new_contig(4, ps, AG_INT64);
  ag_tensor *xc = contig(x), *wc = contig(w), *bc = contig(b);
  int rc = (!py || !pi || !xc || !wc || (b && !bc)) ? -1 : 0;
  if (!rc && agt_numel(py) > 0)
    rc = direct512_fwd(&g, (float *)agt_ptr(xc), (float *)agt_ptr(wc), bc ? (float *)agt_ptr(bc) : NULL, NULL,
                       (float *)agt_ptr(py), (int64_t *)agt_ptr(pi));
  agt_release(xc); agt_release(wc); agt_release(bc);
  if (rc) { agt_release(py); agt_release(pi); return NULL; }
  *indices = pi;
  return py;
}

ag_tensor *agt_conv_pool_weight_grad(ag_tensor *gp, ag_tensor *idx, ag_tensor *x, const int64_t *w_sizes,
                                     const ag_conv_opts *o, ag_tensor **gb) {
  const char *op = "ag.conv_weight_grad";
  char b1[256], b2[256];
  if (gb) *gb = NULL;
  if (check_opts(op, o)) return NULL;
  if (o->transposed || o->nsp != 2 || o->groups != 1 || x->ndim != 4 || gp->ndim != 4 || idx->ndim != 4 ||
      idx->scalar_type != AG_INT64 || gp->scalar_type != x->scalar_type || !agt_is_float(x->scalar_type))
    return agt_fail("%s: unsupported pooled gradient %s for input %s", op, AGT_SHAPE(gp, b1), AGT_SHAPE(x, b2));
  geom g;
  set_geom(&g, o, x->sizes, w_sizes);
  for (int d = 0; d < 4; d++)
    if (idx->sizes[d] != gp->sizes[d])
      return agt_fail("%s: indices %s and gradient %s differ", op, AGT_SHAPE(idx, b1), AGT_SHAPE(gp, b2));
  if (gp->sizes[0] != g.N || gp->sizes[1] != g.O || w_sizes[1] != g.C)
    return agt_fail("%s: pooled gradient %s does not match input %s and this weight", op, AGT_SHAPE(gp, b1),
                    AGT_SHAPE(x, b2));
  if (!direct512_ok(&g, x->scalar_type) || g.N == 0) {   /* the pool's scatter, then the usual kernels */
    int64_t ys[4] = {g.N, g.O, g.OH, g.OW};
    ag_tensor *gy = agt_pool_scatter(gp, idx, 2, 4, ys);
    if (!gy) return NULL;
    ag_tensor *gw = weight_grad(gy, x, w_sizes, o, gb);
    if (gw && gb && !*gb) *gb = agt_conv_bias_grad(gy);
    agt_release(gy);
    if (gw && gb && !*gb) { agt_release(gw); return NULL; }
    return gw;
  }
  ag_tensor *gw = agt_new_contig(4, w_sizes, AG_FLOAT32), *b = gb ? agt_new_contig(1, &g.O, AG_FLOAT32) : NULL;
  ag_tensor *gc = agt_contiguous(gp), *ic = agt_contiguous(idx), *xc = agt_contiguous(x);
  int rc = (!gw || (gb && !b) || !gc || !ic || !xc) ? -1 : 0;
  if (!rc)
    rc = direct512_wgrad_pooled(&g, (const float *)agt_ptr(gc), (const int64_t *)agt_ptr(ic),
                                gp->sizes[2] * gp->sizes[3], (const float *)agt_ptr(xc), (float *)agt_ptr(gw),
                                b ? (float *)agt_ptr(b) : NULL);
  agt_release(gc); agt_release(ic); agt_release(xc);
  if (rc) { agt_release(gw); agt_release(b); return NULL; }
  if (gb) *gb = b;
  return gw;
}

ag_tensor *agt_conv_bias_grad(ag_tensor *gy) {
  char b[256];
  if (gy->ndim < 2 || !agt_is_float(gy->scalar_type))
    return agt_fail("ag.conv_bias_grad: expected a float (N, C, ...) gradient, got %s %s", agt_dtype_name(gy->scalar_type),
                    AGT_SHAPE(gy, b));
  int64_t N = gy->sizes[0], Cn = gy->sizes[1], P = 1;
  for (int d = 2; d < gy->ndim; d++) P *= gy->sizes[d];
  ag_tensor *gc = agt_contiguous(gy), *gb = agt_new_contig(1, &Cn, gy->scalar_type);
  if (!gc || !gb) { agt_release(gc); agt_release(gb); return NULL; }
  if (gy->scalar_type == AG_FLOAT32) bias_grad_f32(N, Cn, P, (float *)agt_ptr(gc), (float *)agt_ptr(gb));
  else bias_grad_f64(N, Cn, P, (double *)agt_ptr(gc), (double *)agt_ptr(gb));
  agt_release(gc);
  return gb;
}
#endif
