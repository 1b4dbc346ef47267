/* examples: a hybrid session embedded in the host's own libuv loop, with several runs in flight at once. Every
 * callback runs on the loop thread; cleave never blocks it. With --edge the plan spans the device and the gateway,
 * and runs keep coming back correct when the edge fails (they fall back to the device).
 *
 *   cleave-example-async MODEL.onnx --shape 1x3x48x320 [--edge https://127.0.0.1:8443 --ca ca.pem]
 *                        [--runs 32] [--in-flight 8] */
#include <uv.h>

#include "example_common.h"

static const char usage[] = "usage: cleave-example-async MODEL.onnx --shape AxBxC... [--device NAME] [--edge URL "
                            "[--ca CA.pem] [--token T]] [--runs N] [--in-flight K]\n";

typedef struct app {
  uv_loop_t *loop;
  cleave_session *s;
  cleave_tensor in;
  int submitted, done, failed, on_edge, fallbacks, runs, in_flight;
  double ms;
} app;

static int submit(app *a);

static void on_run(cleave_run_req *req, int status, cleave_result *r) {
  app *a = cleave_run_req_user(req);
  a->done++;
  if (status) {
    a->failed++;
    fprintf(stderr, "run failed: %s: %s\n", cleave_strerror(status), cleave_run_req_error(req));
  } else {
    const cleave_placement *p = cleave_result_placement(r);
    for (int i = 0; i < p->n_segments; i++)
      if (p->segments[i].on_edge) {
        a->on_edge++;
        break;
      }
    a->fallbacks += p->fallbacks > 0;
    a->ms += cleave_result_ms(r);
    if (a->done % 8 == 1) {
      printf("run %d done:\n", a->done);
      example_print_placement(r);
    }
    cleave_result_free(r);
  }
  if (a->submitted < a->runs) submit(a);    /* keep in_flight runs going */
  if (a->done == a->runs) uv_stop(a->loop); /* the edge's probes would keep the loop going */
}

static int submit(app *a) {
  int rc = cleave_run(a->s, &a->in, 1, on_run, a, NULL);
  if (rc) return rc;
  a->submitted++;
  return 0;
}

int main(int argc, char **argv) {
  example_args args;
  if (example_parse(argc, argv, &args, usage)) return 2;
  uv_loop_t loop;
  uv_loop_init(&loop);
  cleave_ctx *ctx = NULL;
  cleave_model *m = NULL;
  cleave_session_options *o = NULL;
  cleave_edge *e = NULL;
  app a = {.loop = &loop, .runs = args.runs, .in_flight = args.in_flight};
  int rc = cleave_ctx_new(&ctx, &loop, NULL); /* the host's loop: every asynchronous call runs on it */
  if (!rc) rc = cleave_model_load(ctx, args.model, &m);
  if (!rc) rc = cleave_session_options_new(&o);
  if (!rc) rc = example_fix_dims(m, &args, o) ? CLEAVE_EINVAL : 0;
  const char *devs[1] = {args.device};
  if (!rc) rc = cleave_session_options_set_devices(o, devs, 1);
  if (!rc) rc = cleave_session_options_set_max_in_flight(o, args.in_flight);
  if (!rc && args.edge) {
    if (!(e = example_edge(ctx, &args))) rc = CLEAVE_EINVAL;
    if (!rc) rc = cleave_session_options_add_edge(o, e, NULL);
    if (!rc) cleave_session_options_set_offload_inputs(o, 1);
  }
  if (!rc) rc = cleave_session_new(ctx, m, o, &a.s);
  if (!rc) a.in = example_input(m, &args);
  for (int i = 0; !rc && i < args.in_flight && a.submitted < a.runs; i++)
    rc = submit(&a);
  if (!rc) {
    uv_run(&loop, UV_RUN_DEFAULT); /* until the last run called back */
    printf("%d runs, %d failed, %d used the edge, %d fell back to the device, mean %.2f ms\n", a.done, a.failed,
           a.on_edge, a.fallbacks, a.done > a.failed ? a.ms / (a.done - a.failed) : 0);
  }
  if (rc)
    fprintf(stderr, "cleave-example-async: %s: %s\n", cleave_strerror(rc), ctx ? cleave_ctx_last_error(ctx) : "");
  free(a.in.data);
  cleave_session_free(a.s);
  cleave_session_options_free(o);
  cleave_model_free(m);
  if (e) cleave_edge_close(e, NULL, NULL);
  cleave_ctx_free(ctx);
  uv_run(&loop, UV_RUN_DEFAULT); /* the handles cleave closed finish closing */
  int closed = uv_loop_close(&loop);
  return rc || a.failed || closed ? 1 : 0;
}
