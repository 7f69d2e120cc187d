/* pool.c: max pooling (with 1-based plane indices), average pooling, adaptive average
 * pooling and their backward kernels, on the last one or two dims of a tensor; every
 * leading dim is an independent plane, and planes run in parallel (OpenMP). Window rules
 * (ceil_mode, padding, count_include_pad, NaN propagation) follow PyTorch. The generic
 * part below the #else is instantiated for float and double by including this file. */
#ifdef POOL_T
/* ======================= generic part (T = POOL_T) ======================= */
#define T POOL_T
#define FN(name) CONCAT(name, POOL_SFX)

/* the taps k in [0, K) whose position start + k * dil lies in [0, size) */
static inline void FN(tap_range)(int64_t start, int64_t K, int64_t dil, int64_t size, int64_t *k0, int64_t *k1) {
  int64_t lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
  int64_t hi = size - 1 - start < 0 ? 0 : (size - 1 - start) / dil + 1;
  *k0 = lo;
  *k1 = hi < K ? hi : K;
}

/* idx may be NULL (no indices wanted); NaN wins (the last NaN, as in PyTorch) */
static void FN(max_fwd)(const pgeom *g, const T *x, T *y, int64_t *idx) {
  int64_t HW = g->H * g->W, P = g->OH * g->OW;
  bool simple2 = g->KH == 2 && g->KW == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
                 g->dh == 1 && g->dw == 1 && g->H >= 2 * g->OH && g->W >= 2 * g->OW;
  #pragma omp parallel for schedule(static) if (g->NP * P * g->KH * g->KW >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < g->NP; pl++) {
    const T *xp = x + pl * HW;
    T *yp = y + pl * P;
    int64_t *ip = idx ? idx + pl * P : NULL;
    if (simple2 && sizeof(T) == 4 && HW < INT32_MAX / 2 && agt_cpu_avx512()) {
      for (int64_t oh = 0; oh < g->OH; oh++)
        max2x2_row_avx512((const float *)xp + 2 * oh * g->W, (const float *)xp + (2 * oh + 1) * g->W,
                          (float *)yp + oh * g->OW, ip ? ip + oh * g->OW : NULL, g->OW, 2 * oh * g->W, g->W);
      continue;
    }
    if (simple2) {                       /* the common 2x2 / stride 2 case, branch-light */
      for (int64_t oh = 0; oh < g->OH; oh++) {
        const T *r0 = xp + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int64_t ow = 0; ow < g->OW; ow++) {
          /* selects, not branches: on real activations a branch per tap mispredicts often
           * (4.6 ns per output before, on (64, 32, 26, 26)) */
          T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
          int64_t ia = 2 * oh * g->W + 2 * ow;
          int tb = (b > a) | (b != b);
          T m1 = tb ? b : a;
          int64_t i1 = tb ? ia + 1 : ia;
          int td = (d > c) | (d != d);
          T m2 = td ? d : c;
          int64_t i2 = td ? ia + g->W + 1 : ia + g->W;
          int t2 = (m2 > m1) | (m2 != m2);                  /* the last NaN wins, as before */
          yp[oh * g->OW + ow] = t2 ? m2 : m1;
          if (ip) ip[oh * g->OW + ow] = (t2 ? i2 : i1) + 1;
        }
      }
      continue;
    }
    for (int64_t oh = 0; oh < g->OH; oh++) {
      int64_t h0 = oh * g->sh - g->ph, i0, i1;
      FN(tap_range)(h0, g->KH, g->dh, g->H, &i0, &i1);
      for (int64_t ow = 0; ow < g->OW; ow++) {
        int64_t w0 = ow * g->sw - g->pw, j0, j1;
        FN(tap_range)(w0, g->KW, g->dw, g->W, &j0, &j1);
        T best = -INFINITY;
        int64_t bi = (h0 + i0 * g->dh) * g->W + w0 + j0 * g->dw;
        for (int64_t i = i0; i < i1; i++) {
          const T *row = xp + (h0 + i * g->dh) * g->W + w0;
          for (int64_t j = j0; j < j1; j++) {
            T v = row[j * g->dw];
            if (v > best || isnan(v)) { best = v; bi = (h0 + i * g->dh) * g->W + w0 + j * g->dw; }
          }
        }
        yp[oh * g->OW + ow] = best;
        if (ip) ip[oh * g->OW + ow] = bi + 1;
      }
    }
  }
}

