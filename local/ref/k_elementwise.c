/* local/ref: reference kernels of the elementwise operators.
 *
 * Unary kernels are flat loops over the element count. Binary, variadic and ternary kernels go through one
 * broadcasting walker (k_elementwise_2.c) with per-dtype row functions. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "local/ref/k_elementwise.h"

int cl_ew_bad_dtype(const cl_kctx *k, const cl_node *n, const cl_tensor *t) {
  return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "%s is not implemented for %s", n->op,
                     cleave_dtype_name(t->dtype));
}

/* ---- float32 unary maps ---- */

/* PRE runs once before the loop (attribute reads); EXPR maps float v. */
#define F32_UNARY(name, PRE, EXPR)                                                                                   \
  static int name(CL_EW_ARGS) {                                                                                      \
    if (in[0]->dtype != CLEAVE_DTYPE_FLOAT32) return cl_ew_bad_dtype(k, n, in[0]);                                   \
    const float *x = in[0]->data;                                                                                    \
    float *y = out[0]->data;                                                                                         \
    int64_t cnt = cl_tensor_numel(in[0]);                                                                            \
    PRE;                                                                                                             \
    for (int64_t i = 0; i < cnt; i++) {                                                                              \
      float v = x[i];                                                                                                \
      y[i] = (EXPR);                                                                                                 \
    }                                                                                                                \
    return 0;                                                                                                        \
  }

#define NONE (void)0

F32_UNARY(k_sigmoid, NONE, 1.0f / (1.0f + expf(-v)))
F32_UNARY(k_tanh, NONE, tanhf(v))
F32_UNARY(k_hardsigmoid, const float a = cl_attr_float(n, "alpha", 0.2f);
          const float b = cl_attr_float(n, "beta", 0.5f), fminf(1.0f, fmaxf(0.0f, a * v + b)))
F32_UNARY(k_hardswish, NONE, v * fminf(1.0f, fmaxf(0.0f, v * (1.0f / 6.0f) + 0.5f)))
F32_UNARY(k_leakyrelu, const float a = cl_attr_float(n, "alpha", 0.01f), v < 0.0f ? a * v : v)
F32_UNARY(k_elu, const float a = cl_attr_float(n, "alpha", 1.0f), v < 0.0f ? a * expm1f(v) : v)
F32_UNARY(k_selu, const float a = cl_attr_float(n, "alpha", 1.67326319217681884765625f);
          const float g = cl_attr_float(n, "gamma", 1.05070102214813232421875f), v > 0.0f ? g * v : g * a * expm1f(v))
F32_UNARY(k_celu, const float a = cl_attr_float(n, "alpha", 1.0f),
          fmaxf(0.0f, v) + fminf(0.0f, a * expm1f(v / a)))
F32_UNARY(k_thresholdedrelu, const float a = cl_attr_float(n, "alpha", 1.0f), v > a ? v : 0.0f)
/* log(1 + e^v) without overflow for large v. */
F32_UNARY(k_softplus, NONE, v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v)))
F32_UNARY(k_softsign, NONE, v / (1.0f + fabsf(v)))
F32_UNARY(k_sqrt, NONE, sqrtf(v))
F32_UNARY(k_reciprocal, NONE, 1.0f / v)
F32_UNARY(k_exp, NONE, expf(v))
F32_UNARY(k_log, NONE, logf(v))
F32_UNARY(k_erf, NONE, erff(v))
F32_UNARY(k_floor, NONE, floorf(v))
F32_UNARY(k_ceil, NONE, ceilf(v))
/* nearbyintf rounds half to even in the default rounding mode, as ONNX Round requires. */
F32_UNARY(k_round, NONE, nearbyintf(v))
F32_UNARY(k_sin, NONE, sinf(v))
F32_UNARY(k_cos, NONE, cosf(v))
F32_UNARY(k_tan, NONE, tanf(v))
F32_UNARY(k_asin, NONE, asinf(v))
F32_UNARY(k_acos, NONE, acosf(v))
F32_UNARY(k_atan, NONE, atanf(v))
F32_UNARY(k_sinh, NONE, sinhf(v))
F32_UNARY(k_cosh, NONE, coshf(v))
F32_UNARY(k_asinh, NONE, asinhf(v))
F32_UNARY(k_acosh, NONE, acoshf(v))
F32_UNARY(k_atanh, NONE, atanhf(v))
F32_UNARY(k_gelu, const bool tanh_approx = strcmp(cl_attr_str(n, "approximate", "none"), "tanh") == 0,
          tanh_approx ? 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)))
                      : 0.5f * v * (1.0f + erff(v * 0.7071067811865476f)))

