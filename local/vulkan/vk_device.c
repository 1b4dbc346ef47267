/* local/vulkan: the "gpu" device. One plan per input shapes, one command buffer per plan, and a run that copies
 * the inputs in, submits that command buffer once and copies the outputs out. */
#include <stdio.h>
#include <string.h>

#include "local/vulkan/vk.h"

typedef struct vk_dev {
  cleave_ctx *ctx;
  vk_rt *rt;
  const cl_graph *memo_graph; /* supports(): per value, whether it is known at plan time */
  signed char *memo;
} vk_dev;

static int gpu_create(cleave_ctx *ctx, void **out) {
  vk_dev *d = cl_calloc(ctx, 1, sizeof *d);
  if (!d) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory creating the gpu device");
  d->ctx = ctx;
  int rc = vr_create(ctx, &d->rt);
  if (rc) {
    cl_free(ctx, d);
    return rc;
  }
  *out = d;
  return 0;
}

static void gpu_destroy(void *p) {
  vk_dev *d = p;
  if (!d) return;
  vr_destroy(d->rt);
  cl_free(d->ctx, d->memo);
  cl_free(d->ctx, d);
}

static int gpu_supports(void *p, const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  vk_dev *d = p;
  if (d->memo_graph != g) {
    cl_free(d->ctx, d->memo);
    d->memo = cl_calloc(d->ctx, (size_t)g->n_values + 1, 1);
    d->memo_graph = d->memo ? g : NULL;
    if (!d->memo) {
      snprintf(why, why_len, "out of memory");
      return 0;
    }
  }
  return vl_supports(g, n, d->memo, why, why_len);
}

static void gpu_release(void *p) {
  vk_exe *e = p;
  if (!e) return;
  cleave_ctx *ctx = e->ctx;
  vk_rt *rt = e->rt;
  vp_reset(e);
  vr_cmd_free(rt, e->cb);
  if (e->qpool) rt->f.vkDestroyQueryPool(rt->dev, e->qpool, NULL);
  if (e->dpool) rt->f.vkDestroyDescriptorPool(rt->dev, e->dpool, NULL);
  vr_buf_free(rt, &e->weights);
  vr_buf_free(rt, &e->arena);
  vr_buf_free(rt, &e->pbuf);
  vr_buf_free(rt, &e->pstage);
  vr_buf_free(rt, &e->in_stage);
  vr_buf_free(rt, &e->out_stage);
  for (int k = 0; k < e->n_s; k++)
    cl_free(ctx, e->s[k].label);
  cl_free(ctx, e->s);
  cl_free(ctx, e->nodes);
  cl_free(ctx, e->inputs);
  cl_free(ctx, e->outputs);
  cl_free(ctx, e->producer);
  cl_free(ctx, e->host);
  cl_free(ctx, e->konst);
  cl_free(ctx, e->wdata);
  cl_free(ctx, e->key);
  cl_free(ctx, e->key_scratch);
  cl_free(ctx, e->value_key);
  cl_free(ctx, e->shape);
  cl_free(ctx, e->pk);
  cl_free(ctx, e->pk_owned);
  cl_free(ctx, e->v);
  cl_free(ctx, e->params);
  cl_free(ctx, e->in_off);
  cl_free(ctx, e->out_off);
  cl_free(ctx, e->ts_step);
  cl_free(ctx, e);
}

/* Uploads every constant a step reads as data. */
static int upload_constants(vk_exe *e) {
  const cl_graph *g = e->g;
  for (int k = 0; k < e->n_s; k++) {
    const vk_step *st = &e->s[k];
    int vals[80], n = 0;
    if (st->kind == VK_CONCAT) {
      const cl_node *nd = &g->nodes[st->node];
      for (int j = 0; j < nd->n_in && n < 64; j++)
        vals[n++] = nd->in[j];
    } else {
      vals[n++] = st->in;
      vals[n++] = st->in2;
    }
    for (int j = 0; j < st->n_eops; j++)
      if (st->eops[j].src == ES_TENSOR) vals[n++] = st->eops[j].v;
    for (int j = 0; j < n; j++)
      if (vals[j] >= 0 && g->values[vals[j]].konst && g->values[vals[j]].konst->dtype == CLEAVE_DTYPE_FLOAT32 &&
          vl_const(e, vals[j]) < 0)
        return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory for gpu weights");
  }
  int rc = vr_buf_new(e->rt, (VkDeviceSize)(e->n_w > 0 ? e->n_w : 1) * 4, VB_DEVICE, &e->weights);
  if (!rc && e->n_w) rc = vr_upload(e->rt, &e->weights, 0, e->wdata, sizeof(float) * (size_t)e->n_w);
  cl_free(e->ctx, e->wdata);
  e->wdata = NULL;
  e->cap_w = 0;
  return rc;
}

