/* local/xnnpack: planning for one set of input shapes. Shapes for every value, values that depend only on shapes
 * (computed here, once), the arena and the operators' setup. A run with the same input shapes reuses all of it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/ops.h"
#include "core/ir/ops_nn.h"
#include "local/ref/ref.h"
#include "local/xnnpack/xnn.h"

/* Largest value computed at plan time: shape arithmetic, not data. */
#define PLAN_EVAL_MAX 65536
/* When a shape depends on the values of inputs (a Reshape whose shape, or a Resize whose scales, is an input),
 * small inputs of up to this many elements become part of the plan's key, and a new value means a new plan. */
#define KEY_VALUES_MAX 64

static bool by_value(const xexe *e, int i, const cl_tensor *t) {
  return e->value_key && e->value_key[i] && cl_tensor_numel(t) <= KEY_VALUES_MAX;
}

static bool is_int(int dtype) { return dtype == CLEAVE_DTYPE_INT64 || dtype == CLEAVE_DTYPE_INT32; }

/* The key of inputs: rank and dims of each, then the bytes of those planned by value. */
static int key_of(const xexe *e, const cl_tensor *in, int64_t *key) {
  int n = 0;
  for (int i = 0; i < e->n_inputs; i++) {
    key[n++] = in[i].ndim;
    for (int d = 0; d < in[i].ndim; d++)
      key[n++] = in[i].dims[d];
    if (by_value(e, i, &in[i])) {
      int64_t words[KEY_VALUES_MAX] = {0};
      if (in[i].nbytes) memcpy(words, in[i].data, in[i].nbytes);
      for (size_t k = 0; k < (in[i].nbytes + 7) / 8; k++)
        key[n++] = words[k];
    }
  }
  return n;
}

int xp_key_size(const xexe *e) { return e->n_inputs * (1 + CL_MAX_DIMS + KEY_VALUES_MAX); }

bool xp_same_key(xexe *e, const cl_tensor *in, int64_t *scratch) {
  int n = key_of(e, in, scratch);
  return e->planned && n == e->n_key && memcmp(scratch, e->plan_key, sizeof(int64_t) * (size_t)n) == 0;
}

void xp_reset(xexe *e) {
  for (int i = 0; i < e->n_v; i++) {
    xv *v = &e->v[i];
    if (v->pval.data) cl_tensor_release(e->ctx, &v->pval);
    v->known = false;
    v->in_arena = false;
    v->alias_of = -1;
    v->ptr = NULL;
  }
  for (int k = 0; k < e->n_s; k++) {
    e->s[k].skip = false;
    cl_free(e->ctx, e->s[k].idx);
    cl_free(e->ctx, e->s[k].offs);
    e->s[k].idx = NULL;
    e->s[k].offs = NULL;
  }
  for (int gv = 0; e->pk && e->pk_owned && gv < e->g->n_values; gv++)
    if (e->pk_owned[gv]) {
      cl_tensor_release(e->ctx, &e->pk[gv]);
      e->pk_owned[gv] = false;
    }
  e->planned = false;
}

/* ---- shapes and shape arithmetic ---- */

static void to_physical(const xv *v, const cl_shape *s, int *ndim, int64_t *dims) {
  if (v->layout == XL_NHWC) {
    int64_t d4[4] = {1, 1, 1, 1};
    for (int i = 0; i < s->ndim; i++)
      d4[4 - s->ndim + i] = s->d[i];
    xl_nhwc_dims(d4, dims);
    *ndim = 4;
  } else {
    *ndim = s->ndim;
    memcpy(dims, s->d, sizeof(int64_t) * (size_t)s->ndim);
  }
}

/* Shapes of every value and the values known at plan time. *dynamic is set when a shape could not be known,
 * with the error recorded. */
