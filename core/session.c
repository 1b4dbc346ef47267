/* core: sessions: a model (or a cut of it) compiled for a device, and the public run calls. */
#include <stdlib.h>
#include <string.h>

#include "core/ir/model.h"
#include "local/program.h"
#include "policies/apply.h"
#include "policies/settings.h"

#define MAX_DIM_OVERRIDES CL_PROGRAM_MAX_DIMS
#define MAX_CUT_NAMES CL_PROGRAM_MAX_NAMES

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
  cl_program *prog; /* the session's cut, compiled for its device */
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

int cleave_session_num_inputs(const cleave_session *s) { return s ? s->prog->n_in : 0; }
int cleave_session_num_outputs(const cleave_session *s) { return s ? s->prog->n_out : 0; }
const cleave_tensor *cleave_session_input(const cleave_session *s, int i) {
  return s && i >= 0 && i < s->prog->n_in ? &s->prog->in_meta[i] : NULL;
}
const cleave_tensor *cleave_session_output(const cleave_session *s, int i) {
  return s && i >= 0 && i < s->prog->n_out ? &s->prog->out_meta[i] : NULL;
}

void cleave_session_free(cleave_session *s) {
  if (!s) return;
  cl_program_free(s->prog);
  cl_free(s->ctx, s);
}

int cleave_session_new(cleave_ctx *ctx, cleave_model *model, const cleave_session_options *opt,
                       cleave_session **out) {
  if (!ctx || !model || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_session_new: NULL argument");
  *out = NULL;
  const char *dev_name = opt && opt->device ? opt->device : "cpu";
  const cl_device_iface *dev = cl_device_find(dev_name);
  if (!dev) return cl_err(ctx, CLEAVE_ENODEVICE, "no device named '%s'", dev_name);
  cleave_session *s = cl_calloc(ctx, 1, sizeof *s);
  if (!s) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  s->ctx = ctx;
  s->model = model;
  cl_program_spec spec = {.input_names = opt ? (const char *const *)opt->cut_in.names : NULL,
                          .n_inputs = opt ? opt->cut_in.n : 0,
                          .output_names = opt ? (const char *const *)opt->cut_out.names : NULL,
                          .n_outputs = opt ? opt->cut_out.n : 0,
                          .dim_names = opt ? (const char *const *)opt->dim_names : NULL,
                          .dim_values = opt ? opt->dim_values : NULL,
                          .n_dims = opt ? opt->n_dims : 0,
                          .profiling = opt && opt->profiling};
  int rc = cl_program_new(ctx, model, &spec, &s->prog);
  if (!rc) rc = cl_program_compile(s->prog, dev, NULL);
  if (rc) {
    cleave_session_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* ---- run ---- */

int cleave_run_into(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_result **result) {
  if (!s || !result || (n_inputs && !inputs))
    return cl_err(s ? s->ctx : NULL, CLEAVE_EINVAL, "cleave_run_into: NULL argument");
  int rc = cl_program_run(s->prog, inputs, n_inputs, result);
  if (rc) return rc;
  cleave_result *r = *result;
  if ((rc = cl_result_placement(r, s->prog->dev->name, 1))) return rc;
  cleave_segment_report *sr = &r->seg[0];
  cl_result_segment_text(r, 0, s->prog->dev->name, NULL);
  sr->n_nodes = s->prog->n_nodes;
  sr->end_ms = sr->compute_ms = r->ms;
  return 0;
}

int cleave_run_sync(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_result **out) {
  if (!out) return cl_err(s ? s->ctx : NULL, CLEAVE_EINVAL, "cleave_run_sync: NULL argument");
  *out = NULL;
  return cleave_run_into(s, inputs, n_inputs, out);
}

int cleave_session_explain(cleave_session *s, char **json_out) {
  if (!s || !json_out) return CLEAVE_EINVAL;
  cleave_ctx *ctx = s->ctx;
  return cl_explain(ctx, &s->model->graph, ctx->policy->device, ctx->policy->edge, json_out);
}
