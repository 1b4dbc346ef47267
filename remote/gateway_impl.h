/* remote: the gateway's internals shared by its HTTP side (gateway.c) and its executors (gateway_exec.c). */
#ifndef CLEAVE_REMOTE_GATEWAY_IMPL_H
#define CLEAVE_REMOTE_GATEWAY_IMPL_H

#include <stdatomic.h>
#include <stdio.h>

#include "local/executor.h"
#include "local/program.h"
#include "remote/gateway.h"
#include "remote/h2_server.h"
#include "remote/oip.h"
#include "remote/repo.h"

#define GW_MAX_CUTS 256 /* distinct cuts kept per model version */
#define GW_LATENCY_BUCKETS 14

/* One cut of one model version, as requests name it: the tensors fed and the tensors wanted. Created on the loop
 * with a validation session on the entry's context; executors only read it. Lives as long as the gateway. */
typedef struct gw_cut {
  struct gw_cut *next;
  char *key;
  cl_repo_entry *entry;
  cl_program *meta;     /* validation and metadata only, never compiled */
  bool batchable;       /* every input leads with the same symbolic dimension, and no output contradicts it */
  atomic_bool no_batch; /* a batched run showed that the outputs do not keep it after all */
  double ewma_ms;       /* run time per request, smoothed (loop thread) */
} gw_cut;

typedef struct gw_job {
  cl_job job; /* first: the executor's view */
  struct cl_gateway *gw;
  cl_h2_pending *pending;
  gw_cut *cut;
  cl_oip_message msg;
  const cleave_tensor *in[CL_OIP_MAX_TENSORS]; /* msg's tensors in the order of the cut's inputs */
  bool out_binary[CL_OIP_MAX_TENSORS];         /* per output of the cut */
  double t_start, t_run_ms;
  double recv_ms; /* from the request's headers to its body's end */
  int batch;       /* requests in the run that answered this one */
  bool batch_lead; /* the first of them */
  /* filled by the executor */
  int status;
  uint8_t *body;
  size_t body_len;
  long long header_len;
  char error[512];
} gw_job;

typedef struct gw_metrics {
  unsigned long long by_status[6]; /* 1xx..5xx, index status / 100 */
  unsigned long long infer_ok, infer_failed, rejected_full, unauthorized, batches, batched_requests;
  unsigned long long bytes_in, bytes_out;
  unsigned long long latency_buckets[GW_LATENCY_BUCKETS + 1];
  double latency_sum_s, run_sum_s;
  unsigned long long latency_count;
} gw_metrics;

struct cl_gateway {
  cleave_ctx *ctx;
  uv_loop_t *loop;
  cl_gateway_config cfg;
  SSL_CTX *tls;
  cl_h2_server *srv;
  cl_repo *repo;
  cl_executor *exec;
  gw_metrics m;
  FILE *access_log;
  struct json_t *profile; /* the published profile (kind edge); NULL when the measuring failed */
  bool stopping;
  void (*done)(void *);
  void *done_arg;
};

/* Starts the executors (the shared executor, local/executor.h): cfg.max_concurrency threads, each with its own
 * programs compiled for the backend and, for CPU backends, its own thread pool of gw_exec_threads() threads. */
int gw_exec_start(cl_gateway *gw);
/* The threads of one executor's pool: cfg->threads, else the cores divided among the executors (at least 1). */
int gw_exec_threads(const cl_gateway_config *cfg);
/* Called on the loop when a job is finished: answers it (or, once the server has closed, only releases it). */
void gw_job_done(cl_job *job);
void gw_job_free(cleave_ctx *ctx, gw_job *job);

#endif