/* out[pl, q] = x[pl, idx[pl, q] - 1] */
static void FN(gather)(int64_t NP, int64_t xplane, int64_t iplane, const T *x, const int64_t *idx, T *out) {
  #pragma omp parallel for schedule(static) if (NP * iplane >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < NP; pl++)
    for (int64_t q = 0; q < iplane; q++) out[pl * iplane + q] = x[pl * xplane + idx[pl * iplane + q] - 1];
}

/* out[pl, idx[pl, q] - 1] += g[pl, q]; out zeroed by the caller */
static void FN(scatter)(int64_t NP, int64_t oplane, int64_t iplane, const T *gsrc, const int64_t *idx, T *out) {
  #pragma omp parallel for schedule(static) if (NP * iplane >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < NP; pl++)
    for (int64_t q = 0; q < iplane; q++) out[pl * oplane + idx[pl * iplane + q] - 1] += gsrc[pl * iplane + q];
}

/* One average-pooling window: the clamped range and the divisor, as PyTorch's. */
static inline void FN(avg_window)(const pgeom *g, int64_t oh, int64_t ow, int64_t *hs, int64_t *he, int64_t *ws,
                                  int64_t *we, T *div) {
  int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
  int64_t h1 = h0 + g->KH < g->H + g->ph ? h0 + g->KH : g->H + g->ph;
  int64_t w1 = w0 + g->KW < g->W + g->pw ? w0 + g->KW : g->W + g->pw;
  int64_t pool = (h1 - h0) * (w1 - w0);
  if (h0 < 0) h0 = 0;
  if (w0 < 0) w0 = 0;
  if (h1 > g->H) h1 = g->H;
  if (w1 > g->W) w1 = g->W;
  *hs = h0; *he = h1; *ws = w0; *we = w1;
  *div = (T)(g->divisor ? g->divisor : g->count_include_pad ? pool : (h1 - h0) * (w1 - w0));
}

static void FN(avg_fwd)(const pgeom *g, const T *x, T *y) {
  int64_t HW = g->H * g->W, P = g->OH * g->OW;
  #pragma omp parallel for schedule(static) if (g->NP * P * g->KH * g->KW >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < g->NP; pl++)
    for (int64_t oh = 0; oh < g->OH; oh++)
      for (int64_t ow = 0; ow < g->OW; ow++) {
        int64_t hs, he, ws, we;
        T div, acc = 0;
        FN(avg_window)(g, oh, ow, &hs, &he, &ws, &we, &div);
        for (int64_t ih = hs; ih < he; ih++)
          for (int64_t iw = ws; iw < we; iw++) acc += x[pl * HW + ih * g->W + iw];
        y[pl * P + oh * g->OW + ow] = acc / div;
      }
}

static void FN(avg_bwd)(const pgeom *g, const T *gy, T *gx) {
  int64_t HW = g->H * g->W, P = g->OH * g->OW;
  #pragma omp parallel for schedule(static) if (g->NP * P * g->KH * g->KW >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < g->NP; pl++)
    for (int64_t oh = 0; oh < g->OH; oh++)
      for (int64_t ow = 0; ow < g->OW; ow++) {
        int64_t hs, he, ws, we;
        T div;
        FN(avg_window)(g, oh, ow, &hs, &he, &ws, &we, &div);
        T v = gy[pl * P + oh * g->OW + ow] / div;
        for (int64_t ih = hs; ih < he; ih++)
          for (int64_t iw = ws; iw < we; iw++) gx[pl * HW + ih * g->W + iw] += v;
      }
}

/* adaptive windows: [floor(o * in / out), ceil((o + 1) * in / out)) */
static void FN(adaptive)(const pgeom *g, const T *src, T *dst, int backward) {
  int64_t HW = g->H * g->W, P = g->OH * g->OW;
  #pragma omp parallel for schedule(static) if (g->NP * HW >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < g->NP; pl++)
    for (int64_t oh = 0; oh < g->OH; oh++) {
      int64_t hs = oh * g->H / g->OH, he = ((oh + 1) * g->H + g->OH - 1) / g->OH;
      for (int64_t ow = 0; ow < g->OW; ow++) {
        int64_t ws = ow * g->W / g->OW, we = ((ow + 1) * g->W + g->OW - 1) / g->OW;
        T div = (T)((he - hs) * (we - ws));
        if (!backward) {
          T acc = 0;
          for (int64_t ih = hs; ih < he; ih++)
            for (int64_t iw = ws; iw < we; iw++) acc += src[pl * HW + ih * g->W + iw];
          dst[pl * P + oh * g->OW + ow] = acc / div;
        } else {
          T v = src[pl * P + oh * g->OW + ow] / div;
          for (int64_t ih = hs; ih < he; ih++)
            for (int64_t iw = ws; iw < we; iw++) dst[pl * HW + ih * g->W + iw] += v;
        }
      }
    }
}

