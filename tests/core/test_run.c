/* tests/core: hybrid sessions run by the engine (core/engine.c, core/hybrid.c, core/run.c) on PP-OCR det, rec and
 * cls: random plans between two local devices, and between the device and a real gateway in this process (over
 * HTTP/2 and TLS on 127.0.0.1), each equal to the all-local run within the foundation tolerances; runs in flight
 * on the host's loop with callbacks counted; cancel; the in-flight bound; errors that never call back; fallback
 * when the gateway is gone; a failing-allocator sweep over session creation and run submission. */
#include <math.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/session.h"
#include "gateway_thread.h"
#include "test_alloc.h"

#define MODELS getenv("CLEAVE_MODELS")

typedef struct model_case {
  const char *name, *file;
  int64_t dims[4];
  double tol;
} model_case;

/* the tolerances of tests/models/test_ppocr.c */
static const model_case cases[] = {
    {"cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", {1, 3, 48, 192}, 1e-4},
    {"rec", "ch_PP-OCRv4_rec_infer.onnx", {1, 3, 48, 320}, 1e-4},
    {"det", "ch_PP-OCRv4_det_infer.onnx", {1, 3, 640, 640}, 1e-3},
};

typedef struct fixture {
  kit_pki *pki;
  gw_thread gw;
  uv_loop_t loop;
  cleave_ctx *ctx;
  cleave_profile *cpu, *ref, *edge;
  cleave_edge *open_edge; /* the edge a test has open: teardown closes it when the test failed first */
  char cache[128];
} fixture;

static int setup(void **state) {
  if (!MODELS) return -1;
  fixture *f = calloc(1, sizeof *f);
  *state = f;
  signal(SIGPIPE, SIG_IGN); /* as in any libuv program: a write to a socket the gateway reset must not kill it */
  /* devices without a profile are measured into the cache: a folder of the test's own */
  snprintf(f->cache, sizeof f->cache, "/tmp/cleave-run-cache-XXXXXX");
  if (!mkdtemp(f->cache)) return -1;
  setenv("CLEAVE_CACHE_DIR", f->cache, 1);
  if (!(f->pki = kit_pki_new())) return -1;
  cl_gateway_config cfg;
  cl_gateway_config_defaults(&cfg);
  cfg.threads = 1;
  if (gwt_start(&f->gw, f->pki, &cfg)) return -1;
  if (uv_loop_init(&f->loop) || cleave_ctx_new(&f->ctx, &f->loop, NULL)) return -1;
  char path[512];
  snprintf(path, sizeof path, "%s/partitioner/profiles/this-machine-cpu.json", CLEAVE_SOURCE_DIR);
  if (cleave_profile_load(f->ctx, path, &f->cpu)) return -1;
  snprintf(path, sizeof path, "%s/partitioner/profiles/lowend-cpu.json", CLEAVE_SOURCE_DIR);
  if (cleave_profile_load(f->ctx, path, &f->ref)) return -1;
  snprintf(path, sizeof path, "%s/partitioner/profiles/edge-a10.json", CLEAVE_SOURCE_DIR);
  return cleave_profile_load(f->ctx, path, &f->edge);
}

static int teardown(void **state) {
  fixture *f = *state;
  if (!f) return 0;
  if (f->open_edge) {
    int closed = 0;
    cleave_edge_close(f->open_edge, kit_done_flag, &closed);
    kit_run_until(&f->loop, &closed, 1, 5000);
  }
  gwt_stop(&f->gw);
  cleave_profile_free(f->cpu);
  cleave_profile_free(f->ref);
  cleave_profile_free(f->edge);
  if (f->ctx) {
    cleave_ctx_free(f->ctx);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
  }
  if (f->pki) kit_pki_free(f->pki);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->cache);
  if (f->cache[0] && system(cmd)) print_message("could not remove %s\n", f->cache);
  free(f);
  return 0;
}

/* ---- helpers ---- */

typedef struct loaded {
  cleave_model *m;
  float *x;
  cleave_tensor in;
  cleave_result *ref; /* the all-local run on "cpu" */
} loaded;