/* ---- unary maps that also take integers ---- */

#define MAP_LOOP(T, EXPR)                                                                                            \
  do {                                                                                                               \
    const T *x = in[0]->data;                                                                                        \
    T *y = out[0]->data;                                                                                             \
    for (int64_t i = 0; i < cnt; i++) {                                                                              \
      T v = x[i];                                                                                                    \
      y[i] = (T)(EXPR);                                                                                              \
    }                                                                                                                \
  } while (0)

/* Integer negation wraps (two's complement) instead of overflowing on the minimum value. */
#define NEG32(v) ((int32_t)(0u - (uint32_t)(v)))
#define NEG64(v) ((int64_t)(0u - (uint64_t)(v)))

#define NUM_UNARY(name, EXPR_F, EXPR_I32, EXPR_I64)                                                                  \
  static int name(CL_EW_ARGS) {                                                                                      \
    int64_t cnt = cl_tensor_numel(in[0]);                                                                            \
    switch (in[0]->dtype) {                                                                                          \
    case CLEAVE_DTYPE_FLOAT32: MAP_LOOP(float, EXPR_F); return 0;                                                    \
    case CLEAVE_DTYPE_INT32: MAP_LOOP(int32_t, EXPR_I32); return 0;                                                  \
    case CLEAVE_DTYPE_INT64: MAP_LOOP(int64_t, EXPR_I64); return 0;                                                  \
    default: return cl_ew_bad_dtype(k, n, in[0]);                                                                    \
    }                                                                                                                \
  }

/* v < 0 ? 0 : v keeps NaN, as max(0, x) does in ONNX Runtime. */
NUM_UNARY(k_relu, v < 0.0f ? 0.0f : v, v < 0 ? 0 : v, v < 0 ? 0 : v)
NUM_UNARY(k_neg, -v, NEG32(v), NEG64(v))
NUM_UNARY(k_abs, fabsf(v), v < 0 ? NEG32(v) : v, v < 0 ? NEG64(v) : v)
NUM_UNARY(k_sign, v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v, (v > 0) - (v < 0), (v > 0) - (v < 0))

static int k_not(CL_EW_ARGS) {
  if (in[0]->dtype != CLEAVE_DTYPE_BOOL) return cl_ew_bad_dtype(k, n, in[0]);
  int64_t cnt = cl_tensor_numel(in[0]);
  MAP_LOOP(uint8_t, !v);
  return 0;
}

static int k_identity(CL_EW_ARGS) {
  if (out[0]->nbytes != in[0]->nbytes)
    return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "output has %zu bytes, input %zu", out[0]->nbytes, in[0]->nbytes);
  if (in[0]->nbytes) memcpy(out[0]->data, in[0]->data, in[0]->nbytes);
  return 0;
}

/* ---- Clip ---- */

#define CLIP_LOOP(T)                                                                                                 \
  do {                                                                                                               \
    const T *x = in[0]->data;                                                                                        \
    T *y = out[0]->data;                                                                                             \
    for (int64_t i = 0; i < cnt; i++) {                                                                              \
      T v = x[i];                                                                                                    \
      v = v < lo ? lo : v; /* comparisons, not fmaxf/fminf: NaN stays NaN */                                         \
      y[i] = v > hi ? hi : v;                                                                                        \
    }                                                                                                                \
  } while (0)

