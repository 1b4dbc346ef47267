/* local/ref: the reference backend's kernels (private).
 *
 * Portable C kernels: float32, with int32/int64/bool where shape arithmetic needs them. They are the correctness
 * oracle for every other backend and also evaluate constant subgraphs at load. A kernel receives inputs (NULL for
 * an omitted optional input) and outputs whose dtype, dims and zero-filled data are already set from the schema's
 * infer function. */
#ifndef CLEAVE_LOCAL_REF_H
#define CLEAVE_LOCAL_REF_H

#include "core/ir/graph.h"

typedef struct cl_kctx {
  cleave_ctx *ctx;
  int opset;
} cl_kctx;

typedef int (*cl_kernel_fn)(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                            cl_tensor *const *out, int n_out);
/* Extra capability check beyond dtypes (attributes, modes): 1 ok, 0 unsupported with a reason. */
typedef int (*cl_kernel_check_fn)(const cl_graph *g, const cl_node *n, char *why, size_t why_len);

typedef struct cl_ref_kernel {
  const char *op;
  uint32_t types; /* CL_T_* mask allowed for input 0 (the op's main type) */
  cl_kernel_check_fn check; /* may be NULL */
  cl_kernel_fn run;
} cl_ref_kernel;

extern const cl_ref_kernel cl_ref_kernels_elementwise[];
extern const cl_ref_kernel cl_ref_kernels_nn[];
extern const cl_ref_kernel cl_ref_kernels_data[];
extern const cl_ref_kernel cl_ref_kernels_reduce[];

const cl_ref_kernel *cl_ref_find(const char *op);
/* 1 if the reference backend runs n, else 0 with the reason. */
int cl_ref_supports(const cl_graph *g, const cl_node *n, char *why, size_t why_len);
/* Infers n's outputs from concrete inputs, allocates them and runs the kernel. On error outputs are released. */
int cl_ref_eval(cleave_ctx *ctx, int opset, const cl_node *n, const cl_tensor *const *in, int n_in,
                cl_tensor *out, int n_out);
/* The two above as the evaluator constant folding runs (core/ir/ctx.h). */
extern const cl_node_eval cl_ref_node_eval;

#endif