static cleave_session_options *dims_options(const loaded *l, const model_case *c) {
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  const cleave_tensor *mi = cleave_model_input(l->m, 0);
  for (int d = 0; d < 4; d++)
    if (mi->dims[d] < 0) assert_int_equal(cleave_session_options_set_dim(o, mi->dim_names[d], c->dims[d]), 0);
  return o;
}

static void load(fixture *f, const model_case *c, loaded *l) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", MODELS, c->file);
  assert_int_equal(cleave_model_load(f->ctx, path, &l->m), 0);
  l->in = (cleave_tensor){.name = cleave_model_input(l->m, 0)->name, .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4};
  memcpy(l->in.dims, c->dims, sizeof c->dims);
  int64_t n = cleave_tensor_numel(&l->in);
  l->x = malloc(sizeof(float) * (size_t)n);
  cl_fill_random_f32(l->x, n, 7);
  l->in.data = l->x;
  l->in.nbytes = sizeof(float) * (size_t)n;
  cleave_session_options *o = dims_options(l, c);
  cleave_session *s;
  assert_int_equal(cleave_session_new(f->ctx, l->m, o, &s), 0);
  assert_int_equal(cleave_run_sync(s, &l->in, 1, &l->ref), 0);
  cleave_session_free(s);
  cleave_session_options_free(o);
}

static void unload(loaded *l) {
  cleave_result_free(l->ref);
  cleave_model_free(l->m);
  free(l->x);
}

static double max_diff(const cleave_result *a, const cleave_result *b) {
  assert_int_equal(cleave_result_num_outputs(a), cleave_result_num_outputs(b));
  double md = 0;
  for (int i = 0; i < cleave_result_num_outputs(a); i++) {
    const cleave_tensor *x = cleave_result_output(a, i), *y = cleave_result_output(b, i);
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->nbytes, y->nbytes);
    for (size_t k = 0; k < x->nbytes / sizeof(float); k++)
      md = fmax(md, fabs((double)((const float *)x->data)[k] - ((const float *)y->data)[k]));
  }
  return md;
}

static cleave_edge *edge_new(fixture *f) {
  cleave_edge_options *eo;
  cleave_edge *e;
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", f->gw.port);
  assert_int_equal(cleave_edge_options_new(&eo), 0);
  assert_int_equal(cleave_edge_options_set_ca_file(eo, f->pki->ca), 0);
  assert_int_equal(cleave_edge_new(f->ctx, url, eo, &e), 0);
  cleave_edge_options_free(eo);
  f->open_edge = e;
  return e;
}

static void edge_close(fixture *f, cleave_edge *e) {
  int closed = 0;
  f->open_edge = NULL;
  cleave_edge_close(e, kit_done_flag, &closed);
  kit_run_until(&f->loop, &closed, 1, 5000);
  assert_int_equal(closed, 1);
}

/* A hybrid session of model l: home device home, maybe "cpu" too, maybe the edge e. */
static cleave_session *hybrid(fixture *f, const loaded *l, const model_case *c, const char *home, bool two,
                              cleave_edge *e) {
  cleave_session_options *o = dims_options(l, c);
  const char *devs[2] = {home, "cpu"};
  assert_int_equal(cleave_session_options_set_devices(o, devs, two ? 2 : 1), 0);
  assert_int_equal(cleave_session_options_set_profile(o, "cpu", f->cpu), 0);
  assert_int_equal(cleave_session_options_set_profile(o, "ref", f->ref), 0);
  if (e) assert_int_equal(cleave_session_options_add_edge(o, e, f->edge), 0);
  cleave_session *s;
  int rc = cleave_session_new(f->ctx, l->m, o, &s);
  if (rc) print_error("session: %s\n", cleave_ctx_last_error(f->ctx));
  assert_int_equal(rc, 0);
  cleave_session_options_free(o);
  return s;
}

/* Assignments with several crossings: alternating blocks of random length, and fully random. */
static void random_assignment(int *a, int n, int n_dev, unsigned *seed, int kind) {
  int dev = rand_r(seed) % n_dev;
  for (int i = 0; i < n;) {
    int len = kind == 0 ? 1 + rand_r(seed) % 40 : 1;
    for (int k = 0; k < len && i < n; k++, i++)
      a[i] = kind == 0 ? dev : rand_r(seed) % n_dev;
    dev = (dev + 1 + rand_r(seed) % (n_dev > 1 ? n_dev - 1 : 1)) % n_dev;
  }
}