#undef T
#undef FN
#else
/* ======================= dispatch ======================= */
#include "ag_conv.h"
#include "internal.h"
#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct {
  int64_t NP, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, divisor;
  int count_include_pad;
} pgeom;

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)

/* ---- AVX-512 max pooling 2x2 / stride 2 (float32), one output row at a time ----
 * 16 outputs per step: two rows of 32 inputs are loaded, split into even and odd columns
 * (permutex2var), and reduced with compare masks and blends in the scalar loop's order
 * (a, b | c, d; a NaN wins, the last one), so values and 1-based indices are the same. */
#include <immintrin.h>

__attribute__((target("avx512f")))
static void max2x2_row_avx512(const float *r0, const float *r1, float *y, int64_t *ip, int64_t OW, int64_t base,
                              int64_t W) {
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1)), one = _mm512_set1_epi32(1);
  for (int64_t ow = 0; ow < OW; ow += 16) {
    int64_t rem = OW - ow < 16 ? OW - ow : 16, n2 = 2 * rem;
    __mmask16 mo = rem == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
    __mmask16 mlo = n2 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n2) - 1);
    __mmask16 mhi = n2 <= 16 ? (__mmask16)0 : n2 == 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n2 - 16)) - 1);
    __m512 lo0 = _mm512_maskz_loadu_ps(mlo, r0 + 2 * ow), hi0 = _mm512_maskz_loadu_ps(mhi, r0 + 2 * ow + 16);
    __m512 lo1 = _mm512_maskz_loadu_ps(mlo, r1 + 2 * ow), hi1 = _mm512_maskz_loadu_ps(mhi, r1 + 2 * ow + 16);
    __m512 a = _mm512_permutex2var_ps(lo0, ev, hi0), b = _mm512_permutex2var_ps(lo0, od, hi0);
    __m512 c = _mm512_permutex2var_ps(lo1, ev, hi1), d = _mm512_permutex2var_ps(lo1, od, hi1);
    __mmask16 tb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
    __mmask16 td = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
    __m512 m1 = _mm512_mask_blend_ps(tb, a, b), m2 = _mm512_mask_blend_ps(td, c, d);
    __mmask16 t2 = _mm512_cmp_ps_mask(m2, m1, _CMP_GT_OQ) | _mm512_cmp_ps_mask(m2, m2, _CMP_UNORD_Q);
    _mm512_mask_storeu_ps(y + ow, mo, _mm512_mask_blend_ps(t2, m1, m2));
    if (ip) {
      __m512i ia = _mm512_add_epi32(_mm512_set1_epi32((int)(base + 2 * ow + 1)), ev);   /* 1-based */
      __m512i iw = _mm512_add_epi32(ia, _mm512_set1_epi32((int)W));
      __m512i i1 = _mm512_mask_add_epi32(ia, tb, ia, one), i2 = _mm512_mask_add_epi32(iw, td, iw, one);
      __m512i ii = _mm512_mask_blend_epi32(t2, i1, i2);
      _mm512_mask_storeu_epi64(ip + ow, (__mmask8)(mo & 0xFF), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(ii)));
      if (rem > 8)
        _mm512_mask_storeu_epi64(ip + ow + 8, (__mmask8)(mo >> 8), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(ii, 1)));
    }
  }
}

/* ---- max-pool backward when every index lies in its own 2x2 block ----
 * (2x2 / stride 2 pooling: the blocks do not overlap). Each block is written whole, the
 * gradient at its index and exact zeros elsewhere (bit masks, not a branch or a multiply:
 * an inf or NaN gradient stays at its index), and the rows and columns no block covers are
 * zeroed: one pass instead of a fill and a scatter. Returns 1 when an index lies outside its
 * block; the caller then takes the general path, which also reports bad indices. */
