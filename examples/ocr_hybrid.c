/* cleave-ocr-demo, hybrid half: the PP-OCR pipeline through hybrid sessions (a local device and a cleave gateway)
 * request after request, while cleave-link, the link emulator in front of the gateway, goes through the phases
 * (its presets, sent to its control port when a phase begins, so that a phase is a number of requests however
 * slow the machine). The mode shown (AUTO by default) runs every request; the other two modes (all-local and
 * all-edge: the same sessions in ONLY_LOCAL and ONLY_EDGE) run on the first requests of each phase, interleaved,
 * each on a context of its own so that no mode learns from another's runs. Every text is checked against the
 * all-local one, computed once at the start on a plain session of the home device.
 *
 * The contexts share the host's libuv loop; the runs are synchronous (cleave_run_sync drives the loop while it
 * waits), and between them the demo turns the loop itself when it waits for the edge. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ocr_demo.h"

#define MAX_PHASES 16
#define PHASE_NAME_MAX 16
#define CONTROL_TIMEOUT_MS 5000
#define EDGE_READY_TIMEOUT_MS 60000
#define TEXT_MAX 4096

enum { LANE_AUTO, LANE_LOCAL, LANE_EDGE, LANES };

static const char *const lane_names[LANES] = {"auto", "all-local", "all-edge"};
static const cleave_mode lane_modes[LANES] = {CLEAVE_MODE_AUTO, CLEAVE_MODE_ONLY_LOCAL, CLEAVE_MODE_ONLY_EDGE};

/* What one mode did in one phase. */
typedef struct tally {
  double *ms, *mj; /* of the requests that completed */
  int n, failed, wrong;
  int fallbacks; /* segments that fell back to the device */
  int hedges;
} tally;

/* One mode: its own context, edge and sessions. */
typedef struct lane {
  int on; /* runs at all */
  const char *name;
  cleave_ctx *ctx;
  cleave_edge *edge;
  ocr_pipe pipe;
  tally t[MAX_PHASES];
} lane;

typedef struct demo {
  const ocr_hybrid_options *o;
  uv_loop_t loop;
  ocr_job job;
  lane lanes[LANES];
  int main_lane;
  char phase[MAX_PHASES][PHASE_NAME_MAX];
  int n_phases;
  char reference[TEXT_MAX];
  int control_port;
  struct sockaddr_storage control;
} demo;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- cleave-link's control port ------------------------------------------------------------------------ */

/* HOST:PORT with a numeric IPv4 address, or [IPv6]:PORT. No name is resolved. */
static int parse_addr(const char *s, struct sockaddr_storage *out) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end || port < 1 || port > 65535) return -1;
  memset(out, 0, sizeof *out);
  size_t hl = strlen(host);
  if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    host[hl - 1] = '\0';
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1 ? 0 : -1;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)out;
  a4->sin_family = AF_INET;
  a4->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
}

/* Sends one command line and reads the one-line answer into reply, both within CONTROL_TIMEOUT_MS. 0 when the
 * answer begins with "ok", else -1 (the reason, or the answer, in reply). */
