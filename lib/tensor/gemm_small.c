/* gemm_small.c: float32 C = A W^T and C = A B for a short A (M <= 128 rows, in blocks of 64:
 * a batch in an LSTM cell or a linear layer), AVX-512, without OpenBLAS's packing of the
 * weight.
 * For M = 32, packing the weight costs about as much as the multiply-adds (each packed
 * element is used only 32 times), so OpenBLAS reached ~80 GFLOP/s a core on these shapes
 * against ~150 on large ones. Here the weight is read in place:
 *   C = A W^T (W: N x K) is computed as C^T = W A^T with A^T packed once (K x M, small); a
 *   tile is R rows of W (broadcast) times the M columns of A^T (MV vectors), R * MV <= 24
 *   accumulators, transposed in registers on the way out. C = A B is the same with W = B^T:
 *   a tile's R broadcasts for one k are then R neighbours in one row of B.
 * C1 = A B1 and C2 = A B2 with one A (an LSTM cell's dx and dh from its gate gradients) pack
 * A^T once and share the tiles of both outputs among the threads.
 * Tiles of N are split across OpenMP threads. Each output element is a dot product in k
 * order, so results do not depend on the thread count. C = alpha * AB + beta * C. */
#include "internal.h"
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_M 64     /* rows per block; up to two blocks (128 rows) take this path */
#define SPLIT_MNK ((double)(1 << 18))


#pragma GCC push_options
#pragma GCC target("avx512f,fma")

#include "avx512_tr16.h"

/* what happens to a finished product: C = alpha * AB + beta * C (beta 0: C not read), plus
 * bias[n] on every row when bias is not NULL */
typedef struct { float alpha, beta; const float *bias; } epilogue;

/* out = alpha * acc + beta * out (+ bias, the 16 columns from col), lanes masked */
static inline __attribute__((always_inline)) void put(float *p, __mmask16 m, __m512 acc, const epilogue *e,
                                                      int64_t col) {
  __m512 v = _mm512_mul_ps(acc, _mm512_set1_ps(e->alpha));
  if (e->beta != 0) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p), _mm512_set1_ps(e->beta), v);
  if (e->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->bias + col));
  _mm512_mask_storeu_ps(p, m, v);
}

/* One product term A_s W_s^T: A_s (m x K, rows lda apart) and W_s(r, k) at W[r * sr + k * sk].
 * C is the sum over up to two terms (an LSTM cell's x W_ih^T + h W_hh^T in one pass). */
typedef struct { const float *a; int64_t lda; const float *W; int64_t sr, sk, K; } term;

/* tile: C[0:M][n0:n0+nr] = sum_s A_s W_s^T over rows n0.. of each W_s, with At holding the
 * terms' A_s^T stacked (sum K_s rows x 16*MV) */
static inline __attribute__((always_inline)) void nt_tile(const int MV, const int R, int64_t M, const term *ts,
                                                          int nterm, int64_t n0, int64_t nr, const float *At,
                                                          float *C, int64_t ldc, const epilogue *e) {
  __m512 acc[16][4];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < MV; v++) acc[r][v] = _mm512_setzero_ps();
  const float *Ak = At;
  for (int s = 0; s < nterm; s++) {
    const float *W = ts[s].W + n0 * ts[s].sr;
    int64_t sr = ts[s].sr, sk = ts[s].sk, K = ts[s].K;
    if (sr == 1 && nr == R) {
      /* W = B^T: the R values of one k are neighbours in B's row k, one pointer and offsets */
      for (int64_t k = 0; k < K; k++) {
        __m512 a[4];
        const float *bk = W + k * sk;
        for (int v = 0; v < MV; v++) a[v] = _mm512_loadu_ps(Ak + k * 16 * MV + 16 * v);
        for (int r = 0; r < R; r++) {
          __m512 b = _mm512_set1_ps(bk[r]);
          for (int v = 0; v < MV; v++) acc[r][v] = _mm512_fmadd_ps(b, a[v], acc[r][v]);
        }
      }
    } else {
      const float *w[16];
      for (int r = 0; r < R; r++) w[r] = W + (r < nr ? r : 0) * sr;
      for (int64_t k = 0; k < K; k++) {
        __m512 a[4];
        for (int v = 0; v < MV; v++) a[v] = _mm512_loadu_ps(Ak + k * 16 * MV + 16 * v);
        for (int r = 0; r < R; r++) {
          __m512 b = _mm512_set1_ps(w[r][k * sk]);
          for (int v = 0; v < MV; v++) acc[r][v] = _mm512_fmadd_ps(b, a[v], acc[r][v]);
        }
      }
    }
    Ak += K * 16 * MV;
  }
  /* acc[r][v] lane i = C[16 v + i][n0 + r]: transpose each 16-column block back */
  for (int v = 0; v < MV; v++) {
    __m512 t[16];
    for (int r = 0; r < 16; r++) t[r] = r < R ? acc[r][v] : _mm512_setzero_ps();
    tr16(t);
    int64_t mrows = M - 16 * v < 16 ? M - 16 * v : 16;
    for (int64_t i = 0; i < mrows; i++) put(C + n0 + (16 * v + i) * ldc, lanes(nr), t[i], e, n0);
  }
}

