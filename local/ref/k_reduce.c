/* local/ref: reference kernels of the reduce operators.
 *
 * Every Reduce* op goes through one walker: the input dims are folded into groups (adjacent dims with the same
 * role merged, dims of 1 dropped), then the input is read once in memory order, one contiguous run of the
 * innermost group at a time, into a per-output accumulator (double for float32, int64 for integers). The
 * innermost run is either summed into one accumulator or added element-wise onto a row of them; both loops are
 * contiguous. ArgMax/ArgMin, Softmax & co., LayerNormalization and CumSum work on an outer x axis x inner split. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "local/ref/ref.h"

/* ---- Reduce* ------------------------------------------------------------------------------------------- */

enum rop { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LOGSUMEXP };

/* What a run folds into its accumulator: a sum of x, |x|, x*x or exp(x - shift), a product, a max or a min. */
enum fold { F_SUM, F_ABS, F_SQ, F_EXP, F_PROD, F_MAX, F_MIN };

typedef struct plan {
  int m; /* groups */
  int64_t size[CL_MAX_DIMS];
  bool red[CL_MAX_DIMS];
  int64_t ostride[CL_MAX_DIMS]; /* output stride of a kept group, 0 for a reduced one */
  int64_t count;                /* inputs folded into one output */
  int64_t in_n, out_n;
} plan;

static void make_plan(const cl_tensor *x, const bool *red, plan *p) {
  p->m = 0;
  p->count = 1;
  p->in_n = 1;
  for (int d = 0; d < x->ndim; d++) {
    int64_t s = x->dims[d];
    p->in_n *= s;
    if (red[d]) p->count *= s;
    if (s == 1) continue;
    if (p->m > 0 && p->red[p->m - 1] == red[d]) {
      p->size[p->m - 1] *= s;
    } else {
      p->size[p->m] = s;
      p->red[p->m] = red[d];
      p->m++;
    }
  }
  if (p->m == 0) { /* a scalar or all dims 1: one run of one element */
    p->size[0] = 1;
    p->red[0] = false;
    p->m = 1;
  }
  int64_t s = 1;
  for (int i = p->m - 1; i >= 0; i--) {
    p->ostride[i] = p->red[i] ? 0 : s;
    if (!p->red[i]) s *= p->size[i];
  }
  p->out_n = s;
}

typedef struct walk {
  int fold;
  const void *x;
  void *acc;           /* double[] for float32 input, int64_t[] for integers */
  const double *shift; /* F_EXP: per-output shift */
  int64_t inner;
  bool inner_red;
} walk;