typedef struct outcome {
  int done, status;
  cleave_result *res;
  char err[512];
} outcome;

static void on_done(cleave_run_req *req, int status, cleave_result *res) {
  outcome *o = cleave_run_req_user(req);
  o->done++;
  o->status = status;
  o->res = res;
  snprintf(o->err, sizeof o->err, "%s", cleave_run_req_error(req));
}

/* Runs s once on the host loop through cleave_run, bounded in time. */
static cleave_result *run_async(fixture *f, cleave_session *s, const loaded *l) {
  outcome o = {0};
  int rc = cleave_run(s, &l->in, 1, on_done, &o, NULL);
  if (rc) print_error("cleave_run: %s\n", cleave_ctx_last_error(f->ctx));
  assert_int_equal(rc, 0);
  kit_run_until(&f->loop, &o.done, 1, 120000);
  assert_int_equal(o.done, 1);
  if (o.status) print_error("run: %s\n", o.err);
  assert_int_equal(o.status, 0);
  return o.res;
}

/* ---- tests ---- */

/* Random plans over "ref" and "cpu" give the all-local outputs. */
static void test_local_random_plans(void **state) {
  fixture *f = *state;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    loaded l = {0};
    load(f, &cases[c], &l);
    cleave_session *s = hybrid(f, &l, &cases[c], "ref", true, NULL);
    int n = s->hybrid->model->graph.n_nodes, tries = c == 2 ? 2 : 4;
    int *a = malloc(sizeof(int) * (size_t)n);
    unsigned seed = 11 + (unsigned)c;
    for (int t = 0; t < tries; t++) {
      random_assignment(a, n, 2, &seed, t % 2);
      assert_int_equal(cl_hybrid_force(s->hybrid, a), 0);
      cleave_result *r = run_async(f, s, &l);
      const cleave_placement *p = cleave_result_placement(r);
      assert_non_null(p);
      double d = max_diff(l.ref, r);
      print_message("%s local plan %d: %d segments, max diff %.3g\n", cases[c].name, t, p->n_segments, d);
      assert_true(p->n_segments > 1);
      assert_true(d <= cases[c].tol);
      cleave_result_free(r);
    }
    free(a);
    cleave_session_free(s);
    unload(&l);
  }
}

/* Random plans between the device and the gateway, several crossings each, give the all-local outputs. */
static void test_edge_random_plans(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge_new(f);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    loaded l = {0};
    load(f, &cases[c], &l);
    cleave_session *s = hybrid(f, &l, &cases[c], "cpu", false, e);
    int n = s->hybrid->model->graph.n_nodes, tries = c == 2 ? 3 : 5;
    int *a = malloc(sizeof(int) * (size_t)n);
    unsigned seed = 23 + (unsigned)c;
    for (int t = 0; t < tries; t++) {
      if (t == 0)
        for (int i = 0; i < n; i++)
          a[i] = 1; /* all on the edge */
      else
        random_assignment(a, n, 2, &seed, t % 2);
      assert_int_equal(cl_hybrid_force(s->hybrid, a), 0);
      cleave_result *r = run_async(f, s, &l);
      const cleave_placement *p = cleave_result_placement(r);
      int on_edge = 0;
      for (int k = 0; k < p->n_segments; k++) {
        const cleave_segment_report *sr = &p->segments[k];
        on_edge += sr->on_edge;
        assert_non_null(sr->where);
        assert_true(sr->on_edge ? strncmp(sr->where, "https://127.0.0.1:", 18) == 0 : strcmp(sr->where, "cpu") == 0);
        assert_true(sr->end_ms >= sr->start_ms && sr->start_ms >= sr->ready_ms);
        if (sr->on_edge) assert_true(sr->bytes_up > 0 && sr->bytes_down > 0);
        if (sr->fallback) print_error("segment %d fell back: %s\n", k, sr->why ? sr->why : "(no reason)");
      }
      double d = max_diff(l.ref, r);
      print_message("%s edge plan %d: %d segments, %d on the edge, %d fallbacks, max diff %.3g\n", cases[c].name, t,
                    p->n_segments, on_edge, p->fallbacks, d);
      assert_int_equal(p->fallbacks, 0);
      assert_true(on_edge >= 1);
      assert_true(d <= cases[c].tol);
      cleave_result_free(r);
    }
    free(a);
    cleave_session_free(s);
    unload(&l);
  }
  edge_close(f, e);
}

