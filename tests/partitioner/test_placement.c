/* tests/partitioner: the planner (candidates, constraints and their messages, modes, pins, memory caps), the
 * plan cache and hysteresis, the online correction, profiles, and a failing allocator. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ir/model.h"
#include "onnx_builder.h"
#include "partitioner/correction.h"
#include "partitioner/plan_cache.h"
#include "partitioner/placement.h"
#include "test_alloc.h"

/* x[1,256] -> MatMul(w1 256x256) -> Relu -> MatMul(w2) -> {Relu, Sigmoid} -> Add -> y: heavy products, a small
 * input and output. */
static uint8_t *model_bytes(size_t *len) {
  tb_model *m = tb_new(13);
  const int64_t dx[] = {1, 256}, dw[] = {256, 256};
  static float w[256 * 256];
  for (int i = 0; i < 256 * 256; i++)
    w[i] = (float)((i % 7) - 3) / 100.0f;
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 2, dx);
  tb_init_f32(m, "w1", 2, dw, w, 256 * 256);
  tb_init_f32(m, "w2", 2, dw, w, 256 * 256);
  tb_add_node(m, "MatMul", "x,w1", "a");
  tb_add_node(m, "Relu", "a", "b");
  tb_add_node(m, "MatMul", "b,w2", "c");
  tb_add_node(m, "Relu", "c", "d");
  tb_add_node(m, "Sigmoid", "c", "e");
  tb_add_node(m, "Add", "d,e", "y");
  tb_output(m, "y");
  uint8_t *buf = tb_pack(m, len);
  tb_free(m);
  return buf;
}

static cl_profile local_prof(void) {
  cl_profile p = {
      .name = "phone", .kind = CL_DEV_CPU, .mem_gbps = 10, .dispatch_ms = 0.01, .active_w = 3, .idle_w = 0.2};
  for (int k = 0; k < CL_OPC_COUNT; k++)
    p.gflops[k] = 0.005; /* very slow: offloading pays */
  return p;
}

static cl_profile edge_prof(void) {
  cl_profile p = {
      .name = "edge", .kind = CL_DEV_EDGE, .mem_gbps = 500, .dispatch_ms = 0.01, .active_w = 100, .cost_per_s = 1};
  for (int k = 0; k < CL_OPC_COUNT; k++)
    p.gflops[k] = 1000;
  return p;
}

typedef struct fx {
  cleave_ctx *ctx;
  cleave_model *m;
  cl_planner *pl;
  cl_profile loc, edge;
  cl_place_problem p;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  size_t len;
  uint8_t *buf = model_bytes(&len);
  if (cleave_ctx_new(&f->ctx, NULL, NULL) || cleave_model_load_memory(f->ctx, buf, len, NULL, &f->m) ||
      cl_planner_new(f->ctx, &f->m->graph, &f->pl))
    return -1;
  free(buf);
  f->loc = local_prof();
  f->edge = edge_prof();
  cl_place_problem_init(&f->p);
  cl_place_problem_add(&f->p, &f->loc);
  cl_place_problem_add(&f->p, &f->edge);
  f->p.net.up_mbps = f->p.net.down_mbps = 100;
  f->p.net.rtt_ms = 5;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  cl_planner_free(f->pl);
  cleave_model_free(f->m);
  cleave_ctx_free(f->ctx);
  free(f);
  return 0;
}

static int node_id(const fx *f, const char *out_name) {
  int v = cl_graph_find_value(&f->m->graph, out_name);
  return f->m->graph.values[v].producer;
}

static void test_offload_and_pins(void **state) {
  fx *f = *state;
  cl_plan plan;
  /* inputs pinned: the first MatMul reads x, so it stays local; the rest goes to the edge */
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  assert_int_equal(plan.assign[node_id(f, "a")], 0);
  assert_int_equal(plan.assign[node_id(f, "c")], 1);
  int nc;
  const cl_plan_candidate *c = cl_planner_candidates(f->pl, &nc);
  assert_true(nc >= 3);
  for (int i = 0; i < nc; i++)
    if (c[i].feasible) assert_true(plan.obj.value <= c[i].obj.value + 1e-9);
  bool edge_infeasible = false;
  for (int i = 0; i < nc; i++)
    if (strcmp(c[i].name, "edge") == 0) edge_infeasible = !c[i].feasible && strstr(c[i].why, "privacy pin");
  assert_true(edge_infeasible);
  cl_plan_free(f->ctx, &plan);
  /* inputs allowed to leave: everything on the edge */
  f->p.pin_inputs = false;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  for (int n = 0; n < plan.n_nodes; n++)
    assert_int_equal(plan.assign[n], 1);
  assert_string_equal(plan.name, "edge");
  assert_int_equal(plan.n_segments, 1);
  assert_true(plan.obj.up_bytes == 1024 && plan.obj.down_bytes == 1024);
  cl_plan_free(f->ctx, &plan);
  /* an app pin on 'c' keeps its producer and both readers local */
  const char *pins[] = {"c"};
  f->p.pinned = pins;
  f->p.n_pinned = 1;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  assert_int_equal(plan.assign[node_id(f, "c")], 0);
  assert_int_equal(plan.assign[node_id(f, "d")], 0);
  assert_int_equal(plan.assign[node_id(f, "e")], 0);
  cl_plan_free(f->ctx, &plan);
}

