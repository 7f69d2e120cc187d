/* gemm.c: every float GEMM in ag goes through here. OpenBLAS runs single-threaded and ag
 * splits a large product across its own OpenMP threads, so the machine has one thread pool:
 * with OpenBLAS's pthread pool next to OpenMP's, the idle pool's threads spin (sched_yield)
 * on the cores the busy one needs (the MLP's optimizer step took 4x longer right after a GEMM).
 * A product is split along the longer side of C into one block per thread, each a plain cblas
 * call on a sub-matrix, so results do not depend on the number of threads beyond BLAS's own
 * blocking. Calls made from inside a parallel region run whole on their thread. A float32
 * product with a short left operand (at most 64 rows) takes gemm_small.c's kernels instead. */
#include "internal.h"
#include <cblas.h>
#include <omp.h>

extern void openblas_set_num_threads(int);

/* below this many multiply-adds one thread is faster than waking the others (OpenBLAS's own
 * threshold is 4 * 65536) */
#define GEMM_SPLIT_MNK ((double)(1 << 18))

__attribute__((constructor)) static void gemm_single_threaded_blas(void) { openblas_set_num_threads(1); }

static inline enum CBLAS_TRANSPOSE tr(int t) { return t ? CblasTrans : CblasNoTrans; }

/* Number of blocks and which side to split: columns (n) when C is wider than tall, else rows. */
static int plan(int64_t m, int64_t n, int64_t k, int align, int *split_cols) {
  if (omp_in_parallel() || (double)m * n * k < GEMM_SPLIT_MNK) return 1;
  int nt = omp_get_max_threads();
  *split_cols = n >= m;
  int64_t len = *split_cols ? n : m, unit = *split_cols ? align : 4;
  int64_t most = len / unit;
  if (most < nt) nt = (int)(most > 0 ? most : 1);
  return nt;
}

/* [lo, hi) of block i of nt over len, in multiples of unit */
static inline void block(int64_t len, int64_t unit, int nt, int i, int64_t *lo, int64_t *hi) {
  int64_t units = (len + unit - 1) / unit;
  int64_t a = units * i / nt, b = units * (i + 1) / nt;
  *lo = a * unit < len ? a * unit : len;
  *hi = b * unit < len ? b * unit : len;
}

#define GEMM_IMPL(NAME, T, CBLAS, ALIGN, SMALL)                                                     \
  void NAME(int ta, int tb, int64_t m, int64_t n, int64_t k, T alpha, const T *a, int64_t lda,     \
            const T *b, int64_t ldb, T beta, T *c, int64_t ldc) {                                  \
    if (m <= 0 || n <= 0) return;                                                                  \
    if (SMALL(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;                       \
    int split_cols = 0, nt = plan(m, n, k, ALIGN, &split_cols);                                    \
    if (nt <= 1) {                                                                                 \
      CBLAS(CblasRowMajor, tr(ta), tr(tb), (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, \
            beta, c, (int)ldc);                                                                    \
      return;                                                                                      \
    }                                                                                              \
    _Pragma("omp parallel for num_threads(nt) schedule(static, 1)")                                \
    for (int i = 0; i < nt; i++) {                                                                 \
      int64_t lo, hi;                                                                              \
      if (split_cols) {                                                                            \
        block(n, ALIGN, nt, i, &lo, &hi);                                                          \
        if (hi > lo)                                                                               \
          CBLAS(CblasRowMajor, tr(ta), tr(tb), (int)m, (int)(hi - lo), (int)k, alpha, a, (int)lda,  \
                tb ? b + lo * ldb : b + lo, (int)ldb, beta, c + lo, (int)ldc);                     \
      } else {                                                                                     \
        block(m, 4, nt, i, &lo, &hi);                                                              \
        if (hi > lo)                                                                               \
          CBLAS(CblasRowMajor, tr(ta), tr(tb), (int)(hi - lo), (int)n, (int)k, alpha,               \
                ta ? a + lo : a + lo * lda, (int)lda, b, (int)ldb, beta, c + lo * ldc, (int)ldc);  \
      }                                                                                            \
    }                                                                                              \
  }

#define NO_SMALL(...) 0
GEMM_IMPL(agt_sgemm, float, cblas_sgemm, 16, agt_sgemm_small)
GEMM_IMPL(agt_dgemm, double, cblas_dgemm, 8, NO_SMALL)