/* Many runs in flight at once on the host loop: each callback exactly once, each result right; a canceled run ends
 * with CLEAVE_ECANCELED; beyond the in-flight bound cleave_run says CLEAVE_EBUSY and never calls back. */
static void test_in_flight(void **state) {
  fixture *f = *state;
  loaded l = {0};
  load(f, &cases[0], &l);
  cleave_session_options *o = dims_options(&l, &cases[0]);
  const char *devs[2] = {"cpu", "ref"};
  assert_int_equal(cleave_session_options_set_devices(o, devs, 2), 0);
  assert_int_equal(cleave_session_options_set_profile(o, "cpu", f->cpu), 0);
  assert_int_equal(cleave_session_options_set_profile(o, "ref", f->ref), 0);
  assert_int_equal(cleave_session_options_set_max_in_flight(o, 40), 0);
  cleave_session *s;
  assert_int_equal(cleave_session_new(f->ctx, l.m, o, &s), 0);
  cleave_session_options_free(o);
  enum { N = 40 };
  outcome out[N + 1];
  memset(out, 0, sizeof out);
  cleave_run_req *reqs[N];
  for (int i = 0; i < N; i++)
    assert_int_equal(cleave_run(s, &l.in, 1, on_done, &out[i], &reqs[i]), 0);
  assert_int_equal(cleave_run(s, &l.in, 1, on_done, &out[N], NULL), CLEAVE_EBUSY);
  assert_int_equal(cleave_run_cancel(reqs[N - 1]), 0);
  int total = 0;
  double end = cl_now_ms() + 120000;
  while (total < N && cl_now_ms() < end) {
    uv_run(&f->loop, UV_RUN_ONCE);
    total = 0;
    for (int i = 0; i <= N; i++)
      total += out[i].done;
  }
  assert_int_equal(total, N);
  assert_int_equal(out[N].done, 0);
  for (int i = 0; i < N - 1; i++) {
    assert_int_equal(out[i].done, 1);
    assert_int_equal(out[i].status, 0);
    assert_true(max_diff(l.ref, out[i].res) <= cases[0].tol);
    cleave_result_free(out[i].res);
  }
  assert_true(out[N - 1].status == CLEAVE_ECANCELED || out[N - 1].status == 0);
  cleave_result_free(out[N - 1].res);
  /* errors the call returns never call back */
  outcome bad = {0};
  cleave_tensor wrong = l.in;
  wrong.dims[3] = 7;
  wrong.nbytes = sizeof(float) * 3 * 48 * 7;
  assert_int_equal(cleave_run(s, &wrong, 1, on_done, &bad, NULL), CLEAVE_ESHAPE);
  assert_int_equal(cleave_run(s, &l.in, 1, NULL, &bad, NULL), CLEAVE_EINVAL);
  kit_sleep_loop(&f->loop, 50);
  assert_int_equal(bad.done, 0);
  cleave_session_free(s);
  unload(&l);
}

/* Freeing a session with runs in flight calls each back with CLEAVE_ECANCELED before the free returns. */
static void test_free_in_flight(void **state) {
  fixture *f = *state;
  loaded l = {0};
  load(f, &cases[1], &l);
  cleave_session *s = hybrid(f, &l, &cases[1], "ref", false, NULL);
  outcome out[8];
  memset(out, 0, sizeof out);
  for (int i = 0; i < 8; i++)
    assert_int_equal(cleave_run(s, &l.in, 1, on_done, &out[i], NULL), 0);
  cleave_session_free(s);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(out[i].done, 1);
    assert_int_equal(out[i].status, CLEAVE_ECANCELED);
  }
  kit_sleep_loop(&f->loop, 20);
  unload(&l);
}

