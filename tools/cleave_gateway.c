/* cleave-gateway: the edge server (remote/gateway.h holds everything it does). */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cleave.h"
#include "remote/gateway.h"

typedef struct app {
  cl_gateway *gw;
  uv_signal_t sig_term, sig_int;
  bool stopping;
} app;

static void usage(FILE *f) {
  fprintf(f,
          "usage: cleave-gateway [--config FILE] [options]\n"
          "\n"
          "Serves inference over HTTP/2 and TLS with the Open Inference Protocol (KServe v2): whole models, and\n"
          "any cut of a model for partial offload (the model addressed by its sha256).\n"
          "\n"
          "options (they override the config file):\n"
          "  --config FILE        \"key = value\" lines: listen, cert, key, client_ca, token, models, backend,\n"
          "                       max_concurrency, threads, queue_length, max_request_bytes, batch_window_ms,\n"
          "                       max_batch, allow_upload, access_log, profile (deploy/cleave-gateway.conf\n"
          "                       explains them)\n"
          "  --listen HOST:PORT   numeric address and port to listen on (port 0: any free port)\n"
          "  --cert FILE          server certificate chain (PEM)\n"
          "  --key FILE           its private key (PEM)\n"
          "  --client-ca FILE     require client certificates signed by these CAs (mTLS)\n"
          "  --models DIR         model repository, DIR/<model>/<version>/model.onnx\n"
          "  --backend NAME       device to run on: cpu or xnnpack (default), gpu or vulkan, ref\n"
          "  --token TOKEN        require \"Authorization: Bearer TOKEN\" (repeatable)\n"
          "  --access-log FILE    one line per request (\"-\": stderr)\n"
          "  --profile FILE       the device profile (JSON) to publish at GET /v2/cleave/profile; without one the\n"
          "                       backend is measured once at start (about 1 s, then cached in\n"
          "                       $CLEAVE_CACHE_DIR, else $XDG_CACHE_HOME/cleave or ~/.cache/cleave)\n"
          "  -h, --help           this text\n"
          "\n"
          "When it is ready it prints \"listening on HOST:PORT\". SIGTERM or SIGINT stops accepting, answers\n"
          "what is queued or running, and exits 0.\n"
          "\n"
          "examples:\n"
          "  cleave-gateway --listen 127.0.0.1:8443 --cert server.pem --key server.key --models models/\n"
          "  cleave-gateway --config /etc/cleave/gateway.conf --profile /etc/cleave/edge-profile.json\n"
          "  cleave-gateway --config /etc/cleave/gateway.conf\n"
          "\n"
          "exit codes: 0 after a clean shutdown, 1 the server could not start, 2 bad arguments\n");
}

