/* tools: cleave-link's control (the language is described in link_control.h). */
#include "link_control.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 4
#define MAX_STEPS 10000
#define MAX_CLIENTS 16
#define CLIENT_IDLE_MS (10 * 60 * 1000)
#define CLIENT_WRITE_MAX (64 * 1024) /* replies not yet read by the client; past this it is read no more */

/* Uplinks: the 3G, LTE and Wi-Fi uplink rates measured for Neurosurgeon (Y. Kang et al., ASPLOS 2017) and the
 * presets of DADS (C. Hu et al., "Dynamic Adaptive DNN Surgery for Inference Acceleration on the Edge", INFOCOM
 * 2019), as in cleave-sim. The LTE downlink is the median J. Huang et al. measured over 4G LTE ("A Close
 * Examination of Performance and Power Characteristics of 4G LTE Networks", MobiSys 2012: 13 Mbit/s down,
 * 6 up) and its RTT the partitioner's 4G default. Wi-Fi and 3G downlinks and RTTs are round figures typical of a
 * home 802.11n network (about 20 ms to a nearby edge) and of HSPA (100-150 ms), not the result of one study. */
static const struct preset {
  const char *name;
  double up_mbps, down_mbps, rtt_ms;
} presets[] = {
    {"wifi", 18.88, 50, 20}, {"lte", 5.85, 13, 50}, {"4g", 5.85, 13, 50}, {"3g", 1.1, 2, 120}, {"offline", 0, 0, -1},
};

static int fail(char *err, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && cap) vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return code;
}

/* ---- commands ---- */

enum kind { K_RATE, K_DELAY, K_RTT, K_LOSS, K_TRACE, K_PRESET, K_CUT, K_STALL, K_RESTORE, K_STATS, K_HELP };

static const struct verb {
  const char *name;
  enum kind kind;
  int args; /* 0: none, 1: one bare value, 2: a bare value or up=/down= */
} verbs[] = {
    {"rate", K_RATE, 2},       {"delay", K_DELAY, 2},   {"rtt", K_RTT, 1},   {"loss", K_LOSS, 2},
    {"trace", K_TRACE, 2},     {"preset", K_PRESET, 1}, {"cut", K_CUT, 0},   {"stall", K_STALL, 0},
    {"restore", K_RESTORE, 0}, {"stats", K_STATS, 0},   {"help", K_HELP, 0},
};

typedef struct cmd {
  const struct verb *verb;
  int mask;            /* directions given */
  const char *text[2]; /* the value for up, down */
  double v[2];         /* as a number, for numeric commands */
  const struct preset *preset;
  char buf[LINK_LINE_MAX + 1];
} cmd;

static int parse_number(const char *verb, const char *s, double *out, char *err, size_t cap) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v))
    return fail(err, cap, CLEAVE_EINVAL, "%s: '%s' is not a number", verb, s);
  *out = v;
  return 0;
}

