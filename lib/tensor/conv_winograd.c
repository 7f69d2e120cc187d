/* conv_winograd.c: float32 3x3 stride-1 convolution by Winograd F(4x4, 3x3), for the
 * forward, the input gradient and the weight gradient (see conv_winograd.h). With the
 * points 0, +-1, +-2 (Lavin & Gray), a 4x4 output tile is
 *   y = A^T [ (G w G^T) .* (B^T d B) ] A          (d: the 6x6 input tile)
 * so the 3x3 conv costs 36 multiplies per 16 outputs instead of 144. Per transform point
 * xi (36 of them) the channel sums become one small GEMM:  M[xi] (tiles x O) =
 * V[xi] (tiles x C) * U[xi] (C x O).
 *   input gradient: when a sample fits one work item, the exact adjoint of the forward on
 *     its own tiles, gd = B [ sum_o (A gy_tile A^T) .* U ] B^T added into overlapping 6x6
 *     input tiles (fewer tiles than a convolution of the padded gy: 9 instead of 16 per
 *     plane on an 11x11 output); otherwise the same forward with the kernel rotated by 180
 *     degrees and its two channel dims swapped, on gy padded by 2 - p;
 *   weight gradient: the exact adjoint of the forward's algebra,
 *     gw = G^T [ sum_tiles (B^T d B) .* (A gy_tile A^T) ] G,
 *     one GEMM per xi that sums over tiles.
 * Work is split into items (a sample and a band of tile rows, sized so that an item's
 * buffers stay in L2). Each OpenMP thread does whole items: repack the band channels-last
 * (16 channels per AVX-512 vector, zero padding built in), transform, run its own
 * register-blocked FMA micro-kernel for the 36 products, transform back and write NCHW.
 * No BLAS is called, so there is one thread pool and nothing spins between GEMMs.
 * Compiled for AVX-512F/FMA through a target pragma; conv.c only calls in here when
 * agt_wino_available() says the CPU has them. */
#include "conv_winograd.h"
#include "internal.h"
#include <immintrin.h>
#include <omp.h>
#include <stdbool.h>
#include <string.h>

int agt_wino_available(void) { return agt_cpu_avx512(); }

#pragma GCC push_options
#pragma GCC target("avx512f,fma")

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
#define LD(p) (*(const v16u *)(p))
#define ST(p, v) (*(v16u *)(p) = (v))
#define NXI 36
#define MR 6          /* micro-kernel rows (broadcast operand) for 3 or 4 vectors of columns */
#define MR2 12        /* rows for 1 or 2 vectors: 24 accumulators either way */
#define NVMAX 4       /* micro-kernel columns, in vectors of 16 */

static int64_t up16(int64_t n) { return (n + 15) & ~(int64_t)15; }
static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* One layer's tiling. C: the conv's input channels, O: its output channels (for the input
 * gradient, the roles of the original layer's are swapped by the caller). */
typedef struct {
  int64_t N, C, H, W, O, OH, OW, ph, pw;
  int64_t Cp, Op;        /* channels rounded up to whole vectors */
  int64_t TH, TW;        /* output tiles per column / row */
  int64_t RT, nchunk;    /* tile rows per item, items per sample */
  int64_t WP;            /* padded row length of the repacked input: 4 * TW + 2 */
} wgeom;

static void set_wgeom(wgeom *g, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw) {
  g->N = N; g->C = C; g->H = H; g->W = W; g->O = O; g->ph = ph; g->pw = pw;
  g->OH = H + 2 * ph - 2; g->OW = W + 2 * pw - 2;
  g->Cp = up16(C); g->Op = up16(O);
  g->TH = (g->OH + 3) / 4; g->TW = (g->OW + 3) / 4;
  int64_t rt = 64 / g->TW;                 /* about 64 tiles per item */
  g->RT = rt < 1 ? 1 : rt > g->TH ? g->TH : rt;
  g->nchunk = (g->TH + g->RT - 1) / g->RT;
  g->WP = 4 * g->TW + 2;
}

/* ---- the GEMM micro-kernel: c[i][j] (+)= sum_k a(i, k) b[k][j], i < mr rows, j < 16 nv ---- */
static inline __attribute__((always_inline)) void mk(const int mr, const int nv, int64_t K, const float *a,
                                                     int64_t asi, int64_t ask, const float *b, int64_t ldb, float *c,
                                                     int64_t ldc, int accum) {
  v16 acc[MR2][NVMAX];
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nv; j++) acc[i][j] = accum ? LD(c + i * ldc + 16 * j) : (v16){0};
  for (int64_t k = 0; k < K; k++) {
    v16 bv[NVMAX];
    for (int j = 0; j < nv; j++) bv[j] = LD(b + k * ldb + 16 * j);
    const float *ak = a + k * ask;
    for (int i = 0; i < mr; i++) {
      v16 av = _mm512_set1_ps(ak[i * asi]);
      for (int j = 0; j < nv; j++) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nv; j++) ST(c + i * ldc + 16 * j, acc[i][j]);
}

typedef void (*mk_fn)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, float *, int64_t, int);
#define MKI(r, v)                                                                                                 \
  static void mk_##r##_##v(int64_t K, const float *a, int64_t asi, int64_t ask, const float *b, int64_t ldb,     \
                           float *c, int64_t ldc, int accum) {                                                   \
    mk(r, v, K, a, asi, ask, b, ldb, c, ldc, accum);                                                             \
  }
