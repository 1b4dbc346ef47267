/* remote: edges (include/cleave/edge.h): Open Inference Protocol requests over the HTTP/2 client, and what the
 * engine asks of a cleave gateway beyond them (remote/edge_impl.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/model.h"
#include "core/ir/result.h"
#include "remote/edge_impl.h"
#include "remote/h2_client.h"
#include "remote/oip.h"

#define PROBE_MAX_BYTES ((size_t)4 << 20) /* the gateway's limit on a probe's body */
#define LINK_EWMA 0.3                     /* weight of a new sample from a request */
#define PROBE_EWMA 0.6                    /* and from a probe, which carries nothing else and is sent to see changes */
#define PROBE_JUMP 2.0                    /* a probe this far from the estimate either way replaces it: links jump */
#define PROBE_SECONDS 0.1                 /* a probe carries about this much of the way's estimated rate */
#define PROBE_MIN_BYTES (64 << 10)
#define PROBE_SIZE_MAX_BYTES (256 << 10)
#define PROBE_TIMEOUT_MS 10000
#define MIN_SAMPLE_BYTES (16 << 10) /* transfers smaller than this say little about the rate */

struct cleave_edge_options {
  char *ca, *cert, *key, *token;
  int timeout_ms, max_connections, health_ms, ping_ms;
  int upload;
};

struct cleave_edge {
  cleave_ctx *ctx;
  uv_loop_t *loop; /* the context's: the host's, or its own */
  cl_h2_client *c;
  char *url;
  int timeout_ms;
  bool upload;
  int n_work; /* uploads reading their model file on the thread pool */
  bool closing, client_closed;
  void (*done)(void *);
  void *done_arg;
  /* the path as measured end to end (cl_edge_link_*), shared by every session on the edge */
  double up_mbps, down_mbps; /* 0 while unknown */
  double up_at, down_at;     /* ms of the last sample of each way */
  bool probing;
  double probe_at; /* the last probe's start or end */
};

struct cleave_edge_req {
  cleave_edge *e;
  cleave_edge_cb cb;
  void *user;
  uint8_t *body;
  size_t body_len;
  char hlen[24]; /* "" when the body is JSON only */
  char path[512];
  int timeout_ms;
  cl_h2_call *call;
  double t0;
  /* partial offload: what an upload needs */
  char *model_path;
  char name[129], sha256[65];
  bool uploaded, canceled;
  bool upload_only; /* cl_edge_ensure_model: the answer is the upload's */
  uv_work_t work;
  uint8_t *file;
  size_t file_len;
  int file_errno;
};

/* ---- options ---- */

int cleave_edge_options_new(cleave_edge_options **out) {
  if (!out) return CLEAVE_EINVAL;
  cleave_edge_options *o = calloc(1, sizeof *o);
  if (!o) return CLEAVE_ENOMEM;
  o->timeout_ms = 30000;
  o->max_connections = 2;
  o->health_ms = 5000;
  o->ping_ms = 2000;
  o->upload = 1;
  *out = o;
  return 0;
}

void cleave_edge_options_free(cleave_edge_options *o) {
  if (!o) return;
  free(o->ca);
  free(o->cert);
  free(o->key);
  free(o->token);
  free(o);
}

static int set_str(char **dst, const char *v) {
  if (!v || !*v) return CLEAVE_EINVAL;
  char *c = strdup(v);
  if (!c) return CLEAVE_ENOMEM;
  free(*dst);
  *dst = c;
  return 0;
}

int cleave_edge_options_set_ca_file(cleave_edge_options *o, const char *path) {
  return o ? set_str(&o->ca, path) : CLEAVE_EINVAL;
}

int cleave_edge_options_set_client_cert(cleave_edge_options *o, const char *cert, const char *key) {
  if (!o) return CLEAVE_EINVAL;
  int rc = set_str(&o->cert, cert);
  return rc ? rc : set_str(&o->key, key);
}

int cleave_edge_options_set_token(cleave_edge_options *o, const char *token) {
  return o ? set_str(&o->token, token) : CLEAVE_EINVAL;
}

int cleave_edge_options_set_timeout_ms(cleave_edge_options *o, int ms) {
  if (!o || ms < 0) return CLEAVE_EINVAL;
  o->timeout_ms = ms;
  return 0;
}

int cleave_edge_options_set_max_connections(cleave_edge_options *o, int n) {
  if (!o || n < 1 || n > 64) return CLEAVE_EINVAL;
  o->max_connections = n;
  return 0;
}