#define DENSE2X2(T, U, SFX)                                                                       \
  static int dense2x2##SFX(int64_t NP, int64_t H, int64_t W, int64_t OH, int64_t OW, const T *g,   \
                           const int64_t *idx, T *out) {                                          \
    int bad = 0;                                                                                  \
    _Pragma("omp parallel for schedule(static) reduction(|: bad) if (NP * H * W >= AG_PARALLEL_GRAIN)") \
    for (int64_t pl = 0; pl < NP; pl++) {                                                         \
      U *o = (U *)(out + pl * H * W);                                                             \
      const U *gp = (const U *)(g + pl * OH * OW);                                                \
      const int64_t *ip = idx + pl * OH * OW;                                                     \
      int pbad = 0;                                                                               \
      for (int64_t oh = 0; oh < OH; oh++) {                                                       \
        U *r0 = o + 2 * oh * W, *r1 = r0 + W;                                                     \
        for (int64_t ow = 0; ow < OW; ow++) {                                                     \
          int64_t k = ip[oh * OW + ow] - 1 - (2 * oh * W + 2 * ow);                               \
          U gv = gp[oh * OW + ow];                                                                \
          r0[2 * ow] = gv & -(U)(k == 0);                                                         \
          r0[2 * ow + 1] = gv & -(U)(k == 1);                                                     \
          r1[2 * ow] = gv & -(U)(k == W);                                                         \
          r1[2 * ow + 1] = gv & -(U)(k == W + 1);                                                 \
          pbad |= (k != 0) & (k != 1) & (k != W) & (k != W + 1);                                  \
        }                                                                                         \
        for (int64_t w = 2 * OW; w < W; w++) r0[w] = r1[w] = 0;                                   \
      }                                                                                           \
      for (int64_t h = 2 * OH; h < H; h++) memset(o + h * W, 0, sizeof(U) * (size_t)W);           \
      bad |= pbad;                                                                                \
    }                                                                                             \
    return bad;                                                                                   \
  }
DENSE2X2(float, uint32_t, _f32)
DENSE2X2(double, uint64_t, _f64)

/* the same for one float32 output row, 16 outputs a step (AVX-512); returns 1 on an index
 * outside its block */
__attribute__((target("avx512f")))
static int dense2x2_row_avx512(const float *g, const int64_t *ip, float *r0, float *r1, int64_t OW, int64_t base,
                               int64_t W) {
  const __m512i il_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i il_hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i lane2 = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i one = _mm512_set1_epi64(1), wv = _mm512_set1_epi64(W), w1 = _mm512_set1_epi64(W + 1);
  __mmask16 bad = 0;
  for (int64_t ow = 0; ow < OW; ow += 16) {
    int64_t rem = OW - ow < 16 ? OW - ow : 16, n2 = 2 * rem;
    __mmask16 mo = rem == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
    __mmask8 mlo8 = (__mmask8)(mo & 0xFF), mhi8 = (__mmask8)(mo >> 8);
    __m512 gv = _mm512_maskz_loadu_ps(mo, g + ow);
    /* k = idx - 1 - (base + 2 (ow + lane)): the position inside the block */
    __m512i k0 = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(mlo8, ip + ow),
                                  _mm512_add_epi64(_mm512_set1_epi64(base + 2 * ow + 1), lane2));
    __m512i k1 = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(mhi8, ip + ow + 8),
                                  _mm512_add_epi64(_mm512_set1_epi64(base + 2 * ow + 17), lane2));
#define M16(cmp) ((__mmask16)(_mm512_cmpeq_epi64_mask(k0, cmp) | ((unsigned)_mm512_cmpeq_epi64_mask(k1, cmp) << 8)))
    __mmask16 ma = M16(_mm512_setzero_si512()), mb = M16(one), mc = M16(wv), md = M16(w1);
#undef M16
    bad |= (__mmask16)(mo & ~(ma | mb | mc | md));
    __m512 a = _mm512_maskz_mov_ps(ma, gv), b = _mm512_maskz_mov_ps(mb, gv);
    __m512 c = _mm512_maskz_mov_ps(mc, gv), d = _mm512_maskz_mov_ps(md, gv);
    __mmask16 slo = n2 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n2) - 1);
    __mmask16 shi = n2 <= 16 ? (__mmask16)0 : n2 == 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n2 - 16)) - 1);
    _mm512_mask_storeu_ps(r0 + 2 * ow, slo, _mm512_permutex2var_ps(a, il_lo, b));
    _mm512_mask_storeu_ps(r0 + 2 * ow + 16, shi, _mm512_permutex2var_ps(a, il_hi, b));
    _mm512_mask_storeu_ps(r1 + 2 * ow, slo, _mm512_permutex2var_ps(c, il_lo, d));
    _mm512_mask_storeu_ps(r1 + 2 * ow + 16, shi, _mm512_permutex2var_ps(c, il_hi, d));
  }
  return bad != 0;
}

