/* interp.c: interpolation of the last two dims (nearest and bilinear, with align_corners
 * and PyTorch's scale_factor semantics) and the backward kernels that scatter gradients
 * back. Source positions are computed in the tensor's own precision, as PyTorch does, so
 * float32 results match it bit for bit where the arithmetic allows. Planes run in parallel.
 * The generic part below the #else is instantiated for float and double. */
#ifdef INTERP_T
/* ======================= generic part (T = INTERP_T) ======================= */
#define T INTERP_T
#define FN(name) CONCAT(name, INTERP_SFX)

/* PyTorch's compute_scales_value: 1 / scale_factor when given, else in / out */
static inline T FN(scale_value)(double scale, int64_t in, int64_t out) {
  return scale > 0 ? (T)(1.0 / scale) : (T)in / (T)out;
}

static inline int64_t FN(nearest_src)(int64_t dst, int64_t in, int64_t out, double scale) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  float s = scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;   /* float, as PyTorch's */
  int64_t src = (int64_t)floorf((float)dst * s);
  return src < in - 1 ? src : in - 1;
}

/* one axis of bilinear: the two source indices and their weights */
static inline void FN(linear_src)(int64_t dst, int64_t in, int64_t out, int align, double scale, int64_t *i0,
                                  int64_t *i1, T *l0, T *l1) {
  T s = align ? (out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0) : FN(scale_value)(scale, in, out);
  T src;
  if (align) src = s * (T)dst;
  else {
    src = s * ((T)dst + (T)0.5) - (T)0.5;
    if (src < 0) src = 0;
  }
  int64_t a = (int64_t)src;
  *i0 = a;
  *i1 = a + (a < in - 1 ? 1 : 0);
  *l1 = src - (T)a;
  *l0 = (T)1 - *l1;
}

static void FN(upsample)(const igeom *g, const T *src, T *dst, int backward) {
  int64_t HW = g->H * g->W, P = g->OH * g->OW;
  #pragma omp parallel for schedule(static) if (g->NP * P >= AG_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < g->NP; pl++) {
    const T *in = backward ? src + pl * P : src + pl * HW;
    T *out = backward ? dst + pl * HW : dst + pl * P;
    for (int64_t oh = 0; oh < g->OH; oh++) {
      if (g->mode == 0) {
        int64_t ih = FN(nearest_src)(oh, g->H, g->OH, g->scale_h);
        for (int64_t ow = 0; ow < g->OW; ow++) {
          int64_t iw = FN(nearest_src)(ow, g->W, g->OW, g->scale_w);
          if (backward) out[ih * g->W + iw] += in[oh * g->OW + ow];
          else out[oh * g->OW + ow] = in[ih * g->W + iw];
        }
      } else {
        int64_t h0, h1, w0, w1;
        T a0, a1, b0, b1;
        FN(linear_src)(oh, g->H, g->OH, g->align, g->scale_h, &h0, &h1, &a0, &a1);
        for (int64_t ow = 0; ow < g->OW; ow++) {
          FN(linear_src)(ow, g->W, g->OW, g->align, g->scale_w, &w0, &w1, &b0, &b1);
          if (backward) {
            T v = in[oh * g->OW + ow];
            out[h0 * g->W + w0] += a0 * b0 * v;
            out[h0 * g->W + w1] += a0 * b1 * v;
            out[h1 * g->W + w0] += a1 * b0 * v;
            out[h1 * g->W + w1] += a1 * b1 * v;
          } else {
            out[oh * g->OW + ow] = a0 * (b0 * in[h0 * g->W + w0] + b1 * in[h0 * g->W + w1]) +
                                   a1 * (b0 * in[h1 * g->W + w0] + b1 * in[h1 * g->W + w1]);
          }
        }
      }
    }
  }
}

#undef T
#undef FN
#else
/* ======================= dispatch ======================= */
#include "ag_conv.h"
#include "internal.h"
#include <math.h>
#include <string.h>

typedef struct {
  int64_t NP, H, W, OH, OW;
  double scale_h, scale_w;
  int mode, align;
} igeom;

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
#define INTERP_T float
#define INTERP_SFX _f32
#include "interp.c"
#undef INTERP_T
#undef INTERP_SFX
#define INTERP_T double
#define INTERP_SFX _f64
#include "interp.c"
#undef INTERP_T

