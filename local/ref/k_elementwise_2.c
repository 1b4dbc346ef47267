/* local/ref: broadcasting elementwise kernels (binary, variadic, PRelu, Where).
 *
 * One walker serves them all: it drops size-1 output dims, merges neighbouring dims that every input walks either
 * contiguously or not at all, and calls a row function for each innermost run. In that run every input advances by
 * 1 (contiguous) or 0 (broadcast), so row functions are specialised for those cases and vectorise. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "local/ref/k_elementwise.h"

enum { MAX_IN = 3 };

/* o[i] = op(in[0][i * step[0]], in[1][i * step[1]], ...) for i < n; every step is 0 or 1. */
typedef void (*row_fn)(void *o, const void *const *in, const int64_t *step, int64_t n);

static int bcast_run(const cl_kctx *k, const cl_node *n, cl_tensor *o, const cl_tensor *const *in, int nin,
                     row_fn f) {
  int64_t total = cl_tensor_numel(o);
  if (total <= 0) return 0;
  int64_t full[MAX_IN][CL_MAX_DIMS];
  size_t esz[MAX_IN];
  for (int j = 0; j < nin; j++) {
    const cl_tensor *t = in[j];
    bool ok = t->ndim <= o->ndim;
    for (int d = 0; ok && d < t->ndim; d++) {
      int64_t dt = t->dims[d], dout = o->dims[o->ndim - t->ndim + d];
      ok = dt == dout || dt == 1;
    }
    if (!ok) {
      char si[96], so[96];
      return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "input %d %s does not broadcast to the output %s", j,
                         cl_dims_str(t->ndim, t->dims, si, sizeof si), cl_dims_str(o->ndim, o->dims, so, sizeof so));
    }
    cl_bcast_strides(t->ndim, t->dims, o->ndim, o->dims, full[j]);
    esz[j] = cl_dtype_size(t->dtype);
  }
  /* A kept dim stores the stride of its innermost merged dim; dim d joins it when stepping the group by one equals
   * stepping d through its whole extent, for every input. */
  int nd = 0;
  int64_t dims[CL_MAX_DIMS], st[MAX_IN][CL_MAX_DIMS];
  for (int d = 0; d < o->ndim; d++) {
    if (o->dims[d] == 1) continue;
    bool merge = nd > 0;
    for (int j = 0; merge && j < nin; j++) merge = st[j][nd - 1] == full[j][d] * o->dims[d];
    if (merge) {
      dims[nd - 1] *= o->dims[d];
      for (int j = 0; j < nin; j++) st[j][nd - 1] = full[j][d];
    } else {
      dims[nd] = o->dims[d];
      for (int j = 0; j < nin; j++) st[j][nd] = full[j][d];
      nd++;
    }
  }
  if (nd == 0) {
    dims[0] = 1;
    for (int j = 0; j < nin; j++) st[j][0] = 0;
    nd = 1;
  }
  int64_t inner = dims[nd - 1], rows = total / inner;
  int64_t idx[CL_MAX_DIMS] = {0}, off[MAX_IN] = {0}, step[MAX_IN];
  for (int j = 0; j < nin; j++) step[j] = st[j][nd - 1];
  size_t orow = (size_t)inner * cl_dtype_size(o->dtype);
  const void *p[MAX_IN];
  for (int64_t r = 0; r < rows; r++) {
    for (int j = 0; j < nin; j++) p[j] = (const char *)in[j]->data + (size_t)off[j] * esz[j];
    f((char *)o->data + (size_t)r * orow, p, step, inner);
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < dims[d]) {
        for (int j = 0; j < nin; j++) off[j] += st[j][d];
        break;
      }
      idx[d] = 0;
      for (int j = 0; j < nin; j++) off[j] -= st[j][d] * (dims[d] - 1);
    }
  }
  return 0;
}

/* ---- row functions ---- */

