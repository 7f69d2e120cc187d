/* lazy_grad.c: deferred weight gradients of the form sum_k A_k^T B_k.
 * A recurrent cell run T times in a Lua loop gives its weight T gradient contributions
 * dG_t^T x_t, each a GEMM with an inner size of only the batch (32), whose output (the whole
 * weight, 1.5 MB for an LSTM(128, 256)) is written and then added into the running sum.
 * Instead, a formula may hand the engine the factors: their rows are stacked in chunks, and
 * when one of the leaves' AccumulateGrad nodes runs, one GEMM per chunk (an inner size of
 * CHUNK_ROWS instead of the batch) gives every gradient at once.
 * One group serves the targets that share A: an LSTM cell's w_ih and w_hh (dG^T x and
 * dG^T h) and its biases (dG^T 1, the column sums of dG). Their B factors sit side by side
 * in one row ([x | h | 1]), so dG is stored once and packed once by the GEMM, and the
 * biases need no per-step reduction. The first target node to run computes the group's
 * product and adds each target's columns to that node's pending gradient.
 * Chunks come from ag's caching allocator, so a training loop reuses the same memory every
 * step (no page faults), and a long sequence is folded into the sums every MAX_CHUNKS
 * chunks, so memory stays bounded. Only first-order backward (not create_graph), exact
 * shape and dtype matches, and leaves' AccumulateGrad nodes take this path; anything else
 * gets the ordinary gradient. The engine retains every node of a pass until it ends, so the
 * group's node pointers stay valid; each node leaves its group when the pass drops it. */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

enum { CHUNK_ROWS = 512, MAX_CHUNKS = 8, MAX_TARGETS = 4 };

typedef struct lazy_group {
  int refs;                         /* member nodes still pointing here */
  int dtype, es;
  int64_t M, W;                     /* A's width (the gradients' rows); B's row width */
  int ntargets, has_ones;           /* has_ones: B's last column is 1 (vector targets) */
  struct { aga_node *node; int64_t col0, ncols; int vec; } t[MAX_TARGETS];
  int nchunks;
  int64_t rows[MAX_CHUNKS];         /* rows filled in each chunk */
  char *a[MAX_CHUNKS], *b[MAX_CHUNKS];   /* CHUNK_ROWS x M and CHUNK_ROWS x W, row-major */
} lazy_group;

struct aga_lazy { lazy_group *g; };

static int64_t a_bytes(const lazy_group *g) { return CHUNK_ROWS * g->M * g->es; }
static int64_t b_bytes(const lazy_group *g) { return CHUNK_ROWS * g->W * g->es; }

static void drop_chunks(lazy_group *g) {
  for (int c = 0; c < g->nchunks; c++) {
    ag_free(g->a[c], a_bytes(g));
    ag_free(g->b[c], b_bytes(g));
  }
  g->nchunks = 0;
}

void aga_lazy_free(aga_node *n) {
  if (!n->lazy) return;
  lazy_group *g = n->lazy->g;
  for (int k = 0; k < g->ntargets; k++)
    if (g->t[k].node == n) g->t[k].node = NULL;
  if (--g->refs == 0) {
    drop_chunks(g);
    free(g);
  }
  free(n->lazy);
  n->lazy = NULL;
}

/* columns [col0, col0 + ncols) of the M x W product as a new contiguous [M, ncols] (or [M]) */
static ag_tensor *columns(const ag_tensor *prod, int64_t M, int64_t W, int64_t col0, int64_t ncols, int vec, int dtype,
                          int es) {
  ag_tensor *t = vec ? agt_new_contig(1, (int64_t[]){M}, dtype) : agt_new_contig(2, (int64_t[]){M, ncols}, dtype);
  if (!t) return NULL;
  const char *src = agt_ptr((ag_tensor *)prod);
  char *dst = agt_ptr(t);
  for (int64_t r = 0; r < M; r++) memcpy(dst + r * ncols * es, src + (r * W + col0) * es, (size_t)(ncols * es));
  return t;
}

