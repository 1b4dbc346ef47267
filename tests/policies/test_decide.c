/* tests/policies: the Linux signal source on fixture trees, host-pushed values, modes, power preference, the
 * custom policy and the built-in rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleave.h"
#include "core/ir/ctx.h"
#include "policies/decide.h"

#define FIXTURES CLEAVE_SOURCE_DIR "/tests/policies/fixtures/"

static int setup(void **state) {
  cleave_ctx *ctx;
  if (cleave_ctx_new(&ctx, NULL, NULL)) return -1;
  *state = ctx;
  return 0;
}

static int teardown(void **state) {
  cleave_ctx_free(*state);
  return 0;
}

static cleave_ctx *on_fixture(void **state, const char *name) {
  cleave_ctx *ctx = *state;
  char root[512];
  snprintf(root, sizeof root, FIXTURES "%s", name);
  assert_int_equal(cleave_policy_set_system_root(ctx, root), 0);
  return ctx;
}

static double sig(cleave_ctx *ctx, cleave_signal k) {
  double v = NAN;
  int rc = cleave_signal_get(ctx, k, &v);
  return rc == 0 ? v : NAN;
}

static void decide(cleave_ctx *ctx, cl_policy_result *r) {
  cl_signals s;
  assert_int_equal(cl_ctx_signals(ctx, &s), 0);
  int rc = cl_policy_decide(ctx, &s, r);
  if (rc) fail_msg("decide: %s", cleave_ctx_last_error(ctx));
}

static bool has_rule(const cl_policy_result *r, const char *needle) {
  for (int i = 0; i < r->n_rules; i++)
    if (strstr(r->rules[i], needle)) return true;
  return false;
}

static void test_normal(void **state) {
  cleave_ctx *ctx = on_fixture(state, "normal");
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL), 0.80, 1e-9);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_BATTERY_CHARGING), 1, 0);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_TEMPERATURE_C), 45, 1e-9);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_THERMAL_HEADROOM), (45.0 - 25) / (85 - 25), 1e-9);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_NET_ONLINE), 1, 0);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_NET_METERED), 0, 0);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_MEM_PRESSURE), 0, 0);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_MEM_AVAILABLE_MB), 4096, 1e-9);
  double v;
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_THERMAL_STATUS, &v), CLEAVE_ENOTFOUND);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "thermal_status"));

  cl_policy_result r;
  decide(ctx, &r);
  assert_float_equal(r.d.w_latency, CL_POLICY_W_LATENCY, 0);
  assert_float_equal(r.d.w_energy, CL_POLICY_W_ENERGY, 0);
  assert_float_equal(r.d.local_slowdown, 1, 0);
  assert_float_equal(r.d.memory_cap_scale, 1, 0);
  assert_float_equal(r.d.memory_cap_mb, 2048, 1e-9);
  assert_true(r.d.edge_allowed && r.d.local_allowed);
  assert_float_equal(r.cost_per_mb, 0, 0);
  assert_true(isnan(r.up_mbps) && isnan(r.rtt_ms));
}

static void test_battery_low(void **state) {
  cleave_ctx *ctx = on_fixture(state, "battery_low");
  /* The wireless mouse's full battery (scope Device) must not count. */
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL), 0.08, 1e-9);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_BATTERY_CHARGING), 0, 0);
  cl_policy_result r;
  decide(ctx, &r);
  /* Between 15% (x4) and 5% (x8): 8% gives x6.8. */
  assert_float_equal(r.d.w_energy, CL_POLICY_W_ENERGY * 6.8, 1e-12);
  assert_float_equal(r.d.w_latency, CL_POLICY_W_LATENCY, 0);
  assert_true(has_rule(&r, "battery 8% and discharging"));

  /* The same battery on the charger is not a reason to save energy. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_CHARGING, 1), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.w_energy, CL_POLICY_W_ENERGY, 0);
  /* High performance keeps its speed above 15%, but not at 8%. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_CHARGING, NAN), 0);
  assert_int_equal(cleave_policy_set_power_preference(ctx, CLEAVE_POWER_HIGH_PERFORMANCE), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.w_energy, CL_POLICY_W_ENERGY * 0.2 * 6.8, 1e-12);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL, 0.3), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.w_energy, CL_POLICY_W_ENERGY * 0.2, 1e-12);
  assert_int_equal(cleave_policy_set_power_preference(ctx, CLEAVE_POWER_LOW_POWER), 0);
  decide(ctx, &r);
  assert_true(r.d.w_energy > CL_POLICY_W_ENERGY * 5);
}

static void test_battery_monotone(void **state) {
  cleave_ctx *ctx = *state;
  assert_int_equal(cleave_policy_set_system_root(ctx, NULL), 0);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_CHARGING, 0), 0);
  double prev = INFINITY;
  for (int pct = 0; pct <= 100; pct++) {
    cl_policy_result r;
    assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL, pct / 100.0), 0);
    decide(ctx, &r);
    assert_true(r.d.w_energy <= prev);
    assert_true(r.d.w_energy >= CL_POLICY_W_ENERGY && r.d.w_energy <= 8 * CL_POLICY_W_ENERGY);
    prev = r.d.w_energy;
  }
  assert_float_equal(prev, CL_POLICY_W_ENERGY, 0);
}

static void test_hot(void **state) {
  cleave_ctx *ctx = on_fixture(state, "hot");
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_TEMPERATURE_C), 91, 1e-9);
  double h = (91.0 - 25) / (85 - 25);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_THERMAL_HEADROOM), h, 1e-9);
  cl_policy_result r;
  decide(ctx, &r);
  double slow = 1 + (h - 0.7) / 0.3;
  assert_float_equal(r.d.local_slowdown, slow, 1e-9);
  assert_float_equal(r.d.local_energy_scale, 1 + 0.5 * (slow - 1), 1e-9);
  assert_true(has_rule(&r, "thermal headroom"));

  /* Android's status can only make it worse: critical means headroom 1.2 at least. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_THERMAL_STATUS, 4), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.local_slowdown, 1 + 0.5 / 0.3, 1e-9);
  assert_true(has_rule(&r, "thermal critical"));
  /* A pushed headroom replaces the system's; status none then leaves it alone. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_THERMAL_STATUS, 0), 0);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_THERMAL_HEADROOM, 0.5), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.local_slowdown, 1, 0);
  /* The slowdown is bounded. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_THERMAL_HEADROOM, 50), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.local_slowdown, 8, 0);
}

static void test_memory_pressure(void **state) {
  cleave_ctx *ctx = on_fixture(state, "memory_pressure");
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_MEM_PRESSURE), 0.30, 1e-12);
  /* MemAvailable says 400 MiB, but the cgroup leaves only 512 - 448 = 64 MiB. */
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_MEM_AVAILABLE_MB), 64, 1e-9);
  cl_policy_result r;
  decide(ctx, &r);
  assert_float_equal(r.d.memory_cap_scale, 1 - (0.30 - 0.05) / 0.30 * 0.75, 1e-12);
  assert_float_equal(r.d.memory_cap_mb, 32, 1e-9);
  assert_true(has_rule(&r, "memory pressure 30%"));
  /* Heavier stalls bottom out at a quarter. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_MEM_PRESSURE, 0.9), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.memory_cap_scale, 0.25, 0);
}

static void test_offline(void **state) {
  cleave_ctx *ctx = on_fixture(state, "offline");
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_NET_ONLINE), 0, 0);
  double v;
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_NET_METERED, &v), CLEAVE_ENOTFOUND);
  cleave_policy_decision d;
  assert_int_equal(cleave_policy_decide(ctx, &d), 0);
  assert_int_equal(d.edge_allowed, 0);
  assert_int_equal(d.local_allowed, 1);
  /* ONLY_EDGE cannot be met offline, and the error says why. */
  assert_int_equal(cleave_policy_set_mode(ctx, CLEAVE_MODE_ONLY_EDGE), 0);
  assert_int_equal(cleave_policy_decide(ctx, &d), CLEAVE_EINFEASIBLE);
  const char *msg = cleave_ctx_last_error(ctx);
  assert_non_null(strstr(msg, "only-edge"));
  assert_non_null(strstr(msg, "offline"));
  assert_non_null(strstr(msg, "system"));
  /* The host says the link is back: the host wins over the system files. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_ONLINE, 1), 0);
  assert_int_equal(cleave_policy_decide(ctx, &d), 0);
  assert_int_equal(d.edge_allowed, 1);
  assert_int_equal(d.local_allowed, 0);
  assert_int_equal(cleave_policy_set_mode(ctx, CLEAVE_MODE_ONLY_LOCAL), 0);
  assert_int_equal(cleave_policy_decide(ctx, &d), 0);
  assert_int_equal(d.edge_allowed, 0);
  assert_int_equal(d.mode, CLEAVE_MODE_ONLY_LOCAL);
}

static void test_mobile_metered(void **state) {
  cleave_ctx *ctx = on_fixture(state, "mobile");
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_NET_ONLINE), 1, 0);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_NET_METERED), 1, 0);
  cl_policy_result r;
  decide(ctx, &r);
  assert_float_equal(r.cost_per_mb, CL_POLICY_METERED_COST_PER_MB, 0);
  assert_float_equal(r.d.edge_cost_scale, 1, 0);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_SAVE_DATA, 1), 0);
  decide(ctx, &r);
  assert_float_equal(r.d.edge_cost_scale, 4, 0);
}

static void test_garbage(void **state) {
  cleave_ctx *ctx = on_fixture(state, "garbage");
  double v;
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL, &v), CLEAVE_ENOTFOUND);
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_TEMPERATURE_C, &v), CLEAVE_ENOTFOUND);
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_MEM_PRESSURE, &v), CLEAVE_ENOTFOUND);
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_MEM_AVAILABLE_MB, &v), CLEAVE_ENOTFOUND);
  assert_float_equal(sig(ctx, CLEAVE_SIGNAL_BATTERY_CHARGING), 1, 0);
  cleave_policy_decision d;
  assert_int_equal(cleave_policy_decide(ctx, &d), 0);
  assert_float_equal(d.memory_cap_mb, 0, 0);
  /* A root that does not exist reads as no information at all. */
  on_fixture(state, "no-such-tree");
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_NET_ONLINE, &v), CLEAVE_ENOTFOUND);
  assert_int_equal(cleave_policy_decide(ctx, &d), 0);
  assert_true(d.edge_allowed);
}

