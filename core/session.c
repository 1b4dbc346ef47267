/* core: sessions (a model compiled for a device), input validation and results. */
#include <stdlib.h>
#include <string.h>

#include "core/cut.h"
#include "core/model.h"
#include "local/device.h"

#define MAX_DIM_OVERRIDES 16
#define MAX_CUT_NAMES 1024

typedef struct name_list {
  char **names;
  int n;
} name_list;

struct cleave_session_options {
  char *device;
  int n_dims;
  char *dim_names[MAX_DIM_OVERRIDES];
  int64_t dim_values[MAX_DIM_OVERRIDES];
  int profiling;
  name_list cut_in, cut_out; /* empty: the model's own inputs / outputs */
};

struct cleave_session {
  cleave_ctx *ctx;
  cleave_model *model;
  const cl_device_iface *dev;
  void *dev_state;
  void *exe;
  int *nodes;
  int n_nodes;
  int *in_ids, *out_ids; /* the values the session is fed and hands back */
  int n_in, n_out;
  cleave_tensor *in_meta, *out_meta;
  int64_t *sym_fixed; /* per symbol: value fixed by the options, or -1 */
  int profiling;
  /* run scratch, allocated once so that a run with a reused result allocates nothing */
  cl_tensor *in;
  bool *given;
  int64_t *sym_seen;
  cl_exec_timing *timings;
};

struct cleave_result {
  cleave_ctx *ctx;
  const cleave_session *session; /* the session whose runs may reuse this result */
  int n_outputs;
  cleave_tensor *outputs;
  cl_tensor *data; /* owns the output data */
  size_t *cap;     /* bytes held by data[i] */
  int n_data;
  double ms;
  cleave_node_profile *profile;
  int n_profile;
  char **names; /* owned output names, for results made from tensors (cl_result_from_tensors) */
};

/* ---- options (plain malloc: they exist before any context) ---- */

int cleave_session_options_new(cleave_session_options **out) {
  if (!out) return CLEAVE_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : CLEAVE_ENOMEM;
}

static void names_clear(name_list *l) {
  for (int i = 0; i < l->n; i++)
    free(l->names[i]);
  free(l->names);
  l->names = NULL;
  l->n = 0;
}

static int names_set(name_list *l, const char *const *names, int n) {
  if (n < 0 || n > MAX_CUT_NAMES || (n && !names)) return CLEAVE_EINVAL;
  for (int i = 0; i < n; i++)
    if (!names[i] || !names[i][0]) return CLEAVE_EINVAL;
  char **copy = n ? calloc((size_t)n, sizeof *copy) : NULL;
  if (n && !copy) return CLEAVE_ENOMEM;
  for (int i = 0; i < n; i++)
    if (!(copy[i] = strdup(names[i]))) {
      name_list tmp = {copy, i};
      names_clear(&tmp);
      return CLEAVE_ENOMEM;
    }
  names_clear(l);
  l->names = copy;
  l->n = n;
  return 0;
}

int cleave_session_options_set_inputs(cleave_session_options *o, const char *const *names, int n) {
  return o ? names_set(&o->cut_in, names, n) : CLEAVE_EINVAL;
}

int cleave_session_options_set_outputs(cleave_session_options *o, const char *const *names, int n) {
  return o ? names_set(&o->cut_out, names, n) : CLEAVE_EINVAL;
}

void cleave_session_options_free(cleave_session_options *o) {
  if (!o) return;
  names_clear(&o->cut_in);
  names_clear(&o->cut_out);
  free(o->device);
  for (int i = 0; i < o->n_dims; i++)
    free(o->dim_names[i]);
  free(o);
}

int cleave_session_options_set_device(cleave_session_options *o, const char *device) {
  if (!o || !device || !device[0]) return CLEAVE_EINVAL;
  char *d = strdup(device);
  if (!d) return CLEAVE_ENOMEM;
  free(o->device);
  o->device = d;
  return 0;
}

int cleave_session_options_set_dim(cleave_session_options *o, const char *name, int64_t value) {
  if (!o || !name || value < 0) return CLEAVE_EINVAL;
  for (int i = 0; i < o->n_dims; i++)
    if (strcmp(o->dim_names[i], name) == 0) {
      o->dim_values[i] = value;
      return 0;
    }
  if (o->n_dims == MAX_DIM_OVERRIDES) return CLEAVE_ELIMIT;
  if (!(o->dim_names[o->n_dims] = strdup(name))) return CLEAVE_ENOMEM;
  o->dim_values[o->n_dims++] = value;
  return 0;
}

