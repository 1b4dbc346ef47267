/* tests/policies: the simulation on a small convolutional model built in memory, with the example traces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cleave.h"
#include "core/ir/model.h"
#include "onnx_builder.h"
#include "policies/sim.h"

#define SRC CLEAVE_SOURCE_DIR "/"

typedef struct fixture {
  cleave_ctx *ctx;
  cleave_model *model;
  cl_profile dev, edge;
  cl_link_trace commute, offline;
} fixture;

/* x [1,4,96,96] -> Conv 4->64 -> 6 x (Conv 64->64 3x3, Relu) -> GlobalAveragePool: a lot of compute between a
 * small input and a tiny output, so that the edge pays off on a fast link and not on a slow one. */
static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  *state = f;
  if (!f || cleave_ctx_new(&f->ctx, NULL, NULL)) return -1;
  tb_model *m = tb_new(13);
  const int64_t dx[] = {1, 4, 96, 96}, dw0[] = {64, 4, 3, 3}, dw[] = {64, 64, 3, 3}, pads[] = {1, 1, 1, 1};
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 4, dx);
  float *w = calloc(64 * 64 * 9, sizeof *w);
  for (int i = 0; i < 64 * 64 * 9; i++)
    w[i] = (float)((i % 7) - 3) * 0.01f;
  tb_init_f32(m, "w0", 4, dw0, w, 64 * 4 * 9);
  tb_attr_ints(tb_add_node(m, "Conv", "x,w0", "h0"), "pads", pads, 4);
  char in[32], out[32], wn[16], act[32];
  for (int l = 1; l <= 6; l++) {
    snprintf(wn, sizeof wn, "w%d", l);
    tb_init_f32(m, wn, 4, dw, w, 64 * 64 * 9);
    snprintf(in, sizeof in, "h%d,%s", l - 1, wn);
    snprintf(out, sizeof out, "c%d", l);
    tb_attr_ints(tb_add_node(m, "Conv", in, out), "pads", pads, 4);
    snprintf(act, sizeof act, "h%d", l);
    tb_add_node(m, "Relu", out, act);
  }
  tb_add_node(m, "GlobalAveragePool", "h6", "y");
  tb_output(m, "y");
  free(w);
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  tb_free(m);
  int rc = cleave_model_load_memory(f->ctx, buf, len, NULL, &f->model);
  free(buf);
  if (rc || cl_profile_load(f->ctx, SRC "tests/policies/fixtures/profiles/phone.json", &f->dev) ||
      cl_profile_load(f->ctx, SRC "tests/policies/fixtures/profiles/edge.json", &f->edge) ||
      cl_trace_load(f->ctx, SRC "policies/traces/commute.csv", NULL, &f->commute) ||
      cl_trace_load(f->ctx, SRC "policies/traces/offline.csv", NULL, &f->offline)) {
    print_error("setup: %s\n", cleave_ctx_last_error(f->ctx));
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (!f) return 0;
  cl_trace_free(&f->commute);
  cl_trace_free(&f->offline);
  cleave_model_free(f->model);
  cleave_ctx_free(f->ctx);
  free(f);
  return 0;
}

static cl_sim_config config(fixture *f, const cl_link_trace *link) {
  return (cl_sim_config){.graph = &f->model->graph,
                         .device = &f->dev,
                         .edge = &f->edge,
                         .link = link,
                         .radio = CL_RADIO_LTE,
                         .rate_per_s = 0.5,
                         .seed = 7,
                         .deadline_ms = 300};
}