static int parse_cmd(const char *line, cmd *c, char *err, size_t cap) {
  memset(c, 0, sizeof *c);
  size_t len = strlen(line);
  if (len > LINK_LINE_MAX) return fail(err, cap, CLEAVE_EINVAL, "line longer than %d bytes", LINK_LINE_MAX);
  memcpy(c->buf, line, len + 1);
  char *w[MAX_WORDS + 1];
  int n = 0;
  for (char *p = c->buf; *p;) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
      *p++ = 0;
    if (!*p) break;
    if (n == MAX_WORDS + 1) return fail(err, cap, CLEAVE_EINVAL, "too many words (at most %d)", MAX_WORDS);
    w[n++] = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
      p++;
  }
  if (n == 0) return fail(err, cap, CLEAVE_EINVAL, "empty command (try help)");
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (strcmp(w[0], verbs[i].name) == 0) c->verb = &verbs[i];
  if (!c->verb) return fail(err, cap, CLEAVE_EINVAL, "unknown command '%.64s' (try help)", w[0]);
  const char *name = c->verb->name;
  int args = c->verb->args;
  if (args == 0 && n > 1) return fail(err, cap, CLEAVE_EINVAL, "%s takes no arguments", name);
  if (args == 1 && n != 2) return fail(err, cap, CLEAVE_EINVAL, "%s takes one value", name);
  if (args == 2 && (n < 2 || n > 3))
    return fail(err, cap, CLEAVE_EINVAL, "%s takes a value for both ways, or up=VALUE and/or down=VALUE", name);
  for (int i = 1; i < n; i++) {
    int dir = -1;
    const char *v = w[i];
    if (args == 2 && strncmp(v, "up=", 3) == 0) dir = LINK_UP, v += 3;
    if (args == 2 && strncmp(v, "down=", 5) == 0) dir = LINK_DOWN, v += 5;
    if (dir < 0 && (n > 2 || strchr(v, '=')))
      return fail(err, cap, CLEAVE_EINVAL, "%s: '%.64s': expected up=VALUE or down=VALUE", name, w[i]);
    int mask = dir < 0 ? LINK_MASK_BOTH : 1 << dir;
    if (c->mask & mask) return fail(err, cap, CLEAVE_EINVAL, "%s: a way given twice", name);
    if (!*v) return fail(err, cap, CLEAVE_EINVAL, "%s: empty value", name);
    c->mask |= mask;
    for (int d = 0; d < 2; d++)
      if (mask & (1 << d)) c->text[d] = v;
  }
  for (int d = 0; d < 2; d++) {
    const char *v = c->text[d];
    if (!v) continue;
    switch (c->verb->kind) {
    case K_RATE:
      if (strcmp(v, "unlimited") == 0) {
        c->v[d] = INFINITY;
        break;
      }
      if (parse_number(name, v, &c->v[d], err, cap)) return CLEAVE_EINVAL;
      if (c->v[d] < 0 || c->v[d] > LINK_RATE_MAX_MBPS)
        return fail(err, cap, CLEAVE_EINVAL, "rate: %s is out of range (0 to %g Mbit/s, or unlimited)", v,
                    LINK_RATE_MAX_MBPS);
      break;
    case K_DELAY:
    case K_RTT:
      if (parse_number(name, v, &c->v[d], err, cap)) return CLEAVE_EINVAL;
      if (c->verb->kind == K_RTT) c->v[d] /= 2;
      if (c->v[d] < 0 || c->v[d] > LINK_DELAY_MAX_MS)
        return fail(err, cap, CLEAVE_EINVAL, "%s: %s ms is out of range (0 to %g ms one way)", name, v,
                    LINK_DELAY_MAX_MS);
      break;
    case K_LOSS:
      if (parse_number(name, v, &c->v[d], err, cap)) return CLEAVE_EINVAL;
      if (!(c->v[d] >= 0 && c->v[d] < 1))
        return fail(err, cap, CLEAVE_EINVAL, "loss: %s is out of range (a probability, 0 to below 1)", v);
      break;
    case K_TRACE:
      if (strlen(v) >= LINK_TRACE_PATH_MAX)
        return fail(err, cap, CLEAVE_EINVAL, "trace: path longer than %d bytes", LINK_TRACE_PATH_MAX - 1);
      break;
    case K_PRESET:
      for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(v, presets[i].name) == 0) c->preset = &presets[i];
      if (!c->preset) return fail(err, cap, CLEAVE_EINVAL, "unknown preset '%.64s' (wifi, lte, 4g, 3g, offline)", v);
      break;
    default: break;
    }
  }
  return 0;
}

