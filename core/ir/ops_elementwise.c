/* core: schemas and shape inference of the elementwise operators.
 *
 * Unary operators keep their input's dtype and shape. Binary, variadic and ternary operators broadcast as numpy
 * does (before opset 7 the "broadcast"/"axis" attributes aligned B at an axis instead; that form is turned into
 * numpy form by padding B with trailing ones). Inputs that are combined must share a dtype, except Pow's
 * exponent and Where's condition. */
#include <string.h>

#include "core/ir/ops.h"

/* Classes of dtypes an operator accepts; checked only when the dtype is known. */
enum { TC_FLOAT = 1, TC_INT = 2, TC_BOOL = 4, TC_NUM = TC_FLOAT | TC_INT, TC_ANY = 255 };

enum { BFLOAT16 = 16 }; /* ONNX TensorProto.BFLOAT16; not a cleave dtype, but a valid float type in a model */

static int dtype_class(int dt) {
  switch (dt) {
  case CLEAVE_DTYPE_FLOAT32:
  case CLEAVE_DTYPE_FLOAT16:
  case CLEAVE_DTYPE_FLOAT64:
  case BFLOAT16: return TC_FLOAT;
  case CLEAVE_DTYPE_UINT8:
  case CLEAVE_DTYPE_INT8:
  case CLEAVE_DTYPE_UINT16:
  case CLEAVE_DTYPE_INT16:
  case CLEAVE_DTYPE_INT32:
  case CLEAVE_DTYPE_INT64:
  case CLEAVE_DTYPE_UINT32:
  case CLEAVE_DTYPE_UINT64: return TC_INT;
  case CLEAVE_DTYPE_BOOL: return TC_BOOL;
  default: return 0;
  }
}

static const char *class_name(int classes) {
  switch (classes) {
  case TC_FLOAT: return "a floating-point";
  case TC_INT: return "an integer";
  case TC_BOOL: return "a bool";
  case TC_NUM: return "a numeric";
  default: return "a supported";
  }
}

static int check_class(const cl_infer_ctx *ic, const cl_node *n, int idx, int dtype, int classes) {
  if (dtype == CLEAVE_DTYPE_UNDEFINED || classes == TC_ANY || (dtype_class(dtype) & classes)) return 0;
  return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input %d must be %s tensor, got %s", idx, class_name(classes),
                     cleave_dtype_name(dtype));
}

static int check_same(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int a, int b) {
  if (in[a].dtype == CLEAVE_DTYPE_UNDEFINED || in[b].dtype == CLEAVE_DTYPE_UNDEFINED || in[a].dtype == in[b].dtype)
    return 0;
  return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input %d is %s but input %d is %s; they must have the same type", b,
                     cleave_dtype_name(in[b].dtype), a, cleave_dtype_name(in[a].dtype));
}

static void set_out(cl_oval *out, int n_out, int i, int dtype, const cl_shape *shape) {
  if (i >= n_out) return;
  out[i].dtype = dtype;
  out[i].shape = *shape;
}

/* ---- unary ---- */

static int unary(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, cl_oval *out, int n_out, int classes) {
  int rc = check_class(ic, n, 0, in[0].dtype, classes);
  if (rc) return rc;
  set_out(out, n_out, 0, in[0].dtype, &in[0].shape);
  return 0;
}

static int infer_unary_float(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                             int n_out) {
  return unary(ic, n, in, out, n_out, TC_FLOAT);
}

static int infer_unary_num(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out) {
  return unary(ic, n, in, out, n_out, TC_NUM);
}

static int infer_unary_bool(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                            int n_out) {
  return unary(ic, n, in, out, n_out, TC_BOOL);
}

static int infer_unary_any(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out) {
  return unary(ic, n, in, out, n_out, TC_ANY);
}

static int infer_gelu(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out) {
  const char *approx = cl_attr_str(n, "approximate", "none");
  if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "approximate is \"%s\", must be \"none\" or \"tanh\"", approx);
  return unary(ic, n, in, out, n_out, TC_FLOAT);
}