/* A hedge that loses to the edge may still be running on its device when its run has finished: freeing the session
 * then waits for it (the job uses the session's programs and model), and its run stays known until it is back. */
static void test_free_with_hedge_running(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge_new(f);
  loaded l = {0};
  load(f, &cases[1], &l);
  cleave_session *s = hybrid(f, &l, &cases[1], "ref", false, e);
  cl_hybrid *h = s->hybrid;
  int n = h->model->graph.n_nodes;
  int *a = malloc(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++)
    a[i] = 1; /* all on the edge */
  assert_int_equal(cl_hybrid_force(h, a), 0);
  free(a);
  cleave_result *warm = run_async(f, s, &l); /* the model reaches the gateway, the plan is made */
  assert_int_equal(cleave_result_placement(warm)->segments[0].on_edge, 1);
  cleave_result_free(warm);
  /* a deadline the device alone would miss: the hedge starts with the request, on the slow "ref" */
  const cl_hplan *p = h->current;
  double local = cl_hybrid_local_ms(h, &p->seg[0], p, 0);
  assert_true(local > 0);
  h->deadline_ms = local - 1;
  int edge_won = 0;
  for (int t = 0; t < 5 && !edge_won; t++) {
    outcome o = {0};
    assert_int_equal(cleave_run(s, &l.in, 1, on_done, &o, NULL), 0);
    kit_run_until(&f->loop, &o.done, 1, 60000);
    assert_int_equal(o.done, 1);
    if (o.status) print_error("run: %s\n", o.err);
    assert_int_equal(o.status, 0);
    assert_true(max_diff(l.ref, o.res) <= cases[1].tol);
    const cleave_placement *pl = cleave_result_placement(o.res);
    edge_won = pl->segments[0].on_edge && h->runs != NULL; /* finished, its hedge still out */
    print_message("hedge run %d: on edge %d, hedged %d, run still known %d\n", t, pl->segments[0].on_edge,
                  pl->segments[0].hedged, h->runs != NULL);
    cleave_result_free(o.res);
    if (!edge_won) kit_sleep_loop(&f->loop, 2000); /* the hedge finishes */
  }
  assert_true(edge_won);
  assert_int_equal(h->in_flight, 0);
  cleave_session_free(s); /* waits for the hedge, which then ends silently */
  kit_sleep_loop(&f->loop, 20);
  unload(&l);
  edge_close(f, e);
}

/* Without a gateway to talk to, every edge segment runs on the device, and the placement says so. */
static void test_fallback(void **state) {
  fixture *f = *state;
  cleave_edge_options *eo;
  cleave_edge *e;
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", kit_free_port());
  assert_int_equal(cleave_edge_options_new(&eo), 0);
  assert_int_equal(cleave_edge_options_set_ca_file(eo, f->pki->ca), 0);
  assert_int_equal(cleave_edge_new(f->ctx, url, eo, &e), 0);
  cleave_edge_options_free(eo);
  loaded l = {0};
  load(f, &cases[0], &l);
  cleave_session *s = hybrid(f, &l, &cases[0], "ref", false, e);
  int n = s->hybrid->model->graph.n_nodes;
  int *a = malloc(sizeof(int) * (size_t)n);
  unsigned seed = 5;
  random_assignment(a, n, 2, &seed, 0);
  assert_int_equal(cl_hybrid_force(s->hybrid, a), 0);
  for (int t = 0; t < 3; t++) {
    cleave_result *r = run_async(f, s, &l);
    const cleave_placement *p = cleave_result_placement(r);
    print_message("fallback run %d: %d segments, %d fallbacks\n", t, p->n_segments, p->fallbacks);
    assert_true(p->fallbacks >= 1);
    for (int k = 0; k < p->n_segments; k++) {
      assert_int_equal(p->segments[k].on_edge, 0);
      if (p->segments[k].fallback) assert_non_null(p->segments[k].why);
    }
    assert_true(max_diff(l.ref, r) <= cases[0].tol);
    cleave_result_free(r);
  }
  free(a);
  cleave_session_free(s);
  unload(&l);
  edge_close(f, e);
}

