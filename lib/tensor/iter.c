/* iter.c: see iter.h. */
#include "iter.h"
#include <omp.h>
#include <string.h>

void agt_iter_init(agt_iter *it, int nops, ag_tensor **ops) {
  ag_tensor *out = ops[0];
  int nd = out->ndim;
  it->nops = nops;
  for (int k = 0; k < nops; k++) memset(it->strides[k], 0, (nd > 0 ? nd : 1) * sizeof(int64_t));
  for (int k = 0; k < nops; k++) {
    ag_tensor *t = ops[k];
    if (!t) continue;
    it->base[k] = agt_ptr(t);
    it->esize[k] = agt_dtype_size(t->scalar_type);
    int shift = nd - t->ndim;
    for (int d = 0; d < t->ndim; d++)
      it->strides[k][d + shift] = t->sizes[d] == 1 ? 0 : t->strides[d];
  }
  /* drop size-1 dims, then merge dims that are contiguous for every operand */
  int n = 0;
  for (int d = 0; d < nd; d++) {
    if (out->sizes[d] == 1) continue;
    it->sizes[n] = out->sizes[d];
    for (int k = 0; k < nops; k++) it->strides[k][n] = it->strides[k][d];
    n++;
  }
  if (n == 0) {
    it->sizes[0] = 1;
    for (int k = 0; k < nops; k++) it->strides[k][0] = 0;
    n = 1;
  }
  int m = 0;
  for (int d = 1; d < n; d++) {
    bool merge = true;
    for (int k = 0; k < nops; k++)
      if (it->strides[k][m] != it->strides[k][d] * it->sizes[d]) { merge = false; break; }
    if (merge) {
      it->sizes[m] *= it->sizes[d];
      for (int k = 0; k < nops; k++) it->strides[k][m] = it->strides[k][d];
    } else {
      m++;
      it->sizes[m] = it->sizes[d];
      for (int k = 0; k < nops; k++) it->strides[k][m] = it->strides[k][d];
    }
  }
  it->ndim = m + 1;
}

void agt_iter_set_scalar(agt_iter *it, int k, void *data, int esize) {
  it->base[k] = data;
  it->esize[k] = esize;
  for (int d = 0; d < it->ndim; d++) it->strides[k][d] = 0;
}

static void run_range(const agt_iter *it, agt_loop_ctx_fn fn, void *ctx, int64_t begin, int64_t end) {
  int nd = it->ndim, nops = it->nops;
  int64_t idx[AG_MAX_DIMS], rem = begin;
  for (int d = nd - 1; d >= 0; d--) { idx[d] = rem % it->sizes[d]; rem /= it->sizes[d]; }
  int64_t inner = it->sizes[nd - 1];
  int64_t s[AGT_ITER_MAX_OPS];
  for (int k = 0; k < nops; k++) s[k] = it->strides[k][nd - 1];
  while (begin < end) {
    char *p[AGT_ITER_MAX_OPS];
    for (int k = 0; k < nops; k++) {
      int64_t off = 0;
      for (int d = 0; d < nd; d++) off += idx[d] * it->strides[k][d];
      p[k] = it->base[k] + off * it->esize[k];
    }
    int64_t n = inner - idx[nd - 1];
    if (n > end - begin) n = end - begin;
    fn(ctx, n, p, s);
    begin += n;
    idx[nd - 1] += n;
    for (int d = nd - 1; d > 0 && idx[d] >= it->sizes[d]; d--) { idx[d] = 0; idx[d - 1]++; }
  }
}

void agt_iter_run_ctx(const agt_iter *it, agt_loop_ctx_fn fn, void *ctx, bool parallel) {
  int64_t total = 1;
  for (int d = 0; d < it->ndim; d++) total *= it->sizes[d];
  if (total == 0) return;
  int nt = !parallel || total < AG_PARALLEL_GRAIN ? 1 : omp_get_max_threads();
  if (nt <= 1) {
    run_range(it, fn, ctx, 0, total);
    return;
  }
  #pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    int64_t chunk = (total + n - 1) / n;
    chunk = (chunk + 15) & ~(int64_t)15;       /* keep chunks cache-line friendly */
    int64_t b = t * chunk, e = b + chunk < total ? b + chunk : total;
    if (b < e) run_range(it, fn, ctx, b, e);
  }
}

/* A context-free loop rides the context walk: ctx points at the function pointer. */
static void call_plain(void *ctx, int64_t n, char **p, const int64_t *s) {
  (*(const agt_loop_fn *)ctx)(n, p, s);
}

void agt_iter_run(const agt_iter *it, agt_loop_fn fn) {
  agt_iter_run_ctx(it, call_plain, &fn, true);
}
