/* remote: an HTTP/2 server over TLS on the caller's libuv loop (private).
 *
 * uv_tcp for the sockets, OpenSSL through memory BIOs (remote/tls.h) for TLS, nghttp2 with mem_recv/mem_send for
 * HTTP/2: nothing blocks the loop. A request is handed to the handler once its body is complete; the handler
 * fills the response before it returns. */
#ifndef CLEAVE_REMOTE_H2_SERVER_H
#define CLEAVE_REMOTE_H2_SERVER_H

#include <openssl/ssl.h>
#include <stdint.h>
#include <uv.h>

#include "core/ctx.h"

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
  const uint8_t *body;
  size_t body_len;
} cl_h2_request;

typedef struct cl_h2_response {
  int status;
  const char *content_type; /* default application/json */
  char *body;               /* allocated with cl_malloc of the server's context; the server frees it */
  size_t body_len;
  cl_h2_header extra[4]; /* static strings or strings that outlive the response (e.g. retry-after) */
  int n_extra;
} cl_h2_response;

/* Value of header name in req (lower case), or NULL. */
const char *cl_h2_request_header(const cl_h2_request *req, const char *name);
/* Sets res to status with a JSON body {"error": message}. Returns 0 or CLEAVE_ENOMEM. */
int cl_h2_error(cleave_ctx *ctx, cl_h2_response *res, int status, const char *message);

typedef void (*cl_h2_handler)(void *user, const cl_h2_request *req, cl_h2_response *res);

typedef struct cl_h2_server_config {
  const char *host; /* numeric address to listen on */
  int port;         /* 0: any free port (cl_h2_server_port tells which) */
  SSL_CTX *tls;     /* a server context from cl_tls_ctx_new; the server does not own it */
  size_t max_body;  /* larger request bodies get 413 */
  cl_h2_handler handler;
  void *user;
} cl_h2_server_config;

typedef struct cl_h2_server cl_h2_server;

/* Listens on the loop. Errors: CLEAVE_EINVAL (address), CLEAVE_EIO (bind or listen, with the reason). */
int cl_h2_server_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_h2_server_config *cfg, cl_h2_server **out);
int cl_h2_server_port(const cl_h2_server *s);
/* Graceful shutdown: stops accepting, sends GOAWAY, lets open streams finish, closes every connection, then
 * frees the server and calls done(arg) on the loop. */
void cl_h2_server_shutdown(cl_h2_server *s, void (*done)(void *arg), void *arg);

#endif
