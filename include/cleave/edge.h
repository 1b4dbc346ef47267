/* cleave: edges, the inference servers work can be offloaded to.
 *
 * An edge is one endpoint ("https://host:port") spoken to with the Open Inference Protocol (KServe v2) over
 * HTTP/2 and TLS, through a pool of connections on the context's libuv loop. Any KServe v2 server (Triton, KServe,
 * OpenVINO Model Server, cleave-gateway) runs whole models by name; cleave-gateway also runs any cut of a model
 * addressed by its content hash (partial offload), and accepts the model by upload when it lacks it.
 *
 * Everything here is asynchronous and runs on the context's loop: the one given to cleave_ctx_new(), or, for a
 * context made without one, a loop the context owns, which turns only while one of the library's synchronous calls
 * drives it (callbacks then arrive during such a call, on its thread). Calls are made on the loop's thread (for an
 * own loop, the thread that drives the context) and callbacks arrive there. */
#ifndef CLEAVE_EDGE_H
#define CLEAVE_EDGE_H

#include <stdint.h>

#include "cleave/export.h"
#include "cleave/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cleave_ctx cleave_ctx;
typedef struct cleave_model cleave_model;
typedef struct cleave_result cleave_result;

typedef struct cleave_edge_options cleave_edge_options;

/* Defaults: peer verification against the system's CAs, no client certificate, no token, 2 connections, 30 s per
 * request, health probes every 5 s, RTT probes every 2 s, model upload on. Returns 0 or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_edge_options_new(cleave_edge_options **out);
CLEAVE_API void cleave_edge_options_free(cleave_edge_options *o);
/* PEM file of the CAs that verify the edge's certificate (instead of the system store). Copied. */
CLEAVE_API int cleave_edge_options_set_ca_file(cleave_edge_options *o, const char *path);
/* Client certificate and key (PEM) for mTLS. Copied. */
CLEAVE_API int cleave_edge_options_set_client_cert(cleave_edge_options *o, const char *cert, const char *key);
/* Bearer token sent with every request. Copied. */
CLEAVE_API int cleave_edge_options_set_token(cleave_edge_options *o, const char *token);
/* Default time limit of one request in ms (0: none); connections are limited to 5 s separately. */
CLEAVE_API int cleave_edge_options_set_timeout_ms(cleave_edge_options *o, int ms);
CLEAVE_API int cleave_edge_options_set_max_connections(cleave_edge_options *o, int n);
/* Background health probes (GET /v2/health/ready) and h2 PING RTT probes; 0 switches either off. */
CLEAVE_API int cleave_edge_options_set_probes(cleave_edge_options *o, int health_interval_ms, int ping_interval_ms);
/* Whether a model the edge lacks is uploaded (by its sha256) and the request retried. Default on. */
CLEAVE_API void cleave_edge_options_set_upload(cleave_edge_options *o, int on);

typedef struct cleave_edge cleave_edge;

/* Creates an edge for url ("https://host[:port]") on the context's loop (the host's, else the context's own, created
 * here if need be). No connection is made before the first request or probe. opt may be NULL; it is copied and
 * not kept. Errors: CLEAVE_EINVAL (url), CLEAVE_EIO (certificate files), CLEAVE_ENOMEM. */
CLEAVE_API int cleave_edge_new(cleave_ctx *ctx, const char *url, const cleave_edge_options *opt, cleave_edge **out);
/* Fails every request in flight with CLEAVE_ECANCELED (their callbacks run first), closes the connections, frees
 * the edge and then calls done(arg) on the loop. done may be NULL. */
CLEAVE_API void cleave_edge_close(cleave_edge *e, void (*done)(void *arg), void *arg);

/* What the edge's connections have measured, for the cost model. Estimates are 0 while unknown. */
typedef struct cleave_edge_stats {
  double rtt_ms;             /* h2 PING round trips, smoothed */
  double up_mbps, down_mbps; /* the path's estimate as hybrid sessions measured it end to end (their requests and
                                bandwidth probes) over the last 30 s; else from the timing of large request and
                                response bodies; smoothed */
  int healthy;               /* the last connection attempt or health probe succeeded */
  int load_queue;            /* the last load hint: requests queued at the edge (-1 if none seen) */
  double load_wait_ms;       /* and the wait it expects for a new request */
  uint64_t requests, failures, bytes_up, bytes_down;
  double rtt_min_ms; /* the least PING round trip of the last 10 s: the path's delay without the queues transfers
                        build (0 while unknown) */
} cleave_edge_stats;
CLEAVE_API void cleave_edge_get_stats(const cleave_edge *e, cleave_edge_stats *out);

typedef struct cleave_edge_req cleave_edge_req;

/* status 0 and a result (owned by the callback's receiver: free it with cleave_result_free), or a negative
 * CLEAVE_E* code and NULL, with the detail in cleave_ctx_last_error() during the callback:
 * CLEAVE_ECONNREFUSED, CLEAVE_ETLS (certificate verification or handshake), CLEAVE_ETIMEDOUT, CLEAVE_ECANCELED,
 * CLEAVE_ENET (connection lost), CLEAVE_EPROTO (not HTTP/2, or an answer that is not the protocol's), CLEAVE_EAUTH
 * (401/403), CLEAVE_ENOTFOUND (404), CLEAVE_EINVAL (400: the edge refused the request), CLEAVE_ELIMIT (413),
 * CLEAVE_EBUSY (429/503: overloaded), CLEAVE_EHTTP (any other status). */
typedef void (*cleave_edge_cb)(void *user, int status, cleave_result *result);

/* Runs a whole model that the edge knows by name (version NULL: the edge's default). inputs are encoded before
 * the call returns (the caller may free them then); outputs names the tensors wanted (NULL/0: the model's).
 * timeout_ms < 0 takes the edge's default. On success the callback runs exactly once, and *req (if req is not
 * NULL) may be canceled until then. Errors (the callback is then never called): CLEAVE_EINVAL, CLEAVE_EDTYPE (a
 * dtype the protocol cannot carry), CLEAVE_ENOMEM. */
CLEAVE_API int cleave_edge_infer(cleave_edge *e, const char *model_name, const char *version,
                                 const cleave_tensor *inputs, size_t n_inputs, const char *const *outputs,
                                 int n_outputs, int timeout_ms, cleave_edge_cb cb, void *user, cleave_edge_req **req);

/* Partial offload: runs the part of model between the tensors given as inputs (graph inputs or intermediate
 * tensors) and the tensors named as outputs, on a cleave gateway, which knows the model by its sha256
 * (cleave_model_sha256). When the gateway lacks the model and uploads are on, the model file is uploaded and the
 * request sent again. name is the model's name on the gateway. Same results and errors as cleave_edge_infer. */
CLEAVE_API int cleave_edge_infer_cut(cleave_edge *e, const cleave_model *model, const char *name,
                                     const cleave_tensor *inputs, size_t n_inputs, const char *const *outputs,
                                     int n_outputs, int timeout_ms, cleave_edge_cb cb, void *user,
                                     cleave_edge_req **req);

/* Cancels a request: its stream is reset and its callback runs with CLEAVE_ECANCELED (unless its result was
 * already decided). */
CLEAVE_API void cleave_edge_cancel(cleave_edge_req *req);

#ifdef __cplusplus
}
#endif
#endif
