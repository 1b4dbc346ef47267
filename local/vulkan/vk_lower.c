/* local/vulkan: what the gpu device runs, and lowering a segment into steps (see vk.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ir/ops.h"
#include "local/ref/ref.h"
#include "local/vulkan/vk.h"

/* ---- values known at plan time ---- */

static bool is_int(int dt) { return dt == CLEAVE_DTYPE_INT64 || dt == CLEAVE_DTYPE_INT32; }

static bool shape_op(const cl_node *n) { return !strcmp(n->op, "Shape") || !strcmp(n->op, "Size"); }

/* A value is known at plan time when it is a constant, a small integer graph input (planned by value), or the
 * output of a node whose inputs are all known, or of Shape / Size. */
static bool known(const cl_graph *g, int v, signed char *memo, int depth) {
  if (v < 0) return true;
  if (memo[v]) return memo[v] == 1;
  const cl_value *val = &g->values[v];
  bool k;
  if (val->konst)
    k = true;
  else if (val->producer < 0)
    k = val->is_input && is_int(val->dtype);
  else if (depth > 200)
    k = false;
  else {
    const cl_node *p = &g->nodes[val->producer];
    k = true;
    if (!shape_op(p))
      for (int j = 0; j < p->n_in && k; j++)
        k = known(g, p->in[j], memo, depth + 1);
  }
  memo[v] = k ? 1 : 2;
  return k;
}

static bool host_node(const cl_graph *g, const cl_node *n, signed char *memo) {
  if (shape_op(n)) return true;
  for (int j = 0; j < n->n_in; j++)
    if (!known(g, n->in[j], memo, 0)) return false;
  return n->n_in > 0;
}

/* ---- capabilities ---- */

static const struct {
  const char *op;
  int eo;
} unary_ops[] = {
    {"Relu", EO_RELU},
    {"LeakyRelu", EO_LEAKY},
    {"Elu", EO_ELU},
    {"Selu", EO_SELU},
    {"Celu", EO_CELU},
    {"HardSigmoid", EO_HSIG},
    {"HardSwish", EO_HSWISH},
    {"Sigmoid", EO_SIGMOID},
    {"Tanh", EO_TANH},
    {"Exp", EO_EXP},
    {"Log", EO_LOG},
    {"Sqrt", EO_SQRT},
    {"Abs", EO_ABS},
    {"Neg", EO_NEG},
    {"Reciprocal", EO_RECIP},
    {"Floor", EO_FLOOR},
    {"Ceil", EO_CEIL},
    {"Round", EO_ROUND},
    {"Erf", EO_ERF},
    {"Softplus", EO_SOFTPLUS},
    {"Softsign", EO_SOFTSIGN},
    {"Sin", EO_SIN},
    {"Cos", EO_COS},
    {"Sign", EO_SIGN},
    {"ThresholdedRelu", EO_THRELU},
    {"Clip", EO_CLAMP},
};

static const struct {
  const char *op;
  int eo;
} binary_ops[] = {
    {"Add", EO_ADD}, {"Sub", EO_SUB}, {"Mul", EO_MUL}, {"Div", EO_DIV},
    {"Max", EO_MAX}, {"Min", EO_MIN}, {"Pow", EO_POW}, {"PRelu", EO_PRELU},
};

static int unary_code(const char *op) {
  for (size_t i = 0; i < sizeof unary_ops / sizeof *unary_ops; i++)
    if (!strcmp(op, unary_ops[i].op)) return unary_ops[i].eo;
  return -1;
}

static int binary_code(const char *op) {
  for (size_t i = 0; i < sizeof binary_ops / sizeof *binary_ops; i++)
    if (!strcmp(op, binary_ops[i].op)) return binary_ops[i].eo;
  return -1;
}

static bool is_op(const cl_node *n, const char *const *ops) {
  for (; *ops; ops++)
    if (!strcmp(n->op, *ops)) return true;
  return false;
}

static const char *const alias_ops[] = {"Reshape",  "Flatten", "Squeeze", "Unsqueeze",
                                        "Identity", "Dropout", "Cast",    NULL};
static const char *const reduce_ops[] = {"ReduceSum",    "ReduceMean",      "ReduceMax", "ReduceMin",
                                         "ReduceProd",   "ReduceL1",        "ReduceL2",  "ReduceSumSquare",
                                         "ReduceLogSum", "ReduceLogSumExp", NULL};
static const char *const copy_ops[] = {"Transpose", "Slice", "Pad", "Expand", "Tile", NULL};

#define NO(...)                                                                                                      \
  do {                                                                                                               \
    snprintf(why, why_len, __VA_ARGS__);                                                                             \
    return 0;                                                                                                        \
  } while (0)

