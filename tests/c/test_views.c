/* test_views.c: views share storage and hold a reference to it; writes through a view are
 * seen by the base; refcounts of tensors and storage go back down on release; in-place
 * writes bump the version shared by all views; misuse returns NULL with a message. */
#include "ag_tensor.h"
#include <stdio.h>
#include <string.h>

#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); return 1; } } while (0)

static double at(ag_tensor *t, int64_t i, int64_t j) {
  int64_t idx[2] = {i, j};
  double v = -1;
  agt_get_item(t, 2, idx, &v);
  return v;
}

int main(void) {
  int64_t start = ag_memory_allocated();
  double data[6] = {1, 2, 3, 4, 5, 6};
  int64_t sz[2] = {2, 3};
  ag_tensor *a = agt_from_doubles(data, 2, sz, AG_FLOAT32);
  CHECK(a != NULL, "agt_from_doubles: %s", ag_last_error());
  CHECK(a->refcount == 1 && a->storage->refcount == 1, "fresh tensor refcounts %lld/%lld",
        (long long)a->refcount, (long long)a->storage->refcount);

  /* transpose: same storage, swapped strides, not contiguous */
  ag_tensor *t = agt_transpose(a, 1, 2);
  CHECK(t != NULL, "agt_transpose: %s", ag_last_error());
  CHECK(t->storage == a->storage, "transpose copied the storage");
  CHECK(a->storage->refcount == 2, "storage refcount %lld, expected 2", (long long)a->storage->refcount);
  CHECK(t->sizes[0] == 3 && t->sizes[1] == 2 && t->strides[0] == 1 && t->strides[1] == 3, "transpose shape/strides");
  CHECK(!agt_is_contiguous(t) && agt_is_contiguous(a), "contiguity flags");
  CHECK(at(t, 3, 1) == 3 && at(t, 1, 2) == 4, "transpose values");

  /* select and narrow (1-based) */
  ag_tensor *row = agt_select(a, 1, 2);          /* [4, 5, 6] */
  CHECK(row != NULL, "agt_select: %s", ag_last_error());
  CHECK(row->ndim == 1 && row->sizes[0] == 3 && row->offset == 3, "select shape/offset");
  ag_tensor *col = agt_narrow(a, 2, 2, 2);       /* [[2, 3], [5, 6]] */
  CHECK(col != NULL, "agt_narrow: %s", ag_last_error());
  CHECK(col->offset == 1 && col->sizes[1] == 2 && at(col, 2, 2) == 6, "narrow offset/values");
  CHECK(a->storage->refcount == 4, "storage refcount %lld, expected 4", (long long)a->storage->refcount);

  /* a write through a view is seen by the base and bumps the shared version */
  int64_t v0 = a->storage->version;
  int64_t i1[1] = {1};
  CHECK(agt_set_item(row, 1, i1, 40) == 0, "agt_set_item: %s", ag_last_error());
  CHECK(at(a, 2, 1) == 40 && at(t, 1, 2) == 40, "write through a view not seen");
  CHECK(a->storage->version > v0 && t->storage->version == a->storage->version, "version not bumped");
  CHECK(agt_fill_(col, 0) == 0, "agt_fill_: %s", ag_last_error());
  CHECK(at(a, 1, 1) == 1 && at(a, 1, 3) == 0 && at(a, 2, 2) == 0, "fill_ through narrow");

  /* view of a contiguous tensor shares; view of a non-contiguous one fails, reshape copies */
  int64_t s6[1] = {6};
  ag_tensor *flat = agt_view(a, 1, s6);
  CHECK(flat != NULL && flat->storage == a->storage, "view of a contiguous tensor");
  ag_tensor *bad = agt_view(t, 1, s6);
  CHECK(bad == NULL && strstr(ag_last_error(), "reshape") != NULL,
        "view of a transposed tensor should fail suggesting reshape, got: %s", ag_last_error());
  ag_tensor *r = agt_reshape(t, 1, s6);
  CHECK(r != NULL && r->storage != a->storage, "reshape of a non-contiguous tensor should copy");

  /* retain/release on the header */
  agt_retain(row);
  CHECK(row->refcount == 2, "retain");
  agt_release(row);
  CHECK(row->refcount == 1, "release");

  /* errors are returned, never raised: out-of-range 1-based positions */
  CHECK(agt_select(a, 1, 3) == NULL && strlen(ag_last_error()) > 0, "select out of range accepted");
  CHECK(agt_narrow(a, 2, 3, 2) == NULL, "narrow past the end accepted");
  CHECK(agt_transpose(a, 0, 1) == NULL && strstr(ag_last_error(), "1") != NULL, "dim 0 accepted");

  /* releasing the base first leaves the views valid */
  agt_release(a);
  CHECK(flat->storage->refcount == 4, "storage refcount %lld after base release, expected 4",
        (long long)flat->storage->refcount);
  CHECK(at(t, 2, 1) == 0, "view value after releasing the base");
  agt_release(t);
  agt_release(row);
  agt_release(col);
  agt_release(flat);
  agt_release(r);
  CHECK(ag_memory_allocated() == start, "live bytes %lld, expected %lld", (long long)ag_memory_allocated(),
        (long long)start);
  printf("views: storage shared and released\n");
  return 0;
}