#define ROW2(name, TA, TB, TO, EXPR)                                                                                 \
  static void name(void *o_, const void *const *in, const int64_t *step, int64_t n) {                              \
    TO *o = o_;                                                                                                      \
    const TA *pa = in[0];                                                                                            \
    const TB *pb = in[1];                                                                                            \
    if (step[0] && step[1]) {                                                                                        \
      for (int64_t i = 0; i < n; i++) {                                                                              \
        TA a = pa[i];                                                                                                \
        TB b = pb[i];                                                                                                \
        o[i] = (TO)(EXPR);                                                                                           \
      }                                                                                                              \
    } else if (step[0]) {                                                                                            \
      TB b = pb[0];                                                                                                  \
      for (int64_t i = 0; i < n; i++) {                                                                              \
        TA a = pa[i];                                                                                                \
        o[i] = (TO)(EXPR);                                                                                           \
      }                                                                                                              \
    } else if (step[1]) {                                                                                            \
      TA a = pa[0];                                                                                                  \
      for (int64_t i = 0; i < n; i++) {                                                                              \
        TB b = pb[i];                                                                                                \
        o[i] = (TO)(EXPR);                                                                                           \
      }                                                                                                              \
    } else {                                                                                                         \
      TA a = pa[0];                                                                                                  \
      TB b = pb[0];                                                                                                  \
      TO r = (TO)(EXPR);                                                                                             \
      for (int64_t i = 0; i < n; i++) o[i] = r;                                                                      \
    }                                                                                                                \
  }