static void test_modes_and_infeasible(void **state) {
  fx *f = *state;
  cl_plan plan;
  f->p.mode = CL_PLACE_ONLY_LOCAL;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  for (int n = 0; n < plan.n_nodes; n++)
    assert_int_equal(plan.assign[n], 0);
  cl_plan_free(f->ctx, &plan);
  /* the local device cannot run Sigmoid, and ONLY_LOCAL forbids the edge */
  snprintf(f->loc.unsupported[0], CL_PROFILE_OP_MAX, "Sigmoid");
  f->loc.n_unsupported = 1;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), CLEAVE_EINFEASIBLE);
  const char *msg = cleave_ctx_last_error(f->ctx);
  assert_non_null(strstr(msg, "(Sigmoid) can run on no device"));
  assert_non_null(strstr(msg, "mode ONLY_LOCAL forbids the edge"));
  /* AUTO: Sigmoid goes to the edge even though the edge is slower there... because it must */
  f->p.mode = CL_PLACE_AUTO;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  assert_int_equal(plan.assign[node_id(f, "e")], 1);
  cl_plan_free(f->ctx, &plan);
  /* offline edge: infeasible, naming the link */
  f->p.net.up_mbps = 0;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), CLEAVE_EINFEASIBLE);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "link to the edge 'edge' is down"));
  f->p.net.up_mbps = 100;
  f->loc.n_unsupported = 0;
  /* ONLY_EDGE with pinned inputs */
  f->p.mode = CL_PLACE_ONLY_EDGE;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), CLEAVE_EINFEASIBLE);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "privacy pin on tensor 'x'"));
  /* memory cap: the edge holds no weights, the phone only one matrix: infeasible, naming the cap */
  f->p.mode = CL_PLACE_AUTO;
  f->p.dev[0].mem_cap = 300e3;
  f->p.dev[1].mem_cap = 1e3;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), CLEAVE_EINFEASIBLE);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "memory cap of"));
  /* bad problems */
  f->p.dev[0].mem_cap = f->p.dev[1].mem_cap = 0;
  f->p.w_lat = -1;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), CLEAVE_EINVAL);
  f->p.w_lat = 1;
}

static void test_memory_cap_moves_weights(void **state) {
  fx *f = *state;
  cl_plan plan;
  f->p.pin_inputs = false;
  f->edge.gflops[CL_OPC_GEMM] = 0.001; /* products are slower on the edge: local unless forced */
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  for (int n = 0; n < plan.n_nodes; n++)
    assert_int_equal(plan.assign[n], 0);
  cl_plan_free(f->ctx, &plan);
  f->p.dev[0].mem_cap = 300e3; /* room for one 256 KB matrix */
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  int local_mm = (plan.assign[node_id(f, "a")] == 0) + (plan.assign[node_id(f, "c")] == 0);
  assert_int_equal(local_mm, 1);
  assert_int_equal(cl_planner_check(f->pl, &f->p, plan.assign), 0);
  cl_plan_free(f->ctx, &plan);
}

