/* tests/remote: makes Open Inference Protocol request bodies and checks response bodies, so that shell tests can
 * drive the gateway with stock clients (curl, nghttp, h2load).
 *
 *   gw_tool body OUT --name N --shape 1x3x48x192 [--seed S] [--binary] [--binary-out] [--output NAME]...
 *     Writes a request with one FP32 input of random values from the project's generator (seed S), as binary data
 *     or JSON numbers. Prints the JSON header's length (-1 when all JSON).
 *   gw_tool check RESPONSE HEADER_LEN NAME EXPECT.npy TOLERANCE
 *     Decodes a response and compares output NAME with EXPECT.npy; prints the max abs difference.
 *   gw_tool model add1|sum OUT.onnx
 *     Writes a tiny model for the benchmarks: add1 is y = x + 1 on x[1,16]; sum is y = ReduceSum(x) on x[N].
 *   gw_tool forward RESPONSE HEADER_LEN OUT [--output NAME]...
 *     Turns a response into the next request: its outputs become binary inputs (the second half of a partial
 *     offload). Prints the new JSON header's length.
 *   gw_tool profile RESPONSE [OUT.json]
 *     Checks an answer of GET /v2/cleave/profile: its "profile" must parse as a device profile (cl_profile_parse)
 *     and its "load" hold queue, running, wait_ms and executors. Prints "name kind queue running wait_ms
 *     executors" and writes the profile to OUT.json when given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cleave.h"
#include "core/ir/tensor.h"
#include "npy.h"
#include "onnx_builder.h"
#include "partitioner/profile.h"
#include "remote/oip.h"

static int usage(void) {
  fprintf(stderr, "usage: gw_tool body OUT --name N --shape AxB [--seed S] [--binary] [--binary-out]"
                  " [--output NAME]...\n"
                  "       gw_tool check RESPONSE HEADER_LEN NAME EXPECT.npy TOLERANCE\n"
                  "       gw_tool forward RESPONSE HEADER_LEN OUT [--output NAME]...\n"
                  "       gw_tool model add1|sum OUT.onnx\n"
                  "       gw_tool profile RESPONSE [OUT.json]\n");
  return 2;
}

static void *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static int body(int argc, char **argv, cleave_ctx *ctx) {
  const char *out = argv[0], *name = NULL, *shape = NULL, *outputs[16];
  int n_outputs = 0;
  long seed = 1;
  bool binary = false, binary_out = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--binary") == 0)
      binary = true;
    else if (strcmp(a, "--binary-out") == 0)
      binary_out = true;
    else if (!v)
      return usage();
    else if (strcmp(a, "--name") == 0)
      name = v, i++;
    else if (strcmp(a, "--shape") == 0)
      shape = v, i++;
    else if (strcmp(a, "--seed") == 0)
      seed = atol(v), i++;
    else if (strcmp(a, "--output") == 0 && n_outputs < 16)
      outputs[n_outputs++] = v, i++;
    else
      return usage();
  }
  if (!name || !shape) return usage();
  cleave_tensor t = {.name = name, .dtype = CLEAVE_DTYPE_FLOAT32};
  for (const char *p = shape; *p && t.ndim < CLEAVE_MAX_DIMS; t.ndim++) {
    char *end;
    t.dims[t.ndim] = strtoll(p, &end, 10);
    p = *end == 'x' ? end + 1 : end;
  }
  int64_t n = cleave_tensor_numel(&t);
  float *data = malloc(sizeof(float) * (size_t)(n + 1));
  cl_fill_random_f32(data, n, (uint32_t)seed);
  t.data = data;
  t.nbytes = sizeof(float) * (size_t)n;
  cl_oip_out in = {&t, binary};
  uint8_t *b;
  size_t len;
  long long hlen;
  if (cl_oip_encode_request(ctx, "gw_tool", &in, 1, outputs, n_outputs, binary_out, &b, &len, &hlen)) {
    fprintf(stderr, "gw_tool: %s\n", cleave_ctx_last_error(ctx));
    return 1;
  }
  FILE *f = fopen(out, "wb");
  if (!f || fwrite(b, 1, len, f) != len || fclose(f)) {
    fprintf(stderr, "gw_tool: cannot write %s\n", out);
    return 1;
  }
  printf("%lld\n", hlen);
  cl_free(ctx, b);
  free(data);
  return 0;
}

static int check(char **argv, cleave_ctx *ctx) {
  size_t len;
  uint8_t *b = read_all(argv[0], &len);
  if (!b) {
    fprintf(stderr, "gw_tool: cannot read %s\n", argv[0]);
    return 1;
  }
  cl_oip_message m;
  int rc = cl_oip_decode(ctx, false, b, len, atoll(argv[1]), &m);
  if (rc) {
    fprintf(stderr, "gw_tool: %s\n", cleave_ctx_last_error(ctx));
    free(b);
    return 1;
  }
  cleave_tensor want;
  char err[256];
  const cleave_tensor *got = NULL;
  for (int i = 0; i < m.n_tensors; i++)
    if (strcmp(m.tensors[i].name, argv[2]) == 0) got = &m.tensors[i];
  rc = 1;
  if (!got) {
    fprintf(stderr, "gw_tool: no output %s in the response\n", argv[2]);
  } else if (npy_read(argv[3], &want, err, sizeof err)) {
    fprintf(stderr, "gw_tool: %s\n", err);
  } else {
    if (want.nbytes != got->nbytes || want.dtype != got->dtype || want.ndim != got->ndim) {
      fprintf(stderr, "gw_tool: output %s: %zu bytes, rank %d; expected %zu bytes, rank %d\n", argv[2], got->nbytes,
              got->ndim, want.nbytes, want.ndim);
    } else {
      double max = 0;
      const float *a = got->data, *e = want.data;
      for (size_t i = 0; i < want.nbytes / 4; i++) {
        double d = a[i] > e[i] ? a[i] - e[i] : e[i] - a[i];
        if (!(d <= max)) max = d; /* NaN counts as worst */
      }
      printf("%g\n", max);
      rc = max <= atof(argv[4]) ? 0 : 1;
    }
    free(want.data);
  }
  cl_oip_message_release(ctx, &m);
  free(b);
  return rc;
}