static void test_commute(void **state) {
  fixture *f = *state;
  cl_sim_config c = config(f, &f->commute);
  cl_sim_result r;
  int rc = cl_sim_run(f->ctx, &c, &r);
  if (rc) fail_msg("%s", cleave_ctx_last_error(f->ctx));
  assert_true(r.n_pts > 1000 && r.n_pts < 1400); /* 0.5/s over 2400 s */
  const cl_sim_summary *s = r.sum;
  /* AUTO adapts: it beats every static policy on the objective they are all scored on. */
  for (int p = CL_SIM_LOCAL; p <= CL_SIM_STATIC; p++)
    if (!(s[CL_SIM_AUTO].mean_objective < s[p].mean_objective))
      fail_msg("auto %.2f does not beat %s %.2f", s[CL_SIM_AUTO].mean_objective, cl_sim_policy_name(p),
               s[p].mean_objective);
  assert_true(s[CL_SIM_AUTO].plan_changes > 0);
  assert_true(s[CL_SIM_ORACLE].mean_objective <= s[CL_SIM_AUTO].mean_objective * 1.02);
  /* All-local sends nothing and never falls back; all-edge falls back in the tunnels; AUTO, which sees the link
   * go down, rarely does. */
  assert_float_equal(s[CL_SIM_LOCAL].up_bytes, 0, 0);
  assert_int_equal(s[CL_SIM_LOCAL].fallbacks, 0);
  assert_true(s[CL_SIM_EDGE].fallbacks > 0);
  assert_true(s[CL_SIM_AUTO].fallbacks < s[CL_SIM_EDGE].fallbacks);
  assert_true(s[CL_SIM_EDGE].up_bytes > s[CL_SIM_AUTO].up_bytes);
  /* Latencies are ordered, energy and battery add up, the thermal model heats the device. */
  for (int p = 0; p < CL_SIM_POLICIES; p++) {
    assert_true(s[p].p50_ms > 0 && s[p].p50_ms <= s[p].p95_ms);
    assert_float_equal(s[p].battery_used, s[p].energy_j / (15 * 3600.0), 1e-9);
    assert_true(s[p].energy_j > f->dev.idle_w * 2400 * 0.99);
  }
  assert_true(s[CL_SIM_LOCAL].max_temp_c > f->dev.thermal.ambient_c + 1);
  /* Every point is in time order and names a known plan. */
  for (int i = 0; i < r.n_pts; i++) {
    assert_true(r.pts[CL_SIM_AUTO][i].plan >= 0 && r.pts[CL_SIM_AUTO][i].plan < r.n_plans);
    if (i) assert_true(r.pts[CL_SIM_AUTO][i].t_s >= r.pts[CL_SIM_AUTO][i - 1].t_s);
  }

  /* The outputs. */
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  assert_int_equal(cl_sim_write_json(&r, m), 0);
  fclose(m);
  json_error_t err;
  json_t *j = json_loadb(buf, len, 0, &err);
  assert_non_null(j);
  assert_non_null(json_object_get(json_object_get(j, "policies"), "oracle"));
  assert_int_equal(
      json_array_size(json_object_get(json_object_get(json_object_get(j, "policies"), "auto"), "requests")),
      (size_t)r.n_pts);
  json_decref(j);
  free(buf);
  m = open_memstream(&buf, &len);
  assert_int_equal(cl_sim_write_html(&r, "a <test>", m), 0);
  fclose(m);
  assert_non_null(strstr(buf, "<svg"));
  assert_non_null(strstr(buf, "a &lt;test&gt;"));
  assert_null(strstr(buf, "nan"));
  free(buf);
  cl_sim_result_free(&r);
  cl_sim_result_free(&r);
}

static void test_offline(void **state) {
  fixture *f = *state;
  cl_sim_config c = config(f, &f->offline);
  c.rate_per_s = 2;
  cl_sim_result r;
  assert_int_equal(cl_sim_run(f->ctx, &c, &r), 0);
  int during = 0, local_during = 0, edge_before = 0, before = 0;
  for (int i = 0; i < r.n_pts; i++) {
    const cl_sim_point *q = &r.pts[CL_SIM_AUTO][i];
    if (q->t_s > 121 && q->t_s < 239) {
      during++;
      local_during += r.plans[q->plan].edge_nodes == 0;
    } else if (q->t_s > 5 && q->t_s < 119) {
      before++;
      edge_before += r.plans[q->plan].edge_nodes > 0;
    }
  }
  /* Offline, AUTO keeps everything on the device; on Wi-Fi it used the edge. */
  assert_true(during > 100);
  assert_int_equal(local_during, during);
  assert_true(edge_before > before / 2);
  assert_true(r.sum[CL_SIM_EDGE].fallbacks >= during / 2);
  cl_sim_result_free(&r);
}