static int k_clip(CL_EW_ARGS) {
  int64_t cnt = cl_tensor_numel(in[0]);
  /* From opset 11 the bounds are optional scalar inputs; the defaults are the type's limits (as ONNX Runtime). */
  const cl_tensor *tmin = n_in > 1 && in[1] && cl_tensor_numel(in[1]) > 0 ? in[1] : NULL;
  const cl_tensor *tmax = n_in > 2 && in[2] && cl_tensor_numel(in[2]) > 0 ? in[2] : NULL;
  switch (in[0]->dtype) {
  case CLEAVE_DTYPE_FLOAT32: {
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (k->opset < 11) {
      lo = cl_attr_float(n, "min", -FLT_MAX);
      hi = cl_attr_float(n, "max", FLT_MAX);
    }
    if (tmin) lo = (float)cl_tensor_get_f64(tmin, 0);
    if (tmax) hi = (float)cl_tensor_get_f64(tmax, 0);
    CLIP_LOOP(float);
    return 0;
  }
  case CLEAVE_DTYPE_INT32: {
    int32_t lo = INT32_MIN, hi = INT32_MAX;
    if (tmin) lo = (int32_t)cl_tensor_get_i64(tmin, 0);
    if (tmax) hi = (int32_t)cl_tensor_get_i64(tmax, 0);
    CLIP_LOOP(int32_t);
    return 0;
  }
  case CLEAVE_DTYPE_INT64: {
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (tmin) lo = cl_tensor_get_i64(tmin, 0);
    if (tmax) hi = cl_tensor_get_i64(tmax, 0);
    CLIP_LOOP(int64_t);
    return 0;
  }
  default: return cl_ew_bad_dtype(k, n, in[0]);
  }
}

/* ---- Dropout ---- */

/* Inference only: training mode draws random masks, which no other runtime would reproduce. */
static bool dropout_training(int opset, const cl_node *n, const cl_tensor *ratio, const cl_tensor *training) {
  if (opset < 12 || !training || cl_tensor_numel(training) < 1 || !cl_tensor_get_i64(training, 0)) return false;
  /* With ratio 0 training mode keeps everything, which is the identity again. */
  double r = ratio && cl_tensor_numel(ratio) > 0 ? cl_tensor_get_f64(ratio, 0) : 0.5;
  return r != 0.0;
}

/* Claimed only when training mode is known to be off (absent or constant false) or cannot drop anything (constant
 * ratio 0); a training_mode computed at run time could turn random dropout on. */
static int check_dropout(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  if (g->opset < 12 || n->n_in < 3 || n->in[2] < 0) return 1;
  const cl_tensor *training = g->values[n->in[2]].konst;
  if (training && (cl_tensor_numel(training) < 1 || !cl_tensor_get_i64(training, 0))) return 1;
  const cl_tensor *ratio = n->in[1] >= 0 ? g->values[n->in[1]].konst : NULL;
  if (ratio && cl_tensor_numel(ratio) > 0 && cl_tensor_get_f64(ratio, 0) == 0.0) return 1;
  snprintf(why, why_len, "Dropout in training mode (random) is not supported; training_mode is %s",
           training ? "true" : "computed at run time");
  return 0;
}

static int k_dropout(CL_EW_ARGS) {
  if (in[0]->dtype != CLEAVE_DTYPE_FLOAT32) return cl_ew_bad_dtype(k, n, in[0]);
  if (dropout_training(k->opset, n, n_in > 1 ? in[1] : NULL, n_in > 2 ? in[2] : NULL))
    return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "training mode (random dropout) is not supported");
  int rc = k_identity(k, n, in, n_in, out, n_out);
  if (rc || n_out < 2 || !out[1] || !out[1]->data) return rc;
  int64_t cnt = cl_tensor_numel(out[1]);
  if (out[1]->dtype == CLEAVE_DTYPE_BOOL) {
    memset(out[1]->data, 1, (size_t)cnt);
  } else if (out[1]->dtype == CLEAVE_DTYPE_FLOAT32) {
    float *m = out[1]->data;
    for (int64_t i = 0; i < cnt; i++) m[i] = 1.0f;
  } else {
    return cl_ew_bad_dtype(k, n, out[1]);
  }
  return 0;
}

