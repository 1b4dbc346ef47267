/* cleave: tensor descriptions shared by inputs, outputs and model metadata. */
#ifndef CLEAVE_TENSOR_H
#define CLEAVE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "cleave/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLEAVE_MAX_DIMS 8

/* Element types. The numbers are ONNX's TensorProto.DataType values. */
typedef enum cleave_dtype {
  CLEAVE_DTYPE_UNDEFINED = 0,
  CLEAVE_DTYPE_FLOAT32 = 1,
  CLEAVE_DTYPE_UINT8 = 2,
  CLEAVE_DTYPE_INT8 = 3,
  CLEAVE_DTYPE_UINT16 = 4,
  CLEAVE_DTYPE_INT16 = 5,
  CLEAVE_DTYPE_INT32 = 6,
  CLEAVE_DTYPE_INT64 = 7,
  CLEAVE_DTYPE_STRING = 8,
  CLEAVE_DTYPE_BOOL = 9,
  CLEAVE_DTYPE_FLOAT16 = 10,
  CLEAVE_DTYPE_FLOAT64 = 11,
  CLEAVE_DTYPE_UINT32 = 12,
  CLEAVE_DTYPE_UINT64 = 13
} cleave_dtype;

/* A view of a dense, row-major tensor. The struct never owns data: whoever filled it in owns the memory.
 * For model metadata (cleave_model_input()), data is NULL and a dimension that is not fixed by the model is -1,
 * with its symbolic name (if any) in dim_names. */
typedef struct cleave_tensor {
  const char *name;
  cleave_dtype dtype;
  int ndim;
  int64_t dims[CLEAVE_MAX_DIMS];
  const char *dim_names[CLEAVE_MAX_DIMS]; /* metadata only; NULL elsewhere */
  void *data;
  size_t nbytes;
} cleave_tensor;

/* Size in bytes of one element of dtype, or 0 for types without a fixed size (string, undefined). */
CLEAVE_API size_t cleave_dtype_size(cleave_dtype dtype);

/* Lower-case name of dtype ("float32", "int64", ...), "undefined" for unknown values. */
CLEAVE_API const char *cleave_dtype_name(cleave_dtype dtype);

/* Number of elements of t (product of dims; 1 for a scalar). */
CLEAVE_API int64_t cleave_tensor_numel(const cleave_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