static int infer_all(xexe *e, const cl_tensor *inputs, bool *dynamic) {
  cleave_ctx *ctx = e->ctx;
  const cl_graph *g = e->g;
  for (int gv = 0; gv < g->n_values; gv++) {
    e->shape[gv].ndim = -1;
    e->pk[gv] = (cl_tensor){0};
    if (g->values[gv].konst) {
      cl_shape_from_tensor(&e->shape[gv], g->values[gv].konst);
      e->pk[gv] = *g->values[gv].konst;
    }
  }
  for (int i = 0; i < e->n_inputs; i++) {
    int gv = e->inputs[i];
    cl_shape_from_tensor(&e->shape[gv], &inputs[i]);
    if (by_value(e, i, &inputs[i])) {
      cl_tensor t = inputs[i];
      t.data = NULL;
      if (cl_tensor_alloc(ctx, &t)) return CLEAVE_ENOMEM;
      if (t.nbytes) memcpy(t.data, inputs[i].data, t.nbytes);
      e->pk[gv] = t;
      e->pk_owned[gv] = true;
    }
  }
  cl_infer_ctx ic = {.ctx = ctx, .opset = g->opset, .runtime = false};
  static char dummy[64];
  for (int k = 0; k < e->n_nodes; k++) {
    const cl_node *n = &g->nodes[e->nodes[k]];
    cl_ival iv[XS_MAX_IN];
    cl_oval ov[4];
    const cl_tensor *tin[XS_MAX_IN];
    cl_tensor shape_only[XS_MAX_IN];
    if (n->n_in > XS_MAX_IN || n->n_out > 4)
      return cl_node_err(ctx, n, CLEAVE_EUNSUPPORTED, "too many inputs or outputs for the cpu device");
    bool all_known = true, shape_op = strcmp(n->op, "Shape") == 0 || strcmp(n->op, "Size") == 0;
    for (int j = 0; j < n->n_in; j++) {
      int v = n->in[j];
      iv[j] = (cl_ival){.present = v >= 0};
      tin[j] = NULL;
      if (v < 0) continue;
      iv[j].dtype = g->values[v].dtype;
      iv[j].shape = e->shape[v];
      if (e->pk[v].data ||
          (e->pk[v].nbytes == 0 && e->pk[v].ndim > 0 && cl_tensor_numel(&e->pk[v]) == 0 && e->pk_owned[v])) {
        iv[j].value = &e->pk[v];
        tin[j] = &e->pk[v];
      } else if (shape_op) {
        /* Shape and Size read only the dims */
        shape_only[j] = (cl_tensor){.dtype = g->values[v].dtype, .ndim = e->shape[v].ndim, .data = dummy};
        memcpy(shape_only[j].dims, e->shape[v].d, sizeof(int64_t) * (size_t)e->shape[v].ndim);
        tin[j] = &shape_only[j];
      } else {
        all_known = false;
      }
    }
    int rc = cl_op_infer(&ic, n, iv, n->n_in, ov, n->n_out);
    if (rc) return rc;
    int64_t total = 0;
    for (int j = 0; j < n->n_out; j++) {
      if (!cl_shape_is_static(&ov[j].shape)) {
        char buf[160];
        *dynamic = true;
        return cl_node_err(ctx, n, CLEAVE_EUNSUPPORTED,
                           "output %d has shape %s, which depends on data computed during the run; the cpu device "
                           "needs every shape to follow from the input shapes",
                           j, cl_shape_str(&ov[j].shape, buf, sizeof buf, g->symbols));
      }
      total += cl_shape_numel(&ov[j].shape);
      if (n->out[j] >= 0) e->shape[n->out[j]] = ov[j].shape;
    }
    /* omitted outputs of reference steps still need their shapes: keep them by slot */
    for (int j = 0; j < n->n_out && j < 4; j++) {
      e->slot_shape[k * 4 + j] = ov[j].shape;
      e->slot_dtype[k * 4 + j] = ov[j].dtype;
    }
    if (!all_known || total > PLAN_EVAL_MAX || n->n_out < 1) continue;
    cl_tensor outs[4];
    if ((rc = cl_ref_eval(ctx, g->opset, n, tin, n->n_in, outs, n->n_out))) return rc;
    for (int j = 0; j < n->n_out; j++) {
      if (n->out[j] < 0) {
        cl_tensor_release(ctx, &outs[j]);
        continue;
      }
      e->pk[n->out[j]] = outs[j];
      e->pk_owned[n->out[j]] = true;
    }
  }
  return 0;
}

