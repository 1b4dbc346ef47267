/* local/xnnpack: the cpu backend (private).
 *
 * Three phases, as in XNNPACK itself:
 *   lower (compile, once per session): the segment's nodes become steps. Producers with weights (Conv,
 *     ConvTranspose, Gemm, MatMul with constant weights) absorb following BatchNormalization, per-channel
 *     affine ops and one clamp (Relu, Clip, HardSigmoid) into their weights and output range; chains of cheap
 *     elementwise ops (affine, clamp, HardSwish including Paddle's x*clip(x+3,0,6)/6, HardSigmoid) become one
 *     pass; every 4-D tensor that feeds an NHWC operator is kept in NHWC, and layout changes are explicit steps
 *     at region boundaries. Ops XNNPACK lacks become reference-kernel steps over the same memory.
 *   plan (on the first run, and again when the input shapes change): concrete shapes for every value, values
 *     that depend only on shapes computed once (Shape -> Slice -> Concat -> Reshape chains), one arena laid out
 *     from the values' lifetimes, and every XNNPACK operator set up with its final pointers.
 *   run: copies the inputs in, runs the steps, copies the outputs out. It allocates nothing.
 */
#ifndef CLEAVE_LOCAL_XNNPACK_XNN_H
#define CLEAVE_LOCAL_XNNPACK_XNN_H

#include <pthreadpool.h>
#include <xnnpack.h>

#include "core/ir/ops_nn.h"
#include "local/device.h"

enum { XL_ONNX, XL_NHWC };

typedef enum xs_kind {
  XS_REF,       /* a reference kernel over the step's tensors */
  XS_ALIAS,     /* output shares the input's memory (Reshape, Flatten, Squeeze, Unsqueeze, Identity) */
  XS_COPY,      /* plain copy */
  XS_TO_NHWC,   /* NCHW -> NHWC */
  XS_TO_NCHW,   /* NHWC -> NCHW */
  XS_CONV,      /* XNNPACK convolution (NHWC) */
  XS_DECONV,    /* XNNPACK deconvolution (NHWC) */
  XS_FC,        /* XNNPACK fully connected: Gemm, MatMul with constant weights */
  XS_BINARY,    /* XNNPACK nd binary op with broadcasting */
  XS_UNARY,     /* XNNPACK nc unary op over all elements */
  XS_SOFTMAX,   /* XNNPACK softmax over the innermost extent */
  XS_MAXPOOL,   /* XNNPACK max pooling (NHWC) */
  XS_AVGPOOL,   /* XNNPACK average pooling (NHWC) */
  XS_GAP,       /* XNNPACK global average pooling (NHWC) */
  XS_RESIZE_BL, /* XNNPACK bilinear resize (NHWC) */
  XS_RESIZE_NN, /* nearest resize (NHWC), own kernel */
  XS_PAD,       /* XNNPACK constant pad (any layout) */
  XS_PRELU,     /* XNNPACK PReLU over the innermost axis */
  XS_CONCAT,    /* own kernel, any layout */
  XS_MATMUL,    /* batched matmul between activations, own kernel */
  XS_EW,        /* chain of cheap elementwise ops in one pass, own kernel */
} xs_kind;

/* XS_BINARY operations */
enum { XB_ADD, XB_SUB, XB_MUL, XB_DIV, XB_MAX, XB_MIN };
/* XS_UNARY operations */
enum {
  XU_CLAMP,
  XU_SIGMOID,
  XU_HARDSWISH,
  XU_LEAKY,
  XU_ELU,
  XU_ABS,
  XU_NEG,
  XU_FLOOR,
  XU_CEIL,
  XU_ROUND,
  XU_SQUARE,
  XU_SQRT
};
/* XS_EW operations, applied in order to each element; per-channel parameters index the innermost axis */
enum { XE_AFFINE, XE_CLAMP, XE_HARDSWISH, XE_HARDSIGMOID };

#define XS_MAX_IN 64
#define XS_MAX_EW 8

typedef struct xe_op {
  int kind;
  float a, b;          /* clamp bounds, HardSigmoid alpha/beta, scalar affine scale/bias */
  float *scale, *bias; /* XE_AFFINE per channel (owned), or NULL for the scalars */
  int64_t channels;    /* length of scale/bias */
} xe_op;

/* A value of the lowered program: a graph value in one layout, or a derived one. */
typedef struct xv {
  int gv;     /* graph value, or -1 */
  int layout; /* XL_ONNX or XL_NHWC (rank 4 only) */
  int dtype;
  const cl_tensor *konst; /* constant (graph-owned) in ONNX layout, or NULL */
  void *kdata;            /* constant data in this layout when it differs from konst's (owned) */
  int input;              /* index among the segment inputs, or -1 */
  int producer;           /* step index, or -1 */
  /* per plan */
  int ndim;
  int64_t dims[CL_MAX_DIMS]; /* physical dims */
  size_t nbytes;
  int alias_of;   /* root value whose memory this one shares, or -1 */
  bool known;     /* value computed at plan time (constants, shape arithmetic) */
  cl_tensor pval; /* plan-time value (owned), when known and not a constant */
  size_t offset;  /* in the arena, for values that live there */
  bool in_arena;
  int first, last; /* lifetime in steps */
  void *ptr;       /* where the data is during a run */
} xv;

