/* tests/policies: the public trace API: Mahimahi opportunities and their loop, rates and transfer times from
 * them, CSV and Pensieve through the private reader, options, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleave.h"

typedef struct env {
  cleave_ctx *ctx;
  char dir[64];
} env;

static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  snprintf(e->dir, sizeof e->dir, "/tmp/cleave-trace-XXXXXX");
  if (!e || !mkdtemp(e->dir) || cleave_ctx_new(&e->ctx, NULL, NULL)) return -1;
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
  if (system(cmd) != 0) return -1;
  cleave_ctx_free(e->ctx);
  free(e);
  return 0;
}

static const char *write_file(env *e, const char *name, const char *text) {
  static char path[2][128];
  static int k;
  char *p = path[k++ & 1];
  snprintf(p, sizeof path[0], "%s/%s", e->dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

static void test_mahimahi_constant(void **state) {
  env *e = *state;
  /* Mahimahi's constant 12 Mbit/s link: one opportunity every ms, the file looping with a period of 1 ms. */
  cleave_trace *t;
  assert_int_equal(cleave_trace_load(e->ctx, write_file(e, "c12.up", "1\n"), NULL, &t), 0);
  assert_int_equal(cleave_trace_format_of(t), CLEAVE_TRACE_MAHIMAHI);
  assert_true(cleave_trace_loops(t));
  assert_float_equal(cleave_trace_duration_s(t), 0.001, 1e-12);
  double up, down, rtt;
  cleave_trace_at(t, 5.5, &up, &down, &rtt);
  assert_float_equal(up, 12, 1e-9); /* the bin [5, 6) s holds 1000 opportunities */
  assert_float_equal(down, 12, 1e-9);
  assert_float_equal(rtt, 50, 0);
  /* 1500 bytes at t = 0 leave at 1 ms; 1.5 MB (1000 packets) at 1000 ms; from 0.0105 s the next is at 11 ms */
  assert_float_equal(cleave_trace_transfer_s(t, 0, 1500, CLEAVE_TRACE_UP), 0.001, 1e-12);
  assert_float_equal(cleave_trace_transfer_s(t, 0, 1.5e6, CLEAVE_TRACE_UP), 1.0, 1e-9);
  assert_float_equal(cleave_trace_transfer_s(t, 0.0105, 1, CLEAVE_TRACE_DOWN), 0.0005, 1e-9);
  assert_float_equal(cleave_trace_transfer_s(t, 0.011, 1, CLEAVE_TRACE_DOWN), 0, 1e-9);
  const uint64_t *ms;
  size_t n;
  assert_int_equal(cleave_trace_opportunities(t, CLEAVE_TRACE_DOWN, &ms, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(ms[0], 1);
  cleave_trace_free(t);
  cleave_trace_free(NULL);
}

static void test_mahimahi_two_files(void **state) {
  env *e = *state;
  /* up: 3 opportunities in a 4 ms period (two of them in the same ms); down: 1 per 2 ms, 6 Mbit/s */
  const char *up = write_file(e, "x.up", "0\n2\n2\n4\n");
  cleave_trace_options *o;
  assert_int_equal(cleave_trace_options_new(&o), 0);
  assert_int_equal(cleave_trace_options_set_down_file(o, write_file(e, "x.down", "2\n")), 0);
  assert_int_equal(cleave_trace_options_set_bin_ms(o, 100), 0);
  assert_int_equal(cleave_trace_options_set_rtt_ms(o, 30), 0);
  assert_int_equal(cleave_trace_options_set_rtt_ms(o, -1), CLEAVE_EINVAL);
  assert_int_equal(cleave_trace_options_set_format(o, (cleave_trace_format)9), CLEAVE_EINVAL);
  cleave_trace *t;
  assert_int_equal(cleave_trace_load(e->ctx, up, o, &t), 0);
  cleave_trace_options_free(o);
  double u, d, rtt;
  /* Round k is 4k, 4k+2, 4k+2, 4k+4: time 0 of a round and time 4 of the one before are two opportunities at the
   * same ms, as in Mahimahi, so 100 ms hold 100 of them (12 Mbit/s), and the bin [100, 200) ms 50 down. The first
   * bin misses the one at 100 ms. */
  cleave_trace_at(t, 0.15, &u, &d, &rtt);
  assert_float_equal(u, 12, 1e-9);
  assert_float_equal(d, 6, 1e-9);
  cleave_trace_at(t, 0.05, &u, NULL, NULL);
  assert_float_equal(u, 99 * 12000 / 0.1 / 1e6, 1e-9);
  assert_float_equal(rtt, 30, 0);
  assert_float_equal(cleave_trace_duration_s(t), 0.004, 1e-12);
  /* up opportunities at 0, 2, 2, 4, 4, 6, 6, 8...: the 5th packet from 0 goes at 4 ms, from 1 ms at 6 ms */
  assert_float_equal(cleave_trace_transfer_s(t, 0, 5 * 1500, CLEAVE_TRACE_UP), 0.004, 1e-12);
  assert_float_equal(cleave_trace_transfer_s(t, 0.001, 5 * 1500, CLEAVE_TRACE_UP), 0.006 - 0.001, 1e-12);
  assert_float_equal(cleave_trace_transfer_s(t, 0, 3000, CLEAVE_TRACE_DOWN), 0.004, 1e-12);
  const uint64_t *ms;
  size_t n;
  assert_int_equal(cleave_trace_opportunities(t, CLEAVE_TRACE_UP, &ms, &n), 0);
  assert_int_equal(n, 4);
  assert_int_equal(ms[1], 2);
  assert_int_equal(ms[2], 2);
  cleave_trace_free(t);
}

static void test_csv_and_pensieve(void **state) {
  env *e = *state;
  cleave_trace *t;
  assert_int_equal(
      cleave_trace_load(e->ctx, write_file(e, "l.csv", "t_s,up,down,rtt\n0,8,16,40\n2,0,0,0\n"), NULL, &t), 0);
  assert_int_equal(cleave_trace_format_of(t), CLEAVE_TRACE_CSV);
  assert_false(cleave_trace_loops(t));
  assert_float_equal(cleave_trace_duration_s(t), 4, 0);
  double u, d, rtt;
  cleave_trace_at(t, 1, &u, &d, &rtt);
  assert_float_equal(u, 8, 0);
  assert_float_equal(d, 16, 0);
  assert_float_equal(rtt, 40, 0);
  cleave_trace_at(t, 3, &u, NULL, NULL);
  assert_float_equal(u, 0, 0);
  assert_float_equal(cleave_trace_transfer_s(t, 0, 1e6, CLEAVE_TRACE_UP), 1, 1e-9);
  assert_true(isinf(cleave_trace_transfer_s(t, 0, 5e6, CLEAVE_TRACE_UP)));
  const uint64_t *ms = (const uint64_t *)1;
  size_t n = 1;
  assert_int_equal(cleave_trace_opportunities(t, CLEAVE_TRACE_UP, &ms, &n), CLEAVE_EINVAL);
  assert_null(ms);
  assert_int_equal(n, 0);
  cleave_trace_free(t);

  cleave_trace_options *o;
  assert_int_equal(cleave_trace_options_new(&o), 0);
  assert_int_equal(cleave_trace_options_set_up_ratio(o, 0.5), 0);
  cleave_trace_options_set_loop(o, 1);
  assert_int_equal(cleave_trace_load(e->ctx, write_file(e, "p.log", "0 10\n1 20\n"), o, &t), 0);
  cleave_trace_options_free(o);
  assert_int_equal(cleave_trace_format_of(t), CLEAVE_TRACE_PENSIEVE);
  assert_true(cleave_trace_loops(t));
  cleave_trace_at(t, 2.5, &u, &d, NULL); /* looped: 0.5 s into the trace */
  assert_float_equal(u, 5, 0);
  assert_float_equal(d, 10, 0);
  cleave_trace_free(t);
}

static void expect_error(env *e, const char *name, const char *text, int code, const char *needle) {
  cleave_trace *t = (cleave_trace *)1;
  const char *path = text ? write_file(e, name, text) : name;
  assert_int_equal(cleave_trace_load(e->ctx, path, NULL, &t), code);
  assert_null(t);
  const char *msg = cleave_ctx_last_error(e->ctx);
  if (!strstr(msg, needle)) fail_msg("'%s' lacks '%s'", msg, needle);
}

static void test_errors(void **state) {
  env *e = *state;
  expect_error(e, "/nonexistent/a.up", NULL, CLEAVE_EIO, "/nonexistent/a.up");
  expect_error(e, "b.up", "1\n2.5\n", CLEAVE_EINVAL, "b.up:2: '2.5' is not a delivery time");
  expect_error(e, "c.up", "5\n3\n", CLEAVE_EINVAL, "c.up:2: time 3 ms goes back");
  expect_error(e, "d.up", "0\n0\n", CLEAVE_EINVAL, "no delivery times after 0 ms");
  expect_error(e, "e.down", "# only a comment\n", CLEAVE_EINVAL, "no delivery times");
  expect_error(e, "f.csv", "0,1,2\n", CLEAVE_EINVAL, "f.csv:1:");
  cleave_trace *t;
  assert_int_equal(cleave_trace_load(e->ctx, NULL, NULL, &t), CLEAVE_EINVAL);
  assert_int_equal(cleave_trace_load(e->ctx, "x.up", NULL, NULL), CLEAVE_EINVAL);
  assert_int_equal(cleave_trace_options_new(NULL), CLEAVE_EINVAL);
  cleave_trace_options_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mahimahi_constant),
      cmocka_unit_test(test_mahimahi_two_files),
      cmocka_unit_test(test_csv_and_pensieve),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