#define MKROW(r) MKI(r, 1) MKI(r, 2) MKI(r, 3) MKI(r, 4)
MKROW(1) MKROW(2) MKROW(3) MKROW(4) MKROW(5) MKROW(6)
#define MKROW2(r) MKI(r, 1) MKI(r, 2)
MKROW2(7) MKROW2(8) MKROW2(9) MKROW2(10) MKROW2(11) MKROW2(12)
#define MKP(r) {mk_##r##_1, mk_##r##_2, mk_##r##_3, mk_##r##_4}
#define MKP2(r) {mk_##r##_1, mk_##r##_2, NULL, NULL}
static const mk_fn mk_table[MR2][NVMAX] = {MKP(1),  MKP(2),  MKP(3),  MKP(4),   MKP(5),   MKP(6),
                                           MKP2(7), MKP2(8), MKP2(9), MKP2(10), MKP2(11), MKP2(12)};

/* c (m x n, n a multiple of 16) (+)= a (m x K, element (i, k) at a[i*asi + k*ask]) * b (K x n) */
static void gemm(int64_t m, int64_t n, int64_t K, const float *a, int64_t asi, int64_t ask, const float *b,
                 int64_t ldb, float *c, int64_t ldc, int accum) {
  for (int64_t j0 = 0; j0 < n; j0 += 16 * NVMAX) {
    int nv = (int)imin(NVMAX, (n - j0) / 16), rows = nv <= 2 ? MR2 : MR;
    for (int64_t i0 = 0; i0 < m; i0 += rows) {
      int mr = (int)imin(rows, m - i0);
      mk_table[mr - 1][nv - 1](K, a + i0 * asi, asi, ask, b + j0, ldb, c + i0 * ldc + j0, ldc, accum);
    }
  }
}

/* ---- transforms on vectors of 16 channels ---- */
/* B^T d for 6 values d[0], d[s], ..., d[5s] */
static inline __attribute__((always_inline)) void bt6(const v16 *d, int s, v16 *o, int os) {
  v16 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  v16 t42 = d4 - d2, t31 = d3 - d1;
  o[0] = 4 * (d0 - d2) + t42;
  o[os] = (d3 + d4) - 4 * (d1 + d2);
  o[2 * os] = (d4 - d3) + 4 * (d1 - d2);
  o[3 * os] = t42 + 2 * t31;
  o[4 * os] = t42 - 2 * t31;
  o[5 * os] = 4 * (d1 - d3) + (d5 - d3);
}

/* A^T m: 6 values -> 4 */
static inline __attribute__((always_inline)) void at6(const v16 *m, int s, v16 *o, int os) {
  v16 m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s];
  v16 p12 = m1 + m2, n12 = m1 - m2, p34 = m3 + m4, n34 = m3 - m4;
  o[0] = m[0] + p12 + p34;
  o[os] = n12 + 2 * n34;
  o[2 * os] = p12 + 4 * p34;
  o[3 * os] = n12 + 8 * n34 + m[5 * s];
}

/* A y: 4 values -> 6 (the output gradient's transform for the weight gradient) */
static inline __attribute__((always_inline)) void a4(const v16 *y, int s, v16 *o, int os) {
  v16 y0 = y[0], y1 = y[s], y2 = y[2 * s], y3 = y[3 * s];
  v16 e = y0 + y2, od = y1 + y3, e2 = y0 + 4 * y2, o2 = 2 * y1 + 8 * y3;
  o[0] = y0;
  o[os] = e + od;
  o[2 * os] = e - od;
  o[3 * os] = e2 + o2;
  o[4 * os] = e2 - o2;
  o[5 * os] = y3;
}

/* 6x6 input tile at p (row stride rs, column stride cs, in floats) -> 36 vectors at
 * out + xi * xs */
static inline void in_tile(const float *p, int64_t rs, int64_t cs, float *out, int64_t xs) {
  v16 d[36], t[36], o[36];
  for (int r = 0; r < 6; r++)
    for (int c = 0; c < 6; c++) d[r * 6 + c] = LD(p + r * rs + c * cs);
  for (int r = 0; r < 6; r++) bt6(d + r * 6, 1, t + r * 6, 1);     /* rows: t = d B */
  for (int c = 0; c < 6; c++) bt6(t + c, 6, o + c, 6);             /* columns: o = B^T t */
  for (int xi = 0; xi < NXI; xi++) ST(out + xi * xs, o[xi]);
}