/* every live target's pending gradient += its columns of sum over the chunks of A^T B; the
 * chunks are given back */
static int flush(lazy_group *g) {
  if (g->nchunks == 0) return 0;
  ag_tensor *prod = agt_new_contig(2, (int64_t[]){g->M, g->W}, g->dtype);
  if (!prod) return -1;
  for (int c = 0; c < g->nchunks; c++) {
    if (g->dtype == AG_FLOAT32)
      agt_sgemm(1, 0, g->M, g->W, g->rows[c], 1.0f, (const float *)g->a[c], g->M, (const float *)g->b[c], g->W,
                c > 0 ? 1.0f : 0.0f, (float *)agt_ptr(prod), g->W);
    else
      agt_dgemm(1, 0, g->M, g->W, g->rows[c], 1.0, (const double *)g->a[c], g->M, (const double *)g->b[c], g->W,
                c > 0 ? 1.0 : 0.0, (double *)agt_ptr(prod), g->W);
  }
  drop_chunks(g);
  int rc = 0;
  for (int k = 0; k < g->ntargets && !rc; k++) {
    if (!g->t[k].node) continue;
    ag_tensor *piece = g->ntargets == 1 && !g->has_ones ? (agt_retain(prod), prod)
                       : columns(prod, g->M, g->W, g->t[k].col0, g->t[k].ncols, g->t[k].vec, g->dtype, g->es);
    rc = piece ? aga_add_pending(g->t[k].node, 0, piece) : -1;
    agt_release(piece);
  }
  agt_release(prod);
  return rc;
}

int aga_lazy_materialize(aga_node *n) {
  int rc = flush(n->lazy->g);
  aga_lazy_free(n);
  return rc;
}

/* row r of a 2-D tensor (any strides) -> dst */
static void copy_row(char *dst, const ag_tensor *t, int64_t r, int es) {
  const char *src = (const char *)agt_ptr((ag_tensor *)t) + r * t->strides[0] * es;
  int64_t w = t->sizes[1], cs = t->strides[1] * es;
  if (cs == es) memcpy(dst, src, (size_t)(w * es));
  else
    for (int64_t j = 0; j < w; j++) memcpy(dst + j * es, src + j * cs, (size_t)es);
}

/* the node behind input i when it is a leaf's AccumulateGrad whose leaf has the shape
 * (rows, cols) (cols < 0: a vector of rows) and dtype; else NULL */
static aga_node *accumulator(aga_node *n, int i, int64_t rows, int64_t cols, int dtype) {
  aga_node *next = n->next[i].node;
  if (!next || next->kind != AGA_KIND(K_ACCUMULATE) || !next->leaf) return NULL;
  ag_tensor *leaf = next->leaf;
  if (leaf->scalar_type != dtype) return NULL;
  if (cols < 0) return leaf->ndim == 1 && leaf->sizes[0] == rows ? next : NULL;
  return leaf->ndim == 2 && leaf->sizes[0] == rows && leaf->sizes[1] == cols ? next : NULL;
}