static void test_bad_config(void **state) {
  fixture *f = *state;
  cl_sim_config c = config(f, &f->commute);
  cl_sim_result r;
  c.edge = NULL;
  assert_int_equal(cl_sim_run(f->ctx, &c, &r), CLEAVE_EINVAL);
  c = config(f, &f->commute);
  c.edge = &f->dev;
  assert_int_equal(cl_sim_run(f->ctx, &c, &r), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "not an edge"));
  c = config(f, &f->commute);
  c.rate_per_s = 0;
  assert_int_equal(cl_sim_run(f->ctx, &c, &r), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "rate"));
  c = config(f, &f->commute);
  c.battery_start = 1.5;
  assert_int_equal(cl_sim_run(f->ctx, &c, &r), CLEAVE_EINVAL);
  const double arr[] = {1, 3, 2};
  c = config(f, &f->commute);
  c.arrivals = arr;
  c.n_arrivals = 3;
  assert_int_equal(cl_sim_run(f->ctx, &c, &r), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "arrival 2"));
  /* Given arrivals are used as they are. */
  const double ok[] = {1, 2, 2, 50};
  c.arrivals = ok;
  c.n_arrivals = 4;
  assert_int_equal(cl_sim_run(f->ctx, &c, &r), 0);
  assert_int_equal(r.n_pts, 4);
  assert_float_equal(r.pts[CL_SIM_LOCAL][3].t_s, 50, 0);
  cl_sim_result_free(&r);
}

