/* core: the public model object: load, metadata, printing. */
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/model.h"
#include "core/onnx.h"
#include "partitioner/cost.h"

static int fill_meta(cleave_model *m, const int *ids, int n, cleave_tensor **out) {
  const cl_graph *g = &m->graph;
  cleave_tensor *t = cl_calloc(m->ctx, (size_t)(n > 0 ? n : 1), sizeof *t);
  if (!t) return cl_err(m->ctx, CLEAVE_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    const cl_value *v = &g->values[ids[i]];
    t[i].name = v->name;
    t[i].dtype = (cleave_dtype)v->dtype;
    t[i].ndim = v->shape.ndim < 0 ? 0 : v->shape.ndim;
    for (int d = 0; d < t[i].ndim; d++) {
      int64_t dim = v->shape.d[d];
      t[i].dims[d] = dim >= 0 ? dim : -1;
      t[i].dim_names[d] = CL_DIM_IS_SYM(dim) ? g->symbols[CL_DIM_SYM_ID(dim)] : NULL;
    }
  }
  *out = t;
  return 0;
}

static int load(cleave_ctx *ctx, const void *data, size_t size, const char *base_dir, cleave_model **out) {
  cleave_model *m = cl_calloc(ctx, 1, sizeof *m);
  if (!m) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  m->ctx = ctx;
  cl_graph_init(&m->graph, ctx);
  unsigned char md[32];
  unsigned int md_len = 0;
  EVP_Digest(data, size, md, &md_len, EVP_sha256(), NULL);
  for (unsigned i = 0; i < 32; i++)
    snprintf(m->sha256 + 2 * i, 3, "%02x", md[i]);
  int rc = cl_onnx_load_graph(ctx, data, size, base_dir, &m->graph);
  if (!rc) rc = fill_meta(m, m->graph.inputs, m->graph.n_inputs, &m->inputs);
  if (!rc) rc = fill_meta(m, m->graph.outputs, m->graph.n_outputs, &m->outputs);
  if (rc) {
    cleave_model_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int cleave_model_load(cleave_ctx *ctx, const char *path, cleave_model **out) {
  if (!ctx || !path || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_model_load: NULL argument");
  *out = NULL;
  void *data;
  size_t size;
  int rc = cl_read_file(ctx, path, &data, &size);
  if (rc) return rc;
  char *dir = cl_strdup(ctx, path);
  if (!dir) {
    cl_free(ctx, data);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  rc = load(ctx, data, size, dirname(dir), out);
  cl_free(ctx, dir);
  if (!rc && !((*out)->path = cl_strdup(ctx, path))) {
    cleave_model_free(*out);
    *out = NULL;
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  cl_free(ctx, data);
  return rc;
}

int cleave_model_load_memory(cleave_ctx *ctx, const void *data, size_t size, const char *base_dir,
                             cleave_model **out) {
  if (!ctx || !data || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_model_load_memory: NULL argument");
  *out = NULL;
  return load(ctx, data, size, base_dir, out);
}

void cleave_model_free(cleave_model *m) {
  if (!m) return;
  cleave_ctx *ctx = m->ctx;
  cl_free(ctx, m->inputs);
  cl_free(ctx, m->outputs);
  cl_free(ctx, m->path);
  cl_graph_free(&m->graph);
  cl_free(ctx, m);
}

const char *cleave_model_sha256(const cleave_model *m) { return m ? m->sha256 : NULL; }

int cleave_model_num_inputs(const cleave_model *m) { return m ? m->graph.n_inputs : 0; }
int cleave_model_num_outputs(const cleave_model *m) { return m ? m->graph.n_outputs : 0; }
int cleave_model_num_nodes(const cleave_model *m) { return m ? m->graph.n_nodes : 0; }

const cleave_tensor *cleave_model_input(const cleave_model *m, int i) {
  return m && i >= 0 && i < m->graph.n_inputs ? &m->inputs[i] : NULL;
}

const cleave_tensor *cleave_model_output(const cleave_model *m, int i) {
  return m && i >= 0 && i < m->graph.n_outputs ? &m->outputs[i] : NULL;
}

static void print_values(FILE *f, const cl_graph *g, const int *ids, int n) {
  char buf[160];
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0) {
      fprintf(f, "%s-", i ? ", " : "");
      continue;
    }
    const cl_value *v = &g->values[ids[i]];
    fprintf(f, "%s%s:%s%s%s", i ? ", " : "", v->name, cleave_dtype_name((cleave_dtype)v->dtype),
            cl_shape_str(&v->shape, buf, sizeof buf, g->symbols), v->konst ? "(const)" : "");
  }
}

int cleave_model_print(const cleave_model *m, FILE *f) {
  if (!m || !f) return CLEAVE_EINVAL;
  const cl_graph *g = &m->graph;
  double total_flops = 0, total_bytes = 0;
  int64_t weight_bytes = 0;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].konst) weight_bytes += (int64_t)g->values[v].konst->nbytes;
  fprintf(f, "graph: opset %d, %d inputs, %d outputs, %d nodes, %.2f MB of constants\n", g->opset, g->n_inputs,
          g->n_outputs, g->n_nodes, (double)weight_bytes / 1e6);
  fprintf(f, "inputs:  ");
  print_values(f, g, g->inputs, g->n_inputs);
  fprintf(f, "\noutputs: ");
  print_values(f, g, g->outputs, g->n_outputs);
  fprintf(f, "\n%5s  %-18s %-28s %12s %12s  %s\n", "#", "op", "name", "MFLOPs", "KB moved", "inputs -> outputs");
  for (int i = 0; i < g->n_nodes; i++) {
    const cl_node *n = &g->nodes[i];
    cl_node_cost c;
    cl_cost_node(g, n, &c);
    if (c.known) {
      total_flops += c.flops;
      total_bytes += c.bytes;
      fprintf(f, "%5d  %-18s %-28s %12.3f %12.1f  ", i, n->op, n->name, c.flops / 1e6, c.bytes / 1024);
    } else {
      fprintf(f, "%5d  %-18s %-28s %12s %12s  ", i, n->op, n->name, "?", "?");
    }
    print_values(f, g, n->in, n->n_in);
    fprintf(f, " -> ");
    print_values(f, g, n->out, n->n_out);
    fputc('\n', f);
  }
  fprintf(f, "total: %.3f GFLOPs, %.1f MB moved\n", total_flops / 1e9, total_bytes / 1e6);
  return ferror(f) ? CLEAVE_EIO : 0;
}