static int control(const demo *d, const char *cmd, char *reply, size_t cap) {
  int fd = socket(d->control.ss_family, SOCK_STREAM, 0);
  struct timeval tv = {.tv_sec = CONTROL_TIMEOUT_MS / 1000};
  socklen_t len = d->control.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  size_t n = 0;
  snprintf(reply, cap, "no answer");
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) ||
      connect(fd, (const struct sockaddr *)&d->control, len)) {
    snprintf(reply, cap, "cannot connect: %s", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  char line[256];
  int ll = snprintf(line, sizeof line, "%s\n", cmd);
  if (write(fd, line, (size_t)ll) != ll) {
    snprintf(reply, cap, "cannot send: %s", strerror(errno));
    close(fd);
    return -1;
  }
  double end = now_ms() + CONTROL_TIMEOUT_MS;
  while (n + 1 < cap) {
    char c;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int left = (int)(end - now_ms());
    if (left <= 0 || poll(&pf, 1, left) <= 0 || read(fd, &c, 1) != 1) break;
    if (c == '\n') break;
    reply[n++] = c;
  }
  reply[n] = '\0';
  close(fd);
  return strncmp(reply, "ok", 2) == 0 ? 0 : -1;
}

/* cleave-link's answer to a preset ("ok up rate=5.85 delay=25 loss=0 down rate=13 delay=25 loss=0"): the rates
 * in *up and *down (-1 when the answer says otherwise), and the link in words. */
static void describe_link(const char *reply, double *up, double *down, char *out, size_t cap) {
  double up_delay, up_loss, down_delay;
  if (sscanf(reply, "ok up rate=%lf delay=%lf loss=%lf down rate=%lf delay=%lf", up, &up_delay, &up_loss, down,
             &down_delay) != 5) {
    *up = *down = -1;
    snprintf(out, cap, "%s", reply);
  } else if (*up == 0 && *down == 0) {
    snprintf(out, cap, "no bytes either way: connections stay open, nothing arrives");
  } else {
    snprintf(out, cap, "up %g Mbit/s, down %g Mbit/s, RTT %g ms", *up, *down, up_delay + down_delay);
  }
}

/* ---- the loop ------------------------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t) { *(int *)t->data = 1; }

/* Turns the loop for ms: the edges' background work (probes, profile fetches) goes on. */
static void turn_loop(demo *d, int ms) {
  uv_timer_t t;
  int fired = 0;
  uv_timer_init(&d->loop, &t);
  t.data = &fired;
  uv_timer_start(&t, on_timer, (uint64_t)ms, 0);
  while (!fired)
    uv_run(&d->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&d->loop, UV_RUN_NOWAIT);
}

static void on_closed(void *arg) { *(int *)arg = 1; }

static void on_log(void *user, cleave_log_level level, const char *msg) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  fprintf(stderr, "cleave-ocr-demo: [%s] %s: %s\n", (const char *)user, (unsigned)level < 4 ? names[level] : "log",
          msg);
}

/* ---- set-up -------------------------------------------------------------------------------------------- */

static int parse_phases(demo *d) {
  static const char *const known[] = {"wifi", "lte", "4g", "3g", "offline"};
  const char *s = d->o->phases ? d->o->phases : "wifi,lte,3g,offline,wifi";
  if (!d->o->link_control) {
    if (d->o->phases) {
      fprintf(stderr, "cleave-ocr-demo: --phases needs --link-control (the demo changes the link itself)\n");
      return -1;
    }
    snprintf(d->phase[0], PHASE_NAME_MAX, "link");
    d->n_phases = 1;
    return 0;
  }
  while (*s) {
    size_t len = strcspn(s, ",");
    int ok = 0;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
      ok |= len == strlen(known[k]) && !strncmp(s, known[k], len);
    if (!ok || d->n_phases == MAX_PHASES) {
      fprintf(stderr, "cleave-ocr-demo: --phases: %s '%.*s' (presets: wifi, lte, 4g, 3g, offline; at most %d)\n",
              ok ? "too many phases at" : "unknown phase", (int)len, s, MAX_PHASES);
      return -1;
    }
    snprintf(d->phase[d->n_phases++], PHASE_NAME_MAX, "%.*s", (int)len, s);
    s += len;
    if (*s == ',' && !*++s) break;
  }
  if (!d->n_phases) {
    fprintf(stderr, "cleave-ocr-demo: --phases: empty\n");
    return -1;
  }
  return 0;
}