/* 36 vectors at m + xi * xs -> 4x4 outputs (+ bias) at q (row stride rs, column stride cs) */
static inline void out_tile(const float *m, int64_t xs, v16 bias, float *q, int64_t rs, int64_t cs) {
  v16 d[36], t[24], o[16];
  for (int xi = 0; xi < NXI; xi++) d[xi] = LD(m + xi * xs);
  for (int c = 0; c < 6; c++) at6(d + c, 6, t + c, 6);             /* columns: t (4x6) = A^T d */
  for (int r = 0; r < 4; r++) at6(t + r * 6, 1, o + r * 4, 1);     /* rows: o = t A */
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) ST(q + r * rs + c * cs, o[r * 4 + c] + bias);
}

/* 4x4 output-gradient tile at p -> 36 vectors A g A^T at out + xi * xs */
static inline void gy_tile(const float *p, int64_t rs, int64_t cs, float *out, int64_t xs) {
  v16 d[16], t[24], o[36];
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) d[r * 4 + c] = LD(p + r * rs + c * cs);
  for (int r = 0; r < 4; r++) a4(d + r * 4, 1, t + r * 6, 1);      /* rows: t (4x6) = g A^T */
  for (int c = 0; c < 6; c++) a4(t + c, 6, o + c, 6);              /* columns: o = A t */
  for (int xi = 0; xi < NXI; xi++) ST(out + xi * xs, o[xi]);
}

