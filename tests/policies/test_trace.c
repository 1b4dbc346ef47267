/* tests/policies: link traces in the three formats, their errors, lookup and transfer times, and the example
 * traces the project ships. */
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
#include "policies/trace.h"

#define TRACES CLEAVE_SOURCE_DIR "/policies/traces/"

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

static int parse(cleave_ctx *ctx, const char *name, const char *text, cl_trace_format f, cl_link_trace *t) {
  return cl_trace_parse(ctx, name, text, strlen(text), f, NULL, 0, NULL, t);
}

static void expect_error(cleave_ctx *ctx, const char *name, const char *text, cl_trace_format f, const char *needle) {
  cl_link_trace t;
  int rc = parse(ctx, name, text, f, &t);
  assert_int_equal(rc, CLEAVE_EINVAL);
  assert_null(t.s);
  const char *msg = cleave_ctx_last_error(ctx);
  if (!strstr(msg, needle)) fail_msg("'%s' lacks '%s'", msg, needle);
}

static void test_csv(void **state) {
  cleave_ctx *ctx = *state;
  cl_link_trace t;
  const char *text = "# a comment\n"
                     "t_s,up_mbps,down_mbps,rtt_ms,radio\n"
                     "10, 8, 16, 40, wifi\n"
                     "\n"
                     "12,0,0,0,none\r\n"
                     "13,2,4,100,lte\n";
  assert_int_equal(parse(ctx, "x.csv", text, CL_TRACE_AUTO, &t), 0);
  assert_int_equal(t.n, 3);
  /* Times start at 0; the last sample lasts as long as the one before it. */
  assert_float_equal(t.s[0].t_s, 0, 0);
  assert_float_equal(t.s[2].t_s, 3, 0);
  assert_float_equal(t.duration_s, 4, 0);
  assert_int_equal(t.s[0].radio, CL_RADIO_WIFI);
  assert_int_equal(t.s[1].radio, CL_RADIO_NONE);
  assert_int_equal(t.s[2].radio, CL_RADIO_LTE);
  assert_float_equal(cl_trace_at(&t, 1.999)->up_mbps, 8, 0);
  assert_float_equal(cl_trace_at(&t, 2)->up_mbps, 0, 0);
  assert_float_equal(cl_trace_at(&t, 100)->up_mbps, 2, 0); /* no loop: the last sample holds */
  /* 1 MB up from t=1: 1 s at 8 Mbit/s, offline for 1 s, then 4 Mbit/s for the remaining... nothing. */
  assert_float_equal(cl_trace_transfer_s(&t, 1, 1e6, 1), 1, 1e-9);
  /* 2 MB up from t=1: 1 MB by t=2, nothing until 3, then 1 MB at 2 Mbit/s = 4 s. */
  assert_float_equal(cl_trace_transfer_s(&t, 1, 2e6, 1), 2 + 4, 1e-9);
  /* 5 MB down: 4 MB at 16 Mbit/s by t=2, offline until 3, then 1 MB at 4 Mbit/s. */
  assert_float_equal(cl_trace_transfer_s(&t, 0, 5e6, 0), 3 + 2, 1e-9);
  cl_trace_free(&t);
  cl_trace_free(&t); /* twice is harmless */

  /* A trace that ends offline never delivers. */
  assert_int_equal(parse(ctx, "y.csv", "0,1,1,10\n1,0,0,10\n", CL_TRACE_CSV, &t), 0);
  assert_true(isinf(cl_trace_transfer_s(&t, 0, 1e6, 1)));
  assert_float_equal(cl_trace_transfer_s(&t, 0, 1e5, 1), 0.8, 1e-9);
  t.loop = true; /* looped, it gets there one period later */
  assert_float_equal(cl_trace_transfer_s(&t, 0, 2.5e5, 1), 3, 1e-9);
  cl_trace_free(&t);
}