static int lane_new(demo *d, int i) {
  const ocr_hybrid_options *o = d->o;
  lane *l = &d->lanes[i];
  cleave_options *copt = NULL;
  cleave_edge_options *eo = NULL;
  int rc = cleave_options_new(&copt);
  l->name = lane_names[i];
  if (!rc && o->verbose)
    cleave_options_set_log(copt, on_log, (void *)l->name, o->verbose > 1 ? CLEAVE_LOG_DEBUG : CLEAVE_LOG_INFO);
  if (!rc) rc = cleave_ctx_new(&l->ctx, &d->loop, copt);
  cleave_options_free(copt);
  if (rc) return ocr_fail(NULL, "cannot create a context", rc);
  /* this machine's battery, thermal state and network are not those of the device the demo emulates */
  if ((rc = cleave_policy_set_system_root(l->ctx, NULL))) return ocr_fail(l->ctx, "policy", rc);
  rc = cleave_edge_options_new(&eo);
  if (!rc && o->ca) rc = cleave_edge_options_set_ca_file(eo, o->ca);
  if (!rc && o->token) rc = cleave_edge_options_set_token(eo, o->token);
  if (!rc) rc = cleave_edge_options_set_timeout_ms(eo, o->edge_timeout_ms);
  if (!rc) rc = cleave_edge_new(l->ctx, o->edge_url, eo, &l->edge);
  cleave_edge_options_free(eo);
  if (rc) return ocr_fail(l->ctx, o->edge_url, rc);
  const ocr_placement_spec spec = {
      .device = o->device, .edge = l->edge, .mode = lane_modes[i], .deadline_ms = o->deadline_ms};
  if (ocr_pipe_new(&l->pipe, l->ctx, o->models, &d->job, &spec)) return -1;
  if (o->verbose > 1) l->pipe.trace = l->name;
  for (int p = 0; p < d->n_phases; p++)
    if (!(l->t[p].ms = calloc((size_t)o->requests, sizeof(double))) ||
        !(l->t[p].mj = calloc((size_t)o->requests, sizeof(double)))) {
      fprintf(stderr, "cleave-ocr-demo: out of memory\n");
      return -1;
    }
  l->on = 1;
  return 0;
}

static void lane_free(demo *d, lane *l) {
  ocr_pipe_free(&l->pipe);
  if (l->edge) {
    int closed = 0;
    cleave_edge_close(l->edge, on_closed, &closed);
    double end = now_ms() + 10000;
    while (!closed && now_ms() < end)
      uv_run(&d->loop, UV_RUN_ONCE);
  }
  cleave_ctx_free(l->ctx);
  for (int p = 0; p < MAX_PHASES; p++) {
    free(l->t[p].ms);
    free(l->t[p].mj);
  }
  memset(l, 0, sizeof *l);
}

/* The all-local text, once, on a plain session of the home device; and the picture on the gateway's backend, cpu,
 * run here too, so that the screen says how much slower the emulated device is. */
static int reference(demo *d) {
  const ocr_hybrid_options *o = d->o;
  const char *devices[2] = {o->device, "cpu"};
  double ms[2] = {0, 0};
  int rc = 0;
  for (int k = 0; k < (strcmp(o->device, "cpu") ? 2 : 1) && !rc; k++) {
    cleave_ctx *ctx = NULL;
    ocr_pipe p = {0};
    ocr_outcome out = {0};
    const ocr_placement_spec spec = {.device = devices[k]};
    char text[TEXT_MAX];
    int err = cleave_ctx_new(&ctx, NULL, NULL);
    if (err) {
      rc = ocr_fail(NULL, "cannot create a context", err);
    } else if (ocr_pipe_new(&p, ctx, o->models, &d->job, &spec)) {
      rc = -1;
    } else if (ocr_pipe_run(&p, &d->job, &out) || (ocr_outcome_free(&out), ocr_pipe_run(&p, &d->job, &out))) {
      /* the first run compiles the programs; the second is the one timed */
      fprintf(stderr, "cleave-ocr-demo: all-local on %s: %s\n", devices[k], out.err);
      rc = -1;
    } else {
      ms[k] = out.ms;
      ocr_outcome_text(&out, text, sizeof text);
      if (k == 0) {
        snprintf(d->reference, sizeof d->reference, "%s", text);
        printf("reference text (all-local on %s, %d boxes, %.0f ms): \"%s\"\n", devices[k], out.n_lines, out.ms,
               text);
      } else if (strcmp(text, d->reference)) {
        printf("note: the gateway's backend reads \"%s\" on this picture\n", text);
      }
    }
    ocr_outcome_free(&out);
    ocr_pipe_free(&p);
    cleave_ctx_free(ctx);
  }
  if (rc) return rc;
  if (!strcmp(o->device, "ref"))
    printf("the device side runs on the 'ref' backend ON PURPOSE: cleave's portable reference kernels, %.1fx slower "
           "than the gateway's 'cpu' backend (XNNPACK) on this picture here (%.0f ms against %.0f ms). Gateway and "
           "device share this machine, so this is how the demo emulates a slow device (a phone) against a fast edge "
           "(a GPU).\n",
           ms[1] > 0 ? ms[0] / ms[1] : NAN, ms[0], ms[1]);
  else if (ms[1] > 0)
    printf("the device side runs on '%s', %.1fx the time of the gateway's 'cpu' backend on this picture here\n",
           o->device, ms[0] / ms[1]);
  else
    printf("the device side runs on 'cpu', the gateway's own backend on the same machine: the edge cannot be "
           "faster here, only the link slower\n");
  return 0;
}