/* ---- memory ---- */

static int root(const xexe *e, int v) {
  while (e->v[v].alias_of >= 0)
    v = e->v[v].alias_of;
  return v;
}

static bool bound_at_setup(xs_kind k) {
  switch (k) {
  case XS_CONV:
  case XS_DECONV:
  case XS_FC:
  case XS_BINARY:
  case XS_UNARY:
  case XS_SOFTMAX:
  case XS_MAXPOOL:
  case XS_AVGPOOL:
  case XS_GAP:
  case XS_RESIZE_BL:
  case XS_PAD:
  case XS_PRELU: return true;
  default: return false;
  }
}

typedef struct placed {
  int v;
  size_t size;
} placed;

static int by_size_desc(const void *a, const void *b) {
  const placed *x = a, *y = b;
  return x->size < y->size ? 1 : x->size > y->size ? -1 : x->v - y->v;
}

/* Greedy by size: each value, largest first, goes at the lowest offset that overlaps no already placed value
 * whose lifetime overlaps its own. */
static int layout_arena(xexe *e) {
  cleave_ctx *ctx = e->ctx;
  int n = 0;
  placed *p = cl_malloc(ctx, sizeof *p * (size_t)(e->n_v + 1));
  int *order = cl_malloc(ctx, sizeof(int) * (size_t)(e->n_v + 1));
  if (!p || !order) {
    cl_free(ctx, p);
    cl_free(ctx, order);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory planning the arena");
  }
  for (int i = 0; i < e->n_v; i++)
    if (e->v[i].in_arena) p[n++] = (placed){i, ((e->v[i].nbytes + XNN_EXTRA_BYTES + 63) / 64) * 64};
  qsort(p, (size_t)n, sizeof *p, by_size_desc);
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    xv *v = &e->v[p[i].v];
    /* conflicting placed values sorted by offset; try each gap */
    int m = 0;
    for (int j = 0; j < i; j++) {
      const xv *o = &e->v[p[j].v];
      if (o->first <= v->last && v->first <= o->last) order[m++] = j;
    }
    for (int a = 1; a < m; a++) /* insertion sort by offset: m is small */
      for (int b = a; b > 0 && e->v[p[order[b]].v].offset < e->v[p[order[b - 1]].v].offset; b--) {
        int t = order[b];
        order[b] = order[b - 1];
        order[b - 1] = t;
      }
    size_t off = 0;
    for (int j = 0; j < m; j++) {
      const xv *o = &e->v[p[order[j]].v];
      if (o->offset >= off + p[i].size) break;
      size_t end = o->offset + p[order[j]].size;
      if (end > off) off = end;
    }
    v->offset = off;
    if (off + p[i].size > total) total = off + p[i].size;
  }
  cl_free(ctx, p);
  cl_free(ctx, order);
  if (total > e->arena_cap) {
    cl_aligned_free(ctx, e->arena);
    e->arena_cap = 0;
    if (!(e->arena = cl_aligned_alloc(ctx, 64, total ? total : 64)))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory allocating a %zu-byte arena", total);
    e->arena_cap = total;
  }
  e->arena_size = total;
  return 0;
}

/* ---- the plan ---- */

/* Below this much work (multiply-adds, or elements moved) a step runs on the calling thread: waking the pool
 * costs more than it saves. */
#define PARALLEL_MIN_WORK 65536

static size_t step_work(const xexe *e, const xstep *st) {
  const xv *out = st->n_out && st->out[0] >= 0 ? &e->v[st->out[0]] : NULL;
  size_t n = out ? xv_numel(out) : 0;
  switch (st->kind) {
  case XS_CONV:
  case XS_DECONV: return n * st->gic * st->geo.kh * st->geo.kw;
  case XS_FC: return n * st->gic;
  case XS_MATMUL: return n * st->k;
  case XS_REF: return 0; /* the reference kernels are single-threaded */
  default: {
    size_t m = xv_numel(&e->v[st->in[0]]);
    return n > m ? n : m;
  }
  }
}