void cleave_session_options_set_profiling(cleave_session_options *o, int on) {
  if (o) o->profiling = on != 0;
}

/* ---- session ---- */

/* Value ids of names, or of the model's own values when the list is empty. */
static int resolve_names(cleave_session *s, const name_list *l, const int *model_ids, int n_model, bool in, int **ids,
                         int *n) {
  cleave_ctx *ctx = s->ctx;
  const cl_graph *g = &s->model->graph;
  int count = l->n ? l->n : n_model;
  *ids = cl_malloc(ctx, sizeof(int) * ((size_t)count + 1));
  if (!*ids) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  *n = count;
  for (int i = 0; i < count; i++) {
    if (!l->n) {
      (*ids)[i] = model_ids[i];
      continue;
    }
    int v = cl_graph_find_value(g, l->names[i]);
    if (v < 0)
      return cl_err(ctx, CLEAVE_ENOTFOUND, "the model has no tensor named '%s' (named as %s)", l->names[i],
                    in ? "an input" : "an output");
    for (int k = 0; k < i; k++)
      if ((*ids)[k] == v) return cl_err(ctx, CLEAVE_EINVAL, "tensor '%s' is named twice", l->names[i]);
    (*ids)[i] = v;
  }
  return 0;
}

static int fill_meta(cleave_session *s, const int *ids, int n, cleave_tensor **out) {
  const cl_graph *g = &s->model->graph;
  *out = cl_calloc(s->ctx, (size_t)n + 1, sizeof **out);
  if (!*out) return cl_err(s->ctx, CLEAVE_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    const cl_value *v = &g->values[ids[i]];
    cleave_tensor *t = &(*out)[i];
    t->name = v->name;
    t->dtype = (cleave_dtype)v->dtype;
    t->ndim = v->shape.ndim;
    for (int d = 0; d < v->shape.ndim && d < CL_MAX_DIMS; d++) {
      t->dims[d] = v->shape.d[d] >= 0 ? v->shape.d[d] : -1;
      if (CL_DIM_IS_SYM(v->shape.d[d])) t->dim_names[d] = g->symbols[CL_DIM_SYM_ID(v->shape.d[d])];
    }
  }
  return 0;
}

/* The values the session is fed and hands back, and the minimal set of nodes between them. */
static int resolve_cut(cleave_session *s, const cleave_session_options *opt) {
  static const name_list none = {0};
  const cl_graph *g = &s->model->graph;
  int rc = resolve_names(s, opt ? &opt->cut_in : &none, g->inputs, g->n_inputs, true, &s->in_ids, &s->n_in);
  if (!rc)
    rc = resolve_names(s, opt ? &opt->cut_out : &none, g->outputs, g->n_outputs, false, &s->out_ids, &s->n_out);
  if (!rc) rc = cl_graph_cut(s->ctx, g, s->in_ids, s->n_in, s->out_ids, s->n_out, s->nodes, &s->n_nodes);
  if (!rc) rc = fill_meta(s, s->in_ids, s->n_in, &s->in_meta);
  if (!rc) rc = fill_meta(s, s->out_ids, s->n_out, &s->out_meta);
  return rc;
}

int cleave_session_num_inputs(const cleave_session *s) { return s ? s->n_in : 0; }
int cleave_session_num_outputs(const cleave_session *s) { return s ? s->n_out : 0; }
const cleave_tensor *cleave_session_input(const cleave_session *s, int i) {
  return s && i >= 0 && i < s->n_in ? &s->in_meta[i] : NULL;
}
const cleave_tensor *cleave_session_output(const cleave_session *s, int i) {
  return s && i >= 0 && i < s->n_out ? &s->out_meta[i] : NULL;
}

