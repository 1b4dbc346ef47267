/* core: sessions: their options, sessions on one device (a program of the session's cut) and hybrid sessions
 * (core/hybrid.c), and the public run calls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/session.h"
#include "policies/apply.h"
#include "policies/settings.h"

/* ---- options (plain malloc: they exist before any context) ---- */

int cleave_session_options_new(cleave_session_options **out) {
  if (!out) return CLEAVE_EINVAL;
  *out = calloc(1, sizeof **out);
  if (!*out) return CLEAVE_ENOMEM;
  (*out)->mode = -1;
  return 0;
}

static void names_clear(cl_name_list *l) {
  for (int i = 0; i < l->n; i++)
    free(l->names[i]);
  free(l->names);
  l->names = NULL;
  l->n = 0;
}

static int names_set(cl_name_list *l, const char *const *names, int n) {
  if (n < 0 || n > CL_PROGRAM_MAX_NAMES || (n && !names)) return CLEAVE_EINVAL;
  for (int i = 0; i < n; i++)
    if (!names[i] || !names[i][0]) return CLEAVE_EINVAL;
  char **copy = n ? calloc((size_t)n, sizeof *copy) : NULL;
  if (n && !copy) return CLEAVE_ENOMEM;
  for (int i = 0; i < n; i++)
    if (!(copy[i] = strdup(names[i]))) {
      cl_name_list tmp = {copy, i};
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
  names_clear(&o->devices);
  names_clear(&o->pins);
  for (int i = 0; i < o->n_profiles; i++)
    free(o->profiles[i].device);
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
  if (o->n_dims == CL_SESSION_MAX_DIMS) return CLEAVE_ELIMIT;
  if (!(o->dim_names[o->n_dims] = strdup(name))) return CLEAVE_ENOMEM;
  o->dim_values[o->n_dims++] = value;
  return 0;
}

void cleave_session_options_set_profiling(cleave_session_options *o, int on) {
  if (o) o->profiling = on != 0;
}

int cleave_session_options_set_devices(cleave_session_options *o, const char *const *names, int n) {
  if (!o || n < 1 || n > CL_HYBRID_MAX_LOCAL) return CLEAVE_EINVAL;
  return names_set(&o->devices, names, n);
}

int cleave_session_options_add_edge(cleave_session_options *o, cleave_edge *edge, const cleave_profile *profile) {
  if (!o || !edge || o->n_edges == CL_HYBRID_MAX_EDGES) return CLEAVE_EINVAL;
  for (int i = 0; i < o->n_edges; i++)
    if (o->edges[i].edge == edge) return CLEAVE_EINVAL;
  o->edges[o->n_edges].edge = edge;
  o->edges[o->n_edges++].profile = profile;
  return 0;
}

int cleave_session_options_set_profile(cleave_session_options *o, const char *device, const cleave_profile *p) {
  if (!o || !device || !device[0] || !p) return CLEAVE_EINVAL;
  for (int i = 0; i < o->n_profiles; i++)
    if (strcmp(o->profiles[i].device, device) == 0) {
      o->profiles[i].profile = p;
      return 0;
    }
  if (o->n_profiles == CL_HYBRID_MAX_LOCAL) return CLEAVE_EINVAL;
  char *d = strdup(device);
  if (!d) return CLEAVE_ENOMEM;
  o->profiles[o->n_profiles].device = d;
  o->profiles[o->n_profiles++].profile = p;
  return 0;
}

int cleave_session_options_set_mode(cleave_session_options *o, cleave_mode mode) {
  if (!o || (int)mode < CLEAVE_MODE_AUTO || mode > CLEAVE_MODE_ONLY_EDGE) return CLEAVE_EINVAL;
  o->mode = (int)mode;
  return 0;
}

int cleave_session_options_set_weights(cleave_session_options *o, double w_latency, double w_energy, double w_cost) {
  if (!o || !(w_latency >= 0) || !(w_energy >= 0) || !(w_cost >= 0) || !isfinite(w_latency + w_energy + w_cost) ||
      w_latency + w_energy + w_cost <= 0)
    return CLEAVE_EINVAL;
  o->w[0] = w_latency;
  o->w[1] = w_energy;
  o->w[2] = w_cost;
  o->weights = true;
  return 0;
}

int cleave_session_options_set_deadline_ms(cleave_session_options *o, double ms) {
  if (!o || !(ms >= 0) || !isfinite(ms)) return CLEAVE_EINVAL;
  o->deadline_ms = ms;
  return 0;
}

int cleave_session_options_pin(cleave_session_options *o, const char *tensor) {
  if (!o || !tensor || !tensor[0]) return CLEAVE_EINVAL;
  if (o->pins.n == CL_HYBRID_MAX_PINS) return CLEAVE_ELIMIT;
  char **p = realloc(o->pins.names, sizeof *p * (size_t)(o->pins.n + 1));
  if (!p) return CLEAVE_ENOMEM;
  o->pins.names = p;
  if (!(p[o->pins.n] = strdup(tensor))) return CLEAVE_ENOMEM;
  o->pins.n++;
  return 0;
}

void cleave_session_options_set_offload_inputs(cleave_session_options *o, int on) {
  if (o) o->offload_inputs = on != 0;
}

int cleave_session_options_set_max_in_flight(cleave_session_options *o, int n) {
  if (!o || n < 1 || n > 65536) return CLEAVE_EINVAL;
  o->max_in_flight = n;
  return 0;
}

void cleave_session_options_set_hedging(cleave_session_options *o, int on) {
  if (o) o->no_hedging = !on;
}

bool cl_session_options_hybrid(const cleave_session_options *o) { return o && (o->devices.n > 0 || o->n_edges > 0); }

/* ---- sessions ---- */

int cleave_session_num_inputs(const cleave_session *s) {
  return !s ? 0 : s->hybrid ? s->hybrid->meta->n_in : s->prog->n_in;
}
int cleave_session_num_outputs(const cleave_session *s) {
  return !s ? 0 : s->hybrid ? s->hybrid->meta->n_out : s->prog->n_out;
}
const cleave_tensor *cleave_session_input(const cleave_session *s, int i) {
  const cl_program *p = !s ? NULL : s->hybrid ? s->hybrid->meta : s->prog;
  return p && i >= 0 && i < p->n_in ? &p->in_meta[i] : NULL;
}
const cleave_tensor *cleave_session_output(const cleave_session *s, int i) {
  const cl_program *p = !s ? NULL : s->hybrid ? s->hybrid->meta : s->prog;
  return p && i >= 0 && i < p->n_out ? &p->out_meta[i] : NULL;
}

void cleave_session_free(cleave_session *s) {
  if (!s) return;
  cl_run_plain_cancel_all(s);
  cl_hybrid_free(s->hybrid);
  cl_program_free(s->prog);
  cl_free(s->ctx, s);
}

int cleave_session_new(cleave_ctx *ctx, cleave_model *model, const cleave_session_options *opt,
                       cleave_session **out) {
  if (!ctx || !model || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_session_new: NULL argument");
  *out = NULL;
  cleave_session *s = cl_calloc(ctx, 1, sizeof *s);
  if (!s) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  s->ctx = ctx;
  s->model = model;
  s->plain_dev = -1;
  int rc;
  if (cl_session_options_hybrid(opt)) {
    rc = cl_hybrid_new(s, model, opt, &s->hybrid);
  } else {
    const char *dev_name = opt && opt->device ? opt->device : "cpu";
    const cl_device_iface *dev = cl_device_find(dev_name);
    cl_program_spec spec = {.input_names = opt ? (const char *const *)opt->cut_in.names : NULL,
                            .n_inputs = opt ? opt->cut_in.n : 0,
                            .output_names = opt ? (const char *const *)opt->cut_out.names : NULL,
                            .n_outputs = opt ? opt->cut_out.n : 0,
                            .dim_names = opt ? (const char *const *)opt->dim_names : NULL,
                            .dim_values = opt ? opt->dim_values : NULL,
                            .n_dims = opt ? opt->n_dims : 0,
                            .profiling = opt && opt->profiling};
    if (!dev)
      rc = cl_err(ctx, CLEAVE_ENODEVICE, "no device named '%s'", dev_name);
    else if (!(rc = cl_program_new(ctx, model, &spec, &s->prog)))
      rc = cl_program_compile(s->prog, dev, NULL);
  }
  if (rc) {
    cleave_session_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* ---- runs ---- */

int cleave_run(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_run_cb cb, void *user,
               cleave_run_req **req) {
  if (req) *req = NULL;
  if (!s || !cb || (n_inputs && !inputs))
    return cl_err(s ? s->ctx : NULL, CLEAVE_EINVAL, "cleave_run: NULL argument");
  if (!s->ctx->loop || s->ctx->own_loop)
    return cl_err(s->ctx, CLEAVE_EINVAL,
                  "cleave_run needs the host's loop: give it to cleave_ctx_new (or use cleave_run_sync)");
  if (s->hybrid) return cl_run_submit(s, s->hybrid, inputs, n_inputs, cb, user, req);
  return cl_run_plain_submit(s, inputs, n_inputs, cb, user, req);
}

/* The hybrid runs of cleave_run_sync: submitted as cleave_run, with the loop driven until the callback. */
typedef struct sync_wait {
  bool done;
  int status;
  cleave_result *res;
  char err[CL_ERRMSG_MAX];
} sync_wait;

static void on_sync_done(cleave_run_req *req, int status, cleave_result *res) {
  sync_wait *w = cleave_run_req_user(req);
  w->done = true;
  w->status = status;
  w->res = res;
  if (status) snprintf(w->err, sizeof w->err, "%s", cleave_run_req_error(req));
}

static int run_hybrid_sync(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_result **out) {
  cleave_ctx *ctx = s->ctx;
  uv_loop_t *loop = cl_ctx_loop(ctx);
  if (!loop) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  sync_wait w = {0};
  int rc = cl_run_submit(s, s->hybrid, inputs, n_inputs, on_sync_done, &w, NULL);
  if (rc) return rc;
  while (!w.done)
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !w.done) break; /* nothing left that could finish it */
  if (!w.done) return cl_err(ctx, CLEAVE_EBACKEND, "the run cannot finish: its loop has nothing left to run");
  if (w.status) return cl_err(ctx, w.status, "%s", w.err);
  *out = w.res;
  return 0;
}

int cleave_run_into(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_result **result) {
  if (!s || !result || (n_inputs && !inputs))
    return cl_err(s ? s->ctx : NULL, CLEAVE_EINVAL, "cleave_run_into: NULL argument");
  if (s->hybrid) {
    cleave_result *r = NULL;
    int rc = run_hybrid_sync(s, inputs, n_inputs, &r);
    if (rc) {
      if (*result) (*result)->n_outputs = 0;
      return rc;
    }
    cleave_result_free(*result);
    *result = r;
    return 0;
  }
  int rc = cl_program_run(s->prog, inputs, n_inputs, result);
  if (rc) return rc;
  return cl_run_plain_placement(s, *result, 0, 0);
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