/* First runs: programs compiled, the device measured (once, then cached), and each hybrid session asks the edge
 * for its profile and the models. All-edge cannot run before the edge is known: waiting for it is waiting for the
 * edge. */
static int warm_up(demo *d) {
  double t0 = now_ms();
  for (int i = 0; i < LANES; i++)
    if (d->lanes[i].on && i != LANE_EDGE) ocr_pipe_warm(&d->lanes[i].pipe, &d->job);
  if (d->lanes[LANE_EDGE].on) {
    int rc;
    while ((rc = ocr_pipe_warm(&d->lanes[LANE_EDGE].pipe, &d->job)) == CLEAVE_EINFEASIBLE &&
           now_ms() - t0 < EDGE_READY_TIMEOUT_MS)
      turn_loop(d, 200);
    if (rc) {
      ocr_fail(d->lanes[LANE_EDGE].ctx, "the edge is not ready (is the gateway running behind the link?)", rc);
      return -1;
    }
  }
  turn_loop(d, d->lanes[LANE_EDGE].on ? 300 : 2000); /* the other sessions' answers come in */
  if (d->lanes[LANE_EDGE].on)
    printf("edge %s ready after %.1f s (its profile fetched, the models found there)\n", d->o->edge_url,
           (now_ms() - t0) / 1e3);
  else
    printf("edge %s given %.1f s to send its profile and find the models\n", d->o->edge_url, (now_ms() - t0) / 1e3);
  /* one whole picture each, untimed */
  for (int i = 0; i < LANES; i++) {
    ocr_outcome out;
    if (!d->lanes[i].on) continue;
    if (ocr_pipe_run(&d->lanes[i].pipe, &d->job, &out)) printf("warm-up of %s: %s\n", d->lanes[i].name, out.err);
    ocr_outcome_free(&out);
  }
  return 0;
}

/* ---- requests ------------------------------------------------------------------------------------------ */

/* Where a model's runs of one request went, in words: "device", "edge", "device+edge", or a mix with counts,
 * then fallbacks and hedges. */
static void describe_use(const ocr_use *u, char *out, size_t cap) {
  const char *names[3] = {"device", "edge", "device+edge"};
  const int counts[3] = {u->device, u->edge, u->split};
  int kinds = (u->device > 0) + (u->edge > 0) + (u->split > 0);
  size_t n = 0;
  out[0] = '\0';
  for (int k = 0; k < 3; k++) {
    if (!counts[k]) continue;
    if (kinds == 1)
      n += (size_t)snprintf(out + n, cap - n, "%s", names[k]);
    else
      n += (size_t)snprintf(out + n, cap - n, "%s%s x%d", n ? ", " : "", names[k], counts[k]);
    if (n >= cap) return;
  }
  if (!u->runs) n += (size_t)snprintf(out + n, cap - n, "-");
  if (n < cap && u->fallbacks) n += (size_t)snprintf(out + n, cap - n, " (%d fell back)", u->fallbacks);
  if (n < cap && u->hedges) snprintf(out + n, cap - n, " (%d hedged)", u->hedges);
}

/* One request of one mode in phase p: run, check, print, count. Returns 0, 1 when it failed, 2 when it read the
 * wrong text. */