static void fold_f32(const walk *w, int64_t in_off, int64_t out_off) {
  const float *x = (const float *)w->x + in_off;
  double *acc = (double *)w->acc + out_off;
  int64_t n = w->inner, j = 0;
  if (!w->inner_red) { /* the run maps one-to-one onto a row of accumulators */
    const double *sh = w->shift ? w->shift + out_off : NULL;
    switch (w->fold) {
    case F_SUM:
      for (j = 0; j < n; j++)
        acc[j] += x[j];
      break;
    case F_ABS:
      for (j = 0; j < n; j++)
        acc[j] += fabs((double)x[j]);
      break;
    case F_SQ:
      for (j = 0; j < n; j++)
        acc[j] += (double)x[j] * x[j];
      break;
    case F_EXP:
      for (j = 0; j < n; j++)
        acc[j] += exp((double)x[j] - sh[j]);
      break;
    case F_PROD:
      for (j = 0; j < n; j++)
        acc[j] *= x[j];
      break;
    case F_MAX:
      for (j = 0; j < n; j++)
        if (x[j] > acc[j] || x[j] != x[j]) acc[j] = x[j];
      break;
    case F_MIN:
      for (j = 0; j < n; j++)
        if (x[j] < acc[j] || x[j] != x[j]) acc[j] = x[j];
      break;
    }
    return;
  }
  /* The run is folded into one accumulator; four partial sums break the add latency chain. */
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0, m = *acc;
  switch (w->fold) {
  case F_SUM:
    for (; j + 4 <= n; j += 4) {
      s0 += x[j];
      s1 += x[j + 1];
      s2 += x[j + 2];
      s3 += x[j + 3];
    }
    for (; j < n; j++)
      s0 += x[j];
    break;
  case F_ABS:
    for (; j < n; j++)
      s0 += fabs((double)x[j]);
    break;
  case F_SQ:
    for (; j + 4 <= n; j += 4) {
      s0 += (double)x[j] * x[j];
      s1 += (double)x[j + 1] * x[j + 1];
      s2 += (double)x[j + 2] * x[j + 2];
      s3 += (double)x[j + 3] * x[j + 3];
    }
    for (; j < n; j++)
      s0 += (double)x[j] * x[j];
    break;
  case F_EXP:
    for (; j < n; j++)
      s0 += exp((double)x[j] - w->shift[out_off]);
    break;
  case F_PROD:
    for (; j < n; j++)
      m *= x[j];
    *acc = m;
    return;
  case F_MAX:
  case F_MIN: {
    /* Branch-free selects plus a separate NaN flag (NaN wins, as in numpy) keep this loop cheap. */
    float mf = (float)m;
    int nan = m != m;
    if (w->fold == F_MAX)
      for (; j < n; j++) {
        mf = x[j] > mf ? x[j] : mf;
        nan |= x[j] != x[j];
      }
    else
      for (; j < n; j++) {
        mf = x[j] < mf ? x[j] : mf;
        nan |= x[j] != x[j];
      }
    *acc = nan ? (double)NAN : mf;
    return;
  }
  }
  *acc += (s0 + s1) + (s2 + s3);
}

/* Integer sums and products wrap (computed unsigned, as two's complement hardware would) instead of overflowing
 * into undefined behaviour. */
#define DEFINE_FOLD_INT(NAME, T)                                                                                     \
  static void NAME(const walk *w, int64_t in_off, int64_t out_off) {                                                 \
    const T *x = (const T *)w->x + in_off;                                                                           \
    int64_t *acc = (int64_t *)w->acc + out_off;                                                                      \
    int64_t n = w->inner;                                                                                            \
    for (int64_t j = 0; j < n; j++) {                                                                                \
      int64_t *a = w->inner_red ? acc : acc + j, v = x[j];                                                           \
      switch (w->fold) {                                                                                             \
      case F_SUM: *a = (int64_t)((uint64_t)*a + (uint64_t)v); break;                                                 \
      case F_PROD: *a = (int64_t)((uint64_t)*a * (uint64_t)v); break;                                                \
      case F_MAX: *a = v > *a ? v : *a; break;                                                                       \
      case F_MIN: *a = v < *a ? v : *a; break;                                                                       \
      default: break;                                                                                                \
      }                                                                                                              \
    }                                                                                                                \
  }
DEFINE_FOLD_INT(fold_i32, int32_t)
DEFINE_FOLD_INT(fold_i64, int64_t)

typedef void (*fold_fn)(const walk *w, int64_t in_off, int64_t out_off);

/* Reads the input once in memory order, one innermost run at a time, tracking the matching output offset. */
static void run_walk(const plan *p, walk *w, fold_fn fold) {
  int64_t inner = p->size[p->m - 1];
  int64_t runs = inner > 0 ? p->in_n / inner : 0, idx[CL_MAX_DIMS] = {0}, o = 0;
  w->inner = inner;
  w->inner_red = p->red[p->m - 1];
  for (int64_t r = 0; r < runs; r++) {
    fold(w, r * inner, o);
    for (int d = p->m - 2; d >= 0; d--) {
      o += p->ostride[d];
      if (++idx[d] < p->size[d]) break;
      o -= p->ostride[d] * p->size[d];
      idx[d] = 0;
    }
  }
}