int aga_defer_grouped(aga_node *n, ag_tensor *A, int nmat, const int *mat_in, ag_tensor *const *Bs, int nvec,
                      const int *vec_in) {
  int nt = nmat + nvec;
  if (aga_grad_mode || !A || A->ndim != 2 || !agt_is_float(A->scalar_type) || nt < 1 || nt > MAX_TARGETS) return 0;
  int dtype = A->scalar_type;
  int64_t R = A->sizes[0], M = A->sizes[1], W = nvec ? 1 : 0;
  aga_node *nodes[MAX_TARGETS];
  for (int k = 0; k < nmat; k++) {
    ag_tensor *B = Bs[k];
    if (!B || B->ndim != 2 || B->sizes[0] != R || B->scalar_type != dtype) return 0;
    if (!(nodes[k] = accumulator(n, mat_in[k], M, B->sizes[1], dtype))) return 0;
    W += B->sizes[1];
  }
  for (int k = 0; k < nvec; k++)
    if (!(nodes[nmat + k] = accumulator(n, vec_in[k], M, -1, dtype))) return 0;
  for (int k = 0; k < nt; k++)
    for (int j = 0; j < k; j++)
      if (nodes[j] == nodes[k]) return 0;   /* one leaf twice (tied weights): the plain path */
  /* the targets must all be fresh, or all be this same group's targets in the same order */
  lazy_group *g = nodes[0]->lazy ? nodes[0]->lazy->g : NULL;
  if (g) {
    if (g->ntargets != nt || g->dtype != dtype || g->M != M || g->W != W) return 0;
    for (int k = 0; k < nt; k++)
      if (g->t[k].node != nodes[k] || !nodes[k]->lazy || nodes[k]->lazy->g != g) return 0;
  } else {
    for (int k = 0; k < nt; k++)
      if (nodes[k]->lazy) return 0;
    if (!(g = calloc(1, sizeof *g))) return 0;
    g->dtype = dtype; g->es = agt_dtype_size(dtype);
    g->M = M; g->W = W; g->ntargets = nt; g->has_ones = nvec > 0;
    int64_t col = 0;
    for (int k = 0; k < nt; k++) {
      int vec = k >= nmat;
      g->t[k].node = nodes[k];
      g->t[k].vec = vec;
      g->t[k].col0 = vec ? W - 1 : col;
      g->t[k].ncols = vec ? 1 : Bs[k]->sizes[1];
      if (!vec) col += Bs[k]->sizes[1];
    }
    for (int k = 0; k < nt; k++) {
      struct aga_lazy *z = malloc(sizeof *z);
      if (!z) {
        for (int j = 0; j < k; j++) { free(nodes[j]->lazy); nodes[j]->lazy = NULL; }
        free(g);
        return 0;
      }
      z->g = g;
      nodes[k]->lazy = z;
      g->refs++;
    }
  }
  for (int64_t r = 0; r < R;) {
    if (g->nchunks == 0 || g->rows[g->nchunks - 1] == CHUNK_ROWS) {
      if (g->nchunks == MAX_CHUNKS && flush(g)) return -1;
      int c = g->nchunks;
      g->a[c] = ag_alloc(a_bytes(g));
      g->b[c] = g->a[c] ? ag_alloc(b_bytes(g)) : NULL;
      if (!g->b[c]) {
        if (g->a[c]) ag_free(g->a[c], a_bytes(g));
        return agt_failc("ag: out of memory in the autograd engine (deferred weight gradient)");
      }
      g->rows[c] = 0;
      g->nchunks++;
    }
    int c = g->nchunks - 1;
    int64_t take = CHUNK_ROWS - g->rows[c] < R - r ? CHUNK_ROWS - g->rows[c] : R - r;
    /* the rows of A and of [B_1 | B_2 | 1] in one parallel loop */
    char *arow = g->a[c] + g->rows[c] * M * g->es, *brow = g->b[c] + g->rows[c] * W * g->es;
    int es = g->es, ones = g->has_ones;
    #pragma omp parallel for schedule(static) if (take * (M + W) >= 16384)
    for (int64_t i = 0; i < take; i++) {
      copy_row(arow + i * M * es, A, r + i, es);
      char *b = brow + i * W * es;
      for (int k = 0; k < nmat; k++) {
        copy_row(b, Bs[k], r + i, es);
        b += Bs[k]->sizes[1] * es;
      }
      if (ones) agt_store(dtype, b, 1.0);
    }
    g->rows[c] += take;
    r += take;
  }
  return 1;
}

int aga_defer_outer(aga_node *n, int i, ag_tensor *A, ag_tensor *B) {
  return aga_defer_grouped(n, A, 1, &i, &B, 0, NULL);
}