int cleave_edge_options_set_probes(cleave_edge_options *o, int health_interval_ms, int ping_interval_ms) {
  if (!o || health_interval_ms < 0 || ping_interval_ms < 0) return CLEAVE_EINVAL;
  o->health_ms = health_interval_ms;
  o->ping_ms = ping_interval_ms;
  return 0;
}

void cleave_edge_options_set_upload(cleave_edge_options *o, int on) {
  if (o) o->upload = on != 0;
}

/* ---- the edge ---- */

int cleave_edge_new(cleave_ctx *ctx, const char *url, const cleave_edge_options *opt, cleave_edge **out) {
  if (!ctx || !url || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_edge_new: NULL argument");
  *out = NULL;
  uv_loop_t *loop = cl_ctx_loop(ctx);
  if (!loop) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory creating the context's loop");
  cleave_edge_options defaults = {
      .timeout_ms = 30000, .max_connections = 2, .health_ms = 5000, .ping_ms = 2000, .upload = 1};
  if (!opt) opt = &defaults;
  cleave_edge *e = cl_calloc(ctx, 1, sizeof *e);
  if (!e || !(e->url = cl_strdup(ctx, url))) {
    cl_free(ctx, e);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  e->ctx = ctx;
  e->loop = loop;
  e->timeout_ms = opt->timeout_ms;
  e->upload = opt->upload;
  cl_h2_client_config cfg = {.url = url,
                             .ca_file = opt->ca,
                             .cert_file = opt->cert,
                             .key_file = opt->key,
                             .token = opt->token,
                             .max_connections = opt->max_connections,
                             .connect_timeout_ms = 5000,
                             .health_interval_ms = opt->health_ms,
                             .ping_interval_ms = opt->ping_ms};
  int rc = cl_h2_client_new(ctx, loop, &cfg, &e->c);
  if (rc) {
    cl_free(ctx, e->url);
    cl_free(ctx, e);
    return rc;
  }
  *out = e;
  return 0;
}

static void edge_free(cleave_edge *e) {
  void (*done)(void *) = e->done;
  void *arg = e->done_arg;
  cl_free(e->ctx, e->url);
  cl_free(e->ctx, e);
  if (done) done(arg);
}

static void on_client_closed(void *arg) {
  cleave_edge *e = arg;
  e->client_closed = true;
  if (e->n_work == 0) edge_free(e);
}

void cleave_edge_close(cleave_edge *e, void (*done)(void *), void *arg) {
  if (!e || e->closing) return;
  e->closing = true;
  e->done = done;
  e->done_arg = arg;
  cl_h2_client_close(e->c, on_client_closed, e);
}

void cleave_edge_get_stats(const cleave_edge *e, cleave_edge_stats *out) {
  memset(out, 0, sizeof *out);
  if (!e) return;
  cl_h2_client_stats s;
  cl_h2_client_get_stats(e->c, &s);
  double up, down;
  cl_edge_link_rates(e, &up, &down);
  *out = (cleave_edge_stats){.rtt_ms = s.rtt_ms,
                             .rtt_min_ms = s.rtt_min_ms,
                             .up_mbps = up > 0 ? up : s.up_mbps,
                             .down_mbps = down > 0 ? down : s.down_mbps,
                             .healthy = s.healthy,
                             .load_queue = s.load_queue,
                             .load_wait_ms = s.load_wait_ms,
                             .requests = s.requests,
                             .failures = s.failures,
                             .bytes_up = s.bytes_up,
                             .bytes_down = s.bytes_down};
}

/* ---- requests ---- */

static void req_free(cleave_edge_req *r) {
  cleave_ctx *ctx = r->e->ctx;
  cl_free(ctx, r->body);
  cl_free(ctx, r->model_path);
  free(r->file);
  cl_free(ctx, r);
}

/* Calls back once and releases the request. On error the context's last error already says why. */
static void finish(cleave_edge_req *r, int status, cleave_result *result) {
  r->cb(r->user, status, result);
  req_free(r);
}

/* An HTTP error status as a cleave error, with the server's {"error": ...} text in the message. */
static int status_error(cleave_edge *e, const cl_h2_reply *rep, const char *what) {
  int code;
  switch (rep->status) {
  case 400: code = CLEAVE_EINVAL; break;
  case 401:
  case 403: code = CLEAVE_EAUTH; break;
  case 404: code = CLEAVE_ENOTFOUND; break;
  case 413: code = CLEAVE_ELIMIT; break;
  case 429:
  case 503: code = CLEAVE_EBUSY; break;
  default: code = CLEAVE_EHTTP; break;
  }
  json_t *j = json_loadb((const char *)rep->body, rep->body_len, 0, NULL);
  const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
  int rc = cl_err(e->ctx, code, "edge %s answered %s with HTTP %d: %s", e->url, what, rep->status,
                  msg ? msg : "(no error message)");
  json_decref(j);
  return rc;
}

static int send_infer(cleave_edge_req *r);
static void start_upload(cleave_edge_req *r);

static void on_infer_reply(void *user, int err, const cl_h2_reply *rep) {
  cleave_edge_req *r = user;
  cleave_edge *e = r->e;
  r->call = NULL;
  if (err) {
    finish(r, err, NULL);
    return;
  }
  if (rep->status == 404 && r->model_path && e->upload && !r->uploaded && !r->canceled) {
    const char *why = cl_h2_header_find(rep->headers, rep->n_headers, "cleave-error");
    if (why && strcmp(why, "model-not-found") == 0) {
      start_upload(r);
      return;
    }
  }
  if (rep->status != 200) {
    finish(r, status_error(e, rep, "the inference request"), NULL);
    return;
  }
  long long hlen = -1;
  const char *h = cl_h2_header_find(rep->headers, rep->n_headers, CL_OIP_HEADER_LEN);
  if (h) {
    char *end;
    hlen = strtoll(h, &end, 10);
    if (*end || end == h || hlen < 0) {
      finish(r, cl_err(e->ctx, CLEAVE_EPROTO, "edge %s sent a bad Inference-Header-Content-Length '%s'", e->url, h),
             NULL);
      return;
    }
  }
  cl_oip_message m;
  int rc = cl_oip_decode(e->ctx, false, rep->body, rep->body_len, hlen, &m);
  if (rc) {
    finish(r,
           cl_err(e->ctx, CLEAVE_EPROTO, "edge %s: the answer is not an inference response: %s", e->url,
                  cleave_ctx_last_error(e->ctx)),
           NULL);
    return;
  }
  cleave_result *res = NULL;
  rc = cl_result_from_tensors(e->ctx, m.tensors, m.n_tensors, cl_now_ms() - r->t0, &res);
  cl_oip_message_release(e->ctx, &m);
  if (res) { /* what the gateway says of its queue and its run (absent on other servers: -1) */
    const char *st = cl_h2_header_find(rep->headers, rep->n_headers, "server-timing");
    res->edge_recv_ms = cl_h2_server_timing(st, "recv");
    res->edge_queue_ms = cl_h2_server_timing(st, "queue");
    res->edge_compute_ms = cl_h2_server_timing(st, "run");
  }
  finish(r, rc, res);
}

static int send_infer(cleave_edge_req *r) {
  cl_h2_header hs[2] = {{"content-type", r->hlen[0] ? "application/octet-stream" : "application/json"},
                        {CL_OIP_HEADER_LEN, r->hlen}};
  struct cl_h2_client_request q = {.method = "POST",
                                   .path = r->path,
                                   .headers = hs,
                                   .n_headers = r->hlen[0] ? 2 : 1,
                                   .body = r->body,
                                   .body_len = r->body_len,
                                   .timeout_ms = r->timeout_ms};
  return cl_h2_client_request(r->e->c, &q, on_infer_reply, r, &r->call);
}

/* ---- upload when the gateway lacks the model ---- */

static void on_upload_reply(void *user, int err, const cl_h2_reply *rep) {
  cleave_edge_req *r = user;
  cleave_edge *e = r->e;
  r->call = NULL;
  free(r->file);
  r->file = NULL;
  if (err) {
    finish(r, err, NULL);
    return;
  }
  if (rep->status != 200 && rep->status != 201) {
    finish(r, status_error(e, rep, "the model upload"), NULL);
    return;
  }
  r->uploaded = true;
  if (r->upload_only) {
    finish(r, 0, NULL);
    return;
  }
  int rc = send_infer(r);
  if (rc) finish(r, rc, NULL);
}

static void read_model(uv_work_t *w) {
  cleave_edge_req *r = w->data;
  FILE *f = fopen(r->model_path, "rb");
  if (!f) {
    r->file_errno = errno;
    return;
  }
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (r->file = malloc((size_t)n + 1))) {
      r->file_len = (size_t)n;
      if (fread(r->file, 1, (size_t)n, f) != (size_t)n) {
        free(r->file);
        r->file = NULL;
      }
    }
  }
  if (!r->file) r->file_errno = errno ? errno : EIO;
  fclose(f);
}

