/* local/ref: reference kernels of the data operators (constants, shapes, casts, reshapes, joins).
 *
 * The indexing, padding and generator kernels are in k_data_2.c. Most of these kernels move bytes and do not care
 * about the element type; their output dims come from the schemas' infer functions. Shape and Size read only the
 * input's dims, never its data, so the loader can evaluate them on inputs whose shape alone is known. */
#include <stdio.h>
#include <string.h>

#include "core/ir/ops_data.h"
#include "local/ref/k_data.h"

/* ---- helpers shared with k_data_2.c ---- */

void cl_kdata_strides(const cl_tensor *t, int64_t *strides) {
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t->dims[i];
  }
}

/* n elements of size es, stride elements apart in src, to consecutive places in dst. */
static void copy_row(char *dst, const char *src, int64_t n, int64_t stride, size_t es) {
  if (stride == 1) {
    memcpy(dst, src, (size_t)n * es);
    return;
  }
  switch (es) {
  case 1:
    for (int64_t i = 0; i < n; i++) dst[i] = src[i * stride];
    break;
  case 4: {
    uint32_t *o = (uint32_t *)(void *)dst;
    const uint32_t *s = (const uint32_t *)(const void *)src;
    for (int64_t i = 0; i < n; i++) o[i] = s[i * stride];
    break;
  }
  case 8: {
    uint64_t *o = (uint64_t *)(void *)dst;
    const uint64_t *s = (const uint64_t *)(const void *)src;
    for (int64_t i = 0; i < n; i++) o[i] = s[i * stride];
    break;
  }
  default:
    for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * es, src + i * stride * (int64_t)es, es);
  }
}

void cl_kdata_view_copy(cl_tensor *dst, const void *src, int64_t base, const int64_t *strides) {
  size_t es = cl_dtype_size(dst->dtype);
  int r = dst->ndim;
  int64_t total = cl_tensor_numel(dst);
  const char *s = src;
  char *o = dst->data;
  if (total == 0) return;
  if (r == 0) {
    memcpy(o, s + base * (int64_t)es, es);
    return;
  }
  int64_t inner = dst->dims[r - 1], rows = total / inner, off = base, idx[CL_MAX_DIMS] = {0};
  for (int64_t row = 0; row < rows; row++) {
    copy_row(o, s + off * (int64_t)es, inner, strides[r - 1], es);
    o += (size_t)inner * es;
    for (int d = r - 2; d >= 0; d--) {
      off += strides[d];
      if (++idx[d] < dst->dims[d]) break;
      off -= strides[d] * dst->dims[d];
      idx[d] = 0;
    }
  }
}

int cl_kdata_list(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, const char *attr,
                  int idx, int since, int64_t *dst, int max) {
  if (k->opset < since) {
    const int64_t *v;
    int c = cl_attr_ints(n, attr, &v);
    if (c > max) return -2;
    for (int i = 0; i < c; i++) dst[i] = v[i];
    return c;
  }
  if (idx >= n_in || !in[idx]) return -1;
  int64_t c = cl_tensor_numel(in[idx]);
  if (c > max) return -2;
  for (int64_t i = 0; i < c; i++) dst[i] = cl_tensor_get_i64(in[idx], i);
  return (int)c;
}

/* ---- Constant ---- */

static int check_constant(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  static const char *const unsupported[] = {"sparse_value", "value_string", "value_strings"};
  for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
    if (cl_node_attr(n, unsupported[i])) {
      snprintf(why, why_len, "Constant with %s is not supported", unsupported[i]);
      return 0;
    }
  return 1;
}

static int k_constant(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                      cl_tensor *const *out, int n_out) {
  const cl_attr *a;
  cl_tensor *o = out[0];
  if ((a = cl_node_attr(n, "value")) && a->type == CL_ATTR_TENSOR && a->t) {
    if (a->t->dtype != o->dtype || a->t->nbytes < o->nbytes || (o->nbytes && !a->t->data))
      return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "the value tensor holds %zu bytes, %zu expected", a->t->nbytes,
                         o->nbytes);
    if (o->nbytes) memcpy(o->data, a->t->data, o->nbytes);
  } else if ((a = cl_node_attr(n, "value_float")) && a->type == CL_ATTR_FLOAT) {
    *(float *)o->data = a->f;
  } else if ((a = cl_node_attr(n, "value_floats")) && a->type == CL_ATTR_FLOATS) {
    if (a->n) memcpy(o->data, a->floats, sizeof(float) * (size_t)a->n);
  } else if ((a = cl_node_attr(n, "value_int")) && a->type == CL_ATTR_INT) {
    *(int64_t *)o->data = a->i;
  } else if ((a = cl_node_attr(n, "value_ints")) && a->type == CL_ATTR_INTS) {
    if (a->n) memcpy(o->data, a->ints, sizeof(int64_t) * (size_t)a->n);
  } else {
    return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "this kind of constant value is not supported");
  }
  return 0;
}