static int nearest_tables(xexe *e, xstep *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const xv *in = &e->v[st->in[0]], *out = &e->v[st->out[0]];
  cl_ival iv[4] = {0};
  for (int j = 0; j < n->n_in && j < 4; j++) {
    int v = n->in[j];
    if (v < 0) continue;
    iv[j] = (cl_ival){.present = true, .dtype = e->g->values[v].dtype, .shape = e->shape[v]};
    if (e->pk[v].data) iv[j].value = &e->pk[v];
  }
  cl_nn_resize p;
  int rc = cl_nn_resize_params(e->ctx, e->g->opset, n, iv, n->n_in, &p);
  if (rc) return rc;
  int64_t ih = in->dims[1], iw = in->dims[2], oh = out->dims[1], ow = out->dims[2];
  if (in->dims[0] != out->dims[0] || in->dims[3] != out->dims[3])
    return cl_node_err(e->ctx, n, CLEAVE_EUNSUPPORTED, "the cpu device resizes only the spatial axes");
  if (oh > INT32_MAX || ow > INT32_MAX || ih > INT32_MAX || iw > INT32_MAX)
    return cl_node_err(e->ctx, n, CLEAVE_ELIMIT, "resize beyond 2^31 rows or columns");
  st->idx = cl_malloc(e->ctx, sizeof(int32_t) * (size_t)(oh + ow + 1));
  if (!st->idx) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  for (int64_t o = 0; o < oh; o++)
    st->idx[o] = (int32_t)cl_nn_resize_nearest(&p, 2, o, ih);
  for (int64_t o = 0; o < ow; o++)
    st->idx[oh + o] = (int32_t)cl_nn_resize_nearest(&p, 3, o, iw);
  return 0;
}

/* Batched matmul geometry: a [..., M, K] @ b [..., K, N]; batches either match, or one side has a single one. */
static int matmul_geometry(xexe *e, xstep *st) {
  const xv *a = &e->v[st->in[0]], *b = &e->v[st->in[1]], *c = &e->v[st->out[0]];
  size_t ba = 1, bb = 1, bc = 1;
  for (int i = 0; i < a->ndim - 2; i++)
    ba *= (size_t)a->dims[i];
  for (int i = 0; i < b->ndim - 2; i++)
    bb *= (size_t)b->dims[i];
  for (int i = 0; i < c->ndim - 2; i++)
    bc *= (size_t)c->dims[i];
  st->m = (size_t)a->dims[a->ndim - 2];
  st->k = (size_t)a->dims[a->ndim - 1];
  st->n = (size_t)b->dims[b->ndim - 1];
  st->batch = bc;
  bool same = a->ndim == b->ndim;
  for (int i = 0; same && i < a->ndim - 2; i++)
    same = a->dims[i] == b->dims[i];
  if (same || ba == 1 || bb == 1) {
    st->a_stride = ba == 1 ? 0 : st->m * st->k;
    st->b_stride = bb == 1 ? 0 : st->k * st->n;
    return 0;
  }
  /* both sides broadcast: an offset pair per output batch, from numpy strides over the batch dims */
  int nb = c->ndim - 2;
  int64_t sa[CL_MAX_DIMS] = {0}, sb[CL_MAX_DIMS] = {0};
  int64_t ad[CL_MAX_DIMS], bd[CL_MAX_DIMS];
  for (int i = 0; i < a->ndim - 2; i++)
    ad[i] = a->dims[i];
  for (int i = 0; i < b->ndim - 2; i++)
    bd[i] = b->dims[i];
  cl_bcast_strides(a->ndim - 2, ad, nb, c->dims, sa);
  cl_bcast_strides(b->ndim - 2, bd, nb, c->dims, sb);
  if (!(st->offs = cl_malloc(e->ctx, sizeof(size_t) * 2 * (bc ? bc : 1))))
    return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  for (size_t i = 0; i < bc; i++) {
    size_t rem = i, oa = 0, ob = 0;
    for (int d = nb - 1; d >= 0; d--) {
      size_t idx = rem % (size_t)c->dims[d];
      rem /= (size_t)c->dims[d];
      oa += idx * (size_t)sa[d];
      ob += idx * (size_t)sb[d];
    }
    st->offs[2 * i] = oa * st->m * st->k;
    st->offs[2 * i + 1] = ob * st->k * st->n;
  }
  return 0;
}