static void after_read_model(uv_work_t *w, int status) {
  cleave_edge_req *r = w->data;
  cleave_edge *e = r->e;
  e->n_work--;
  int rc = 0;
  if (r->canceled || e->closing || status) {
    rc = cl_err(e->ctx, CLEAVE_ECANCELED, "request to edge %s canceled during the model upload", e->url);
  } else if (!r->file) {
    rc = cl_err(e->ctx, CLEAVE_EIO, "uploading to edge %s: cannot read %s: %s", e->url, r->model_path,
                strerror(r->file_errno));
  } else {
    char path[512];
    snprintf(path, sizeof path, "/v2/repository/models/%s/versions/%s", r->name, r->sha256);
    cl_h2_header hs[1] = {{"content-type", "application/octet-stream"}};
    struct cl_h2_client_request q = {.method = "PUT",
                                     .path = path,
                                     .headers = hs,
                                     .n_headers = 1,
                                     .body = r->file,
                                     .body_len = r->file_len,
                                     .timeout_ms = r->timeout_ms};
    rc = cl_h2_client_request(e->c, &q, on_upload_reply, r, &r->call);
  }
  if (rc) finish(r, rc, NULL);
  if (e->client_closed && e->n_work == 0) edge_free(e);
}

static void start_upload(cleave_edge_req *r) {
  cleave_edge *e = r->e;
  r->work.data = r;
  e->n_work++;
  /* the model file may be large: it is read on the thread pool, not the loop */
  if (uv_queue_work(e->loop, &r->work, read_model, after_read_model)) {
    e->n_work--;
    finish(r, cl_err(e->ctx, CLEAVE_ENOMEM, "cannot queue the model upload"), NULL);
  }
}

