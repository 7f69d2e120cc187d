/* math_internal.h: helpers shared by the math op family's sources (math_*.c, linalg.c):
 * dim-list checks with the op's own name, the [outer, size, inner] split of a contiguous
 * tensor around one dim, and scoped temporaries. Not part of the API. */
#ifndef AG_MATH_INTERNAL_H
#define AG_MATH_INTERNAL_H
#include "internal.h"
#include "ag_math.h"
#include <stdio.h>
#include <string.h>

/* Check a list of user dims (1-based, negative from the end) against a's rank: each in
 * range and none repeated. Returns 0, or -1 with an error naming op. */
static inline int agm_check_dims(const char *op, const ag_tensor *a, int ndims, const int64_t *dims) {
  bool seen[AG_MAX_DIMS] = {0};
  if (ndims < 0 || ndims > AG_MAX_DIMS) return agt_failc("%s: at most %d dims, got %d", op, AG_MAX_DIMS, ndims);
  for (int i = 0; i < ndims; i++) {
    int d = agt_normalize_dim(op, (int)dims[i], a->ndim);
    if (d < 0) return -1;
    if (a->ndim == 0) continue;
    if (seen[d]) return agt_failc("%s: dim %d appears multiple times in the list of dims", op, d + 1);
    seen[d] = true;
  }
  return 0;
}

/* A contiguous tensor seen as [outer, size, inner] around dim d (0-based). */
static inline void agm_split(const ag_tensor *t, int d, int64_t *outer, int64_t *size, int64_t *inner) {
  int64_t o = 1, in = 1;
  for (int i = 0; i < d; i++) o *= t->sizes[i];
  for (int i = d + 1; i < t->ndim; i++) in *= t->sizes[i];
  *outer = o;
  *size = t->ndim ? t->sizes[d] : 1;
  *inner = in;
}

/* a itself (retained) if contiguous and of dtype dt, else a contiguous copy in dt */
static inline ag_tensor *agm_contig(ag_tensor *a, int dt) {
  if (a->scalar_type != dt) {
    ag_tensor *c = agt_to_dtype(a, dt);
    if (!c || agt_is_contiguous(c)) return c;
    ag_tensor *cc = agt_contiguous(c);
    agt_release(c);
    return cc;
  }
  if (agt_is_contiguous(a)) { agt_retain(a); return a; }
  return agt_contiguous(a);
}

/* Temporaries released together: T(x) registers x (NULL marks the scope failed). */
typedef struct { ag_tensor *t[32]; int n; int failed; } agm_scope;
static inline ag_tensor *agm_keep(agm_scope *s, ag_tensor *x) {
  if (!x) { s->failed = 1; return NULL; }
  if (s->n == 32) { s->failed = 1; agt_release(x); agt_fail("ag: math scope overflow"); return NULL; }
  s->t[s->n++] = x;
  return x;
}
static inline void agm_free(agm_scope *s) { for (int i = 0; i < s->n; i++) agt_release(s->t[i]); s->n = 0; }
/* hand x out of the scope: a new reference */
static inline ag_tensor *agm_out(ag_tensor *x) { if (x) agt_retain(x); return x; }
#endif