static const char *mode_name(int mode) { return mode == 0 ? "nearest" : "bilinear"; }

/* geometry from the input-side shape (ndim, sizes) and the output size */
static int set_igeom(const char *op, int mode, int ndim, const int64_t *sizes, int dtype, const int64_t *out_size,
                     int align, const double *scales, igeom *g) {
  char b[256];
  if (mode != 0 && mode != 1) return agt_failc("%s: unknown mode %d (0: nearest, 1: bilinear)", op, mode);
  if (ndim < 3)
    return agt_failc("%s: %s interpolation expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input %s", op,
                     mode_name(mode), agt_shape_str(ndim, sizes, b));
  if (!agt_is_float(dtype))
    return agt_failc("%s: expected a float32 or float64 input, got %s; convert it with :float()", op, agt_dtype_name(dtype));
  g->NP = 1;
  for (int d = 0; d < ndim - 2; d++) g->NP *= sizes[d];
  g->H = sizes[ndim - 2];
  g->W = sizes[ndim - 1];
  g->OH = out_size[0];
  g->OW = out_size[1];
  if (g->OH < 1 || g->OW < 1)
    return agt_failc("%s: output size must be positive, got %lldx%lld", op, (long long)g->OH, (long long)g->OW);
  if (g->H < 1 || g->W < 1)
    return agt_failc("%s: input %s has an empty spatial dim", op, agt_shape_str(ndim, sizes, b));
  g->scale_h = scales ? scales[0] : 0;
  g->scale_w = scales ? scales[1] : 0;
  g->mode = mode;
  g->align = align;
  if (mode == 0 && align)
    return agt_failc("%s: align_corners option can only be set with the interpolating modes: linear | bilinear | "
                     "bicubic | trilinear", op);
  return 0;
}

ag_tensor *agt_upsample(ag_tensor *x, int mode, const int64_t *out_size, int align_corners, const double *scales) {
  const char *op = "ag.interpolate";
  igeom g;
  if (set_igeom(op, mode, x->ndim, x->sizes, x->scalar_type, out_size, align_corners, scales, &g)) return NULL;
  int64_t sz[AG_MAX_DIMS];
  memcpy(sz, x->sizes, sizeof(int64_t) * x->ndim);
  sz[x->ndim - 2] = g.OH;
  sz[x->ndim - 1] = g.OW;
  ag_tensor *xc = agt_contiguous(x), *y = agt_new_contig(x->ndim, sz, x->scalar_type);
  if (!xc || !y) { agt_release(xc); agt_release(y); return NULL; }
  if (x->scalar_type == AG_FLOAT32) upsample_f32(&g, (float *)agt_ptr(xc), (float *)agt_ptr(y), 0);
  else upsample_f64(&g, (double *)agt_ptr(xc), (double *)agt_ptr(y), 0);
  agt_release(xc);
  return y;
}

ag_tensor *agt_upsample_backward(ag_tensor *gy, int mode, int ndim, const int64_t *in_sizes, int align_corners,
                                 const double *scales) {
  const char *op = "ag.interpolate_backward";
  char b1[256], b2[256];
  igeom g;
  if (gy->ndim != ndim || ndim < 3)
    return agt_fail("%s: gradient %s does not match input %s", op, AGT_SHAPE(gy, b1), agt_shape_str(ndim, in_sizes, b2));
  if (set_igeom(op, mode, ndim, in_sizes, gy->scalar_type, gy->sizes + ndim - 2, align_corners, scales, &g)) return NULL;
  for (int d = 0; d < ndim - 2; d++)
    if (gy->sizes[d] != in_sizes[d])
      return agt_fail("%s: gradient %s does not match input %s", op, AGT_SHAPE(gy, b1), agt_shape_str(ndim, in_sizes, b2));
  ag_tensor *gc = agt_contiguous(gy), *gx = agt_full(ndim, in_sizes, 0, gy->scalar_type);
  if (!gc || !gx) { agt_release(gc); agt_release(gx); return NULL; }
  if (gy->scalar_type == AG_FLOAT32) upsample_f32(&g, (float *)agt_ptr(gc), (float *)agt_ptr(gx), 1);
  else upsample_f64(&g, (double *)agt_ptr(gc), (double *)agt_ptr(gx), 1);
  agt_release(gc);
  return gx;
}
#endif