void cleave_session_free(cleave_session *s) {
  if (!s) return;
  cleave_ctx *ctx = s->ctx;
  if (s->exe) s->dev->release(s->exe);
  if (s->dev_state) s->dev->destroy(s->dev_state);
  cl_free(ctx, s->nodes);
  cl_free(ctx, s->in_ids);
  cl_free(ctx, s->out_ids);
  cl_free(ctx, s->in_meta);
  cl_free(ctx, s->out_meta);
  cl_free(ctx, s->sym_fixed);
  cl_free(ctx, s->in);
  cl_free(ctx, s->given);
  cl_free(ctx, s->sym_seen);
  cl_free(ctx, s->timings);
  cl_free(ctx, s);
}

int cleave_session_new(cleave_ctx *ctx, cleave_model *model, const cleave_session_options *opt,
                       cleave_session **out) {
  if (!ctx || !model || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_session_new: NULL argument");
  *out = NULL;
  const char *dev_name = opt && opt->device ? opt->device : "cpu";
  const cl_device_iface *dev = cl_device_find(dev_name);
  if (!dev) return cl_err(ctx, CLEAVE_ENODEVICE, "no device named '%s'", dev_name);
  const cl_graph *g = &model->graph;
  cleave_session *s = cl_calloc(ctx, 1, sizeof *s);
  if (!s) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  s->ctx = ctx;
  s->model = model;
  s->dev = dev;
  s->profiling = opt ? opt->profiling : 0;
  s->nodes = cl_malloc(ctx, sizeof(int) * (size_t)(g->n_nodes + 1));
  s->sym_fixed = cl_malloc(ctx, sizeof(int64_t) * (size_t)(g->n_symbols + 1));
  s->sym_seen = cl_malloc(ctx, sizeof(int64_t) * (size_t)(g->n_symbols + 1));
  s->timings = s->profiling ? cl_calloc(ctx, 2 * (size_t)g->n_nodes + 1, sizeof *s->timings) : NULL;
  int rc;
  if (!s->nodes || !s->sym_fixed || !s->sym_seen || (s->profiling && !s->timings)) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto fail;
  }
  for (int i = 0; i < g->n_symbols; i++)
    s->sym_fixed[i] = -1;
  for (int i = 0; opt && i < opt->n_dims; i++) {
    int id = -1;
    for (int k = 0; k < g->n_symbols; k++)
      if (strcmp(g->symbols[k], opt->dim_names[i]) == 0) id = k;
    if (id < 0) {
      rc = cl_err(ctx, CLEAVE_ENOTFOUND, "the model has no symbolic dimension named '%s'", opt->dim_names[i]);
      goto fail;
    }
    s->sym_fixed[id] = opt->dim_values[i];
  }
  if ((rc = resolve_cut(s, opt))) goto fail;
  s->in = cl_calloc(ctx, (size_t)s->n_in + 1, sizeof *s->in);
  s->given = cl_calloc(ctx, (size_t)s->n_in + 1, sizeof *s->given);
  if (!s->in || !s->given) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = dev->create(ctx, &s->dev_state))) goto fail;
  for (int k = 0; k < s->n_nodes; k++) {
    const cl_node *n = &g->nodes[s->nodes[k]];
    char why[256];
    if (!dev->supports(s->dev_state, g, n, why, sizeof why)) {
      rc = cl_node_err(ctx, n, CLEAVE_EUNSUPPORTED, "device '%s' cannot run it: %s", dev->name, why);
      goto fail;
    }
  }
  cl_segment seg = {.graph = g,
                    .nodes = s->nodes,
                    .n_nodes = s->n_nodes,
                    .inputs = s->in_ids,
                    .n_inputs = s->n_in,
                    .outputs = s->out_ids,
                    .n_outputs = s->n_out};
  if ((rc = dev->compile(s->dev_state, &seg, &s->exe))) goto fail;
  *out = s;
  return 0;
fail:
  cleave_session_free(s);
  return rc;
}

/* ---- results ---- */

void cleave_result_free(cleave_result *r) {
  if (!r) return;
  cleave_ctx *ctx = r->ctx;
  for (int i = 0; r->data && i < r->n_data; i++)
    cl_tensor_release(ctx, &r->data[i]);
  cl_free(ctx, r->data);
  cl_free(ctx, r->cap);
  cl_free(ctx, r->outputs);
  cl_free(ctx, r->profile);
  for (int i = 0; r->names && i < r->n_data; i++)
    cl_free(ctx, r->names[i]);
  cl_free(ctx, r->names);
  cl_free(ctx, r);
}