static int spatial_ok(const cl_graph *g, const cl_node *n, int lo, int hi, char *why, size_t why_len) {
  int r = g->values[n->in[0]].shape.ndim;
  if (r < 2 + lo || r > 2 + hi) NO("%s with %d spatial dims is not implemented (%d to %d)", n->op, r - 2, lo, hi);
  return 1;
}

static int check_gpu(const cl_graph *g, const cl_node *n, signed char *memo, char *why, size_t why_len) {
  const char *op = n->op;
  /* parameters that must be known when planning (shapes, axes, scales, bounds) */
  static const struct {
    const char *op;
    int first;
  } param_inputs[] = {{"Reshape", 1},
                      {"Squeeze", 1},
                      {"Unsqueeze", 1},
                      {"Slice", 1},
                      {"Pad", 1},
                      {"Expand", 1},
                      {"Tile", 1},
                      {"Resize", 1},
                      {"Upsample", 1},
                      {"Clip", 1},
                      {"ReduceSum", 1},
                      {"ReduceMean", 1},
                      {"ReduceMax", 1},
                      {"ReduceMin", 1},
                      {"ReduceProd", 1},
                      {"ReduceL1", 1},
                      {"ReduceL2", 1},
                      {"ReduceSumSquare", 1},
                      {"ReduceLogSum", 1},
                      {"ReduceLogSumExp", 1},
                      {"BatchNormalization", 1},
                      {"Conv", 1},
                      {"ConvTranspose", 1}};
  for (size_t i = 0; i < sizeof param_inputs / sizeof *param_inputs; i++)
    if (!strcmp(op, param_inputs[i].op))
      for (int j = param_inputs[i].first; j < n->n_in; j++)
        if (!known(g, n->in[j], memo, 0) || (!strcmp(op, "Clip") && n->in[j] >= 0 && !g->values[n->in[j]].konst))
          NO("input %d ('%s') must be a constant or follow from shapes", j, g->values[n->in[j]].name);
  /* data: float32 in and out */
  int data_inputs = n->n_in;
  for (size_t i = 0; i < sizeof param_inputs / sizeof *param_inputs; i++)
    if (!strcmp(op, param_inputs[i].op)) data_inputs = param_inputs[i].first;
  for (int j = 0; j < data_inputs; j++)
    if (n->in[j] >= 0 && g->values[n->in[j]].dtype != CLEAVE_DTYPE_FLOAT32)
      NO("input %d is %s; the gpu device computes float32 only", j,
         cleave_dtype_name((cleave_dtype)g->values[n->in[j]].dtype));
  for (int j = 0; j < n->n_out; j++)
    if (n->out[j] >= 0 && g->values[n->out[j]].dtype != CLEAVE_DTYPE_FLOAT32 && !(j > 0 && !strcmp(op, "Dropout")))
      NO("output %d is %s; the gpu device computes float32 only", j,
         cleave_dtype_name((cleave_dtype)g->values[n->out[j]].dtype));
  if (n->n_in < 1 || n->in[0] < 0) NO("no data input");
  if (unary_code(op) >= 0 || is_op(n, alias_ops)) {
    if (!strcmp(op, "Dropout") && n->n_out > 1 && n->out[1] >= 0) NO("the mask output is not implemented");
    return 1;
  }
  if (binary_code(op) >= 0) {
    if (n->n_in != 2) NO("%s of %d inputs is not implemented (2)", op, n->n_in);
    return 1;
  }
  if (!strcmp(op, "BatchNormalization")) {
    if (n->n_out > 1) NO("training outputs are not implemented");
    if (cl_attr_int(n, "training_mode", 0)) NO("training_mode=1 is not implemented");
    if (g->values[n->in[0]].shape.ndim < 2) NO("input of rank < 2");
    return 1;
  }
  if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) {
    if (!spatial_ok(g, n, 1, 2, why, why_len)) return 0;
    if (!strcmp(op, "ConvTranspose") && cl_attr_str(n, "auto_pad", "NOTSET")[0] != 'N' &&
        strcmp(cl_attr_str(n, "auto_pad", "NOTSET"), "NOTSET"))
      NO("auto_pad is not implemented for ConvTranspose");
    return 1;
  }
  if (!strcmp(op, "MatMul")) {
    if (g->values[n->in[0]].shape.ndim < 2 || g->values[n->in[1]].shape.ndim < 2)
      NO("MatMul of 1-D operands is not implemented");
    if (g->values[n->in[0]].shape.ndim > 4 || g->values[n->in[1]].shape.ndim > 4)
      NO("MatMul of rank above 4 is not implemented");
    return 1;
  }
  if (!strcmp(op, "Gemm")) return 1;
  if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) {
    if (n->n_out > 1 && n->out[1] >= 0) NO("the Indices output is not implemented");
    return spatial_ok(g, n, 1, 3, why, why_len);
  }
  if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool")) return spatial_ok(g, n, 0, 6, why, why_len);
  if (is_op(n, reduce_ops) || !strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Concat")) return 1;
  if (is_op(n, copy_ops)) {
    if (!strcmp(op, "Pad") && n->n_in > 3 && n->in[3] >= 0) NO("Pad with axes is not implemented");
    return 1;
  }
  if (!strcmp(op, "Resize") || !strcmp(op, "Upsample")) {
    const char *mode = cl_attr_str(n, "mode", "nearest");
    if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "bilinear"))
      NO("mode '%s' is not implemented (nearest, linear)", mode);
    if (cl_attr_int(n, "antialias", 0)) NO("antialias=1 is not implemented");
    if (cl_attr_int(n, "exclude_outside", 0)) NO("exclude_outside=1 is not implemented");
    if (!strcmp(cl_attr_str(n, "coordinate_transformation_mode", ""), "tf_crop_and_resize"))
      NO("tf_crop_and_resize is not implemented");
    if (cl_node_attr(n, "axes")) NO("axes is not implemented");
    if (cl_attr_str(n, "keep_aspect_ratio_policy", "stretch")[0] != 's') NO("keep_aspect_ratio_policy");
    return 1;
  }
  NO("the gpu device has no kernel for %s", op);
}

