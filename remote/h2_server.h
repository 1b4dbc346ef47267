/* remote: an HTTP/2 server over TLS on the caller's libuv loop (private).
 *
 * uv_tcp for the sockets, OpenSSL through memory BIOs (remote/tls.h) for TLS, nghttp2 with mem_recv/mem_send for
 * HTTP/2: nothing blocks the loop. A request is handed to the handler once its body is complete. The handler either
 * fills the response before it returns, or defers it (cl_h2_defer) and completes it later on the loop thread, which
 * is how work that runs elsewhere (an inference on an executor thread) answers without blocking the loop. */
#ifndef CLEAVE_REMOTE_H2_SERVER_H
#define CLEAVE_REMOTE_H2_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/ir/ctx.h"

#define CL_H2_MAX_HEADERS 32

typedef struct cl_h2_header {
  const char *name; /* lower case, as HTTP/2 sends them */
  const char *value;
} cl_h2_header;

typedef struct cl_h2_request {
  const char *method;
  const char *path;
  const cl_h2_header *headers; /* regular headers (not the pseudo-headers) */
  int n_headers;
  const uint8_t *body; /* NULL when the body was discarded (body_limit), body_len still counting it */
  size_t body_len;
  const char *peer; /* "address:port" of the client */
  double t_begin;   /* cl_now_ms() when its HEADERS arrived (the handler runs once the body is complete) */
} cl_h2_request;

typedef struct cl_h2_response {
  int status;
  const char *content_type; /* default application/json */
  char *body;               /* allocated with cl_malloc of the server's context; the server frees it */
  size_t body_len;
  cl_h2_header extra[6]; /* copied when the response is sent; values may point into scratch */
  int n_extra;
  char scratch[256]; /* room for the handler's formatted header values */
  size_t scratch_used;
} cl_h2_response;

/* Value of header name (lower case) among headers, or NULL. */
const char *cl_h2_header_find(const cl_h2_header *headers, int n, const char *name);
/* Value of header name in req (lower case), or NULL. */
const char *cl_h2_request_header(const cl_h2_request *req, const char *name);
/* Sets res to status with a JSON body {"error": message}. Returns 0 or CLEAVE_ENOMEM. */
int cl_h2_error(cleave_ctx *ctx, cl_h2_response *res, int status, const char *message);

typedef void (*cl_h2_handler)(void *user, const cl_h2_request *req, cl_h2_response *res);

/* A response the handler deferred. The request (body included) and the response stay valid until
 * cl_h2_pending_complete, even if the client resets the stream or the connection closes meanwhile. */
typedef struct cl_h2_pending cl_h2_pending;

/* Called by the handler, before it returns: the response is sent when cl_h2_pending_complete is called. */
cl_h2_pending *cl_h2_defer(cl_h2_response *res);
bool cl_h2_is_deferred(const cl_h2_response *res);
const cl_h2_request *cl_h2_pending_request(cl_h2_pending *p);
cl_h2_response *cl_h2_pending_response(cl_h2_pending *p);
/* false once the client has reset the stream or the connection is gone: nobody waits for the answer. */
bool cl_h2_pending_alive(const cl_h2_pending *p);
/* On the loop thread: sends the response (or drops it if nobody waits) and releases the exchange. */
void cl_h2_pending_complete(cl_h2_pending *p);
/* Adds a header to res (name lower case, static or living until sent; value copied into res->scratch). Returns 0,
 * or CLEAVE_ELIMIT when there is no room. */
int cl_h2_add_header(cl_h2_response *res, const char *name, const char *fmt, ...);

typedef struct cl_h2_server_config {
  const char *host; /* numeric address to listen on */
  int port;         /* 0: any free port (cl_h2_server_port tells which) */
  SSL_CTX *tls;     /* a server context from cl_tls_ctx_new; the server does not own it */
  size_t max_body;  /* larger request bodies get 413 */
  /* Optional: the body limit of one request, replacing max_body, asked once its method and path are known and
   * before any of its body is stored (so a Content-Length over it gets 413 before the body arrives); *discard =
   * true counts the body without keeping it. Loop thread. */
  size_t (*body_limit)(void *user, const char *method, const char *path, bool *discard);
  cl_h2_handler handler;
  void *user;
} cl_h2_server_config;

typedef struct cl_h2_server cl_h2_server;

/* Listens on the loop. Errors: CLEAVE_EINVAL (address), CLEAVE_EIO (bind or listen, with the reason). */
int cl_h2_server_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_h2_server_config *cfg, cl_h2_server **out);
int cl_h2_server_port(const cl_h2_server *s);
/* Graceful shutdown: stops accepting, sends GOAWAY, lets open streams finish (deferred ones included), closes every
 * connection, then frees the server and calls done(arg) on the loop. */
void cl_h2_server_shutdown(cl_h2_server *s, void (*done)(void *arg), void *arg);

#endif
