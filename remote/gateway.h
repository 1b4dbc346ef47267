/* remote: cleave-gateway, the edge server (private; tools/cleave_gateway.c is its command line).
 *
 * It serves the Open Inference Protocol (KServe v2) over HTTP/2 and TLS on the caller's loop:
 * - health, server and model metadata, and readiness;
 * - infer, JSON or with the binary tensor extension, on whole models or on any cut of them (partial offload: the
 *   inputs may name intermediate tensors and the outputs any tensors; the minimal subgraph between them runs);
 * - uploads of models addressed by their sha256 (PUT /v2/repository/models/<m>/versions/<sha256>);
 * - its device profile and live load for the client's planner (GET /v2/cleave/profile), and a bandwidth probe
 *   that reads and discards up to 4 MiB (POST /v2/cleave/probe);
 * - Prometheus /metrics, and an access log.
 * Requests are validated on the loop against the model (names, dtypes, shapes, sizes), then queued for a pool of
 * executor threads (the shared executor, local/executor.h), each with its own programs. The queue is bounded (503
 * with Retry-After when full); requests for the same cut whose shapes differ only in a shared symbolic batch
 * dimension are batched within a window. Every response carries the load hint header "cleave-load: queue=<n>;
 * running=<n>; wait-ms=<ms>", and every infer answer given after queueing a Server-Timing header "queue;dur=<ms>,
 * run;dur=<ms>" (the wait for an executor, and the run that answered it, batch included). */
#ifndef CLEAVE_REMOTE_GATEWAY_H
#define CLEAVE_REMOTE_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/ir/ctx.h"

#define CL_GATEWAY_MAX_TOKENS 16
#define CL_GATEWAY_LOAD_HEADER "cleave-load"
#define CL_GATEWAY_PROBE_MAX ((size_t)4 << 20) /* largest probe body; 413 beyond */
#define CL_GATEWAY_CALIBRATE_MS 1000           /* budget of the backend's measuring when no profile is given */

typedef struct cl_gateway_config {
  char host[256];
  int port;
  char cert[1024], key[1024];
  char client_ca[1024];                    /* non-empty: clients must present a certificate signed by it (mTLS) */
  char tokens[CL_GATEWAY_MAX_TOKENS][256]; /* bearer tokens; none: no token needed */
  int n_tokens;
  char models[1024];        /* repository folder; empty: none (uploads impossible) */
  char backend[32];         /* device the models run on: "cpu" (default), "ref", "gpu" */
  int max_concurrency;      /* executor threads (default 2) */
  int threads;              /* threads per executor for the CPU backend (default: cores / executors, at least 1) */
  int queue_length;         /* requests waiting beyond those running (default 64) */
  size_t max_request_bytes; /* default 256 MiB */
  double batch_window_ms;   /* 0: no batching (default 2); only waited while another executor is busy */
  int max_batch;            /* default 8 */
  bool allow_upload;        /* default true */
  char access_log[1024];    /* path, "-" for stderr, empty for none */
  char profile[1024];       /* the profile JSON to publish (its kind published as edge); empty: measured at start */
} cl_gateway_config;

/* Defaults for every field (host 127.0.0.1, port 8443). */
void cl_gateway_config_defaults(cl_gateway_config *cfg);
/* Reads a config file of "key = value" lines ('#' starts a comment) into cfg, over what it holds. Keys: listen
 * (HOST:PORT), cert, key, client_ca, token (repeatable), models, backend, max_concurrency, threads, queue_length,
 * max_request_bytes, batch_window_ms, max_batch, allow_upload (true/false), access_log, profile. Errors name the file
 * and line: CLEAVE_EIO, CLEAVE_EPARSE (unknown key, bad value). */
int cl_gateway_config_load(cleave_ctx *ctx, const char *path, cl_gateway_config *cfg);
/* Parses "HOST:PORT" (or "[v6]:PORT") into cfg. CLEAVE_EINVAL when malformed. */
int cl_gateway_config_listen(cleave_ctx *ctx, cl_gateway_config *cfg, const char *host_port);

typedef struct cl_gateway cl_gateway;

/* Loads the profile (or measures the backend, through cl_calibrate_cached, for about CL_GATEWAY_CALIBRATE_MS:
 * a measuring that fails is a warning, and the gateway then publishes no profile), loads the repository, starts the
 * executors and listens. Errors name the cause: CLEAVE_EINVAL (config, profile file), CLEAVE_EIO (certificate,
 * key, profile file, repository, listen), CLEAVE_ENODEVICE (backend), CLEAVE_ENOMEM. */
int cl_gateway_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_gateway_config *cfg, cl_gateway **out);
int cl_gateway_port(const cl_gateway *gw);
/* Drain: stop accepting, answer everything queued or running, stop the executors, free the gateway, then call
 * done(arg) on the loop. */
void cl_gateway_shutdown(cl_gateway *gw, void (*done)(void *arg), void *arg);

#endif