int cl_result_from_tensors(cleave_ctx *ctx, const cleave_tensor *t, int n, double ms, cleave_result **out) {
  *out = NULL;
  cleave_result *r = cl_calloc(ctx, 1, sizeof *r);
  if (!r) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  r->ctx = ctx;
  r->ms = ms;
  r->data = cl_calloc(ctx, (size_t)n + 1, sizeof *r->data);
  r->cap = cl_calloc(ctx, (size_t)n + 1, sizeof *r->cap);
  r->outputs = cl_calloc(ctx, (size_t)n + 1, sizeof *r->outputs);
  r->names = cl_calloc(ctx, (size_t)n + 1, sizeof *r->names);
  if (!r->data || !r->cap || !r->outputs || !r->names) goto nomem;
  r->n_data = n;
  for (int i = 0; i < n; i++) {
    cl_tensor *d = &r->data[i];
    d->dtype = t[i].dtype;
    d->ndim = t[i].ndim;
    memcpy(d->dims, t[i].dims, sizeof d->dims);
    if (cleave_tensor_numel(&t[i]) < 0 ||
        cl_tensor_numel(d) * (int64_t)cl_dtype_size(d->dtype) != (int64_t)t[i].nbytes)
      goto bad;
    if (!(r->names[i] = cl_strdup(ctx, t[i].name ? t[i].name : "")) || cl_tensor_alloc(ctx, d)) goto nomem;
    if (t[i].nbytes) memcpy(d->data, t[i].data, t[i].nbytes);
    r->cap[i] = d->nbytes;
    cleave_tensor *o = &r->outputs[i];
    o->name = r->names[i];
    o->dtype = t[i].dtype;
    o->ndim = t[i].ndim;
    memcpy(o->dims, t[i].dims, sizeof o->dims);
    o->data = d->data;
    o->nbytes = d->nbytes;
  }
  r->n_outputs = n;
  *out = r;
  return 0;
bad:
  cleave_result_free(r);
  return cl_err(ctx, CLEAVE_EINVAL, "tensor bytes disagree with its shape");
nomem:
  cleave_result_free(r);
  return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
}

int cleave_result_num_outputs(const cleave_result *r) { return r ? r->n_outputs : 0; }

const cleave_tensor *cleave_result_output(const cleave_result *r, int i) {
  return r && i >= 0 && i < r->n_outputs ? &r->outputs[i] : NULL;
}

const cleave_tensor *cleave_result_find(const cleave_result *r, const char *name) {
  for (int i = 0; r && name && i < r->n_outputs; i++)
    if (strcmp(r->outputs[i].name, name) == 0) return &r->outputs[i];
  return NULL;
}

double cleave_result_ms(const cleave_result *r) { return r ? r->ms : 0; }

const cleave_node_profile *cleave_result_profile(const cleave_result *r, int *n) {
  if (n) *n = r ? r->n_profile : 0;
  return r ? r->profile : NULL;
}

/* ---- run ---- */