int vl_supports(const cl_graph *g, const cl_node *n, signed char *memo, char *why, size_t why_len) {
  if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx")) NO("domain '%s' is not implemented", n->domain);
  if (n->n_in > 64 || n->n_out > 4) NO("the gpu device runs nodes of at most 64 inputs and 4 outputs");
  if (host_node(g, n, memo)) return cl_ref_supports(g, n, why, why_len);
  if (!check_gpu(g, n, memo, why, why_len)) return 0;
  /* the kernels and the planner agree with the reference on what they accept */
  return cl_ref_supports(g, n, why, why_len);
}

/* ---- lowering ---- */

typedef struct lctx {
  vk_exe *e;
  const cl_graph *g;
  signed char *memo;
  int *uses;  /* per value: readers in the segment (+1 for a segment output) */
  bool *done; /* per node */
  bool *in_seg;
} lctx;

static int64_t add_weights(vk_exe *e, const float *src, int64_t n) {
  /* 16-float alignment keeps every constant on a 64-byte boundary */
  int64_t off = (e->n_w + 15) & ~(int64_t)15, need = off + n;
  if (need > e->cap_w) {
    int64_t cap = e->cap_w ? e->cap_w * 2 : 4096;
    while (cap < need)
      cap *= 2;
    float *w = cl_realloc(e->ctx, e->wdata, sizeof(float) * (size_t)cap);
    if (!w) return -1;
    e->wdata = w;
    e->cap_w = cap;
  }
  if (off > e->n_w) memset(e->wdata + e->n_w, 0, sizeof(float) * (size_t)(off - e->n_w));
  if (src)
    memcpy(e->wdata + off, src, sizeof(float) * (size_t)n);
  else
    memset(e->wdata + off, 0, sizeof(float) * (size_t)n);
  e->n_w = need;
  return off;
}

/* The weights-buffer copy of constant v (made once). */
int64_t vl_const(vk_exe *e, int v) {
  if (e->konst[v] >= 0) return e->konst[v];
  const cl_tensor *t = e->g->values[v].konst;
  if (!t || t->dtype != CLEAVE_DTYPE_FLOAT32) return -1;
  e->konst[v] = add_weights(e, t->data, cl_tensor_numel(t));
  return e->konst[v];
}

static vk_step *new_step(lctx *L, vk_kind kind, int node) {
  vk_exe *e = L->e;
  if (e->n_s == e->cap_s) {
    int cap = e->cap_s ? e->cap_s * 2 : 64;
    vk_step *s = cl_realloc(e->ctx, e->s, sizeof *s * (size_t)cap);
    if (!s) return NULL;
    e->s = s;
    e->cap_s = cap;
  }
  vk_step *st = &e->s[e->n_s++];
  memset(st, 0, sizeof *st);
  st->kind = kind;
  st->node = node;
  st->in = st->in2 = -1;
  st->w_off = st->b_off = -1;
  st->alpha = 1.0f;
  return st;
}

static float scalar_of(const cl_tensor *t, float def) {
  if (!t || cl_tensor_numel(t) < 1) return def;
  return (float)cl_tensor_get_f64(t, 0);
}

