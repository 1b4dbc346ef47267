/* remote: an HTTP/2-over-TLS client on the caller's libuv loop (private).
 *
 * The mirror of h2_server.h: uv_tcp for the sockets (names resolved with uv_getaddrinfo), OpenSSL through memory
 * BIOs (remote/tls.h) and an nghttp2 client session driven with mem_recv/mem_send, so nothing blocks the loop.
 *
 * One client talks to one endpoint through a pool of up to max_connections connections. Requests are multiplexed
 * as streams, up to the server's MAX_CONCURRENT_STREAMS per connection; a new connection is opened only when the
 * open ones are full. Requests beyond the pool's capacity wait in a queue (their timeout runs while they wait).
 *
 * Failures. A connection attempt that fails (resolution, TCP, TLS, ALPN, timeout) puts the endpoint in backoff:
 * the next attempt is allowed after a delay that doubles with each consecutive failure, from backoff_min_ms up to
 * backoff_max_ms, with "equal jitter" (half the delay fixed, half random). While in backoff and with no connection
 * up, a request fails at once (on the loop) with the last connection error instead of waiting. The first request
 * after the delay tries again; a success resets the backoff. A connection that was up and then drops does not
 * cause backoff: its streams fail with CLEAVE_ENET and the next request reconnects. Streams that the server
 * refused without processing them (REFUSED_STREAM, or above the last stream id of a GOAWAY) are retried on
 * another connection, up to twice.
 *
 * Error codes given to callbacks: CLEAVE_ECONNREFUSED (nothing listens), CLEAVE_ETLS (handshake or certificate
 * verification failed; OpenSSL's reason in the message), CLEAVE_EPROTO (the server did not choose h2 by ALPN, or
 * broke the HTTP/2 protocol), CLEAVE_ETIMEDOUT (the request's timeout or the connect timeout; an open stream is
 * reset with CANCEL), CLEAVE_ECANCELED (cl_h2_call_cancel or cl_h2_client_close), CLEAVE_ENET (connection reset
 * or closed, or GOAWAY, before the response was complete; name resolution failed), CLEAVE_ELIMIT (response body
 * over max_response_bytes). The context's last error holds the detail, naming the endpoint, while the callback
 * runs. An HTTP error status is not an error here: the reply carries it.
 *
 * Estimates, for the cost model (cl_h2_client_get_stats), all exponentially weighted moving averages with weight
 * 1/4 for the newest sample (the first sample is taken as it is):
 * - rtt_ms: from h2 PING frames, sent on each connection once it is up and every ping_interval_ms after that
 *   (no PING when ping_interval_ms is 0); the time from handing the PING to the socket to reading its ACK.
 * - up_mbps: for request bodies of at least CL_H2_MEASURE_MIN_BYTES, body bytes over the time from the first
 *   body byte handed to TLS to the moment the socket's write queue had drained after the last one. The kernel's
 *   send buffer absorbs the tail, so for bodies not much larger than that buffer this reads high.
 * - down_mbps: for response bodies of at least CL_H2_MEASURE_MIN_BYTES, body bytes over the time from the first
 *   to the last DATA frame read. The first frame's own transfer time is not seen, so this reads slightly high.
 * Megabits per second are 10^6 bits per second.
 *
 * As in any libuv program, the host ignores SIGPIPE: a write to a socket the server has reset raises it. */
#ifndef CLEAVE_REMOTE_H2_CLIENT_H
#define CLEAVE_REMOTE_H2_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/ir/ctx.h"
#include "remote/h2_server.h" /* cl_h2_header */

#define CL_H2_MEASURE_MIN_BYTES (1u << 20)
#define CL_H2_RTT_MIN_WINDOW_MS 10000

typedef struct cl_h2_client_config {
  const char *url;                    /* "https://host:port" (host: a name, an IPv4 address or [IPv6]; port 443) */
  const char *ca_file;                /* PEM CAs that verify the server; NULL: the system store */
  const char *cert_file, *key_file;   /* client certificate and key for mTLS, optional */
  const char *token;                  /* bearer token, optional: sent as "authorization: Bearer <token>" */
  bool insecure_skip_verify;          /* no server verification: only for tools and tests that say so loudly */
  int max_connections;                /* pool size (default 2) */
  int connect_timeout_ms;             /* resolution + TCP + TLS + h2 preface (default 5000) */
  int health_interval_ms;             /* 0: no background probing; else GET health_path every interval */
  const char *health_path;            /* default "/v2/health/ready" */
  int ping_interval_ms;               /* RTT probing with h2 PING; 0: off */
  int backoff_min_ms, backoff_max_ms; /* reconnect delays after failed attempts (defaults 100 and 10000) */
  size_t max_response_bytes;          /* longer response bodies fail with CLEAVE_ELIMIT (default 1 GiB) */
} cl_h2_client_config;

