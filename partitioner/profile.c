/* partitioner: device profiles from JSON, op classes, the roofline time of a node. */
#include "partitioner/profile.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const class_names[CL_OPC_COUNT] = {"conv", "depthwise", "gemm", "elementwise", "pool", "data"};
static const char *const kind_names[] = {
    [CL_DEV_CPU] = "cpu", [CL_DEV_GPU] = "gpu", [CL_DEV_NPU] = "npu", [CL_DEV_EDGE] = "edge"};

const char *cl_op_class_name(int c) { return c >= 0 && c < CL_OPC_COUNT ? class_names[c] : NULL; }

static bool in_list(const char *op, const char *const *list) {
  for (; *list; list++)
    if (strcmp(op, *list) == 0) return true;
  return false;
}

cl_op_class cl_op_class_of(const cl_graph *g, const cl_node *n) {
  static const char *const gemm[] = {"MatMul", "Gemm", NULL};
  static const char *const pool[] = {
      "AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Upsample", "LpPool", NULL};
  static const char *const data[] = {
      "Concat",          "Transpose", "Slice",        "Gather",       "Pad",     "Reshape", "Flatten",  "Squeeze",
      "Unsqueeze",       "Split",     "Expand",       "Tile",         "Shape",   "Cast",    "Identity", "Constant",
      "ConstantOfShape", "Range",     "DepthToSpace", "SpaceToDepth", "Dropout", NULL};
  if (strcmp(n->op, "Conv") == 0 || strcmp(n->op, "ConvTranspose") == 0) {
    int64_t group = cl_attr_int(n, "group", 1);
    if (group > 1 && n->n_in > 0 && n->in[0] >= 0) {
      const cl_shape *x = &g->values[n->in[0]].shape;
      if (x->ndim >= 2 && x->d[1] == group) return CL_OPC_DEPTHWISE;
    }
    return CL_OPC_CONV;
  }
  if (in_list(n->op, gemm)) return CL_OPC_GEMM;
  if (in_list(n->op, pool)) return CL_OPC_POOL;
  if (in_list(n->op, data)) return CL_OPC_DATA;
  return CL_OPC_ELEMENTWISE;
}

bool cl_profile_supports(const cl_profile *p, const cl_graph *g, const cl_node *n) {
  if (!(p->gflops[cl_op_class_of(g, n)] > 0)) return false;
  for (int i = 0; i < p->n_unsupported; i++)
    if (strcmp(p->unsupported[i], n->op) == 0) return false;
  return true;
}

double cl_profile_node_ms(const cl_profile *p, const cl_node_cost *c, cl_op_class k) {
  double gf = p->gflops[k];
  if (!(gf > 0)) return INFINITY;
  double compute = c->flops / (gf * 1e6); /* GFLOP/s = 1e6 FLOP/ms */
  double memory = p->mem_gbps > 0 ? c->bytes / (p->mem_gbps * 1e6) : 0;
  return p->dispatch_ms + (compute > memory ? compute : memory);
}

double cl_thermal_speed(const cl_thermal_model *m, double t_c) {
  if (!(m->r_c_per_w > 0) || t_c <= m->throttle_c) return 1;
  if (t_c >= m->max_c || m->max_c <= m->throttle_c) return m->min_speed;
  double f = (t_c - m->throttle_c) / (m->max_c - m->throttle_c);
  return 1 - f * (1 - m->min_speed);
}

/* ---- JSON ---- */

static int bad(cleave_ctx *ctx, const char *what, const char *key, const char *why) {
  return cl_err(ctx, CLEAVE_EINVAL, "profile %s: '%s' %s", what, key, why);
}

/* Reads a number >= lo at key into *out; absent keys keep *out unless required. */
static int num(cleave_ctx *ctx, const char *what, json_t *obj, const char *key, double lo, bool required,
               double *out) {
  json_t *v = json_object_get(obj, key);
  if (!v) return required ? bad(ctx, what, key, "is missing") : 0;
  if (!json_is_number(v)) return bad(ctx, what, key, "must be a number");
  double d = json_number_value(v);
  if (!isfinite(d) || d < lo) {
    char why[64];
    snprintf(why, sizeof why, "must be a finite number >= %g", lo);
    return bad(ctx, what, key, why);
  }
  *out = d;
  return 0;
}

static int str(cleave_ctx *ctx, const char *what, json_t *obj, const char *key, bool required, char *out,
               size_t cap) {
  json_t *v = json_object_get(obj, key);
  if (!v) return required ? bad(ctx, what, key, "is missing") : 0;
  if (!json_is_string(v)) return bad(ctx, what, key, "must be a string");
  const char *s = json_string_value(v);
  if (strlen(s) >= cap) return bad(ctx, what, key, "is too long");
  if (required && !s[0]) return bad(ctx, what, key, "must not be empty");
  memcpy(out, s, strlen(s) + 1);
  return 0;
}