static const cl_tensor *konst_of(const lctx *L, int v) { return v >= 0 ? L->g->values[v].konst : NULL; }

/* Static shapes agree on dim d (same known size, or the same symbol). */
static bool same_dim(int64_t a, int64_t b) { return a == b && (a >= 0 || CL_DIM_IS_SYM(a)); }

/* Operand shape o broadcasts into y's shape along one contiguous block of dims, without enlarging it. */
static bool block_ok(const cl_shape *o, const cl_shape *y) {
  if (o->ndim < 0 || y->ndim < 0 || o->ndim > y->ndim) return false;
  int first = -1, last = -1;
  for (int i = 0; i < o->ndim; i++) {
    int d = y->ndim - o->ndim + i;
    if (o->d[i] == 1) continue;
    if (!same_dim(o->d[i], y->d[d])) return false;
    if (first < 0) first = d;
    last = d;
  }
  for (int d = first; first >= 0 && d <= last; d++) {
    int i = d - (y->ndim - o->ndim);
    if (o->d[i] == 1 && !same_dim(y->d[d], 1) && y->d[d] != 1) return false;
  }
  return true;
}

static bool available(const lctx *L, int v) {
  const cl_value *val = &L->g->values[v];
  return val->konst || val->producer < 0 || L->done[val->producer] || !L->in_seg[val->producer];
}

/* The epilogue op for node n applied to running value x; false when n cannot be one. */
static bool node_eop(lctx *L, const cl_node *n, int x, vk_eop *out) {
  const cl_graph *g = L->g;
  memset(out, 0, sizeof *out);
  out->v = -1;
  out->woff = -1;
  out->a = 1.0f;
  if (n->n_out < 1 || n->out[0] < 0 || g->values[n->out[0]].dtype != CLEAVE_DTYPE_FLOAT32) return false;
  if (!strcmp(n->op, "Dropout") && n->n_out > 1 && n->out[1] >= 0) return false;
  int u = unary_code(n->op);
  if (u >= 0) {
    if (n->in[0] != x) return false;
    out->op = u;
    out->src = ES_SCALAR;
    if (u == EO_CLAMP) {
      float lo = -INFINITY, hi = INFINITY;
      if (g->opset < 11) {
        lo = cl_attr_float(n, "min", lo);
        hi = cl_attr_float(n, "max", hi);
      } else {
        if (n->n_in > 1 && n->in[1] >= 0) {
          if (!konst_of(L, n->in[1])) return false;
          lo = scalar_of(konst_of(L, n->in[1]), lo);
        }
        if (n->n_in > 2 && n->in[2] >= 0) {
          if (!konst_of(L, n->in[2])) return false;
          hi = scalar_of(konst_of(L, n->in[2]), hi);
        }
      }
      out->a = lo;
      out->b = hi;
    } else if (u == EO_LEAKY) {
      out->a = cl_attr_float(n, "alpha", 0.01f);
    } else if (u == EO_ELU || u == EO_CELU || u == EO_THRELU) {
      out->a = cl_attr_float(n, "alpha", 1.0f);
    } else if (u == EO_SELU) {
      out->a = cl_attr_float(n, "alpha", 1.67326319217681884765625f);
      out->b = cl_attr_float(n, "gamma", 1.05070102214813232421875f);
    } else if (u == EO_HSIG) {
      out->a = cl_attr_float(n, "alpha", 0.2f);
      out->b = cl_attr_float(n, "beta", 0.5f);
    }
    return true;
  }
  if (!strcmp(n->op, "Identity") || !strcmp(n->op, "Dropout") ||
      (!strcmp(n->op, "Cast") && g->values[n->in[0]].dtype == CLEAVE_DTYPE_FLOAT32)) {
    if (n->in[0] != x) return false;
    out->op = EO_AFFINE; /* x * 1 + 0 */
    out->a = 1.0f;
    return true;
  }
  int b = binary_code(n->op);
  if (b < 0 || n->n_in != 2 || n->in[0] == n->in[1]) return false;
  int other;
  if (n->in[0] == x) {
    other = n->in[1];
  } else if (n->in[1] == x && b != EO_PRELU) {
    other = n->in[0];
    static const int flip[] = {[EO_ADD] = EO_ADD, [EO_SUB] = EO_RSUB, [EO_MUL] = EO_MUL, [EO_DIV] = EO_RDIV,
                               [EO_MAX] = EO_MAX, [EO_MIN] = EO_MIN,  [EO_POW] = EO_RPOW};
    b = flip[b];
  } else {
    return false;
  }
  const cl_value *ov = &g->values[other];
  if (ov->dtype != CLEAVE_DTYPE_FLOAT32 || !block_ok(&ov->shape, &g->values[x].shape) || !available(L, other))
    return false;
  out->op = b;
  const cl_tensor *k = konst_of(L, other);
  if (k && cl_tensor_numel(k) == 1) {
    out->src = ES_SCALAR;
    out->a = scalar_of(k, 0);
  } else {
    out->src = ES_TENSOR;
    out->v = other;
  }
  return true;
}