static int reduce_op(const char *op) {
  static const struct {
    const char *name;
    int op;
  } ops[] = {{"ReduceSum", R_SUM},       {"ReduceMean", R_MEAN},
             {"ReduceMax", R_MAX},       {"ReduceMin", R_MIN},
             {"ReduceProd", R_PROD},     {"ReduceL1", R_L1},
             {"ReduceL2", R_L2},         {"ReduceSumSquare", R_SUMSQ},
             {"ReduceLogSum", R_LOGSUM}, {"ReduceLogSumExp", R_LOGSUMEXP}};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp(ops[i].name, op) == 0) return ops[i].op;
  return -1;
}

/* Marks the reduced dims the way the schema's infer read them (infer has validated them already). */
static int reduced_dims(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, int rank,
                        bool *red) {
  int64_t axes[CL_MAX_DIMS];
  int n_axes = 0;
  if (k->opset < (strcmp(n->op, "ReduceSum") == 0 ? 13 : 18)) {
    const int64_t *a;
    n_axes = cl_attr_ints(n, "axes", &a);
    if (n_axes > CL_MAX_DIMS) return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "has too many axes");
    for (int i = 0; i < n_axes; i++)
      axes[i] = a[i];
  } else if (n_in > 1 && in[1]) {
    int64_t cnt = cl_tensor_numel(in[1]);
    if (cnt > CL_MAX_DIMS) return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "has too many axes");
    n_axes = (int)cnt;
    for (int i = 0; i < n_axes; i++)
      axes[i] = cl_tensor_get_i64(in[1], i);
  }
  for (int d = 0; d < rank; d++)
    red[d] = false;
  if (n_axes <= 0) {
    /* No axes: all of them, or none with noop_with_empty_axes, which leaves a per-element fold (|x| for
     * ReduceL1, x*x for ReduceSumSquare, ...) as numpy does for axis=(). */
    bool noop = cl_attr_int(n, "noop_with_empty_axes", 0) != 0;
    for (int d = 0; d < rank; d++)
      red[d] = !noop;
    return 0;
  }
  for (int i = 0; i < n_axes; i++) {
    int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (a < 0 || a >= rank)
      return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
    red[a] = true;
  }
  return 0;
}