static int forward(int argc, char **argv, cleave_ctx *ctx) {
  size_t len;
  uint8_t *b = read_all(argv[0], &len);
  if (!b) {
    fprintf(stderr, "gw_tool: cannot read %s\n", argv[0]);
    return 1;
  }
  const char *outputs[16];
  int n_outputs = 0;
  for (int i = 3; i + 1 < argc && n_outputs < 16; i += 2)
    if (strcmp(argv[i], "--output") == 0) outputs[n_outputs++] = argv[i + 1];
  cl_oip_message m;
  cl_oip_out in[CL_OIP_MAX_TENSORS];
  uint8_t *body = NULL;
  size_t blen;
  long long hlen;
  int rc = cl_oip_decode(ctx, false, b, len, atoll(argv[1]), &m);
  if (!rc) {
    for (int i = 0; i < m.n_tensors; i++)
      in[i] = (cl_oip_out){&m.tensors[i], true};
    rc = cl_oip_encode_request(ctx, "gw_tool", in, m.n_tensors, outputs, n_outputs, true, &body, &blen, &hlen);
    cl_oip_message_release(ctx, &m);
  }
  FILE *f = rc ? NULL : fopen(argv[2], "wb");
  if (rc || !f || fwrite(body, 1, blen, f) != blen || fclose(f)) {
    fprintf(stderr, "gw_tool: %s\n", rc ? cleave_ctx_last_error(ctx) : "cannot write the request");
    rc = 1;
  } else {
    printf("%lld\n", hlen);
  }
  cl_free(ctx, body);
  free(b);
  return rc ? 1 : 0;
}

