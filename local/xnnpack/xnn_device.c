/* local/xnnpack: the "cpu" device. XNNPACK for what it does well, the reference kernels for the rest, one plan
 * per input shapes, and a run path that allocates nothing. */
#include <stdio.h>
#include <string.h>

#include "local/ref/ref.h"
#include "local/xnnpack/kernels.h"
#include "local/xnnpack/xnn.h"

/* ---- XNNPACK's allocator ----
 * XNNPACK takes one process-wide allocator. Ours forwards to the allocator of the context whose session is
 * calling into XNNPACK on this thread, so that operators are allocated and freed with the library's hook. */

static _Thread_local cleave_ctx *current;

static void *xa_alloc(void *c, size_t size) {
  (void)c;
  return current ? cl_malloc(current, size) : cl_default_allocator.allocate(NULL, size);
}
static void *xa_realloc(void *c, void *p, size_t size) {
  (void)c;
  return current ? cl_realloc(current, p, size) : cl_default_allocator.reallocate(NULL, p, size);
}
static void xa_free(void *c, void *p) {
  (void)c;
  if (current)
    cl_free(current, p);
  else
    cl_default_allocator.deallocate(NULL, p);
}
static void *xa_aligned(void *c, size_t alignment, size_t size) {
  (void)c;
  return current ? cl_aligned_alloc(current, alignment, size)
                 : cl_default_allocator.aligned_allocate(NULL, alignment, size);
}
static void xa_aligned_free(void *c, void *p) {
  (void)c;
  if (current)
    cl_aligned_free(current, p);
  else
    cl_default_allocator.aligned_deallocate(NULL, p);
}

static const struct xnn_allocator xnn_alloc = {
    .allocate = xa_alloc,
    .reallocate = xa_realloc,
    .deallocate = xa_free,
    .aligned_allocate = xa_aligned,
    .aligned_deallocate = xa_aligned_free,
};

static cleave_ctx *enter(cleave_ctx *ctx) {
  cleave_ctx *prev = current;
  current = ctx;
  return prev;
}

static void leave(cleave_ctx *prev) { current = prev; }

/* ---- device ---- */

static int cpu_create(cleave_ctx *ctx, void **dev) {
  enum xnn_status s = xnn_initialize(&xnn_alloc);
  if (s != xnn_status_success)
    return cl_err(ctx, CLEAVE_ENODEVICE, "the cpu device needs XNNPACK, which cannot run on this CPU (status %d)",
                  (int)s);
  *dev = ctx;
  return 0;
}

static void cpu_destroy(void *dev) { (void)dev; }

static int cpu_supports(void *dev, const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  (void)dev;
  if (n->n_in > XS_MAX_IN || n->n_out > 4) {
    snprintf(why, why_len, "the cpu device runs nodes of at most %d inputs and 4 outputs", XS_MAX_IN);
    return 0;
  }
  /* XNNPACK takes what it does well at compile time; the reference kernels run everything else */
  return cl_ref_supports(g, n, why, why_len);
}

static void cpu_release(void *p) {
  xexe *e = p;
  if (!e) return;
  cleave_ctx *ctx = e->ctx, *prev = enter(ctx);
  xp_reset(e);
  for (int k = 0; k < e->n_s; k++) {
    xstep *st = &e->s[k];
    if (st->op) xnn_delete_operator(st->op);
    cl_free(ctx, st->label);
    cl_free(ctx, st->w);
    cl_free(ctx, st->bias);
    cl_free(ctx, st->idx);
    cl_free(ctx, st->offs);
    for (int j = 0; j < st->n_ew; j++) {
      cl_free(ctx, st->ew[j].scale);
      cl_free(ctx, st->ew[j].bias);
    }
  }
  for (int i = 0; i < e->n_v; i++)
    cl_aligned_free(ctx, e->v[i].kdata);
  cl_free(ctx, e->v);
  cl_free(ctx, e->s);
  cl_free(ctx, e->vmap[0]);
  cl_free(ctx, e->vmap[1]);
  cl_free(ctx, e->inputs);
  cl_free(ctx, e->outputs);
  cl_free(ctx, e->out_v);
  cl_free(ctx, e->nodes);
  cl_free(ctx, e->plan_key);
  cl_free(ctx, e->key_scratch);
  cl_free(ctx, e->value_key);
  cl_free(ctx, e->shape);
  cl_free(ctx, e->pk);
  cl_free(ctx, e->pk_owned);
  cl_free(ctx, e->slot_shape);
  cl_free(ctx, e->slot_dtype);
  cl_aligned_free(ctx, e->arena);
  cl_free(ctx, e);
  leave(prev);
}