static int k_reduce(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                    int n_out) {
  const cl_tensor *x = in[0];
  cl_tensor *y = out[0];
  int op = reduce_op(n->op), rc;
  bool red[CL_MAX_DIMS];
  if ((rc = reduced_dims(k, n, in, n_in, x->ndim, red))) return rc;
  plan p;
  make_plan(x, red, &p);
  if (p.out_n != cl_tensor_numel(y))
    return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "output has %lld elements, the reduction makes %lld",
                       (long long)cl_tensor_numel(y), (long long)p.out_n);
  if (p.out_n == 0) return 0;
  size_t bytes;
  if (cl_mul_size((size_t)p.out_n, sizeof(double), &bytes))
    return cl_node_err(k->ctx, n, CLEAVE_ELIMIT, "output of %lld elements is too large", (long long)p.out_n);
  void *acc = cl_malloc(k->ctx, bytes);
  double *shift = NULL;
  if (!acc) return cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory for %zu bytes of accumulators", bytes);
  walk w = {.x = x->data, .acc = acc};

  if (x->dtype == CLEAVE_DTYPE_INT32 || x->dtype == CLEAVE_DTYPE_INT64) {
    int64_t *a = acc, init = 0, lo = x->dtype == CLEAVE_DTYPE_INT32 ? INT32_MIN : INT64_MIN,
            hi = x->dtype == CLEAVE_DTYPE_INT32 ? INT32_MAX : INT64_MAX;
    switch (op) {
    case R_SUM: w.fold = F_SUM; break;
    case R_PROD: w.fold = F_PROD, init = 1; break;
    case R_MAX: w.fold = F_MAX, init = lo; break;
    case R_MIN: w.fold = F_MIN, init = hi; break;
    default:
      rc = cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "%s on %s is not implemented", n->op,
                       cleave_dtype_name(x->dtype));
      goto done;
    }
    for (int64_t i = 0; i < p.out_n; i++)
      a[i] = init;
    run_walk(&p, &w, x->dtype == CLEAVE_DTYPE_INT32 ? fold_i32 : fold_i64);
    if (y->dtype == CLEAVE_DTYPE_INT32)
      for (int64_t i = 0; i < p.out_n; i++)
        ((int32_t *)y->data)[i] = (int32_t)a[i];
    else
      memcpy(y->data, a, bytes);
    goto done;
  }
  if (x->dtype != CLEAVE_DTYPE_FLOAT32 || y->dtype != CLEAVE_DTYPE_FLOAT32) {
    rc = cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "%s on %s is not implemented", n->op,
                     cleave_dtype_name(x->dtype));
    goto done;
  }
  double *a = acc, init = 0;
  switch (op) {
  case R_SUM:
  case R_MEAN:
  case R_LOGSUM: w.fold = F_SUM; break;
  case R_L1: w.fold = F_ABS; break;
  case R_L2:
  case R_SUMSQ: w.fold = F_SQ; break;
  case R_PROD: w.fold = F_PROD, init = 1; break;
  case R_MAX: w.fold = F_MAX, init = -INFINITY; break;
  case R_MIN: w.fold = F_MIN, init = INFINITY; break;
  case R_LOGSUMEXP:
    /* Stable: shift by the max first. An infinite max (all -inf, or +inf present) shifts by 0, as numpy's
     * reference does, so the result stays -inf or +inf instead of NaN. */
    w.fold = F_MAX;
    for (int64_t i = 0; i < p.out_n; i++)
      a[i] = -INFINITY;
    run_walk(&p, &w, fold_f32);
    shift = a;
    if (!(acc = cl_malloc(k->ctx, bytes))) {
      rc = cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory for %zu bytes of accumulators", bytes);
      goto done;
    }
    for (int64_t i = 0; i < p.out_n; i++)
      if (!isfinite(shift[i])) shift[i] = 0;
    a = acc;
    w.acc = acc;
    w.shift = shift;
    w.fold = F_EXP;
    break;
  }
  for (int64_t i = 0; i < p.out_n; i++)
    a[i] = init;
  run_walk(&p, &w, fold_f32);
  float *yd = y->data;
  switch (op) {
  case R_MEAN:
    for (int64_t i = 0; i < p.out_n; i++)
      yd[i] = (float)(a[i] / (double)p.count);
    break;
  case R_L2:
    for (int64_t i = 0; i < p.out_n; i++)
      yd[i] = (float)sqrt(a[i]);
    break;
  case R_LOGSUM:
    for (int64_t i = 0; i < p.out_n; i++)
      yd[i] = (float)log(a[i]);
    break;
  case R_LOGSUMEXP:
    for (int64_t i = 0; i < p.out_n; i++)
      yd[i] = (float)(log(a[i]) + shift[i]);
    break;
  default:
    for (int64_t i = 0; i < p.out_n; i++)
      yd[i] = (float)a[i];
    break;
  }
done:
  cl_free(k->ctx, acc);
  cl_free(k->ctx, shift);
  return rc;
}

/* ---- shared helpers -------------------------------------------------------------------------------------- */

/* Splits x's dims around axis into outer x len x inner element counts. */
static void split_at(const cl_tensor *x, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < axis; d++)
    *outer *= x->dims[d];
  for (int d = axis + 1; d < x->ndim; d++)
    *inner *= x->dims[d];
  *len = axis < x->ndim ? x->dims[axis] : 1;
}