static int request(demo *d, int li, int p, int r) {
  lane *l = &d->lanes[li];
  tally *t = &l->t[p];
  ocr_outcome out;
  char text[TEXT_MAX], where[OCR_NETS][96];
  int rc = ocr_pipe_run(&l->pipe, &d->job, &out);
  int is_main = li == d->main_lane;
  char head[64];
  snprintf(head, sizeof head, "  %-7s %2d/%-2d %-9s", d->phase[p], r + 1, d->o->requests, l->name);
  if (rc) {
    t->failed++;
    printf("%s FAILED after %.0f ms: %s\n", head, out.ms, out.err);
    for (int k = 0; k < OCR_NETS; k++)
      t->fallbacks += out.use[k].fallbacks;
    ocr_outcome_free(&out);
    return 1;
  }
  ocr_outcome_text(&out, text, sizeof text);
  int right = strcmp(text, d->reference) == 0;
  for (int k = 0; k < OCR_NETS; k++) {
    describe_use(&out.use[k], where[k], sizeof where[k]);
    t->fallbacks += out.use[k].fallbacks;
    t->hedges += out.use[k].hedges;
  }
  t->ms[t->n] = out.ms;
  t->mj[t->n] = out.energy_mj;
  t->n++;
  t->wrong += !right;
  char placement[320];
  snprintf(placement, sizeof placement, "det %s | cls %s | rec %s", where[OCR_DET], where[OCR_CLS], where[OCR_REC]);
  printf("%s %-46s %8.1f ms %8.1f mJ  text %s\n", head, placement, out.ms, out.energy_mj, right ? "ok" : "WRONG");
  if (is_main || !right) printf("  %-22s \"%s\"\n", right ? "" : "  read:", text);
  for (int k = 0; k < OCR_NETS && is_main; k++)
    if (out.use[k].why[0]) printf("  %-22s %s fell back because: %s\n", "", l->pipe.net[k].label, out.use[k].why);
  ocr_outcome_free(&out);
  return right ? 0 : 2;
}

/* ---- the summary --------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  if (!n) return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* "812 ms 1234 mJ n=4 1 fb" for one tally (or the union of a lane's, p < 0), into out. */
static void cell(const lane *l, int p, int n_phases, char *out, size_t cap) {
  int n = 0, failed = 0, fb = 0, hedged = 0;
  size_t total = 0;
  for (int q = 0; q < n_phases; q++)
    total += (size_t)l->t[q].n;
  double *ms = calloc(total + 1, sizeof *ms), *mj = calloc(total + 1, sizeof *mj);
  if (!ms || !mj) {
    snprintf(out, cap, "(out of memory)");
    free(ms);
    free(mj);
    return;
  }
  for (int q = p < 0 ? 0 : p; q < (p < 0 ? n_phases : p + 1); q++) {
    memcpy(ms + n, l->t[q].ms, sizeof *ms * (size_t)l->t[q].n);
    memcpy(mj + n, l->t[q].mj, sizeof *mj * (size_t)l->t[q].n);
    n += l->t[q].n;
    failed += l->t[q].failed;
    fb += l->t[q].fallbacks;
    hedged += l->t[q].hedges;
  }
  char c[96];
  size_t k = 0;
  if (n)
    k = (size_t)snprintf(c, sizeof c, "%7.0f ms %7.0f mJ n=%d", median(ms, n), median(mj, n), n);
  else
    k = (size_t)snprintf(c, sizeof c, "%7s", failed ? "-" : "not run");
  if (failed) k += (size_t)snprintf(c + k, sizeof c - k, " %d failed", failed);
  if (fb) k += (size_t)snprintf(c + k, sizeof c - k, " %d fb", fb);
  if (hedged) snprintf(c + k, sizeof c - k, " %d hedged", hedged);
  snprintf(out, cap, "%-40s", c);
  free(ms);
  free(mj);
}