static int parse_obj(cleave_ctx *ctx, json_t *root, const char *what, cl_profile *p) {
  int rc;
  memset(p, 0, sizeof *p);
  if (!json_is_object(root)) return cl_err(ctx, CLEAVE_EINVAL, "profile %s: the top level must be an object", what);
  if ((rc = str(ctx, what, root, "name", true, p->name, sizeof p->name))) return rc;
  char kind[16] = "";
  if ((rc = str(ctx, what, root, "kind", true, kind, sizeof kind))) return rc;
  int k = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(kind, kind_names[i]) == 0) k = i;
  if (k < 0) return bad(ctx, what, "kind", "must be one of cpu, gpu, npu, edge");
  p->kind = (cl_device_kind)k;
  if ((rc = str(ctx, what, root, "backend", false, p->backend, sizeof p->backend))) return rc;
  json_t *gf = json_object_get(root, "gflops");
  if (!gf) return bad(ctx, what, "gflops", "is missing");
  if (!json_is_object(gf)) return bad(ctx, what, "gflops", "must be an object of op class -> GFLOP/s");
  const char *key;
  json_t *v;
  json_object_foreach(gf, key, v) {
    int c = -1;
    for (int i = 0; i < CL_OPC_COUNT; i++)
      if (strcmp(key, class_names[i]) == 0) c = i;
    if (c < 0) {
      char why[160];
      snprintf(why, sizeof why,
               "has an unknown op class '%.40s' (known: conv, depthwise, gemm, elementwise, "
               "pool, data)",
               key);
      return bad(ctx, what, "gflops", why);
    }
    char full[64];
    snprintf(full, sizeof full, "gflops.%s", key);
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0)
      return bad(ctx, what, full, "must be a finite number >= 0");
    p->gflops[c] = json_number_value(v);
  }
  bool any = false;
  for (int i = 0; i < CL_OPC_COUNT; i++)
    any |= p->gflops[i] > 0;
  if (!any) return bad(ctx, what, "gflops", "gives no op class a positive throughput");
  if ((rc = num(ctx, what, root, "mem_gbps", 1e-9, true, &p->mem_gbps))) return rc;
  if ((rc = num(ctx, what, root, "dispatch_ms", 0, false, &p->dispatch_ms))) return rc;
  if ((rc = num(ctx, what, root, "mem_bytes", 0, false, &p->mem_bytes))) return rc;
  if ((rc = num(ctx, what, root, "xfer_gbps", 0, false, &p->xfer_gbps))) return rc;
  if ((rc = num(ctx, what, root, "xfer_ms", 0, false, &p->xfer_ms))) return rc;
  if ((rc = num(ctx, what, root, "active_w", 0, true, &p->active_w))) return rc;
  if ((rc = num(ctx, what, root, "idle_w", 0, false, &p->idle_w))) return rc;
  if ((rc = num(ctx, what, root, "cost_per_s", 0, false, &p->cost_per_s))) return rc;
  json_t *th = json_object_get(root, "thermal");
  if (th) {
    if (!json_is_object(th)) return bad(ctx, what, "thermal", "must be an object");
    cl_thermal_model *t = &p->thermal;
    t->min_speed = 1;
    if ((rc = num(ctx, what, th, "r_c_per_w", 0, true, &t->r_c_per_w)) ||
        (rc = num(ctx, what, th, "c_j_per_c", 1e-9, true, &t->c_j_per_c)) ||
        (rc = num(ctx, what, th, "ambient_c", -100, true, &t->ambient_c)) ||
        (rc = num(ctx, what, th, "throttle_c", -100, true, &t->throttle_c)) ||
        (rc = num(ctx, what, th, "max_c", -100, true, &t->max_c)) ||
        (rc = num(ctx, what, th, "min_speed", 1e-3, true, &t->min_speed)))
      return rc;
    if (t->min_speed > 1) return bad(ctx, what, "thermal.min_speed", "must be in (0, 1]");
    if (t->max_c <= t->throttle_c) return bad(ctx, what, "thermal.max_c", "must be above thermal.throttle_c");
  }
  json_t *un = json_object_get(root, "unsupported");
  if (un) {
    if (!json_is_array(un)) return bad(ctx, what, "unsupported", "must be an array of op types");
    if (json_array_size(un) > CL_PROFILE_MAX_UNSUPPORTED) return bad(ctx, what, "unsupported", "has too many ops");
    size_t i;
    json_array_foreach(un, i, v) {
      if (!json_is_string(v) || strlen(json_string_value(v)) >= CL_PROFILE_OP_MAX)
        return bad(ctx, what, "unsupported", "must hold op type names (strings under 32 characters)");
      memcpy(p->unsupported[p->n_unsupported++], json_string_value(v), strlen(json_string_value(v)) + 1);
    }
  }
  if ((rc = str(ctx, what, root, "source", false, p->source, sizeof p->source))) return rc;
  return 0;
}

