/* random.c: Philox4x32-10, the counter-based generator PyTorch's CUDA backend and JAX use.
 * The whole state is (seed, offset): element i of a fill reads call offset + i/k, so a
 * GPU kernel can reproduce any CPU stream, and fills parallelize without shared state. */
#include "internal.h"
#include <math.h>
#include <omp.h>

static uint64_t rng_seed = 67280421310721ULL, rng_offset = 0;

void agt_manual_seed(uint64_t seed) { rng_seed = seed; rng_offset = 0; }
uint64_t agt_rng_seed(void) { return rng_seed; }
uint64_t agt_rng_offset(void) { return rng_offset; }
void agt_rng_set_state(uint64_t seed, uint64_t offset) { rng_seed = seed; rng_offset = offset; }

static inline void philox(uint32_t key0, uint32_t key1, uint32_t c[4]) {
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ key0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ key1;
    c[0] = n0; c[1] = (uint32_t)p1; c[2] = n2; c[3] = (uint32_t)p0;
    key0 += 0x9E3779B9u; key1 += 0xBB67AE85u;
  }
}

void agt_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]) {
  out[0] = (uint32_t)counter_lo; out[1] = (uint32_t)(counter_lo >> 32);
  out[2] = (uint32_t)counter_hi; out[3] = (uint32_t)(counter_hi >> 32);
  philox((uint32_t)key, (uint32_t)(key >> 32), out);
}

