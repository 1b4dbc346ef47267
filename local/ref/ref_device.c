/* local/ref: the reference device. Runs a segment node by node with the reference kernels, sizing every output
 * with the schema's infer at run time and freeing each intermediate after its last reader. */
#include <string.h>

#include "local/device.h"
#include "local/ref/ref.h"

typedef struct ref_exe {
  cleave_ctx *ctx;
  const cl_graph *g;
  int *nodes;
  int n_nodes;
  int *inputs, n_inputs;
  int *outputs, n_outputs;
  int *last_use; /* per value: position in nodes[] of its last reader, -1 if none */
  bool *keep;    /* per value: a segment output, never freed during the run */
} ref_exe;

static int ref_create(cleave_ctx *ctx, void **dev) {
  *dev = ctx;
  return 0;
}

static void ref_destroy(void *dev) { (void)dev; }

static int ref_supports(void *dev, const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  (void)dev;
  return cl_ref_supports(g, n, why, why_len);
}

static void ref_release(void *p) {
  ref_exe *e = p;
  if (!e) return;
  cleave_ctx *ctx = e->ctx;
  cl_free(ctx, e->nodes);
  cl_free(ctx, e->inputs);
  cl_free(ctx, e->outputs);
  cl_free(ctx, e->last_use);
  cl_free(ctx, e->keep);
  cl_free(ctx, e);
}

static int ref_compile(void *dev, const cl_segment *seg, void **out) {
  cleave_ctx *ctx = dev;
  const cl_graph *g = seg->graph;
  ref_exe *e = cl_calloc(ctx, 1, sizeof *e);
  if (!e) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory compiling segment");
  e->ctx = ctx;
  e->g = g;
  e->n_nodes = seg->n_nodes;
  e->n_inputs = seg->n_inputs;
  e->n_outputs = seg->n_outputs;
  e->nodes = cl_dup_ints(ctx, seg->nodes, seg->n_nodes);
  e->inputs = cl_dup_ints(ctx, seg->inputs, seg->n_inputs);
  e->outputs = cl_dup_ints(ctx, seg->outputs, seg->n_outputs);
  e->last_use = cl_malloc(ctx, sizeof(int) * (size_t)g->n_values);
  e->keep = cl_calloc(ctx, (size_t)g->n_values, sizeof(bool));
  if (!e->nodes || !e->inputs || !e->outputs || !e->last_use || !e->keep) {
    ref_release(e);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory compiling segment");
  }
  for (int v = 0; v < g->n_values; v++) e->last_use[v] = -1;
  /* the caller placed only nodes that supports() accepted; a kernel still refuses anything it cannot run */
  for (int k = 0; k < seg->n_nodes; k++) {
    const cl_node *n = &g->nodes[seg->nodes[k]];
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) e->last_use[n->in[j]] = k;
  }
  for (int i = 0; i < seg->n_outputs; i++) e->keep[seg->outputs[i]] = true;
  *out = e;
  return 0;
}

static int copy_tensor(cleave_ctx *ctx, const cl_tensor *src, cl_tensor *dst) {
  *dst = *src;
  dst->data = NULL;
  int rc = cl_tensor_alloc(ctx, dst);
  if (!rc && src->nbytes) memcpy(dst->data, src->data, src->nbytes);
  return rc;
}

static int ref_run(void *p, cl_exec_io *io) {
  ref_exe *e = p;
  cleave_ctx *ctx = e->ctx;
  const cl_graph *g = e->g;
  int rc = 0;
  /* slot[v]: where value v's tensor is now; owned[v]: whether this run allocated it */
  const cl_tensor **slot = cl_calloc(ctx, (size_t)g->n_values, sizeof *slot);
  cl_tensor *owned = cl_calloc(ctx, (size_t)g->n_values, sizeof *owned);
  if (!slot || !owned) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory running segment");
    goto out;
  }
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].konst) slot[v] = g->values[v].konst;
  for (int i = 0; i < e->n_inputs; i++) slot[e->inputs[i]] = &io->inputs[i];
  for (int k = 0; k < e->n_nodes; k++) {
    const cl_node *n = &g->nodes[e->nodes[k]];
    const cl_tensor *in[n->n_in > 0 ? n->n_in : 1];
    cl_tensor out[n->n_out > 0 ? n->n_out : 1];
    for (int j = 0; j < n->n_in; j++) {
      in[j] = n->in[j] >= 0 ? slot[n->in[j]] : NULL;
      if (n->in[j] >= 0 && !in[j]) {
        rc = cl_node_err(ctx, n, CLEAVE_EMODEL, "input '%s' was not computed", g->values[n->in[j]].name);
        goto out;
      }
    }
    double t0 = io->timings ? cl_now_ms() : 0;
    if ((rc = cl_ref_eval(ctx, g->opset, n, in, n->n_in, out, n->n_out))) goto out;
    if (io->timings) io->timings[io->n_timings++] = (cl_exec_timing){.node = e->nodes[k], .ms = cl_now_ms() - t0};
    for (int j = 0; j < n->n_out; j++) {
      int v = n->out[j];
      if (v < 0) {
        cl_tensor_release(ctx, &out[j]);
        continue;
      }
      owned[v] = out[j];
      slot[v] = &owned[v];
    }
    /* free what no later node reads */
    for (int j = 0; j < n->n_in; j++) {
      int v = n->in[j];
      if (v >= 0 && e->last_use[v] == k && owned[v].data && !e->keep[v]) {
        cl_tensor_release(ctx, &owned[v]);
        slot[v] = NULL;
      }
    }
  }
  for (int i = 0; i < e->n_outputs; i++) {
    int v = e->outputs[i];
    if (!slot[v]) {
      rc = cl_err(ctx, CLEAVE_EMODEL, "output '%s' was not computed", g->values[v].name);
      goto out;
    }
    cl_tensor_release(ctx, &io->outputs[i]); /* this executor allocates anyway: hand over a fresh buffer */
    if (slot[v] == &owned[v] && owned[v].data) {
      io->outputs[i] = owned[v];
      owned[v].data = NULL;
      slot[v] = &io->outputs[i];
    } else if ((rc = copy_tensor(ctx, slot[v], &io->outputs[i]))) {
      goto out;
    }
    io->out_cap[i] = io->outputs[i].nbytes;
  }
out:
  if (owned)
    for (int v = 0; v < g->n_values; v++) cl_tensor_release(ctx, &owned[v]);
  cl_free(ctx, slot);
  cl_free(ctx, owned);
  return rc;
}

const cl_device_iface cl_ref_device = {
    .name = "ref",
    .kind = CL_DEV_CPU,
    .create = ref_create,
    .destroy = ref_destroy,
    .supports = ref_supports,
    .compile = ref_compile,
    .run = ref_run,
    .release = ref_release,
};