/* Clip: min/max are attributes before opset 11 and optional scalar inputs from 11 on. */
static int infer_clip(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out) {
  int rc = check_class(ic, n, 0, in[0].dtype, TC_NUM);
  if (rc) return rc;
  if (ic->opset >= 11) {
    static const char *const names[] = {"", "min", "max"};
    for (int i = 1; i < n_in && i < 3; i++) {
      if (!in[i].present) continue;
      if ((rc = check_same(ic, n, in, 0, i))) return rc;
      int64_t cnt = cl_shape_numel(&in[i].shape);
      if (cnt > 1) {
        char buf[96];
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "%s must be a scalar, got shape %s", names[i],
                           cl_shape_str(&in[i].shape, buf, sizeof buf, NULL));
      }
    }
  } else if (n_in > 1) {
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d inputs; before opset 11 min and max are attributes", n_in);
  }
  set_out(out, n_out, 0, in[0].dtype, &in[0].shape);
  return 0;
}

/* Dropout at inference is the identity; the optional mask is all true (bool from opset 10, the input type before). */
static int infer_dropout(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  int rc = check_class(ic, n, 0, in[0].dtype, TC_FLOAT);
  if (rc) return rc;
  if (n_in > 1 && ic->opset < 12)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d inputs; before opset 12 ratio is an attribute", n_in);
  if (n_in > 1 && in[1].present && (rc = check_class(ic, n, 1, in[1].dtype, TC_FLOAT))) return rc;
  if (n_in > 2 && in[2].present && (rc = check_class(ic, n, 2, in[2].dtype, TC_BOOL))) return rc;
  set_out(out, n_out, 0, in[0].dtype, &in[0].shape);
  set_out(out, n_out, 1, ic->opset >= 10 ? CLEAVE_DTYPE_BOOL : in[0].dtype, &in[0].shape);
  return 0;
}

/* ---- broadcasting ---- */

/* Before opset 7, binary operators with broadcast=1 aligned B with A starting at "axis" (default: at the end).
 * Padding B with trailing ones turns that into numpy broadcasting. */
static int legacy_b(const cl_infer_ctx *ic, const cl_node *n, const cl_shape *a, const cl_shape *b, cl_shape *bb) {
  *bb = *b;
  if (ic->opset >= 7 || cl_attr_int(n, "broadcast", 0) != 1 || a->ndim < 0 || b->ndim < 0) return 0;
  int64_t axis = cl_attr_int(n, "axis", a->ndim - b->ndim);
  if (axis < 0) axis += a->ndim;
  if (axis < 0 || axis + b->ndim > a->ndim)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "broadcast axis %lld does not fit B of rank %d into A of rank %d",
                       (long long)cl_attr_int(n, "axis", 0), b->ndim, a->ndim);
  while (bb->ndim < a->ndim - axis) bb->d[bb->ndim++] = 1;
  return 0;
}

/* Broadcasts the shapes of in[0..n_in) (all present) into out. */
static int bcast_shapes(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_shape *out) {
  *out = in[0].shape;
  for (int i = 1; i < n_in; i++) {
    cl_shape b = in[i].shape, r;
    int rc;
    if (n_in == 2 && (rc = legacy_b(ic, n, &in[0].shape, &in[1].shape, &b))) return rc;
    if (cl_shape_broadcast(out, &b, &r)) {
      char sa[96], sb[96];
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input %d %s cannot be broadcast with %s%s", i,
                         cl_shape_str(&in[i].shape, sb, sizeof sb, NULL),
                         i > 1 ? "the inputs before it, " : "input 0 ", cl_shape_str(out, sa, sizeof sa, NULL));
    }
    *out = r;
  }
  return 0;
}

