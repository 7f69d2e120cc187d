/* test_alloc.c: the allocator's live-byte count (what ag.memory_allocated() reports and
 * what the Lua layer drives its GC from) goes up with each storage and returns to where
 * it started once every tensor and view is released, also after the cache is emptied. */
#include "ag_tensor.h"
#include <stdio.h>

#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); return 1; } } while (0)

int main(void) {
  ag_alloc_stats *st = ag_alloc_stats_get();
  int64_t start = ag_memory_allocated();
  CHECK(st->live_bytes == start, "ag_alloc_stats_get()->live_bytes disagrees with ag_memory_allocated()");

  int64_t s1[2] = {100, 250};                  /* 100,000 bytes of float32 */
  ag_tensor *a = agt_full(2, s1, 1.5, AG_FLOAT32);
  CHECK(a != NULL, "agt_full: %s", ag_last_error());
  int64_t after_a = ag_memory_allocated();
  CHECK(after_a - start >= 100000, "live bytes grew by %lld, expected >= 100000", (long long)(after_a - start));

  int64_t s2[1] = {1000};
  ag_tensor *b = agt_full(1, s2, 2.0, AG_FLOAT64);    /* 8,000 bytes */
  CHECK(b != NULL, "agt_full: %s", ag_last_error());
  CHECK(ag_memory_allocated() - after_a >= 8000, "second tensor not counted");

  /* views allocate no storage */
  int64_t before_view = ag_memory_allocated();
  ag_tensor *v = agt_narrow(a, 1, 2, 10);
  CHECK(v != NULL, "agt_narrow: %s", ag_last_error());
  ag_tensor *tt = agt_transpose(a, 1, 2);
  CHECK(tt != NULL, "agt_transpose: %s", ag_last_error());
  CHECK(ag_memory_allocated() == before_view, "a view allocated %lld bytes",
        (long long)(ag_memory_allocated() - before_view));

  /* results of ops are counted, and released */
  ag_tensor *c = agt_binary(AG_OP_ADD, a, a);
  CHECK(c != NULL, "agt_binary: %s", ag_last_error());
  ag_tensor *d = agt_matmul(tt, a);              /* [250,100] x [100,250] */
  CHECK(d != NULL, "agt_matmul: %s", ag_last_error());
  CHECK(ag_memory_allocated() > before_view, "op results not counted");
  agt_release(c);
  agt_release(d);

  agt_release(a);                                /* the views keep the storage alive */
  CHECK(ag_memory_allocated() > start, "storage freed while views still use it");
  agt_release(v);
  agt_release(tt);
  agt_release(b);
  CHECK(ag_memory_allocated() == start, "live bytes %lld after releasing everything, expected %lld",
        (long long)ag_memory_allocated(), (long long)start);

  /* a freed buffer sits in the cache, not in live_bytes; emptying the cache keeps it at start */
  CHECK(st->cached_bytes > 0, "freed buffers were not cached");
  ag_tensor *e = agt_full(2, s1, 0.0, AG_FLOAT32);   /* reuses a cached block */
  CHECK(e != NULL, "agt_full: %s", ag_last_error());
  agt_release(e);
  ag_empty_cache();
  CHECK(st->cached_bytes == 0, "cache not emptied: %lld bytes", (long long)st->cached_bytes);
  CHECK(ag_memory_allocated() == start, "live bytes %lld after empty_cache", (long long)ag_memory_allocated());
  CHECK(st->peak_bytes >= after_a, "peak_bytes below a value seen");

  printf("allocator: byte count back to %lld\n", (long long)start);
  return 0;
}
