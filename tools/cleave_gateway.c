/* cleave-gateway: the edge server. This first slice serves the Open Inference Protocol's health and server
 * metadata endpoints over HTTP/2 and TLS, and drains gracefully on SIGTERM. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cleave.h"
#include "core/ctx.h"
#include "remote/h2_server.h"
#include "remote/tls.h"

#define GATEWAY_NAME "cleave-gateway"
#define DEFAULT_MAX_BODY (256u << 20)

typedef struct gateway {
  cleave_ctx *ctx;
  uv_loop_t *loop;
  cl_h2_server *srv;
  uv_signal_t sig_term, sig_int;
  bool stopping;
} gateway;

static void usage(FILE *f) {
  fprintf(f, "usage: cleave-gateway --listen HOST:PORT --cert CERT.pem --key KEY.pem [options]\n"
             "\n"
             "Serves cleave's edge inference over HTTP/2 and TLS (Open Inference Protocol, KServe v2).\n"
             "\n"
             "options:\n"
             "  --listen HOST:PORT   numeric address and port to listen on (port 0: any free port)\n"
             "  --cert FILE          server certificate chain (PEM)\n"
             "  --key FILE           its private key (PEM)\n"
             "  --models DIR         model repository, DIR/<model>/<version>/model.onnx\n"
             "  -h, --help           this text\n"
             "\n"
             "When it is ready it prints \"listening on HOST:PORT\". SIGTERM or SIGINT stops accepting, lets open\n"
             "requests finish and exits 0.\n"
             "\n"
             "example:\n"
             "  cleave-gateway --listen 127.0.0.1:8443 --cert server.pem --key server.key --models models/\n"
             "\n"
             "exit codes: 0 after a clean shutdown, 1 the server could not start, 2 bad arguments\n");
}

static void send_json(cleave_ctx *ctx, cl_h2_response *res, int status, json_t *j) {
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!text) {
    cl_h2_error(ctx, res, 500, "out of memory");
    return;
  }
  size_t n = strlen(text);
  res->body = cl_malloc(ctx, n + 1);
  if (!res->body) {
    free(text);
    cl_h2_error(ctx, res, 500, "out of memory");
    return;
  }
  memcpy(res->body, text, n + 1);
  free(text);
  res->body_len = n;
  res->status = status;
  res->content_type = "application/json";
}

static void handle(void *user, const cl_h2_request *req, cl_h2_response *res) {
  gateway *gw = user;
  cleave_ctx *ctx = gw->ctx;
  /* the path without its query */
  char path[512];
  size_t plen = strcspn(req->path, "?");
  if (plen >= sizeof path) {
    cl_h2_error(ctx, res, 414, "path too long");
    return;
  }
  memcpy(path, req->path, plen);
  path[plen] = 0;
  bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
  if (strcmp(path, "/v2/health/live") == 0 || strcmp(path, "/v2/health/ready") == 0) {
    if (!get) {
      cl_h2_error(ctx, res, 405, "use GET");
      return;
    }
    bool live = strcmp(path, "/v2/health/live") == 0;
    /* ready means accepting work: false while draining */
    send_json(ctx, res, live || !gw->stopping ? 200 : 503,
              json_pack("{s:b}", live ? "live" : "ready", live ? 1 : !gw->stopping));
    return;
  }
  if (strcmp(path, "/v2") == 0) {
    if (!get) {
      cl_h2_error(ctx, res, 405, "use GET");
      return;
    }
    send_json(ctx, res, 200,
              json_pack("{s:s,s:s,s:[s]}", "name", GATEWAY_NAME, "version", cleave_version(), "extensions",
                        "binary_tensor_data"));
    return;
  }
  char msg[600];
  snprintf(msg, sizeof msg, "no endpoint %s", path);
  cl_h2_error(ctx, res, 404, msg);
}