static int dense2x2_avx512(int64_t NP, int64_t H, int64_t W, int64_t OH, int64_t OW, const float *g,
                           const int64_t *idx, float *out) {
  int bad = 0;
  #pragma omp parallel for schedule(static) reduction(|: bad) if (NP * H * W >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < NP; pl++) {
    float *o = out + pl * H * W;
    for (int64_t oh = 0; oh < OH; oh++) {
      float *r0 = o + 2 * oh * W, *r1 = r0 + W;
      bad |= dense2x2_row_avx512(g + (pl * OH + oh) * OW, idx + (pl * OH + oh) * OW, r0, r1, OW, 2 * oh * W, W);
      for (int64_t w = 2 * OW; w < W; w++) r0[w] = r1[w] = 0;
    }
    for (int64_t h = 2 * OH; h < H; h++) memset(o + h * W, 0, sizeof(float) * (size_t)W);
  }
  return bad;
}

void agt_max2x2_row(const float *r0, const float *r1, float *y, int64_t *ip, int64_t OW, int64_t base, int64_t W) {
  max2x2_row_avx512(r0, r1, y, ip, OW, base, W);
}

#define POOL_T float
#define POOL_SFX _f32
#include "pool.c"
#undef POOL_T
#undef POOL_SFX
#define POOL_T double
#define POOL_SFX _f64
#include "pool.c"
#undef POOL_T

static int check_input(const char *op, ag_tensor *x, int nsp) {
  char b[256];
  if (nsp != 1 && nsp != 2) return agt_failc("%s: only 1-d and 2-d pooling is supported", op);
  if (x->ndim != nsp + 1 && x->ndim != nsp + 2)
    return agt_failc("%s: expected a %d-D (C, %s) or %d-D (N, C, %s) input, got input %s", op, nsp + 1,
                     nsp == 1 ? "L" : "H, W", nsp + 2, nsp == 1 ? "L" : "H, W", AGT_SHAPE(x, b));
  if (!agt_is_float(x->scalar_type))
    return agt_failc("%s: expected a float32 or float64 input, got %s; convert it with :float()", op,
                     agt_dtype_name(x->scalar_type));
  return 0;
}

/* plane count and spatial sizes of x (nsp trailing dims; H = 1 for 1-d) */
static void planes(ag_tensor *x, int nsp, int64_t *NP, int64_t *H, int64_t *W) {
  *NP = 1;
  for (int d = 0; d < x->ndim - nsp; d++) *NP *= x->sizes[d];
  *H = nsp == 2 ? x->sizes[x->ndim - 2] : 1;
  *W = x->sizes[x->ndim - 1];
}

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
  int64_t num = in + 2 * p - d * (k - 1) - 1;
  if (num < 0) return 0;
  int64_t out = (ceil_mode ? num + s - 1 : num) / s + 1;
  if (ceil_mode && (out - 1) * s >= in + p) out--;
  return out;
}

/* geometry of a pooling call; is_max: dilation allowed and the padding bound uses it */
static int pool_geom(const char *op, ag_tensor *x, const ag_pool_opts *o, int is_max, pgeom *g) {
  char b[256];
  if (check_input(op, x, o->nsp)) return -1;
  planes(x, o->nsp, &g->NP, &g->H, &g->W);
  int first = 2 - o->nsp;
  for (int d = first; d < 2; d++) {
    long long k = o->kernel[d], s = o->stride[d], p = o->padding[d], dl = is_max ? o->dilation[d] : 1;
    if (k < 1) return agt_failc("%s: kernel_size must be positive, got %lld", op, k);
    if (s < 1) return agt_failc("%s: stride must be positive, got %lld", op, s);
    if (dl < 1) return agt_failc("%s: dilation must be positive, got %lld", op, dl);
    if (p < 0 || p > (is_max ? ((k - 1) * dl + 1) / 2 : k / 2))
      return agt_failc("%s: pad should be at most half of effective kernel size, but got pad=%lld, kernel_size=%lld "
                       "and dilation=%lld", op, p, k, dl);
  }
  g->KH = o->nsp == 2 ? o->kernel[0] : 1; g->KW = o->kernel[1];
  g->sh = o->nsp == 2 ? o->stride[0] : 1; g->sw = o->stride[1];
  g->ph = o->nsp == 2 ? o->padding[0] : 0; g->pw = o->padding[1];
  g->dh = is_max && o->nsp == 2 ? o->dilation[0] : 1; g->dw = is_max ? o->dilation[1] : 1;
  g->OH = o->nsp == 2 ? pool_out(g->H, g->KH, g->sh, g->ph, g->dh, o->ceil_mode) : 1;
  g->OW = pool_out(g->W, g->KW, g->sw, g->pw, g->dw, o->ceil_mode);
  g->divisor = o->divisor_override;
  g->count_include_pad = o->count_include_pad;
  if (g->divisor < 0) return agt_failc("%s: divisor must be not zero", op);
  if (g->OH < 1 || g->OW < 1)
    return agt_failc("%s: output size is too small: input %s with kernel %lldx%lld, stride %lldx%lld, padding "
                     "%lldx%lld gives an output of %lldx%lld", op, AGT_SHAPE(x, b), (long long)g->KH, (long long)g->KW,
                     (long long)g->sh, (long long)g->sw, (long long)g->ph, (long long)g->pw, (long long)g->OH,
                     (long long)g->OW);
  return 0;
}