static int norm_axis(const cl_kctx *k, const cl_node *n, int64_t axis, int rank, int *out) {
  if (axis < -(int64_t)rank || axis >= rank)
    return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "axis %lld is out of range for rank %d", (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 0;
}

static void *scratch(const cl_kctx *k, const cl_node *n, int64_t count, size_t esize, int *rc) {
  size_t bytes;
  void *p = NULL;
  if (cl_mul_size((size_t)(count > 0 ? count : 1), esize, &bytes))
    *rc = cl_node_err(k->ctx, n, CLEAVE_ELIMIT, "scratch of %lld elements is too large", (long long)count);
  else if (!(p = cl_malloc(k->ctx, bytes)))
    *rc = cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory for %zu bytes of scratch", bytes);
  return p;
}

/* ---- ArgMax, ArgMin ------------------------------------------------------------------------------------- */

/* NaN counts as the extremum, first one wins (last one with select_last_index), as numpy's argmax does. */
#define DEFINE_ARG(NAME, T)                                                                                          \
  static void NAME(const T *x, int64_t outer, int64_t len, int64_t inner, bool is_min, bool last, T *best,           \
                   int64_t *y) {                                                                                     \
    for (int64_t o = 0; o < outer; o++) {                                                                            \
      const T *xo = x + o * len * inner;                                                                             \
      int64_t *yo = y + o * inner;                                                                                   \
      for (int64_t j = 0; j < inner; j++) {                                                                          \
        best[j] = xo[j];                                                                                             \
        yo[j] = 0;                                                                                                   \
      }                                                                                                              \
      for (int64_t a = 1; a < len; a++) {                                                                            \
        const T *xa = xo + a * inner;                                                                                \
        for (int64_t j = 0; j < inner; j++) {                                                                        \
          T v = xa[j], b = best[j];                                                                                  \
          bool take;                                                                                                 \
          if (b != b)                                                                                                \
            take = last && v != v;                                                                                   \
          else if (v != v)                                                                                           \
            take = true;                                                                                             \
          else if (is_min)                                                                                           \
            take = last ? v <= b : v < b;                                                                            \
          else                                                                                                       \
            take = last ? v >= b : v > b;                                                                            \
          if (take) {                                                                                                \
            best[j] = v;                                                                                             \
            yo[j] = a;                                                                                               \
          }                                                                                                          \
        }                                                                                                            \
      }                                                                                                              \
    }                                                                                                                \
  }
DEFINE_ARG(arg_f32, float)
DEFINE_ARG(arg_i32, int32_t)
DEFINE_ARG(arg_i64, int64_t)

static int k_arg(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                 int n_out) {
  const cl_tensor *x = in[0];
  int axis = 0, rc = 0;
  if ((rc = norm_axis(k, n, cl_attr_int(n, "axis", 0), x->ndim, &axis))) return rc;
  int64_t outer, len, inner;
  split_at(x, axis, &outer, &len, &inner);
  if (cl_tensor_numel(out[0]) != outer * inner)
    return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "output has %lld elements, expected %lld",
                       (long long)cl_tensor_numel(out[0]), (long long)(outer * inner));
  if (outer * inner == 0) return 0;
  if (len == 0) return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "axis %d is empty, there is no extremum", axis);
  bool is_min = strcmp(n->op, "ArgMin") == 0, last = cl_attr_int(n, "select_last_index", 0) != 0;
  void *best = scratch(k, n, inner, 8, &rc);
  if (!best) return rc;
  int64_t *y = out[0]->data;
  switch (x->dtype) {
  case CLEAVE_DTYPE_FLOAT32: arg_f32(x->data, outer, len, inner, is_min, last, best, y); break;
  case CLEAVE_DTYPE_INT32: arg_i32(x->data, outer, len, inner, is_min, last, best, y); break;
  case CLEAVE_DTYPE_INT64: arg_i64(x->data, outer, len, inner, is_min, last, best, y); break;
  default:
    rc = cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "%s on %s is not implemented", n->op,
                     cleave_dtype_name(x->dtype));
  }
  cl_free(k->ctx, best);
  return rc;
}

/* ---- Softmax, LogSoftmax, Hardmax ----------------------------------------------------------------------- */

enum smax { S_SOFT, S_LOG, S_HARD };

/* One row of len contiguous elements. The max is subtracted before exp so large inputs cannot overflow. */
static void smax_row(int kind, const float *x, float *y, int64_t len) {
  float m = x[0];
  int64_t at = 0;
  for (int64_t i = 1; i < len; i++)
    if (x[i] > m) m = x[i], at = i;
  if (kind == S_HARD) {
    y[at] = 1;
    return;
  }
  double s = 0;
  for (int64_t i = 0; i < len; i++) {
    float e = expf(x[i] - m);
    s += e;
    if (kind == S_SOFT) y[i] = e;
  }
  if (kind == S_SOFT) {
    float inv = (float)(1.0 / s);
    for (int64_t i = 0; i < len; i++)
      y[i] *= inv;
  } else {
    float ls = (float)log(s);
    for (int64_t i = 0; i < len; i++)
      y[i] = (x[i] - m) - ls;
  }
}