static void on_server_done(void *arg) {
  gateway *gw = arg;
  gw->srv = NULL;
  uv_close((uv_handle_t *)&gw->sig_term, NULL);
  uv_close((uv_handle_t *)&gw->sig_int, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  gateway *gw = h->data;
  if (gw->stopping) return;
  gw->stopping = true;
  fprintf(stderr, "cleave-gateway: %s, draining\n", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  cl_h2_server_shutdown(gw->srv, on_server_done, gw);
}

static void log_stderr(void *user, cleave_log_level level, const char *msg) {
  (void)user;
  static const char *const names[] = {"error", "warn", "info", "debug"};
  fprintf(stderr, "cleave-gateway: %s: %s\n", (unsigned)level < 4 ? names[level] : "log", msg);
}

static int split_host_port(const char *s, char *host, size_t hlen, int *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s) return -1;
  size_t n = (size_t)(colon - s);
  if (s[0] == '[' && n >= 2 && s[n - 1] == ']') s++, n -= 2; /* [::1]:443 */
  if (n >= hlen) return -1;
  memcpy(host, s, n);
  host[n] = 0;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || p < 0 || p > 65535) return -1;
  *port = (int)p;
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"listen", required_argument, NULL, 'l'}, {"cert", required_argument, NULL, 'c'},
      {"key", required_argument, NULL, 'k'},    {"models", required_argument, NULL, 'm'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char *listen = NULL, *cert = NULL, *key = NULL;
  int o;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (o) {
    case 'l': listen = optarg; break;
    case 'c': cert = optarg; break;
    case 'k': key = optarg; break;
    case 'm': break; /* the model repository is read by the infer endpoints, which come next */
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  char host[256];
  int port = 0;
  if (optind != argc || !listen || !cert || !key) {
    fprintf(stderr, "cleave-gateway: --listen, --cert and --key are required\n");
    usage(stderr);
    return 2;
  }
  if (split_host_port(listen, host, sizeof host, &port)) {
    fprintf(stderr, "cleave-gateway: --listen '%s': expected HOST:PORT with a numeric host\n", listen);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  gateway gw = {0};
  gw.loop = uv_default_loop();
  cleave_options *copt = NULL;
  SSL_CTX *tls = NULL;
  int rc = cleave_options_new(&copt);
  if (!rc) {
    cleave_options_set_log(copt, log_stderr, NULL, CLEAVE_LOG_INFO);
    rc = cleave_ctx_new(&gw.ctx, gw.loop, copt);
  }
  cleave_options_free(copt);
  if (rc) {
    fprintf(stderr, "cleave-gateway: %s\n", cleave_strerror(rc));
    return 1;
  }
  cl_tls_config tc = {.server = true, .cert_file = cert, .key_file = key};
  cl_h2_server_config sc = {.host = host, .port = port, .max_body = DEFAULT_MAX_BODY, .handler = handle, .user = &gw};
  if ((rc = cl_tls_ctx_new(gw.ctx, &tc, &tls)) ||
      (sc.tls = tls, rc = cl_h2_server_new(gw.ctx, gw.loop, &sc, &gw.srv))) {
    fprintf(stderr, "cleave-gateway: %s\n", cleave_ctx_last_error(gw.ctx));
    uv_run(gw.loop, UV_RUN_DEFAULT); /* lets a half-made server close its handles */
    cl_tls_ctx_free(tls);
    cleave_ctx_free(gw.ctx);
    return 1;
  }
  uv_signal_init(gw.loop, &gw.sig_term);
  uv_signal_init(gw.loop, &gw.sig_int);
  gw.sig_term.data = gw.sig_int.data = &gw;
  uv_signal_start(&gw.sig_term, on_signal, SIGTERM);
  uv_signal_start(&gw.sig_int, on_signal, SIGINT);
  printf("listening on %s:%d\n", host, cl_h2_server_port(gw.srv));
  fflush(stdout);
  uv_run(gw.loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(gw.loop);
  cl_tls_ctx_free(tls);
  cleave_ctx_free(gw.ctx);
  if (rc) {
    fprintf(stderr, "cleave-gateway: handles left open at exit\n");
    return 1;
  }
  return 0;
}
