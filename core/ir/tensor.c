/* core: tensors, shapes and broadcasting. */
#include "core/ir/tensor.h"

#include <stdio.h>
#include <string.h>

size_t cl_dtype_size(int dtype) {
  switch (dtype) {
  case CLEAVE_DTYPE_FLOAT32:
  case CLEAVE_DTYPE_INT32:
  case CLEAVE_DTYPE_UINT32: return 4;
  case CLEAVE_DTYPE_UINT8:
  case CLEAVE_DTYPE_INT8:
  case CLEAVE_DTYPE_BOOL: return 1;
  case CLEAVE_DTYPE_UINT16:
  case CLEAVE_DTYPE_INT16:
  case CLEAVE_DTYPE_FLOAT16: return 2;
  case CLEAVE_DTYPE_INT64:
  case CLEAVE_DTYPE_FLOAT64:
  case CLEAVE_DTYPE_UINT64: return 8;
  default: return 0;
  }
}

size_t cleave_dtype_size(cleave_dtype dtype) { return cl_dtype_size(dtype); }

const char *cleave_dtype_name(cleave_dtype dtype) {
  static const char *const names[] = {"undefined", "float32", "uint8",   "int8",    "uint16",
                                      "int16",     "int32",   "int64",   "string",  "bool",
                                      "float16",   "float64", "uint32",  "uint64",  "complex64", "complex128", "bfloat16",
                                      "float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz",
                                      "uint4", "int4"};
  if ((unsigned)dtype < sizeof names / sizeof names[0]) return names[dtype];
  return "undefined";
}

int64_t cleave_tensor_numel(const cleave_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    if (cl_mul_i64(n, t->dims[i], &n)) return -1;
  return n;
}

bool cl_shape_is_static(const cl_shape *s) {
  if (s->ndim < 0) return false;
  for (int i = 0; i < s->ndim; i++)
    if (s->d[i] < 0) return false;
  return true;
}

int64_t cl_shape_numel(const cl_shape *s) {
  if (!cl_shape_is_static(s)) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++)
    if (cl_mul_i64(n, s->d[i], &n)) return -1;
  return n;
}

int64_t cl_tensor_numel(const cl_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    if (cl_mul_i64(n, t->dims[i], &n)) return -1;
  return n;
}

void cl_shape_from_tensor(cl_shape *s, const cl_tensor *t) {
  s->ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) s->d[i] = t->dims[i];
}

int cl_shape_broadcast(const cl_shape *a, const cl_shape *b, cl_shape *out) {
  if (a->ndim < 0 || b->ndim < 0) {
    out->ndim = -1;
    return 0;
  }
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  out->ndim = n;
  for (int i = 0; i < n; i++) {
    int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    int64_t r;
    if (da == db) r = da;
    else if (da == 1) r = db;
    else if (db == 1) r = da;
    else if (da >= 0 && db >= 0) return CLEAVE_ESHAPE;
    else if (da >= 0) r = da; /* the other side is unknown or symbolic: it must equal da (or be 1) */
    else if (db >= 0) r = db;
    else r = CL_DIM_UNKNOWN;
    out->d[i] = r;
  }
  return 0;
}

const char *cl_shape_str(const cl_shape *s, char *buf, size_t len, char *const *sym_names) {
  if (s->ndim < 0) {
    snprintf(buf, len, "[?rank]");
    return buf;
  }
  size_t o = 0;
  o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "[");
  for (int i = 0; i < s->ndim; i++) {
    const char *sep = i ? "," : "";
    int64_t d = s->d[i];
    if (d >= 0) o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%lld", sep, (long long)d);
    else if (CL_DIM_IS_SYM(d) && sym_names)
      o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", sep, sym_names[CL_DIM_SYM_ID(d)]);
    else o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s?", sep);
  }
  snprintf(buf + o, o < len ? len - o : 0, "]");
  return buf;
}

const char *cl_dims_str(int ndim, const int64_t *dims, char *buf, size_t len) {
  cl_shape s = {.ndim = ndim};
  for (int i = 0; i < ndim && i < CL_MAX_DIMS; i++) s.d[i] = dims[i];
  return cl_shape_str(&s, buf, len, NULL);
}

int cl_tensor_alloc(cleave_ctx *ctx, cl_tensor *t) {
  int64_t n = cl_tensor_numel(t);
  size_t es = cl_dtype_size(t->dtype), bytes;
  if (es == 0) return cl_err(ctx, CLEAVE_EINVAL, "cannot allocate a tensor of dtype %d", t->dtype);
  if (n < 0) return cl_err(ctx, CLEAVE_ELIMIT, "tensor dims %s overflow", cl_dims_str(t->ndim, t->dims, (char[160]){0}, 160));
  if (cl_mul_size((size_t)n, es, &bytes))
    return cl_err(ctx, CLEAVE_ELIMIT, "tensor of %lld elements is too large", (long long)n);
  t->data = cl_aligned_alloc(ctx, 64, bytes ? bytes : 1);
  if (!t->data) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory allocating %zu bytes", bytes);
  memset(t->data, 0, bytes);
  t->nbytes = bytes;
  return 0;
}

void cl_tensor_release(cleave_ctx *ctx, cl_tensor *t) {
  if (!t) return;
  cl_aligned_free(ctx, t->data);
  t->data = NULL;
  t->nbytes = 0;
}

void cl_bcast_strides(int ndim, const int64_t *dims, int out_ndim, const int64_t *out_dims, int64_t *strides) {
  int64_t s = 1;
  for (int i = out_ndim - 1; i >= 0; i--) {
    int j = i - (out_ndim - ndim);
    if (j < 0) {
      strides[i] = 0;
      continue;
    }
    strides[i] = (dims[j] == 1 && out_dims[i] != 1) ? 0 : s;
    s *= dims[j];
  }
}

int64_t cl_tensor_get_i64(const cl_tensor *t, int64_t i) {
  switch (t->dtype) {
  case CLEAVE_DTYPE_INT64: return ((const int64_t *)t->data)[i];
  case CLEAVE_DTYPE_INT32: return ((const int32_t *)t->data)[i];
  case CLEAVE_DTYPE_FLOAT32: return (int64_t)((const float *)t->data)[i];
  case CLEAVE_DTYPE_FLOAT64: return (int64_t)((const double *)t->data)[i];
  case CLEAVE_DTYPE_BOOL:
  case CLEAVE_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
  case CLEAVE_DTYPE_INT8: return ((const int8_t *)t->data)[i];
  case CLEAVE_DTYPE_INT16: return ((const int16_t *)t->data)[i];
  case CLEAVE_DTYPE_UINT16: return ((const uint16_t *)t->data)[i];
  case CLEAVE_DTYPE_UINT32: return ((const uint32_t *)t->data)[i];
  case CLEAVE_DTYPE_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
  default: return 0;
  }
}

double cl_tensor_get_f64(const cl_tensor *t, int64_t i) {
  switch (t->dtype) {
  case CLEAVE_DTYPE_FLOAT32: return ((const float *)t->data)[i];
  case CLEAVE_DTYPE_FLOAT64: return ((const double *)t->data)[i];
  default: return (double)cl_tensor_get_i64(t, i);
  }
}

void cl_fill_random_f32(float *dst, int64_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1u;
  if (x == 0) x = 1;
  for (int64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    dst[i] = (float)(x >> 8) * (1.0f / 8388608.0f) - 1.0f; /* (k - 2^23) / 2^23: exact in float32 */
  }
}
