/* core: what the nn operator schemas share with their kernels (private).
 *
 * Sliding-window geometry (Conv, ConvTranspose and the pools) is derived from attributes and input dims in one
 * place, so that infer and the kernels never disagree about pads or output sizes. */
#ifndef CLEAVE_CORE_OPS_NN_H
#define CLEAVE_CORE_OPS_NN_H

#include "core/ir/ops.h"

/* Per spatial dim: input size, output size, kernel, stride, dilation, pad at the start and at the end. A size
 * that is not known yet (at load) is CL_DIM_UNKNOWN, and then so are the outputs and pads that depend on it. */
typedef struct cl_nn_geom {
  int nsp;
  int64_t in[CL_MAX_DIMS], out[CL_MAX_DIMS], k[CL_MAX_DIMS], s[CL_MAX_DIMS], d[CL_MAX_DIMS];
  int64_t pb[CL_MAX_DIMS], pe[CL_MAX_DIMS];
} cl_nn_geom;

/* Geometry of Conv and the pools from strides, dilations, pads, auto_pad and kernel (nsp entries; <0 unknown).
 * Returns 0 or CLEAVE_EMODEL with a message naming the attribute. */
int cl_nn_geom_init(cleave_ctx *ctx, const cl_node *n, int nsp, const int64_t *in, const int64_t *kernel,
                    bool ceil_mode, cl_nn_geom *g);

/* Geometry of ConvTranspose (out is the output size; pb the start pad, which may be 0 while the output is
 * extended past the natural size by output_shape). */
int cl_nn_convt_geom_init(cleave_ctx *ctx, const cl_node *n, int nsp, const int64_t *in, const int64_t *kernel,
                          cl_nn_geom *g);

/* Schemas that live in ops_nn_2.c. */
int cl_nn_infer_matmul(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out);
int cl_nn_infer_gemm(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out);
int cl_nn_infer_resize(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out);
int cl_nn_infer_upsample(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out);

/* Resize / Upsample parameters resolved from attributes, opset and input values, shared with the kernel. */
enum { CL_RS_NEAREST, CL_RS_LINEAR, CL_RS_CUBIC };
enum {
  CL_RS_HALF_PIXEL,
  CL_RS_PYTORCH_HALF_PIXEL,
  CL_RS_ALIGN_CORNERS,
  CL_RS_ASYMMETRIC,
  CL_RS_TF_HALF_PIXEL_FOR_NN,
  CL_RS_TF_CROP_AND_RESIZE,
  CL_RS_HALF_PIXEL_SYMMETRIC
};
enum { CL_RS_ROUND_PREFER_FLOOR, CL_RS_ROUND_PREFER_CEIL, CL_RS_FLOOR, CL_RS_CEIL, CL_RS_SIMPLE };

typedef struct cl_nn_resize {
  int mode, coord, nearest;
  float cubic_a, extrapolation;
  bool exclude_outside, antialias;
  int rank;
  int64_t out[CL_MAX_DIMS];    /* output dims; CL_DIM_UNKNOWN where not known yet */
  float scale[CL_MAX_DIMS];    /* output / input, as the coordinate transform uses it */
  double out_len[CL_MAX_DIMS]; /* the output length align_corners and tf_crop_and_resize divide by */
  float roi_start[CL_MAX_DIMS], roi_end[CL_MAX_DIMS];
} cl_nn_resize;

/* Resolves Resize or Upsample (by n->op) parameters from attributes, opset and the inputs in[0..n_in). Values that
 * are not known yet leave the affected out[] at CL_DIM_UNKNOWN. Returns 0 or an error about the node. */
int cl_nn_resize_params(cleave_ctx *ctx, int opset, const cl_node *n, const cl_ival *in, int n_in, cl_nn_resize *p);
/* The input index nearest-neighbour Resize reads for output coordinate o along axis a (the reference kernel's
 * rule, shared so that other backends agree with it exactly). */
int64_t cl_nn_resize_nearest(const cl_nn_resize *p, int a, int64_t o, int64_t in_len);

#endif