static void test_cache_and_hysteresis(void **state) {
  fx *f = *state;
  cl_conditions a = {.up_mbps = 5.85, .down_mbps = 20, .rtt_ms = 50}, b = a, c = a;
  b.up_mbps = 6.2; /* same log bucket */
  c.up_mbps = 18.88;
  cl_plan_key ka = cl_plan_key_of(&a), kb = cl_plan_key_of(&b), kc = cl_plan_key_of(&c);
  assert_true(cl_plan_key_eq(&ka, &kb));
  assert_false(cl_plan_key_eq(&ka, &kc));
  cl_plan_cache *cache;
  assert_int_equal(cl_plan_cache_new(f->ctx, 2, &cache), 0);
  cl_plan plan;
  assert_int_equal(cl_planner_plan(f->pl, &f->p, &plan), 0);
  assert_null(cl_plan_cache_get(cache, &ka));
  assert_int_equal(cl_plan_cache_put(cache, &ka, &plan), 0);
  const cl_plan *hit = cl_plan_cache_get(cache, &kb);
  assert_non_null(hit);
  assert_memory_equal(hit->assign, plan.assign, sizeof(int) * (size_t)plan.n_nodes);
  cl_conditions d = a;
  d.rtt_ms = 400;
  cl_plan_key kd = cl_plan_key_of(&d);
  assert_int_equal(cl_plan_cache_put(cache, &kc, &plan), 0);
  assert_int_equal(cl_plan_cache_put(cache, &kd, &plan), 0); /* evicts the least recently used */
  long hits, misses;
  cl_plan_cache_stats(cache, &hits, &misses);
  assert_int_equal(hits, 1);
  assert_int_equal(misses, 1);
  cl_plan_cache_free(cache);
  cl_plan_free(f->ctx, &plan);

  cl_hysteresis h;
  cl_hysteresis_init(&h);
  assert_true(cl_hysteresis_offer(&h, 100, 80, 1));  /* 20 % gain: at once */
  assert_false(cl_hysteresis_offer(&h, 100, 97, 2)); /* 3 %: wait */
  assert_false(cl_hysteresis_offer(&h, 100, 97, 2));
  assert_true(cl_hysteresis_offer(&h, 100, 97, 2)); /* persisted 3 times */
  assert_false(cl_hysteresis_offer(&h, 100, 97, 3));
  assert_false(cl_hysteresis_offer(&h, 100, 98, 4));      /* another proposal restarts the count */
  assert_false(cl_hysteresis_offer(&h, 100, 120, 5));     /* worse: never */
  assert_true(cl_hysteresis_offer(&h, INFINITY, 500, 6)); /* the plan in use broke */
}

static void test_correction(void **state) {
  fx *f = *state;
  cl_correction c;
  cl_correction_init(&c, f->ctx);
  assert_true(cl_correction_factor(&c, "phone", CL_OPC_GEMM) == 1);
  assert_int_equal(cl_correction_observe(&c, "phone", CL_OPC_GEMM, 2, 1), 0);
  assert_true(fabs(cl_correction_factor(&c, "phone", CL_OPC_GEMM) - 2) < 1e-12);
  assert_int_equal(cl_correction_observe(&c, "phone", CL_OPC_GEMM, 1, 1), 0);
  assert_true(fabs(cl_correction_factor(&c, "phone", CL_OPC_GEMM) - 1.8) < 1e-12);
  /* the planner uses it: gemm twice as slow locally */
  double before = cl_planner_node_ms(f->pl, &f->p, node_id(f, "a"), 0);
  f->p.correction = &c;
  double after = cl_planner_node_ms(f->pl, &f->p, node_id(f, "a"), 0);
  assert_true(fabs(after / before - 1.8) < 1e-9);
  char path[] = "/tmp/cleave_corr_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(cl_correction_save(&c, path), 0);
  cl_correction d;
  cl_correction_init(&d, f->ctx);
  assert_int_equal(cl_correction_load(&d, path), 0);
  assert_true(fabs(cl_correction_factor(&d, "phone", CL_OPC_GEMM) - 1.8) < 1e-9);
  FILE *fp = fopen(path, "w");
  fputs("{\"devices\": {\"phone\": {\"gemm\": {\"factor\": -1, \"count\": 1}}}}", fp);
  fclose(fp);
  assert_int_equal(cl_correction_load(&d, path), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "devices.phone.gemm"));
  remove(path);
}

/* cl_planner_evaluate() costs an assignment under the problem it is given, not under the one the planner last
 * planned for: before any plan, and after a plan under other conditions, it agrees with a fresh planner. */
static void test_evaluate_uses_its_problem(void **state) {
  fx *f = *state;
  int nn = f->m->graph.n_nodes, assign[16];
  assert_true(nn <= 16);
  for (int n = 0; n < nn; n++)
    assign[n] = n < 2 ? 0 : 1; /* MatMul + Relu local, the rest on the edge */
  cl_plan before, ref, after, plan;
  assert_int_equal(cl_planner_evaluate(f->pl, &f->p, assign, &before), 0);
  assert_true(before.obj.latency_ms > 0 && before.obj.up_bytes > 0);
  /* plan under a slow, far link and a throttled device, then evaluate under the original problem */
  cl_place_problem q = f->p;
  q.net.up_mbps = q.net.down_mbps = 0.5;
  q.net.rtt_ms = 300;
  q.dev[0].speed = 3;
  assert_int_equal(cl_planner_plan(f->pl, &q, &plan), 0);
  assert_int_equal(cl_planner_evaluate(f->pl, &f->p, assign, &after), 0);
  cl_planner *fresh;
  assert_int_equal(cl_planner_new(f->ctx, &f->m->graph, &fresh), 0);
  assert_int_equal(cl_planner_evaluate(fresh, &f->p, assign, &ref), 0);
  assert_true(before.obj.value == ref.obj.value && after.obj.value == ref.obj.value);
  assert_true(after.obj.latency_ms == ref.obj.latency_ms && after.obj.energy_mj == ref.obj.energy_mj);
  /* and under q it is slower: the link and the device's derating count */
  cl_plan under_q;
  assert_int_equal(cl_planner_evaluate(fresh, &q, assign, &under_q), 0);
  assert_true(under_q.obj.latency_ms > ref.obj.latency_ms + 300);
  /* a malformed problem is an error, not an evaluation under stale costs */
  cl_place_problem bad = f->p;
  bad.w_lat = -1;
  cl_plan none;
  assert_int_equal(cl_planner_evaluate(fresh, &bad, assign, &none), CLEAVE_EINVAL);
  cl_plan_free(f->ctx, &before);
  cl_plan_free(f->ctx, &ref);
  cl_plan_free(f->ctx, &after);
  cl_plan_free(f->ctx, &plan);
  cl_plan_free(f->ctx, &under_q);
  cl_planner_free(fresh);
}