static void out_sizes(ag_tensor *x, int nsp, int64_t OH, int64_t OW, int64_t *sz) {
  memcpy(sz, x->sizes, sizeof(int64_t) * x->ndim);
  if (nsp == 2) sz[x->ndim - 2] = OH;
  sz[x->ndim - 1] = OW;
}

ag_tensor *agt_max_pool(ag_tensor *x, const ag_pool_opts *o, ag_tensor **indices) {
  const char *op = o->nsp == 1 ? "ag.max_pool1d" : "ag.max_pool2d";
  pgeom g;
  if (pool_geom(op, x, o, 1, &g)) return NULL;
  int64_t sz[AG_MAX_DIMS];
  out_sizes(x, o->nsp, g.OH, g.OW, sz);
  ag_tensor *xc = agt_contiguous(x), *y = agt_new_contig(x->ndim, sz, x->scalar_type);
  ag_tensor *ix = indices ? agt_new_contig(x->ndim, sz, AG_INT64) : NULL;
  if (!xc || !y || (indices && !ix)) { agt_release(xc); agt_release(y); agt_release(ix); return NULL; }
  int64_t *ip = ix ? (int64_t *)agt_ptr(ix) : NULL;
  if (x->scalar_type == AG_FLOAT32) max_fwd_f32(&g, (float *)agt_ptr(xc), (float *)agt_ptr(y), ip);
  else max_fwd_f64(&g, (double *)agt_ptr(xc), (double *)agt_ptr(y), ip);
  agt_release(xc);
  if (indices) *indices = ix;
  return y;
}

/* idx must be int64 with the same leading dims as the planes of x (or of `sizes`) */
static int check_idx(const char *op, ag_tensor *idx, int nsp, int ndim, const int64_t *sizes, int64_t *NP,
                     int64_t *plane, int64_t *iplane) {
  char b1[256], b2[256];
  if (idx->scalar_type != AG_INT64) return agt_failc("%s: indices must be int64, got %s", op, agt_dtype_name(idx->scalar_type));
  if (idx->ndim != ndim || ndim < nsp)
    return agt_failc("%s: indices %s do not match the planes of %s", op, AGT_SHAPE(idx, b1), agt_shape_str(ndim, sizes, b2));
  *NP = 1; *plane = 1; *iplane = 1;
  for (int d = 0; d < ndim - nsp; d++) {
    if (idx->sizes[d] != sizes[d])
      return agt_failc("%s: indices %s do not match the planes of %s", op, AGT_SHAPE(idx, b1), agt_shape_str(ndim, sizes, b2));
    *NP *= sizes[d];
  }
  for (int d = ndim - nsp; d < ndim; d++) { *plane *= sizes[d]; *iplane *= idx->sizes[d]; }
  return 0;
}

static int check_range(const char *op, ag_tensor *idxc, int64_t plane) {
  const int64_t *ip = (const int64_t *)agt_ptr(idxc);
  int64_t n = agt_numel(idxc);
  for (int64_t k = 0; k < n; k++)
    if (ip[k] < 1 || ip[k] > plane)
      return agt_failc("%s: index %lld is out of range for planes of %lld elements (indices are 1-based)", op,
                       (long long)ip[k], (long long)plane);
  return 0;
}

ag_tensor *agt_pool_gather(ag_tensor *x, ag_tensor *idx, int nsp) {
  const char *op = "ag.pool_gather";
  int64_t NP, plane, iplane;
  if (!agt_is_float(x->scalar_type)) return agt_fail("%s: expected a float tensor, got %s", op, agt_dtype_name(x->scalar_type));
  if (check_idx(op, idx, nsp, x->ndim, x->sizes, &NP, &plane, &iplane)) return NULL;
  ag_tensor *xc = agt_contiguous(x), *ic = agt_contiguous(idx);
  ag_tensor *out = agt_new_contig(idx->ndim, idx->sizes, x->scalar_type);
  if (!xc || !ic || !out || check_range(op, ic, plane)) { agt_release(xc); agt_release(ic); agt_release(out); return NULL; }
  if (x->scalar_type == AG_FLOAT32) gather_f32(NP, plane, iplane, (float *)agt_ptr(xc), (int64_t *)agt_ptr(ic), (float *)agt_ptr(out));
  else gather_f64(NP, plane, iplane, (double *)agt_ptr(xc), (int64_t *)agt_ptr(ic), (double *)agt_ptr(out));
  agt_release(xc); agt_release(ic);
  return out;
}