#define NT_CASE(MV, R)                                                                                   \
  static void nt_##MV(int64_t M, int64_t N, const term *ts, int nterm, const float *At, float *C,        \
                      int64_t ldc, const epilogue *e, int64_t t0, int64_t t1) {                          \
    for (int64_t t = t0; t < t1; t++) {                                                                  \
      int64_t n0 = t * R, nr = N - n0 < R ? N - n0 : R;                                                  \
      nt_tile(MV, R, M, ts, nterm, n0, nr, At, C, ldc, e);                                               \
    }                                                                                                    \
  }
NT_CASE(1, 16)
NT_CASE(2, 12)
NT_CASE(3, 8)
NT_CASE(4, 6)

/* At[kk][i] = A[i][kk] for kk in [k0, k1), i < 16 * MV (zero beyond m): 16x16 blocks
 * transposed in registers */
static void pack_at(int64_t m, int MV, const float *a, int64_t lda, int64_t k0, int64_t k1, float *At) {
  int64_t w = 16 * MV;
  for (int64_t kb = k0; kb < k1; kb += 16) {
    int64_t kc = k1 - kb < 16 ? k1 - kb : 16;
    for (int v = 0; v < MV; v++) {
      __m512 r[16];
      for (int i = 0; i < 16; i++) {
        int64_t row = 16 * v + i;
        r[i] = row < m ? _mm512_maskz_loadu_ps(lanes(kc), a + row * lda + kb) : _mm512_setzero_ps();
      }
      tr16(r);
      for (int64_t j = 0; j < kc; j++) _mm512_storeu_ps(At + (kb + j) * w + 16 * v, r[j]);
    }
  }
}

#pragma GCC pop_options

/* threads for `tiles` tiles of a product of mnk multiply-adds */
static int team(double mnk, int64_t tiles) {
  if (omp_in_parallel() || mnk < SPLIT_MNK) return 1;
  int nt = omp_get_max_threads();
  return tiles < nt ? (int)(tiles > 0 ? tiles : 1) : nt;
}

/* tiles [t0, t1) of one output */
static void nt_range(int MV, int64_t m, int64_t n, const term *ts, int nterm, const float *At, float *c,
                     int64_t ldc, const epilogue *e, int64_t t0, int64_t t1) {
  if (t0 >= t1) return;
  switch (MV) {
  case 1: nt_1(m, n, ts, nterm, At, c, ldc, e, t0, t1); break;
  case 2: nt_2(m, n, ts, nterm, At, c, ldc, e, t0, t1); break;
  case 3: nt_3(m, n, ts, nterm, At, c, ldc, e, t0, t1); break;
  default: nt_4(m, n, ts, nterm, At, c, ldc, e, t0, t1); break;
  }
}

static int tile_rows(int MV) { return MV == 1 ? 16 : MV == 2 ? 12 : MV == 3 ? 8 : 6; }

/* one block of at most SMALL_M rows (the terms' A pointers already offset to it), with a
 * buffer of sum K_s * 64 floats for the stacked A^T */
static void small_block(int64_t m, int64_t n, const term *ts, int nterm, const epilogue *e, float *c,
                        int64_t ldc, float *At) {
  int64_t ktot = 0;
  for (int s = 0; s < nterm; s++) ktot += ts[s].K;
  double mnk = (double)m * n * ktot;
  int MV = (int)((m + 15) / 16), R = tile_rows(MV);
  int64_t tiles = (n + R - 1) / R;
  int nt = team(mnk, tiles);
  #pragma omp parallel num_threads(nt) if (nt > 1)
  {
    /* each thread packs a share of each A_s^T (whole blocks of 16 k), then all multiply */
    int th = omp_get_thread_num(), nth = omp_get_num_threads();
    float *Ak = At;
    for (int s = 0; s < nterm; s++) {
      int64_t K = ts[s].K, kblocks = (K + 15) / 16;
      int64_t k0 = 16 * (kblocks * th / nth), k1 = 16 * (kblocks * (th + 1) / nth);
      pack_at(m, MV, ts[s].a, ts[s].lda, k0, k1 < K ? k1 : K, Ak);
      Ak += K * 16 * MV;
    }
    #pragma omp barrier
    nt_range(MV, m, n, ts, nterm, At, c, ldc, e, tiles * th / nth, tiles * (th + 1) / nth);
  }
}

/* one block of at most SMALL_M rows of C1 = A B1 and C2 = A B2: A^T packed once, the tiles
 * of both outputs shared out among the threads as one range */
