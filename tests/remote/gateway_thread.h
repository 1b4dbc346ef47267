/* tests: a cleave gateway in this process, on its own thread and loop, on 127.0.0.1 with the test PKI's
 * certificate and a repository folder of its own (empty unless the test fills it: clients upload by hash).
 * Stopping is bounded and works whatever state a failed test left. Header-only. */
#ifndef CLEAVE_TESTS_GATEWAY_THREAD_H
#define CLEAVE_TESTS_GATEWAY_THREAD_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <uv.h>

#include "h2_client_testkit.h"
#include "remote/gateway.h"

typedef struct gw_thread {
  uv_loop_t loop;
  cleave_ctx *ctx;
  cl_gateway *gw;
  uv_async_t stop;
  uv_thread_t th;
  bool running;
  int port;
  char repo[200];
} gw_thread;

static inline void gwt_on_stop(uv_async_t *a) {
  gw_thread *g = a->data;
  cl_gateway_shutdown(g->gw, NULL, NULL);
  uv_close((uv_handle_t *)&g->stop, NULL);
}

static inline void gwt_main(void *arg) {
  gw_thread *g = arg;
  uv_run(&g->loop, UV_RUN_DEFAULT);
}

/* Starts a gateway with cfg's settings (port, certificate, key and models are filled in here). 0 or -1. */
static inline int gwt_start(gw_thread *g, const kit_pki *pki, cl_gateway_config *cfg) {
  memset(g, 0, sizeof *g);
  snprintf(g->repo, sizeof g->repo, "%s/models-XXXXXX", pki->dir);
  if (!mkdtemp(g->repo)) return -1;
  cfg->port = 0;
  snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
  snprintf(cfg->cert, sizeof cfg->cert, "%s", pki->cert);
  snprintf(cfg->key, sizeof cfg->key, "%s", pki->key);
  snprintf(cfg->models, sizeof cfg->models, "%s", g->repo);
  if (uv_loop_init(&g->loop)) return -1;
  if (cleave_ctx_new(&g->ctx, &g->loop, NULL) || cl_gateway_new(g->ctx, &g->loop, cfg, &g->gw)) {
    fprintf(stderr, "gateway: %s\n", g->ctx ? cleave_ctx_last_error(g->ctx) : "no context");
    return -1;
  }
  g->port = cl_gateway_port(g->gw);
  uv_async_init(&g->loop, &g->stop, gwt_on_stop);
  g->stop.data = g;
  if (uv_thread_create(&g->th, gwt_main, g)) return -1;
  g->running = true;
  return 0;
}

/* Stops it (draining what it has) and removes its repository. */
static inline void gwt_stop(gw_thread *g) {
  if (g->running) {
    uv_async_send(&g->stop);
    uv_thread_join(&g->th);
    g->running = false;
    uv_loop_close(&g->loop);
  }
  cleave_ctx_free(g->ctx);
  g->ctx = NULL;
  if (g->repo[0]) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g->repo);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g->repo);
    g->repo[0] = 0;
  }
}

#endif
