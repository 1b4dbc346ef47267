/* remote: cleave-gateway's HTTP side: routing, auth, validation, metadata, uploads, the profile and the probe,
 * metrics, access log. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthreadpool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ir/model.h"
#include "local/device.h"
#include "partitioner/calibrate.h"
#include "remote/gateway_impl.h"
#include "remote/tls.h"

#define SERVER_NAME "cleave-gateway"
#define PROFILE_PATH "/v2/cleave/profile"
#define PROBE_PATH "/v2/cleave/probe"

static const double latency_le_s[GW_LATENCY_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* ---- responses ---- */

static void send_json(cleave_ctx *ctx, cl_h2_response *res, int status, json_t *j) {
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  size_t n = text ? strlen(text) : 0;
  char *body = text ? cl_malloc(ctx, n + 1) : NULL;
  if (!body) {
    free(text);
    cl_h2_error(ctx, res, 500, "out of memory");
    return;
  }
  memcpy(body, text, n + 1);
  free(text);
  cl_free(ctx, res->body);
  res->body = body;
  res->body_len = n;
  res->status = status;
  res->content_type = "application/json";
}

static void add_load_hint(cl_gateway *gw, cl_h2_response *res) {
  int queued, running;
  double wait;
  cl_executor_load(gw->exec, &queued, &running, &wait);
  cl_h2_add_header(res, CL_GATEWAY_LOAD_HEADER, "queue=%d; running=%d; wait-ms=%.1f", queued, running, wait);
}