static int single_consumer(const lctx *L, int v) {
  if (v < 0 || L->uses[v] != 1) return -1;
  const cl_value *val = &L->g->values[v];
  for (int i = 0; i < val->n_consumers; i++)
    if (L->in_seg[val->consumers[i]] && !L->done[val->consumers[i]]) return val->consumers[i];
  return -1;
}

static int append_label(lctx *L, vk_step *st, const char *op) {
  cleave_ctx *ctx = L->e->ctx;
  const char *base = st->label ? st->label : L->g->nodes[st->node].op;
  size_t len = strlen(base) + strlen(op) + 2;
  char *s = cl_malloc(ctx, len);
  if (!s) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory lowering for the gpu device");
  snprintf(s, len, "%s+%s", base, op);
  cl_free(ctx, st->label);
  st->label = s;
  return 0;
}

/* x * f(x) forms: x has two readers, one starting a chain of epilogue ops that ends in the other, a binary op
 * between x and the chain's result. Returns the number of ops appended (0: no such form). */
static int try_merge(lctx *L, vk_step *st, int x, int *out_v) {
  const cl_graph *g = L->g;
  const cl_value *xv = &g->values[x];
  if (L->uses[x] != 2 || xv->n_consumers != 2) return 0;
  for (int order = 0; order < 2; order++) {
    int a = xv->consumers[order], m = xv->consumers[1 - order];
    if (!L->in_seg[a] || !L->in_seg[m] || L->done[a] || L->done[m] || a == m) continue;
    const cl_node *mn = &g->nodes[m];
    int mb = binary_code(mn->op);
    if (mn->n_in != 2 || (mb != EO_ADD && mb != EO_SUB && mb != EO_MUL && mb != EO_DIV)) continue;
    vk_eop ops[VK_MAX_EOPS];
    int n_ops = 0, cur = x, node = a, chain[VK_MAX_EOPS];
    ops[n_ops++] = (vk_eop){.op = EO_SAVE, .v = -1, .woff = -1};
    bool ok = false;
    while (n_ops < VK_MAX_EOPS - 1) {
      const cl_node *cn = &g->nodes[node];
      if (!node_eop(L, cn, cur, &ops[n_ops])) break;
      if (ops[n_ops].src == ES_TENSOR && ops[n_ops].v == x) break;
      chain[n_ops] = node;
      n_ops++;
      cur = cn->out[0];
      if (L->uses[cur] != 1) break;
      int next = single_consumer(L, cur);
      if (next == m) {
        ok = true;
        break;
      }
      if (next < 0) break;
      node = next;
    }
    if (!ok || st->n_eops + n_ops + 1 > VK_MAX_EOPS) continue;
    /* m = op(x, cur) or op(cur, x); the running value is cur and the saved one x */
    bool x_first = mn->in[0] == x;
    if (!(x_first ? mn->in[1] == cur : mn->in[0] == cur && mn->in[1] == x)) continue;
    int op = mb;
    if (x_first && mb == EO_SUB) op = EO_RSUB;
    if (x_first && mb == EO_DIV) op = EO_RDIV;
    ops[n_ops++] = (vk_eop){.op = op, .src = ES_SAVED, .v = -1, .woff = -1, .a = 1.0f};
    for (int i = 0; i < n_ops; i++)
      st->eops[st->n_eops++] = ops[i];
    for (int i = 1; i < n_ops - 1; i++) {
      L->done[chain[i]] = true;
      int rc = append_label(L, st, g->nodes[chain[i]].op);
      if (rc) return rc;
    }
    L->done[m] = true;
    int rc = append_label(L, st, mn->op);
    if (rc) return rc;
    *out_v = mn->out[0];
    return n_ops;
  }
  return 0;
}

/* Per-output-channel factor of constant k for a Conv output of cout channels (rank r): returns the count of
 * values (1 or cout), 0 when k is not of that form. */
static int64_t channel_form(const cl_tensor *k, int r, int64_t cout) {
  if (!k || k->dtype != CLEAVE_DTYPE_FLOAT32 || k->ndim > r) return 0;
  int64_t n = cl_tensor_numel(k);
  if (n == 1) return 1;
  if (n != cout) return 0;
  for (int i = 0; i < k->ndim; i++) {
    int d = r - k->ndim + i;
    if (k->dims[i] != 1 && d != 1) return 0;
  }
  return cout;
}