ag_tensor *agt_pool_scatter(ag_tensor *g, ag_tensor *idx, int nsp, int ndim, const int64_t *sizes) {
  const char *op = "ag.pool_scatter";
  char b1[256], b2[256];
  int64_t NP, plane, iplane;
  if (!agt_is_float(g->scalar_type)) return agt_fail("%s: expected a float tensor, got %s", op, agt_dtype_name(g->scalar_type));
  if (check_idx(op, idx, nsp, ndim, sizes, &NP, &plane, &iplane)) return NULL;
  if (g->ndim != idx->ndim || memcmp(g->sizes, idx->sizes, sizeof(int64_t) * g->ndim))
    return agt_fail("%s: gradient %s and indices %s must have the same shape", op, AGT_SHAPE(g, b1), AGT_SHAPE(idx, b2));
  ag_tensor *gc = agt_contiguous(g), *ic = agt_contiguous(idx), *out = NULL;
  if (gc && ic && nsp == 2) {   /* 2x2 blocks (2x2 / stride 2 pooling): one dense pass */
    int64_t H = sizes[ndim - 2], W = sizes[ndim - 1], OH = idx->sizes[ndim - 2], OW = idx->sizes[ndim - 1];
    if (2 * OH <= H && 2 * OW <= W && OH > 0 && OW > 0 &&
        (out = agt_new_contig(ndim, sizes, g->scalar_type))) {
      int bad = g->scalar_type == AG_FLOAT32 && agt_cpu_avx512()
                    ? dense2x2_avx512(NP, H, W, OH, OW, (float *)agt_ptr(gc), (int64_t *)agt_ptr(ic), (float *)agt_ptr(out))
                : g->scalar_type == AG_FLOAT32
                    ? dense2x2_f32(NP, H, W, OH, OW, (float *)agt_ptr(gc), (int64_t *)agt_ptr(ic), (float *)agt_ptr(out))
                    : dense2x2_f64(NP, H, W, OH, OW, (double *)agt_ptr(gc), (int64_t *)agt_ptr(ic), (double *)agt_ptr(out));
      if (!bad) { agt_release(gc); agt_release(ic); return out; }
      agt_release(out);
      out = NULL;
    }
  }
  if (gc && ic) out = agt_full(ndim, sizes, 0, g->scalar_type);
  if (!gc || !ic || !out || check_range(op, ic, plane)) { agt_release(gc); agt_release(ic); agt_release(out); return NULL; }
  if (g->scalar_type == AG_FLOAT32) scatter_f32(NP, plane, iplane, (float *)agt_ptr(gc), (int64_t *)agt_ptr(ic), (float *)agt_ptr(out));
  else scatter_f64(NP, plane, iplane, (double *)agt_ptr(gc), (int64_t *)agt_ptr(ic), (double *)agt_ptr(out));
  agt_release(gc); agt_release(ic);
  return out;
}

ag_tensor *agt_avg_pool(ag_tensor *x, const ag_pool_opts *o) {
  const char *op = o->nsp == 1 ? "ag.avg_pool1d" : "ag.avg_pool2d";
  pgeom g;
  if (pool_geom(op, x, o, 0, &g)) return NULL;
  int64_t sz[AG_MAX_DIMS];
  out_sizes(x, o->nsp, g.OH, g.OW, sz);
  ag_tensor *xc = agt_contiguous(x), *y = agt_new_contig(x->ndim, sz, x->scalar_type);
  if (!xc || !y) { agt_release(xc); agt_release(y); return NULL; }
  if (x->scalar_type == AG_FLOAT32) avg_fwd_f32(&g, (float *)agt_ptr(xc), (float *)agt_ptr(y));
  else avg_fwd_f64(&g, (double *)agt_ptr(xc), (double *)agt_ptr(y));
  agt_release(xc);
  return y;
}

