/* error.c: the thread-local error message behind ag_last_error(). */
#include "internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[2048];

const char *ag_last_error(void) { return last_error; }

void ag_set_error(const char *msg) {
  snprintf(last_error, sizeof last_error, "%s", msg ? msg : "");
}

static void vset(const char *fmt, va_list ap) { vsnprintf(last_error, sizeof last_error, fmt, ap); }

void *agt_fail(const char *fmt, ...) {
  va_list ap; va_start(ap, fmt); vset(fmt, ap); va_end(ap);
  return NULL;
}

int agt_failc(const char *fmt, ...) {
  va_list ap; va_start(ap, fmt); vset(fmt, ap); va_end(ap);
  return -1;
}

char *agt_shape_str(int ndim, const int64_t *sizes, char *buf) {
  int n = 0;
  buf[n++] = '[';
  for (int i = 0; i < ndim && n < 200; i++)
    n += snprintf(buf + n, 256 - n, i ? ", %lld" : "%lld", (long long)sizes[i]);
  buf[n++] = ']';
  buf[n] = 0;
  return buf;
}