/* ---- the public calls ---- */

/* A request for path, with what an upload of model (named name on the gateway) needs; NULL when out of memory. */
static cleave_edge_req *req_new(cleave_edge *e, const char *path, const cleave_model *model, const char *name,
                                int timeout_ms, cleave_edge_cb cb, void *user) {
  cleave_edge_req *r = cl_calloc(e->ctx, 1, sizeof *r);
  if (!r) return NULL;
  r->e = e;
  r->cb = cb;
  r->user = user;
  r->t0 = cl_now_ms();
  r->timeout_ms = timeout_ms < 0 ? e->timeout_ms : timeout_ms;
  snprintf(r->path, sizeof r->path, "%s", path);
  if (model) {
    snprintf(r->name, sizeof r->name, "%s", name);
    memcpy(r->sha256, model->sha256, sizeof r->sha256);
    if (model->path && !(r->model_path = cl_strdup(e->ctx, model->path))) {
      req_free(r);
      return NULL;
    }
  }
  return r;
}

static int start(cleave_edge *e, const char *path, const cleave_model *model, const char *name,
                 const cleave_tensor *inputs, size_t n_inputs, const char *const *outputs, int n_outputs,
                 int timeout_ms, cleave_edge_cb cb, void *user, cleave_edge_req **out) {
  cleave_ctx *ctx = e->ctx;
  if (out) *out = NULL;
  if (e->closing) return cl_err(ctx, CLEAVE_EINVAL, "the edge is closing");
  if (!cb || !n_inputs || !inputs || n_inputs > CL_OIP_MAX_TENSORS || n_outputs < 0 ||
      n_outputs > CL_OIP_MAX_TENSORS || (n_outputs && !outputs))
    return cl_err(ctx, CLEAVE_EINVAL, "edge infer: a callback and 1 to %d inputs are needed", CL_OIP_MAX_TENSORS);
  cleave_edge_req *r = req_new(e, path, model, name, timeout_ms, cb, user);
  if (!r) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  cl_oip_out in[CL_OIP_MAX_TENSORS];
  for (size_t i = 0; i < n_inputs; i++)
    in[i] = (cl_oip_out){&inputs[i], true};
  long long hlen;
  int rc =
      cl_oip_encode_request(ctx, NULL, in, (int)n_inputs, outputs, n_outputs, true, &r->body, &r->body_len, &hlen);
  if (!rc) {
    snprintf(r->hlen, sizeof r->hlen, "%lld", hlen);
    rc = send_infer(r);
  }
  if (rc) {
    req_free(r);
    return rc;
  }
  if (out) *out = r;
  return 0;
}