int xp_plan(xexe *e, const cl_tensor *inputs) {
  cleave_ctx *ctx = e->ctx;
  xp_reset(e);
  bool dynamic = false;
  int rc = infer_all(e, inputs, &dynamic);
  /* Plan by the values of small integer inputs too, and only if that is not enough, of every small input: an
   * input planned by value replans when its values change, which a float image must not do. */
  for (int pass = 0; rc && dynamic && pass < 2; pass++) {
    if (!e->value_key && !(e->value_key = cl_calloc(ctx, (size_t)e->n_inputs + 1, sizeof(bool))))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    bool more = false;
    for (int i = 0; i < e->n_inputs; i++)
      if (!e->value_key[i] && (pass == 1 || is_int(inputs[i].dtype))) e->value_key[i] = more = true;
    if (!more) continue;
    xp_reset(e);
    dynamic = false;
    rc = infer_all(e, inputs, &dynamic);
  }
  if (rc) return rc;
  /* values: physical dims, what is known, what aliases what */
  for (int i = 0; i < e->n_v; i++) {
    xv *v = &e->v[i];
    const cl_shape *s = v->gv >= 0 ? &e->shape[v->gv] : NULL;
    if (!s && v->producer >= 0) { /* an omitted output of a reference step */
      const xstep *st = &e->s[v->producer];
      for (int k = 0; k < e->n_nodes; k++)
        if (e->nodes[k] == st->node)
          for (int j = 0; j < st->n_out; j++)
            if (st->out[j] == i) {
              s = &e->slot_shape[k * 4 + j];
              v->dtype = e->slot_dtype[k * 4 + j];
            }
    }
    if (!s || s->ndim < 0) return cl_err(ctx, CLEAVE_EMODEL, "a value of the cpu plan has no shape");
    to_physical(v, s, &v->ndim, v->dims);
    cl_tensor t = {.dtype = v->dtype, .ndim = v->ndim};
    memcpy(t.dims, v->dims, sizeof t.dims);
    v->nbytes = (size_t)cl_tensor_numel(&t) * cl_dtype_size(v->dtype);
    v->first = e->n_s;
    v->last = -1;
    if (v->konst) {
      v->known = true;
      v->ptr = v->kdata ? v->kdata : v->konst->data;
    } else if (v->gv >= 0 && e->pk[v->gv].data && v->input < 0) {
      v->known = true;
      if (v->layout == XL_ONNX) {
        v->ptr = e->pk[v->gv].data;
      } else { /* a known value wanted in NHWC: permute a copy now */
        v->pval = (cl_tensor){.dtype = v->dtype, .ndim = v->ndim};
        memcpy(v->pval.dims, v->dims, sizeof v->dims);
        if (cl_tensor_alloc(ctx, &v->pval)) return CLEAVE_ENOMEM;
        const cl_tensor *src = &e->pk[v->gv];
        int64_t d4[4] = {1, 1, 1, 1};
        for (int d = 0; d < src->ndim; d++)
          d4[4 - src->ndim + d] = src->dims[d];
        size_t es = cl_dtype_size(v->dtype), hw = (size_t)(d4[2] * d4[3]);
        for (int64_t nn = 0; nn < d4[0]; nn++)
          for (int64_t c = 0; c < d4[1]; c++)
            for (size_t p = 0; p < hw; p++)
              memcpy((char *)v->pval.data + ((size_t)nn * hw * (size_t)d4[1] + p * (size_t)d4[1] + (size_t)c) * es,
                     (char *)src->data + (((size_t)nn * (size_t)d4[1] + (size_t)c) * hw + p) * es, es);
        v->ptr = v->pval.data;
      }
    }
  }
  for (int k = 0; k < e->n_s; k++) {
    xstep *st = &e->s[k];
    bool all = st->n_out > 0;
    bool empty = st->n_out > 0;
    for (int j = 0; j < st->n_out; j++) {
      all &= st->out[j] < 0 || e->v[st->out[j]].known;
      empty &= st->out[j] < 0 || e->v[st->out[j]].nbytes == 0;
    }
    st->skip = all || empty; /* nothing to compute: known already, or no elements */
    if (st->skip) continue;
    const xv *in = &e->v[st->in[0]];
    /* a layout change of a tensor with one channel or one pixel moves nothing */
    const xv *nhwc = st->kind == XS_TO_NHWC ? &e->v[st->out[0]] : in;
    bool trivial = (st->kind == XS_TO_NHWC || st->kind == XS_TO_NCHW) &&
                   (nhwc->dims[3] == 1 || nhwc->dims[1] * nhwc->dims[2] == 1);
    if (st->kind == XS_ALIAS || trivial) e->v[st->out[0]].alias_of = root(e, st->in[0]);
  }
  /* lifetimes, on the roots of aliases; inputs read by operators bound at setup are copied into the arena */
  for (int k = 0; k < e->n_s; k++) {
    xstep *st = &e->s[k];
    if (st->skip) continue;
    for (int j = 0; j < st->n_in; j++) {
      if (st->in[j] < 0) continue;
      xv *r = &e->v[root(e, st->in[j])];
      if (r->known) continue;
      if (r->last < k) r->last = k;
      if (r->first > k) r->first = k;
      if (r->input >= 0 && bound_at_setup(st->kind)) r->in_arena = true;
    }
    for (int j = 0; j < st->n_out; j++) {
      if (st->out[j] < 0) continue;
      xv *o = &e->v[st->out[j]];
      if (o->alias_of >= 0) continue;
      o->in_arena = true;
      if (o->first > k) o->first = k;
      if (o->last < k) o->last = k;
    }
  }
  for (int i = 0; i < e->n_outputs; i++) {
    xv *r = &e->v[root(e, e->out_v[i])];
    r->last = e->n_s;
    if (r->input >= 0 && r->in_arena) r->first = -1;
  }
  for (int i = 0; i < e->n_v; i++)
    if (e->v[i].input >= 0 && e->v[i].in_arena) e->v[i].first = -1;
  if ((rc = layout_arena(e))) return rc;
  for (int i = 0; i < e->n_v; i++)
    if (e->v[i].in_arena) e->v[i].ptr = (char *)e->arena + e->v[i].offset;
  for (int i = 0; i < e->n_v; i++)
    if (e->v[i].alias_of >= 0) e->v[i].ptr = e->v[root(e, i)].ptr; /* inputs outside the arena: set per run */
  /* operators and kernels */
  for (int k = 0; k < e->n_s; k++) {
    xstep *st = &e->s[k];
    if (st->skip) continue;
    if (st->kind == XS_MATMUL && (rc = matmul_geometry(e, st))) return rc;
    st->tp = step_work(e, st) >= PARALLEL_MIN_WORK ? e->tp : NULL;
    /* XNNPACK refuses empty inputs; what these steps make of one is a constant */
    st->fill = (st->kind == XS_PAD || st->kind == XS_GAP) && e->v[st->in[0]].nbytes == 0;
    st->fill_value = st->kind == XS_PAD ? st->alpha : 0.0f; /* as the reference kernel: the mean of nothing is 0 */
    if (st->fill) continue;
    if (bound_at_setup(st->kind))
      rc = xo_setup(e, st);
    else if (st->kind == XS_RESIZE_NN)
      rc = nearest_tables(e, st);
    else if (st->kind == XS_EW) {
      const xv *in = &e->v[st->in[0]];
      st->cols = in->ndim ? (size_t)in->dims[in->ndim - 1] : 1;
      st->rows = st->cols ? xv_numel(in) / st->cols : 0;
      for (int j = 0; j < st->n_ew && !rc; j++)
        if ((st->ew[j].scale || st->ew[j].bias) && (size_t)st->ew[j].channels != st->cols)
          rc = cl_node_err(ctx, &e->g->nodes[st->node], CLEAVE_ESHAPE,
                           "per-channel constant of %lld values for %zu channels", (long long)st->ew[j].channels,
                           st->cols);
    }
    if (rc) return rc;
  }
  e->n_key = key_of(e, inputs, e->plan_key);
  e->planned = true;
  return 0;
}