static void on_gateway_closed(void *arg) {
  app *a = arg;
  a->gw = NULL;
  uv_close((uv_handle_t *)&a->sig_term, NULL);
  uv_close((uv_handle_t *)&a->sig_int, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  if (a->stopping) return;
  a->stopping = true;
  fprintf(stderr, "cleave-gateway: %s, draining\n", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  cl_gateway_shutdown(a->gw, on_gateway_closed, a);
}

static void log_stderr(void *user, cleave_log_level level, const char *msg) {
  (void)user;
  static const char *const names[] = {"error", "warn", "info", "debug"};
  fprintf(stderr, "cleave-gateway: %s: %s\n", (unsigned)level < 4 ? names[level] : "log", msg);
}

static int copy_arg(char *dst, size_t cap, const char *v, const char *flag) {
  if (strlen(v) >= cap) {
    fprintf(stderr, "cleave-gateway: %s: value too long\n", flag);
    return 2;
  }
  snprintf(dst, cap, "%s", v);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'C'},
                                       {"listen", required_argument, NULL, 'l'},
                                       {"cert", required_argument, NULL, 'c'},
                                       {"key", required_argument, NULL, 'k'},
                                       {"client-ca", required_argument, NULL, 'a'},
                                       {"models", required_argument, NULL, 'm'},
                                       {"backend", required_argument, NULL, 'b'},
                                       {"token", required_argument, NULL, 't'},
                                       {"access-log", required_argument, NULL, 'L'},
                                       {"profile", required_argument, NULL, 'p'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  signal(SIGPIPE, SIG_IGN);
  /* Tensors of tens of MiB come and go with every request. Above glibc's mmap threshold (at most 32 MiB by default)
   * each would be mapped fresh and page-faulted in, then unmapped; kept in the heap, the pages are reused. */
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  uv_loop_t *loop = uv_default_loop();
  cleave_ctx *ctx = NULL;
  cleave_options *copt = NULL;
  int rc = cleave_options_new(&copt);
  if (!rc) {
    cleave_options_set_log(copt, log_stderr, NULL, CLEAVE_LOG_INFO);
    rc = cleave_ctx_new(&ctx, loop, copt);
  }
  cleave_options_free(copt);
  if (rc) {
    fprintf(stderr, "cleave-gateway: %s\n", cleave_strerror(rc));
    return 1;
  }
  cl_gateway_config cfg;
  cl_gateway_config_defaults(&cfg);
  /* the config file first, whatever its place among the flags, so that flags override it */
  int o, status = 0;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (o == 'h') {
      usage(stdout);
      goto out;
    }
    if (o == '?') {
      usage(stderr);
      status = 2;
      goto out;
    }
    if (o == 'C' && cl_gateway_config_load(ctx, optarg, &cfg)) {
      fprintf(stderr, "cleave-gateway: %s\n", cleave_ctx_last_error(ctx));
      status = 2;
      goto out;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "cleave-gateway: unexpected argument '%s'\n", argv[optind]);
    status = 2;
    goto out;
  }
  bool tokens_from_flags = false;
  optind = 1;
  while (!status && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (o) {
    case 'l':
      if (cl_gateway_config_listen(ctx, &cfg, optarg)) {
        fprintf(stderr, "cleave-gateway: --listen %s\n", cleave_ctx_last_error(ctx));
        status = 2;
      }
      break;
    case 'c': status = copy_arg(cfg.cert, sizeof cfg.cert, optarg, "--cert"); break;
    case 'k': status = copy_arg(cfg.key, sizeof cfg.key, optarg, "--key"); break;
    case 'a': status = copy_arg(cfg.client_ca, sizeof cfg.client_ca, optarg, "--client-ca"); break;
    case 'm': status = copy_arg(cfg.models, sizeof cfg.models, optarg, "--models"); break;
    case 'b': status = copy_arg(cfg.backend, sizeof cfg.backend, optarg, "--backend"); break;
    case 'L': status = copy_arg(cfg.access_log, sizeof cfg.access_log, optarg, "--access-log"); break;
    case 'p': status = copy_arg(cfg.profile, sizeof cfg.profile, optarg, "--profile"); break;
    case 't':
      if (!tokens_from_flags) cfg.n_tokens = 0; /* flags replace the file's tokens */
      tokens_from_flags = true;
      if (cfg.n_tokens == CL_GATEWAY_MAX_TOKENS || !optarg[0]) {
        fprintf(stderr, "cleave-gateway: --token: empty, or more than %d\n", CL_GATEWAY_MAX_TOKENS);
        status = 2;
      } else {
        status = copy_arg(cfg.tokens[cfg.n_tokens++], sizeof cfg.tokens[0], optarg, "--token");
      }
      break;
    default: break;
    }
  }
  if (status) goto out;
  if (!cfg.cert[0] || !cfg.key[0]) {
    fprintf(stderr, "cleave-gateway: a certificate and a key are required (--cert, --key, or the config file)\n");
    usage(stderr);
    status = 2;
    goto out;
  }
  app a = {0};
  if (cl_gateway_new(ctx, loop, &cfg, &a.gw)) {
    fprintf(stderr, "cleave-gateway: %s\n", cleave_ctx_last_error(ctx));
    uv_run(loop, UV_RUN_DEFAULT); /* lets a half-made server close its handles */
    status = 1;
    goto out;
  }
  uv_signal_init(loop, &a.sig_term);
  uv_signal_init(loop, &a.sig_int);
  a.sig_term.data = a.sig_int.data = &a;
  uv_signal_start(&a.sig_term, on_signal, SIGTERM);
  uv_signal_start(&a.sig_int, on_signal, SIGINT);
  printf("listening on %s:%d\n", cfg.host, cl_gateway_port(a.gw));
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
out:
  if (uv_loop_close(loop)) {
    fprintf(stderr, "cleave-gateway: handles left open at exit\n");
    if (!status) status = 1;
  }
  cleave_ctx_free(ctx);
  return status;
}