static void test_explain(void **state) {
  fixture *f = *state;
  cleave_session *sess;
  assert_int_equal(cleave_session_new(f->ctx, f->model, NULL, &sess), 0);
  assert_int_equal(cleave_policy_set_system_root(f->ctx, NULL), 0);
  char *js = NULL;
  json_error_t err;
  /* Without profiles: signals, decision and rules, and what is missing. */
  assert_int_equal(cleave_signal_set(f->ctx, CLEAVE_SIGNAL_BATTERY_LEVEL, 0.1), 0);
  assert_int_equal(cleave_session_explain(sess, &js), 0);
  json_t *j = json_loads(js, 0, &err);
  assert_non_null(j);
  assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "cleave_policy_set_profiles"));
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(json_object_get(j, "signals"), "battery_level"), "source")),
      "host");
  json_decref(j);
  cleave_string_free(f->ctx, js);

  assert_int_equal(cleave_policy_set_profiles(f->ctx, SRC "tests/policies/fixtures/profiles/edge.json", NULL),
                   CLEAVE_EINVAL);
  assert_int_equal(cleave_policy_set_profiles(f->ctx, SRC "tests/policies/fixtures/profiles/phone.json",
                                              SRC "tests/policies/fixtures/profiles/edge.json"),
                   0);
  /* Fast Wi-Fi: the edge wins; offline: only the device is feasible, and the rules say why. */
  assert_int_equal(cleave_signal_set(f->ctx, CLEAVE_SIGNAL_NET_UPLINK_MBPS, 18.88), 0);
  assert_int_equal(cleave_signal_set(f->ctx, CLEAVE_SIGNAL_NET_DOWNLINK_MBPS, 40), 0);
  assert_int_equal(cleave_signal_set(f->ctx, CLEAVE_SIGNAL_NET_RTT_MS, 20), 0);
  assert_int_equal(cleave_session_explain(sess, &js), 0);
  j = json_loads(js, 0, &err);
  assert_non_null(j);
  assert_true(json_array_size(json_object_get(j, "candidates")) >= 2);
  const char *chosen = json_string_value(json_object_get(json_object_get(j, "chosen"), "name"));
  assert_non_null(chosen);
  /* The model's input is pinned to the device (the default), so the all-edge candidate is infeasible and says
   * why; cutting after the first layer would send a tensor 36 times the input's size: the device wins. */
  assert_string_equal(chosen, "local:test-phone-cpu");
  json_t *cands = json_object_get(j, "candidates");
  bool edge_refused = false;
  for (size_t i = 0; i < json_array_size(cands); i++) {
    json_t *c = json_array_get(cands, i);
    if (strcmp(json_string_value(json_object_get(c, "name")), "edge") == 0)
      edge_refused = json_is_false(json_object_get(c, "feasible")) && json_string_value(json_object_get(c, "why"));
  }
  assert_true(edge_refused);
  assert_true(json_real_value(json_object_get(json_object_get(j, "decision"), "w_energy")) > 0.05);
  json_decref(j);
  cleave_string_free(f->ctx, js);
  assert_int_equal(cleave_signal_set(f->ctx, CLEAVE_SIGNAL_NET_ONLINE, 0), 0);
  assert_int_equal(cleave_session_explain(sess, &js), 0);
  j = json_loads(js, 0, &err);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "chosen"), "name")),
                      "local:test-phone-cpu");
  bool said = false;
  json_t *rules = json_object_get(j, "rules");
  for (size_t i = 0; i < json_array_size(rules); i++)
    said |= strstr(json_string_value(json_array_get(rules, i)), "offline") != NULL;
  assert_true(said);
  json_decref(j);
  cleave_string_free(f->ctx, js);
  /* A mode the signals contradict is an error. */
  assert_int_equal(cleave_policy_set_mode(f->ctx, CLEAVE_MODE_ONLY_EDGE), 0);
  assert_int_equal(cleave_session_explain(sess, &js), CLEAVE_EINFEASIBLE);
  assert_int_equal(cleave_policy_set_mode(f->ctx, CLEAVE_MODE_AUTO), 0);
  /* Profiles the app loaded are used in place. */
  cleave_profile *dev, *edge;
  assert_int_equal(cleave_profile_load(f->ctx, SRC "partitioner/profiles/lowend-cpu.json", &dev), 0);
  assert_int_equal(cleave_profile_load(f->ctx, SRC "partitioner/profiles/edge-a10.json", &edge), 0);
  assert_int_equal(cleave_policy_use_profiles(f->ctx, edge, NULL), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "edge-a10"));
  assert_int_equal(cleave_policy_use_profiles(f->ctx, dev, dev), CLEAVE_EINVAL);
  assert_int_equal(cleave_policy_use_profiles(f->ctx, dev, edge), 0);
  assert_int_equal(cleave_signal_set(f->ctx, CLEAVE_SIGNAL_NET_ONLINE, 1), 0);
  assert_int_equal(cleave_session_explain(sess, &js), 0);
  j = json_loads(js, 0, &err);
  assert_non_null(j);
  cands = json_object_get(j, "candidates");
  bool local = false, with_edge = false;
  for (size_t i = 0; i < json_array_size(cands); i++) {
    const char *name = json_string_value(json_object_get(json_array_get(cands, i), "name"));
    local |= strcmp(name, "local:lowend-cpu") == 0;
    with_edge |= strcmp(name, "cut:lowend-cpu|edge") == 0;
  }
  assert_true(local && with_edge);
  json_decref(j);
  cleave_string_free(f->ctx, js);
  /* None: the explanation says what is missing. */
  assert_int_equal(cleave_policy_use_profiles(f->ctx, NULL, NULL), 0);
  assert_int_equal(cleave_session_explain(sess, &js), 0);
  j = json_loads(js, 0, &err);
  assert_non_null(json_object_get(j, "error"));
  assert_null(json_object_get(j, "candidates"));
  json_decref(j);
  cleave_string_free(f->ctx, js);
  cleave_profile_free(dev);
  cleave_profile_free(edge);
  cleave_session_free(sess);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commute),
      cmocka_unit_test(test_offline),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_explain),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
