/* core/ir: the public model object: load and metadata (printing, with costs, is core/model_print.c). */
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/ir/model.h"
#include "core/ir/onnx.h"

int cl_tensor_meta(cleave_ctx *ctx, const cl_graph *g, const int *ids, int n, cleave_tensor **out) {
  cleave_tensor *t = cl_calloc(ctx, (size_t)n + 1, sizeof *t);
  *out = t;
  if (!t) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    const cl_value *v = &g->values[ids[i]];
    t[i].name = v->name;
    t[i].dtype = (cleave_dtype)v->dtype;
    t[i].ndim = v->shape.ndim;
    for (int d = 0; d < v->shape.ndim && d < CL_MAX_DIMS; d++) {
      int64_t dim = v->shape.d[d];
      t[i].dims[d] = dim >= 0 ? dim : -1;
      t[i].dim_names[d] = CL_DIM_IS_SYM(dim) ? g->symbols[CL_DIM_SYM_ID(dim)] : NULL;
    }
  }
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
  if (!rc) rc = cl_tensor_meta(ctx, &m->graph, m->graph.inputs, m->graph.n_inputs, &m->inputs);
  if (!rc) rc = cl_tensor_meta(ctx, &m->graph, m->graph.outputs, m->graph.n_outputs, &m->outputs);
  /* a model's metadata gives rank 0 where even the rank is unknown */
  for (int i = 0; !rc && i < m->graph.n_inputs; i++)
    if (m->inputs[i].ndim < 0) m->inputs[i].ndim = 0;
  for (int i = 0; !rc && i < m->graph.n_outputs; i++)
    if (m->outputs[i].ndim < 0) m->outputs[i].ndim = 0;
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
