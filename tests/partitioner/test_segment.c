/* tests/partitioner: any assignment compiles into an acyclic, complete, runnable segment DAG.
 *
 * Random assignments on random DAGs (built as ONNX models in memory) and on the PP-OCR graphs; the segments of
 * random DAGs and of the cls model are run one by one on the reference device, chaining their tensors, and the
 * outputs must equal those of the whole model (same kernels, so bit for bit). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/ir/model.h"
#include "local/device.h"
#include "onnx_builder.h"
#include "partitioner/segment.h"

static uint32_t rng = 777;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* Whether segment `to` depends, directly or not, on segment `from`. */
static bool reaches(const cl_plan_segment *segs, int from, int to) {
  if (from == to) return true;
  for (int j = 0; j < segs[to].n_deps; j++)
    if (segs[to].deps[j] >= from && reaches(segs, from, segs[to].deps[j])) return true;
  return false;
}

/* Structural checks: every node in exactly one segment, in order; dependencies point backwards; every input of
 * a node comes from its own segment (earlier), a constant, or the segment's inputs, which other (earlier)
 * segments or the graph provide; outputs cover everything read elsewhere and the graph outputs. */
static void check_segments(const cl_graph *g, const int *assign, const cl_plan_segment *segs, int n_segs) {
  int *seg_of = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
  int *pos = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
  for (int n = 0; n < g->n_nodes; n++)
    seg_of[n] = -1;
  for (int s = 0; s < n_segs; s++) {
    assert_true(segs[s].n_nodes > 0);
    for (int k = 0; k < segs[s].n_nodes; k++) {
      int n = segs[s].nodes[k];
      assert_int_equal(seg_of[n], -1);
      assert_int_equal(assign[n], segs[s].device);
      seg_of[n] = s;
      pos[n] = k;
      if (k) assert_true(n > segs[s].nodes[k - 1]);
    }
    for (int k = 0; k < segs[s].n_deps; k++)
      assert_true(segs[s].deps[k] < s);
  }
  for (int n = 0; n < g->n_nodes; n++)
    assert_true(seg_of[n] >= 0);
  for (int s = 0; s < n_segs; s++) {
    const cl_plan_segment *sg = &segs[s];
    for (int k = 0; k < sg->n_nodes; k++) {
      const cl_node *node = &g->nodes[sg->nodes[k]];
      for (int i = 0; i < node->n_in; i++) {
        int v = node->in[i];
        if (v < 0 || g->values[v].konst) continue;
        int p = g->values[v].producer;
        if (p >= 0 && seg_of[p] == s) {
          assert_true(pos[p] < k);
          continue;
        }
        bool listed = false;
        for (int j = 0; j < sg->n_inputs; j++)
          listed |= sg->inputs[j] == v;
        assert_true(listed);
        if (p < 0) {
          assert_true(g->values[v].is_input);
          continue;
        }
        bool dep = false, exported = false;
        for (int j = 0; j < sg->n_deps; j++)
          dep |= sg->deps[j] == seg_of[p];
        for (int j = 0; j < segs[seg_of[p]].n_outputs; j++)
          exported |= segs[seg_of[p]].outputs[j] == v;
        assert_true(dep && exported);
      }
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int v = g->outputs[i], p = g->values[v].producer;
    if (p < 0) continue;
    bool exported = false;
    for (int j = 0; j < segs[seg_of[p]].n_outputs; j++)
      exported |= segs[seg_of[p]].outputs[j] == v;
    assert_true(exported);
  }
  /* maximal: two segments of one device at adjacent levels that a direct edge joins would have merged */
  for (int n = 0; n < g->n_nodes; n++) {
    const cl_node *node = &g->nodes[n];
    for (int i = 0; i < node->n_in; i++) {
      int v = node->in[i];
      if (v < 0 || g->values[v].konst || g->values[v].producer < 0) continue;
      int p = g->values[v].producer;
      if (assign[p] == assign[n] && seg_of[p] != seg_of[n]) {
        /* allowed only where another path joins the two segments (merging them would close a cycle) */
        bool other = false;
        const cl_plan_segment *sn = &segs[seg_of[n]];
        for (int j = 0; j < sn->n_deps && !other; j++)
          if (sn->deps[j] != seg_of[p]) other = reaches(segs, seg_of[p], sn->deps[j]);
        assert_true(other);
      }
    }
  }
  free(seg_of);
  free(pos);
}

/* Runs the segments on the reference device one after another and compares the graph outputs with a whole-model
 * run on the same device. */
static void run_segments(cleave_ctx *ctx, cleave_model *m, const cl_plan_segment *segs, int n_segs,
                         const cleave_tensor *in, int n_in) {
  const cl_graph *g = &m->graph;
  const cl_device_iface *ref = cl_device_find("ref");
  assert_non_null(ref);
  void *dev;
  assert_int_equal(ref->create(ctx, &dev), 0);
  cl_tensor *vals = calloc((size_t)g->n_values + 1, sizeof *vals);
  for (int i = 0; i < n_in; i++) {
    int v = cl_graph_find_value(g, in[i].name);
    assert_true(v >= 0);
    vals[v].dtype = in[i].dtype;
    vals[v].ndim = in[i].ndim;
    memcpy(vals[v].dims, in[i].dims, sizeof in[i].dims);
    vals[v].data = (void *)in[i].data;
    vals[v].nbytes = in[i].nbytes;
  }
  bool *owned = calloc((size_t)g->n_values + 1, sizeof *owned);
  for (int s = 0; s < n_segs; s++) {
    const cl_plan_segment *sg = &segs[s];
    cl_segment seg = {.graph = g,
                      .nodes = sg->nodes,
                      .n_nodes = sg->n_nodes,
                      .inputs = sg->inputs,
                      .n_inputs = sg->n_inputs,
                      .outputs = sg->outputs,
                      .n_outputs = sg->n_outputs};
    void *exe;
    int rc = ref->compile(dev, &seg, &exe);
    if (rc) print_error("segment %d: %s\n", s, cleave_ctx_last_error(ctx));
    assert_int_equal(rc, 0);
    cl_tensor *ins = calloc((size_t)sg->n_inputs + 1, sizeof *ins);
    cl_tensor *outs = calloc((size_t)sg->n_outputs + 1, sizeof *outs);
    size_t *caps = calloc((size_t)sg->n_outputs + 1, sizeof *caps);
    for (int i = 0; i < sg->n_inputs; i++) {
      assert_true(vals[sg->inputs[i]].data != NULL || vals[sg->inputs[i]].nbytes == 0);
      ins[i] = vals[sg->inputs[i]];
    }
    cl_exec_io io = {.inputs = ins, .outputs = outs, .out_cap = caps};
    rc = ref->run(exe, &io);
    if (rc) print_error("segment %d run: %s\n", s, cleave_ctx_last_error(ctx));
    assert_int_equal(rc, 0);
    for (int i = 0; i < sg->n_outputs; i++) {
      vals[sg->outputs[i]] = outs[i];
      owned[sg->outputs[i]] = true;
    }
    ref->release(exe);
    free(ins);
    free(outs);
    free(caps);
  }
  cleave_session_options *so;
  cleave_session *sess;
  cleave_result *r;
  assert_int_equal(cleave_session_options_new(&so), 0);
  assert_int_equal(cleave_session_options_set_device(so, "ref"), 0);
  assert_int_equal(cleave_session_new(ctx, m, so, &sess), 0);
  assert_int_equal(cleave_run_sync(sess, in, (size_t)n_in, &r), 0);
  for (int i = 0; i < g->n_outputs; i++) {
    const cl_tensor *got = &vals[g->outputs[i]];
    const cleave_tensor *want = cleave_result_output(r, i);
    assert_int_equal(got->nbytes, want->nbytes);
    assert_memory_equal(got->data, want->data, want->nbytes);
  }
  cleave_result_free(r);
  cleave_session_free(sess);
  cleave_session_options_free(so);
  for (int v = 0; v < g->n_values; v++)
    if (owned[v]) cl_tensor_release(ctx, &vals[v]);
  free(owned);
  free(vals);
  ref->destroy(dev);
}

/* A random DAG of Add, Mul and Relu nodes over [2,3] tensors; tensors often have several consumers. */
static cleave_model *random_model(cleave_ctx *ctx, int nn) {
  tb_model *m = tb_new(13);
  const int64_t dims[] = {2, 3};
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 2, dims);
  tb_input(m, "y", CLEAVE_DTYPE_FLOAT32, 2, dims);
  char names[64][8];
  int used[64] = {0};
  snprintf(names[0], 8, "x");
  snprintf(names[1], 8, "y");
  int nt = 2;
  for (int n = 0; n < nn; n++) {
    int a = (int)(rnd() % (unsigned)nt), b = (int)(rnd() % (unsigned)nt);
    /* favour recent tensors so that the DAG is deep, not flat */
    if (rnd() % 2) a = nt - 1 - (int)(rnd() % (unsigned)(nt < 3 ? nt : 3));
    char in[32], out[8];
    snprintf(out, sizeof out, "t%d", n);
    int op = (int)(rnd() % 3);
    if (op == 2)
      snprintf(in, sizeof in, "%s", names[a]);
    else
      snprintf(in, sizeof in, "%s,%s", names[a], names[b]);
    used[a] = 1;
    if (op != 2) used[b] = 1;
    tb_add_node(m, op == 0 ? "Add" : op == 1 ? "Mul" : "Relu", in, out);
    snprintf(names[nt++], 8, "%s", out);
  }
  for (int t = 2; t < nt; t++)
    if (!used[t] || rnd() % 6 == 0) tb_output(m, names[t]);
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  tb_free(m);
  cleave_model *model = NULL;
  int rc = cleave_model_load_memory(ctx, buf, len, NULL, &model);
  if (rc) print_error("%s\n", cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);
  free(buf);
  return model;
}