typedef struct xstep {
  xs_kind kind;
  int node;                /* main graph node id */
  char *label;             /* fused ops, "Conv+BatchNormalization+Relu" (owned), or NULL */
  int in[XS_MAX_IN], n_in; /* value ids, -1 for an omitted optional input */
  int out[4], n_out;
  const cl_node *ref; /* XS_REF: the node */
  int op_code;        /* XB_* / XU_* */
  xnn_operator_t op;
  /* weights and geometry (conv, deconv, fc, pools) */
  float *w, *bias; /* owned until the operator is created */
  struct xgeom {
    uint32_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  } geo;
  uint32_t groups, adj_h, adj_w;
  size_t gic, goc;
  float out_min, out_max;
  float alpha, beta;            /* unary parameters */
  bool same_upper;              /* auto_pad SAME_UPPER: XNNPACK's TensorFlow SAME padding */
  int axis;                     /* concat: axis in the physical layout; softmax: first axis of the inner extent */
  int coord_mode, nearest_mode; /* nearest resize */
  size_t pre[XNN_MAX_TENSOR_DIMS], post[XNN_MAX_TENSOR_DIMS]; /* pad, in the physical layout */
  int n_ew;
  xe_op ew[XS_MAX_EW];
  /* per plan */
  bool skip; /* outputs known at plan time */
  bool fill; /* an empty input gives an output of one value (Pad: the pad value; GAP: 0) */
  float fill_value;
  pthreadpool_t tp;   /* the context's pool, or NULL for steps too small to share */
  size_t created_for; /* the shape-dependent parameter an operator created at plan time was made for */
  int32_t *idx;       /* nearest resize: source rows then columns (owned) */
  size_t m, n, k, batch, a_stride, b_stride; /* matmul */
  size_t *offs;      /* matmul with batches broadcast on both sides: A and B offsets per batch (owned) */
  size_t rows, cols; /* softmax, ew, copy, transposes: geometry */
} xstep;

typedef struct xexe {
  cleave_ctx *ctx;
  const cl_graph *g;
  pthreadpool_t tp;
  xv *v;
  int n_v, cap_v;
  xstep *s;
  int n_s, cap_s;
  int *vmap[2];            /* per graph value and layout: value id, or -1 */
  int *inputs, n_inputs;   /* graph value ids */
  int *outputs, n_outputs; /* graph value ids */
  int *out_v;              /* value id of each output (ONNX layout) */
  int *nodes, n_nodes;     /* the segment's nodes, in order */
  /* plan */
  bool planned;
  int64_t *plan_key; /* dims of every input, and the contents of small integer inputs */
  int n_key;
  int64_t *key_scratch;
  bool *value_key;      /* per input: its values are part of the key (NULL: none) */
  cl_shape *shape;      /* per graph value: concrete ONNX shape */
  cl_tensor *pk;        /* per graph value: value known at plan time (data NULL if not) */
  bool *pk_owned;       /* per graph value: pk was computed by the plan */
  cl_shape *slot_shape; /* per segment node and output slot (4 each): shapes, for omitted outputs */
  int *slot_dtype;      /* and their dtypes */
  void *arena;
  size_t arena_size, arena_cap;
} xexe;

/* lower.c */
int xl_lower(xexe *e, const cl_segment *seg);
int xl_value(xexe *e, int gv, int layout); /* the value for gv in layout, made on demand */
/* plan.c */
int xp_key_size(const xexe *e);
bool xp_same_key(xexe *e, const cl_tensor *inputs, int64_t *scratch);
int xp_plan(xexe *e, const cl_tensor *inputs);
void xp_reset(xexe *e);
/* ops.c: XNNPACK operators */
int xo_create(xexe *e, xstep *st); /* operators whose parameters are known at compile */
int xo_setup(xexe *e, xstep *st);  /* per plan: (re)create shape-dependent ones, bind pointers */
int xo_run(xexe *e, xstep *st);    /* one step of a run */
int xo_status(cleave_ctx *ctx, const cl_graph *g, int node, enum xnn_status s, const char *what);
/* ew.c */
void xe_run(pthreadpool_t tp, const xstep *st, const float *x, float *y, size_t rows, size_t cols);
/* xnn_device.c */
int xd_init(cleave_ctx *ctx);

static inline size_t xv_numel(const xv *v) {
  size_t n = 1;
  for (int i = 0; i < v->ndim; i++)
    n *= (size_t)v->dims[i];
  return n;
}

/* Permutation of a rank-4 ONNX (NCHW) shape into NHWC and back. */
static inline void xl_nhwc_dims(const int64_t *nchw, int64_t *nhwc) {
  int64_t n = nchw[0], c = nchw[1], h = nchw[2], w = nchw[3];
  nhwc[0] = n, nhwc[1] = h, nhwc[2] = w, nhwc[3] = c;
}

#endif
