/* local: programs: a cut of a model compiled for one device, input validation and runs into results. */
#include "local/program.h"

#include <stdio.h>
#include <string.h>

#include "core/ir/cut.h"

int cl_program_ids(cleave_ctx *ctx, const cl_graph *g, const char *const *names, int n, bool in, int **ids,
                   int *n_ids) {
  const int *model_ids = in ? g->inputs : g->outputs;
  int count = n ? n : (in ? g->n_inputs : g->n_outputs);
  *ids = NULL;
  *n_ids = 0;
  if (n < 0 || n > CL_PROGRAM_MAX_NAMES)
    return cl_err(ctx, CLEAVE_EINVAL, "%d tensors named as %s (at most %d)", n, in ? "inputs" : "outputs",
                  CL_PROGRAM_MAX_NAMES);
  int *v = cl_malloc(ctx, sizeof(int) * ((size_t)count + 1));
  if (!v) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  for (int i = 0; i < count; i++) {
    if (!n) {
      v[i] = model_ids[i];
      continue;
    }
    v[i] = names[i] ? cl_graph_find_value(g, names[i]) : -1;
    if (v[i] < 0) {
      cl_free(ctx, v);
      return cl_err(ctx, CLEAVE_ENOTFOUND, "the model has no tensor named '%s' (named as %s)",
                    names[i] ? names[i] : "(null)", in ? "an input" : "an output");
    }
    for (int k = 0; k < i; k++)
      if (v[k] == v[i]) {
        cl_free(ctx, v);
        return cl_err(ctx, CLEAVE_EINVAL, "tensor '%s' is named twice", names[i]);
      }
  }
  *ids = v;
  *n_ids = count;
  return 0;
}

void cl_program_free(cl_program *p) {
  if (!p) return;
  cleave_ctx *ctx = p->ctx;
  if (p->exe) p->dev->release(p->exe);
  if (p->own_state && p->dev_state) p->dev->destroy(p->dev_state);
  cl_free(ctx, p->nodes);
  cl_free(ctx, p->in_ids);
  cl_free(ctx, p->out_ids);
  cl_free(ctx, p->out_names);
  cl_free(ctx, p->in_meta);
  cl_free(ctx, p->out_meta);
  cl_free(ctx, p->sym_fixed);
  cl_free(ctx, p->in);
  cl_free(ctx, p->given);
  cl_free(ctx, p->sym_seen);
  cl_free(ctx, p->timings);
  pthread_mutex_destroy(&p->mu);
  cl_free(ctx, p);
}

/* The spec's ids of one side, or the ids of its names, or the model's own. */
static int side_ids(cleave_ctx *ctx, const cl_graph *g, const int *ids, const char *const *names, int n, bool in,
                    int **dst, int *n_dst) {
  if (ids || !n) {
    if (!n) {
      ids = in ? g->inputs : g->outputs;
      n = in ? g->n_inputs : g->n_outputs;
    }
    if (!(*dst = cl_dup_ints(ctx, ids, n))) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    *n_dst = n;
    return 0;
  }
  return cl_program_ids(ctx, g, names, n, in, dst, n_dst);
}

int cl_program_new(cleave_ctx *ctx, const cleave_model *model, const cl_program_spec *spec, cl_program **out) {
  *out = NULL;
  const cl_graph *g = &model->graph;
  cl_program *p = cl_calloc(ctx, 1, sizeof *p);
  if (!p) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  if (pthread_mutex_init(&p->mu, NULL)) {
    cl_free(ctx, p);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  p->ctx = ctx;
  p->model = model;
  p->profiling = spec->profiling;
  p->nodes = cl_malloc(ctx, sizeof(int) * (size_t)(g->n_nodes + 1));
  p->sym_fixed = cl_malloc(ctx, sizeof(int64_t) * (size_t)(g->n_symbols + 1));
  p->sym_seen = cl_malloc(ctx, sizeof(int64_t) * (size_t)(g->n_symbols + 1));
  p->timings = p->profiling ? cl_calloc(ctx, 2 * (size_t)g->n_nodes + 1, sizeof *p->timings) : NULL;
  int rc;
  if (!p->nodes || !p->sym_fixed || !p->sym_seen || (p->profiling && !p->timings)) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto fail;
  }
  for (int i = 0; i < g->n_symbols; i++)
    p->sym_fixed[i] = -1;
  for (int i = 0; i < spec->n_dims; i++) {
    int id = -1;
    for (int k = 0; k < g->n_symbols; k++)
      if (strcmp(g->symbols[k], spec->dim_names[i]) == 0) id = k;
    if (id < 0) {
      rc = cl_err(ctx, CLEAVE_ENOTFOUND, "the model has no symbolic dimension named '%s'", spec->dim_names[i]);
      goto fail;
    }
    p->sym_fixed[id] = spec->dim_values[i];
  }
  if ((rc = side_ids(ctx, g, spec->inputs, spec->input_names, spec->n_inputs, true, &p->in_ids, &p->n_in)) ||
      (rc = side_ids(ctx, g, spec->outputs, spec->output_names, spec->n_outputs, false, &p->out_ids, &p->n_out)) ||
      (rc = cl_graph_cut(ctx, g, p->in_ids, p->n_in, p->out_ids, p->n_out, p->nodes, &p->n_nodes)) ||
      (rc = cl_tensor_meta(ctx, g, p->in_ids, p->n_in, &p->in_meta)) ||
      (rc = cl_tensor_meta(ctx, g, p->out_ids, p->n_out, &p->out_meta)))
    goto fail;
  p->out_names = cl_calloc(ctx, (size_t)p->n_out + 1, sizeof *p->out_names);
  p->in = cl_calloc(ctx, (size_t)p->n_in + 1, sizeof *p->in);
  p->given = cl_calloc(ctx, (size_t)p->n_in + 1, sizeof *p->given);
  if (!p->out_names || !p->in || !p->given) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto fail;
  }
  for (int i = 0; i < p->n_out; i++)
    p->out_names[i] = g->values[p->out_ids[i]].name;
  *out = p;
  return 0;
