/* local/vulkan: planning for one set of input shapes: shapes, host values, the arena, the kernels' parameters and
 * one command buffer that runs the whole segment. A run with the same input shapes reuses all of it. */
#include <stdlib.h>
#include <string.h>

#include "core/ir/ops.h"
#include "local/ref/ref.h"
#include "local/vulkan/vk.h"

/* Small integer inputs (shapes, axes handed in at run time) are part of the plan's key. */
#define KEY_VALUES_MAX 64

static bool by_value(const vk_exe *e, int i) { return e->value_key && e->value_key[i]; }

static int key_of(const vk_exe *e, const cl_tensor *in, int64_t *key) {
  int n = 0;
  for (int i = 0; i < e->n_inputs; i++) {
    key[n++] = in[i].ndim;
    for (int d = 0; d < in[i].ndim; d++)
      key[n++] = in[i].dims[d];
    if (by_value(e, i) && in[i].nbytes <= 8 * KEY_VALUES_MAX) {
      int64_t words[KEY_VALUES_MAX] = {0};
      if (in[i].nbytes) memcpy(words, in[i].data, in[i].nbytes);
      for (size_t k = 0; k < (in[i].nbytes + 7) / 8; k++)
        key[n++] = words[k];
    }
  }
  return n;
}

int vp_key_size(const vk_exe *e) { return e->n_inputs * (1 + CL_MAX_DIMS + KEY_VALUES_MAX) + 1; }

bool vp_same_key(vk_exe *e, const cl_tensor *in) {
  int n = key_of(e, in, e->key_scratch);
  return e->planned && n == e->n_key && !memcmp(e->key_scratch, e->key, sizeof(int64_t) * (size_t)n);
}

void vp_reset(vk_exe *e) {
  const cl_graph *g = e->g;
  for (int v = 0; e->pk && v < g->n_values; v++)
    if (e->pk_owned[v]) {
      cl_tensor_release(e->ctx, &e->pk[v]);
      e->pk_owned[v] = false;
    }
  for (int k = 0; k < e->n_s; k++) {
    cl_free(e->ctx, e->s[k].disp);
    e->s[k].disp = NULL;
    e->s[k].n_disp = 0;
    e->s[k].skip = false;
  }
  e->planned = false;
}

/* ---- shapes and host values ---- */

static int infer_all(vk_exe *e, const cl_tensor *inputs) {
  cleave_ctx *ctx = e->ctx;
  const cl_graph *g = e->g;
  for (int v = 0; v < g->n_values; v++) {
    e->shape[v].ndim = -1;
    e->pk[v] = (cl_tensor){0};
    e->v[v] = (vk_val){.off = -1, .alias = -1, .first = -1, .last = -1, .params_off = -1};
    if (g->values[v].konst) {
      cl_shape_from_tensor(&e->shape[v], g->values[v].konst);
      e->pk[v] = *g->values[v].konst;
    }
  }
  for (int i = 0; i < e->n_inputs; i++) {
    int v = e->inputs[i];
    cl_shape_from_tensor(&e->shape[v], &inputs[i]);
    if (!by_value(e, i)) continue;
    if (cl_tensor_numel(&inputs[i]) > KEY_VALUES_MAX)
      return cl_err(ctx, CLEAVE_EUNSUPPORTED, "gpu device: integer input '%s' has more than %d elements",
                    g->values[v].name, KEY_VALUES_MAX);
    cl_tensor t = inputs[i];
    t.data = NULL;
    if (cl_tensor_alloc(ctx, &t)) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory planning");
    if (t.nbytes) memcpy(t.data, inputs[i].data, t.nbytes);
    e->pk[v] = t;
    e->pk_owned[v] = true;
    e->v[v].host = true;
  }
  cl_infer_ctx ic = {.ctx = ctx, .opset = g->opset};
  static char dummy[64];
  for (int k = 0; k < e->n_nodes; k++) {
    const cl_node *n = &g->nodes[e->nodes[k]];
    cl_ival iv[64];
    cl_oval ov[4];
    const cl_tensor *tin[64];
    cl_tensor shape_only[64];
    bool host = e->host[e->nodes[k]];
    for (int j = 0; j < n->n_in; j++) {
      int v = n->in[j];
      iv[j] = (cl_ival){.present = v >= 0};
      tin[j] = NULL;
      if (v < 0) continue;
      iv[j].dtype = g->values[v].dtype;
      iv[j].shape = e->shape[v];
      if (e->pk[v].data || e->v[v].host) {
        iv[j].value = &e->pk[v];
        tin[j] = &e->pk[v];
      } else if (host) {
        /* Shape and Size read only the dims */
        shape_only[j] = (cl_tensor){.dtype = g->values[v].dtype, .ndim = e->shape[v].ndim, .data = dummy};
        memcpy(shape_only[j].dims, e->shape[v].d, sizeof(int64_t) * (size_t)e->shape[v].ndim);
        tin[j] = &shape_only[j];
      }
    }
    int rc = cl_op_infer(&ic, n, iv, n->n_in, ov, n->n_out);
    if (rc) return rc;
    for (int j = 0; j < n->n_out; j++) {
      if (!cl_shape_is_static(&ov[j].shape)) {
        char buf[160];
        return cl_node_err(ctx, n, CLEAVE_EUNSUPPORTED,
                           "output %d has shape %s, which depends on data computed during the run; the gpu device "
                           "needs every shape to follow from the input shapes",
                           j, cl_shape_str(&ov[j].shape, buf, sizeof buf, g->symbols));
      }
      if (n->out[j] >= 0) e->shape[n->out[j]] = ov[j].shape;
    }
    if (!host) continue;
    cl_tensor outs[4];
    if ((rc = cl_ref_eval(ctx, g->opset, n, tin, n->n_in, outs, n->n_out))) return rc;
    for (int j = 0; j < n->n_out; j++) {
      if (n->out[j] < 0) {
        cl_tensor_release(ctx, &outs[j]);
        continue;
      }
      e->pk[n->out[j]] = outs[j];
      e->pk_owned[n->out[j]] = true;
      e->v[n->out[j]].host = true;
    }
  }
  return 0;
}