/* Every allocation of session creation and of a run, failed in turn: a clear error each time, nothing leaks
 * (the sanitizer pass checks), and the next attempt works. */
static void test_failing_allocator(void **state) {
  (void)state;
  char path[512], prof[2][512];
  snprintf(path, sizeof path, "%s/%s", MODELS, cases[0].file);
  snprintf(prof[0], sizeof prof[0], "%s/partitioner/profiles/this-machine-cpu.json", CLEAVE_SOURCE_DIR);
  snprintf(prof[1], sizeof prof[1], "%s/partitioner/profiles/lowend-cpu.json", CLEAVE_SOURCE_DIR);
  tb_counter cnt = {.fail_at = -1};
  cleave_allocator a = tb_counting_allocator(&cnt);
  cleave_options *opt;
  cleave_ctx *ctx;
  cleave_model *m;
  cleave_profile *p0, *p1;
  assert_int_equal(cleave_options_new(&opt), 0);
  assert_int_equal(cleave_options_set_allocator(opt, &a), 0);
  assert_int_equal(cleave_ctx_new(&ctx, NULL, opt), 0);
  cleave_options_free(opt);
  assert_int_equal(cleave_model_load(ctx, path, &m), 0);
  assert_int_equal(cleave_profile_load(ctx, prof[0], &p0), 0);
  assert_int_equal(cleave_profile_load(ctx, prof[1], &p1), 0);
  float *x = malloc(sizeof(float) * 3 * 48 * 192);
  cl_fill_random_f32(x, 3 * 48 * 192, 1);
  cleave_tensor in = {.name = "x",
                      .dtype = CLEAVE_DTYPE_FLOAT32,
                      .ndim = 4,
                      .dims = {1, 3, 48, 192},
                      .data = x,
                      .nbytes = sizeof(float) * 3 * 48 * 192};
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  const cleave_tensor *mi = cleave_model_input(m, 0);
  for (int d = 0; d < 4; d++)
    if (mi->dims[d] < 0) assert_int_equal(cleave_session_options_set_dim(o, mi->dim_names[d], in.dims[d]), 0);
  const char *devs[2] = {"cpu", "ref"};
  assert_int_equal(cleave_session_options_set_devices(o, devs, 2), 0);
  assert_int_equal(cleave_session_options_set_profile(o, "cpu", p0), 0);
  assert_int_equal(cleave_session_options_set_profile(o, "ref", p1), 0);
  int failures = 0;
  for (long i = 0;; i++) {
    cnt.fail_at = cnt.allocs + i;
    cleave_session *s = NULL;
    cleave_result *r = NULL;
    int rc = cleave_session_new(ctx, m, o, &s);
    if (!rc) rc = cleave_run_sync(s, &in, 1, &r);
    bool reached = cnt.allocs > cnt.fail_at;
    cnt.fail_at = -1;
    if (rc) {
      failures++;
      if (rc != CLEAVE_ENOMEM)
        print_message("allocation %ld: %s: %s\n", i, cleave_err_name(rc), cleave_ctx_last_error(ctx));
      assert_true(cleave_ctx_last_error(ctx)[0] != '\0');
    } else {
      assert_true(max_diff(r, r) == 0);
    }
    cleave_result_free(r);
    cleave_session_free(s);
    if (!reached) {
      assert_int_equal(rc, 0); /* no allocation failed: it must have worked */
      break;
    }
    assert_true(i < 100000);
  }
  print_message("failing allocator: %d allocations failed in turn, each cleanly\n", failures);
  assert_true(failures > 50);
  cleave_session_options_free(o);
  cleave_profile_free(p0);
  cleave_profile_free(p1);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_local_random_plans), cmocka_unit_test(test_edge_random_plans),
      cmocka_unit_test(test_in_flight),          cmocka_unit_test(test_free_in_flight),
      cmocka_unit_test(test_free_with_hedge_running), cmocka_unit_test(test_fallback),           cmocka_unit_test(test_failing_allocator),
  };
  if (!MODELS) {
    print_message("CLEAVE_MODELS is not set: skipped\n");
    return 77;
  }
  return cmocka_run_group_tests(tests, setup, teardown);
}
