/* simd_math.h: branch-free exp, log, sigmoid and tanh for float32 and float64, written as
 * plain scalar C with no calls so that GCC vectorizes a loop over them (the callers compile
 * such loops with target_clones for AVX-512, AVX2 and baseline x86-64). They keep IEEE edge
 * cases: exp(-inf) = 0, exp(inf) = inf, NaN in gives NaN out, overflow to inf, correctly
 * scaled denormal results, log(0) = -inf, log(x < 0) = NaN, tanh(-0) = -0.
 * Accuracy, measured against float64/long double references (tests/simd_math_spec.lua):
 * exp, log and tanh within 1.5 ulp, sigmoid within 2.5 ulp, in float32 and float64.
 * Private to lib/tensor; not part of the API. */
#ifndef AG_SIMD_MATH_H
#define AG_SIMD_MATH_H
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(AG_NO_CLONES)
#define AG_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AG_SIMD_CLONES
#endif

static inline uint32_t agt_sm_fbits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float agt_sm_bitsf(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static inline uint64_t agt_sm_dbits(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double agt_sm_bitsd(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

/* ---- float32 ---- */

/* exp: x = k ln2 + r, |r| <= ln2/2 (Cody-Waite, two constants); Cephes' degree-7 polynomial
 * for exp(r); 2^k applied as two normal powers 2^(k>>1) 2^(k-(k>>1)) so that k in
 * [-150, 128] neither overflows the exponent field early nor double-rounds denormals.
 * x is clamped to [-104, 89] first (NaN passes through the clamps), which gives 0 and inf. */
static inline float agt_sm_exp_f32(float x) {
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  float t = xc * 1.44269504088896341f + 12582912.0f;   /* 1.5 * 2^23: rounds to integer */
  float k = t - 12582912.0f;
  int32_t ki = (int32_t)(agt_sm_fbits(t) - agt_sm_fbits(12582912.0f));
  float r = xc - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  int32_t k1 = ki >> 1, k2 = ki - k1;
  float s1 = agt_sm_bitsf((uint32_t)(k1 + 127) << 23), s2 = agt_sm_bitsf((uint32_t)(k2 + 127) << 23);
  return (p * s1) * s2;
}

/* sigmoid with e = exp(-|x|) <= 1: 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, one
 * division either way, so large negative x keeps its tiny (even denormal) value instead of
 * rounding 1 / (1 + inf) to 0; +-1000 and +-inf give 1 and 0, NaN stays NaN. */
static inline float agt_sm_sigmoid_f32(float x) {
  float e = agt_sm_exp_f32(x < 0 ? x : -x);
  return (x < 0 ? e : 1.0f) / (1.0f + e);
}

/* tanh: odd Cephes polynomial for |x| < 0.625 (keeps -0 and tiny x exact); otherwise
 * 1 - 2 / (exp(2|x|) + 1) with the sign put back, which saturates to +-1 (exp -> inf). */
static inline float agt_sm_tanh_f32(float x) {
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = __builtin_copysignf(p * z * x + x, x);   /* same sign as x, so -0 stays -0 */
  float ax = x < 0 ? -x : x;
  float e = agt_sm_exp_f32(2.0f * ax);
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0 ? -big : big;
  return ax < 0.625f ? small : (x != x ? x : big);
}

/* log: x = 2^e m with m in [sqrt(1/2), sqrt(2)) (denormals scaled by 2^23 first), Cephes'
 * degree-9 polynomial for log(1 + f), and e ln2 added in two parts. x = 0 gives -inf,
 * x < 0 and NaN give NaN, inf gives inf. */
static inline float agt_sm_log_f32(float x) {
  int tiny = x < 1.17549435e-38f;                     /* denormal (or <= 0, fixed below) */
  float xs = tiny ? x * 8388608.0f : x;
  uint32_t u = agt_sm_fbits(xs);
  /* exponent relative to the m in [sqrt(1/2), sqrt(2)) binade: add the bits of 1 - sqrt(1/2) */
  uint32_t v = u + (0x3f800000u - 0x3f3504f3u);
  int32_t e = (int32_t)(v >> 23) - 127 - (tiny ? 23 : 0);
  float m = agt_sm_bitsf((v & 0x007fffffu) + 0x3f3504f3u);
  float f = m - 1.0f;
  float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float ef = (float)e;
  float y = p * f * z;
  y = y + ef * -2.12194440e-4f;
  y = y - 0.5f * z;
  float res = (f + y) + ef * 0.693359375f;
  res = x == 0 ? -__builtin_inff() : res;
  res = x < 0 ? __builtin_nanf("") : res;
  return x == __builtin_inff() || x != x ? x : res;
}

/* ---- float64 ---- */

/* exp: k = round(x / ln2), r = x - k ln2 (ln2 split so k ln2hi is exact), Taylor series of
 * degree 13 on |r| <= 0.347, and 2^k as two normal powers as in float32. */
static inline double agt_sm_exp_f64(double x) {
  double xc = x < -746.0 ? -746.0 : x;
  xc = xc > 710.0 ? 710.0 : xc;
  double t = xc * 1.4426950408889634 + 6755399441055744.0;   /* 1.5 * 2^52 */
  double k = t - 6755399441055744.0;
  int64_t ki = (int64_t)(agt_sm_dbits(t) - agt_sm_dbits(6755399441055744.0));
  double r = xc - k * 6.93147180369123816490e-01;             /* ln2 high part (fdlibm) */
  r = r - k * 1.90821492927058770002e-10;                      /* ln2 low part */
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * (r * r) + r + 1.0;
  int64_t k1 = ki >> 1, k2 = ki - k1;
  double s1 = agt_sm_bitsd((uint64_t)(k1 + 1023) << 52), s2 = agt_sm_bitsd((uint64_t)(k2 + 1023) << 52);
  return (p * s1) * s2;
}

static inline double agt_sm_sigmoid_f64(double x) {
  double e = agt_sm_exp_f64(x < 0 ? x : -x);
  return (x < 0 ? e : 1.0) / (1.0 + e);
}

/* tanh: Cephes' rational approximation x + x z P(z) / Q(z) (z = x^2) for |x| < 0.625,
 * otherwise 1 - 2 / (exp(2|x|) + 1) with the sign put back, as in float32. */
static inline double agt_sm_tanh_f64(double x) {
  double z = x * x;
  double p = -9.64399179425052238628e-1;
  p = p * z - 9.92877231001918586564e1;
  p = p * z - 1.61468768441708447952e3;
  double q = z + 1.12811678491632931402e2;
  q = q * z + 2.23548839060100448583e3;
  q = q * z + 4.84406305325125486048e3;
  double small = __builtin_copysign(x + x * z * (p / q), x);
  double ax = x < 0 ? -x : x;
  double e = agt_sm_exp_f64(2.0 * ax);
  double big = 1.0 - 2.0 / (e + 1.0);
  big = x < 0 ? -big : big;
  return ax < 0.625 ? small : (x != x ? x : big);
}
/* log: x = 2^e m with m in [sqrt(1/2), sqrt(2)) as in float32 (denormals scaled by 2^52),
 * f = m - 1, s = f / (2 + f), and log(1 + f) = f - (f^2/2 - s (f^2/2 + R)) with R the
 * series of 2 atanh(s) / s - 2 in z = s^2 <= 0.03 (Taylor terms 2 z^k / (2k + 1) up to
 * z^11); e ln2 added in two parts (ln2 high part exact times e). */
static inline double agt_sm_log_f64(double x) {
  int tiny = x < 2.2250738585072014e-308;
  double xs = tiny ? x * 4503599627370496.0 : x;       /* 2^52 */
  uint64_t u = agt_sm_dbits(xs);
  uint64_t v = u + (0x3ff0000000000000ull - 0x3fe6a09e667f3bcdull);
  /* the exponent as a double without an int64 conversion (none in AVX2/AVX-512F): the bits
   * v >> 52 < 4096 put in the low mantissa of 1.5 * 2^52 */
  double ef = agt_sm_bitsd(0x4338000000000000ull | (v >> 52)) - (6755399441055744.0 + 1023.0);
  ef = tiny ? ef - 52.0 : ef;
  double m = agt_sm_bitsd((v & 0x000fffffffffffffull) + 0x3fe6a09e667f3bcdull);
  double f = m - 1.0;
  double sv = f / (2.0 + f);
  double z = sv * sv;
  double r = 2.0 / 23;
  r = r * z + 2.0 / 21;
  r = r * z + 2.0 / 19;
  r = r * z + 2.0 / 17;
  r = r * z + 2.0 / 15;
  r = r * z + 2.0 / 13;
  r = r * z + 2.0 / 11;
  r = r * z + 2.0 / 9;
  r = r * z + 2.0 / 7;
  r = r * z + 2.0 / 5;
  r = r * z + 2.0 / 3;
  r = r * z;
  double hfsq = 0.5 * f * f;
  double res = ef * 6.93147180369123816490e-01 +
               (f - (hfsq - (sv * (hfsq + r) + ef * 1.90821492927058770002e-10)));
  res = x == 0 ? -__builtin_inf() : res;
  res = x < 0 ? __builtin_nan("") : res;
  return x == __builtin_inf() || x != x ? x : res;
}
#endif