static void test_profile_roundtrip(void **state) {
  fx *f = *state;
  char path[] = "/tmp/cleave_prof_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  f->loc.thermal = (cl_thermal_model){
      .r_c_per_w = 10, .c_j_per_c = 5, .ambient_c = 25, .throttle_c = 60, .max_c = 80, .min_speed = 0.5};
  snprintf(f->loc.unsupported[0], CL_PROFILE_OP_MAX, "Resize");
  f->loc.n_unsupported = 1;
  assert_int_equal(cl_profile_save(f->ctx, &f->loc, path), 0);
  cl_profile q;
  assert_int_equal(cl_profile_load(f->ctx, path, &q), 0);
  assert_string_equal(q.name, "phone");
  assert_true(q.kind == CL_DEV_CPU && q.n_unsupported == 1 && fabs(q.gflops[CL_OPC_GEMM] - 0.005) < 1e-9);
  assert_true(fabs(cl_thermal_speed(&q.thermal, 70) - 0.75) < 1e-9);
  assert_true(cl_thermal_speed(&q.thermal, 50) == 1);
  remove(path);
  const char *bad = "{\"name\": \"n\", \"kind\": \"cpu\", \"gflops\": {\"conv\": 1}, \"mem_gbps\": 1, "
                    "\"active_w\": 1, \"thermal\": {\"r_c_per_w\": 1}}";
  assert_int_equal(cl_profile_parse(f->ctx, bad, strlen(bad), "t.json", &q), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "'c_j_per_c' is missing"));
  f->loc.n_unsupported = 0;
}

/* Every allocation of planner creation and planning fails in turn: each failure is CLEAVE_ENOMEM, nothing
 * leaks (the sanitizer build checks). */
static void test_failing_allocator(void **state) {
  (void)state;
  size_t len;
  uint8_t *buf = model_bytes(&len);
  cl_profile loc = local_prof(), edge = edge_prof();
  tb_counter cnt = {0, -1};
  cleave_allocator a = tb_counting_allocator(&cnt);
  cleave_options *opt;
  assert_int_equal(cleave_options_new(&opt), 0);
  assert_int_equal(cleave_options_set_allocator(opt, &a), 0);
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, opt), 0);
  cleave_model *m;
  assert_int_equal(cleave_model_load_memory(ctx, buf, len, NULL, &m), 0);
  cl_place_problem p;
  cl_place_problem_init(&p);
  cl_place_problem_add(&p, &loc);
  cl_place_problem_add(&p, &edge);
  p.pin_inputs = false;
  long total = 0, failures = 0;
  for (long i = -1; i < total || i < 0; i++) {
    long base = cnt.allocs;
    cnt.fail_at = i < 0 ? -1 : base + i;
    cl_planner *pl = NULL;
    cl_plan plan = {0};
    int rc = cl_planner_new(ctx, &m->graph, &pl);
    if (!rc) rc = cl_planner_plan(pl, &p, &plan);
    if (i < 0) {
      assert_int_equal(rc, 0);
      total = cnt.allocs - base;
    } else {
      assert_int_equal(rc, CLEAVE_ENOMEM);
      failures++;
    }
    cl_plan_free(ctx, &plan);
    cl_planner_free(pl);
  }
  cnt.fail_at = -1;
  printf("failing allocator: %ld allocations, each failed once\n", failures);
  assert_true(failures > 10);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  cleave_options_free(opt);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_offload_and_pins, setup, teardown),
      cmocka_unit_test_setup_teardown(test_modes_and_infeasible, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memory_cap_moves_weights, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_and_hysteresis, setup, teardown),
      cmocka_unit_test_setup_teardown(test_correction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_evaluate_uses_its_problem, setup, teardown),
      cmocka_unit_test_setup_teardown(test_profile_roundtrip, setup, teardown),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
