/* core: operator schemas and shape inference (private).
 *
 * One schema per ONNX operator (default domain). Its infer function is the single source of truth for output
 * dtypes and shapes: the loader calls it with symbolic shapes (and constant values where known), and executors
 * call it again with concrete shapes and all values at run time to size their outputs. Kernels never compute
 * output shapes themselves. */
#ifndef CLEAVE_CORE_OPS_H
#define CLEAVE_CORE_OPS_H

#include "core/ir/graph.h"

/* What infer knows of one input: dtype, shape and, when the input is constant (at load) or always (at run
 * time), its value. An omitted optional input has present == false. */
typedef struct cl_ival {
  bool present;
  int dtype;
  cl_shape shape;
  const cl_tensor *value;
} cl_ival;

/* What infer produces for one output. */
typedef struct cl_oval {
  int dtype;
  cl_shape shape;
} cl_oval;

typedef struct cl_infer_ctx {
  cleave_ctx *ctx;
  int opset;
  bool runtime; /* true: every input has a value and all shapes are concrete */
} cl_infer_ctx;

/* Fills out[0..n_out) from in[0..n_in). Returns 0 or an error recorded with cl_node_err(). When a value the
 * output shape depends on is unknown at load, the affected dims (or the rank, ndim = -1) are CL_DIM_UNKNOWN. */
typedef int (*cl_infer_fn)(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out);

typedef struct cl_op_schema {
  const char *name;
  int min_inputs, max_inputs; /* max_inputs -1: variadic */
  int min_outputs, max_outputs;
  cl_infer_fn infer;
} cl_op_schema;

/* Tables, one per op family, each ended by an entry with name NULL. */
extern const cl_op_schema cl_ops_elementwise[];
extern const cl_op_schema cl_ops_nn[];
extern const cl_op_schema cl_ops_data[];
extern const cl_op_schema cl_ops_reduce[];

/* The schema of op in the default domain ("" or "ai.onnx"), or NULL. */
const cl_op_schema *cl_op_find(const char *domain, const char *op);

/* Runs n's infer on in; checks input/output counts against the schema first. */
int cl_op_infer(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out);

/* Helpers for infer functions. */
/* Normalises a possibly negative axis against rank; error CLEAVE_EMODEL if out of range. */
int cl_norm_axis(cleave_ctx *ctx, const cl_node *n, int64_t axis, int rank, int *out);
/* Integer list from an integer tensor value. Returns the count, -1 when the value is unknown (or the input
 * absent), -2 when it has more than max elements. */
int cl_ival_ints(const cl_ival *v, int64_t *dst, int max);

#endif