/* ---- the kernel transform G (6 x 3), in double (k_tiles8 and the weight gradient) ---- */
static const double Gm[6][3] = {{1. / 4, 0, 0},          {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};

/* ---- repacking between NCHW and an item's channels-last buffers ---- */
#include "avx512_tr16.h"

/* Read rc <= 16 rows (stride ss) of cc <= 16 floats, write their transpose: cc rows
 * (stride ds) of rc floats. */
static inline void tr_block(const float *src, int64_t ss, int64_t rc, int64_t cc, float *dst, int64_t ds) {
  __m512 r[16];
  __mmask16 lm = lanes(cc), sm = lanes(rc);
  for (int i = 0; i < 16; i++) r[i] = i < rc ? _mm512_maskz_loadu_ps(lm, src + i * ss) : _mm512_setzero_ps();
  tr16(r);
  for (int i = 0; i < cc; i++) _mm512_mask_storeu_ps(dst + i * ds, sm, r[i]);
}

/* Padded input rows [r0, r0 + nr) of one sample (C planes of H x W) -> xs[nr][WP][Cp],
 * zeros outside the image and in the padding channels. */
static void pack_in(const wgeom *g, const float *x, int64_t r0, int64_t nr, float *xs) {
  int64_t Cp = g->Cp, WP = g->WP, HW = g->H * g->W;
  int64_t wn = imin(g->W, WP - g->pw);
  /* whole channel vectors: zero only what the image does not cover (rows outside it, the
   * columns left and right of it), not the whole band first (~15 MB a step on 28x28) */
  bool full = g->C == Cp;
  if (!full) memset(xs, 0, sizeof(float) * (size_t)(nr * WP * Cp));
  for (int64_t rl = 0; rl < nr; rl++) {
    int64_t h = r0 + rl - g->ph;
    float *row = xs + rl * WP * Cp;
    if (h < 0 || h >= g->H) {
      if (full) memset(row, 0, sizeof(float) * (size_t)(WP * Cp));
      continue;
    }
    if (full) {
      memset(row, 0, sizeof(float) * (size_t)(g->pw * Cp));
      memset(row + (g->pw + wn) * Cp, 0, sizeof(float) * (size_t)((WP - g->pw - wn) * Cp));
    }
    float *d = xs + (rl * WP + g->pw) * Cp;
    const float *s = x + h * g->W;
    for (int64_t c = 0; c < g->C; c += 16)      /* blocks of 16 channels x 16 columns */
      for (int64_t w = 0; w < wn; w += 16)
        tr_block(s + c * HW + w, HW, imin(16, g->C - c), imin(16, wn - w), d + w * Cp + c, Cp);
  }
}

/* ---- per-thread workspace ---- */
typedef struct { float *xs, *V, *M, *Y, *dU, *Z; double *db; } wspace;

static int64_t a16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* floats per thread: for the forward (dU = 0) or the weight gradient (M holds the
 * transformed output gradient, Y its channels-last copy, dU the thread's accumulators) */
static int64_t ws_floats(const wgeom *g, int wgrad) {
  int64_t nt = g->RT * g->TW;
  return a16((4 * g->RT + 2) * g->WP * g->Cp) + a16(NXI * nt * g->Cp) + a16(NXI * nt * g->Op) +
         a16(4 * g->RT * 4 * g->TW * g->Op) + (wgrad ? a16(NXI * g->Cp * g->Op) + a16(2 * g->Op) : 0) +
         (g->nchunk == 1 ? a16(imax(g->O * g->OH * g->OW, g->C * g->H * g->W)) : 0);
}

static wspace ws_at(const wgeom *g, float *base, int wgrad) {
  wspace w;
  int64_t nt = g->RT * g->TW;
  w.xs = base;
  w.V = w.xs + a16((4 * g->RT + 2) * g->WP * g->Cp);
  w.M = w.V + a16(NXI * nt * g->Cp);
  w.Y = w.M + a16(NXI * nt * g->Op);
  w.dU = wgrad ? w.Y + a16(4 * g->RT * 4 * g->TW * g->Op) : NULL;
  w.db = wgrad ? (double *)(w.dU + a16(NXI * g->Cp * g->Op)) : NULL;   /* Op doubles: bias sums */
  /* a whole sample's NCHW output (forward) or input gradient */
  w.Z = (wgrad ? (float *)w.db + a16(2 * g->Op) : w.Y + a16(4 * g->RT * 4 * g->TW * g->Op));
  if (g->nchunk != 1) w.Z = NULL;
  return w;
}

/* items: sample n, band of tile rows [th0, th0 + nth) */
static void item_rows(const wgeom *g, int64_t it, int64_t *n, int64_t *th0, int64_t *nth) {
  *n = it / g->nchunk;
  *th0 = (it % g->nchunk) * g->RT;
  *nth = imin(g->RT, g->TH - *th0);
}

/* input transform of an item: V[xi][t][Cp] */
static void item_in(const wgeom *g, const wspace *w, int64_t nth) {
  int64_t nt = nth * g->TW, Cp = g->Cp;
  for (int64_t ti = 0; ti < nth; ti++)
    for (int64_t tj = 0; tj < g->TW; tj++) {
      int64_t t = ti * g->TW + tj;
      const float *base = w->xs + (4 * ti * g->WP + 4 * tj) * Cp;
      for (int64_t c = 0; c < Cp; c += 16) in_tile(base + c, g->WP * Cp, Cp, w->V + t * Cp + c, nt * Cp);
    }
}

static void fwd_item(const wgeom *g, int64_t it, const float *x, const float *U, const float *bias, float *y,
                     const wspace *w) {
  int64_t n, th0, nth;
  item_rows(g, it, &n, &th0, &nth);
  int64_t nt = nth * g->TW, Cp = g->Cp, Op = g->Op, YW = 4 * g->TW;
  pack_in(g, x + n * g->C * g->H * g->W, 4 * th0, 4 * nth + 2, w->xs);
  item_in(g, w, nth);
  for (int xi = 0; xi < NXI; xi++)
    gemm(nt, Op, Cp, w->V + xi * nt * Cp, Cp, 1, U + xi * Cp * Op, Op, w->M + xi * nt * Op, Op, 0);
  for (int64_t ti = 0; ti < nth; ti++)
    for (int64_t tj = 0; tj < g->TW; tj++) {
      int64_t t = ti * g->TW + tj;
      for (int64_t o = 0; o < Op; o += 16)
        out_tile(w->M + t * Op + o, nt * Op, LD(bias + o), w->Y + (4 * ti * YW + 4 * tj) * Op + o, YW * Op, Op);
    }
  /* channels-last rows -> NCHW, 16 channels at a time. A whole sample goes through a warm
   * scratch first and then to y with streaming stores: the transpose's scattered partial-line
   * stores would each read their line of the (cold) output in first, the copy's do not
   * (about a third of the forward's time on a 28x28, 64-channel layer). */
  int64_t oh0 = 4 * th0, oh1 = imin(g->OH, 4 * (th0 + nth)), P = g->OH * g->OW;
  float *yn = g->nchunk == 1 ? w->Z : y + n * g->O * P;
  for (int64_t oh = oh0; oh < oh1; oh++) {
    const float *yr = w->Y + (oh - oh0) * YW * Op;
    for (int64_t o0 = 0; o0 < g->O; o0 += 16)
      for (int64_t ow = 0; ow < g->OW; ow += 16) {
        __m512 r[16];
        int64_t wc = imin(16, g->OW - ow), ol = imin(16, g->O - o0);
        for (int i = 0; i < 16; i++) r[i] = i < wc ? _mm512_loadu_ps(yr + (ow + i) * Op + o0) : _mm512_setzero_ps();
        tr16(r);
        for (int64_t l = 0; l < ol; l++) _mm512_mask_storeu_ps(yn + (o0 + l) * P + oh * g->OW + ow, lanes(wc), r[l]);
      }
  }
  if (g->nchunk == 1) agt_copy_streaming(y + n * g->O * P, w->Z, g->O * P);
}

static int threads_for(const wgeom *g) {
  int64_t work = g->N * g->C * g->H * g->W + g->N * g->O * g->OH * g->OW;
  int nt = work >= AG_PARALLEL_GRAIN ? omp_get_max_threads() : 1;
  int64_t items = g->N * g->nchunk;
  return items < nt ? (int)items : nt;
}

/* the Winograd convolution of x with transformed kernels U[xi][Cp][Op] (+ bias) */
static int wino_conv(const wgeom *g, const float *x, const float *U, const float *bias, float *y) {
  int nth = threads_for(g);
  int64_t per = ws_floats(g, 0), bytes = (int64_t)sizeof(float) * (nth * per + g->Op);
  float *buf = ag_alloc(bytes);
  if (!buf) return -1;
  float *bp = buf + nth * per;
  for (int64_t o = 0; o < g->Op; o++) bp[o] = bias && o < g->O ? bias[o] : 0;
  int64_t items = g->N * g->nchunk;
  #pragma omp parallel num_threads(nth)
  {
    wspace w = ws_at(g, buf + omp_get_thread_num() * per, 0);
    #pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) fwd_item(g, it, x, U, bp, y, &w);
  }
  ag_free(buf, bytes);
  return 0;
}

/* U[xi][k][n] for a conv whose input channels are K and output channels Nn: from
 * w (O, C, 3, 3): forward k = c, n = o; input gradient by the rotated kernel (rot) k = o,
 * n = c, rotated; the forward's transpose (swap without rot) k = o, n = c. */
/* U = G k G^T of nl <= 8 3x3 kernels at once (each rotated by 180 degrees if rot), lane l's
 * kernel at w + l * ws, in double vectors -> out[xi * xs + l]: the 8 kernels' results are
 * neighbours in U (8 consecutive n), one store per transform point */
static void k_tiles8(const float *w, int64_t ws, int nl, int rot, float *out, int64_t xs) {
  __m512d kk[3][3], t[6][3];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double v[8] = {0};
      int tap = rot ? (2 - i) * 3 + (2 - j) : i * 3 + j;
      for (int l = 0; l < nl; l++) v[l] = w[l * ws + tap];
      kk[i][j] = _mm512_loadu_pd(v);
    }
  for (int a = 0; a < 6; a++)
    for (int j = 0; j < 3; j++)
      t[a][j] = _mm512_fmadd_pd(_mm512_set1_pd(Gm[a][2]), kk[2][j],
                                _mm512_fmadd_pd(_mm512_set1_pd(Gm[a][1]), kk[1][j],
                                                _mm512_mul_pd(_mm512_set1_pd(Gm[a][0]), kk[0][j])));
  __mmask16 m = (__mmask16)((1u << nl) - 1);
  for (int a = 0; a < 6; a++)
    for (int b = 0; b < 6; b++) {
      __m512d u = _mm512_fmadd_pd(t[a][2], _mm512_set1_pd(Gm[b][2]),
                                  _mm512_fmadd_pd(t[a][1], _mm512_set1_pd(Gm[b][1]),
                                                  _mm512_mul_pd(t[a][0], _mm512_set1_pd(Gm[b][0]))));
      _mm512_mask_storeu_ps(out + (a * 6 + b) * xs, m, _mm512_castps256_ps512(_mm512_cvtpd_ps(u)));
    }
}

static float *kernels_swap(const float *w, int64_t O, int64_t C, int rot, int swap, int64_t Kp, int64_t Np,
                           int64_t *bytes) {
  *bytes = (int64_t)sizeof(float) * NXI * Kp * Np;
  float *U = ag_alloc(*bytes);
  if (!U) return NULL;
  memset(U, 0, (size_t)*bytes);
  /* U[xi][k][n]: k = c, n = o (or swapped), 8 neighbouring n at a time; in parallel: done
   * twice a training step, and serial it left the other core idle */
  int64_t K = swap ? O : C, N = swap ? C : O;
  #pragma omp parallel for schedule(static) if (O * C >= 256)
  for (int64_t k = 0; k < K; k++)
    for (int64_t n0 = 0; n0 < N; n0 += 8) {
      int nl = (int)(N - n0 < 8 ? N - n0 : 8);
      const float *w0 = swap ? w + (k * C + n0) * 9 : w + (n0 * C + k) * 9;
      k_tiles8(w0, swap ? 9 : C * 9, nl, rot, U + k * Np + n0, Kp * Np);
    }
  return U;
}
static float *kernels(const float *w, int64_t O, int64_t C, int rot, int64_t Kp, int64_t Np, int64_t *bytes) {
  return kernels_swap(w, O, C, rot, rot, Kp, Np, bytes);
}

int agt_wino_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                     const float *x, const float *w, const float *bias, float *y) {
  wgeom g;
  set_wgeom(&g, N, C, H, W, O, ph, pw);
  int64_t ub;
  float *U = kernels(w, O, C, 0, g.Cp, g.Op, &ub);
  if (!U) return -1;
  int rc = wino_conv(&g, x, U, bias, y);
  ag_free(U, ub);
  return rc;
}