static int model(const char *kind, const char *out) {
  tb_model *m = tb_new(13);
  if (strcmp(kind, "add1") == 0) {
    const int64_t dx[] = {1, 16}, d1[] = {1};
    const float one = 1;
    tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 2, dx);
    tb_init_f32(m, "one", 1, d1, &one, 1);
    tb_add_node(m, "Add", "x,one", "y");
  } else if (strcmp(kind, "sum") == 0) {
    const int64_t dx[] = {-1};
    tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 1, dx);
    tb_attr_int(tb_add_node(m, "ReduceSum", "x", "y"), "keepdims", 0);
  } else {
    tb_free(m);
    return usage();
  }
  tb_output(m, "y");
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  tb_free(m);
  FILE *f = fopen(out, "wb");
  int rc = !f || fwrite(buf, 1, len, f) != len;
  if (f && fclose(f)) rc = 1;
  free(buf);
  if (rc) fprintf(stderr, "gw_tool: cannot write %s\n", out);
  return rc;
}

static int profile(const char *in, const char *out, cleave_ctx *ctx) {
  json_error_t e;
  json_t *root = json_load_file(in, JSON_REJECT_DUPLICATES, &e), *load = json_object_get(root, "load");
  json_t *p = json_object_get(root, "profile");
  int rc = 1;
  char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
  cl_profile prof;
  if (!root) {
    fprintf(stderr, "gw_tool: %s: %s\n", in, e.text);
  } else if (!text) {
    fprintf(stderr, "gw_tool: %s has no \"profile\"\n", in);
  } else if (cl_profile_parse(ctx, text, strlen(text), in, &prof)) {
    fprintf(stderr, "gw_tool: %s\n", cleave_ctx_last_error(ctx));
  } else if (!json_is_object(load) || json_object_size(load) != 4 ||
             !json_is_integer(json_object_get(load, "queue")) || !json_is_integer(json_object_get(load, "running")) ||
             !json_is_number(json_object_get(load, "wait_ms")) ||
             !json_is_integer(json_object_get(load, "executors"))) {
    fprintf(stderr, "gw_tool: %s: \"load\" is not {queue, running, wait_ms, executors}\n", in);
  } else if (out && cl_profile_save(ctx, &prof, out)) {
    fprintf(stderr, "gw_tool: %s\n", cleave_ctx_last_error(ctx));
  } else {
    static const char *const kinds[] = {"cpu", "gpu", "npu", "edge"};
    printf("%s %s %lld %lld %g %lld\n", prof.name, kinds[prof.kind],
           (long long)json_integer_value(json_object_get(load, "queue")),
           (long long)json_integer_value(json_object_get(load, "running")),
           json_number_value(json_object_get(load, "wait_ms")),
           (long long)json_integer_value(json_object_get(load, "executors")));
    rc = 0;
  }
  free(text);
  json_decref(root);
  return rc;
}

int main(int argc, char **argv) {
  cleave_ctx *ctx;
  if (cleave_ctx_new(&ctx, NULL, NULL)) return 1;
  int rc;
  if (argc >= 3 && strcmp(argv[1], "body") == 0)
    rc = body(argc - 2, argv + 2, ctx);
  else if (argc == 7 && strcmp(argv[1], "check") == 0)
    rc = check(argv + 2, ctx);
  else if (argc == 4 && strcmp(argv[1], "model") == 0)
    rc = model(argv[2], argv[3]);
  else if (argc >= 5 && strcmp(argv[1], "forward") == 0)
    rc = forward(argc - 2, argv + 2, ctx);
  else if ((argc == 3 || argc == 4) && strcmp(argv[1], "profile") == 0)
    rc = profile(argv[2], argc == 4 ? argv[3] : NULL, ctx);
  else
    rc = usage();
  cleave_ctx_free(ctx);
  return rc;
}