static void test_bad_values(void **state) {
  cleave_ctx *ctx = *state;
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL, 1.5), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "battery_level"));
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_CHARGING, 0.5), CLEAVE_EINVAL);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_THERMAL_STATUS, 2.5), CLEAVE_EINVAL);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_THERMAL_STATUS, 7), CLEAVE_EINVAL);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_EFFECTIVE_TYPE, 0), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "slow-2g"));
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_RTT_MS, -1), CLEAVE_EINVAL);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_DOWNLINK_MBPS, INFINITY), CLEAVE_EINVAL);
  assert_int_equal(cleave_signal_set(ctx, (cleave_signal)CLEAVE_SIGNAL_COUNT, 1), CLEAVE_EINVAL);
  assert_int_equal(cleave_signal_set(ctx, (cleave_signal)-1, 1), CLEAVE_EINVAL);
  assert_int_equal(cleave_signal_set(NULL, CLEAVE_SIGNAL_BATTERY_LEVEL, 1), CLEAVE_EINVAL);
  assert_int_equal(cleave_policy_set_mode(ctx, (cleave_mode)9), CLEAVE_EINVAL);
  assert_int_equal(cleave_policy_set_power_preference(ctx, (cleave_power_preference)-1), CLEAVE_EINVAL);
  char big[2048];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_int_equal(cleave_policy_set_system_root(ctx, big), CLEAVE_ELIMIT);
  /* Rejected values leave nothing behind. */
  assert_int_equal(cleave_policy_set_system_root(ctx, NULL), 0);
  double v;
  assert_int_equal(cleave_signal_get(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL, &v), CLEAVE_ENOTFOUND);
  /* Names: one per signal, distinct. */
  for (int i = 0; i < CLEAVE_SIGNAL_COUNT; i++) {
    assert_non_null(cleave_signal_name((cleave_signal)i));
    for (int j = 0; j < i; j++)
      assert_string_not_equal(cleave_signal_name((cleave_signal)i), cleave_signal_name((cleave_signal)j));
  }
  assert_null(cleave_signal_name(CLEAVE_SIGNAL_COUNT));
}