int cl_profile_parse(cleave_ctx *ctx, const char *text, size_t len, const char *what, cl_profile *out) {
  if (!text || !out) return cl_err(ctx, CLEAVE_EINVAL, "cl_profile_parse: NULL argument");
  if (!what) what = "(memory)";
  json_error_t e;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
  if (!root)
    return cl_err(ctx, CLEAVE_EINVAL, "profile %s: malformed JSON at line %d column %d: %s", what, e.line, e.column,
                  e.text);
  int rc = parse_obj(ctx, root, what, out);
  json_decref(root);
  return rc;
}

int cl_profile_load(cleave_ctx *ctx, const char *path, cl_profile *out) {
  if (!path || !out) return cl_err(ctx, CLEAVE_EINVAL, "cl_profile_load: NULL argument");
  FILE *f = fopen(path, "rb");
  if (!f) return cl_err(ctx, CLEAVE_EIO, "profile %s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = cl_malloc(ctx, cap);
  int rc = 0;
  if (!buf) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto out;
  }
  for (;;) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap) break;
    if (cap >= (1u << 24)) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "profile %s: larger than 16 MB", path);
      goto out;
    }
    char *nb = cl_realloc(ctx, buf, cap * 2);
    if (!nb) {
      rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
      goto out;
    }
    buf = nb;
    cap *= 2;
  }
  if (ferror(f)) {
    rc = cl_err(ctx, CLEAVE_EIO, "profile %s: read error", path);
    goto out;
  }
  rc = cl_profile_parse(ctx, buf, n, path, out);
out:
  cl_free(ctx, buf);
  fclose(f);
  return rc;
}

json_t *cl_profile_json(const cl_profile *p) {
  json_t *root = json_object(), *gf = json_object(), *un = json_array(), *th = json_object();
  if (!root || !gf || !un || !th) goto fail;
  int bad_set = 0;
  bad_set |= json_object_set_new(root, "name", json_string(p->name));
  bad_set |= json_object_set_new(root, "kind", json_string(kind_names[p->kind]));
  bad_set |= json_object_set_new(root, "backend", json_string(p->backend));
  for (int i = 0; i < CL_OPC_COUNT; i++)
    bad_set |= json_object_set_new(gf, class_names[i], json_real(p->gflops[i]));
  bad_set |= json_object_set(root, "gflops", gf);
  bad_set |= json_object_set_new(root, "mem_gbps", json_real(p->mem_gbps));
  bad_set |= json_object_set_new(root, "dispatch_ms", json_real(p->dispatch_ms));
  bad_set |= json_object_set_new(root, "mem_bytes", json_real(p->mem_bytes));
  bad_set |= json_object_set_new(root, "xfer_gbps", json_real(p->xfer_gbps));
  bad_set |= json_object_set_new(root, "xfer_ms", json_real(p->xfer_ms));
  bad_set |= json_object_set_new(root, "active_w", json_real(p->active_w));
  bad_set |= json_object_set_new(root, "idle_w", json_real(p->idle_w));
  bad_set |= json_object_set_new(root, "cost_per_s", json_real(p->cost_per_s));
  if (p->thermal.r_c_per_w > 0) {
    const cl_thermal_model *t = &p->thermal;
    bad_set |= json_object_set_new(th, "r_c_per_w", json_real(t->r_c_per_w));
    bad_set |= json_object_set_new(th, "c_j_per_c", json_real(t->c_j_per_c));
    bad_set |= json_object_set_new(th, "ambient_c", json_real(t->ambient_c));
    bad_set |= json_object_set_new(th, "throttle_c", json_real(t->throttle_c));
    bad_set |= json_object_set_new(th, "max_c", json_real(t->max_c));
    bad_set |= json_object_set_new(th, "min_speed", json_real(t->min_speed));
    bad_set |= json_object_set(root, "thermal", th);
  }
  for (int i = 0; i < p->n_unsupported; i++)
    bad_set |= json_array_append_new(un, json_string(p->unsupported[i]));
  bad_set |= json_object_set(root, "unsupported", un);
  bad_set |= json_object_set_new(root, "source", json_string(p->source));
  if (bad_set) goto fail;
  json_decref(gf);
  json_decref(un);
  json_decref(th);
  return root;
fail:
  json_decref(root);
  json_decref(gf);
  json_decref(un);
  json_decref(th);
  return NULL;
}

int cl_profile_save(cleave_ctx *ctx, const cl_profile *p, const char *path) {
  json_t *root = cl_profile_json(p);
  if (!root) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  int rc = 0;
  if (json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)))
    rc = cl_err(ctx, CLEAVE_EIO, "profile %s: cannot write", path);
  json_decref(root);
  return rc;
}