/* ---- memory ---- */

int vp_root(const vk_exe *e, int v) {
  while (e->v[v].alias >= 0)
    v = e->v[v].alias;
  return v;
}

static int64_t numel_of(const vk_exe *e, int v) { return cl_shape_numel(&e->shape[v]); }

/* Calls fn for every graph value step st reads. */
static void step_reads(const vk_exe *e, const vk_step *st, void (*fn)(vk_exe *, int, int), vk_exe *me, int k) {
  if (st->kind == VK_CONCAT) {
    const cl_node *n = &e->g->nodes[st->node];
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) fn(me, n->in[j], k);
  } else {
    if (st->in >= 0) fn(me, st->in, k);
    if (st->in2 >= 0) fn(me, st->in2, k);
  }
  for (int j = 0; j < st->n_eops; j++)
    if (st->eops[j].src == ES_TENSOR && st->eops[j].v >= 0) fn(me, st->eops[j].v, k);
}

static void mark_read(vk_exe *e, int v, int k) {
  v = vp_root(e, v);
  if (e->v[v].last < k) e->v[v].last = k;
}

typedef struct item {
  int v;
  int64_t size;
} item;

static int cmp_item(const void *a, const void *b) {
  const item *x = a, *y = b;
  return x->size < y->size ? 1 : x->size > y->size ? -1 : x->v - y->v;
}

static bool live_overlap(const vk_val *a, const vk_val *b) { return a->first <= b->last && b->first <= a->last; }

/* Places every arena value at the lowest offset that no value alive at the same time uses. Returns the arena size
 * in elements, or -1 when out of memory. */
static int64_t layout(vk_exe *e) {
  const cl_graph *g = e->g;
  item *items = cl_malloc(e->ctx, sizeof *items * (size_t)(g->n_values + 1));
  int64_t *cand = cl_malloc(e->ctx, sizeof *cand * (size_t)(g->n_values + 2));
  if (!items || !cand) {
    cl_free(e->ctx, items);
    cl_free(e->ctx, cand);
    return -1;
  }
  int n = 0;
  for (int v = 0; v < g->n_values; v++)
    if (e->v[v].in_arena) items[n++] = (item){v, (numel_of(e, v) + 15) & ~(int64_t)15};
  qsort(items, (size_t)n, sizeof *items, cmp_item);
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    vk_val *a = &e->v[items[i].v];
    int nc = 0;
    cand[nc++] = 0;
    for (int j = 0; j < i; j++)
      if (live_overlap(a, &e->v[items[j].v])) cand[nc++] = e->v[items[j].v].off + items[j].size;
    int64_t best = -1;
    for (int c = 0; c < nc; c++) {
      int64_t lo = cand[c], hi = lo + items[i].size;
      bool ok = best < 0 || lo < best;
      for (int j = 0; j < i && ok; j++) {
        const vk_val *b = &e->v[items[j].v];
        if (live_overlap(a, b) && lo < b->off + items[j].size && b->off < hi) ok = false;
      }
      if (ok) best = lo;
    }
    a->off = best;
    if (best + items[i].size > total) total = best + items[i].size;
  }
  cl_free(e->ctx, items);
  cl_free(e->ctx, cand);
  return total;
}