static int cpu_compile(void *dev, const cl_segment *seg, void **out) {
  cleave_ctx *ctx = dev;
  const cl_graph *g = seg->graph;
  xexe *e = cl_calloc(ctx, 1, sizeof *e);
  if (!e) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory compiling for the cpu device");
  cleave_ctx *prev = enter(ctx);
  int rc = 0;
  e->ctx = ctx;
  e->g = g;
  e->tp = cl_ctx_threadpool(ctx);
  e->n_inputs = seg->n_inputs;
  e->n_outputs = seg->n_outputs;
  e->n_nodes = seg->n_nodes;
  e->inputs = cl_dup_ints(ctx, seg->inputs, seg->n_inputs);
  e->outputs = cl_dup_ints(ctx, seg->outputs, seg->n_outputs);
  e->nodes = cl_dup_ints(ctx, seg->nodes, seg->n_nodes);
  e->out_v = cl_calloc(ctx, (size_t)seg->n_outputs + 1, sizeof(int));
  size_t nv = (size_t)g->n_values + 1;
  e->vmap[0] = cl_malloc(ctx, sizeof(int) * nv);
  e->vmap[1] = cl_malloc(ctx, sizeof(int) * nv);
  e->shape = cl_calloc(ctx, nv, sizeof *e->shape);
  e->pk = cl_calloc(ctx, nv, sizeof *e->pk);
  e->pk_owned = cl_calloc(ctx, nv, sizeof *e->pk_owned);
  e->slot_shape = cl_calloc(ctx, (size_t)seg->n_nodes * 4 + 1, sizeof *e->slot_shape);
  e->slot_dtype = cl_calloc(ctx, (size_t)seg->n_nodes * 4 + 1, sizeof *e->slot_dtype);
  e->plan_key = cl_calloc(ctx, (size_t)xp_key_size(e) + 1, sizeof(int64_t));
  e->key_scratch = cl_calloc(ctx, (size_t)xp_key_size(e) + 1, sizeof(int64_t));
  if (!e->inputs || !e->outputs || !e->nodes || !e->out_v || !e->vmap[0] || !e->vmap[1] || !e->shape || !e->pk ||
      !e->pk_owned || !e->slot_shape || !e->slot_dtype || !e->plan_key || !e->key_scratch) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory compiling for the cpu device");
    goto fail;
  }
  for (size_t i = 0; i < nv; i++)
    e->vmap[0][i] = e->vmap[1][i] = -1;
  if ((rc = xl_lower(e, seg))) goto fail;
  for (int k = 0; k < e->n_s && !rc; k++)
    rc = xo_create(e, &e->s[k]);
  if (rc) goto fail;
  leave(prev);
  *out = e;
  return 0;
fail:
  leave(prev);
  cpu_release(e);
  return rc;
}

static int run_ref(xexe *e, xstep *st) {
  const cl_node *n = st->ref;
  const cl_ref_kernel *k = cl_ref_find(n->op);
  if (!k) return cl_node_err(e->ctx, n, CLEAVE_EUNSUPPORTED, "no reference kernel");
  cl_tensor tin[XS_MAX_IN], tout[4];
  const cl_tensor *pin[XS_MAX_IN];
  cl_tensor *pout[4];
  for (int j = 0; j < n->n_in; j++) {
    pin[j] = NULL;
    if (st->in[j] < 0) continue;
    const xv *v = &e->v[st->in[j]];
    tin[j] = (cl_tensor){.dtype = v->dtype, .ndim = v->ndim, .data = v->ptr, .nbytes = v->nbytes};
    memcpy(tin[j].dims, v->dims, sizeof(int64_t) * (size_t)v->ndim);
    pin[j] = &tin[j];
  }
  for (int j = 0; j < n->n_out; j++) {
    const xv *v = &e->v[st->out[j]];
    tout[j] = (cl_tensor){.dtype = v->dtype, .ndim = v->ndim, .data = v->ptr, .nbytes = v->nbytes};
    memcpy(tout[j].dims, v->dims, sizeof(int64_t) * (size_t)v->ndim);
    memset(v->ptr, 0, v->nbytes); /* kernels expect zero-filled outputs */
    pout[j] = &tout[j];
  }
  cl_kctx kc = {.ctx = e->ctx, .opset = e->g->opset};
  return k->run(&kc, n, pin, n->n_in, pout, n->n_out);
}