typedef struct cl_h2_client cl_h2_client;

/* A response; every pointer is valid only during the callback. headers are the regular ones (lower case). */
typedef struct cl_h2_reply {
  int status;
  const cl_h2_header *headers;
  int n_headers;
  const uint8_t *body;
  size_t body_len;
} cl_h2_reply;

/* err 0 and a reply (any HTTP status), or a negative CLEAVE_E* code and reply NULL. Called once, on the loop,
 * never from inside the function that started or canceled the call. */
typedef void (*cl_h2_client_cb)(void *user, int err, const cl_h2_reply *reply);

/* A struct tag only: the name is also the function's (ordinary identifiers and tags are separate in C). */
struct cl_h2_client_request {
  const char *method, *path;   /* copied */
  const cl_h2_header *headers; /* copied; pseudo-headers and connection-specific headers are not allowed */
  int n_headers;
  const void *body; /* NOT copied: must stay valid until the callback */
  size_t body_len;
  int timeout_ms; /* 0: none */
};

typedef struct cl_h2_call cl_h2_call; /* one request in flight; valid until its callback returns */

typedef struct cl_h2_client_stats {
  double rtt_ms, up_mbps, down_mbps; /* estimates (see above), 0 if unknown */
  double rtt_min_ms;                 /* the least PING round trip of the last CL_H2_RTT_MIN_WINDOW_MS, 0 if none */
  bool healthy;                      /* the last connection attempt or health probe succeeded */
  int consecutive_failures;          /* failed connection attempts and health probes since the last success */
  uint64_t requests, failures;       /* calls made by the caller, and those that ended with an error */
  uint64_t bytes_up, bytes_down;     /* request and response body bytes */
  uint64_t connects;                 /* connection attempts started */
  int connections;                   /* connections up now */
  /* the last load hint seen ("cleave-load: queue=<n>; wait-ms=<ms>"), -1 if none */
  int load_queue;
  double load_wait_ms;
} cl_h2_client_stats;

/* Creates a client for cfg->url on loop; no connection is made until the first request (or health probe). The
 * strings of cfg are copied. Errors: CLEAVE_EINVAL (URL or settings), CLEAVE_EIO or CLEAVE_EINVAL (certificate,
 * key or CA files), CLEAVE_ENOMEM. */
int cl_h2_client_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_h2_client_config *cfg, cl_h2_client **out);

/* Starts a request. On success the callback runs exactly once, and *call (if call is not NULL) can be canceled
 * until then. Errors (the callback is then never called): CLEAVE_EINVAL (bad request, or the client is closing),
 * CLEAVE_ENOMEM. */
int cl_h2_client_request(cl_h2_client *c, const struct cl_h2_client_request *req, cl_h2_client_cb cb, void *user,
                         cl_h2_call **call);

/* Cancels: RST_STREAM(CANCEL) if the stream is open; the callback runs (later, on the loop) with
 * CLEAVE_ECANCELED. Does nothing once the call's result is decided (the callback is then already scheduled). */
void cl_h2_call_cancel(cl_h2_call *call);

void cl_h2_client_get_stats(const cl_h2_client *c, cl_h2_client_stats *out);

/* The bound on a Server-Timing value that cl_h2_server_timing reads; what lies beyond is ignored. */
#define CL_H2_SERVER_TIMING_MAX 1024

/* The dur of metric in a Server-Timing header value (W3C Server Timing: "queue;dur=1.5, run;dur=20;desc=x"), in
 * ms, or -1 when value is NULL, lacks the metric, or the metric's first entry is malformed or has no plain
 * non-negative decimal dur. Metrics may come in any order; other metrics and parameters (quoted strings too) are
 * skipped. Reads at most CL_H2_SERVER_TIMING_MAX bytes of value and 64 metrics. Any thread. */
double cl_h2_server_timing(const char *value, const char *metric);

/* Fails every pending call with CLEAVE_ECANCELED (their callbacks run on the loop), closes the connections and
 * frees the client; done(arg) runs when all its handles are closed. c must not be used after this call. */
void cl_h2_client_close(cl_h2_client *c, void (*done)(void *arg), void *arg);

#endif