/* ---- Shape, Size ---- */

static int k_shape(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                   int n_out) {
  int r = in[0]->ndim;
  int64_t start = cl_attr_int(n, "start", 0), *o = out[0]->data;
  if (start < 0) start += r;
  start = start < 0 ? 0 : start > r ? r : start;
  for (int64_t i = 0; i < out[0]->dims[0]; i++) o[i] = in[0]->dims[start + i];
  return 0;
}

static int k_size(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                  int n_out) {
  *(int64_t *)out[0]->data = cl_tensor_numel(in[0]);
  return 0;
}

/* ---- Cast, CastLike ---- */

static int check_cast_to(int64_t to, char *why, size_t why_len) {
  const char *name;
  if (cl_cast_target_ok(to, &name)) return 1;
  snprintf(why, why_len, "Cast to %s is not supported (float32, int32, int64 and bool are)", name);
  return 0;
}

static int check_cast(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  return check_cast_to(cl_attr_int(n, "to", 0), why, why_len);
}

static int check_cast_like(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  return check_cast_to(n->n_in > 1 && n->in[1] >= 0 ? g->values[n->in[1]].dtype : 0, why, why_len);
}

/* Float to integer conversions saturate (NaN gives 0): C leaves out-of-range conversions undefined. */
static int32_t f_to_i32(float v) {
  if (!(v == v)) return 0;
  if (v >= 2147483648.0f) return INT32_MAX;
  if (v <= -2147483648.0f) return INT32_MIN;
  return (int32_t)v;
}

static int64_t f_to_i64(float v) {
  if (!(v == v)) return 0;
  if (v >= 9223372036854775808.0f) return INT64_MAX;
  if (v <= -9223372036854775808.0f) return INT64_MIN;
  return (int64_t)v;
}

/* One conversion loop per (source, destination) pair, so the compiler sees plain typed loops. */
#define CAST_LOOP(TD, TS, EXPR)                                                                                  \
  do {                                                                                                           \
    TD *d_ = o->data;                                                                                            \
    const TS *s_ = x->data;                                                                                      \
    for (int64_t i = 0; i < cnt; i++) {                                                                          \
      TS v = s_[i];                                                                                              \
      d_[i] = (EXPR);                                                                                            \
    }                                                                                                            \
  } while (0)

static int k_cast(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                  int n_out) {
  const cl_tensor *x = in[0];
  cl_tensor *o = out[0];
  int64_t cnt = cl_tensor_numel(x);
  if (x->dtype == o->dtype) {
    if (o->nbytes) memcpy(o->data, x->data, o->nbytes);
    return 0;
  }
  enum { F = CLEAVE_DTYPE_FLOAT32, I = CLEAVE_DTYPE_INT32, L = CLEAVE_DTYPE_INT64, B = CLEAVE_DTYPE_BOOL };
  switch (x->dtype * 32 + o->dtype) {
  case F * 32 + I: CAST_LOOP(int32_t, float, f_to_i32(v)); break;
  case F * 32 + L: CAST_LOOP(int64_t, float, f_to_i64(v)); break;
  case F * 32 + B: CAST_LOOP(uint8_t, float, v != 0); break;
  case I * 32 + F: CAST_LOOP(float, int32_t, (float)v); break;
  case I * 32 + L: CAST_LOOP(int64_t, int32_t, v); break;
  case I * 32 + B: CAST_LOOP(uint8_t, int32_t, v != 0); break;
  case L * 32 + F: CAST_LOOP(float, int64_t, (float)v); break;
  case L * 32 + I: CAST_LOOP(int32_t, int64_t, (int32_t)(uint32_t)(uint64_t)v); break; /* wraps, as C++ does */
  case L * 32 + B: CAST_LOOP(uint8_t, int64_t, v != 0); break;
  case B * 32 + F: CAST_LOOP(float, uint8_t, v ? 1.0f : 0.0f); break;
  case B * 32 + I: CAST_LOOP(int32_t, uint8_t, v != 0); break;
  case B * 32 + L: CAST_LOOP(int64_t, uint8_t, v != 0); break;
  default:
    return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "cast from %s to %s is not supported",
                       cleave_dtype_name(x->dtype), cleave_dtype_name(o->dtype));
  }
  return 0;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze: the data does not move ---- */