fail:
  cl_program_free(p);
  return rc;
}

int cl_program_compile(cl_program *p, const cl_device_iface *dev, void *dev_state) {
  cleave_ctx *ctx = p->ctx;
  const cl_graph *g = &p->model->graph;
  int rc = 0;
  p->dev = dev;
  if (dev_state) {
    p->dev_state = dev_state;
  } else {
    if ((rc = dev->create(ctx, &p->dev_state))) return rc;
    p->own_state = true;
  }
  for (int k = 0; k < p->n_nodes; k++) {
    const cl_node *n = &g->nodes[p->nodes[k]];
    char why[256];
    if (!dev->supports(p->dev_state, g, n, why, sizeof why))
      return cl_node_err(ctx, n, CLEAVE_EUNSUPPORTED, "device '%s' cannot run it: %s", dev->name, why);
  }
  cl_segment seg = {.graph = g,
                    .nodes = p->nodes,
                    .n_nodes = p->n_nodes,
                    .inputs = p->in_ids,
                    .n_inputs = p->n_in,
                    .outputs = p->out_ids,
                    .n_outputs = p->n_out};
  return dev->compile(p->dev_state, &seg, &p->exe);
}

/* ---- validation ---- */

static int check_input(cl_program *p, const cl_value *v, const cleave_tensor *t, int64_t *sym_seen) {
  cleave_ctx *ctx = p->ctx;
  const cl_graph *g = &p->model->graph;
  char want[160], got[160];
  if ((int)t->dtype != v->dtype)
    return cl_err(ctx, CLEAVE_EDTYPE, "input '%s' has dtype %s; the model expects %s", v->name,
                  cleave_dtype_name(t->dtype), cleave_dtype_name((cleave_dtype)v->dtype));
  if (t->ndim < 0 || t->ndim > CL_MAX_DIMS)
    return cl_err(ctx, CLEAVE_ESHAPE, "input '%s' has invalid rank %d", v->name, t->ndim);
  cl_shape_str(&v->shape, want, sizeof want, g->symbols);
  cl_dims_str(t->ndim, t->dims, got, sizeof got);
  if (v->shape.ndim >= 0 && t->ndim != v->shape.ndim)
    return cl_err(ctx, CLEAVE_ESHAPE, "input '%s' has shape %s; the model expects %s", v->name, got, want);
  int64_t numel = 1;
  for (int d = 0; d < t->ndim; d++) {
    int64_t want_d = v->shape.ndim >= 0 ? v->shape.d[d] : CL_DIM_UNKNOWN, dim = t->dims[d];
    if (dim < 0 || cl_mul_i64(numel, dim, &numel))
      return cl_err(ctx, CLEAVE_ESHAPE, "input '%s' has invalid dims %s", v->name, got);
    if (CL_DIM_IS_SYM(want_d)) {
      int id = CL_DIM_SYM_ID(want_d);
      if (p->sym_fixed[id] >= 0 && p->sym_fixed[id] != dim)
        return cl_err(ctx, CLEAVE_ESHAPE, "input '%s' dim %d ('%s') is %lld; the session fixed it to %lld", v->name,
                      d, g->symbols[id], (long long)dim, (long long)p->sym_fixed[id]);
      if (sym_seen[id] >= 0 && sym_seen[id] != dim)
        return cl_err(ctx, CLEAVE_ESHAPE, "input '%s' dim %d ('%s') is %lld but another input has %lld", v->name, d,
                      g->symbols[id], (long long)dim, (long long)sym_seen[id]);
      sym_seen[id] = dim;
    } else if (want_d >= 0 && want_d != dim) {
      return cl_err(ctx, CLEAVE_ESHAPE, "input '%s' has shape %s; the model expects %s", v->name, got, want);
    }
  }
  size_t need = (size_t)numel * cl_dtype_size(v->dtype);
  if (t->nbytes != need)
    return cl_err(ctx, CLEAVE_EINVAL, "input '%s' has %zu bytes; shape %s of %s needs %zu", v->name, t->nbytes, got,
                  cleave_dtype_name(t->dtype), need);
  if (need && !t->data) return cl_err(ctx, CLEAVE_EINVAL, "input '%s' has no data", v->name);
  return 0;
}