/* B o: the adjoint of bt6 (6 values -> 6) */
static inline __attribute__((always_inline)) void b6(const v16 *o, int s, v16 *d, int ds) {
  v16 o0 = o[0], o1 = o[s], o2 = o[2 * s], o3 = o[3 * s], o4 = o[4 * s], o5 = o[5 * s];
  v16 p12 = o1 + o2, p34 = o3 + o4;
  d[0] = 4 * o0;
  d[ds] = 4 * (o2 - o1) + 2 * (o4 - o3) + 4 * o5;
  d[2 * ds] = -5 * o0 - 4 * p12 - p34;
  d[3 * ds] = (o1 - o2) + 2 * (o3 - o4) - 5 * o5;
  d[4 * ds] = o0 + p12 + p34;
  d[5 * ds] = o5;
}

/* 36 vectors gV at v + xi * xs -> the 6x6 input-tile gradient B gV B^T, added at p */
static inline void in_tile_adjoint(const float *v, int64_t xs, float *p, int64_t rs, int64_t cs) {
  v16 o[36], t[36], d[36];
  for (int xi = 0; xi < NXI; xi++) o[xi] = LD(v + xi * xs);
  for (int c = 0; c < 6; c++) b6(o + c, 6, t + c, 6);              /* columns: t = B gV */
  for (int r = 0; r < 6; r++) b6(t + r * 6, 1, d + r * 6, 1);      /* rows: d = t B^T */
  for (int r = 0; r < 6; r++)
    for (int c = 0; c < 6; c++) ST(p + r * rs + c * cs, LD(p + r * rs + c * cs) + d[r * 6 + c]);
}