static int apply_preset(link_relay *r, const struct preset *p, char *err, size_t cap) {
  int rc = link_relay_set_rate(r, LINK_MASK_UP, p->up_mbps, err, cap);
  if (!rc) rc = link_relay_set_rate(r, LINK_MASK_DOWN, p->down_mbps, err, cap);
  if (!rc && p->rtt_ms >= 0) rc = link_relay_set_delay(r, LINK_MASK_BOTH, p->rtt_ms / 2, err, cap);
  if (!rc) rc = link_relay_set_loss(r, LINK_MASK_BOTH, 0, err, cap);
  return rc;
}

int link_preset(link_relay *r, const char *name, char *err, size_t cap) {
  char line[128];
  cmd c;
  snprintf(line, sizeof line, "preset %.100s", name);
  if (strchr(name, ' ') || parse_cmd(line, &c, err, cap))
    return fail(err, cap, CLEAVE_EINVAL, "unknown preset '%.64s' (wifi, lte, 4g, 3g, offline)", name);
  return apply_preset(r, c.preset, err, cap);
}

/* The settings in force, after "ok". */
static void describe(link_relay *r, char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "ok");
  for (int d = 0; d < 2 && n < cap; d++) {
    link_dir_settings s;
    link_relay_settings(r, d, &s);
    char rate[LINK_TRACE_PATH_MAX + 16];
    if (s.trace[0])
      snprintf(rate, sizeof rate, "trace=%s", s.trace);
    else if (isinf(s.rate_mbps))
      snprintf(rate, sizeof rate, "rate=unlimited");
    else
      snprintf(rate, sizeof rate, "rate=%g", s.rate_mbps);
    n += (size_t)snprintf(out + n, cap - n, " %s %s delay=%g loss=%g", d == LINK_UP ? "up" : "down", rate, s.delay_ms,
                          s.loss);
  }
}

static size_t json_str(char *out, size_t cap, const char *s) {
  size_t n = 0;
  if (n < cap) out[n++] = '"';
  for (; *s && n + 7 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      n += (size_t)snprintf(out + n, cap - n, "\\%c", ch);
    else if (ch < 0x20)
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
    else
      out[n++] = (char)ch;
  }
  if (n < cap) out[n++] = '"';
  if (n < cap) out[n] = 0;
  return n;
}

static void stats_json(link_relay *r, char *out, size_t cap) {
  link_stats st;
  link_relay_stats(r, &st);
  size_t n = (size_t)snprintf(out, cap,
                              "ok {\"uptime_s\":%.3f,\"cut\":%s,\"stalled\":%s,\"connections\":{\"open\":%llu,"
                              "\"accepted\":%llu,\"refused\":%llu,\"target_failed\":%llu}",
                              st.uptime_s, st.cut ? "true" : "false", st.stalled ? "true" : "false",
                              (unsigned long long)st.open, (unsigned long long)st.accepted,
                              (unsigned long long)st.refused, (unsigned long long)st.failed);
  for (int d = 0; d < 2 && n < cap; d++) {
    const link_dir_settings *s = &st.dir[d].set;
    n += (size_t)snprintf(out + n, cap - n,
                          ",\"%s\":{\"bytes_in\":%llu,\"bytes_out\":%llu,\"packets\":%llu,\"lost\":%llu,"
                          "\"queued\":%zu,\"in_flight\":%zu,\"delay_ms\":%g,\"loss\":%g,\"rate_mbps\":",
                          d == LINK_UP ? "up" : "down", (unsigned long long)st.dir[d].bytes_in,
                          (unsigned long long)st.dir[d].bytes_out, (unsigned long long)st.dir[d].packets,
                          (unsigned long long)st.dir[d].lost, st.dir[d].queued, st.dir[d].in_flight, s->delay_ms,
                          s->loss);
    if (n >= cap) break;
    if (s->trace[0] || isinf(s->rate_mbps))
      n += (size_t)snprintf(out + n, cap - n, "null");
    else
      n += (size_t)snprintf(out + n, cap - n, "%g", s->rate_mbps);
    if (n >= cap) break;
    n += (size_t)snprintf(out + n, cap - n, ",\"trace\":");
    if (n < cap && s->trace[0])
      n += json_str(out + n, cap - n, s->trace);
    else if (n < cap)
      n += (size_t)snprintf(out + n, cap - n, "null");
    if (n < cap) n += (size_t)snprintf(out + n, cap - n, "}");
  }
  if (n < cap) snprintf(out + n, cap - n, "}");
}

