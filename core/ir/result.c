/* core/ir: results: outputs, timings and placement. */
#include "core/ir/result.h"

#include <stdio.h>
#include <string.h>

cleave_result *cl_result_new(cleave_ctx *ctx, const void *owner, int n_data, int n_profile) {
  cleave_result *r = cl_calloc(ctx, 1, sizeof *r);
  if (!r) return NULL;
  r->ctx = ctx;
  r->owner = owner;
  r->edge_recv_ms = r->edge_queue_ms = r->edge_compute_ms = -1;
  r->data = cl_calloc(ctx, (size_t)n_data + 1, sizeof *r->data);
  r->cap = cl_calloc(ctx, (size_t)n_data + 1, sizeof *r->cap);
  r->outputs = cl_calloc(ctx, (size_t)n_data + 1, sizeof *r->outputs);
  r->profile = n_profile > 0 ? cl_calloc(ctx, (size_t)n_profile, sizeof *r->profile) : NULL;
  r->n_data = n_data;
  r->cap_profile = n_profile > 0 ? n_profile : 0;
  if (!r->data || !r->cap || !r->outputs || (n_profile > 0 && !r->profile)) {
    cleave_result_free(r);
    return NULL;
  }
  return r;
}

static void free_segments(cleave_result *r) {
  cleave_ctx *ctx = r->ctx;
  for (int i = 0; r->why && i < r->cap_seg; i++)
    cl_free(ctx, r->why[i]);
  cl_free(ctx, r->why);
  cl_free(ctx, r->where);
  cl_free(ctx, r->seg);
  r->why = NULL;
  r->where = NULL;
  r->seg = NULL;
  r->cap_seg = 0;
}

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
  free_segments(r);
  cl_free(ctx, r);
}

void cl_result_take(cleave_result *r, int i, const char *name, cl_tensor *t, size_t cap) {
  cl_tensor_release(r->ctx, &r->data[i]);
  r->data[i] = *t;
  r->cap[i] = cap;
  memset(t, 0, sizeof *t);
  r->outputs[i].name = name;
}

void cl_result_publish(cleave_result *r, int n, const char *const *names) {
  for (int i = 0; i < n; i++) {
    cleave_tensor *o = &r->outputs[i];
    const cl_tensor *d = &r->data[i];
    if (names) o->name = names[i];
    o->dtype = (cleave_dtype)d->dtype;
    o->ndim = d->ndim;
    memcpy(o->dims, d->dims, sizeof o->dims);
    o->data = d->data;
    o->nbytes = d->nbytes;
  }
  r->n_outputs = n;
}

int cl_result_from_tensors(cleave_ctx *ctx, const cleave_tensor *t, int n, double ms, cleave_result **out) {
  *out = NULL;
  cleave_result *r = cl_result_new(ctx, NULL, n, 0);
  if (!r || !(r->names = cl_calloc(ctx, (size_t)n + 1, sizeof *r->names))) goto nomem;
  r->ms = ms;
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
  }
  cl_result_publish(r, n, (const char *const *)r->names);
  *out = r;
  return 0;
bad:
  cleave_result_free(r);
  return cl_err(ctx, CLEAVE_EINVAL, "tensor bytes disagree with its shape");
nomem:
  cleave_result_free(r);
  return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
}

int cl_result_placement(cleave_result *r, const char *plan, int n) {
  cleave_ctx *ctx = r->ctx;
  if (n > r->cap_seg) {
    free_segments(r);
    r->seg = cl_calloc(ctx, (size_t)n, sizeof *r->seg);
    r->where = cl_calloc(ctx, (size_t)n, sizeof *r->where);
    r->why = cl_calloc(ctx, (size_t)n, sizeof *r->why);
    if (!r->seg || !r->where || !r->why) {
      free_segments(r);
      r->has_placement = false;
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    }
    r->cap_seg = n;
  }
  for (int i = 0; i < r->cap_seg; i++) {
    cl_free(ctx, r->why[i]);
    r->why[i] = NULL;
    r->where[i][0] = '\0';
  }
  memset(r->seg, 0, sizeof *r->seg * (size_t)r->cap_seg);
  snprintf(r->plan, sizeof r->plan, "%s", plan ? plan : "");
  r->placement = (cleave_placement){.plan = r->plan, .n_segments = n, .segments = r->seg};
  for (int i = 0; i < n; i++)
    r->seg[i].where = r->where[i];
  r->has_placement = true;
  return 0;
}

int cl_result_segment_text(cleave_result *r, int i, const char *where, const char *why) {
  if (where) snprintf(r->where[i], CL_WHERE_MAX, "%s", where);
  if (why) {
    cl_free(r->ctx, r->why[i]);
    if (!(r->why[i] = cl_strdup(r->ctx, why))) return cl_err(r->ctx, CLEAVE_ENOMEM, "out of memory");
  }
  r->seg[i].why = r->why[i];
  return 0;
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

const cleave_placement *cleave_result_placement(const cleave_result *r) {
  return r && r->has_placement ? &r->placement : NULL;
}