static int plan_memory(vk_exe *e, int64_t *arena_elems) {
  const cl_graph *g = e->g;
  for (int k = 0; k < e->n_s; k++) {
    vk_step *st = &e->s[k];
    if (st->kind == VK_ALIAS) {
      e->v[st->out].alias = st->in;
      continue;
    }
    vk_val *o = &e->v[st->out];
    o->in_arena = true;
    o->first = k;
    o->last = k;
  }
  for (int i = 0; i < e->n_inputs; i++) {
    vk_val *v = &e->v[e->inputs[i]];
    if (v->host) continue;
    v->in_arena = true;
    v->first = -1;
    v->last = -1;
  }
  for (int k = 0; k < e->n_s; k++)
    step_reads(e, &e->s[k], mark_read, e, k);
  for (int i = 0; i < e->n_outputs; i++)
    mark_read(e, e->outputs[i], e->n_s);
  for (int v = 0; v < g->n_values; v++)
    if (e->v[v].in_arena && e->v[v].last < e->v[v].first) e->v[v].last = e->v[v].first;
  int64_t total = layout(e);
  if (total < 0) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory planning the gpu arena");
  if (total > INT32_MAX)
    return cl_err(e->ctx, CLEAVE_ELIMIT, "gpu device: %lld activation elements exceed 2^31", (long long)total);
  *arena_elems = total;
  return 0;
}

/* ---- parameters ---- */

int64_t vq_push(vk_exe *e, const int32_t *words, int64_t n) {
  int64_t off = e->n_params, need = off + n;
  if (need > e->cap_params) {
    int64_t cap = e->cap_params ? e->cap_params * 2 : 4096;
    while (cap < need)
      cap *= 2;
    int32_t *p = cl_realloc(e->ctx, e->params, sizeof(int32_t) * (size_t)cap);
    if (!p) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory planning gpu parameters");
    e->params = p;
    e->cap_params = cap;
  }
  if (words) memcpy(e->params + off, words, sizeof(int32_t) * (size_t)n);
  e->n_params = need;
  return off;
}

/* ---- buffers and the command buffer ---- */

static int ensure(vk_exe *e, vk_buf *b, VkDeviceSize size, int kind) {
  if (b->buf && b->size >= size) return 0;
  vr_buf_free(e->rt, b);
  return vr_buf_new(e->rt, size + size / 4, kind, b);
}

static int descriptors(vk_exe *e) {
  vk_rt *rt = e->rt;
  VkResult r;
  if (!e->dpool) {
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 3};
    VkDescriptorPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1, .poolSizeCount = 1, .pPoolSizes = &ps};
    if ((r = rt->f.vkCreateDescriptorPool(rt->dev, &pi, NULL, &e->dpool)))
      return vr_check(rt, r, "vkCreateDescriptorPool");
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = e->dpool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &rt->dsl};
    if ((r = rt->f.vkAllocateDescriptorSets(rt->dev, &ai, &e->dset)))
      return vr_check(rt, r, "vkAllocateDescriptorSets");
  }
  VkDescriptorBufferInfo bi[3] = {
      {e->arena.buf, 0, VK_WHOLE_SIZE}, {e->weights.buf, 0, VK_WHOLE_SIZE}, {e->pbuf.buf, 0, VK_WHOLE_SIZE}};
  VkWriteDescriptorSet w[3];
  for (int i = 0; i < 3; i++)
    w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                  .dstSet = e->dset,
                                  .dstBinding = (uint32_t)i,
                                  .descriptorCount = 1,
                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                  .pBufferInfo = &bi[i]};
  rt->f.vkUpdateDescriptorSets(rt->dev, 3, w, 0, NULL);
  return 0;
}