/* Loads a trace command's files once, to see that they load. */
static int check_traces(link_relay *r, const cmd *c, char *err, size_t cap) {
  cleave_ctx *ctx = link_relay_ctx(r);
  for (int d = 0; d < 2; d++) {
    if (!c->text[d]) continue;
    cleave_trace *t;
    int rc = cleave_trace_load(ctx, c->text[d], NULL, &t);
    if (rc) return fail(err, cap, rc, "%s", cleave_ctx_last_error(ctx));
    cleave_trace_free(t);
  }
  return 0;
}

static int run_cmd(link_relay *r, cmd *c, char *reply, size_t cap) {
  char err[LINK_REPLY_MAX];
  int rc = 0;
  err[0] = 0;
  switch (c->verb->kind) {
  case K_RATE:
  case K_DELAY:
  case K_RTT:
  case K_LOSS:
  case K_TRACE:
    /* up= and down= files: both must load before either is set */
    if (c->verb->kind == K_TRACE && c->mask == LINK_MASK_BOTH && strcmp(c->text[0], c->text[1]) != 0 &&
        (rc = check_traces(r, c, err, sizeof err)))
      break;
    for (int d = 0; d < 2 && !rc; d++) {
      if (!(c->mask & (1 << d))) continue;
      switch (c->verb->kind) {
      case K_RATE: rc = link_relay_set_rate(r, 1 << d, c->v[d], err, sizeof err); break;
      case K_LOSS: rc = link_relay_set_loss(r, 1 << d, c->v[d], err, sizeof err); break;
      case K_TRACE: rc = link_relay_set_trace(r, 1 << d, c->text[d], err, sizeof err); break;
      default: rc = link_relay_set_delay(r, 1 << d, c->v[d], err, sizeof err); break;
      }
    }
    break;
  case K_PRESET: rc = apply_preset(r, c->preset, err, sizeof err); break;
  case K_CUT: link_relay_cut(r); break;
  case K_STALL: link_relay_stall(r); break;
  case K_RESTORE: link_relay_restore(r); break;
  case K_STATS: stats_json(r, reply, cap); return 0;
  case K_HELP:
    snprintf(reply, cap, "ok commands: rate, delay, rtt, loss, trace, preset, cut, stall, restore, stats, help");
    return 0;
  }
  if (rc) {
    snprintf(reply, cap, "error %s", err);
    return rc;
  }
  describe(r, reply, cap);
  if (c->verb->kind == K_CUT || c->verb->kind == K_STALL || c->verb->kind == K_RESTORE) {
    link_stats st;
    link_relay_stats(r, &st);
    size_t n = strlen(reply);
    snprintf(reply + n, cap - n, " cut=%d stalled=%d", st.cut, st.stalled);
  }
  return 0;
}

int link_command(link_relay *r, const char *line, char *reply, size_t cap) {
  cmd c;
  char err[512];
  int rc = parse_cmd(line, &c, err, sizeof err);
  if (rc) {
    snprintf(reply, cap, "error %s", err);
    return rc;
  }
  return run_cmd(r, &c, reply, cap);
}

int link_command_check(link_relay *r, const char *line, char *err, size_t cap) {
  cmd c;
  int rc = parse_cmd(line, &c, err, cap);
  if (rc || c.verb->kind != K_TRACE) return rc;
  return check_traces(r, &c, err, cap);
}

/* ---- the control port ---- */

typedef struct client client;

typedef struct step {
  double t_s;
  char line[LINK_LINE_MAX + 1];
} step;