static int run_step(xexe *e, xstep *st) {
  const xv *in = &e->v[st->in[0]], *out = st->n_out ? &e->v[st->out[0]] : NULL;
  if (st->fill) {
    float *y = out->ptr;
    for (size_t i = 0; i < out->nbytes / sizeof(float); i++)
      y[i] = st->fill_value;
    return 0;
  }
  switch (st->kind) {
  case XS_REF: return run_ref(e, st);
  case XS_ALIAS: return 0;
  case XS_COPY: memcpy(out->ptr, in->ptr, in->nbytes); return 0;
  case XS_TO_NHWC:
  case XS_TO_NCHW: {
    const xv *nhwc = st->kind == XS_TO_NHWC ? out : in;
    size_t n = (size_t)nhwc->dims[0], c = (size_t)nhwc->dims[3], hw = (size_t)(nhwc->dims[1] * nhwc->dims[2]);
    if (out->alias_of >= 0) return 0; /* one channel or one pixel: the same bytes */
    if (st->kind == XS_TO_NHWC)
      cl_xk_nchw_to_nhwc(st->tp, in->ptr, out->ptr, n, c, hw);
    else
      cl_xk_nhwc_to_nchw(st->tp, in->ptr, out->ptr, n, c, hw);
    return 0;
  }
  case XS_EW: xe_run(st->tp, st, in->ptr, out->ptr, st->rows, st->cols); return 0;
  case XS_RESIZE_NN:
    cl_xk_resize_nearest_nhwc(st->tp, in->ptr, out->ptr, (size_t)in->dims[0], (size_t)in->dims[1],
                              (size_t)in->dims[2], (size_t)out->dims[1], (size_t)out->dims[2], (size_t)in->dims[3],
                              st->idx, st->idx + out->dims[1]);
    return 0;
  case XS_MATMUL: {
    const float *a = in->ptr, *b = e->v[st->in[1]].ptr;
    float *c = out->ptr;
    if (!st->offs) {
      cl_xk_matmul(st->tp, st->batch, st->m, st->n, st->k, a, st->a_stride, b, st->b_stride, c);
    } else { /* batches broadcast on both sides: one product at a time */
      for (size_t i = 0; i < st->batch; i++)
        cl_xk_matmul(st->tp, 1, st->m, st->n, st->k, a + st->offs[2 * i], 0, b + st->offs[2 * i + 1], 0,
                     c + i * st->m * st->n);
    }
    return 0;
  }
  case XS_CONCAT: {
    const void *src[XS_MAX_IN];
    size_t widths[XS_MAX_IN], outer = 1;
    for (int d = 0; d < st->axis; d++)
      outer *= (size_t)out->dims[d];
    for (int j = 0; j < st->n_in; j++) {
      const xv *v = &e->v[st->in[j]];
      src[j] = v->ptr;
      widths[j] = outer ? xv_numel(v) / outer : 0;
    }
    cl_xk_concat_inner(st->tp, outer, st->n_in, src, widths, cl_dtype_size(out->dtype), out->ptr);
    return 0;
  }
  default: return xo_run(e, st);
  }
}

static int cpu_run(void *p, cl_exec_io *io) {
  xexe *e = p;
  cleave_ctx *ctx = e->ctx, *prev = enter(ctx);
  int rc = 0;
  if (!xp_same_key(e, io->inputs, e->key_scratch) && (rc = xp_plan(e, io->inputs))) {
    xp_reset(e);
    goto out;
  }
  /* inputs: copied into the arena for operators bound at setup, else read where they are */
  for (int i = 0; i < e->n_v; i++) {
    xv *v = &e->v[i];
    if (v->input < 0) continue;
    if (v->in_arena) {
      if (v->nbytes) memcpy(v->ptr, io->inputs[v->input].data, v->nbytes);
    } else
      v->ptr = io->inputs[v->input].data;
  }
  for (int i = 0; i < e->n_v; i++)
    if (e->v[i].alias_of >= 0) {
      int r = e->v[i].alias_of;
      while (e->v[r].alias_of >= 0)
        r = e->v[r].alias_of;
      e->v[i].ptr = e->v[r].ptr;
    }
  for (int k = 0; k < e->n_s; k++) {
    xstep *st = &e->s[k];
    if (st->skip) continue;
    double t0 = io->timings ? cl_now_ms() : 0;
    if ((rc = run_step(e, st))) goto out;
    if (io->timings && io->n_timings < 2 * e->n_nodes) {
      static const char *const moves[] = {"Transpose(NCHW>NHWC)", "Transpose(NHWC>NCHW)"};
      const char *label = st->kind == XS_TO_NHWC ? moves[0] : st->kind == XS_TO_NCHW ? moves[1] : st->label;
      io->timings[io->n_timings++] = (cl_exec_timing){.node = st->node, .label = label, .ms = cl_now_ms() - t0};
    }
  }
  for (int i = 0; i < e->n_outputs; i++) {
    const xv *v = &e->v[e->out_v[i]];
    const cl_shape *s = &e->shape[e->outputs[i]];
    if ((rc = cl_exec_output(ctx, io, i, v->dtype, s->ndim, s->d))) goto out;
    if (v->nbytes) memcpy(io->outputs[i].data, v->ptr, v->nbytes);
  }
out:
  leave(prev);
  return rc;
}

const cl_device_iface cl_cpu_device = {
    .name = "cpu",
    .api = "xnnpack",
    .kind = CL_DEV_CPU,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .supports = cpu_supports,
    .compile = cpu_compile,
    .run = cpu_run,
    .release = cpu_release,
};
