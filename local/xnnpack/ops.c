/* local/xnnpack: XNNPACK operators of the steps: created once (with packed weights) at compile, or at plan time
 * for those whose parameters depend on the shape (channel counts of pools, softmax, resize); set up at plan time
 * with the arena's pointers; run with the context's thread pool. */
#include <math.h>
#include <string.h>

#include "local/xnnpack/xnn.h"

static const char *status_name(enum xnn_status s) {
  switch (s) {
  case xnn_status_success: return "success";
  case xnn_status_uninitialized: return "XNNPACK is not initialised";
  case xnn_status_invalid_parameter: return "invalid parameter";
  case xnn_status_invalid_state: return "invalid state";
  case xnn_status_unsupported_parameter: return "unsupported parameter";
  case xnn_status_unsupported_hardware: return "unsupported hardware";
  case xnn_status_out_of_memory: return "out of memory";
  default: return "unknown status";
  }
}

int xo_status(cleave_ctx *ctx, const cl_graph *g, int node, enum xnn_status s, const char *what) {
  if (s == xnn_status_success) return 0;
  int code = s == xnn_status_out_of_memory                                                   ? CLEAVE_ENOMEM
             : s == xnn_status_unsupported_parameter || s == xnn_status_unsupported_hardware ? CLEAVE_EUNSUPPORTED
                                                                                             : CLEAVE_EBACKEND;
  return cl_node_err(ctx, &g->nodes[node], code, "XNNPACK %s failed: %s", what, status_name(s));
}

static int fail(xexe *e, xstep *st, enum xnn_status s, const char *what) {
  return xo_status(e->ctx, e->g, st->node, s, what);
}

/* ONNX [O][I/g][kh][kw] -> XNNPACK [g][O/g][kh][kw][I/g] */
static void conv_weights(const xstep *st, float *dst) {
  size_t O = st->groups * st->goc, I = st->gic, kh = st->geo.kh, kw = st->geo.kw;
  for (size_t o = 0; o < O; o++)
    for (size_t y = 0; y < kh; y++)
      for (size_t x = 0; x < kw; x++)
        for (size_t i = 0; i < I; i++)
          dst[((o * kh + y) * kw + x) * I + i] = st->w[((o * I + i) * kh + y) * kw + x];
}

/* ONNX [g*I/g][O/g][kh][kw] -> XNNPACK [g][O/g][kh][kw][I/g] */
static void deconv_weights(const xstep *st, float *dst) {
  size_t G = st->groups, I = st->gic, O = st->goc, kh = st->geo.kh, kw = st->geo.kw;
  for (size_t g = 0; g < G; g++)
    for (size_t o = 0; o < O; o++)
      for (size_t y = 0; y < kh; y++)
        for (size_t x = 0; x < kw; x++)
          for (size_t i = 0; i < I; i++)
            dst[((((g * O + o) * kh + y) * kw + x) * I) + i] = st->w[(((g * I + i) * O + o) * kh + y) * kw + x];
}