struct link_control {
  link_relay *r;
  uv_tcp_t server;
  bool has_server, closing, started;
  client *clients;
  int n_clients, handles;
  uv_timer_t timer;
  step *steps;
  size_t n_steps, cap_steps, next_step;
  uint64_t t0;
  void (*close_cb)(void *);
  void *close_arg;
};

struct client {
  link_control *ctl;
  client *next, *prev;
  uv_tcp_t tcp;
  uv_timer_t idle;
  int handles;
  bool closing, reading, discarding;
  uv_shutdown_t shut;
  size_t len;
  char line[LINK_LINE_MAX + 1];
  char rbuf[4096];
};

typedef struct reply_req {
  uv_write_t req;
  client *cl;
  char text[];
} reply_req;

static void control_maybe_closed(link_control *c) {
  if (!c->closing || c->handles || c->clients) return;
  void (*cb)(void *) = c->close_cb;
  void *arg = c->close_arg;
  free(c->steps);
  free(c);
  if (cb) cb(arg);
}

static void on_client_handle_closed(uv_handle_t *h) {
  client *cl = h->data;
  if (--cl->handles) return;
  link_control *c = cl->ctl;
  if (cl->prev)
    cl->prev->next = cl->next;
  else
    c->clients = cl->next;
  if (cl->next) cl->next->prev = cl->prev;
  c->n_clients--;
  free(cl);
  control_maybe_closed(c);
}

static void client_close(client *cl) {
  if (cl->closing) return;
  cl->closing = true;
  uv_close((uv_handle_t *)&cl->idle, on_client_handle_closed);
  uv_close((uv_handle_t *)&cl->tcp, on_client_handle_closed);
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void client_update_reading(client *cl) {
  bool want = !cl->closing && uv_stream_get_write_queue_size((uv_stream_t *)&cl->tcp) < CLIENT_WRITE_MAX;
  if (want == cl->reading) return;
  cl->reading = want;
  if (want)
    uv_read_start((uv_stream_t *)&cl->tcp, on_client_alloc, on_client_read);
  else
    uv_read_stop((uv_stream_t *)&cl->tcp);
}

static void on_reply_written(uv_write_t *req, int status) {
  client *cl = ((reply_req *)req)->cl;
  free(req);
  if (cl->closing) return;
  if (status) {
    client_close(cl);
    return;
  }
  client_update_reading(cl);
}

static void client_say(client *cl, const char *text) {
  size_t n = strlen(text);
  reply_req *w = malloc(sizeof *w + n + 2);
  if (!w) {
    client_close(cl);
    return;
  }
  w->cl = cl;
  memcpy(w->text, text, n);
  w->text[n] = '\n';
  uv_buf_t b = uv_buf_init(w->text, (unsigned)(n + 1));
  if (uv_write(&w->req, (uv_stream_t *)&cl->tcp, &b, 1, on_reply_written)) {
    free(w);
    client_close(cl);
    return;
  }
  client_update_reading(cl);
}

static void client_line(client *cl) {
  cl->line[cl->len] = 0;
  if (cl->len && cl->line[cl->len - 1] == '\r') cl->line[cl->len - 1] = 0;
  cl->len = 0;
  const char *p = cl->line;
  while (*p == ' ' || *p == '\t')
    p++;
  if (!*p) return;
  char reply[LINK_REPLY_MAX];
  link_command(cl->ctl->r, p, reply, sizeof reply);
  client_say(cl, reply);
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  client *cl = h->data;
  *buf = uv_buf_init(cl->rbuf, sizeof cl->rbuf);
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client *cl = s->data;
  if (nread < 0) {
    client_close(cl);
    return;
  }
  uv_timer_again(&cl->idle);
  for (ssize_t i = 0; i < nread && !cl->closing; i++) {
    char ch = buf->base[i];
    if (ch == '\n') {
      if (cl->discarding)
        cl->discarding = false;
      else
        client_line(cl);
      continue;
    }
    if (cl->discarding) continue;
    if (cl->len == LINK_LINE_MAX) { /* the rest of the line is dropped, the session goes on */
      char reply[96];
      snprintf(reply, sizeof reply, "error line longer than %d bytes", LINK_LINE_MAX);
      client_say(cl, reply);
      cl->discarding = true;
      cl->len = 0;
      continue;
    }
    cl->line[cl->len++] = ch;
  }
}

static void on_client_idle(uv_timer_t *t) { client_close(t->data); }

static void on_client_shut(uv_shutdown_t *req, int status) { client_close(req->data); }

static void on_control_connection(uv_stream_t *srv, int status) {
  link_control *c = srv->data;
  if (status < 0) return;
  client *cl = calloc(1, sizeof *cl);
  if (!cl) return;
  cl->ctl = c;
  uv_tcp_init(srv->loop, &cl->tcp);
  uv_timer_init(srv->loop, &cl->idle);
  cl->tcp.data = cl->idle.data = cl;
  cl->handles = 2;
  cl->next = c->clients;
  if (c->clients) c->clients->prev = cl;
  c->clients = cl;
  c->n_clients++;
  if (uv_accept(srv, (uv_stream_t *)&cl->tcp)) {
    client_close(cl);
    return;
  }
  if (c->n_clients > MAX_CLIENTS) {
    char reply[80];
    snprintf(reply, sizeof reply, "error more than %d control connections", MAX_CLIENTS);
    client_say(cl, reply);
    cl->shut.data = cl;
    if (!cl->closing && uv_shutdown(&cl->shut, (uv_stream_t *)&cl->tcp, on_client_shut)) client_close(cl);
    return;
  }
  uv_timer_start(&cl->idle, on_client_idle, CLIENT_IDLE_MS, CLIENT_IDLE_MS);
  cl->reading = true;
  uv_read_start((uv_stream_t *)&cl->tcp, on_client_alloc, on_client_read);
}

static void on_control_handle_closed(uv_handle_t *h) {
  link_control *c = h->data;
  c->handles--;
  control_maybe_closed(c);
}

static bool is_loopback(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET) return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
  if (a->ss_family == AF_INET6) {
    static const unsigned char one[16] = {[15] = 1};
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, one, 16) == 0;
  }
  return false;
}