static void test_network_information(void **state) {
  cleave_ctx *ctx = *state;
  assert_int_equal(cleave_policy_set_system_root(ctx, NULL), 0);
  cl_policy_result r;
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_EFFECTIVE_TYPE, 3), 0);
  decide(ctx, &r);
  assert_float_equal(r.down_mbps, 0.7, 1e-12);
  assert_float_equal(r.up_mbps, 0.7, 1e-12);
  assert_float_equal(r.rtt_ms, 270, 0);
  assert_true(has_rule(&r, "effective type 3g"));
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_DOWNLINK_MBPS, 2.5), 0);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_UPLINK_MBPS, 0.5), 0);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_RTT_MS, 80), 0);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_EDGE_QUEUE_MS, 12), 0);
  decide(ctx, &r);
  assert_float_equal(r.down_mbps, 2.5, 0);
  assert_float_equal(r.up_mbps, 0.5, 0);
  assert_float_equal(r.rtt_ms, 80, 0);
  assert_float_equal(r.edge_queue_ms, 12, 0);
  /* A link with no uplink cannot reach the edge. */
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_NET_UPLINK_MBPS, 0), 0);
  decide(ctx, &r);
  assert_int_equal(r.d.edge_allowed, 0);
}

typedef struct cb_state {
  int calls;
  double seen_battery;
  int fail;
  int bad;
} cb_state;