static double lane_median(const lane *l, int n_phases, int energy) {
  size_t total = 0;
  int n = 0;
  for (int q = 0; q < n_phases; q++)
    total += (size_t)l->t[q].n;
  double *v = calloc(total + 1, sizeof *v);
  if (!v) return NAN;
  for (int q = 0; q < n_phases; q++) {
    memcpy(v + n, energy ? l->t[q].mj : l->t[q].ms, sizeof *v * (size_t)l->t[q].n);
    n += l->t[q].n;
  }
  double m = median(v, n);
  free(v);
  return m;
}

static void summary(demo *d) {
  char c[LANES][64];
  printf("\nsummary: p50 latency and p50 estimated device energy per picture (n: requests that completed; fb: "
         "segments that fell back to the device after an edge failure; hedged: late edge "
         "requests also run on the device, the first answer taken)\n");
  printf("  %-10s", "phase");
  for (int i = 0; i < LANES; i++)
    if (d->lanes[i].on) printf("  %-40s", d->lanes[i].name);
  printf("\n");
  for (int p = 0; p <= d->n_phases; p++) { /* the phases, then all of them */
    printf("  %-10s", p < d->n_phases ? d->phase[p] : "overall");
    for (int i = 0; i < LANES; i++)
      if (d->lanes[i].on) {
        cell(&d->lanes[i], p < d->n_phases ? p : -1, d->n_phases, c[i], sizeof c[i]);
        printf("  %s", c[i]);
      }
    printf("\n");
  }
  const lane *m = &d->lanes[d->main_lane];
  for (int i = 0; i < LANES; i++) {
    const lane *b = &d->lanes[i];
    if (!b->on || i == d->main_lane) continue;
    double lt = lane_median(m, d->n_phases, 0) / lane_median(b, d->n_phases, 0);
    double en = lane_median(m, d->n_phases, 1) / lane_median(b, d->n_phases, 1);
    printf("%s against %s, overall p50: %.2fx the latency, %.2fx the energy\n", m->name, b->name, lt, en);
  }
}

/* ---- the demo ------------------------------------------------------------------------------------------ */

/* Puts the link of phase p in place (the preset sent to cleave-link) and, with link hints, passes its rates on to
 * every context as the platform would report them. Prints the phase's header unless quiet. 0 or -1. */
static int set_link(demo *d, int p, int quiet) {
  const ocr_hybrid_options *o = d->o;
  char reply[512], words[256] = "the link as it is", cmd[64];
  double up = -1, down = -1;
  if (o->link_control) {
    snprintf(cmd, sizeof cmd, "preset %s", d->phase[p]);
    if (control(d, cmd, reply, sizeof reply)) {
      fprintf(stderr, "cleave-ocr-demo: cleave-link at %s: '%s': %s\n", o->link_control, cmd, reply);
      return -1;
    }
    describe_link(reply, &up, &down, words, sizeof words);
  }
  if (!quiet) printf("\nphase %d/%d: %s (%s)\n", p + 1, d->n_phases, d->phase[p], words);
  if (o->link_hints && up > 0 && down > 0) {
    /* what the platform reports of a new link (Android's NetworkCapabilities bandwidth estimates), passed on as an
     * app would; the path's delay is measured (h2 PING) */
    for (int i = 0; i < LANES; i++)
      if (d->lanes[i].on && (cleave_signal_set(d->lanes[i].ctx, CLEAVE_SIGNAL_NET_UPLINK_MBPS, up) ||
                             cleave_signal_set(d->lanes[i].ctx, CLEAVE_SIGNAL_NET_DOWNLINK_MBPS, down)))
        return ocr_fail(d->lanes[i].ctx, "signal", CLEAVE_EINVAL);
    if (!quiet) printf("  the app passes on what the platform reports: up %g, down %g Mbit/s\n", up, down);
  } else if (o->link_hints && up == 0 && down == 0 && !quiet) {
    printf("  a dead zone the platform does not see (the radio stays attached): the app passes on nothing, cleave "
           "finds out by itself\n");
  }
  return 0;
}

