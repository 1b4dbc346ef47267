/* examples: a hybrid session run synchronously. The context has no loop of its own from the host, so the library
 * drives one itself while a run waits; with --edge the model is planned across the device and the gateway.
 *
 *   cleave-example-sync MODEL.onnx --shape 1x3x48x320 [--device cpu] [--edge https://127.0.0.1:8443 --ca ca.pem] */
#include <uv.h>

#include "example_common.h"

static const char usage[] = "usage: cleave-example-sync MODEL.onnx --shape AxBxC... [--device NAME] [--edge URL "
                            "[--ca CA.pem] [--token T]] [--runs N]\n";

int main(int argc, char **argv) {
  example_args a;
  if (example_parse(argc, argv, &a, usage)) return 2;
  cleave_ctx *ctx = NULL;
  cleave_model *m = NULL;
  cleave_session_options *o = NULL;
  cleave_session *s = NULL;
  cleave_edge *e = NULL;
  int rc = cleave_ctx_new(&ctx, NULL, NULL);
  if (!rc) rc = cleave_model_load(ctx, a.model, &m);
  if (!rc) rc = cleave_session_options_new(&o);
  if (!rc) rc = example_fix_dims(m, &a, o) ? CLEAVE_EINVAL : 0;
  const char *devs[1] = {a.device};
  if (!rc) rc = cleave_session_options_set_devices(o, devs, 1);
  if (!rc && a.edge) {
    if (!(e = example_edge(ctx, &a))) rc = CLEAVE_EINVAL;
    if (!rc) rc = cleave_session_options_add_edge(o, e, NULL); /* the gateway says what it is */
    if (!rc) cleave_session_options_set_offload_inputs(o, 1);
  }
  if (!rc) rc = cleave_session_new(ctx, m, o, &s);
  cleave_tensor in = rc ? (cleave_tensor){0} : example_input(m, &a);
  for (int i = 0; !rc && i < a.runs; i++) {
    cleave_result *r = NULL;
    if ((rc = cleave_run_sync(s, &in, 1, &r))) break;
    const cleave_tensor *out = cleave_result_output(r, 0);
    printf("run %d: output '%s' %s [", i, out->name, cleave_dtype_name(out->dtype));
    for (int d = 0; d < out->ndim; d++)
      printf("%s%lld", d ? "," : "", (long long)out->dims[d]);
    printf("]\n");
    example_print_placement(r);
    cleave_result_free(r);
  }
  if (rc)
    fprintf(stderr, "cleave-example-sync: %s: %s\n", cleave_strerror(rc), ctx ? cleave_ctx_last_error(ctx) : "");
  free(in.data);
  cleave_session_free(s);
  cleave_session_options_free(o);
  cleave_model_free(m);
  if (e) cleave_edge_close(e, NULL, NULL); /* finishes closing when the context's loop last turns, in free */
  cleave_ctx_free(ctx);
  return rc ? 1 : 0;
}
