/* alloc.c: the caching allocator. Freed buffers are kept in free lists by size class
 * (quarter-power-of-two steps) so a training step reuses warm pages instead of faulting
 * in fresh ones. live_bytes counts what storages hold; the Lua layer drives its GC
 * from that count. */
#include "internal.h"
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define NCLASSES 200
#define CACHE_LIMIT ((int64_t)1 << 30)       /* keep at most 1 GiB of freed buffers */
#define MAX_CACHED_BLOCK ((int64_t)1 << 28)  /* larger blocks go straight back to the OS */

typedef struct free_block { struct free_block *next; } free_block;

static free_block *free_lists[NCLASSES];
static ag_alloc_stats stats = {.soft_limit = (int64_t)256 << 20};

ag_alloc_stats *ag_alloc_stats_get(void) { return &stats; }
int64_t ag_memory_allocated(void) { return stats.live_bytes; }

/* Size class of n bytes: 64-byte granules up to 512, then 4 steps per power of two. */
static int size_class(int64_t n, int64_t *rounded) {
  if (n <= 512) {
    int64_t g = (n + 63) / 64;
    if (g == 0) g = 1;
    *rounded = g * 64;
    return (int)g - 1;                       /* classes 0..7 */
  }
  int k = 63 - __builtin_clzll((unsigned long long)(n - 1));   /* 2^k < n <= 2^(k+1) */
  int64_t step = (int64_t)1 << (k - 2);
  int64_t q = (n - ((int64_t)1 << k) + step - 1) / step;       /* 1..4 */
  *rounded = ((int64_t)1 << k) + q * step;
  int c = 8 + (k - 9) * 4 + (int)(q - 1);
  return c < NCLASSES ? c : -1;
}

static int64_t hard_limit = 0;   /* 0: none */
void ag_set_memory_hard_limit(int64_t bytes) { hard_limit = bytes > 0 ? bytes : 0; }
int64_t ag_memory_hard_limit(void) { return hard_limit; }

void *ag_alloc(int64_t nbytes) {
  int64_t rounded;
  int c = size_class(nbytes, &rounded);
  void *p = NULL;
  if (hard_limit && stats.live_bytes + rounded > hard_limit) {
    agt_fail("ag: out of memory allocating %lld bytes (%lld bytes live, hard limit %lld)",
             (long long)nbytes, (long long)stats.live_bytes, (long long)hard_limit);
    return NULL;
  }
  if (c >= 0 && free_lists[c]) {
    free_block *b = free_lists[c];
    free_lists[c] = b->next;
    stats.cached_bytes -= rounded;
    p = b;
  } else {
    if (posix_memalign(&p, 64, (size_t)rounded) != 0) p = NULL;
    if (!p) {
      ag_empty_cache();
      if (posix_memalign(&p, 64, (size_t)rounded) != 0) p = NULL;
    }
    if (!p) {
      agt_fail("ag: out of memory allocating %lld bytes (%lld bytes live)",
               (long long)nbytes, (long long)stats.live_bytes);
      return NULL;
    }
  }
  stats.live_bytes += rounded;
  stats.n_allocs++;
  if (stats.live_bytes > stats.peak_bytes) stats.peak_bytes = stats.live_bytes;
  if (stats.live_bytes > stats.soft_limit) stats.over_limit = 1;
  return p;
}

void ag_free(void *p, int64_t nbytes) {
  if (!p) return;
  int64_t rounded;
  int c = size_class(nbytes, &rounded);
  stats.live_bytes -= rounded;
  if (c >= 0 && rounded <= MAX_CACHED_BLOCK && stats.cached_bytes + rounded <= CACHE_LIMIT) {
    free_block *b = p;
    b->next = free_lists[c];
    free_lists[c] = b;
    stats.cached_bytes += rounded;
  } else {
    free(p);
  }
}

void ag_empty_cache(void) {
  for (int c = 0; c < NCLASSES; c++) {
    while (free_lists[c]) {
      free_block *b = free_lists[c];
      free_lists[c] = b->next;
      free(b);
    }
  }
  stats.cached_bytes = 0;
}

/* threads: one OpenMP pool for everything; OpenBLAS stays single-threaded (gemm.c) */
void ag_set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
}
int ag_get_num_threads(void) { return omp_get_max_threads(); }