int xo_create(xexe *e, xstep *st) {
  enum xnn_status s = xnn_status_success;
  const struct xgeom *q = &st->geo;
  float lo = st->out_min, hi = st->out_max;
  switch (st->kind) {
  case XS_CONV:
  case XS_DECONV: {
    size_t n = (size_t)st->groups * st->goc * st->gic * q->kh * q->kw;
    float *w = cl_malloc(e->ctx, sizeof(float) * (n ? n : 1));
    if (!w) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory packing weights");
    size_t cin = st->groups * st->gic, cout = st->groups * st->goc;
    if (st->kind == XS_CONV) {
      conv_weights(st, w);
      s = xnn_create_convolution2d_nhwc_f32(q->pt, q->pr, q->pb, q->pl, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw,
                                            st->groups, st->gic, st->goc, cin, cout, w, st->bias, lo, hi,
                                            st->same_upper ? XNN_FLAG_TENSORFLOW_SAME_PADDING : 0, &st->op);
    } else {
      deconv_weights(st, w);
      s = xnn_create_deconvolution2d_nhwc_f32(q->pt, q->pr, q->pb, q->pl, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw,
                                              st->groups, st->gic, st->goc, cin, cout, w, st->bias, lo, hi, 0,
                                              &st->op);
    }
    cl_free(e->ctx, w);
    break;
  }
  case XS_FC:
    s = xnn_create_fully_connected_nc_f32(st->gic, st->goc, st->gic, st->goc, st->w, st->bias, lo, hi, 0, &st->op);
    break;
  case XS_BINARY:
    switch (st->op_code) {
    case XB_ADD: s = xnn_create_add_nd_f32(-INFINITY, INFINITY, 0, &st->op); break;
    case XB_SUB: s = xnn_create_subtract_nd_f32(-INFINITY, INFINITY, 0, &st->op); break;
    case XB_MUL: s = xnn_create_multiply_nd_f32(-INFINITY, INFINITY, 0, &st->op); break;
    case XB_DIV: s = xnn_create_divide_nd_f32(-INFINITY, INFINITY, 0, &st->op); break;
    case XB_MAX: s = xnn_create_maximum_nd_f32(0, &st->op); break;
    default: s = xnn_create_minimum_nd_f32(0, &st->op); break;
    }
    break;
  case XS_UNARY: /* one channel: setup treats the tensor as one contiguous run */
    switch (st->op_code) {
    case XU_SIGMOID: s = xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &st->op); break;
    case XU_LEAKY: s = xnn_create_leaky_relu_nc_f32(1, 1, 1, st->alpha, 0, &st->op); break;
    case XU_ELU: s = xnn_create_elu_nc_f32(1, 1, 1, st->alpha, 0, &st->op); break;
    case XU_ABS: s = xnn_create_abs_nc_f32(1, 1, 1, 0, &st->op); break;
    case XU_NEG: s = xnn_create_negate_nc_f32(1, 1, 1, 0, &st->op); break;
    case XU_FLOOR: s = xnn_create_floor_nc_f32(1, 1, 1, 0, &st->op); break;
    case XU_CEIL: s = xnn_create_ceiling_nc_f32(1, 1, 1, 0, &st->op); break;
    case XU_ROUND: s = xnn_create_bankers_rounding_nc_f32(1, 1, 1, 0, &st->op); break;
    case XU_SQUARE: s = xnn_create_square_nc_f32(1, 1, 1, 0, &st->op); break;
    default: s = xnn_create_square_root_nc_f32(1, 1, 1, 0, &st->op); break;
    }
    break;
  case XS_PAD: {
    uint32_t bits;
    memcpy(&bits, &st->alpha, sizeof bits);
    s = xnn_create_constant_pad_nd_x32(&bits, 0, &st->op);
    break;
  }
  case XS_PRELU: s = xnn_create_prelu_nc_f32(st->goc, st->goc, st->goc, st->w, 0, &st->op); break;
  default: return 0;
  }
  cl_free(e->ctx, st->w);
  cl_free(e->ctx, st->bias);
  st->w = st->bias = NULL;
  return fail(e, st, s, "operator creation");
}

/* (Re)creates an operator whose parameters depend on a channel count. */
static enum xnn_status recreate(xstep *st, size_t channels) {
  if (st->op && st->created_for == channels) return xnn_status_success;
  if (st->op) xnn_delete_operator(st->op);
  st->op = NULL;
  const struct xgeom *q = &st->geo;
  size_t c = channels;
  enum xnn_status s;
  switch (st->kind) {
  case XS_SOFTMAX: s = xnn_create_softmax_nc_f32(c, c, c, 0, &st->op); break;
  case XS_MAXPOOL:
    s = xnn_create_max_pooling2d_nhwc_f32(q->pt, q->pr, q->pb, q->pl, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw, c, c,
                                          c, -INFINITY, INFINITY, 0, &st->op);
    break;
  case XS_AVGPOOL:
    s = xnn_create_average_pooling2d_nhwc_f32(q->pt, q->pr, q->pb, q->pl, q->kh, q->kw, q->sh, q->sw, c, c, c,
                                              -INFINITY, INFINITY, 0, &st->op);
    break;
  case XS_GAP: s = xnn_create_global_average_pooling_nwc_f32(c, c, c, -INFINITY, INFINITY, 0, &st->op); break;
  default: {
    uint32_t flags = st->coord_mode == CL_RS_ALIGN_CORNERS ? XNN_FLAG_ALIGN_CORNERS
                     : st->coord_mode == CL_RS_ASYMMETRIC  ? XNN_FLAG_TENSORFLOW_LEGACY_MODE
                                                           : 0;
    s = xnn_create_resize_bilinear2d_nhwc_f32(c, c, c, flags, &st->op);
    break;
  }
  }
  st->created_for = s == xnn_status_success ? channels : 0;
  return s;
}