/* An item's output-gradient band (rows [oh0, oh0 + 4 nth) of sample gn) -> Y channels-last
 * (zero beyond OH x OW), its bias sums added into db (when bias), and M = A gy A^T per tile */
static void gy_transform(const wgeom *g, const wspace *w, const float *gn, int64_t oh0, int64_t nth, int bias) {
  int64_t nt = nth * g->TW, Op = g->Op, YW = 4 * g->TW, P = g->OH * g->OW;
  int64_t oh1 = imin(g->OH, oh0 + 4 * nth);
  if (g->O != Op || g->OW != YW || oh1 - oh0 != 4 * nth)   /* else every element is written below */
    memset(w->Y, 0, sizeof(float) * (size_t)(4 * nth * YW * Op));
  for (int64_t oh = oh0; oh < oh1; oh++) {
    float *yr = w->Y + (oh - oh0) * YW * Op;
    for (int64_t o = 0; o < g->O; o += 16)
      for (int64_t ow = 0; ow < g->OW; ow += 16)
        tr_block(gn + o * P + oh * g->OW + ow, P, imin(16, g->O - o), imin(16, g->OW - ow), yr + ow * Op + o, Op);
  }
  if (bias) {   /* the bias gradient from the same channels-last band, summed in double */
    for (int64_t o = 0; o < Op; o += 16) {
      __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
      for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *yr = w->Y + (oh - oh0) * YW * Op + o;
        __m512 rs = _mm512_setzero_ps();
        for (int64_t ow = 0; ow < g->OW; ow++) rs = _mm512_add_ps(rs, _mm512_loadu_ps(yr + ow * Op));
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(rs)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(rs), 1))));
      }
      _mm512_storeu_pd(w->db + o, _mm512_add_pd(_mm512_loadu_pd(w->db + o), lo));
      _mm512_storeu_pd(w->db + o + 8, _mm512_add_pd(_mm512_loadu_pd(w->db + o + 8), hi));
    }
  }
  for (int64_t ti = 0; ti < nth; ti++)
    for (int64_t tj = 0; tj < g->TW; tj++) {
      int64_t t = ti * g->TW + tj;
      for (int64_t o = 0; o < Op; o += 16)
        gy_tile(w->Y + (4 * ti * YW + 4 * tj) * Op + o, YW * Op, Op, w->M + t * Op + o, nt * Op);
    }
}

/* The input gradient of one whole sample (g->nchunk == 1) from its transformed output
 * gradient M, as the exact adjoint of the forward on the forward's own tiles:
 * gV[xi] = M[xi] U[xi]^T, and each tile's B gV B^T added into a channels-last copy of the
 * padded input (tiles overlap by two rows and columns), which is then written to gx (NCHW). */