static void test_pensieve(void **state) {
  cleave_ctx *ctx = *state;
  cl_link_trace t;
  cl_trace_options o = {.format = CL_TRACE_PENSIEVE, .rtt_ms = 80, .up_ratio = 0.25, .loop = true};
  const char *text = "0.0 4.0\n0.5 8\n1.0\t2.0\n";
  assert_int_equal(cl_trace_parse(ctx, "p.txt", text, strlen(text), CL_TRACE_PENSIEVE, NULL, 0, &o, &t), 0);
  assert_int_equal(t.n, 3);
  assert_float_equal(t.duration_s, 1.5, 0);
  assert_true(t.loop);
  assert_float_equal(t.s[1].down_mbps, 8, 0);
  assert_float_equal(t.s[1].up_mbps, 2, 0);
  assert_float_equal(t.s[1].rtt_ms, 80, 0);
  assert_float_equal(cl_trace_at(&t, 1.6)->down_mbps, 4, 0); /* looped */
  assert_float_equal(cl_trace_at(&t, 3.7)->down_mbps, 8, 0);
  /* Bits per loop down: 0.5*(4+8+2) = 7 Mbit; 10 loops and a bit. */
  double s = cl_trace_transfer_s(&t, 0, 70e6 / 8 + 0.25e6, 0);
  assert_float_equal(s, 15 + 0.5, 1e-6);
  cl_trace_free(&t);
}

static void test_mahimahi(void **state) {
  cleave_ctx *ctx = *state;
  /* 3 packets in the first 100 ms bin, none in the second, 1 in the third. */
  const char *up = "1\n50\n99\n250\n";
  const char *down = "10\n20\n";
  cl_trace_options o = {.bin_ms = 100, .rtt_ms = 30, .down_path = "m.down"};
  cl_link_trace t;
  assert_int_equal(cl_trace_parse(ctx, "m.up", up, strlen(up), CL_TRACE_AUTO, down, strlen(down), &o, &t), 0);
  assert_int_equal(t.n, 3);
  assert_true(t.loop);
  assert_float_equal(t.duration_s, 0.3, 1e-12);
  double per_pkt = 1500 * 8 / 0.1 / 1e6; /* Mbit/s of one packet per 100 ms */
  assert_float_equal(t.s[0].up_mbps, 3 * per_pkt, 1e-9);
  assert_float_equal(t.s[1].up_mbps, 0, 0);
  assert_float_equal(t.s[2].up_mbps, per_pkt, 1e-9);
  assert_float_equal(t.s[0].down_mbps, 2 * per_pkt, 1e-9);
  assert_float_equal(t.s[2].down_mbps, 0, 0);
  assert_float_equal(t.s[0].rtt_ms, 30, 0);
  /* 4 packets' worth up take exactly one loop (3 in the first bin, one in the third). */
  assert_float_equal(cl_trace_transfer_s(&t, 0, 4 * 1500, 1), 0.3, 1e-9);
  cl_trace_free(&t);
  /* Symmetric when no .down is given. */
  assert_int_equal(parse(ctx, "s.up", up, CL_TRACE_AUTO, &t), 0);
  assert_float_equal(t.s[0].down_mbps, t.s[0].up_mbps, 0);
  cl_trace_free(&t);
}