static bool path_safe(const char *s) { return s && s[0] && strlen(s) <= 128 && !strpbrk(s, "/?#% \t\r\n"); }

int cleave_edge_infer(cleave_edge *e, const char *model_name, const char *version, const cleave_tensor *inputs,
                      size_t n_inputs, const char *const *outputs, int n_outputs, int timeout_ms, cleave_edge_cb cb,
                      void *user, cleave_edge_req **req) {
  if (!e) return CLEAVE_EINVAL;
  if (!path_safe(model_name) || (version && !path_safe(version)))
    return cl_err(e->ctx, CLEAVE_EINVAL, "edge infer: the model name and version must be non-empty path segments");
  char path[512];
  if (version)
    snprintf(path, sizeof path, "/v2/models/%s/versions/%s/infer", model_name, version);
  else
    snprintf(path, sizeof path, "/v2/models/%s/infer", model_name);
  return start(e, path, NULL, NULL, inputs, n_inputs, outputs, n_outputs, timeout_ms, cb, user, req);
}

int cleave_edge_infer_cut(cleave_edge *e, const cleave_model *model, const char *name, const cleave_tensor *inputs,
                          size_t n_inputs, const char *const *outputs, int n_outputs, int timeout_ms,
                          cleave_edge_cb cb, void *user, cleave_edge_req **req) {
  if (!e) return CLEAVE_EINVAL;
  if (!model || !path_safe(name))
    return cl_err(e->ctx, CLEAVE_EINVAL,
                  "edge infer: a model and a name that is a non-empty path segment are needed");
  char path[512];
  snprintf(path, sizeof path, "/v2/models/%s/versions/%s/infer", name, model->sha256);
  return start(e, path, model, name, inputs, n_inputs, outputs, n_outputs, timeout_ms, cb, user, req);
}

void cleave_edge_cancel(cleave_edge_req *r) {
  if (!r || r->canceled) return;
  r->canceled = true;
  if (r->call) cl_h2_call_cancel(r->call); /* the callback follows with CLEAVE_ECANCELED */
  /* an upload reading its file finishes as canceled when the read is done */
}

/* ---- for the engine (remote/edge_impl.h) ---- */

const char *cl_edge_url(const cleave_edge *e) { return e ? e->url : NULL; }

typedef struct edge_call {
  cleave_edge *e;
  cl_edge_get_cb get;
  cl_edge_probe_cb probe;
  void *user;
  void *body; /* a probe's filler */
  double t0;
} edge_call;

static void on_get_reply(void *user, int err, const cl_h2_reply *rep) {
  edge_call *k = user;
  cleave_ctx *ctx = k->e->ctx;
  if (err)
    k->get(k->user, err, 0, NULL, 0);
  else
    k->get(k->user, 0, rep->status, (const char *)rep->body, rep->body_len);
  cl_free(ctx, k);
}