/* Two inputs of one class and the same dtype; the output is out_dtype, or the inputs' dtype when 0. */
static int binary(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, cl_oval *out, int n_out, int classes,
                  int out_dtype) {
  int rc;
  if ((rc = check_class(ic, n, 0, in[0].dtype, classes)) || (rc = check_class(ic, n, 1, in[1].dtype, classes)) ||
      (rc = check_same(ic, n, in, 0, 1)))
    return rc;
  cl_shape s;
  if ((rc = bcast_shapes(ic, n, in, 2, &s))) return rc;
  set_out(out, n_out, 0, out_dtype ? out_dtype : in[0].dtype, &s);
  return 0;
}

static int infer_arith(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  return binary(ic, n, in, out, n_out, TC_NUM, 0);
}

static int infer_mod(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out) {
  int64_t fmod = cl_attr_int(n, "fmod", 0);
  if (fmod != 0 && fmod != 1)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "fmod is %lld, must be 0 or 1", (long long)fmod);
  if (fmod == 0 && dtype_class(in[0].dtype) == TC_FLOAT)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "fmod must be 1 for %s inputs", cleave_dtype_name(in[0].dtype));
  return binary(ic, n, in, out, n_out, TC_NUM, 0);
}

/* Pow: the exponent may have another numeric type; the output has the base's. */
static int infer_pow(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                     int n_out) {
  int rc;
  if ((rc = check_class(ic, n, 0, in[0].dtype, TC_NUM)) || (rc = check_class(ic, n, 1, in[1].dtype, TC_NUM)))
    return rc;
  cl_shape s;
  if ((rc = bcast_shapes(ic, n, in, 2, &s))) return rc;
  set_out(out, n_out, 0, in[0].dtype, &s);
  return 0;
}

static int infer_compare(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  return binary(ic, n, in, out, n_out, TC_NUM, CLEAVE_DTYPE_BOOL);
}

static int infer_equal(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  return binary(ic, n, in, out, n_out, TC_ANY, CLEAVE_DTYPE_BOOL);
}

static int infer_logic(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  return binary(ic, n, in, out, n_out, TC_BOOL, CLEAVE_DTYPE_BOOL);
}

/* Min, Max, Sum, Mean: one or more inputs of one dtype, broadcast together. */
static int variadic(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out,
                    int classes) {
  int rc;
  for (int i = 0; i < n_in; i++) {
    if (!in[i].present) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "input %d is missing", i);
    if ((rc = check_class(ic, n, i, in[i].dtype, classes)) || (rc = check_same(ic, n, in, 0, i))) return rc;
  }
  cl_shape s;
  if ((rc = bcast_shapes(ic, n, in, n_in, &s))) return rc;
  set_out(out, n_out, 0, in[0].dtype, &s);
  return 0;
}

static int infer_variadic_num(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                              int n_out) {
  return variadic(ic, n, in, n_in, out, n_out, TC_NUM);
}

static int infer_variadic_float(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                                int n_out) {
  return variadic(ic, n, in, n_in, out, n_out, TC_FLOAT);
}

/* PRelu: slope broadcasts to X one way; the output has X's shape. */
static int infer_prelu(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  int rc;
  if ((rc = check_class(ic, n, 0, in[0].dtype, TC_NUM)) || (rc = check_same(ic, n, in, 0, 1))) return rc;
  const cl_shape *x = &in[0].shape, *s = &in[1].shape;
  if (x->ndim >= 0 && s->ndim >= 0) {
    bool ok = s->ndim <= x->ndim;
    for (int i = 0; ok && i < s->ndim; i++) {
      int64_t ds = s->d[i], dx = x->d[x->ndim - s->ndim + i];
      if (ds >= 0 && dx >= 0 && ds != 1 && ds != dx) ok = false;
    }
    if (!ok) {
      char sx[96], ss[96];
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "slope %s cannot be broadcast to X %s",
                         cl_shape_str(s, ss, sizeof ss, NULL), cl_shape_str(x, sx, sizeof sx, NULL));
    }
  }
  set_out(out, n_out, 0, in[0].dtype, x);
  return 0;
}

