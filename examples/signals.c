/* examples: host signals drive the plan. The app pushes what its platform reports (battery, thermal state,
 * connectivity: Android's BatteryManager and PowerManager, the browser's Battery and Network Information APIs)
 * and every run is placed under them; this prints how the placement changes with each step.
 *
 *   cleave-example-signals MODEL.onnx --shape 1x3x48x320 --edge https://127.0.0.1:8443 --ca ca.pem */
#include <math.h>

#include "example_common.h"

static const char usage[] =
    "usage: cleave-example-signals MODEL.onnx --shape AxBxC... --edge URL [--ca CA.pem] [--token T] "
    "[--device NAME]\n";

typedef struct step {
  const char *what;
  cleave_signal sig[3];
  double value[3];
  int n;
} step;

static const step steps[] = {
    {"plugged in, cool, online", {CLEAVE_SIGNAL_BATTERY_CHARGING, CLEAVE_SIGNAL_NET_ONLINE}, {1, 1}, 2},
    {"on battery at 8%", {CLEAVE_SIGNAL_BATTERY_CHARGING, CLEAVE_SIGNAL_BATTERY_LEVEL}, {0, 0.08}, 2},
    {"hot: thermal status severe", {CLEAVE_SIGNAL_THERMAL_STATUS}, {3}, 1},
    {"offline", {CLEAVE_SIGNAL_NET_ONLINE}, {0}, 1},
    {"back online, cool, charging",
     {CLEAVE_SIGNAL_NET_ONLINE, CLEAVE_SIGNAL_THERMAL_STATUS, CLEAVE_SIGNAL_BATTERY_CHARGING},
     {1, 0, 1},
     3},
};

int main(int argc, char **argv) {
  example_args a;
  if (example_parse(argc, argv, &a, usage) || !a.edge) {
    if (!a.edge) fprintf(stderr, "%s", usage);
    return 2;
  }
  cleave_ctx *ctx = NULL;
  cleave_model *m = NULL;
  cleave_session_options *o = NULL;
  cleave_session *s = NULL;
  cleave_edge *e = NULL;
  int rc = cleave_ctx_new(&ctx, NULL, NULL);
  if (!rc) rc = cleave_policy_set_system_root(ctx, NULL); /* only what the app pushes counts */
  if (!rc) rc = cleave_model_load(ctx, a.model, &m);
  if (!rc) rc = cleave_session_options_new(&o);
  if (!rc) rc = example_fix_dims(m, &a, o) ? CLEAVE_EINVAL : 0;
  const char *devs[1] = {a.device};
  if (!rc) rc = cleave_session_options_set_devices(o, devs, 1);
  if (!rc && !(e = example_edge(ctx, &a))) rc = CLEAVE_EINVAL;
  if (!rc) rc = cleave_session_options_add_edge(o, e, NULL);
  if (!rc) cleave_session_options_set_offload_inputs(o, 1);
  if (!rc) rc = cleave_session_new(ctx, m, o, &s);
  cleave_tensor in = rc ? (cleave_tensor){0} : example_input(m, &a);
  const char *last = NULL;
  char plan[64] = "";
  for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++) {
    for (int k = 0; k < steps[i].n && !rc; k++)
      rc = cleave_signal_set(ctx, steps[i].sig[k], steps[i].value[k]);
    printf("%s:\n", steps[i].what);
    /* a few runs each: the first ones also teach the session the link */
    for (int r = 0; r < 4 && !rc; r++) {
      cleave_result *res = NULL;
      if ((rc = cleave_run_sync(s, &in, 1, &res))) break;
      const cleave_placement *p = cleave_result_placement(res);
      if (r == 3) {
        example_print_placement(res);
        if (last && strcmp(plan, p->plan)) printf("  the plan changed: %s -> %s\n", plan, p->plan);
        snprintf(plan, sizeof plan, "%s", p->plan);
        last = plan;
      }
      cleave_result_free(res);
    }
  }
  if (rc)
    fprintf(stderr, "cleave-example-signals: %s: %s\n", cleave_strerror(rc), ctx ? cleave_ctx_last_error(ctx) : "");
  free(in.data);
  cleave_session_free(s);
  cleave_session_options_free(o);
  cleave_model_free(m);
  if (e) cleave_edge_close(e, NULL, NULL);
  cleave_ctx_free(ctx);
  return rc ? 1 : 0;
}