static void test_bad_traces(void **state) {
  cleave_ctx *ctx = *state;
  expect_error(ctx, "a.csv", "0,1,1,10\n1,2,x,10\n", CL_TRACE_AUTO, "a.csv:2:");
  expect_error(ctx, "a.csv", "0,1,1\n", CL_TRACE_AUTO, "t_s,up_mbps,down_mbps,rtt_ms");
  expect_error(ctx, "a.csv", "0,1,1,10,1\n", CL_TRACE_AUTO, "a.csv:1: radio '1'");
  expect_error(ctx, "a.csv", "0,1,1,10,wifi\n0,1,1,10\n", CL_TRACE_AUTO, "a.csv:2: time 0 s does not come after");
  expect_error(ctx, "a.csv", "0,-1,1,10\n", CL_TRACE_AUTO, "a.csv:1: negative");
  expect_error(ctx, "a.csv", "# nothing\n\n", CL_TRACE_AUTO, "a.csv: no samples");
  expect_error(ctx, "a.csv", "0,1,1,1e999\n", CL_TRACE_AUTO, "a.csv:1:");
  expect_error(ctx, "p.log", "0 1\n1 2 3\n", CL_TRACE_AUTO, "p.log:2: '1 2 3': expected 'seconds Mbps'");
  expect_error(ctx, "p.log", "0 nan\n", CL_TRACE_AUTO, "p.log:1:");
  expect_error(ctx, "m.up", "1\n2\nx\n", CL_TRACE_AUTO, "m.up:3: 'x' is not a delivery time in whole ms");
  expect_error(ctx, "m.up", "1.5\n", CL_TRACE_AUTO, "m.up:1:");
  expect_error(ctx, "m.up", "5\n4\n", CL_TRACE_AUTO, "m.up:2: time 4 ms goes back");
  expect_error(ctx, "m.up", "0\n", CL_TRACE_AUTO, "m.up: no delivery times");
  char longline[400];
  memset(longline, '1', sizeof longline - 2);
  longline[sizeof longline - 2] = '\n';
  longline[sizeof longline - 1] = 0;
  expect_error(ctx, "l.csv", longline, CL_TRACE_AUTO, "l.csv:1: line too long");
  cl_link_trace t;
  assert_int_equal(cl_trace_load(ctx, "/nonexistent/trace.csv", NULL, &t), CLEAVE_EIO);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "/nonexistent/trace.csv"));
  assert_int_equal(cl_trace_constant(ctx, -1, 1, 1, &t), CLEAVE_EINVAL);
}

static void test_shipped_traces(void **state) {
  cleave_ctx *ctx = *state;
  cl_link_trace t, p, m;
  assert_int_equal(cl_trace_load(ctx, TRACES "commute.csv", NULL, &t), 0);
  assert_int_equal(t.n, 2400);
  assert_float_equal(t.duration_s, 2400, 0);
  /* Wi-Fi at home, LTE on the street, 3G on the train, a tunnel. */
  assert_int_equal(cl_trace_at(&t, 100)->radio, CL_RADIO_WIFI);
  assert_int_equal(cl_trace_at(&t, 600)->radio, CL_RADIO_LTE);
  assert_int_equal(cl_trace_at(&t, 1200)->radio, CL_RADIO_3G);
  assert_float_equal(cl_trace_at(&t, 1300)->up_mbps, 0, 0);
  double up, down;
  cl_trace_mean(&t, 0, 300, &up, &down);
  assert_true(up > 10 && up < 30);
  cl_trace_mean(&t, 1500, 1800, &up, &down);
  assert_true(up > 2 && up < 12);
  /* The Pensieve copy carries the same downlink. */
  cl_trace_options o = {.rtt_ms = 60};
  assert_int_equal(cl_trace_load(ctx, TRACES "commute.pensieve", &o, &p), 0);
  assert_int_equal(p.n, t.n);
  for (int i = 0; i < t.n; i += 97)
    assert_float_equal(p.s[i].down_mbps, t.s[i].down_mbps, 1e-9);
  /* The Mahimahi clip of the train: 2 minutes, about 3G's uplink on average. */
  cl_trace_options mo = {.down_path = TRACES "train-3g.down"};
  assert_int_equal(cl_trace_load(ctx, TRACES "train-3g.up", &mo, &m), 0);
  assert_true(m.duration_s >= 110 && m.duration_s <= 121);
  cl_trace_mean(&m, 10, 110, &up, &down);
  assert_true(up > 0.3 && up < 3 && down > up);
  cl_trace_free(&m);
  cl_trace_free(&p);
  cl_trace_free(&t);
  assert_int_equal(cl_trace_load(ctx, TRACES "offline.csv", NULL, &t), 0);
  assert_float_equal(cl_trace_at(&t, 180)->up_mbps, 0, 0);
  assert_true(cl_trace_at(&t, 60)->up_mbps > 0 && cl_trace_at(&t, 300)->up_mbps > 0);
  /* 50 MB sent at 115 s wait out the outage from 120 s to 240 s. */
  assert_true(cl_trace_transfer_s(&t, 115, 50e6, 1) > 125);
  assert_true(cl_trace_transfer_s(&t, 115, 50e6, 1) < 240);
  cl_trace_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pensieve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mahimahi, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_traces, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shipped_traces, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