/* Along a strided axis: len rows of inner contiguous elements, reduced column-wise so loops stay contiguous. */
static void smax_cols(int kind, const float *x, float *y, int64_t len, int64_t inner, float *mx, double *sum,
                      int64_t *at) {
  for (int64_t j = 0; j < inner; j++) {
    mx[j] = x[j];
    sum[j] = 0;
    at[j] = 0;
  }
  for (int64_t a = 1; a < len; a++)
    for (int64_t j = 0; j < inner; j++)
      if (x[a * inner + j] > mx[j]) mx[j] = x[a * inner + j], at[j] = a;
  if (kind == S_HARD) {
    for (int64_t j = 0; j < inner; j++)
      y[at[j] * inner + j] = 1;
    return;
  }
  for (int64_t a = 0; a < len; a++)
    for (int64_t j = 0; j < inner; j++) {
      float e = expf(x[a * inner + j] - mx[j]);
      sum[j] += e;
      if (kind == S_SOFT) y[a * inner + j] = e;
    }
  if (kind == S_SOFT) {
    for (int64_t j = 0; j < inner; j++)
      sum[j] = 1.0 / sum[j];
    for (int64_t a = 0; a < len; a++)
      for (int64_t j = 0; j < inner; j++)
        y[a * inner + j] = (float)(y[a * inner + j] * sum[j]);
  } else {
    for (int64_t j = 0; j < inner; j++)
      sum[j] = log(sum[j]);
    for (int64_t a = 0; a < len; a++)
      for (int64_t j = 0; j < inner; j++)
        y[a * inner + j] = (float)((double)(x[a * inner + j] - mx[j]) - sum[j]);
  }
}

static int k_softmax(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                     int n_out) {
  const cl_tensor *x = in[0];
  int kind = strcmp(n->op, "Softmax") == 0 ? S_SOFT : strcmp(n->op, "LogSoftmax") == 0 ? S_LOG : S_HARD;
  int64_t axis = cl_attr_int(n, "axis", k->opset < 13 ? 1 : -1), outer, len, inner;
  int a = 0, rc = 0;
  if (k->opset < 13 && axis == x->ndim)
    a = x->ndim;
  else if ((rc = norm_axis(k, n, axis, x->ndim, &a)))
    return rc;
  if (k->opset < 13) { /* coerced to 2-D [prod(dims[:a]), prod(dims[a:])] */
    outer = 1;
    len = 1;
    for (int d = 0; d < x->ndim; d++)
      *(d < a ? &outer : &len) *= x->dims[d];
    inner = 1;
  } else {
    split_at(x, a, &outer, &len, &inner);
  }
  if (outer * len * inner == 0) return 0;
  const float *xd = x->data;
  float *yd = out[0]->data;
  if (inner == 1) {
    for (int64_t o = 0; o < outer; o++)
      smax_row(kind, xd + o * len, yd + o * len, len);
    return 0;
  }
  float *mx = scratch(k, n, inner, sizeof(float), &rc);
  double *sum = mx ? scratch(k, n, inner, sizeof(double), &rc) : NULL;
  int64_t *at = sum ? scratch(k, n, inner, sizeof(int64_t), &rc) : NULL;
  if (at)
    for (int64_t o = 0; o < outer; o++)
      smax_cols(kind, xd + o * len * inner, yd + o * len * inner, len, inner, mx, sum, at);
  cl_free(k->ctx, mx);
  cl_free(k->ctx, sum);
  cl_free(k->ctx, at);
  return rc;
}

/* ---- LayerNormalization ----------------------------------------------------------------------------------- */

/* Scale or B as n contiguous floats over the normalised dims: the tensor itself when it has them all, else
 * broadcast into *tmp. */