static inline void draw(uint64_t call, uint32_t w[4]) { agt_philox4x32(rng_seed, 0, call, w); }
static inline double u53(uint32_t a, uint32_t b) {        /* uniform in [0, 1) */
  return (double)(((uint64_t)a << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0);
}
static inline float u24(uint32_t a) { return (float)(a >> 8) * (1.0f / 16777216.0f); }

static int check_float(const char *op, ag_tensor *t) {
  if (!agt_is_float(t->scalar_type))
    return agt_failc("%s: expected a floating point tensor, got %s", op, agt_dtype_name(t->scalar_type));
  return 0;
}

/* Fill a tensor element by element (logical order) with f(i); contiguous tensors in parallel. */
#define FILL(T, EXPR)                                                                      \
  do {                                                                                     \
    int64_t n_ = agt_numel(t);                                                            \
    if (agt_is_contiguous(t)) {                                                           \
      T *d_ = (T *)agt_ptr(t);                                                            \
      _Pragma("omp parallel for if(n_ > AG_PARALLEL_GRAIN)")                               \
      for (int64_t i = 0; i < n_; i++) d_[i] = (EXPR);                                    \
    } else {                                                                              \
      ag_tensor *keep_ = t; t = agt_clone(t);                                             \
      if (!t) return -1;                                                                  \
      T *d_ = (T *)agt_ptr(t);                                                            \
      for (int64_t i = 0; i < n_; i++) d_[i] = (EXPR);                                    \
      int rc_ = agt_copy_(keep_, t); agt_release(t); t = keep_;                           \
      if (rc_) return -1;                                                                 \
    }                                                                                     \
  } while (0)

static inline float uniform_f32(uint64_t base, int64_t i) {
  uint32_t w[4]; draw(base + (uint64_t)i / 4, w); return u24(w[i % 4]);
}
static inline double uniform_f64(uint64_t base, int64_t i) {
  uint32_t w[4]; draw(base + (uint64_t)i / 2, w); return u53(w[2 * (i % 2)], w[2 * (i % 2) + 1]);
}
static inline double normal_at(uint64_t base, int64_t i) {
  uint32_t w[4]; draw(base + (uint64_t)i / 2, w);
  double u1 = 1.0 - u53(w[0], w[1]), u2 = u53(w[2], w[3]);     /* u1 in (0, 1] */
  double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
  return (i % 2) ? r * sin(th) : r * cos(th);
}

int agt_uniform_(ag_tensor *t, double low, double high) {
  if (check_float("ag.uniform_", t)) return -1;
  if (!(low <= high)) return agt_failc("ag.uniform_: expects low <= high, got low=%g high=%g", low, high);
  uint64_t base = rng_offset;
  int64_t n = agt_numel(t);
  if (t->scalar_type == AG_FLOAT32) {
    float lo = (float)low, w = (float)(high - low);
    FILL(float, lo + w * uniform_f32(base, i));
    rng_offset += (uint64_t)(n + 3) / 4;
  } else {
    FILL(double, low + (high - low) * uniform_f64(base, i));
    rng_offset += (uint64_t)(n + 1) / 2;
  }
  t->storage->version++;
  return 0;
}

int agt_normal_(ag_tensor *t, double mean, double std) {
  if (check_float("ag.normal_", t)) return -1;
  if (!(std >= 0)) return agt_failc("ag.normal_: expects std >= 0.0, got std=%g", std);
  uint64_t base = rng_offset;
  int64_t n = agt_numel(t);
  if (t->scalar_type == AG_FLOAT32) FILL(float, (float)(mean + std * normal_at(base, i)));
  else FILL(double, mean + std * normal_at(base, i));
  rng_offset += (uint64_t)(n + 1) / 2;
  t->storage->version++;
  return 0;
}

int agt_bernoulli_(ag_tensor *t, double p) {
  if (!(p >= 0 && p <= 1)) return agt_failc("ag.bernoulli_: expects 0 <= p <= 1, got p=%g", p);
  uint64_t base = rng_offset;
  int64_t n = agt_numel(t);
  int dt = t->scalar_type;
  if (dt == AG_FLOAT32) FILL(float, uniform_f32(base, i) < (float)p ? 1.0f : 0.0f);
  else if (dt == AG_FLOAT64) FILL(double, uniform_f64(base, i) < p ? 1.0 : 0.0);
  else if (dt == AG_BOOL || dt == AG_UINT8) FILL(uint8_t, uniform_f32(base, i) < (float)p);
  else return agt_failc("ag.bernoulli_: not implemented for %s tensors", agt_dtype_name(dt));
  rng_offset += (uint64_t)(n + 3) / 4;
  t->storage->version++;
  return 0;
}

static inline uint64_t bits64_at(uint64_t base, int64_t i) {
  uint32_t w[4]; draw(base + (uint64_t)i / 2, w);
  return ((uint64_t)w[2 * (i % 2)] << 32) | w[2 * (i % 2) + 1];
}

int agt_randint_(ag_tensor *t, int64_t low, int64_t high) {
  if (high <= low) return agt_failc("ag.randint: random_ expects 'from' to be less than 'to', but got from=%lld >= to=%lld",
                                    (long long)low, (long long)high);
  static const int64_t lo_lim[AG_NDTYPES] = {INT64_MIN, INT64_MIN, INT64_MIN, INT32_MIN, 0, 0};
  static const int64_t hi_lim[AG_NDTYPES] = {INT64_MAX, INT64_MAX, INT64_MAX, INT32_MAX, 255, 1};
  int dt = t->scalar_type;
  if (low < lo_lim[dt] || high - 1 > hi_lim[dt])
    return agt_failc("ag.randint: the range [%lld, %lld) does not fit %s (values %lld..%lld)", (long long)low,
                     (long long)high, agt_dtype_name(dt), (long long)lo_lim[dt], (long long)hi_lim[dt]);
  uint64_t range = (uint64_t)high - (uint64_t)low, base = rng_offset;
  int64_t n = agt_numel(t);
  switch (t->scalar_type) {
  case AG_INT64: FILL(int64_t, (int64_t)((uint64_t)low + bits64_at(base, i) % range)); break;
  case AG_INT32: FILL(int32_t, (int32_t)(int64_t)((uint64_t)low + bits64_at(base, i) % range)); break;
  case AG_UINT8: FILL(uint8_t, (uint8_t)((uint64_t)low + bits64_at(base, i) % range)); break;
  case AG_FLOAT32: FILL(float, (float)(int64_t)((uint64_t)low + bits64_at(base, i) % range)); break;
  case AG_FLOAT64: FILL(double, (double)(int64_t)((uint64_t)low + bits64_at(base, i) % range)); break;
  default: return agt_failc("ag.randint: not implemented for bool tensors");
  }
  rng_offset += (uint64_t)(n + 1) / 2;
  t->storage->version++;
  return 0;
}

/* 1-based permutation of 1..n (Fisher-Yates). */
ag_tensor *agt_randperm(int64_t n) {
  if (n < 0) return agt_fail("ag.randperm: n must be non-negative, got %lld", (long long)n);
  ag_tensor *t = agt_empty(1, &n, AG_INT64);
  if (!t) return NULL;
  int64_t *d = (int64_t *)agt_ptr(t);
  for (int64_t i = 0; i < n; i++) d[i] = i + 1;
  uint64_t base = rng_offset;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(bits64_at(base, i) % (uint64_t)(i + 1));
    int64_t tmp = d[i]; d[i] = d[j]; d[j] = tmp;
  }
  rng_offset += (uint64_t)(n + 1) / 2;
  return t;
}