/* the input-shaped gradient of avg_pool for input sizes `sizes` */
ag_tensor *agt_avg_pool_backward(ag_tensor *gy, const ag_pool_opts *o, int ndim, const int64_t *sizes) {
  const char *op = o->nsp == 1 ? "ag.avg_pool1d_backward" : "ag.avg_pool2d_backward";
  char b1[256], b2[256];
  ag_tensor *gx = agt_full(ndim, sizes, 0, gy->scalar_type);
  if (!gx) return NULL;
  pgeom g;
  int64_t sz[AG_MAX_DIMS];
  if (pool_geom(op, gx, o, 0, &g)) { agt_release(gx); return NULL; }
  out_sizes(gx, o->nsp, g.OH, g.OW, sz);
  if (gy->ndim != ndim || memcmp(gy->sizes, sz, sizeof(int64_t) * ndim)) {
    agt_release(gx);
    return agt_fail("%s: gradient %s does not match the pooled shape %s", op, AGT_SHAPE(gy, b1), agt_shape_str(ndim, sz, b2));
  }
  ag_tensor *gc = agt_contiguous(gy);
  if (!gc) { agt_release(gx); return NULL; }
  if (gy->scalar_type == AG_FLOAT32) avg_bwd_f32(&g, (float *)agt_ptr(gc), (float *)agt_ptr(gx));
  else avg_bwd_f64(&g, (double *)agt_ptr(gc), (double *)agt_ptr(gx));
  agt_release(gc);
  return gx;
}

static int adaptive_geom(const char *op, ag_tensor *x, int nsp, const int64_t *out_size, pgeom *g) {
  if (check_input(op, x, nsp)) return -1;
  planes(x, nsp, &g->NP, &g->H, &g->W);
  g->OH = nsp == 2 ? out_size[0] : 1;
  g->OW = out_size[nsp - 1];
  if (g->OH < 0 || g->OW < 0)
    return agt_failc("%s: output_size must be non-negative, got %lld", op, (long long)(g->OH < 0 ? g->OH : g->OW));
  for (int d = x->ndim - nsp; d < x->ndim; d++)
    if (x->sizes[d] == 0) {
      char b[256];
      return agt_failc("%s: expected input with non-zero spatial sizes, got input %s", op, AGT_SHAPE(x, b));
    }
  return 0;
}

ag_tensor *agt_adaptive_avg_pool(ag_tensor *x, int nsp, const int64_t *out_size) {
  const char *op = nsp == 1 ? "ag.adaptive_avg_pool1d" : "ag.adaptive_avg_pool2d";
  pgeom g;
  if (adaptive_geom(op, x, nsp, out_size, &g)) return NULL;
  int64_t sz[AG_MAX_DIMS];
  out_sizes(x, nsp, g.OH, g.OW, sz);
  ag_tensor *xc = agt_contiguous(x), *y = agt_new_contig(x->ndim, sz, x->scalar_type);
  if (!xc || !y) { agt_release(xc); agt_release(y); return NULL; }
  if (x->scalar_type == AG_FLOAT32) adaptive_f32(&g, (float *)agt_ptr(xc), (float *)agt_ptr(y), 0);
  else adaptive_f64(&g, (double *)agt_ptr(xc), (double *)agt_ptr(y), 0);
  agt_release(xc);
  return y;
}

ag_tensor *agt_adaptive_avg_pool_backward(ag_tensor *gy, int nsp, int ndim, const int64_t *sizes) {
  const char *op = nsp == 1 ? "ag.adaptive_avg_pool1d_backward" : "ag.adaptive_avg_pool2d_backward";
  char b1[256], b2[256];
  ag_tensor *gx = agt_full(ndim, sizes, 0, gy->scalar_type);
  if (!gx) return NULL;
  pgeom g;
  int64_t osz[2] = {nsp == 2 ? gy->sizes[gy->ndim - 2] : 1, gy->sizes[gy->ndim - 1]};
  if (gy->ndim != ndim || adaptive_geom(op, gx, nsp, nsp == 2 ? osz : osz + 1, &g)) {
    agt_release(gx);
    return agt_fail("%s: gradient %s does not match input %s", op, AGT_SHAPE(gy, b1), agt_shape_str(ndim, sizes, b2));
  }
  ag_tensor *gc = agt_contiguous(gy);
  if (!gc) { agt_release(gx); return NULL; }
  if (gy->scalar_type == AG_FLOAT32) adaptive_f32(&g, (float *)agt_ptr(gc), (float *)agt_ptr(gx), 1);
  else adaptive_f64(&g, (double *)agt_ptr(gc), (double *)agt_ptr(gx), 1);
  agt_release(gc);
  return gx;
}
#endif