const cl_ref_kernel cl_ref_kernels_elementwise[] = {
    {.op = "Relu", .types = CL_T_NUM, .run = k_relu},
    {.op = "Clip", .types = CL_T_NUM, .run = k_clip},
    {.op = "HardSigmoid", .types = CL_T_F32, .run = k_hardsigmoid},
    {.op = "HardSwish", .types = CL_T_F32, .run = k_hardswish},
    {.op = "Sigmoid", .types = CL_T_F32, .run = k_sigmoid},
    {.op = "Tanh", .types = CL_T_F32, .run = k_tanh},
    {.op = "LeakyRelu", .types = CL_T_F32, .run = k_leakyrelu},
    {.op = "Elu", .types = CL_T_F32, .run = k_elu},
    {.op = "Selu", .types = CL_T_F32, .run = k_selu},
    {.op = "Celu", .types = CL_T_F32, .run = k_celu},
    {.op = "ThresholdedRelu", .types = CL_T_F32, .run = k_thresholdedrelu},
    {.op = "Softplus", .types = CL_T_F32, .run = k_softplus},
    {.op = "Softsign", .types = CL_T_F32, .run = k_softsign},
    {.op = "Sqrt", .types = CL_T_F32, .run = k_sqrt},
    {.op = "Reciprocal", .types = CL_T_F32, .run = k_reciprocal},
    {.op = "Exp", .types = CL_T_F32, .run = k_exp},
    {.op = "Log", .types = CL_T_F32, .run = k_log},
    {.op = "Erf", .types = CL_T_F32, .run = k_erf},
    {.op = "Floor", .types = CL_T_F32, .run = k_floor},
    {.op = "Ceil", .types = CL_T_F32, .run = k_ceil},
    {.op = "Round", .types = CL_T_F32, .run = k_round},
    {.op = "Sin", .types = CL_T_F32, .run = k_sin},
    {.op = "Cos", .types = CL_T_F32, .run = k_cos},
    {.op = "Tan", .types = CL_T_F32, .run = k_tan},
    {.op = "Asin", .types = CL_T_F32, .run = k_asin},
    {.op = "Acos", .types = CL_T_F32, .run = k_acos},
    {.op = "Atan", .types = CL_T_F32, .run = k_atan},
    {.op = "Sinh", .types = CL_T_F32, .run = k_sinh},
    {.op = "Cosh", .types = CL_T_F32, .run = k_cosh},
    {.op = "Asinh", .types = CL_T_F32, .run = k_asinh},
    {.op = "Acosh", .types = CL_T_F32, .run = k_acosh},
    {.op = "Atanh", .types = CL_T_F32, .run = k_atanh},
    {.op = "Gelu", .types = CL_T_F32, .run = k_gelu},
    {.op = "Neg", .types = CL_T_NUM, .run = k_neg},
    {.op = "Abs", .types = CL_T_NUM, .run = k_abs},
    {.op = "Sign", .types = CL_T_NUM, .run = k_sign},
    {.op = "Identity", .types = CL_T_ALL, .run = k_identity},
    {.op = "Not", .types = CL_T_BOOL, .run = k_not},
    {.op = "Dropout", .types = CL_T_F32, .check = check_dropout, .run = k_dropout},
    {.op = "Add", .types = CL_T_NUM, .run = cl_ew_add},
    {.op = "Sub", .types = CL_T_NUM, .run = cl_ew_sub},
    {.op = "Mul", .types = CL_T_NUM, .run = cl_ew_mul},
    {.op = "Div", .types = CL_T_NUM, .run = cl_ew_div},
    {.op = "Mod", .types = CL_T_NUM, .run = cl_ew_mod},
    {.op = "Pow", .types = CL_T_NUM, .run = cl_ew_pow},
    {.op = "Equal", .types = CL_T_ALL, .run = cl_ew_equal},
    {.op = "Less", .types = CL_T_NUM, .run = cl_ew_less},
    {.op = "Greater", .types = CL_T_NUM, .run = cl_ew_greater},
    {.op = "LessOrEqual", .types = CL_T_NUM, .run = cl_ew_less_equal},
    {.op = "GreaterOrEqual", .types = CL_T_NUM, .run = cl_ew_greater_equal},
    {.op = "And", .types = CL_T_BOOL, .run = cl_ew_and},
    {.op = "Or", .types = CL_T_BOOL, .run = cl_ew_or},
    {.op = "Xor", .types = CL_T_BOOL, .run = cl_ew_xor},
    {.op = "Min", .types = CL_T_NUM, .run = cl_ew_min},
    {.op = "Max", .types = CL_T_NUM, .run = cl_ew_max},
    {.op = "Sum", .types = CL_T_NUM, .run = cl_ew_sum},
    {.op = "Mean", .types = CL_T_F32, .run = cl_ew_mean},
    {.op = "PRelu", .types = CL_T_NUM, .run = cl_ew_prelu},
    {.op = "Where", .types = CL_T_BOOL, .run = cl_ew_where},
    {.op = NULL},
};