static int infer_where(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  int rc;
  if ((rc = check_class(ic, n, 0, in[0].dtype, TC_BOOL)) || (rc = check_same(ic, n, in, 1, 2))) return rc;
  cl_shape s;
  if ((rc = bcast_shapes(ic, n, in, 3, &s))) return rc;
  set_out(out, n_out, 0, in[1].dtype, &s);
  return 0;
}

#define UNARY(op, fn) {.name = op, .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1, .infer = fn}
#define BINARY(op, fn) {.name = op, .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1, .infer = fn}
#define VARIADIC(op, fn)                                                                                             \
  {.name = op, .min_inputs = 1, .max_inputs = -1, .min_outputs = 1, .max_outputs = 1, .infer = fn}

const cl_op_schema cl_ops_elementwise[] = {
    UNARY("Relu", infer_unary_num),
    {.name = "Clip", .min_inputs = 1, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1, .infer = infer_clip},
    UNARY("HardSigmoid", infer_unary_float),
    UNARY("HardSwish", infer_unary_float),
    UNARY("Sigmoid", infer_unary_float),
    UNARY("Tanh", infer_unary_float),
    UNARY("LeakyRelu", infer_unary_float),
    UNARY("Elu", infer_unary_float),
    UNARY("Selu", infer_unary_float),
    UNARY("Celu", infer_unary_float),
    UNARY("ThresholdedRelu", infer_unary_float),
    UNARY("Softplus", infer_unary_float),
    UNARY("Softsign", infer_unary_float),
    UNARY("Sqrt", infer_unary_float),
    UNARY("Reciprocal", infer_unary_float),
    UNARY("Exp", infer_unary_float),
    UNARY("Log", infer_unary_float),
    UNARY("Erf", infer_unary_num),
    UNARY("Floor", infer_unary_float),
    UNARY("Ceil", infer_unary_float),
    UNARY("Round", infer_unary_float),
    UNARY("Sin", infer_unary_float),
    UNARY("Cos", infer_unary_float),
    UNARY("Tan", infer_unary_float),
    UNARY("Asin", infer_unary_float),
    UNARY("Acos", infer_unary_float),
    UNARY("Atan", infer_unary_float),
    UNARY("Sinh", infer_unary_float),
    UNARY("Cosh", infer_unary_float),
    UNARY("Asinh", infer_unary_float),
    UNARY("Acosh", infer_unary_float),
    UNARY("Atanh", infer_unary_float),
    UNARY("Gelu", infer_gelu),
    UNARY("Neg", infer_unary_num),
    UNARY("Abs", infer_unary_num),
    UNARY("Sign", infer_unary_num),
    UNARY("Identity", infer_unary_any),
    UNARY("Not", infer_unary_bool),
    {.name = "Dropout", .min_inputs = 1, .max_inputs = 3, .min_outputs = 1, .max_outputs = 2, .infer = infer_dropout},
    BINARY("Add", infer_arith),
    BINARY("Sub", infer_arith),
    BINARY("Mul", infer_arith),
    BINARY("Div", infer_arith),
    BINARY("Mod", infer_mod),
    BINARY("Pow", infer_pow),
    BINARY("Equal", infer_equal),
    BINARY("Less", infer_compare),
    BINARY("Greater", infer_compare),
    BINARY("LessOrEqual", infer_compare),
    BINARY("GreaterOrEqual", infer_compare),
    BINARY("And", infer_logic),
    BINARY("Or", infer_logic),
    BINARY("Xor", infer_logic),
    VARIADIC("Min", infer_variadic_num),
    VARIADIC("Max", infer_variadic_num),
    VARIADIC("Sum", infer_variadic_num),
    VARIADIC("Mean", infer_variadic_float),
    BINARY("PRelu", infer_prelu),
    {.name = "Where", .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1, .infer = infer_where},
    {.name = NULL},
};