/* Folds a per-channel affine node into the step's weights and bias; false when it is not one. */
static bool fold_affine(lctx *L, vk_step *st, const cl_node *n, int x) {
  const cl_graph *g = L->g;
  int r = g->values[x].shape.ndim;
  int64_t C = st->cout, K = st->cin * st->kh * st->kw;
  float *w = L->e->wdata + st->w_off, *b = L->e->wdata + st->b_off;
  if (!strcmp(n->op, "BatchNormalization")) {
    const cl_tensor *s = konst_of(L, n->in[1]), *bb = konst_of(L, n->in[2]), *mu = konst_of(L, n->in[3]),
                    *var = konst_of(L, n->in[4]);
    if (!s || !bb || !mu || !var || cl_tensor_numel(s) != C || cl_tensor_numel(bb) != C || cl_tensor_numel(mu) != C ||
        cl_tensor_numel(var) != C)
      return false;
    float eps = cl_attr_float(n, "epsilon", 1e-5f);
    for (int64_t c = 0; c < C; c++) {
      float sc = (float)cl_tensor_get_f64(s, c) / sqrtf((float)cl_tensor_get_f64(var, c) + eps);
      for (int64_t k = 0; k < K; k++)
        w[c * K + k] *= sc;
      b[c] = (b[c] - (float)cl_tensor_get_f64(mu, c)) * sc + (float)cl_tensor_get_f64(bb, c);
    }
    return true;
  }
  int op = binary_code(n->op);
  if (n->n_in != 2 || (op != EO_ADD && op != EO_SUB && op != EO_MUL && op != EO_DIV)) return false;
  int other = n->in[0] == x ? n->in[1] : n->in[0];
  if (other == x || ((op == EO_SUB || op == EO_DIV) && n->in[0] != x)) return false;
  const cl_tensor *k = konst_of(L, other);
  int64_t cnt = channel_form(k, r, C);
  if (!cnt) return false;
  if (k->ndim > r) return false;
  for (int64_t c = 0; c < C; c++) {
    float kv = (float)cl_tensor_get_f64(k, cnt == 1 ? 0 : c);
    if (op == EO_ADD) b[c] += kv;
    if (op == EO_SUB) b[c] -= kv;
    if (op == EO_MUL || op == EO_DIV) {
      for (int64_t j = 0; j < K; j++)
        w[c * K + j] = op == EO_MUL ? w[c * K + j] * kv : w[c * K + j] / kv;
      b[c] = op == EO_MUL ? b[c] * kv : b[c] / kv;
    }
  }
  return true;
}

/* BatchNormalization as two per-channel epilogue ops on axis 1. */
static bool bn_eops(lctx *L, const cl_node *n, int x, vk_eop *ops) {
  const cl_graph *g = L->g;
  if (strcmp(n->op, "BatchNormalization") || n->in[0] != x) return false;
  const cl_tensor *s = konst_of(L, n->in[1]), *bb = konst_of(L, n->in[2]), *mu = konst_of(L, n->in[3]),
                  *var = konst_of(L, n->in[4]);
  int r = g->values[x].shape.ndim;
  if (!s || !bb || !mu || !var || r < 2) return false;
  int64_t C = cl_tensor_numel(s);
  if (cl_tensor_numel(bb) != C || cl_tensor_numel(mu) != C || cl_tensor_numel(var) != C) return false;
  int64_t so = add_weights(L->e, NULL, C), bo = add_weights(L->e, NULL, C);
  if (so < 0 || bo < 0) return false;
  float eps = cl_attr_float(n, "epsilon", 1e-5f);
  for (int64_t c = 0; c < C; c++) {
    float sc = (float)cl_tensor_get_f64(s, c) / sqrtf((float)cl_tensor_get_f64(var, c) + eps);
    L->e->wdata[so + c] = sc;
    L->e->wdata[bo + c] = (float)cl_tensor_get_f64(bb, c) - (float)cl_tensor_get_f64(mu, c) * sc;
  }
  for (int i = 0; i < 2; i++) {
    ops[i] =
        (vk_eop){.op = i ? EO_ADD : EO_MUL, .a = 1.0f, .src = ES_TENSOR, .v = -1, .woff = i ? bo : so, .rank = r - 1};
    ops[i].dims[0] = C;
    for (int d = 1; d < r - 1; d++)
      ops[i].dims[d] = 1;
  }
  return true;
}