static void log_access(cl_gateway *gw, const cl_h2_request *req, int status, size_t out, double ms) {
  if (!gw->access_log) return;
  char when[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(gw->access_log, "%s %s \"%s %s HTTP/2\" %d %zu %zu %.3fms\n", when, req->peer ? req->peer : "-",
          req->method, req->path, status, req->body_len, out, ms);
}

/* Every answer goes through here: the load hint, metrics and the access log. */
static void finish(cl_gateway *gw, const cl_h2_request *req, cl_h2_response *res, double t_start) {
  add_load_hint(gw, res);
  double ms = cl_now_ms() - t_start;
  int cls = res->status / 100;
  if (cls >= 1 && cls <= 5) gw->m.by_status[cls]++;
  gw->m.bytes_in += req->body_len;
  gw->m.bytes_out += res->body_len;
  log_access(gw, req, res->status, res->body_len, ms);
}

static void observe_latency(cl_gateway *gw, double ms) {
  double s = ms / 1000;
  int b = 0;
  while (b < GW_LATENCY_BUCKETS && s > latency_le_s[b])
    b++;
  gw->m.latency_buckets[b]++;
  gw->m.latency_sum_s += s;
  gw->m.latency_count++;
}

/* ---- metadata ---- */

static json_t *tensor_meta(const cleave_tensor *t) {
  json_t *shape = json_array();
  for (int d = 0; d < t->ndim; d++)
    json_array_append_new(shape, json_integer(t->dims[d]));
  const char *dt = cl_oip_datatype(t->dtype);
  return json_pack("{s:s,s:s,s:o}", "name", t->name, "datatype", dt ? dt : "UNSUPPORTED", "shape", shape);
}

static void model_metadata(cl_gateway *gw, cl_repo_entry *e, cl_h2_response *res) {
  json_t *versions = json_array(), *inputs = json_array(), *outputs = json_array();
  for (int i = 0; i < cl_repo_count(gw->repo); i++) {
    cl_repo_entry *o = cl_repo_at(gw->repo, i);
    if (strcmp(o->name, e->name) == 0) json_array_append_new(versions, json_string(o->version));
  }
  for (int i = 0; i < cleave_model_num_inputs(e->model); i++)
    json_array_append_new(inputs, tensor_meta(cleave_model_input(e->model, i)));
  for (int i = 0; i < cleave_model_num_outputs(e->model); i++)
    json_array_append_new(outputs, tensor_meta(cleave_model_output(e->model, i)));
  send_json(gw->ctx, res, 200,
            json_pack("{s:s,s:o,s:s,s:s,s:s,s:o,s:o}", "name", e->name, "versions", versions, "platform", "onnx",
                      "version", e->version, "sha256", e->sha256, "inputs", inputs, "outputs", outputs));
}

static void metrics(cl_gateway *gw, cl_h2_response *res) {
  const gw_metrics *m = &gw->m;
  int queued, running;
  double wait;
  cl_executor_load(gw->exec, &queued, &running, &wait);
  size_t cap = 8192;
  char *b = cl_malloc(gw->ctx, cap);
  if (!b) {
    cl_h2_error(gw->ctx, res, 500, "out of memory");
    return;
  }
  size_t k = 0;
#define P(...) k += (size_t)snprintf(b + k, k < cap ? cap - k : 0, __VA_ARGS__)
  P("# HELP cleave_gateway_requests_total Requests answered, by status class.\n");
  P("# TYPE cleave_gateway_requests_total counter\n");
  for (int c = 1; c <= 5; c++)
    P("cleave_gateway_requests_total{code=\"%dxx\"} %llu\n", c, m->by_status[c]);
  P("# HELP cleave_gateway_infer_total Inference requests, by outcome.\n");
  P("# TYPE cleave_gateway_infer_total counter\n");
  P("cleave_gateway_infer_total{outcome=\"ok\"} %llu\n", m->infer_ok);
  P("cleave_gateway_infer_total{outcome=\"failed\"} %llu\n", m->infer_failed);
  P("cleave_gateway_infer_total{outcome=\"rejected_queue_full\"} %llu\n", m->rejected_full);
  P("# HELP cleave_gateway_errors_total Requests refused for want of a valid token or client certificate.\n");
  P("# TYPE cleave_gateway_errors_total counter\n");
  P("cleave_gateway_errors_total{reason=\"unauthorized\"} %llu\n", m->unauthorized);
  P("# HELP cleave_gateway_infer_latency_seconds Inference time from request to answer, queue included.\n");
  P("# TYPE cleave_gateway_infer_latency_seconds histogram\n");
  unsigned long long cum = 0;
  for (int i = 0; i < GW_LATENCY_BUCKETS; i++) {
    cum += m->latency_buckets[i];
    P("cleave_gateway_infer_latency_seconds_bucket{le=\"%g\"} %llu\n", latency_le_s[i], cum);
  }
  P("cleave_gateway_infer_latency_seconds_bucket{le=\"+Inf\"} %llu\n", m->latency_count);
  P("cleave_gateway_infer_latency_seconds_sum %.6f\n", m->latency_sum_s);
  P("cleave_gateway_infer_latency_seconds_count %llu\n", m->latency_count);
  P("# HELP cleave_gateway_run_seconds_total Time the executors spent running models.\n");
  P("# TYPE cleave_gateway_run_seconds_total counter\n");
  P("cleave_gateway_run_seconds_total %.6f\n", m->run_sum_s);
  P("# TYPE cleave_gateway_batches_total counter\ncleave_gateway_batches_total %llu\n", m->batches);
  P("# TYPE cleave_gateway_batched_requests_total counter\ncleave_gateway_batched_requests_total %llu\n",
    m->batched_requests);
  P("# HELP cleave_gateway_queue_depth Requests waiting for an executor.\n");
  P("# TYPE cleave_gateway_queue_depth gauge\ncleave_gateway_queue_depth %d\n", queued);
  P("# TYPE cleave_gateway_queue_capacity gauge\ncleave_gateway_queue_capacity %d\n", gw->cfg.queue_length);
  P("# TYPE cleave_gateway_running gauge\ncleave_gateway_running %d\n", running);
  P("# TYPE cleave_gateway_expected_wait_seconds gauge\ncleave_gateway_expected_wait_seconds %.6f\n", wait / 1000);
  P("# TYPE cleave_gateway_received_bytes_total counter\ncleave_gateway_received_bytes_total %llu\n", m->bytes_in);
  P("# TYPE cleave_gateway_sent_bytes_total counter\ncleave_gateway_sent_bytes_total %llu\n", m->bytes_out);
  P("# TYPE cleave_gateway_models gauge\ncleave_gateway_models %d\n", cl_repo_count(gw->repo));
#undef P
  if (k >= cap) k = cap - 1; /* the fixed set of lines fits; this only guards the arithmetic */
  cl_free(gw->ctx, res->body);
  res->body = b;
  res->body_len = k;
  res->status = 200;
  res->content_type = "text/plain; version=0.0.4";
}

/* ---- inference ---- */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void cut_free(void *p) {
  for (gw_cut *c = p, *n; c; c = n) {
    n = c->next;
    cl_program_free(c->meta);
    free(c->key);
    free(c);
  }
}

static bool leads_with(const cleave_tensor *t, const char *sym, bool or_unknown) {
  if (t->ndim < 1) return false;
  if (t->dim_names[0]) return strcmp(t->dim_names[0], sym) == 0;
  return or_unknown && t->dims[0] < 0;
}

/* The cut a request names: found by key, or made with a validation session. On error, status and message. */
static gw_cut *find_cut(cl_gateway *gw, cl_repo_entry *e, const cl_oip_message *msg, int *status, char *err,
                        size_t errlen) {
  const char *in[CL_OIP_MAX_TENSORS];
  size_t klen = sizeof e->sha256 + 2;
  for (int i = 0; i < msg->n_tensors; i++) {
    in[i] = msg->tensors[i].name;
    klen += strlen(in[i]) + 1;
  }
  for (int i = 0; i < msg->n_outputs; i++)
    klen += strlen(msg->outputs[i]) + 1;
  qsort(in, (size_t)msg->n_tensors, sizeof in[0], cmp_names);
  char *key = malloc(klen);
  if (!key) {
    *status = 500;
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  /* inputs sorted (their order does not matter), outputs in the order asked (it is the answer's order) */
  size_t k = (size_t)snprintf(key, klen, "%s", e->sha256);
  for (int i = 0; i < msg->n_tensors; i++)
    k += (size_t)snprintf(key + k, klen - k, "\n%s", in[i]);
  k += (size_t)snprintf(key + k, klen - k, "\n\x01");
  for (int i = 0; i < msg->n_outputs; i++)
    k += (size_t)snprintf(key + k, klen - k, "\n%s", msg->outputs[i]);
  int count = 0;
  for (gw_cut *c = e->user; c; c = c->next, count++)
    if (strcmp(c->key, key) == 0) {
      free(key);
      return c;
    }
  if (count >= GW_MAX_CUTS) {
    free(key);
    *status = 429;
    snprintf(err, errlen, "model %s version %s already has %d distinct cuts in use; no more are kept", e->name,
             e->version, GW_MAX_CUTS);
    return NULL;
  }
  gw_cut *c = calloc(1, sizeof *c);
  cl_program_spec spec = {.input_names = in,
                          .n_inputs = msg->n_tensors,
                          .output_names = (const char *const *)msg->outputs,
                          .n_outputs = msg->n_outputs};
  int rc = c ? cl_program_new(gw->ctx, e->model, &spec, &c->meta) : cl_err(gw->ctx, CLEAVE_ENOMEM, "out of memory");
  if (rc) {
    *status = rc == CLEAVE_ENOMEM ? 500 : 400;
    snprintf(err, errlen, "%s", cleave_ctx_last_error(gw->ctx));
    free(key);
    free(c);
    return NULL;
  }
  c->key = key;
  c->entry = e;
  const cleave_tensor *first = c->meta->n_in ? &c->meta->in_meta[0] : NULL;
  const char *sym = first && first->ndim >= 1 ? first->dim_names[0] : NULL;
  c->batchable = sym != NULL;
  for (int i = 0; sym && i < c->meta->n_in; i++)
    if (!leads_with(&c->meta->in_meta[i], sym, false)) c->batchable = false;
  /* shape inference may lose the symbol on the way (a Reshape to [-1, ...]): such outputs are tried, and the first
   * batched run that does not keep the batch dimension switches batching off for the cut */
  for (int i = 0; sym && i < c->meta->n_out; i++)
    if (!leads_with(&c->meta->out_meta[i], sym, true)) c->batchable = false;
  c->next = e->user;
  e->user = c;
  e->user_free = cut_free;
  return c;
}

static void not_found_model(cl_gateway *gw, cl_h2_response *res, const char *model, const char *version) {
  char msg[700];
  if (version)
    snprintf(msg, sizeof msg,
             "model '%s' version '%s' is not on this gateway; upload it with PUT /v2/repository/models/%s/versions/"
             "<sha256>",
             model, version, model);
  else
    snprintf(msg, sizeof msg, "model '%s' is not on this gateway", model);
  cl_h2_error(gw->ctx, res, 404, msg);
  /* clients tell "upload it" apart from other 404s by this header */
  cl_h2_add_header(res, "cleave-error", "model-not-found");
}

static void infer(cl_gateway *gw, const cl_h2_request *req, cl_h2_response *res, const char *model,
                  const char *version) {
  cleave_ctx *ctx = gw->ctx;
  cl_repo_entry *e = cl_repo_find(gw->repo, model, version);
  if (!e) {
    not_found_model(gw, res, model, version);
    gw->m.infer_failed++;
    return;
  }
  gw_job *job = cl_calloc(ctx, 1, sizeof *job);
  if (!job) {
    cl_h2_error(ctx, res, 500, "out of memory");
    return;
  }
  job->gw = gw;
  job->t_start = cl_now_ms();
  job->recv_ms = job->t_start > req->t_begin ? job->t_start - req->t_begin : 0;
  long long hlen = -1;
  const char *h = cl_h2_request_header(req, CL_OIP_HEADER_LEN);
  if (h) {
    char *end;
    hlen = strtoll(h, &end, 10);
    if (*end || end == h || hlen < 0) {
      cl_h2_error(ctx, res, 400, "Inference-Header-Content-Length must be a non-negative integer");
      goto fail;
    }
  }
  int rc = cl_oip_decode(ctx, true, req->body, req->body_len, hlen, &job->msg);
  if (rc) {
    cl_h2_error(ctx, res, rc == CLEAVE_ELIMIT ? 413 : rc == CLEAVE_ENOMEM ? 500 : 400, cleave_ctx_last_error(ctx));
    goto fail;
  }
  int status = 500;
  char err[1024];
  if (!(job->cut = find_cut(gw, e, &job->msg, &status, err, sizeof err))) {
    cl_h2_error(ctx, res, status, err);
    goto fail;
  }
  cl_program *meta = job->cut->meta;
  for (int i = 0; i < meta->n_in; i++)
    for (int k = 0; k < job->msg.n_tensors; k++)
      if (strcmp(job->msg.tensors[k].name, meta->in_meta[i].name) == 0) job->in[i] = &job->msg.tensors[k];
  if ((rc = cl_program_check(meta, job->msg.tensors, (size_t)job->msg.n_tensors))) {
    cl_h2_error(ctx, res, 400, cleave_ctx_last_error(ctx));
    goto fail;
  }
  for (int i = 0; i < meta->n_out; i++) {
    job->out_binary[i] = job->msg.binary_default;
    for (int k = 0; k < job->msg.n_outputs; k++)
      if (strcmp(job->msg.outputs[k], meta->out_meta[i].name) == 0) job->out_binary[i] = job->msg.output_binary[k];
  }
  /* job->pending is set after the job is queued: only the loop reads it, when the job is done, and the loop is
   * here until this returns */
  job->job.done = gw_job_done;
  if (cl_executor_submit(gw->exec, &job->job) == CLEAVE_EBUSY) {
    int queued, running;
    double wait;
    cl_executor_load(gw->exec, &queued, &running, &wait);
    cl_h2_error(ctx, res, 503, "the gateway's queue is full; retry later");
    cl_h2_add_header(res, "retry-after", "%d", (int)(wait / 1000) + 1);
    gw->m.rejected_full++;
    cl_oip_message_release(ctx, &job->msg);
    cl_free(ctx, job);
    return;
  }
  job->pending = cl_h2_defer(res);
  return;
fail:
  gw->m.infer_failed++;
  cl_oip_message_release(ctx, &job->msg);
  cl_free(ctx, job);
}

/* W3C Server-Timing: the request's arrival (recv: from its headers to its body's end, the upload's time as seen
 * here), the wait for an executor and the run that answered (the whole batch's, encoding included), which the
 * client reads into its result (edge_recv_ms, edge_queue_ms, edge_compute_ms). A job that never ran waited until
 * now. */
static void server_timing(cl_h2_response *res, const gw_job *j) {
  const cl_job *job = &j->job;
  double ran = job->t_start > 0 ? job->t_end - job->t_start : 0;
  double queued = (job->t_start > 0 ? job->t_start : cl_now_ms()) - job->t_queued;
  cl_h2_add_header(res, "server-timing", "recv;dur=%.3f, queue;dur=%.3f, run;dur=%.3f", j->recv_ms,
                   queued > 0 ? queued : 0, ran > 0 ? ran : 0);
}

void gw_job_done(cl_job *job) {
  gw_job *j = (gw_job *)job;
  cl_gateway *gw = j->gw;
  if (!gw->srv) { /* the server has closed: nobody waits for the answer */
    cl_h2_pending_complete(j->pending);
    gw_job_free(gw->ctx, j);
    return;
  }
  if (j->job.status == CLEAVE_ECANCELED && !j->status) {
    j->status = 503;
    snprintf(j->error, sizeof j->error, "the gateway is shutting down");
  }
  cl_h2_response *res = cl_h2_pending_response(j->pending);
  const cl_h2_request *req = cl_h2_pending_request(j->pending);
  server_timing(res, j);
  if (j->status == 200) {
    res->status = 200;
    res->body = (char *)j->body;
    res->body_len = j->body_len;
    j->body = NULL;
    if (j->header_len >= 0) {
      res->content_type = "application/octet-stream";
      cl_h2_add_header(res, CL_OIP_HEADER_LEN, "%lld", j->header_len);
    } else {
      res->content_type = "application/json";
    }
    gw->m.infer_ok++;
  } else {
    cl_h2_error(gw->ctx, res, j->status, j->error);
    gw->m.infer_failed++;
  }
  gw->m.run_sum_s += j->t_run_ms / 1000;
  if (j->batch > 1) {
    gw->m.batched_requests++;
    if (j->batch_lead) gw->m.batches++;
  }
  double ms = cl_now_ms() - j->t_start;
  observe_latency(gw, ms);
  finish(gw, req, res, j->t_start);
  cl_h2_pending_complete(j->pending);
  gw_job_free(gw->ctx, j);
}

/* ---- uploads ---- */

typedef struct upload {
  uv_work_t work;
  cl_gateway *gw;
  cl_h2_pending *pending;
  double t_start;
  cl_repo_upload up;
} upload;

static void upload_work(uv_work_t *w) {
  upload *u = w->data;
  cl_repo_upload_check(u->gw->ctx, cl_repo_dir(u->gw->repo), &u->up);
}

static void upload_done(uv_work_t *w, int status) {
  upload *u = w->data;
  cl_gateway *gw = u->gw;
  cl_h2_response *res = cl_h2_pending_response(u->pending);
  if (status) {
    u->up.status = 500;
    snprintf(u->up.message, sizeof u->up.message, "upload canceled");
  }
  /* the same model may have arrived meanwhile through another upload */
  cl_repo_entry *e = cl_repo_find(gw->repo, u->up.name, u->up.sha256);
  if (e && u->up.status == 201) u->up.status = 200;
  if (!e && u->up.status == 201) e = cl_repo_upload_finish(gw->repo, &u->up);
  if (u->up.status != 201) cl_repo_upload_finish(gw->repo, &u->up); /* releases what the check made */
  if (e && u->up.status < 300)
    send_json(gw->ctx, res, u->up.status,
              json_pack("{s:s,s:s,s:s}", "name", e->name, "version", e->version, "sha256", e->sha256));
  else
    cl_h2_error(gw->ctx, res, u->up.status >= 400 ? u->up.status : 500, u->up.message);
  finish(gw, cl_h2_pending_request(u->pending), res, u->t_start);
  cl_h2_pending_complete(u->pending);
  cl_free(gw->ctx, u);
}

static void start_upload(cl_gateway *gw, const cl_h2_request *req, cl_h2_response *res, const char *model,
                         const char *sha) {
  cleave_ctx *ctx = gw->ctx;
  if (!gw->cfg.allow_upload || !cl_repo_dir(gw->repo)) {
    cl_h2_error(ctx, res, 403,
                cl_repo_dir(gw->repo) ? "uploads are switched off on this gateway"
                                      : "this gateway has no model folder to store uploads in");
    return;
  }
  bool hex = strlen(sha) == 64;
  for (size_t i = 0; hex && i < 64; i++)
    hex = (sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f');
  if (!hex) {
    cl_h2_error(ctx, res, 400, "the version of an upload must be the model's sha256 in lower-case hex (64 digits)");
    return;
  }
  cl_repo_entry *e = cl_repo_find(gw->repo, model, sha);
  if (e) {
    send_json(ctx, res, 200, json_pack("{s:s,s:s,s:s}", "name", e->name, "version", e->version, "sha256", e->sha256));
    return;
  }
  upload *u = cl_calloc(ctx, 1, sizeof *u);
  if (!u) {
    cl_h2_error(ctx, res, 500, "out of memory");
    return;
  }
  u->gw = gw;
  u->t_start = cl_now_ms();
  snprintf(u->up.name, sizeof u->up.name, "%s", model);
  memcpy(u->up.sha256, sha, 65);
  u->up.data = req->body;
  u->up.len = req->body_len;
  u->work.data = u;
  /* hashing, loading and writing a large model are work for the thread pool, not the loop */
  if (uv_queue_work(gw->loop, &u->work, upload_work, upload_done)) {
    cl_free(ctx, u);
    cl_h2_error(ctx, res, 500, "cannot queue the upload");
    return;
  }
  u->pending = cl_h2_defer(res);
}

/* ---- the profile and the probe ---- */

/* {"profile": {...}, "load": {"queue": n, "running": n, "wait_ms": x, "executors": n}}; profile null when none. */
static void profile(cl_gateway *gw, cl_h2_response *res) {
  int queued, running;
  double wait;
  cl_executor_load(gw->exec, &queued, &running, &wait);
  send_json(gw->ctx, res, 200,
            json_pack("{s:O?,s:{s:i,s:i,s:f,s:i}}", "profile", gw->profile, "load", "queue", queued, "running",
                      running, "wait_ms", wait, "executors", gw->cfg.max_concurrency));
}

/* The body was counted and discarded by the server (body_limit); recv is the time from its headers to its end.
 * With ?down=N (0 to 4 MiB) the answer is N bytes of filler instead of the count, for a downlink probe. */
static void probe(cl_gateway *gw, const cl_h2_request *req, cl_h2_response *res) {
  const char *q = strchr(req->path, '?');
  double recv = cl_now_ms() - req->t_begin;
  if (!q) {
    send_json(gw->ctx, res, 200, json_pack("{s:I}", "bytes", (json_int_t)req->body_len));
  } else {
    const char *v = strncmp(q, "?down=", 6) == 0 ? q + 6 : NULL;
    size_t n = 0, digits = 0;
    for (; v && v[digits] >= '0' && v[digits] <= '9' && digits < 8; digits++)
      n = n * 10 + (size_t)(v[digits] - '0');
    if (!v || !digits || v[digits] || n > CL_GATEWAY_PROBE_MAX) {
      cl_h2_error(gw->ctx, res, 400, "the probe's query is ?down=N with N from 0 to 4194304 (bytes to answer)");
      return;
    }
    char *body = cl_calloc(gw->ctx, 1, n ? n : 1);
    if (!body) {
      cl_h2_error(gw->ctx, res, 500, "out of memory");
      return;
    }
    cl_free(gw->ctx, res->body);
    res->body = body;
    res->body_len = n;
    res->status = 200;
    res->content_type = "application/octet-stream";
  }
  cl_h2_add_header(res, "server-timing", "recv;dur=%.3f", recv > 0 ? recv : 0);
}

/* Measures the backend as one executor runs it (on a pool of an executor's threads, before the executors start,
 * so that nothing else runs meanwhile), unless the config names a profile. */
static int load_profile(cl_gateway *gw) {
  cleave_ctx *ctx = gw->ctx;
  cl_profile p;
  if (gw->cfg.profile[0]) {
    int rc = cl_profile_load(ctx, gw->cfg.profile, &p);
    if (rc) return rc;
  } else {
    int threads = gw_exec_threads(&gw->cfg);
    void *pool = pthreadpool_create((size_t)threads);
    char path[1024];
    double t0 = cl_now_ms();
    cl_thread_bind_pool(pool);
    int rc = cl_calibrate_cached(ctx, gw->cfg.backend, CL_GATEWAY_CALIBRATE_MS, &p, path, sizeof path);
    cl_thread_bind_pool(NULL);
    if (pool) pthreadpool_destroy(pool);
    if (rc) {
      cl_log(ctx, CLEAVE_LOG_WARN, "measuring backend %s failed, so the gateway publishes no profile: %s",
             gw->cfg.backend, cleave_ctx_last_error(ctx));
      return 0;
    }
    cl_log(ctx, CLEAVE_LOG_INFO,
           "the published profile: backend %s with %d thread%s, %.0f ms to measure or read (%s)", gw->cfg.backend,
           threads, threads == 1 ? "" : "s", cl_now_ms() - t0, path[0] ? path : "not cached");
  }
  p.kind = CL_DEV_EDGE; /* what the gateway is to its clients, whatever device it runs on */
  if (!(gw->profile = cl_profile_json(&p))) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  return 0;
}

/* The probe's body is counted, never stored, and bounded on its own. */
static size_t body_limit(void *user, const char *method, const char *path, bool *discard) {
  cl_gateway *gw = user;
  size_t n = strcspn(path, "?");
  if (strcmp(method, "POST") == 0 && n == strlen(PROBE_PATH) && strncmp(path, PROBE_PATH, n) == 0) {
    *discard = true;
    return CL_GATEWAY_PROBE_MAX;
  }
  return gw->cfg.max_request_bytes;
}

/* ---- routing ---- */

static bool authorised(cl_gateway *gw, const cl_h2_request *req) {
  if (gw->cfg.n_tokens == 0) return true;
  const char *h = cl_h2_request_header(req, "authorization");
  if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
  const char *tok = h + 7;
  size_t n = strlen(tok);
  bool ok = false;
  for (int i = 0; i < gw->cfg.n_tokens; i++)
    if (strlen(gw->cfg.tokens[i]) == n && CRYPTO_memcmp(gw->cfg.tokens[i], tok, n) == 0) ok = true;
  return ok;
}

/* Splits path (without its query) into at most max segments after the leading '/'. */
static int split_path(char *path, char **seg, int max) {
  int n = 0;
  char *p = path;
  while (*p == '/')
    p++;
  while (*p && n < max) {
    seg[n++] = p;
    char *slash = strchr(p, '/');
    if (!slash) break;
    *slash = 0;
    p = slash + 1;
  }
  return *p && n == max && strchr(p, '/') ? max + 1 : n;
}

static bool is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static void route(cl_gateway *gw, const cl_h2_request *req, cl_h2_response *res) {
  cleave_ctx *ctx = gw->ctx;
  char path[1024];
  size_t plen = strcspn(req->path, "?");
  if (plen >= sizeof path) {
    cl_h2_error(ctx, res, 414, "path too long");
    return;
  }
  memcpy(path, req->path, plen);
  path[plen] = 0;
  bool get = is(req->method, "GET") || is(req->method, "HEAD"), post = is(req->method, "POST"),
       put = is(req->method, "PUT");
  if (is(path, "/v2/health/live") || is(path, "/v2/health/ready")) {
    if (!get) {
      cl_h2_error(ctx, res, 405, "use GET");
      return;
    }
    bool live = is(path, "/v2/health/live"), ok = live || !gw->stopping;
    send_json(ctx, res, ok ? 200 : 503, json_pack("{s:b}", live ? "live" : "ready", ok));
    return;
  }
  if (!authorised(gw, req)) {
    gw->m.unauthorized++;
    cl_h2_error(ctx, res, 401, "a valid bearer token is required (Authorization: Bearer <token>)");
    cl_h2_add_header(res, "www-authenticate", "Bearer");
    return;
  }
  if (is(path, "/metrics")) {
    if (!get)
      cl_h2_error(ctx, res, 405, "use GET");
    else
      metrics(gw, res);
    return;
  }
  if (is(path, PROFILE_PATH)) {
    if (!get)
      cl_h2_error(ctx, res, 405, "use GET");
    else
      profile(gw, res);
    return;
  }
  if (is(path, PROBE_PATH)) {
    if (!post)
      cl_h2_error(ctx, res, 405, "use POST with up to 4 MiB of filler as the body (and ?down=N for N bytes back)");
    else
      probe(gw, req, res);
    return;
  }
  if (is(path, "/v2")) {
    if (!get)
      cl_h2_error(ctx, res, 405, "use GET");
    else
      send_json(ctx, res, 200,
                json_pack("{s:s,s:s,s:[s,s,s,s]}", "name", SERVER_NAME, "version", cleave_version(), "extensions",
                          "binary_tensor_data", "partial_offload", "cleave_profile", "cleave_probe"));
    return;
  }
  char *seg[8];
  int n = split_path(path, seg, 8);
  /* /v2/repository/models/<m>/versions/<sha256> */
  if (n == 6 && is(seg[0], "v2") && is(seg[1], "repository") && is(seg[2], "models") && is(seg[4], "versions")) {
    if (!put)
      cl_h2_error(ctx, res, 405, "use PUT with the ONNX file as the body");
    else if (!cl_repo_valid_name(seg[3]))
      cl_h2_error(ctx, res, 400, "model names are 1-128 of [A-Za-z0-9._-]");
    else
      start_upload(gw, req, res, seg[3], seg[5]);
    return;
  }
  /* /v2/models/<m>[/versions/<v>][/ready|/infer] */
  if (n >= 3 && is(seg[0], "v2") && is(seg[1], "models")) {
    const char *model = seg[2], *version = NULL, *action = NULL;
    if (n >= 5 && is(seg[3], "versions")) {
      version = seg[4];
      if (n == 6)
        action = seg[5];
      else if (n != 5)
        version = NULL, action = "?";
    } else if (n == 4) {
      action = seg[3];
    } else if (n != 3) {
      action = "?";
    }
    if (action && !is(action, "ready") && !is(action, "infer")) {
      char msg[1200];
      snprintf(msg, sizeof msg, "no endpoint %s", req->path);
      cl_h2_error(ctx, res, 404, msg);
      return;
    }
    if (action && is(action, "infer")) {
      if (!post)
        cl_h2_error(ctx, res, 405, "use POST");
      else
        infer(gw, req, res, model, version);
      return;
    }
    if (!get) {
      cl_h2_error(ctx, res, 405, "use GET");
      return;
    }
    cl_repo_entry *e = cl_repo_find(gw->repo, model, version);
    if (!e)
      not_found_model(gw, res, model, version);
    else if (action)
      send_json(ctx, res, 200, json_pack("{s:s,s:s,s:b}", "name", e->name, "version", e->version, "ready", 1));
    else
      model_metadata(gw, e, res);
    return;
  }
  char msg[1200];
  snprintf(msg, sizeof msg, "no endpoint %s", req->path);
  cl_h2_error(ctx, res, 404, msg);
}

static void handle(void *user, const cl_h2_request *req, cl_h2_response *res) {
  cl_gateway *gw = user;
  double t0 = cl_now_ms();
  route(gw, req, res);
  /* deferred answers are finished when their work completes */
  if (!cl_h2_is_deferred(res)) finish(gw, req, res, t0);
}

/* ---- life cycle ---- */

int cl_gateway_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_gateway_config *cfg, cl_gateway **out) {
  *out = NULL;
  if (!cfg->cert[0] || !cfg->key[0])
    return cl_err(ctx, CLEAVE_EINVAL, "the gateway needs a certificate and a key (cert, key)");
  if (cfg->queue_length < 0 || cfg->max_concurrency < 1 || cfg->max_batch < 1)
    return cl_err(ctx, CLEAVE_EINVAL, "queue_length, max_concurrency and max_batch must be positive");
  if (!cfg->backend[0]) return cl_err(ctx, CLEAVE_EINVAL, "backend '' is not a valid device name");
  if (!cl_device_find(cfg->backend))
    return cl_err(ctx, CLEAVE_ENODEVICE, "backend '%s' is not a device of this build", cfg->backend);
  cl_gateway *gw = cl_calloc(ctx, 1, sizeof *gw);
  if (!gw) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  gw->ctx = ctx;
  gw->loop = loop;
  gw->cfg = *cfg;
  int rc;
  if (cfg->access_log[0]) {
    gw->access_log = is(cfg->access_log, "-") ? stderr : fopen(cfg->access_log, "a");
    if (!gw->access_log) {
      rc = cl_err(ctx, CLEAVE_EIO, "access log %s cannot be opened", cfg->access_log);
      goto fail;
    }
    setvbuf(gw->access_log, NULL, _IOLBF, 0);
  }
  cl_tls_config tc = {.server = true,
                      .cert_file = cfg->cert,
                      .key_file = cfg->key,
                      .ca_file = cfg->client_ca[0] ? cfg->client_ca : NULL,
                      .verify_peer = cfg->client_ca[0] != 0};
  if ((rc = cl_tls_ctx_new(ctx, &tc, &gw->tls))) goto fail;
  if ((rc = load_profile(gw))) goto fail;
  if ((rc = cl_repo_open(ctx, cfg->models[0] ? cfg->models : NULL, &gw->repo))) goto fail;
  if ((rc = gw_exec_start(gw))) goto fail;
  cl_h2_server_config sc = {.host = cfg->host,
                            .port = cfg->port,
                            .tls = gw->tls,
                            .max_body = cfg->max_request_bytes,
                            .body_limit = body_limit,
                            .handler = handle,
                            .user = gw};
  if ((rc = cl_h2_server_new(ctx, loop, &sc, &gw->srv))) goto fail;
  *out = gw;
  return 0;
fail:
  cl_executor_close(gw->exec, false, NULL, NULL);
  cl_repo_free(gw->repo);
  cl_tls_ctx_free(gw->tls);
  json_decref(gw->profile);
  if (gw->access_log && gw->access_log != stderr) fclose(gw->access_log);
  cl_free(ctx, gw);
  return rc;
}

int cl_gateway_port(const cl_gateway *gw) { return cl_h2_server_port(gw->srv); }

static void on_exec_closed(void *closed_arg) {
  cl_gateway *gw = closed_arg;
  void (*done)(void *) = gw->done;
  void *arg = gw->done_arg;
  cl_repo_free(gw->repo);
  cl_tls_ctx_free(gw->tls);
  json_decref(gw->profile);
  if (gw->access_log && gw->access_log != stderr) fclose(gw->access_log);
  cl_free(gw->ctx, gw);
  if (done) done(arg);
}

static void on_server_closed(void *arg) {
  cl_gateway *gw = arg;
  gw->srv = NULL;
  /* every connection is closed, so every answer was sent; jobs of clients that left may still be queued */
  cl_executor_close(gw->exec, true, on_exec_closed, gw);
  gw->exec = NULL;
}

void cl_gateway_shutdown(cl_gateway *gw, void (*done)(void *), void *arg) {
  if (!gw || gw->stopping) return;
  gw->stopping = true;
  gw->done = done;
  gw->done_arg = arg;
  cl_h2_server_shutdown(gw->srv, on_server_closed, gw);
}
