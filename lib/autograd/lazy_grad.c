/* lazy_grad.c: deferred weight gradients of the form sum_k A_k^T B_k.
 * A recurrent cell run T times in a Lua loop gives its weight T gradient contributions
 * dG_t^T x_t, each a GEMM with an inner size of only the batch (32), whose output (the whole
 * weight, 1.5 MB for an LSTM(128, 256)) is written and then added into the running sum.
 * Instead, a formula may hand the engine the two factors: their rows are stacked in chunks
 * kept on the leaf's AccumulateGrad node, and when that node runs one GEMM per chunk (an
 * inner size of CHUNK_ROWS instead of the batch) adds them up. Chunks come from ag's caching
 * allocator, so a training loop reuses the same memory every step (no page faults), and a
 * long sequence is folded into the sum every MAX_CHUNKS chunks, so memory stays bounded.
 * Only first-order backward (not create_graph), exact shape and dtype matches, and leaves'
 * AccumulateGrad nodes take this path; anything else gets the ordinary gradient. */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

enum { CHUNK_ROWS = 512, MAX_CHUNKS = 8 };

typedef struct aga_lazy {
  int dtype, es;
  int64_t M, N;
  int nchunks;
  int64_t rows[MAX_CHUNKS];      /* rows filled in each chunk */
  char *a[MAX_CHUNKS], *b[MAX_CHUNKS];   /* CHUNK_ROWS x M and CHUNK_ROWS x N, row-major */
} aga_lazy;

static int64_t a_bytes(const aga_lazy *z) { return CHUNK_ROWS * z->M * z->es; }
static int64_t b_bytes(const aga_lazy *z) { return CHUNK_ROWS * z->N * z->es; }

static void drop_chunks(aga_lazy *z) {
  for (int c = 0; c < z->nchunks; c++) {
    ag_free(z->a[c], a_bytes(z));
    ag_free(z->b[c], b_bytes(z));
  }
  z->nchunks = 0;
}

void aga_lazy_free(aga_node *n) {
  if (!n->lazy) return;
  drop_chunks(n->lazy);
  free(n->lazy);
  n->lazy = NULL;
}

/* the pending gradient += sum over the chunks of A^T B (a new tensor when there is none or
 * it is shared); the chunks are given back */
static int flush(aga_node *n) {
  aga_lazy *z = n->lazy;
  if (!z || z->nchunks == 0) return 0;
  ag_tensor *buf = n->grads ? n->grads[0] : NULL;
  int own = buf && buf->refcount == 1 && buf->storage->refcount == 1 && !buf->meta && agt_is_contiguous(buf) &&
            buf->scalar_type == z->dtype && buf->ndim == 2 && buf->sizes[0] == z->M && buf->sizes[1] == z->N;
  ag_tensor *out = own ? buf : agt_new_contig(2, (int64_t[]){z->M, z->N}, z->dtype);
  if (!out) return -1;
  for (int c = 0; c < z->nchunks; c++) {
    int acc = own || c > 0;
    if (z->dtype == AG_FLOAT32)
      agt_sgemm(1, 0, z->M, z->N, z->rows[c], 1.0f, (const float *)z->a[c], z->M, (const float *)z->b[c], z->N,
                acc ? 1.0f : 0.0f, (float *)agt_ptr(out), z->N);
    else
      agt_dgemm(1, 0, z->M, z->N, z->rows[c], 1.0, (const double *)z->a[c], z->M, (const double *)z->b[c], z->N,
                acc ? 1.0 : 0.0, (double *)agt_ptr(out), z->N);
  }
  drop_chunks(z);
  if (own) { agt_bump_version(out); return 0; }
  int rc = aga_add_pending(n, 0, out);
  agt_release(out);
  return rc;
}

int aga_lazy_materialize(aga_node *n) {
  int rc = flush(n);
  aga_lazy_free(n);
  return rc;
}

/* rows [r0, r0 + nr) of a 2-D tensor (any strides) -> a row-major buffer of width w */
static void copy_rows(char *dst, const ag_tensor *t, int64_t r0, int64_t nr, int64_t w, int es) {
  const char *p = agt_ptr((ag_tensor *)t);
  int64_t rs = t->strides[0] * es, cs = t->strides[1] * es;
  #pragma omp parallel for schedule(static) if (nr * w >= 16384)
  for (int64_t i = 0; i < nr; i++) {
    const char *src = p + (r0 + i) * rs;
    if (cs == es) memcpy(dst + i * w * es, src, (size_t)(w * es));
    else
      for (int64_t j = 0; j < w; j++) memcpy(dst + (i * w + j) * es, src + j * cs, (size_t)es);
  }
}

int aga_defer_outer(aga_node *n, int i, ag_tensor *A, ag_tensor *B) {
  aga_node *next = n->next[i].node;
  if (aga_grad_mode || !next || next->kind != AGA_KIND(K_ACCUMULATE) || !A || !B) return 0;
  ag_tensor *leaf = next->leaf;
  if (!leaf || A->ndim != 2 || B->ndim != 2 || A->sizes[0] != B->sizes[0] || A->scalar_type != B->scalar_type ||
      A->scalar_type != leaf->scalar_type || !agt_is_float(A->scalar_type) || leaf->ndim != 2 ||
      leaf->sizes[0] != A->sizes[1] || leaf->sizes[1] != B->sizes[1])
    return 0;
  int64_t R = A->sizes[0];
  aga_lazy *z = next->lazy;
  if (!z) {
    if (!(z = calloc(1, sizeof *z))) return 0;
    z->dtype = A->scalar_type; z->es = agt_dtype_size(z->dtype);
    z->M = A->sizes[1]; z->N = B->sizes[1];
    next->lazy = z;
  }
  for (int64_t r = 0; r < R;) {
    if (z->nchunks == 0 || z->rows[z->nchunks - 1] == CHUNK_ROWS) {
      if (z->nchunks == MAX_CHUNKS && flush(next)) return -1;
      int c = z->nchunks;
      z->a[c] = ag_alloc(a_bytes(z));
      z->b[c] = z->a[c] ? ag_alloc(b_bytes(z)) : NULL;
      if (!z->b[c]) {
        if (z->a[c]) ag_free(z->a[c], a_bytes(z));
        return agt_failc("ag: out of memory in the autograd engine (deferred weight gradient)");
      }
      z->rows[c] = 0;
      z->nchunks++;
    }
    int c = z->nchunks - 1;
    int64_t take = CHUNK_ROWS - z->rows[c] < R - r ? CHUNK_ROWS - z->rows[c] : R - r;
    copy_rows(z->a[c] + z->rows[c] * z->M * z->es, A, r, take, z->M, z->es);
    copy_rows(z->b[c] + z->rows[c] * z->N * z->es, B, r, take, z->N, z->es);
    z->rows[c] += take;
    r += take;
  }
  return 1;
}
