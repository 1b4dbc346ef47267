/* partitioner: EWMA correction of predicted node times per (device profile, op class), with JSON persistence. */
#include "partitioner/correction.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

void cl_correction_init(cl_correction *c, cleave_ctx *ctx) {
  memset(c, 0, sizeof *c);
  c->ctx = ctx;
  c->alpha = 0.2;
}

static int find(const cl_correction *c, const char *device) {
  for (int i = 0; i < c->n_devices; i++)
    if (strcmp(c->dev[i].name, device) == 0) return i;
  return -1;
}

static int add(cl_correction *c, const char *device) {
  if (c->n_devices >= CL_CORR_MAX_DEVICES)
    return cl_err(c->ctx, CLEAVE_ELIMIT, "correction: more than %d devices", CL_CORR_MAX_DEVICES);
  int i = c->n_devices++;
  memset(&c->dev[i], 0, sizeof c->dev[i]);
  snprintf(c->dev[i].name, sizeof c->dev[i].name, "%s", device);
  for (int k = 0; k < CL_OPC_COUNT; k++)
    c->dev[i].factor[k] = 1;
  return i;
}

int cl_correction_observe(cl_correction *c, const char *device, cl_op_class k, double measured_ms,
                          double predicted_ms) {
  if (!device || (unsigned)k >= CL_OPC_COUNT) return cl_err(c->ctx, CLEAVE_EINVAL, "correction: bad argument");
  if (!(measured_ms > 0) || !(predicted_ms > 0) || !isfinite(measured_ms) || !isfinite(predicted_ms)) return 0;
  int i = find(c, device);
  if (i < 0 && (i = add(c, device)) < 0) return i;
  double r = measured_ms / predicted_ms;
  /* the first observation replaces the prior of 1; later ones are averaged in */
  double *f = &c->dev[i].factor[k];
  *f = c->dev[i].count[k] == 0 ? r : (1 - c->alpha) * *f + c->alpha * r;
  c->dev[i].count[k]++;
  return 0;
}

double cl_correction_factor(const cl_correction *c, const char *device, cl_op_class k) {
  if (!c || !device || (unsigned)k >= CL_OPC_COUNT) return 1;
  int i = find(c, device);
  return i < 0 ? 1 : c->dev[i].factor[k];
}

long cl_correction_count(const cl_correction *c, const char *device) {
  int i = c && device ? find(c, device) : -1;
  long n = 0;
  for (int k = 0; i >= 0 && k < CL_OPC_COUNT; k++)
    n += c->dev[i].count[k];
  return n;
}

int cl_correction_save(const cl_correction *c, const char *path) {
  json_t *root = json_object(), *devs = json_object();
  int rc = 0, bad = 0;
  if (!root || !devs) {
    rc = cl_err(c->ctx, CLEAVE_ENOMEM, "out of memory");
    goto out;
  }
  bad |= json_object_set_new(root, "alpha", json_real(c->alpha));
  for (int i = 0; i < c->n_devices; i++) {
    json_t *d = json_object();
    if (!d) {
      bad = 1;
      break;
    }
    for (int k = 0; k < CL_OPC_COUNT; k++) {
      if (!c->dev[i].count[k]) continue;
      bad |= json_object_set_new(
          d, cl_op_class_name(k),
          json_pack("{s:f,s:I}", "factor", c->dev[i].factor[k], "count", (json_int_t)c->dev[i].count[k]));
    }
    bad |= json_object_set_new(devs, c->dev[i].name, d);
  }
  bad |= json_object_set(root, "devices", devs);
  if (bad) {
    rc = cl_err(c->ctx, CLEAVE_ENOMEM, "out of memory");
    goto out;
  }
  if (json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
    rc = cl_err(c->ctx, CLEAVE_EIO, "correction %s: cannot write", path);
out:
  json_decref(root);
  json_decref(devs);
  return rc;
}

int cl_correction_load(cl_correction *c, const char *path) {
  json_error_t e;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
  if (!root) {
    if (e.line < 0 || strstr(e.text, "unable to open"))
      return cl_err(c->ctx, CLEAVE_EIO, "correction %s: %s", path, e.text);
    return cl_err(c->ctx, CLEAVE_EINVAL, "correction %s: malformed JSON at line %d column %d: %s", path, e.line,
                  e.column, e.text);
  }
  cl_correction tmp;
  cl_correction_init(&tmp, c->ctx);
  int rc = 0;
  json_t *alpha = json_object_get(root, "alpha"), *devs = json_object_get(root, "devices");
  if (alpha) {
    if (!json_is_number(alpha) || !(json_number_value(alpha) > 0) || json_number_value(alpha) > 1) {
      rc = cl_err(c->ctx, CLEAVE_EINVAL, "correction %s: 'alpha' must be a number in (0, 1]", path);
      goto out;
    }
    tmp.alpha = json_number_value(alpha);
  }
  if (!json_is_object(devs)) {
    rc = cl_err(c->ctx, CLEAVE_EINVAL, "correction %s: 'devices' must be an object", path);
    goto out;
  }
  const char *name, *cls;
  json_t *d, *v;
  json_object_foreach(devs, name, d) {
    if (!json_is_object(d) || strlen(name) >= CL_PROFILE_NAME_MAX) {
      rc = cl_err(c->ctx, CLEAVE_EINVAL, "correction %s: device '%.64s' must be an object (name under 64 chars)",
                  path, name);
      goto out;
    }
    int i = add(&tmp, name);
    if (i < 0) {
      rc = i;
      goto out;
    }
    json_object_foreach(d, cls, v) {
      int k = -1;
      for (int j = 0; j < CL_OPC_COUNT; j++)
        if (strcmp(cls, cl_op_class_name(j)) == 0) k = j;
      json_t *f = json_object_get(v, "factor"), *n = json_object_get(v, "count");
      if (k < 0 || !json_is_number(f) || !(json_number_value(f) > 0) || !isfinite(json_number_value(f)) ||
          !json_is_integer(n) || json_integer_value(n) < 0) {
        rc = cl_err(c->ctx, CLEAVE_EINVAL,
                    "correction %s: devices.%s.%.32s must be a known op class with a positive 'factor' and a "
                    "'count' >= 0",
                    path, name, cls);
        goto out;
      }
      tmp.dev[i].factor[k] = json_number_value(f);
      tmp.dev[i].count[k] = (long)json_integer_value(n);
    }
  }
  *c = tmp;
out:
  json_decref(root);
  return rc;
}