static int run_phases(demo *d) {
  const ocr_hybrid_options *o = d->o;
  int bad = 0;
  for (int p = 0; p < d->n_phases; p++) {
    if (set_link(d, p, 0)) return -1;
    fflush(stdout);
    for (int r = 0; r < o->requests; r++) {
      /* a wrong text is always an error, and so is a failure but for all-edge's (it cannot work offline) */
      for (int i = d->main_lane, k = 0; k < LANES; k++, i = (i + 1) % LANES) {
        if (!d->lanes[i].on || (k > 0 && r >= o->compare)) continue;
        int rc = request(d, i, p, r);
        bad |= rc == 2 || (rc == 1 && (i != LANE_EDGE || i == d->main_lane));
      }
      fflush(stdout);
    }
  }
  return bad;
}

int ocr_hybrid(const ocr_hybrid_options *o) {
  demo *d = calloc(1, sizeof *d);
  int status = 1, loop_ok = 0;
  if (!d) {
    fprintf(stderr, "cleave-ocr-demo: out of memory\n");
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* a line as soon as it is known, also through a pipe (make demo | tee) */
  d->o = o;
  d->main_lane = o->mode == CLEAVE_MODE_ONLY_LOCAL ? LANE_LOCAL : o->mode == CLEAVE_MODE_ONLY_EDGE ? LANE_EDGE : 0;
  if (parse_phases(d)) {
    status = 2;
    goto out;
  }
  if (o->link_control && parse_addr(o->link_control, &d->control)) {
    fprintf(stderr,
            "cleave-ocr-demo: --link-control: '%s' is not a numeric HOST:PORT (127.0.0.1:9444, "
            "[::1]:9444)\n",
            o->link_control);
    status = 2;
    goto out;
  }
  if (o->compare > o->requests) {
    fprintf(stderr, "cleave-ocr-demo: --compare %d is more than --requests-per-phase %d\n", o->compare, o->requests);
    status = 2;
    goto out;
  }
  if (uv_loop_init(&d->loop)) goto out;
  loop_ok = 1;
  if (ocr_job_load(&d->job, o->image, o->models)) goto out;
  printf("cleave hybrid OCR demo: %s (%dx%d), PP-OCR det, cls and rec through hybrid sessions of device '%s' and "
         "edge %s\n",
         o->image, d->job.img.w, d->job.img.h, o->device, o->edge_url);
  for (int i = 0; i < LANES; i++)
    if ((i == d->main_lane || o->compare > 0) && lane_new(d, i)) goto out;
  if (set_link(d, 0, 1)) goto out; /* the first phase's link for the warm-up */
  if (reference(d)) goto out;
  printf("modes: %s on every request", d->lanes[d->main_lane].name);
  for (int i = 0; i < LANES; i++)
    if (i != d->main_lane && d->lanes[i].on) {
      if (o->compare == 1)
        printf(", %s on the first request of each phase", d->lanes[i].name);
      else
        printf(", %s on the first %d requests of each phase", d->lanes[i].name, o->compare);
    }
  printf("; each on a context of its own; energy is the library's estimate for the device (compute and radio)\n");
  if (warm_up(d)) goto out;
  int bad = run_phases(d);
  if (bad < 0) goto out;
  summary(d);
  int wrong = 0, total = 0, failed = 0;
  for (int i = 0; i < LANES; i++)
    for (int p = 0; p < d->n_phases; p++) {
      wrong += d->lanes[i].t[p].wrong;
      total += d->lanes[i].t[p].n;
      failed += i == d->main_lane ? d->lanes[i].t[p].failed : 0;
    }
  printf("text: %d of %d completed requests read the reference text; %s: %d request%s failed\n", total - wrong, total,
         d->lanes[d->main_lane].name, failed, failed == 1 ? "" : "s");
  status = bad ? 1 : 0;
out:
  for (int i = 0; i < LANES; i++)
    lane_free(d, &d->lanes[i]);
  ocr_job_free(&d->job);
  if (loop_ok) {
    uv_run(&d->loop, UV_RUN_DEFAULT); /* the handles the contexts closed finish closing */
    if (uv_loop_close(&d->loop)) {
      fprintf(stderr, "cleave-ocr-demo: handles left open at exit\n");
      status = 1;
    }
  }
  free(d);
  return status;
}