static int gpu_compile(void *p, const cl_segment *seg, void **out) {
  vk_dev *d = p;
  cleave_ctx *ctx = d->ctx;
  const cl_graph *g = seg->graph;
  vk_exe *e = cl_calloc(ctx, 1, sizeof *e);
  if (!e) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory compiling for the gpu device");
  e->ctx = ctx;
  e->rt = d->rt;
  e->g = g;
  e->n_nodes = seg->n_nodes;
  e->n_inputs = seg->n_inputs;
  e->n_outputs = seg->n_outputs;
  e->nodes = cl_dup_ints(ctx, seg->nodes, seg->n_nodes);
  e->inputs = cl_dup_ints(ctx, seg->inputs, seg->n_inputs);
  e->outputs = cl_dup_ints(ctx, seg->outputs, seg->n_outputs);
  size_t nv = (size_t)g->n_values + 1;
  e->producer = cl_malloc(ctx, sizeof(int) * nv);
  e->konst = cl_malloc(ctx, sizeof(int64_t) * nv);
  e->host = cl_calloc(ctx, (size_t)g->n_nodes + 1, sizeof(bool));
  e->key = cl_calloc(ctx, (size_t)vp_key_size(e), sizeof(int64_t));
  e->key_scratch = cl_calloc(ctx, (size_t)vp_key_size(e), sizeof(int64_t));
  e->value_key = cl_calloc(ctx, (size_t)seg->n_inputs + 1, sizeof(bool));
  e->shape = cl_calloc(ctx, nv, sizeof *e->shape);
  e->pk = cl_calloc(ctx, nv, sizeof *e->pk);
  e->pk_owned = cl_calloc(ctx, nv, sizeof *e->pk_owned);
  e->v = cl_calloc(ctx, nv, sizeof *e->v);
  e->in_off = cl_calloc(ctx, (size_t)seg->n_inputs + 1, sizeof(int64_t));
  e->out_off = cl_calloc(ctx, (size_t)seg->n_outputs + 1, sizeof(int64_t));
  int rc = 0;
  if (!e->nodes || !e->inputs || !e->outputs || !e->producer || !e->konst || !e->host || !e->key || !e->key_scratch ||
      !e->value_key || !e->shape || !e->pk || !e->pk_owned || !e->v || !e->in_off || !e->out_off) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory compiling for the gpu device");
    goto fail;
  }
  for (size_t i = 0; i < nv; i++) {
    e->producer[i] = -1;
    e->konst[i] = -1;
  }
  for (int i = 0; i < seg->n_inputs; i++) {
    int dt = g->values[seg->inputs[i]].dtype;
    e->value_key[i] = dt == CLEAVE_DTYPE_INT64 || dt == CLEAVE_DTYPE_INT32;
  }
  if ((rc = vl_lower(e, seg))) goto fail;
  if ((rc = upload_constants(e))) goto fail;
  if (!(e->ts_step = cl_calloc(ctx, (size_t)e->n_s + 2, sizeof(int)))) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory compiling for the gpu device");
    goto fail;
  }
  *out = e;
  return 0;
fail:
  gpu_release(e);
  return rc;
}

static void timings(vk_exe *e, cl_exec_io *io) {
  vk_rt *rt = e->rt;
  uint64_t ts[1024];
  int n = e->n_queries < 1024 ? e->n_queries : 1024;
  if (!rt->timestamps || !e->qpool || n < 2) return;
  if (rt->f.vkGetQueryPoolResults(rt->dev, e->qpool, 0, (uint32_t)n, sizeof ts, ts, sizeof(uint64_t),
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS)
    return;
  for (int q = 1; q < n && io->n_timings < 2 * e->n_nodes; q++) {
    const vk_step *st = &e->s[e->ts_step[q]];
    double ms = (double)((ts[q] - ts[q - 1]) & rt->ts_mask) * rt->ts_ns * 1e-6;
    io->timings[io->n_timings++] = (cl_exec_timing){.node = st->node, .label = st->label, .ms = ms};
  }
}

static int gpu_run(void *p, cl_exec_io *io) {
  vk_exe *e = p;
  cleave_ctx *ctx = e->ctx;
  int rc;
  if (!vp_same_key(e, io->inputs) && (rc = vp_plan(e, io->inputs))) return rc;
  for (int i = 0; i < e->n_inputs; i++) {
    size_t bytes = io->inputs[i].nbytes;
    if (e->in_off[i] >= 0 && bytes) memcpy((char *)e->in_stage.map + e->in_off[i], io->inputs[i].data, bytes);
  }
  if ((rc = vr_submit(e->rt, e->cb))) {
    vp_reset(e);
    return rc;
  }
  for (int i = 0; i < e->n_outputs; i++) {
    int v = e->outputs[i], r = vp_root(e, v);
    const cl_shape *s = &e->shape[v];
    int dt = e->g->values[v].dtype;
    if ((rc = cl_exec_output(ctx, io, i, dt, s->ndim, s->d))) return rc;
    size_t bytes = io->outputs[i].nbytes;
    if (!bytes) continue;
    if (e->out_off[i] >= 0)
      memcpy(io->outputs[i].data, (char *)e->out_stage.map + e->out_off[i], bytes);
    else if (e->pk[r].data && e->pk[r].nbytes == bytes)
      memcpy(io->outputs[i].data, e->pk[r].data, bytes);
    else
      return cl_err(ctx, CLEAVE_EBACKEND, "gpu device: output '%s' was not computed", e->g->values[v].name);
  }
  if (io->timings) timings(e, io);
  return 0;
}

const cl_device_iface cl_gpu_device = {
    .name = "gpu",
    .api = "vulkan",
    .kind = CL_DEV_GPU,
    .create = gpu_create,
    .destroy = gpu_destroy,
    .supports = gpu_supports,
    .compile = gpu_compile,
    .run = gpu_run,
    .release = gpu_release,
};