static int custom(void *user, const cleave_policy_input *in, cleave_policy_decision *d) {
  cb_state *s = user;
  s->calls++;
  s->seen_battery = cleave_policy_input_signal(in, CLEAVE_SIGNAL_BATTERY_LEVEL);
  assert_true(isnan(cleave_policy_input_signal(in, CLEAVE_SIGNAL_NET_RTT_MS)));
  assert_true(isnan(cleave_policy_input_signal(in, CLEAVE_SIGNAL_COUNT)));
  if (s->fail) return CLEAVE_EBUSY;
  /* An app's own rule: never use the edge below 20% battery, and weigh latency thrice. */
  if (s->seen_battery < 0.2) d->edge_allowed = 0;
  d->w_latency = 3;
  if (s->bad == 1) d->w_latency = -1;
  if (s->bad == 2) d->edge_allowed = d->local_allowed = 0;
  return 0;
}

static void test_custom_policy(void **state) {
  cleave_ctx *ctx = *state;
  assert_int_equal(cleave_policy_set_system_root(ctx, NULL), 0);
  cb_state cs = {0};
  cleave_policy_set_callback(ctx, custom, &cs);
  assert_int_equal(cleave_signal_set(ctx, CLEAVE_SIGNAL_BATTERY_LEVEL, 0.1), 0);
  cl_policy_result r;
  decide(ctx, &r);
  assert_int_equal(cs.calls, 1);
  assert_float_equal(cs.seen_battery, 0.1, 0);
  assert_int_equal(r.d.edge_allowed, 0);
  assert_float_equal(r.d.w_latency, 3, 0);
  assert_true(has_rule(&r, "custom policy changed"));

  cleave_policy_decision d;
  cs.fail = 1;
  assert_int_equal(cleave_policy_decide(ctx, &d), CLEAVE_EBUSY);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "custom policy"));
  cs.fail = 0;
  cs.bad = 1;
  assert_int_equal(cleave_policy_decide(ctx, &d), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "w_latency"));
  cs.bad = 2;
  assert_int_equal(cleave_policy_decide(ctx, &d), CLEAVE_EINFEASIBLE);
  cs.bad = 0;
  /* Removed, it is no longer called. */
  cleave_policy_set_callback(ctx, NULL, &cs);
  int calls = cs.calls;
  assert_int_equal(cleave_policy_decide(ctx, &d), 0);
  assert_int_equal(cs.calls, calls);
  assert_float_equal(d.w_latency, CL_POLICY_W_LATENCY, 0);
}

static void test_modes(void **state) {
  cleave_ctx *ctx = *state;
  assert_int_equal(cleave_policy_set_system_root(ctx, NULL), 0);
  for (int m = 0; m <= CLEAVE_MODE_ONLY_EDGE; m++) {
    assert_int_equal(cleave_policy_set_mode(ctx, (cleave_mode)m), 0);
    cleave_policy_decision d;
    assert_int_equal(cleave_policy_decide(ctx, &d), 0);
    assert_int_equal(d.mode, m);
    assert_int_equal(d.edge_allowed, m != CLEAVE_MODE_ONLY_LOCAL);
    assert_int_equal(d.local_allowed, m != CLEAVE_MODE_ONLY_EDGE);
    assert_int_equal(cl_mode_parse(cl_mode_name((cleave_mode)m)), m);
  }
  assert_int_equal(cl_mode_parse("PREFER_LOCAL"), CLEAVE_MODE_PREFER_LOCAL);
  assert_int_equal(cl_mode_parse("sometimes"), -1);
  assert_int_equal(cl_power_parse("low_power"), CLEAVE_POWER_LOW_POWER);
  assert_int_equal(cl_power_parse(NULL), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_normal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_battery_low, setup, teardown),
      cmocka_unit_test_setup_teardown(test_battery_monotone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memory_pressure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mobile_metered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_network_information, setup, teardown),
      cmocka_unit_test_setup_teardown(test_custom_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