/* Extends step st, whose result is value *y, with the elementwise nodes that follow. */
static int absorb(lctx *L, vk_step *st, bool foldable) {
  const cl_graph *g = L->g;
  int y = st->out;
  for (;;) {
    if (L->uses[y] == 2) {
      int n = try_merge(L, st, y, &y);
      if (n < 0) return n;
      if (n > 0) {
        foldable = false;
        continue;
      }
      break;
    }
    int c = single_consumer(L, y);
    if (c < 0) break;
    const cl_node *n = &g->nodes[c];
    if (foldable && st->n_eops == 0 && fold_affine(L, st, n, y)) {
      /* folded into the weights */
    } else if (st->n_eops + 2 <= VK_MAX_EOPS && bn_eops(L, n, y, &st->eops[st->n_eops])) {
      st->n_eops += 2;
    } else if (st->n_eops < VK_MAX_EOPS && node_eop(L, n, y, &st->eops[st->n_eops])) {
      if (st->eops[st->n_eops].src == ES_TENSOR && st->eops[st->n_eops].v >= 0 &&
          g->values[st->eops[st->n_eops].v].konst)
        foldable = false;
      st->n_eops++;
      if (st->eops[st->n_eops - 1].op >= EO_SAVE) foldable = false;
    } else {
      break;
    }
    L->done[c] = true;
    int rc = append_label(L, st, n->op);
    if (rc) return rc;
    y = n->out[0];
  }
  st->out = y;
  return 0;
}

static int lower_conv(lctx *L, vk_step *st, const cl_node *n) {
  vk_exe *e = L->e;
  const cl_tensor *w = konst_of(L, n->in[1]), *b = n->n_in > 2 ? konst_of(L, n->in[2]) : NULL;
  if (!w || w->dtype != CLEAVE_DTYPE_FLOAT32 || w->ndim < 3)
    return cl_node_err(e->ctx, n, CLEAVE_EUNSUPPORTED, "the gpu device needs constant float weights");
  bool t = !strcmp(n->op, "ConvTranspose");
  int64_t group = cl_attr_int(n, "group", 1);
  st->cout = t ? w->dims[1] * group : w->dims[0];
  st->cin = w->dims[1];
  st->kh = w->ndim == 4 ? w->dims[2] : 1;
  st->kw = w->dims[w->ndim - 1];
  int64_t cin = L->g->values[n->in[0]].shape.d[1];
  if (!t && group > 1 && group == cin && w->dims[1] == 1) st->kind = VK_DWCONV;
  if (t) st->kind = VK_CONVT;
  int64_t nw = cl_tensor_numel(w);
  st->w_off = add_weights(e, w->data, nw);
  st->b_off = add_weights(e, b ? b->data : NULL, st->cout);
  if (st->w_off < 0 || st->b_off < 0) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory for gpu weights");
  if (b && cl_tensor_numel(b) != st->cout) return cl_node_err(e->ctx, n, CLEAVE_EMODEL, "bias size");
  st->in = n->in[0];
  st->out = n->out[0];
  return absorb(L, st, !t);
}