static void dgrad_finish(const wgeom *g, const wspace *w, const float *Ut, float *gxn) {
  int64_t nth = g->TH, nt = nth * g->TW, Cp = g->Cp, Op = g->Op, HW = g->H * g->W, WP = g->WP;
  for (int xi = 0; xi < NXI; xi++)
    gemm(nt, Cp, Op, w->M + xi * nt * Op, Op, 1, Ut + xi * Op * Cp, Cp, w->V + xi * nt * Cp, Cp, 0);
  memset(w->xs, 0, sizeof(float) * (size_t)((4 * nth + 2) * WP * Cp));
  for (int64_t ti = 0; ti < nth; ti++)
    for (int64_t tj = 0; tj < g->TW; tj++) {
      int64_t t = ti * g->TW + tj;
      float *base = w->xs + (4 * ti * WP + 4 * tj) * Cp;
      for (int64_t c = 0; c < Cp; c += 16) in_tile_adjoint(w->V + t * Cp + c, nt * Cp, base + c, WP * Cp, Cp);
    }
  /* to NCHW through the warm scratch, then one copy (see fwd_item) */
  for (int64_t h = 0; h < g->H; h++) {
    const float *row = w->xs + ((h + g->ph) * WP + g->pw) * Cp;
    for (int64_t c = 0; c < g->C; c += 16)
      for (int64_t x0 = 0; x0 < g->W; x0 += 16)
        tr_block(row + x0 * Cp + c, Cp, imin(16, g->W - x0), imin(16, g->C - c), w->Z + c * HW + h * g->W + x0, HW);
  }
  agt_copy_streaming(gxn, w->Z, g->C * HW);
}

static void dgrad_item(const wgeom *g, int64_t n, const float *gy, const float *Ut, float *gx, const wspace *w) {
  gy_transform(g, w, gy + n * g->O * g->OH * g->OW, 0, g->TH, 0);
  dgrad_finish(g, w, Ut, gx + n * g->C * g->H * g->W);
}

static int wino_dgrad_adjoint(const wgeom *g, const float *gy, const float *w, float *gx) {
  int64_t ub;
  float *Ut = kernels_swap(w, g->O, g->C, 0, 1, g->Op, g->Cp, &ub);   /* Ut[xi][o][c] */
  if (!Ut) return -1;
  int nth = threads_for(g);
  int64_t per = ws_floats(g, 0), bytes = (int64_t)sizeof(float) * nth * per;
  float *buf = ag_alloc(bytes);
  if (!buf) { ag_free(Ut, ub); return -1; }
  #pragma omp parallel num_threads(nth)
  {
    wspace ws = ws_at(g, buf + omp_get_thread_num() * per, 0);
    #pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < g->N; n++) dgrad_item(g, n, gy, Ut, gx, &ws);
  }
  ag_free(buf, bytes);
  ag_free(Ut, ub);
  return 0;
}

int agt_wino_backward_data(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                           const float *gy, const float *w, float *gx) {
  wgeom f;   /* the forward's own tiling: when a sample is one item, the adjoint runs on it */
  set_wgeom(&f, N, C, H, W, O, ph, pw);
  if (f.nchunk == 1) return wino_dgrad_adjoint(&f, gy, w, gx);
  wgeom g;   /* otherwise a conv from gy (O channels, OH x OW) to gx (C channels, H x W) */
  set_wgeom(&g, N, O, H + 2 * ph - 2, W + 2 * pw - 2, C, 2 - ph, 2 - pw);
  int64_t ub;
  float *U = kernels(w, O, C, 1, g.Cp, g.Op, &ub);
  if (!U) return -1;
  int rc = wino_conv(&g, gy, U, NULL, gx);
  ag_free(U, ub);
  return rc;
}

/* ---- weight gradient ---- */
/* dU[xi][c][o] += sum_t V[xi][t][c] M[xi][t][o] over an item's nt tiles */
static void wgrad_accumulate(const wgeom *g, const wspace *w, int64_t nt) {
  int64_t Cp = g->Cp, Op = g->Op;
  for (int xi = 0; xi < NXI; xi++)
    gemm(Cp, Op, nt, w->V + xi * nt * Cp, 1, Cp, w->M + xi * nt * Op, Op, w->dU + xi * Cp * Op, Op, 1);
}

static void wgrad_item(const wgeom *g, int64_t it, const float *gy, const float *x, const wspace *w, int bias) {
  int64_t n, th0, nth;
  item_rows(g, it, &n, &th0, &nth);
  pack_in(g, x + n * g->C * g->H * g->W, 4 * th0, 4 * nth + 2, w->xs);
  item_in(g, w, nth);
  gy_transform(g, w, gy + n * g->O * g->OH * g->OW, 4 * th0, nth, bias);
  wgrad_accumulate(g, w, nth * g->TW);
}

/* both gradients of one whole sample (g->nchunk == 1) from one pass over its gy: the
 * weight gradient's terms first (x's transform in V), then the input gradient (V reused) */