/* Matches inputs to the program's by name (in the program's order first, so that inputs given in that order cost
 * one comparison each) and checks each against the model and the fixed dims. Called with p->mu held. */
static int bind_inputs(cl_program *p, const cleave_tensor *inputs, size_t n_inputs) {
  cleave_ctx *ctx = p->ctx;
  const cl_graph *g = &p->model->graph;
  memset(p->given, 0, sizeof *p->given * (size_t)p->n_in);
  for (int i = 0; i < g->n_symbols; i++)
    p->sym_seen[i] = -1;
  for (size_t k = 0; k < n_inputs; k++) {
    const cleave_tensor *t = &inputs[k];
    int idx = -1;
    if (t->name && (int)k < p->n_in && strcmp(g->values[p->in_ids[k]].name, t->name) == 0) idx = (int)k;
    for (int i = 0; idx < 0 && i < p->n_in && t->name; i++)
      if (strcmp(g->values[p->in_ids[i]].name, t->name) == 0) idx = i;
    if (idx < 0)
      return cl_err(ctx, CLEAVE_ENOTFOUND, "the %s has no input named '%s'",
                    p->n_nodes < g->n_nodes ? "session" : "model", t->name ? t->name : "(null)");
    if (p->given[idx]) return cl_err(ctx, CLEAVE_EINVAL, "input '%s' is given twice", t->name);
    int rc = check_input(p, &g->values[p->in_ids[idx]], t, p->sym_seen);
    if (rc) return rc;
    p->given[idx] = true;
    cl_tensor *in = &p->in[idx];
    in->dtype = t->dtype;
    in->ndim = t->ndim;
    memcpy(in->dims, t->dims, sizeof t->dims);
    in->data = t->data;
    in->nbytes = t->nbytes;
  }
  for (int i = 0; i < p->n_in; i++)
    if (!p->given[i]) return cl_err(ctx, CLEAVE_EMISSING, "input '%s' is missing", g->values[p->in_ids[i]].name);
  return 0;
}

int cl_program_check(cl_program *p, const cleave_tensor *inputs, size_t n_inputs) {
  pthread_mutex_lock(&p->mu);
  int rc = bind_inputs(p, inputs, n_inputs);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* ---- run ---- */

int cl_program_run(cl_program *p, const cleave_tensor *inputs, size_t n_inputs, cleave_result **result) {
  cleave_ctx *ctx = p->ctx;
  const cl_graph *g = &p->model->graph;
  if (!p->exe) return cl_err(ctx, CLEAVE_EINVAL, "the program is not compiled");
  if (*result && (*result)->owner != p)
    return cl_err(ctx, CLEAVE_EINVAL, "cleave_run_into: the result comes from another session");
  double t0 = cl_now_ms();
  cleave_result *r = *result;
  if (!r && !(r = cl_result_new(ctx, p, p->n_out, p->profiling ? 2 * g->n_nodes + 1 : 0)))
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  r->n_outputs = 0;
  r->n_profile = 0;
  pthread_mutex_lock(&p->mu);
  int rc = bind_inputs(p, inputs, n_inputs);
  cl_exec_io io = {.inputs = p->in, .outputs = r->data, .out_cap = r->cap, .timings = p->timings};
  if (!rc) rc = p->dev->run(p->exe, &io);
  if (!rc) {
    cl_result_publish(r, p->n_out, p->out_names);
    for (int i = 0; p->timings && i < io.n_timings && i < r->cap_profile; i++) {
      const cl_exec_timing *t = &p->timings[i];
      const cl_node *n = &g->nodes[t->node];
      r->profile[i] = (cleave_node_profile){
          .node = n->name, .op = t->label ? t->label : n->op, .device = p->dev->name, .ms = t->ms};
      r->n_profile = i + 1;
    }
    r->ms = cl_now_ms() - t0;
  }
  pthread_mutex_unlock(&p->mu);
  if (rc && !*result) {
    cleave_result_free(r);
    return rc;
  }
  *result = r;
  return rc;
}