static int lower_node(lctx *L, int id) {
  const cl_graph *g = L->g;
  const cl_node *n = &g->nodes[id];
  vk_exe *e = L->e;
  L->done[id] = true;
  if (host_node(g, n, L->memo)) {
    e->host[id] = true;
    return 0;
  }
  vk_kind kind;
  if (is_op(n, alias_ops))
    kind = VK_ALIAS;
  else if (!strcmp(n->op, "Conv"))
    kind = VK_CONV;
  else if (!strcmp(n->op, "ConvTranspose"))
    kind = VK_CONVT;
  else if (!strcmp(n->op, "MatMul") || !strcmp(n->op, "Gemm"))
    kind = VK_MATMUL;
  else if (!strcmp(n->op, "MaxPool") || !strcmp(n->op, "AveragePool"))
    kind = VK_POOL;
  else if (is_op(n, reduce_ops) || !strcmp(n->op, "GlobalAveragePool") || !strcmp(n->op, "GlobalMaxPool"))
    kind = VK_REDUCE;
  else if (!strcmp(n->op, "Softmax") || !strcmp(n->op, "LogSoftmax"))
    kind = VK_SOFTMAX;
  else if (is_op(n, copy_ops))
    kind = VK_COPY;
  else if (!strcmp(n->op, "Concat"))
    kind = VK_CONCAT;
  else if (!strcmp(n->op, "Resize") || !strcmp(n->op, "Upsample"))
    kind = VK_RESIZE;
  else
    kind = VK_EW;
  vk_step *st = new_step(L, kind, id);
  if (!st) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory lowering for the gpu device");
  st->in = n->in[0];
  st->out = n->out[0];
  switch (kind) {
  case VK_ALIAS:
  case VK_COPY:
  case VK_CONCAT:
  case VK_RESIZE: return 0;
  case VK_CONV:
  case VK_CONVT: return lower_conv(L, st, n);
  case VK_MATMUL:
    st->in2 = n->in[1];
    if (!strcmp(n->op, "Gemm")) {
      st->trans_a = cl_attr_int(n, "transA", 0) != 0;
      st->trans_b = cl_attr_int(n, "transB", 0) != 0;
      st->alpha = cl_attr_float(n, "alpha", 1.0f);
      float beta = cl_attr_float(n, "beta", 1.0f);
      if (n->n_in > 2 && n->in[2] >= 0 && beta != 0.0f) {
        const cl_tensor *c = konst_of(L, n->in[2]);
        vk_eop *op = &st->eops[st->n_eops++];
        *op = (vk_eop){.op = EO_ADD, .a = beta, .src = ES_TENSOR, .v = n->in[2], .woff = -1};
        if (c && cl_tensor_numel(c) == 1) *op = (vk_eop){.op = EO_ADD, .a = beta * scalar_of(c, 0), .v = -1};
      }
    }
    return absorb(L, st, false);
  case VK_POOL: st->op = !strcmp(n->op, "MaxPool"); return absorb(L, st, false);
  case VK_SOFTMAX: st->op = !strcmp(n->op, "LogSoftmax"); return absorb(L, st, false);
  case VK_REDUCE: {
    static const char *const names[] = {"ReduceSum",    "ReduceMean",     "ReduceMax", "ReduceMin",
                                        "ReduceProd",   "ReduceL1",       "ReduceL2",  "ReduceSumSquare",
                                        "ReduceLogSum", "ReduceLogSumExp"};
    st->op = !strcmp(n->op, "GlobalAveragePool") ? RO_MEAN : RO_MAX;
    for (int i = 0; i < 10; i++)
      if (!strcmp(n->op, names[i])) st->op = i;
    return absorb(L, st, false);
  }
  default: break;
  }
  /* elementwise: a unary op over its input, a binary op with a broadcast operand, or a general broadcast */
  vk_eop op;
  if (bn_eops(L, n, n->in[0], st->eops)) {
    st->n_eops = 2;
  } else if (node_eop(L, n, n->in[0], &op)) {
    st->eops[st->n_eops++] = op;
  } else if (n->n_in == 2 && binary_code(n->op) >= 0 && n->in[1] >= 0 && node_eop(L, n, n->in[1], &op)) {
    st->in = n->in[1];
    st->eops[st->n_eops++] = op;
  } else if (binary_code(n->op) >= 0) {
    st->kind = VK_BINARY;
    st->in2 = n->in[1];
    st->op = binary_code(n->op);
  } else {
    return cl_node_err(e->ctx, n, CLEAVE_EUNSUPPORTED, "no gpu lowering");
  }
  return absorb(L, st, false);
}

int vl_lower(vk_exe *e, const cl_segment *seg) {
  const cl_graph *g = seg->graph;
  cleave_ctx *ctx = e->ctx;
  lctx L = {.e = e, .g = g};
  L.memo = cl_calloc(ctx, (size_t)g->n_values + 1, 1);
  L.uses = cl_calloc(ctx, (size_t)g->n_values + 1, sizeof(int));
  L.done = cl_calloc(ctx, (size_t)g->n_nodes + 1, sizeof(bool));
  L.in_seg = cl_calloc(ctx, (size_t)g->n_nodes + 1, sizeof(bool));
  int rc = 0;
  if (!L.memo || !L.uses || !L.done || !L.in_seg) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory lowering for the gpu device");
    goto out;
  }
  for (int k = 0; k < seg->n_nodes; k++)
    L.in_seg[seg->nodes[k]] = true;
  for (int k = 0; k < seg->n_nodes; k++) {
    const cl_node *n = &g->nodes[seg->nodes[k]];
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) L.uses[n->in[j]]++;
  }
  for (int i = 0; i < seg->n_outputs; i++)
    L.uses[seg->outputs[i]] += 2; /* never fused away */
  for (int k = 0; k < seg->n_nodes && !rc; k++)
    if (!L.done[seg->nodes[k]]) rc = lower_node(&L, seg->nodes[k]);
  if (rc) goto out;
  for (int k = 0; k < e->n_s; k++)
    e->producer[e->s[k].out] = k;
out:
  cl_free(ctx, L.memo);
  cl_free(ctx, L.uses);
  cl_free(ctx, L.done);
  cl_free(ctx, L.in_seg);
  return rc;
}