static const float *ln_param(const cl_kctx *k, const cl_node *n, const cl_tensor *p, const cl_tensor *x, int axis,
                             int64_t len, float **tmp, int *rc) {
  if (cl_tensor_numel(p) == len) return p->data;
  int nd = x->ndim - axis;
  int64_t str[CL_MAX_DIMS], idx[CL_MAX_DIMS] = {0};
  if (p->ndim > nd) {
    *rc = cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "parameter of rank %d does not fit %d normalised dims", p->ndim, nd);
    return NULL;
  }
  if (!(*tmp = scratch(k, n, len, sizeof(float), rc))) return NULL;
  cl_bcast_strides(p->ndim, p->dims, nd, x->dims + axis, str);
  const float *pd = p->data;
  int64_t off = 0;
  for (int64_t i = 0; i < len; i++) {
    (*tmp)[i] = pd[off];
    for (int d = nd - 1; d >= 0; d--) {
      off += str[d];
      if (++idx[d] < x->dims[axis + d]) break;
      off -= str[d] * x->dims[axis + d];
      idx[d] = 0;
    }
  }
  return *tmp;
}

static void store(cl_tensor *t, int64_t i, double v) {
  if (t->dtype == CLEAVE_DTYPE_FLOAT64)
    ((double *)t->data)[i] = v;
  else if (t->dtype == CLEAVE_DTYPE_FLOAT32)
    ((float *)t->data)[i] = (float)v;
}

static int k_layernorm(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                       cl_tensor *const *out, int n_out) {
  const cl_tensor *x = in[0];
  int axis = 0, rc = 0;
  if ((rc = norm_axis(k, n, cl_attr_int(n, "axis", -1), x->ndim, &axis))) return rc;
  int64_t outer = 1, len = 1;
  for (int d = 0; d < x->ndim; d++)
    *(d < axis ? &outer : &len) *= x->dims[d];
  double eps = cl_attr_float(n, "epsilon", 1e-5f);
  float *stmp = NULL, *btmp = NULL;
  const float *scale = ln_param(k, n, in[1], x, axis, len, &stmp, &rc);
  const float *bias = NULL;
  if (scale && n_in > 2 && in[2]) bias = ln_param(k, n, in[2], x, axis, len, &btmp, &rc);
  if (rc) goto done;
  cl_tensor *mean_t = n_out > 1 && out[1] && out[1]->data ? out[1] : NULL;
  cl_tensor *inv_t = n_out > 2 && out[2] && out[2]->data ? out[2] : NULL;
  for (int64_t o = 0; o < outer; o++) {
    const float *xr = (const float *)x->data + o * len;
    float *yr = (float *)out[0]->data + o * len;
    double s = 0, v = 0;
    for (int64_t i = 0; i < len; i++)
      s += xr[i];
    double mean = s / (double)len;
    for (int64_t i = 0; i < len; i++)
      v += (xr[i] - mean) * (xr[i] - mean);
    double inv = 1.0 / sqrt(v / (double)len + eps);
    if (bias)
      for (int64_t i = 0; i < len; i++)
        yr[i] = (float)((xr[i] - mean) * inv * scale[i] + bias[i]);
    else
      for (int64_t i = 0; i < len; i++)
        yr[i] = (float)((xr[i] - mean) * inv * scale[i]);
    if (mean_t) store(mean_t, o, mean);
    if (inv_t) store(inv_t, o, inv);
  }
done:
  cl_free(k->ctx, stmp);
  cl_free(k->ctx, btmp);
  return rc;
}

/* ---- CumSum --------------------------------------------------------------------------------------------- */