static void pair_block(int64_t m, int64_t k, const float *a, int64_t lda, const term *t1, int64_t n1, float *c1,
                       int64_t ldc1, const term *t2, int64_t n2, float *c2, int64_t ldc2, float *At) {
  int MV = (int)((m + 15) / 16), R = tile_rows(MV);
  int64_t tiles1 = (n1 + R - 1) / R, tiles = tiles1 + (n2 + R - 1) / R;
  int nt = team((double)m * (n1 + n2) * k, tiles);
  #pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int th = omp_get_thread_num(), nth = omp_get_num_threads();
    int64_t kblocks = (k + 15) / 16, k0 = 16 * (kblocks * th / nth), k1 = 16 * (kblocks * (th + 1) / nth);
    pack_at(m, MV, a, lda, k0, k1 < k ? k1 : k, At);
    #pragma omp barrier
    int64_t r0 = tiles * th / nth, r1 = tiles * (th + 1) / nth;
    epilogue e = {1.0f, 0.0f, NULL};
    nt_range(MV, m, n1, t1, 1, At, c1, ldc1, &e, r0, r1 < tiles1 ? r1 : tiles1);
    nt_range(MV, m, n2, t2, 1, At, c2, ldc2, &e, r0 > tiles1 ? r0 - tiles1 : 0, r1 - tiles1);
  }
}

/* C = alpha * sum_s A_s W_s^T + beta C over nterm terms; 0 when the shape is not for us */
static int small_terms(int64_t m, int64_t n, term *ts, int nterm, const epilogue *e, float *c, int64_t ldc) {
  int64_t ktot = 0;
  for (int s = 0; s < nterm; s++) {
    if (ts[s].K <= 0) return 0;
    ktot += ts[s].K;
  }
  if (m > 2 * SMALL_M || m <= 0 || n <= 0 || !agt_cpu_avx512()) return 0;
  /* fewer than 4 column tiles: OpenBLAS splits such narrow products better */
  int mv = (int)(((m < SMALL_M ? m : SMALL_M) + 15) / 16), r = tile_rows(mv);
  if ((n + r - 1) / r < 4) return 0;
  int64_t bytes = (int64_t)sizeof(float) * ktot * 16 * mv;
  int in_par = omp_in_parallel();   /* ag_alloc is not thread-safe: malloc inside a region */
  float *At = in_par ? malloc((size_t)bytes) : ag_alloc(bytes);
  if (!At) return 0;
  const float *a0[2] = {ts[0].a, nterm > 1 ? ts[1].a : NULL};
  for (int64_t m0 = 0; m0 < m; m0 += SMALL_M) {   /* blocks of 64 rows */
    int64_t mb = m - m0 < SMALL_M ? m - m0 : SMALL_M;
    for (int s = 0; s < nterm; s++) ts[s].a = a0[s] + m0 * ts[s].lda;
    small_block(mb, n, ts, nterm, e, c + m0 * ldc, ldc, At);
  }
  if (in_par) free(At);
  else ag_free(At, bytes);
  return 1;
}

int agt_sgemm_small(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (ta) return 0;
  /* W(r, k): for A W^T, b is W (n x k, rows ldb apart); for A B, b is B (k x n), W = B^T */
  term t = {a, lda, b, tb ? ldb : 1, tb ? 1 : ldb, k};
  epilogue e = {alpha, beta, NULL};
  return small_terms(m, n, &t, 1, &e, c, ldc);
}

int agt_sgemm_small_nt2(int64_t m, int64_t n, const float *a1, int64_t lda1, const float *w1, int64_t ldw1,
                        int64_t k1, const float *a2, int64_t lda2, const float *w2, int64_t ldw2, int64_t k2,
                        float beta, const float *bias, float *c, int64_t ldc) {
  term ts[2] = {{a1, lda1, w1, ldw1, 1, k1}, {a2, lda2, w2, ldw2, 1, k2}};
  epilogue e = {1.0f, beta, bias};
  return small_terms(m, n, ts, 2, &e, c, ldc);
}

int agt_sgemm_small_nn2(int64_t m, int64_t k, const float *a, int64_t lda, const float *b1, int64_t ldb1, int64_t n1,
                        float *c1, int64_t ldc1, const float *b2, int64_t ldb2, int64_t n2, float *c2, int64_t ldc2) {
  if (m > 2 * SMALL_M || m <= 0 || k <= 0 || n1 <= 0 || n2 <= 0 || omp_in_parallel() || !agt_cpu_avx512()) return 0;
  int mv = (int)(((m < SMALL_M ? m : SMALL_M) + 15) / 16), r = tile_rows(mv);
  if ((n1 + r - 1) / r + (n2 + r - 1) / r < 4) return 0;
  int64_t bytes = (int64_t)sizeof(float) * k * 16 * mv;
  float *At = ag_alloc(bytes);
  if (!At) return 0;
  /* W(r, k) = B(k, r): rows 1 apart, k ldb apart */
  term t1 = {a, lda, b1, 1, ldb1, k}, t2 = {a, lda, b2, 1, ldb2, k};
  for (int64_t m0 = 0; m0 < m; m0 += SMALL_M) {
    int64_t mb = m - m0 < SMALL_M ? m - m0 : SMALL_M;
    pair_block(mb, k, a + m0 * lda, lda, &t1, n1, c1 + m0 * ldc1, ldc1, &t2, n2, c2 + m0 * ldc2, ldc2, At);
  }
  ag_free(At, bytes);
  return 1;
}
