/* core: the data operators' infer functions and the arithmetic their reference kernels share with them (private).
 *
 * Infer and kernel must agree to the element on Slice bounds and Range lengths, so both call these. */
#ifndef CLEAVE_CORE_OPS_DATA_H
#define CLEAVE_CORE_OPS_DATA_H

#include "core/ir/ops.h"

/* Infer functions of ops_data_2.c; the table cl_ops_data in ops_data.c lists them. */
int cl_data_infer_slice(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                        int n_out);
int cl_data_infer_gather(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out);
int cl_data_infer_gather_elements(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                  cl_oval *out, int n_out);
int cl_data_infer_tile(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out);
int cl_data_infer_expand(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out);
int cl_data_infer_constant_of_shape(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                    cl_oval *out, int n_out);
int cl_data_infer_range(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                        int n_out);
int cl_data_infer_pad(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out);
int cl_data_infer_depth_to_space(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                 cl_oval *out, int n_out);
int cl_data_infer_space_to_depth(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                 cl_oval *out, int n_out);

/* Helpers of the infer functions. */
/* Input i, or NULL when it is omitted or beyond n_in. */
const cl_ival *cl_data_opt_in(const cl_ival *in, int n_in, int i);
/* o gets rank ndim with every dimension unknown. */
void cl_data_set_unknown(cl_oval *o, int ndim);
/* CLEAVE_ELIMIT (recorded) when rank exceeds CL_MAX_DIMS, else 0. */
int cl_data_rank_ok(const cl_infer_ctx *ic, const cl_node *n, int64_t rank);
/* int32, int64 or not yet known. */
bool cl_data_int_dtype(int dt);
enum { CL_LIST_ABSENT = -1, CL_LIST_UNKNOWN = -2 };
/* An integer list that ONNX moved from attribute attr (opset < since) to input idx (opset >= since): at most max
 * values into dst; *count gets their number, CL_LIST_ABSENT or CL_LIST_UNKNOWN (an input whose value is not known
 * yet). Returns 0 or a recorded error (a non-integer or non-1-D input, too many values). */
int cl_data_read_list(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, const char *attr,
                      int idx, int since, int64_t *dst, int max, int *count);
/* Length of the 1-D input idx when its shape is known, else -1. */
int64_t cl_data_list_len(const cl_ival *in, int n_in, int idx);

/* Slice on one axis of extent d with start, end and step (!= 0) as the ONNX spec clamps them: returns the number
 * of elements taken and sets *first to the index of the first one. */
int64_t cl_slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first);

/* Length of Range(start, limit, delta) for scalar tensors of one dtype (float32, int32 or int64), computed as
 * ONNX Runtime does; -1 when delta is 0 or the length is not finite or does not fit int64. */
int64_t cl_range_count(const cl_tensor *start, const cl_tensor *limit, const cl_tensor *delta);

/* Cast targets the reference kernels convert to; *name gets the ONNX name of to (also for unknown types). */
bool cl_cast_target_ok(int64_t to, const char **name);

/* Pad modes. */
enum { CL_PAD_CONSTANT, CL_PAD_REFLECT, CL_PAD_EDGE, CL_PAD_WRAP, CL_PAD_BAD };
int cl_pad_mode(const cl_node *n);

#endif