static bool get_path_ok(const char *p) {
  if (!p || p[0] != '/' || strlen(p) > 1024) return false;
  for (; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
  return true;
}

int cl_edge_get(cleave_edge *e, const char *path, int timeout_ms, cl_edge_get_cb cb, void *user) {
  if (!e) return CLEAVE_EINVAL;
  if (e->closing) return cl_err(e->ctx, CLEAVE_EINVAL, "the edge is closing");
  if (!cb || !get_path_ok(path))
    return cl_err(e->ctx, CLEAVE_EINVAL, "edge GET: a callback and a path of 1-1024 visible characters from '/'");
  edge_call *k = cl_calloc(e->ctx, 1, sizeof *k);
  if (!k) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  *k = (edge_call){.e = e, .get = cb, .user = user};
  struct cl_h2_client_request q = {
      .method = "GET", .path = path, .timeout_ms = timeout_ms < 0 ? e->timeout_ms : timeout_ms};
  int rc = cl_h2_client_request(e->c, &q, on_get_reply, k, NULL);
  if (rc) cl_free(e->ctx, k);
  return rc;
}

static void on_probe_reply(void *user, int err, const cl_h2_reply *rep) {
  edge_call *k = user;
  cleave_edge *e = k->e;
  double ms = cl_now_ms() - k->t0;
  if (!err && rep->status != 200) err = status_error(e, rep, "the probe");
  double recv = err ? -1 : cl_h2_server_timing(cl_h2_header_find(rep->headers, rep->n_headers, "server-timing"), "recv");
  k->probe(k->user, err, err ? 0 : ms, recv);
  cl_free(e->ctx, k->body);
  cl_free(e->ctx, k);
}

int cl_edge_probe(cleave_edge *e, size_t up_bytes, size_t down_bytes, int timeout_ms, cl_edge_probe_cb cb,
                  void *user) {
  if (!e) return CLEAVE_EINVAL;
  if (e->closing) return cl_err(e->ctx, CLEAVE_EINVAL, "the edge is closing");
  if (!cb || up_bytes > PROBE_MAX_BYTES || down_bytes > PROBE_MAX_BYTES)
    return cl_err(e->ctx, CLEAVE_EINVAL, "edge probe: a callback and at most %zu bytes each way are needed",
                  PROBE_MAX_BYTES);
  edge_call *k = cl_calloc(e->ctx, 1, sizeof *k);
  if (!k || (up_bytes && !(k->body = cl_calloc(e->ctx, 1, up_bytes)))) {
    cl_free(e->ctx, k);
    return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  }
  k->e = e;
  k->probe = cb;
  k->user = user;
  char path[64] = "/v2/cleave/probe";
  if (down_bytes) snprintf(path, sizeof path, "/v2/cleave/probe?down=%zu", down_bytes);
  cl_h2_header hs[1] = {{"content-type", "application/octet-stream"}};
  struct cl_h2_client_request q = {.method = "POST",
                                   .path = path,
                                   .headers = hs,
                                   .n_headers = 1,
                                   .body = k->body,
                                   .body_len = up_bytes,
                                   .timeout_ms = timeout_ms < 0 ? e->timeout_ms : timeout_ms};
  k->t0 = cl_now_ms();
  int rc = cl_h2_client_request(e->c, &q, on_probe_reply, k, NULL);
  if (rc) {
    cl_free(e->ctx, k->body);
    cl_free(e->ctx, k);
  }
  return rc;
}

/* ---- the path as measured end to end ---- */

static void ewma(double *x, double v, double w) { *x = *x > 0 ? (1 - w) * *x + w * v : v; }

/* A sample of one way: bytes in ms. */
static void take(double *rate, double *at, double bytes, double ms, cl_link_sample_kind kind) {
  if (!(ms > 0.5) || bytes < MIN_SAMPLE_BYTES) return;
  double sample = bytes * 8 / (ms * 1e3);
  if (kind == CL_LINK_AT_MOST) { /* the rate is at most the sample: taken at once, links drop abruptly */
    if (*rate > 0 && sample >= *rate) return;
    *rate = sample;
  } else if (kind == CL_LINK_PROBE && *rate > 0 && (sample > PROBE_JUMP * *rate || sample * PROBE_JUMP < *rate)) {
    *rate = sample;
  } else {
    ewma(rate, sample, kind == CL_LINK_PROBE ? PROBE_EWMA : LINK_EWMA);
  }
  *at = cl_now_ms();
}

static double rtt_min(const cleave_edge *e) {
  cl_h2_client_stats st;
  cl_h2_client_get_stats(e->c, &st);
  return st.rtt_min_ms > 0 ? st.rtt_min_ms : 0;
}

void cl_edge_link_sample(cleave_edge *e, double up, double down, double net_ms, double up_ms,
                         cl_link_sample_kind kind) {
  if (!e || !(net_ms > 0)) return;
  double t = net_ms - rtt_min(e);
  if (up_ms >= 0 && kind != CL_LINK_AT_MOST) { /* the edge timed the upload: both ways are seen */
    take(&e->up_mbps, &e->up_at, up, up_ms, kind);
    take(&e->down_mbps, &e->down_at, down, t - up_ms, kind);
  } else if (up >= down) { /* the way that dominated, the other's share taken off at its rate */
    if (e->down_mbps > 0) t -= down * 8 / (e->down_mbps * 1e3);
    take(&e->up_mbps, &e->up_at, up, t, kind);
  } else {
    if (e->up_mbps > 0) t -= up * 8 / (e->up_mbps * 1e3);
    take(&e->down_mbps, &e->down_at, down, t, kind);
  }
}

void cl_edge_link_rates(const cleave_edge *e, double *up_mbps, double *down_mbps) {
  double now = cl_now_ms();
  *up_mbps = e && e->up_at > 0 && now - e->up_at < CL_EDGE_LINK_FRESH_MS ? e->up_mbps : 0;
  *down_mbps = e && e->down_at > 0 && now - e->down_at < CL_EDGE_LINK_FRESH_MS ? e->down_mbps : 0;
}

typedef struct link_probe {
  cleave_edge *e;
  size_t up, down;
  cl_edge_probe_cb cb;
  void *user;
} link_probe;

static void on_link_probe(void *user, int status, double ms, double recv_ms) {
  link_probe *lp = user;
  cleave_edge *e = lp->e;
  e->probing = false;
  e->probe_at = cl_now_ms();
  if (!status) cl_edge_link_sample(e, (double)lp->up, (double)lp->down, ms, recv_ms, CL_LINK_PROBE);
  if (lp->cb) lp->cb(lp->user, status, ms, recv_ms);
  cl_free(e->ctx, lp);
}

static size_t probe_size(double mbps) {
  double bytes = (mbps > 0 ? mbps : 1) * 1e6 / 8 * PROBE_SECONDS;
  if (bytes < PROBE_MIN_BYTES) bytes = PROBE_MIN_BYTES;
  if (bytes > PROBE_SIZE_MAX_BYTES) bytes = PROBE_SIZE_MAX_BYTES;
  return (size_t)bytes;
}

int cl_edge_link_probe(cleave_edge *e, double min_gap_ms, cl_edge_probe_cb cb, void *user) {
  if (!e) return CLEAVE_EINVAL;
  if (e->probing || (e->probe_at > 0 && cl_now_ms() - e->probe_at < min_gap_ms)) return CLEAVE_EBUSY;
  link_probe *lp = cl_calloc(e->ctx, 1, sizeof *lp);
  if (!lp) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  *lp = (link_probe){.e = e, .up = probe_size(e->up_mbps), .down = probe_size(e->down_mbps), .cb = cb, .user = user};
  int rc = cl_edge_probe(e, lp->up, lp->down, PROBE_TIMEOUT_MS, on_link_probe, lp);
  if (rc) {
    cl_free(e->ctx, lp);
    return rc;
  }
  e->probing = true;
  e->probe_at = cl_now_ms();
  return 0;
}

/* ---- making sure the gateway has a model ---- */

static void on_ready_reply(void *user, int err, const cl_h2_reply *rep) {
  cleave_edge_req *r = user;
  cleave_edge *e = r->e;
  r->call = NULL;
  if (err) {
    finish(r, err, NULL);
  } else if (rep->status == 200) {
    finish(r, 0, NULL);
  } else if (rep->status == 404 && e->upload && r->model_path && !r->canceled) {
    start_upload(r);
  } else if (rep->status == 404) {
    finish(r,
           cl_err(e->ctx, CLEAVE_ENOTFOUND, "edge %s lacks model %s version %s and %s", e->url, r->name, r->sha256,
                  r->model_path ? "uploads are off" : "the model has no file to upload"),
           NULL);
  } else {
    finish(r, status_error(e, rep, "the readiness check"), NULL);
  }
}

int cl_edge_ensure_model(cleave_edge *e, const cleave_model *model, const char *name, int timeout_ms,
                         cleave_edge_cb cb, void *user, cleave_edge_req **out) {
  if (out) *out = NULL;
  if (!e) return CLEAVE_EINVAL;
  if (e->closing) return cl_err(e->ctx, CLEAVE_EINVAL, "the edge is closing");
  if (!cb || !model || !path_safe(name))
    return cl_err(e->ctx, CLEAVE_EINVAL, "edge model check: a callback, a model and a path-segment name are needed");
  char path[512];
  snprintf(path, sizeof path, "/v2/models/%s/versions/%s/ready", name, model->sha256);
  cleave_edge_req *r = req_new(e, path, model, name, timeout_ms, cb, user);
  if (!r) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  r->upload_only = true;
  struct cl_h2_client_request q = {.method = "GET", .path = r->path, .timeout_ms = r->timeout_ms};
  int rc = cl_h2_client_request(e->c, &q, on_ready_reply, r, &r->call);
  if (rc) {
    req_free(r);
    return rc;
  }
  if (out) *out = r;
  return 0;
}