/* The same expression for float32, int32 and int64, output of the input type. */
#define ROW2_NUM(op, EXPR_F, EXPR_I32, EXPR_I64)                                                                     \
  ROW2(op##_f32, float, float, float, EXPR_F)                                                                        \
  ROW2(op##_i32, int32_t, int32_t, int32_t, EXPR_I32)                                                                \
  ROW2(op##_i64, int64_t, int64_t, int64_t, EXPR_I64)

/* Comparisons: bool output. */
#define ROW2_CMP(op, EXPR)                                                                                           \
  ROW2(op##_f32, float, float, uint8_t, EXPR)                                                                        \
  ROW2(op##_i32, int32_t, int32_t, uint8_t, EXPR)                                                                    \
  ROW2(op##_i64, int64_t, int64_t, uint8_t, EXPR)

/* Integer arithmetic wraps (two's complement) instead of overflowing. */
#define W32(a, OP, b) ((int32_t)((uint32_t)(a)OP(uint32_t)(b)))
#define W64(a, OP, b) ((int64_t)((uint64_t)(a)OP(uint64_t)(b)))

/* Divisors are checked for zero before these run; -1 is special-cased so that MIN / -1 wraps. */
static inline int64_t idiv(int64_t a, int64_t b) { return b == -1 ? W64(0, -, a) : a / b; }
static inline int64_t ifmod(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }
/* Python's %: the result takes the divisor's sign. */
static inline int64_t ipymod(int64_t a, int64_t b) {
  int64_t r = ifmod(a, b);
  return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
}

/* b^e by squaring, wrapping like the integer multiplication it is. Negative exponents truncate toward zero. */
static int64_t ipow(int64_t b, int64_t e) {
  if (e < 0) return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
  uint64_t r = 1, x = (uint64_t)b;
  for (; e; e >>= 1) {
    if (e & 1) r *= x;
    x *= x;
  }
  return (int64_t)r;
}

/* Saturating double -> integer conversion (a plain cast is undefined out of range); NaN gives 0. */
static int64_t d2i64(double d) {
  if (d != d) return 0;
  if (d >= 9223372036854775807.0) return INT64_MAX;
  if (d <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)d;
}
static int32_t d2i32(double d) {
  if (d != d) return 0;
  if (d >= 2147483647.0) return INT32_MAX;
  if (d <= -2147483648.0) return INT32_MIN;
  return (int32_t)d;
}

ROW2_NUM(add, a + b, W32(a, +, b), W64(a, +, b))
ROW2_NUM(sub, a - b, W32(a, -, b), W64(a, -, b))
ROW2_NUM(mul, a * b, W32(a, *, b), W64(a, *, b))
ROW2_NUM(div, a / b, idiv(a, b), idiv(a, b))
ROW2_NUM(fmod, fmodf(a, b), ifmod(a, b), ifmod(a, b))
ROW2(pymod_i32, int32_t, int32_t, int32_t, ipymod(a, b))
ROW2(pymod_i64, int64_t, int64_t, int64_t, ipymod(a, b))
/* NaN wins, as numpy's maximum/minimum. */
ROW2_NUM(max, (b > a || b != b) ? b : a, b > a ? b : a, b > a ? b : a)
ROW2_NUM(min, (b < a || b != b) ? b : a, b < a ? b : a, b < a ? b : a)
ROW2_NUM(prelu, a < 0 ? a * b : a, a < 0 ? W32(a, *, b) : a, a < 0 ? W64(a, *, b) : a)

ROW2(pow_f32_f32, float, float, float, powf(a, b))
ROW2(pow_f32_i32, float, int32_t, float, pow(a, (double)b))
ROW2(pow_f32_i64, float, int64_t, float, pow(a, (double)b))
ROW2(pow_i32_f32, int32_t, float, int32_t, d2i32(pow(a, b)))
ROW2(pow_i32_i32, int32_t, int32_t, int32_t, ipow(a, b))
ROW2(pow_i32_i64, int32_t, int64_t, int32_t, ipow(a, b))
ROW2(pow_i64_f32, int64_t, float, int64_t, d2i64(pow((double)a, b)))
ROW2(pow_i64_i32, int64_t, int32_t, int64_t, ipow(a, b))
ROW2(pow_i64_i64, int64_t, int64_t, int64_t, ipow(a, b))

ROW2_CMP(eq, a == b)
ROW2(eq_b8, uint8_t, uint8_t, uint8_t, !a == !b)
ROW2_CMP(lt, a < b)
ROW2_CMP(gt, a > b)
ROW2_CMP(le, a <= b)
ROW2_CMP(ge, a >= b)
ROW2(and_b8, uint8_t, uint8_t, uint8_t, a && b)
ROW2(or_b8, uint8_t, uint8_t, uint8_t, a || b)
ROW2(xor_b8, uint8_t, uint8_t, uint8_t, !a != !b)

#define WHERE_ROW(name, T)                                                                                           \
  static void name(void *o_, const void *const *in, const int64_t *step, int64_t n) {                              \
    T *o = o_;                                                                                                       \
    const uint8_t *c = in[0];                                                                                        \
    const T *x = in[1], *y = in[2];                                                                                  \
    for (int64_t i = 0; i < n; i++) o[i] = c[i * step[0]] ? x[i * step[1]] : y[i * step[2]];                        \
  }

WHERE_ROW(where_f32, float)
WHERE_ROW(where_i32, int32_t)
WHERE_ROW(where_i64, int64_t)
WHERE_ROW(where_b8, uint8_t)

/* ---- kernels ---- */

typedef struct rowset {
  row_fn f32, i32, i64, b8;
} rowset;

static row_fn pick(const rowset *rs, int dtype) {
  switch (dtype) {
  case CLEAVE_DTYPE_FLOAT32: return rs->f32;
  case CLEAVE_DTYPE_INT32: return rs->i32;
  case CLEAVE_DTYPE_INT64: return rs->i64;
  case CLEAVE_DTYPE_BOOL: return rs->b8;
  default: return NULL;
  }
}

static int dtype_mismatch(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int i) {
  return cl_node_err(k->ctx, n, CLEAVE_EDTYPE, "input %d is %s but input 0 is %s; they must have the same type", i,
                     cleave_dtype_name(in[i]->dtype), cleave_dtype_name(in[0]->dtype));
}

/* Before opset 7, broadcast=1 aligned B with A at "axis" (default: the end); trailing ones make that numpy's. */
static int legacy_b(const cl_kctx *k, const cl_node *n, const cl_tensor *a, const cl_tensor *b, cl_tensor *bb) {
  *bb = *b;
  if (k->opset >= 7 || cl_attr_int(n, "broadcast", 0) != 1) return 0;
  int64_t axis = cl_attr_int(n, "axis", a->ndim - b->ndim);
  if (axis < 0) axis += a->ndim;
  if (axis < 0 || axis + b->ndim > a->ndim)
    return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "broadcast axis does not fit B of rank %d into A of rank %d",
                       b->ndim, a->ndim);
  while (bb->ndim < a->ndim - axis) bb->dims[bb->ndim++] = 1;
  return 0;
}

static int run_binary(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, cl_tensor *out, row_fn f) {
  cl_tensor b;
  int rc = legacy_b(k, n, in[0], in[1], &b);
  if (rc) return rc;
  const cl_tensor *pair[2] = {in[0], &b};
  return bcast_run(k, n, out, pair, 2, f);
}

/* Two inputs of the same dtype, row function by that dtype. */
static int binary(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, cl_tensor *out,
                  const rowset *rs) {
  row_fn f = pick(rs, in[0]->dtype);
  if (!f) return cl_ew_bad_dtype(k, n, in[0]);
  if (in[1]->dtype != in[0]->dtype) return dtype_mismatch(k, n, in, 1);
  return run_binary(k, n, in, out, f);
}

#define BINARY_KERNEL(name, F32, I32, I64, B8)                                                                      \
  int name(CL_EW_ARGS) {                                                                                             \
    static const rowset rs = {F32, I32, I64, B8};                                                                    \
    return binary(k, n, in, out[0], &rs);                                                                            \
  }

BINARY_KERNEL(cl_ew_add, add_f32, add_i32, add_i64, NULL)
BINARY_KERNEL(cl_ew_sub, sub_f32, sub_i32, sub_i64, NULL)
BINARY_KERNEL(cl_ew_mul, mul_f32, mul_i32, mul_i64, NULL)
BINARY_KERNEL(cl_ew_equal, eq_f32, eq_i32, eq_i64, eq_b8)
BINARY_KERNEL(cl_ew_less, lt_f32, lt_i32, lt_i64, NULL)
BINARY_KERNEL(cl_ew_greater, gt_f32, gt_i32, gt_i64, NULL)
BINARY_KERNEL(cl_ew_less_equal, le_f32, le_i32, le_i64, NULL)
BINARY_KERNEL(cl_ew_greater_equal, ge_f32, ge_i32, ge_i64, NULL)
BINARY_KERNEL(cl_ew_and, NULL, NULL, NULL, and_b8)
BINARY_KERNEL(cl_ew_or, NULL, NULL, NULL, or_b8)
BINARY_KERNEL(cl_ew_xor, NULL, NULL, NULL, xor_b8)

/* Integer division and modulo by zero are errors (undefined in C, a crash on most CPUs). Every element of the
 * divisor reaches the output unless the output is empty, so checking all of them reports no false errors. */
static int check_divisor(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, const cl_tensor *out) {
  if (cl_tensor_numel(out) == 0) return 0;
  int64_t cnt = cl_tensor_numel(in[1]);
  for (int64_t i = 0; i < cnt; i++) {
    int64_t v = in[1]->dtype == CLEAVE_DTYPE_INT32 ? ((const int32_t *)in[1]->data)[i]
                                                   : ((const int64_t *)in[1]->data)[i];
    if (v == 0)
      return cl_node_err(k->ctx, n, CLEAVE_ERANGE, "integer %s by zero (element %lld of input B)",
                         strcmp(n->op, "Div") == 0 ? "division" : "modulo", (long long)i);
  }
  return 0;
}

int cl_ew_div(CL_EW_ARGS) {
  static const rowset rs = {div_f32, div_i32, div_i64, NULL};
  if (in[0]->dtype == in[1]->dtype && (in[0]->dtype == CLEAVE_DTYPE_INT32 || in[0]->dtype == CLEAVE_DTYPE_INT64)) {
    int rc = check_divisor(k, n, in, out[0]);
    if (rc) return rc;
  }
  return binary(k, n, in, out[0], &rs);
}

int cl_ew_mod(CL_EW_ARGS) {
  static const rowset fmod_rs = {fmod_f32, fmod_i32, fmod_i64, NULL};
  static const rowset py_rs = {NULL, pymod_i32, pymod_i64, NULL};
  bool use_fmod = cl_attr_int(n, "fmod", 0) != 0;
  if (!use_fmod && in[0]->dtype == CLEAVE_DTYPE_FLOAT32)
    return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "fmod must be 1 for float32 inputs");
  if (in[0]->dtype == in[1]->dtype && (in[0]->dtype == CLEAVE_DTYPE_INT32 || in[0]->dtype == CLEAVE_DTYPE_INT64)) {
    int rc = check_divisor(k, n, in, out[0]);
    if (rc) return rc;
  }
  return binary(k, n, in, out[0], use_fmod ? &fmod_rs : &py_rs);
}

/* Pow: base and exponent types vary independently; the output has the base's. */
int cl_ew_pow(CL_EW_ARGS) {
  static const row_fn rows[3][3] = {{pow_f32_f32, pow_f32_i32, pow_f32_i64},
                                    {pow_i32_f32, pow_i32_i32, pow_i32_i64},
                                    {pow_i64_f32, pow_i64_i32, pow_i64_i64}};
  int t[2];
  for (int i = 0; i < 2; i++) {
    switch (in[i]->dtype) {
    case CLEAVE_DTYPE_FLOAT32: t[i] = 0; break;
    case CLEAVE_DTYPE_INT32: t[i] = 1; break;
    case CLEAVE_DTYPE_INT64: t[i] = 2; break;
    default: return cl_ew_bad_dtype(k, n, in[i]);
    }
  }
  return run_binary(k, n, in, out[0], rows[t[0]][t[1]]);
}

/* Min, Max, Sum, Mean: the first two inputs go straight into the output, later ones accumulate into it in place
 * (each output element is read once, at its own position, before it is written). */
static int variadic(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *out,
                    const rowset *rs) {
  row_fn f = pick(rs, in[0]->dtype);
  if (!f) return cl_ew_bad_dtype(k, n, in[0]);
  for (int i = 1; i < n_in; i++) {
    if (!in[i]) return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "input %d is missing", i);
    if (in[i]->dtype != in[0]->dtype) return dtype_mismatch(k, n, in, i);
  }
  if (n_in == 1) {
    if (out->nbytes != in[0]->nbytes)
      return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "output has %zu bytes, input %zu", out->nbytes, in[0]->nbytes);
    if (out->nbytes) memcpy(out->data, in[0]->data, out->nbytes);
    return 0;
  }
  const cl_tensor *pair[2] = {in[0], in[1]};
  int rc = bcast_run(k, n, out, pair, 2, f);
  for (int i = 2; i < n_in && !rc; i++) {
    pair[0] = out;
    pair[1] = in[i];
    rc = bcast_run(k, n, out, pair, 2, f);
  }
  return rc;
}

int cl_ew_min(CL_EW_ARGS) {
  static const rowset rs = {min_f32, min_i32, min_i64, NULL};
  return variadic(k, n, in, n_in, out[0], &rs);
}

int cl_ew_max(CL_EW_ARGS) {
  static const rowset rs = {max_f32, max_i32, max_i64, NULL};
  return variadic(k, n, in, n_in, out[0], &rs);
}

int cl_ew_sum(CL_EW_ARGS) {
  static const rowset rs = {add_f32, add_i32, add_i64, NULL};
  return variadic(k, n, in, n_in, out[0], &rs);
}

int cl_ew_mean(CL_EW_ARGS) {
  static const rowset rs = {add_f32, NULL, NULL, NULL};
  int rc = variadic(k, n, in, n_in, out[0], &rs);
  if (rc || n_in == 1) return rc;
  float *y = out[0]->data, div = (float)n_in;
  int64_t cnt = cl_tensor_numel(out[0]);
  for (int64_t i = 0; i < cnt; i++) y[i] /= div;
  return 0;
}

int cl_ew_prelu(CL_EW_ARGS) {
  static const rowset rs = {prelu_f32, prelu_i32, prelu_i64, NULL};
  row_fn f = pick(&rs, in[0]->dtype);
  if (!f) return cl_ew_bad_dtype(k, n, in[0]);
  if (in[1]->dtype != in[0]->dtype) return dtype_mismatch(k, n, in, 1);
  return bcast_run(k, n, out[0], in, 2, f);
}

int cl_ew_where(CL_EW_ARGS) {
  static const rowset rs = {where_f32, where_i32, where_i64, where_b8};
  if (in[0]->dtype != CLEAVE_DTYPE_BOOL) return cl_ew_bad_dtype(k, n, in[0]);
  row_fn f = pick(&rs, in[1]->dtype);
  if (!f) return cl_ew_bad_dtype(k, n, in[1]);
  if (in[2]->dtype != in[1]->dtype)
    return cl_node_err(k->ctx, n, CLEAVE_EDTYPE, "input 2 is %s but input 1 is %s; they must have the same type",
                       cleave_dtype_name(in[2]->dtype), cleave_dtype_name(in[1]->dtype));
  return bcast_run(k, n, out[0], in, 3, f);
}