static void test_random_dags(void **state) {
  (void)state;
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  float x[6], y[6];
  cl_fill_random_f32(x, 6, 1);
  cl_fill_random_f32(y, 6, 2);
  cleave_tensor in[2] = {
      {.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 2, .dims = {2, 3}, .data = x, .nbytes = sizeof x},
      {.name = "y", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 2, .dims = {2, 3}, .data = y, .nbytes = sizeof y}};
  int total_segs = 0, runs = 0;
  for (int i = 0; i < 60; i++) {
    cleave_model *m = random_model(ctx, 3 + i % 30);
    const cl_graph *g = &m->graph;
    int *assign = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
    for (int a = 0; a < 10; a++) {
      int nd = 2 + (int)(rnd() % 3);
      for (int n = 0; n < g->n_nodes; n++)
        assign[n] = (int)(rnd() % (unsigned)nd);
      cl_plan_segment *segs;
      int n_segs;
      assert_int_equal(cl_segments_build(ctx, g, assign, &segs, &n_segs), 0);
      check_segments(g, assign, segs, n_segs);
      total_segs += n_segs;
      if (a < 2) {
        run_segments(ctx, m, segs, n_segs, in, 2);
        runs++;
      }
      cl_segments_free(ctx, segs, n_segs);
    }
    free(assign);
    cleave_model_free(m);
  }
  printf("random DAGs: 600 assignments, %d segments, %d chained runs equal to whole-model runs\n", total_segs, runs);
  cleave_ctx_free(ctx);
}