static int check_input(cleave_session *s, const cl_value *v, const cleave_tensor *t, int64_t *sym_seen) {
  cleave_ctx *ctx = s->ctx;
  const cl_graph *g = &s->model->graph;
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
      if (s->sym_fixed[id] >= 0 && s->sym_fixed[id] != dim)
        return cl_err(ctx, CLEAVE_ESHAPE, "input '%s' dim %d ('%s') is %lld; the session fixed it to %lld", v->name,
                      d, g->symbols[id], (long long)dim, (long long)s->sym_fixed[id]);
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

static cleave_result *result_new(cleave_session *s) {
  cleave_ctx *ctx = s->ctx;
  const cl_graph *g = &s->model->graph;
  cleave_result *r = cl_calloc(ctx, 1, sizeof *r);
  if (!r) return NULL;
  r->ctx = ctx;
  r->session = s;
  r->data = cl_calloc(ctx, (size_t)s->n_out + 1, sizeof *r->data);
  r->cap = cl_calloc(ctx, (size_t)s->n_out + 1, sizeof *r->cap);
  r->outputs = cl_calloc(ctx, (size_t)s->n_out + 1, sizeof *r->outputs);
  r->profile = s->profiling ? cl_calloc(ctx, 2 * (size_t)g->n_nodes + 1, sizeof *r->profile) : NULL;
  if (!r->data || !r->cap || !r->outputs || (s->profiling && !r->profile)) {
    cleave_result_free(r);
    return NULL;
  }
  r->n_data = s->n_out;
  return r;
}

/* Matches inputs to the model's by name and checks each against the model and the session's fixed dims. */
static int bind_inputs(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs) {
  cleave_ctx *ctx = s->ctx;
  const cl_graph *g = &s->model->graph;
  memset(s->given, 0, sizeof *s->given * (size_t)s->n_in);
  for (int i = 0; i < g->n_symbols; i++)
    s->sym_seen[i] = -1;
  for (size_t k = 0; k < n_inputs; k++) {
    const cleave_tensor *t = &inputs[k];
    int idx = -1;
    for (int i = 0; i < s->n_in && t->name; i++)
      if (strcmp(g->values[s->in_ids[i]].name, t->name) == 0) idx = i;
    if (idx < 0)
      return cl_err(ctx, CLEAVE_ENOTFOUND, "the %s has no input named '%s'",
                    s->n_nodes < g->n_nodes ? "session" : "model", t->name ? t->name : "(null)");
    if (s->given[idx]) return cl_err(ctx, CLEAVE_EINVAL, "input '%s' is given twice", t->name);
    int rc = check_input(s, &g->values[s->in_ids[idx]], t, s->sym_seen);
    if (rc) return rc;
    s->given[idx] = true;
    cl_tensor *in = &s->in[idx];
    in->dtype = t->dtype;
    in->ndim = t->ndim;
    memcpy(in->dims, t->dims, sizeof t->dims);
    in->data = t->data;
    in->nbytes = t->nbytes;
  }
  for (int i = 0; i < s->n_in; i++)
    if (!s->given[i]) return cl_err(ctx, CLEAVE_EMISSING, "input '%s' is missing", g->values[s->in_ids[i]].name);
  return 0;
}

int cl_session_check_inputs(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs) {
  return bind_inputs(s, inputs, n_inputs);
}

cleave_model *cl_session_model(const cleave_session *s) { return s->model; }

int cleave_run_into(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_result **result) {
  if (!s || !result || (n_inputs && !inputs))
    return cl_err(s ? s->ctx : NULL, CLEAVE_EINVAL, "cleave_run_into: NULL argument");
  cleave_ctx *ctx = s->ctx;
  const cl_graph *g = &s->model->graph;
  if (*result && (*result)->session != s)
    return cl_err(ctx, CLEAVE_EINVAL, "cleave_run_into: the result comes from another session");
  double t0 = cl_now_ms();
  cleave_result *r = *result;
  if (!r && !(r = result_new(s))) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  r->n_outputs = 0;
  r->n_profile = 0;
  int rc = bind_inputs(s, inputs, n_inputs);
  if (rc) goto out;
  cl_exec_io io = {.inputs = s->in, .outputs = r->data, .out_cap = r->cap, .timings = s->timings};
  if ((rc = s->dev->run(s->exe, &io))) goto out;
  for (int i = 0; i < s->n_out; i++) {
    cleave_tensor *o = &r->outputs[i];
    const cl_tensor *d = &r->data[i];
    o->name = g->values[s->out_ids[i]].name;
    o->dtype = (cleave_dtype)d->dtype;
    o->ndim = d->ndim;
    memcpy(o->dims, d->dims, sizeof o->dims);
    o->data = d->data;
    o->nbytes = d->nbytes;
  }
  r->n_outputs = s->n_out;
  for (int i = 0; s->timings && i < io.n_timings && i < 2 * g->n_nodes; i++) {
    const cl_exec_timing *t = &s->timings[i];
    const cl_node *n = &g->nodes[t->node];
    r->profile[i] = (cleave_node_profile){
        .node = n->name, .op = t->label ? t->label : n->op, .device = s->dev->name, .ms = t->ms};
    r->n_profile = i + 1;
  }
  r->ms = cl_now_ms() - t0;
out:
  if (rc && !*result) {
    cleave_result_free(r);
    return rc;
  }
  *result = r;
  return rc;
}

int cleave_run_sync(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_result **out) {
  if (!out) return cl_err(s ? s->ctx : NULL, CLEAVE_EINVAL, "cleave_run_sync: NULL argument");
  *out = NULL;
  return cleave_run_into(s, inputs, n_inputs, out);
}