static void both_item(const wgeom *g, int64_t n, const float *gy, const float *x, const float *Ut, float *gx,
                      const wspace *w, int bias) {
  gy_transform(g, w, gy + n * g->O * g->OH * g->OW, 0, g->TH, bias);
  pack_in(g, x + n * g->C * g->H * g->W, 0, 4 * g->TH + 2, w->xs);
  item_in(g, w, g->TH);
  wgrad_accumulate(g, w, g->TH * g->TW);
  dgrad_finish(g, w, Ut, gx + n * g->C * g->H * g->W);
}

/* sum the threads' accumulators (nth workspaces of per floats at buf), then
 * gw = G^T dU G per (o, c) and the bias sums */
static void wgrad_reduce(const wgeom *g, float *buf, int64_t per, int nth, float *gw, float *gb) {
  int64_t ulen = NXI * g->Cp * g->Op, O = g->O, C = g->C;
  float *dU = ws_at(g, buf, 1).dU;
  for (int t = 1; t < nth; t++) {
    const float *d = ws_at(g, buf + t * per, 1).dU;
    #pragma omp parallel for schedule(static) if (ulen >= AG_PARALLEL_GRAIN)
    for (int64_t i = 0; i < ulen; i++) dU[i] += d[i];
  }
  if (gb)
    for (int64_t o = 0; o < O; o++) {
      double t = 0;
      for (int th = 0; th < nth; th++) t += ws_at(g, buf + th * per, 1).db[o];
      gb[o] = (float)t;
    }
  #pragma omp parallel for schedule(static) if (O * C >= 256)
  for (int64_t o = 0; o < O; o++)
    for (int64_t c = 0; c < C; c++) {
      double u[6][6], t[3][6];
      for (int xi = 0; xi < NXI; xi++) u[xi / 6][xi % 6] = dU[xi * ulen / NXI + c * g->Op + o];
      for (int i = 0; i < 3; i++)
        for (int b = 0; b < 6; b++) {
          double s = 0;
          for (int a = 0; a < 6; a++) s += Gm[a][i] * u[a][b];
          t[i][b] = s;
        }
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
          double s = 0;
          for (int b = 0; b < 6; b++) s += t[i][b] * Gm[b][j];
          gw[(o * C + c) * 9 + i * 3 + j] = (float)s;
        }
    }
}

int agt_wino_backward_weight(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                             const float *gy, const float *x, float *gw, float *gb) {
  wgeom g;
  set_wgeom(&g, N, C, H, W, O, ph, pw);
  int nth = threads_for(&g);
  int64_t per = ws_floats(&g, 1), bytes = (int64_t)sizeof(float) * nth * per;
  float *buf = ag_alloc(bytes);
  if (!buf) return -1;
  int64_t items = g.N * g.nchunk;
  #pragma omp parallel num_threads(nth)
  {
    wspace w = ws_at(&g, buf + omp_get_thread_num() * per, 1);
    memset(w.dU, 0, sizeof(float) * (size_t)(NXI * g.Cp * g.Op));
    memset(w.db, 0, sizeof(double) * (size_t)g.Op);
    #pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) wgrad_item(&g, it, gy, x, &w, gb != NULL);
  }
  wgrad_reduce(&g, buf, per, nth, gw, gb);
  ag_free(buf, bytes);
  return 0;
}

int agt_wino_backward_both(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw,
                           const float *gy, const float *x, const float *w, float *gx, float *gw, float *gb) {
  wgeom g;
  set_wgeom(&g, N, C, H, W, O, ph, pw);
  if (g.nchunk != 1) {   /* a sample spans several items: the two passes */
    int rc = agt_wino_backward_data(N, C, H, W, O, ph, pw, gy, w, gx);
    return rc ? rc : agt_wino_backward_weight(N, C, H, W, O, ph, pw, gy, x, gw, gb);
  }
  int64_t ub;
  float *Ut = kernels_swap(w, g.O, g.C, 0, 1, g.Op, g.Cp, &ub);   /* Ut[xi][o][c] */
  if (!Ut) return -1;
  int nth = threads_for(&g);
  int64_t per = ws_floats(&g, 1), bytes = (int64_t)sizeof(float) * nth * per;
  float *buf = ag_alloc(bytes);
  if (!buf) { ag_free(Ut, ub); return -1; }
  #pragma omp parallel num_threads(nth)
  {
    wspace ws = ws_at(&g, buf + omp_get_thread_num() * per, 1);
    memset(ws.dU, 0, sizeof(float) * (size_t)(NXI * g.Cp * g.Op));
    memset(ws.db, 0, sizeof(double) * (size_t)g.Op);
    #pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < g.N; n++) both_item(&g, n, gy, x, Ut, gx, &ws, gb != NULL);
  }
  wgrad_reduce(&g, buf, per, nth, gw, gb);
  ag_free(buf, bytes);
  ag_free(Ut, ub);
  return 0;
}

#pragma GCC pop_options