static cleave_model *load_ppocr(cleave_ctx *ctx, const char *file) {
  const char *dir = getenv("CLEAVE_MODELS");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : CLEAVE_SOURCE_DIR "/models", file);
  struct stat st;
  if (stat(path, &st) != 0) return NULL;
  cleave_model *m = NULL;
  int rc = cleave_model_load(ctx, path, &m);
  if (rc) print_error("%s: %s\n", path, cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);
  return m;
}

static void test_ppocr(void **state) {
  (void)state;
  static const char *const files[] = {"ch_ppocr_mobile_v2.0_cls_infer.onnx", "ch_PP-OCRv4_det_infer.onnx",
                                      "ch_PP-OCRv4_rec_infer.onnx"};
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  int found = 0;
  for (int f = 0; f < 3; f++) {
    cleave_model *m = load_ppocr(ctx, files[f]);
    if (!m) continue;
    found++;
    const cl_graph *g = &m->graph;
    int *assign = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
    int max_segs = 0;
    for (int a = 0; a < 40; a++) {
      /* uniform random, or runs of one device (more realistic, fewer segments) */
      int nd = 2 + a % 3, cur = 0;
      for (int n = 0; n < g->n_nodes; n++) {
        if (a % 2 == 0 || rnd() % 8 == 0) cur = (int)(rnd() % (unsigned)nd);
        assign[n] = cur;
      }
      cl_plan_segment *segs;
      int n_segs;
      assert_int_equal(cl_segments_build(ctx, g, assign, &segs, &n_segs), 0);
      check_segments(g, assign, segs, n_segs);
      if (n_segs > max_segs) max_segs = n_segs;
      if (f == 0 && a < 4) { /* cls: run the segments */
        int64_t dims[4] = {1, 3, 48, 192}, n = 3 * 48 * 192;
        float *x = malloc(sizeof(float) * (size_t)n);
        cl_fill_random_f32(x, n, 3);
        cleave_tensor in = {.name = cleave_model_input(m, 0)->name,
                            .dtype = CLEAVE_DTYPE_FLOAT32,
                            .ndim = 4,
                            .data = x,
                            .nbytes = sizeof(float) * (size_t)n};
        memcpy(in.dims, dims, sizeof dims);
        run_segments(ctx, m, segs, n_segs, &in, 1);
        free(x);
      }
      cl_segments_free(ctx, segs, n_segs);
    }
    printf("%s: %d nodes, 40 random assignments valid (up to %d segments)%s\n", files[f], g->n_nodes, max_segs,
           f == 0 ? ", 4 run segment by segment" : "");
    free(assign);
    cleave_model_free(m);
  }
  cleave_ctx_free(ctx);
  if (!found) skip();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_dags),
      cmocka_unit_test(test_ppocr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