int link_control_new(link_relay *r, const struct sockaddr_storage *addr, link_control **out, char *err, size_t cap) {
  *out = NULL;
  if (addr && !is_loopback(addr))
    return fail(err, cap, CLEAVE_EINVAL, "the control port must be on a loopback address (127.x.x.x or [::1])");
  link_control *c = calloc(1, sizeof *c);
  if (!c) return fail(err, cap, CLEAVE_ENOMEM, "control: out of memory");
  c->r = r;
  uv_loop_t *loop = link_relay_loop(r);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->handles = 1;
  if (addr) {
    uv_tcp_init(loop, &c->server);
    c->server.data = c;
    c->has_server = true;
    c->handles++;
    char name[80];
    link_format_addr((const struct sockaddr *)addr, name, sizeof name);
    int rc = uv_tcp_bind(&c->server, (const struct sockaddr *)addr, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&c->server, 16, on_control_connection);
    if (rc) {
      link_control_close(c, NULL, NULL);
      return fail(err, cap, CLEAVE_EIO, "control on %s: %s", name, uv_strerror(rc));
    }
  }
  *out = c;
  return 0;
}

void link_control_addr(const link_control *c, struct sockaddr_storage *out) {
  int len = sizeof *out;
  memset(out, 0, sizeof *out);
  if (c->has_server) uv_tcp_getsockname(&c->server, (struct sockaddr *)out, &len);
}

void link_control_close(link_control *c, void (*cb)(void *arg), void *arg) {
  if (c->closing) return;
  c->closing = true;
  c->close_cb = cb;
  c->close_arg = arg;
  for (client *cl = c->clients; cl; cl = cl->next)
    client_close(cl);
  uv_close((uv_handle_t *)&c->timer, on_control_handle_closed);
  if (c->has_server) uv_close((uv_handle_t *)&c->server, on_control_handle_closed);
}