/* run[] holds the running sums of one outer block: double for float32, wrapping int64 for integers. */
#define DEFINE_CUMSUM(NAME, T, ACC, ADD)                                                                             \
  static void NAME(const T *x, T *y, int64_t outer, int64_t len, int64_t inner, bool excl, bool rev, ACC *run) {     \
    for (int64_t o = 0; o < outer; o++) {                                                                            \
      for (int64_t j = 0; j < inner; j++)                                                                            \
        run[j] = 0;                                                                                                  \
      for (int64_t t = 0; t < len; t++) {                                                                            \
        int64_t off = (o * len + (rev ? len - 1 - t : t)) * inner;                                                   \
        const T *xa = x + off;                                                                                       \
        T *ya = y + off;                                                                                             \
        for (int64_t j = 0; j < inner; j++) {                                                                        \
          if (excl) ya[j] = (T)run[j];                                                                               \
          run[j] = ADD(run[j], xa[j]);                                                                               \
          if (!excl) ya[j] = (T)run[j];                                                                              \
        }                                                                                                            \
      }                                                                                                              \
    }                                                                                                                \
  }
#define ADD_F(a, b) ((a) + (double)(b))
#define ADD_I(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(int64_t)(b)))
DEFINE_CUMSUM(cumsum_f32, float, double, ADD_F)
DEFINE_CUMSUM(cumsum_i32, int32_t, int64_t, ADD_I)
DEFINE_CUMSUM(cumsum_i64, int64_t, int64_t, ADD_I)

static int k_cumsum(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                    int n_out) {
  const cl_tensor *x = in[0];
  int axis = 0, rc = 0;
  if (cl_tensor_numel(in[1]) != 1) return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "axis input must be a scalar");
  if ((rc = norm_axis(k, n, cl_tensor_get_i64(in[1], 0), x->ndim, &axis))) return rc;
  int64_t outer, len, inner;
  split_at(x, axis, &outer, &len, &inner);
  if (outer * len * inner == 0) return 0;
  bool excl = cl_attr_int(n, "exclusive", 0) != 0, rev = cl_attr_int(n, "reverse", 0) != 0;
  void *run = scratch(k, n, inner, 8, &rc);
  if (!run) return rc;
  switch (x->dtype) {
  case CLEAVE_DTYPE_FLOAT32: cumsum_f32(x->data, out[0]->data, outer, len, inner, excl, rev, run); break;
  case CLEAVE_DTYPE_INT32: cumsum_i32(x->data, out[0]->data, outer, len, inner, excl, rev, run); break;
  case CLEAVE_DTYPE_INT64: cumsum_i64(x->data, out[0]->data, outer, len, inner, excl, rev, run); break;
  default:
    rc = cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "CumSum on %s is not implemented", cleave_dtype_name(x->dtype));
  }
  cl_free(k->ctx, run);
  return rc;
}

const cl_ref_kernel cl_ref_kernels_reduce[] = {
    {.op = "ReduceMean", .types = CL_T_F32, .run = k_reduce},
    {.op = "ReduceSum", .types = CL_T_NUM, .run = k_reduce},
    {.op = "ReduceMax", .types = CL_T_NUM, .run = k_reduce},
    {.op = "ReduceMin", .types = CL_T_NUM, .run = k_reduce},
    {.op = "ReduceProd", .types = CL_T_NUM, .run = k_reduce},
    {.op = "ReduceL1", .types = CL_T_F32, .run = k_reduce},
    {.op = "ReduceL2", .types = CL_T_F32, .run = k_reduce},
    {.op = "ReduceSumSquare", .types = CL_T_F32, .run = k_reduce},
    {.op = "ReduceLogSum", .types = CL_T_F32, .run = k_reduce},
    {.op = "ReduceLogSumExp", .types = CL_T_F32, .run = k_reduce},
    {.op = "ArgMax", .types = CL_T_NUM, .run = k_arg},
    {.op = "ArgMin", .types = CL_T_NUM, .run = k_arg},
    {.op = "Softmax", .types = CL_T_F32, .run = k_softmax},
    {.op = "LogSoftmax", .types = CL_T_F32, .run = k_softmax},
    {.op = "Hardmax", .types = CL_T_F32, .run = k_softmax},
    {.op = "LayerNormalization", .types = CL_T_F32, .run = k_layernorm},
    {.op = "CumSum", .types = CL_T_NUM, .run = k_cumsum},
    {.op = NULL},
};