int xo_setup(xexe *e, xstep *st) {
  pthreadpool_t tp = st->tp;
  const xv *in = &e->v[st->in[0]], *out = &e->v[st->out[0]];
  const float *x = in->ptr;
  float *y = out->ptr;
  enum xnn_status s = xnn_status_success;
  switch (st->kind) {
  case XS_CONV:
  case XS_DECONV:
    if ((size_t)in->dims[3] != st->groups * st->gic)
      return cl_node_err(e->ctx, &e->g->nodes[st->node], CLEAVE_ESHAPE,
                         "input has %lld channels; the weights take %zu", (long long)in->dims[3],
                         st->groups * st->gic);
    if (st->kind == XS_CONV)
      s = xnn_setup_convolution2d_nhwc_f32(st->op, (size_t)in->dims[0], (size_t)in->dims[1], (size_t)in->dims[2], x,
                                           y, tp);
    else
      s = xnn_setup_deconvolution2d_nhwc_f32(st->op, (size_t)in->dims[0], (size_t)in->dims[1], (size_t)in->dims[2],
                                             st->adj_h, st->adj_w, x, y, tp);
    break;
  case XS_FC: {
    if (in->ndim < 1 || (size_t)in->dims[in->ndim - 1] != st->gic)
      return cl_node_err(e->ctx, &e->g->nodes[st->node], CLEAVE_ESHAPE,
                         "input rows have %lld elements; the weights take %zu",
                         in->ndim ? (long long)in->dims[in->ndim - 1] : 0LL, st->gic);
    s = xnn_setup_fully_connected_nc_f32(st->op, xv_numel(in) / st->gic, x, y, tp);
    break;
  }
  case XS_BINARY: {
    const xv *b = &e->v[st->in[1]];
    size_t da[XNN_MAX_TENSOR_DIMS], db[XNN_MAX_TENSOR_DIMS];
    if (in->ndim > XNN_MAX_TENSOR_DIMS || b->ndim > XNN_MAX_TENSOR_DIMS)
      return cl_node_err(e->ctx, &e->g->nodes[st->node], CLEAVE_EUNSUPPORTED, "more than %d dims",
                         XNN_MAX_TENSOR_DIMS);
    for (int i = 0; i < in->ndim; i++)
      da[i] = (size_t)in->dims[i];
    for (int i = 0; i < b->ndim; i++)
      db[i] = (size_t)b->dims[i];
    const float *xb = b->ptr;
    size_t na = (size_t)in->ndim, nb = (size_t)b->ndim;
    switch (st->op_code) {
    case XB_ADD: s = xnn_setup_add_nd_f32(st->op, na, da, nb, db, x, xb, y, tp); break;
    case XB_SUB: s = xnn_setup_subtract_nd_f32(st->op, na, da, nb, db, x, xb, y, tp); break;
    case XB_MUL: s = xnn_setup_multiply_nd_f32(st->op, na, da, nb, db, x, xb, y, tp); break;
    case XB_DIV: s = xnn_setup_divide_nd_f32(st->op, na, da, nb, db, x, xb, y, tp); break;
    case XB_MAX: s = xnn_setup_maximum_nd_f32(st->op, na, da, nb, db, x, xb, y, tp); break;
    default: s = xnn_setup_minimum_nd_f32(st->op, na, da, nb, db, x, xb, y, tp); break;
    }
    break;
  }
  case XS_UNARY: {
    size_t n = xv_numel(in);
    switch (st->op_code) {
    case XU_SIGMOID: s = xnn_setup_sigmoid_nc_f32(st->op, n, x, y, tp); break;
    case XU_LEAKY: s = xnn_setup_leaky_relu_nc_f32(st->op, n, x, y, tp); break;
    case XU_ELU: s = xnn_setup_elu_nc_f32(st->op, n, x, y, tp); break;
    case XU_ABS: s = xnn_setup_abs_nc_f32(st->op, n, x, y, tp); break;
    case XU_NEG: s = xnn_setup_negate_nc_f32(st->op, n, x, y, tp); break;
    case XU_FLOOR: s = xnn_setup_floor_nc_f32(st->op, n, x, y, tp); break;
    case XU_CEIL: s = xnn_setup_ceiling_nc_f32(st->op, n, x, y, tp); break;
    case XU_ROUND: s = xnn_setup_bankers_rounding_nc_f32(st->op, n, x, y, tp); break;
    case XU_SQUARE: s = xnn_setup_square_nc_f32(st->op, n, x, y, tp); break;
    default: s = xnn_setup_square_root_nc_f32(st->op, n, x, y, tp); break;
    }
    break;
  }
  case XS_SOFTMAX: {
    size_t rows = 1, cols = 1;
    for (int i = 0; i < in->ndim; i++)
      *(i < st->axis ? &rows : &cols) *= (size_t)in->dims[i];
    if (!cols) return 0;
    if ((s = recreate(st, cols)) == xnn_status_success) s = xnn_setup_softmax_nc_f32(st->op, rows, x, y, tp);
    break;
  }
  case XS_MAXPOOL:
  case XS_AVGPOOL:
    if ((s = recreate(st, (size_t)in->dims[3])) != xnn_status_success) break;
    if (st->kind == XS_MAXPOOL)
      s = xnn_setup_max_pooling2d_nhwc_f32(st->op, (size_t)in->dims[0], (size_t)in->dims[1], (size_t)in->dims[2], x,
                                           y, tp);
    else
      s = xnn_setup_average_pooling2d_nhwc_f32(st->op, (size_t)in->dims[0], (size_t)in->dims[1], (size_t)in->dims[2],
                                               x, y, tp);
    break;
  case XS_GAP:
    if ((s = recreate(st, (size_t)in->dims[3])) == xnn_status_success)
      s = xnn_setup_global_average_pooling_nwc_f32(st->op, (size_t)in->dims[0], (size_t)(in->dims[1] * in->dims[2]),
                                                   x, y, tp);
    break;
  case XS_PAD: {
    size_t d[XNN_MAX_TENSOR_DIMS];
    for (int i = 0; i < in->ndim; i++)
      d[i] = (size_t)in->dims[i];
    s = xnn_setup_constant_pad_nd_x32(st->op, (size_t)in->ndim, d, st->pre, st->post, x, y, tp);
    break;
  }
  case XS_PRELU:
    if (in->ndim < 1 || (size_t)in->dims[in->ndim - 1] != st->goc)
      return cl_node_err(e->ctx, &e->g->nodes[st->node], CLEAVE_ESHAPE, "%zu slopes for %lld channels", st->goc,
                         in->ndim ? (long long)in->dims[in->ndim - 1] : 0LL);
    s = xnn_setup_prelu_nc_f32(st->op, xv_numel(in) / st->goc, x, y, tp);
    break;
  case XS_RESIZE_BL:
    if (in->dims[0] != out->dims[0] || in->dims[3] != out->dims[3])
      return cl_node_err(e->ctx, &e->g->nodes[st->node], CLEAVE_EUNSUPPORTED,
                         "the cpu device resizes only the spatial axes");
    if ((s = recreate(st, (size_t)in->dims[3])) == xnn_status_success)
      s = xnn_setup_resize_bilinear2d_nhwc_f32(st->op, (size_t)in->dims[0], (size_t)in->dims[1], (size_t)in->dims[2],
                                               (size_t)out->dims[1], (size_t)out->dims[2], x, y, tp);
    break;
  default: return 0;
  }
  return fail(e, st, s, "setup");
}

int xo_run(xexe *e, xstep *st) { return fail(e, st, xnn_run_operator(st->op, st->tp), "run"); }