/* ---- schedules ---- */

int link_control_add_step(link_control *c, const char *spec, const char *where, char *err, size_t cap) {
  const char *p = spec;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncmp(p, "at ", 3) == 0) p += 3;
  char *end;
  errno = 0;
  double t = strtod(p, &end);
  if (end == p || errno || !(t >= 0 && t <= 1e7))
    return fail(err, cap, CLEAVE_EINVAL, "%s: '%.64s': expected 'SECONDS COMMAND' (seconds 0 to 10^7)", where, spec);
  if (*end == 's') end++;
  if (*end == ':') end++;
  if (*end != ' ' && *end != '\t')
    return fail(err, cap, CLEAVE_EINVAL, "%s: '%.64s': expected 'SECONDS COMMAND'", where, spec);
  while (*end == ' ' || *end == '\t')
    end++;
  char msg[LINK_REPLY_MAX];
  if (link_command_check(c->r, end, msg, sizeof msg)) return fail(err, cap, CLEAVE_EINVAL, "%s: %s", where, msg);
  if (c->n_steps == MAX_STEPS) return fail(err, cap, CLEAVE_ELIMIT, "%s: more than %d steps", where, MAX_STEPS);
  if (c->n_steps == c->cap_steps) {
    size_t nc = c->cap_steps ? c->cap_steps * 2 : 16;
    step *s = realloc(c->steps, nc * sizeof *s);
    if (!s) return fail(err, cap, CLEAVE_ENOMEM, "%s: out of memory", where);
    c->steps = s;
    c->cap_steps = nc;
  }
  /* in time order; steps at the same time in the order given */
  size_t i = c->n_steps++;
  while (i > 0 && c->steps[i - 1].t_s > t) {
    c->steps[i] = c->steps[i - 1];
    i--;
  }
  c->steps[i].t_s = t;
  snprintf(c->steps[i].line, sizeof c->steps[i].line, "%s", end);
  return 0;
}

int link_control_load_schedule(link_control *c, const char *path, char *err, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return fail(err, cap, CLEAVE_EIO, "schedule %s: %s", path, strerror(errno));
  char line[LINK_LINE_MAX + 64], where[LINK_TRACE_PATH_MAX + 32];
  int n = 0, rc = 0;
  while (!rc && fgets(line, sizeof line, f)) {
    n++;
    size_t len = strlen(line);
    snprintf(where, sizeof where, "%s:%d", path, n);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      rc = fail(err, cap, CLEAVE_EINVAL, "%s: line too long", where);
      break;
    }
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
      line[--len] = 0;
    const char *p = line;
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p || *p == '#') continue;
    rc = link_control_add_step(c, p, where, err, cap);
  }
  if (!rc && ferror(f)) rc = fail(err, cap, CLEAVE_EIO, "schedule %s: read error", path);
  fclose(f);
  return rc;
}

static void on_step(uv_timer_t *t) {
  link_control *c = t->data;
  uint64_t now = uv_hrtime();
  while (c->next_step < c->n_steps) {
    step *s = &c->steps[c->next_step];
    uint64_t at = c->t0 + (uint64_t)(s->t_s * 1e9);
    if (at > now) {
      uv_update_time(t->loop);
      uv_timer_start(t, on_step, (at - now + 999999) / 1000000, 0);
      return;
    }
    c->next_step++;
    char reply[LINK_REPLY_MAX];
    link_command(c->r, s->line, reply, sizeof reply);
    link_relay_log(c->r, 0, "at %g s: %s: %s", s->t_s, s->line, reply);
  }
}

void link_control_start(link_control *c) {
  if (c->started || c->closing) return;
  c->started = true;
  c->t0 = uv_hrtime();
  on_step(&c->timer);
}
