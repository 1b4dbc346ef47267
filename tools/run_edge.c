/* tools: cleave-run's --edge mode (see run_edge.h). */
#include "run_edge.h"

#include <stdlib.h>
#include <uv.h>

struct run_edge {
  cleave_ctx *ctx;
  uv_loop_t *loop;
  cleave_edge *e;
  const char *url;
};

typedef struct waiter {
  int done, status;
  cleave_result *r;
} waiter;

static void on_result(void *user, int status, cleave_result *r) {
  waiter *w = user;
  w->done = 1;
  w->status = status;
  w->r = r;
}

run_edge *run_edge_open(cleave_ctx *ctx, const char *url, const char *ca, const char *token) {
  run_edge *r = calloc(1, sizeof *r);
  cleave_edge_options *o = NULL;
  int err = r ? cleave_edge_options_new(&o) : CLEAVE_ENOMEM;
  if (!err && ca) err = cleave_edge_options_set_ca_file(o, ca);
  if (!err && token) err = cleave_edge_options_set_token(o, token);
  if (!err) err = cleave_edge_options_set_probes(o, 0, 1000);
  if (err) {
    fprintf(stderr, "cleave-run: --edge: %s\n", cleave_strerror(err));
  } else if ((err = cleave_edge_new(ctx, url, o, &r->e))) {
    fprintf(stderr, "cleave-run: --edge %s: %s (%s)\n", url, cleave_ctx_last_error(ctx), cleave_err_name(err));
  }
  cleave_edge_options_free(o);
  if (err) {
    free(r);
    return NULL;
  }
  r->ctx = ctx;
  r->loop = uv_default_loop();
  r->url = url;
  return r;
}

int run_edge_infer(run_edge *r, const cleave_model *model, const char *name, const cleave_tensor *in, size_t n,
                   cleave_result **res) {
  waiter w = {0};
  int err = cleave_edge_infer_cut(r->e, model, name, in, n, NULL, 0, -1, on_result, &w, NULL);
  if (!err) {
    while (!w.done)
      uv_run(r->loop, UV_RUN_ONCE);
    err = w.status;
  }
  if (err) {
    fprintf(stderr, "cleave-run: edge run failed: %s (%s)\n", cleave_ctx_last_error(r->ctx), cleave_err_name(err));
    return err;
  }
  *res = w.r;
  return 0;
}

void run_edge_print_stats(run_edge *r, FILE *f) {
  cleave_edge_stats s;
  cleave_edge_get_stats(r->e, &s);
  fprintf(f, "edge %s: rtt %.3f ms, up %.1f Mbit/s, down %.1f Mbit/s, queue %d, expected wait %.1f ms\n", r->url,
          s.rtt_ms, s.up_mbps, s.down_mbps, s.load_queue, s.load_wait_ms);
}

static void on_closed(void *arg) { *(int *)arg = 1; }

void run_edge_close(run_edge *r) {
  if (!r) return;
  int closed = 0;
  cleave_edge_close(r->e, on_closed, &closed);
  while (!closed)
    uv_run(r->loop, UV_RUN_ONCE);
  free(r);
}