static int k_copy(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                  int n_out) {
  if (in[0]->nbytes < out[0]->nbytes)
    return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "input has %zu bytes, output %zu", in[0]->nbytes, out[0]->nbytes);
  if (out[0]->nbytes) memcpy(out[0]->data, in[0]->data, out[0]->nbytes);
  return 0;
}

/* ---- Transpose, Concat, Split ---- */

static int k_transpose(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                       cl_tensor *const *out, int n_out) {
  const cl_tensor *x = in[0];
  const int64_t *perm;
  int kp = cl_attr_ints(n, "perm", &perm), r = x->ndim;
  int64_t xs[CL_MAX_DIMS], st[CL_MAX_DIMS];
  cl_kdata_strides(x, xs);
  for (int i = 0; i < r; i++) st[i] = xs[kp == r ? perm[i] : r - 1 - i];
  cl_kdata_view_copy(out[0], x->data, 0, st);
  return 0;
}

/* Product of dims [from, to) of t. */
static int64_t span(const cl_tensor *t, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= t->dims[i];
  return p;
}

static int k_concat(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                    int n_out) {
  cl_tensor *o = out[0];
  int64_t axis = cl_attr_int(n, "axis", 1);
  if (axis < 0) axis += o->ndim;
  size_t es = cl_dtype_size(o->dtype);
  int64_t outer = span(o, 0, (int)axis), inner = span(o, (int)axis + 1, o->ndim) * (int64_t)es;
  char *dst = o->data;
  for (int64_t b = 0; b < outer; b++)
    for (int i = 0; i < n_in; i++) {
      size_t blk = (size_t)(in[i]->dims[axis] * inner);
      if (blk) memcpy(dst, (const char *)in[i]->data + (size_t)b * blk, blk);
      dst += blk;
    }
  return 0;
}

static int k_split(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                   int n_out) {
  const cl_tensor *x = in[0];
  int64_t axis = cl_attr_int(n, "axis", 0);
  if (axis < 0) axis += x->ndim;
  size_t es = cl_dtype_size(x->dtype);
  int64_t outer = span(x, 0, (int)axis), inner = span(x, (int)axis + 1, x->ndim) * (int64_t)es, total = 0;
  for (int i = 0; i < n_out; i++) total += out[i] ? out[i]->dims[axis] : 0;
  if (total != x->dims[axis])
    return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "outputs take %lld of the %lld elements of axis %lld",
                       (long long)total, (long long)x->dims[axis], (long long)axis);
  const char *src = x->data;
  for (int64_t b = 0; b < outer; b++)
    for (int i = 0; i < n_out; i++) {
      if (!out[i]) continue;
      size_t blk = (size_t)(out[i]->dims[axis] * inner);
      if (blk) memcpy((char *)out[i]->data + (size_t)b * blk, src, blk);
      src += blk;
    }
  return 0;
}

const cl_ref_kernel cl_ref_kernels_data[] = {
    {"Constant", CL_T_ALL, check_constant, k_constant},
    {"Shape", CL_T_ALL, NULL, k_shape},
    {"Size", CL_T_ALL, NULL, k_size},
    {"Cast", CL_T_ALL, check_cast, k_cast},
    {"CastLike", CL_T_ALL, check_cast_like, k_cast},
    {"Reshape", CL_T_ALL, NULL, k_copy},
    {"Flatten", CL_T_ALL, NULL, k_copy},
    {"Squeeze", CL_T_ALL, NULL, k_copy},
    {"Unsqueeze", CL_T_ALL, NULL, k_copy},
    {"Transpose", CL_T_ALL, NULL, k_transpose},
    {"Concat", CL_T_ALL, NULL, k_concat},
    {"Split", CL_T_ALL, NULL, k_split},
    {"Slice", CL_T_ALL, NULL, cl_kdata_slice},
    {"Gather", CL_T_ALL, NULL, cl_kdata_gather},
    {"GatherElements", CL_T_ALL, NULL, cl_kdata_gather_elements},
    {"Tile", CL_T_ALL, NULL, cl_kdata_tile},
    {"Expand", CL_T_ALL, NULL, cl_kdata_expand},
    {"ConstantOfShape", CL_T_INT, NULL, cl_kdata_constant_of_shape},
    {"Range", CL_T_NUM, NULL, cl_kdata_range},
    {"Pad", CL_T_ALL, cl_kdata_check_pad, cl_kdata_pad},
    {"DepthToSpace", CL_T_ALL, NULL, cl_kdata_depth_to_space},
    {"SpaceToDepth", CL_T_ALL, NULL, cl_kdata_space_to_depth},
    {NULL},
};
