/* core: internal tensors and shapes (private).
 *
 * cl_tensor is a concrete tensor: known dims and data. cl_shape is what shape inference works on: a dimension is
 * >= 0 when known, CL_DIM_UNKNOWN when nothing is known, or a symbol (<= CL_DIM_SYM0) shared by every dimension
 * with the same name. */
#ifndef CLEAVE_CORE_TENSOR_H
#define CLEAVE_CORE_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ir/ctx.h"

#define CL_MAX_DIMS CLEAVE_MAX_DIMS
/* Largest dim and element count anything may have: declared by a model or produced by shape inference. Keeping
 * every dim below 2^40 keeps sums and small products of dims far from int64 overflow. */
#define CL_MAX_DIM_VALUE ((int64_t)1 << 40)
#define CL_DIM_UNKNOWN (-1)
#define CL_DIM_SYM0 (-2)
#define CL_DIM_IS_SYM(d) ((d) <= CL_DIM_SYM0)
#define CL_SYM_DIM(id) (CL_DIM_SYM0 - (int64_t)(id)) /* symbol id >= 0 -> dim value */
#define CL_DIM_SYM_ID(d) ((int)(CL_DIM_SYM0 - (d)))

/* Bit masks of dtypes, for capability tables. */
#define CL_T(dt) ((unsigned)(dt) < 32u ? 1u << (dt) : 0u)
#define CL_T_F32 CL_T(CLEAVE_DTYPE_FLOAT32)
#define CL_T_I32 CL_T(CLEAVE_DTYPE_INT32)
#define CL_T_I64 CL_T(CLEAVE_DTYPE_INT64)
#define CL_T_BOOL CL_T(CLEAVE_DTYPE_BOOL)
#define CL_T_INT (CL_T_I32 | CL_T_I64)
#define CL_T_NUM (CL_T_F32 | CL_T_INT)
#define CL_T_ALL (CL_T_NUM | CL_T_BOOL)

typedef struct cl_shape {
  int ndim; /* -1: rank unknown */
  int64_t d[CL_MAX_DIMS];
} cl_shape;

typedef struct cl_tensor {
  int dtype; /* cleave_dtype */
  int ndim;
  int64_t dims[CL_MAX_DIMS];
  void *data;
  size_t nbytes;
} cl_tensor;

size_t cl_dtype_size(int dtype);
bool cl_shape_is_static(const cl_shape *s);
/* Element count of a static shape; -1 if not static or it overflows. */
int64_t cl_shape_numel(const cl_shape *s);
int64_t cl_tensor_numel(const cl_tensor *t);
void cl_shape_from_tensor(cl_shape *s, const cl_tensor *t);
/* Numpy broadcast of a and b into out. Returns 0 or CLEAVE_ESHAPE (out is undefined then). Unknown and
 * symbolic dims broadcast as numpy would when the other side is 1 or equal; otherwise the known side wins. */
int cl_shape_broadcast(const cl_shape *a, const cl_shape *b, cl_shape *out);
/* "[1,3,?,N]" into buf (symbol names are printed with names[] if given). */
const char *cl_shape_str(const cl_shape *s, char *buf, size_t len, char *const *sym_names);
const char *cl_dims_str(int ndim, const int64_t *dims, char *buf, size_t len);

/* Allocates t->data for t's dtype and dims with ctx's aligned allocator (64 bytes). Zero-filled. */
int cl_tensor_alloc(cleave_ctx *ctx, cl_tensor *t);
void cl_tensor_release(cleave_ctx *ctx, cl_tensor *t);

/* Element strides of t broadcast to out_ndim/out_dims: 0 along broadcast dims, right-aligned as numpy. */
void cl_bcast_strides(int ndim, const int64_t *dims, int out_ndim, const int64_t *out_dims, int64_t *strides);

/* Reads element i of an integer or float tensor as int64 / double (any numeric dtype, bool). */
int64_t cl_tensor_get_i64(const cl_tensor *t, int64_t i);
double cl_tensor_get_f64(const cl_tensor *t, int64_t i);

/* Deterministic test input: element i of a stream seeded by seed, uniform in [-1, 1), exactly reproducible in
 * other languages (xorshift32 on uint32, 24-bit mantissa). Fills n float32 values. */
void cl_fill_random_f32(float *dst, int64_t n, uint32_t seed);

#endif