static void barrier(vk_exe *e, VkPipelineStageFlags src, VkAccessFlags sa, VkPipelineStageFlags dst,
                    VkAccessFlags da) {
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = sa, .dstAccessMask = da};
  e->rt->f.vkCmdPipelineBarrier(e->cb, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

typedef struct span {
  int64_t lo, hi;
} span;

static bool hits(const span *list, int n, span s) {
  for (int i = 0; i < n; i++)
    if (s.lo < list[i].hi && list[i].lo < s.hi) return true;
  return false;
}

static span arena_span(const vk_exe *e, int v) {
  int r = vp_root(e, v);
  if (!e->v[r].in_arena) return (span){0, 0};
  return (span){e->v[r].off, e->v[r].off + numel_of(e, r)};
}

static int record(vk_exe *e) {
  vk_rt *rt = e->rt;
  const vk_fns *f = &rt->f;
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  int rc = vr_check(rt, f->vkBeginCommandBuffer(e->cb, &bi), "vkBeginCommandBuffer");
  if (rc) return rc;
  VkBufferCopy pc = {0, 0, (VkDeviceSize)e->n_params * 4};
  if (e->n_params) f->vkCmdCopyBuffer(e->cb, e->pstage.buf, e->pbuf.buf, 1, &pc);
  for (int i = 0; i < e->n_inputs; i++) {
    int v = e->inputs[i];
    int64_t bytes = numel_of(e, v) * 4;
    if (e->in_off[i] < 0 || !bytes) continue;
    VkBufferCopy c = {(VkDeviceSize)e->in_off[i], (VkDeviceSize)e->v[v].off * 4, (VkDeviceSize)bytes};
    f->vkCmdCopyBuffer(e->cb, e->in_stage.buf, e->arena.buf, 1, &c);
  }
  barrier(e, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  f->vkCmdBindDescriptorSets(e->cb, VK_PIPELINE_BIND_POINT_COMPUTE, rt->layout, 0, 1, &e->dset, 0, NULL);
  bool ts = rt->timestamps && e->qpool;
  if (ts) {
    f->vkCmdResetQueryPool(e->cb, e->qpool, 0, (uint32_t)e->n_s + 1);
    f->vkCmdWriteTimestamp(e->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, e->qpool, 0);
  }
  e->n_queries = 1;
  /* barriers only where a kernel reads, or overwrites, what an earlier one since the last barrier touched */
  span *written = cl_malloc(e->ctx, sizeof(span) * (size_t)(2 * e->n_s + 2));
  span *read = cl_malloc(e->ctx, sizeof(span) * (size_t)(8 * e->n_s + 8));
  if (!written || !read) {
    cl_free(e->ctx, written);
    cl_free(e->ctx, read);
    return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory recording the gpu commands");
  }
  int nw = 0, nr = 0;
  for (int k = 0; k < e->n_s; k++) {
    vk_step *st = &e->s[k];
    if (st->skip || !st->n_disp) continue;
    span ins[72];
    int ni = 0;
    if (st->kind == VK_CONCAT) {
      const cl_node *n = &e->g->nodes[st->node];
      for (int j = 0; j < n->n_in && ni < 64; j++)
        if (n->in[j] >= 0) ins[ni++] = arena_span(e, n->in[j]);
    } else {
      if (st->in >= 0) ins[ni++] = arena_span(e, st->in);
      if (st->in2 >= 0) ins[ni++] = arena_span(e, st->in2);
    }
    for (int j = 0; j < st->n_eops; j++)
      if (st->eops[j].src == ES_TENSOR && st->eops[j].v >= 0) ins[ni++] = arena_span(e, st->eops[j].v);
    span out = arena_span(e, st->out);
    bool need = hits(written, nw, out) || hits(read, nr, out);
    for (int j = 0; j < ni && !need; j++)
      need = hits(written, nw, ins[j]);
    if (need || nr + ni > 8 * e->n_s) {
      barrier(e, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
              VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
      nw = nr = 0;
    }
    for (int d = 0; d < st->n_disp; d++) {
      const vk_dispatch *dp = &st->disp[d];
      if (d > 0 && st->kind != VK_CONCAT)
        barrier(e, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
      f->vkCmdBindPipeline(e->cb, VK_PIPELINE_BIND_POINT_COMPUTE, dp->pipe);
      f->vkCmdPushConstants(e->cb, rt->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &dp->param);
      f->vkCmdDispatch(e->cb, dp->groups[0], dp->groups[1], dp->groups[2]);
    }
    written[nw++] = out;
    for (int j = 0; j < ni; j++)
      read[nr++] = ins[j];
    if (ts) {
      f->vkCmdWriteTimestamp(e->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, e->qpool, (uint32_t)e->n_queries);
      e->ts_step[e->n_queries++] = k;
    }
  }
  cl_free(e->ctx, written);
  cl_free(e->ctx, read);
  barrier(e, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_TRANSFER_READ_BIT);
  for (int i = 0; i < e->n_outputs; i++) {
    int v = vp_root(e, e->outputs[i]);
    int64_t bytes = numel_of(e, e->outputs[i]) * 4;
    if (e->out_off[i] < 0 || !bytes) continue;
    VkBufferCopy c = {(VkDeviceSize)e->v[v].off * 4, (VkDeviceSize)e->out_off[i], (VkDeviceSize)bytes};
    f->vkCmdCopyBuffer(e->cb, e->arena.buf, e->out_stage.buf, 1, &c);
  }
  barrier(e, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
          VK_ACCESS_HOST_READ_BIT);
  return vr_check(rt, f->vkEndCommandBuffer(e->cb), "vkEndCommandBuffer");
}

static int buffers(vk_exe *e, int64_t arena_elems) {
  vk_rt *rt = e->rt;
  int64_t in_bytes = 0, out_bytes = 0;
  for (int i = 0; i < e->n_inputs; i++) {
    int v = e->inputs[i];
    e->in_off[i] = -1;
    if (!e->v[v].in_arena) continue;
    e->in_off[i] = in_bytes;
    in_bytes += (numel_of(e, v) * 4 + 63) & ~(int64_t)63;
  }
  for (int i = 0; i < e->n_outputs; i++) {
    int v = vp_root(e, e->outputs[i]);
    e->out_off[i] = -1;
    if (!e->v[v].in_arena) continue;
    if (e->g->values[e->outputs[i]].dtype != CLEAVE_DTYPE_FLOAT32)
      return cl_err(e->ctx, CLEAVE_EUNSUPPORTED, "gpu device: output '%s' is not float32",
                    e->g->values[e->outputs[i]].name);
    e->out_off[i] = out_bytes;
    out_bytes += (numel_of(e, e->outputs[i]) * 4 + 63) & ~(int64_t)63;
  }
  int rc = ensure(e, &e->arena, (VkDeviceSize)arena_elems * 4, VB_DEVICE);
  if (!rc) rc = ensure(e, &e->pbuf, (VkDeviceSize)e->n_params * 4, VB_DEVICE);
  if (!rc) rc = ensure(e, &e->pstage, (VkDeviceSize)e->n_params * 4, VB_UPLOAD);
  if (!rc) rc = ensure(e, &e->in_stage, (VkDeviceSize)in_bytes, VB_UPLOAD);
  if (!rc) rc = ensure(e, &e->out_stage, (VkDeviceSize)out_bytes, VB_DOWNLOAD);
  if (rc) return rc;
  if (e->n_params) memcpy(e->pstage.map, e->params, sizeof(int32_t) * (size_t)e->n_params);
  if (!e->cb && (rc = vr_cmd_new(rt, &e->cb))) return rc;
  if (rt->timestamps && !e->qpool) {
    VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                .queryCount = (uint32_t)e->n_s + 1};
    VkResult r = rt->f.vkCreateQueryPool(rt->dev, &qi, NULL, &e->qpool);
    if (r) return vr_check(rt, r, "vkCreateQueryPool");
  }
  return descriptors(e);
}

int vp_plan(vk_exe *e, const cl_tensor *inputs) {
  vp_reset(e);
  e->n_key = key_of(e, inputs, e->key);
  e->n_params = 0;
  int rc = infer_all(e, inputs);
  int64_t arena = 0;
  if (!rc) rc = plan_memory(e, &arena);
  for (int k = 0; k < e->n_s && !rc; k++)
    if (e->s[k].kind != VK_ALIAS) rc = vq_step(e, &e->s[k]);
  if (!rc) rc = buffers(e, arena);
  if (!rc) rc = record(e);
  if (rc) {
    vp_reset(e);
    return rc;
  }
  e->planned = true;
  return 0;
}
