/* cleave-link: a userspace link emulator, a TCP relay that shapes each way like a network link (the model is in
 * link_relay.h, the control language in link_control.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cleave.h"
#include "link_control.h"
#include "link_relay.h"

#define MAX_SETTINGS 64

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: cleave-link --listen HOST:PORT --target HOST:PORT [options]\n"
      "\n"
      "Relays TCP connections from --listen to --target and shapes each way like a network link: a rate or a\n"
      "trace, a one-way delay and packet loss, changed on cue from a control port or a schedule. Up is client to\n"
      "target, down is target to client. Addresses are numeric (no names are resolved).\n"
      "\n"
      "The model: the stream leaves a bounded queue in packets of up to 1500 bytes, one per delivery opportunity\n"
      "(a constant rate: every 1500*8/rate s; a Mahimahi trace: each line of the file, looping), and arrives a\n"
      "one-way delay later, in order. A lost packet is delivered late, as TCP recovers it: one RTT when three\n"
      "packets follow it, else max(200 ms, 2*RTT), and nothing behind it overtakes it. Connections cost one RTT to\n"
      "set up and share the link round-robin.\n"
      "\n"
      "options:\n"
      "  --listen HOST:PORT       where clients connect (port 0: any free port)\n"
      "  --target HOST:PORT       where the relay connects for each client\n"
      "  --control HOST:PORT      a line-protocol control port, on a loopback address\n"
      "  --preset NAME            wifi (18.88 up, 50 down, 20 ms RTT), lte or 4g (5.85, 13, 50 ms),\n"
      "                           3g (1.1, 2, 120 ms), offline (0 both ways); applied before the flags below\n"
      "  --rate MBPS              both ways, Mbit/s (10^6 bit/s); 0 offline, 'unlimited' (the default)\n"
      "  --up-rate MBPS, --down-rate MBPS\n"
      "  --trace FILE             both ways: Mahimahi (.up/.down), CSV (.csv: t_s,up,down,rtt) or Pensieve\n"
      "  --up-trace FILE, --down-trace FILE\n"
      "  --delay-ms MS            one-way delay, both ways; --rtt-ms MS sets both to MS/2\n"
      "  --up-delay-ms MS, --down-delay-ms MS\n"
      "  --loss P                 packet loss probability, both ways (0 <= P < 1)\n"
      "  --up-loss P, --down-loss P\n"
      "  --seed N                 of the loss draws (default 1: runs repeat)\n"
      "  --queue-bytes N          bytes waiting for the link, per way, before the source is read no more\n"
      "                           (default 131072)\n"
      "  --socket-buffer N        SO_RCVBUF/SO_SNDBUF of the relay's sockets (default 16384)\n"
      "  --max-connections N      relayed at once, more are reset (default 256)\n"
      "  --connect-timeout-ms MS  to the target (default 5000)\n"
      "  --schedule FILE          timed commands, 'SECONDS COMMAND' a line ('#' comments)\n"
      "  --at 'SECONDS COMMAND'   one timed command (repeatable)\n"
      "  -v, --verbose            a line on stderr for each connection\n"
      "  -h, --help               this text\n"
      "\n"
      "control commands (one line each, answered 'ok ...' or 'error <why>'):\n"
      "  rate X | rate up=X down=Y    delay MS | delay up=MS down=MS    rtt MS    loss P | loss up=P down=P\n"
      "  trace FILE | trace up=FILE down=FILE    preset NAME    stats (JSON)    help\n"
      "  cut       reset every connection (RST), and every new one until restore\n"
      "  stall     forward nothing either way, connections kept open, until restore\n"
      "  restore\n"
      "\n"
      "Its first line on stdout is 'listening HOST:PORT' (then 'control HOST:PORT' with --control), the bound\n"
      "ports. SIGINT or SIGTERM closes everything and exits 0.\n"
      "\n"
      "examples:\n"
      "  cleave-link --listen 127.0.0.1:9443 --target 127.0.0.1:8443 --preset lte\n"
      "  cleave-link --listen 127.0.0.1:0 --target 127.0.0.1:8443 --control 127.0.0.1:0 --up-rate 8 --rtt-ms 40\n"
      "  cleave-link --listen 127.0.0.1:9443 --target 127.0.0.1:8443 --up-trace train.up --down-trace train.down\n"
      "  cleave-link --listen 127.0.0.1:9443 --target 127.0.0.1:8443 --preset wifi \\\n"
      "      --at '10 preset lte' --at '20 preset 3g' --at '30 stall' --at '35 restore' --at '40 preset wifi'\n"
      "  echo 'rate up=1.1 down=2' | nc -q1 127.0.0.1 CONTROL_PORT\n"
      "\n"
      "exit codes: 0 after a clean shutdown, 1 the relay could not start, 2 bad arguments\n");
}

/* A setting from the command line, applied once the relay exists. */
typedef struct setting {
  int opt, mask;
  const char *arg;
} setting;

typedef struct app {
  link_relay *relay;
  link_control *control;
  uv_signal_t sig_int, sig_term;
  bool stopping;
  bool verbose;
} app;

static void log_stderr(void *user, int verbose, const char *msg) {
  const app *a = user;
  if (verbose && !a->verbose) return;
  fprintf(stderr, "cleave-link: %s\n", msg);
}

static int bad(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "cleave-link: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n");
  return 2;
}

static int parse_double(const char *flag, const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v)) return bad("%s: '%s' is not a number", flag, s);
  *out = v;
  return 0;
}

static int parse_long(const char *flag, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "cleave-link: %s: '%s' is not a whole number from %ld to %ld\n", flag, s, lo, hi);
    return 2;
  }
  *out = v;
  return 0;
}

static void on_closed(void *arg) {
  app *a = arg;
  if (a->relay || a->control) return;
  uv_close((uv_handle_t *)&a->sig_int, NULL);
  uv_close((uv_handle_t *)&a->sig_term, NULL);
}

static void on_relay_closed(void *arg) {
  ((app *)arg)->relay = NULL;
  on_closed(arg);
}

static void on_control_closed(void *arg) {
  ((app *)arg)->control = NULL;
  on_closed(arg);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  if (a->stopping) return;
  a->stopping = true;
  fprintf(stderr, "cleave-link: %s, closing\n", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  link_control_close(a->control, on_control_closed, a);
  link_relay_close(a->relay, on_relay_closed, a);
}

/* Applies one setting; 0, or 2 with the message printed. */
static int apply(link_relay *r, const setting *s) {
  char err[LINK_REPLY_MAX];
  const char *flag = NULL;
  double v = 0;
  int rc = 0;
  switch (s->opt) {
  case 'p': rc = link_preset(r, s->arg, err, sizeof err); break;
  case 'r':
    flag = s->mask == LINK_MASK_BOTH ? "--rate" : s->mask == LINK_MASK_UP ? "--up-rate" : "--down-rate";
    if (strcmp(s->arg, "unlimited") == 0)
      v = INFINITY;
    else if (parse_double(flag, s->arg, &v))
      return 2;
    rc = link_relay_set_rate(r, s->mask, v, err, sizeof err);
    break;
  case 't': rc = link_relay_set_trace(r, s->mask, s->arg, err, sizeof err); break;
  case 'd':
  case 'R':
    if (parse_double(s->opt == 'R' ? "--rtt-ms" : "--delay-ms", s->arg, &v)) return 2;
    rc = link_relay_set_delay(r, s->mask, s->opt == 'R' ? v / 2 : v, err, sizeof err);
    break;
  case 'L':
    if (parse_double("--loss", s->arg, &v)) return 2;
    rc = link_relay_set_loss(r, s->mask, v, err, sizeof err);
    break;
  default: break;
  }
  if (rc) {
    fprintf(stderr, "cleave-link: %s\n", err);
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  enum {
    O_LISTEN = 256,
    O_TARGET,
    O_CONTROL,
    O_UP_RATE,
    O_DOWN_RATE,
    O_UP_TRACE,
    O_DOWN_TRACE,
    O_UP_DELAY,
    O_DOWN_DELAY,
    O_UP_LOSS,
    O_DOWN_LOSS,
    O_SEED,
    O_QUEUE,
    O_SOCKBUF,
    O_MAXCONN,
    O_CONNTO,
    O_SCHEDULE,
    O_AT
  };
  static const struct option opts[] = {{"listen", required_argument, NULL, O_LISTEN},
                                       {"target", required_argument, NULL, O_TARGET},
                                       {"control", required_argument, NULL, O_CONTROL},
                                       {"preset", required_argument, NULL, 'p'},
                                       {"rate", required_argument, NULL, 'r'},
                                       {"up-rate", required_argument, NULL, O_UP_RATE},
                                       {"down-rate", required_argument, NULL, O_DOWN_RATE},
                                       {"trace", required_argument, NULL, 't'},
                                       {"up-trace", required_argument, NULL, O_UP_TRACE},
                                       {"down-trace", required_argument, NULL, O_DOWN_TRACE},
                                       {"delay-ms", required_argument, NULL, 'd'},
                                       {"up-delay-ms", required_argument, NULL, O_UP_DELAY},
                                       {"down-delay-ms", required_argument, NULL, O_DOWN_DELAY},
                                       {"rtt-ms", required_argument, NULL, 'R'},
                                       {"loss", required_argument, NULL, 'L'},
                                       {"up-loss", required_argument, NULL, O_UP_LOSS},
                                       {"down-loss", required_argument, NULL, O_DOWN_LOSS},
                                       {"seed", required_argument, NULL, O_SEED},
                                       {"queue-bytes", required_argument, NULL, O_QUEUE},
                                       {"socket-buffer", required_argument, NULL, O_SOCKBUF},
                                       {"max-connections", required_argument, NULL, O_MAXCONN},
                                       {"connect-timeout-ms", required_argument, NULL, O_CONNTO},
                                       {"schedule", required_argument, NULL, O_SCHEDULE},
                                       {"at", required_argument, NULL, O_AT},
                                       {"verbose", no_argument, NULL, 'v'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  link_config cfg;
  link_config_defaults(&cfg);
  app a = {0};
  setting set[MAX_SETTINGS];
  const char *steps[MAX_SETTINGS], *schedule = NULL, *preset = NULL;
  int n_set = 0, n_steps = 0, o;
  bool have_listen = false, have_target = false, have_control = false;
  struct sockaddr_storage control_addr;
  char err[LINK_REPLY_MAX];
  long l;
  while ((o = getopt_long(argc, argv, "p:r:t:d:R:L:vh", opts, NULL)) != -1) {
    int mask = LINK_MASK_BOTH, opt = o;
    switch (o) {
    case 'h': usage(stdout); return 0;
    case 'v': a.verbose = true; continue;
    case O_LISTEN:
    case O_TARGET:
    case O_CONTROL: {
      struct sockaddr_storage *dst = o == O_LISTEN ? &cfg.listen : o == O_TARGET ? &cfg.target : &control_addr;
      if (link_parse_addr(optarg, dst, err, sizeof err))
        return bad("%s: %s", o == O_LISTEN ? "--listen" : o == O_TARGET ? "--target" : "--control", err);
      *(o == O_LISTEN ? &have_listen : o == O_TARGET ? &have_target : &have_control) = true;
      continue;
    }
    case O_SEED:
      if (parse_long("--seed", optarg, 0, LONG_MAX, &l)) return 2;
      cfg.seed = (uint64_t)l;
      continue;
    case O_QUEUE:
      if (parse_long("--queue-bytes", optarg, 4096, 64L << 20, &l)) return 2;
      cfg.queue_bytes = (size_t)l;
      continue;
    case O_SOCKBUF:
      if (parse_long("--socket-buffer", optarg, 1024, 4L << 20, &l)) return 2;
      cfg.socket_buffer = (int)l;
      continue;
    case O_MAXCONN:
      if (parse_long("--max-connections", optarg, 1, 65536, &l)) return 2;
      cfg.max_connections = (int)l;
      continue;
    case O_CONNTO:
      if (parse_long("--connect-timeout-ms", optarg, 1, 600000, &l)) return 2;
      cfg.connect_timeout_ms = (int)l;
      continue;
    case O_SCHEDULE: schedule = optarg; continue;
    case O_AT:
      if (n_steps == MAX_SETTINGS) return bad("%s: more than %s", "--at", "64");
      steps[n_steps++] = optarg;
      continue;
    case 'p': preset = optarg; continue;
    case O_UP_RATE: opt = 'r', mask = LINK_MASK_UP; break;
    case O_DOWN_RATE: opt = 'r', mask = LINK_MASK_DOWN; break;
    case O_UP_TRACE: opt = 't', mask = LINK_MASK_UP; break;
    case O_DOWN_TRACE: opt = 't', mask = LINK_MASK_DOWN; break;
    case O_UP_DELAY: opt = 'd', mask = LINK_MASK_UP; break;
    case O_DOWN_DELAY: opt = 'd', mask = LINK_MASK_DOWN; break;
    case O_UP_LOSS: opt = 'L', mask = LINK_MASK_UP; break;
    case O_DOWN_LOSS: opt = 'L', mask = LINK_MASK_DOWN; break;
    case 'r':
    case 't':
    case 'd':
    case 'R':
    case 'L': break;
    default: usage(stderr); return 2;
    }
    if (n_set == MAX_SETTINGS) return bad("%s%s", "more than 64 link settings", "");
    set[n_set++] = (setting){.opt = opt, .mask = mask, .arg = optarg};
  }
  if (optind != argc) return bad("unexpected argument '%s'%s", argv[optind], "");
  if (!have_listen || !have_target) {
    fprintf(stderr, "cleave-link: --listen and --target are required\n");
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  cleave_ctx *ctx = NULL;
  int rc = cleave_ctx_new(&ctx, loop, NULL), status = 0;
  if (rc) {
    fprintf(stderr, "cleave-link: %s\n", cleave_strerror(rc));
    return 1;
  }
  cfg.log = log_stderr;
  cfg.log_user = &a;
  if (link_relay_new(ctx, loop, &cfg, &a.relay, err, sizeof err)) {
    fprintf(stderr, "cleave-link: %s\n", err);
    status = 1;
    goto out;
  }
  if ((rc = link_control_new(a.relay, have_control ? &control_addr : NULL, &a.control, err, sizeof err))) {
    fprintf(stderr, "cleave-link: --control: %s\n", err);
    status = rc == CLEAVE_EINVAL ? 2 : 1; /* not a loopback address, or the port could not be bound */
    goto out;
  }
  if (preset && apply(a.relay, &(setting){.opt = 'p', .arg = preset})) status = 2;
  for (int i = 0; i < n_set && !status; i++)
    status = apply(a.relay, &set[i]);
  if (!status && schedule && link_control_load_schedule(a.control, schedule, err, sizeof err)) {
    fprintf(stderr, "cleave-link: --schedule %s\n", err);
    status = 2;
  }
  for (int i = 0; i < n_steps && !status; i++)
    if (link_control_add_step(a.control, steps[i], "--at", err, sizeof err)) {
      fprintf(stderr, "cleave-link: %s\n", err);
      status = 2;
    }
  if (status) goto out;
  struct sockaddr_storage bound;
  char name[80];
  link_relay_listen_addr(a.relay, &bound);
  link_format_addr((const struct sockaddr *)&bound, name, sizeof name);
  printf("listening %s", name);
  if (have_control) {
    link_control_addr(a.control, &bound);
    link_format_addr((const struct sockaddr *)&bound, name, sizeof name);
    printf(" control %s", name);
  }
  printf("\n");
  fflush(stdout);
  uv_signal_init(loop, &a.sig_int);
  uv_signal_init(loop, &a.sig_term);
  a.sig_int.data = a.sig_term.data = &a;
  uv_signal_start(&a.sig_int, on_signal, SIGINT);
  uv_signal_start(&a.sig_term, on_signal, SIGTERM);
  link_control_start(a.control);
  uv_run(loop, UV_RUN_DEFAULT);
out:
  if (status) { /* a relay or control port half made: close what is open */
    if (a.control) link_control_close(a.control, NULL, NULL);
    if (a.relay) link_relay_close(a.relay, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(loop)) {
    fprintf(stderr, "cleave-link: handles left open at exit\n");
    if (!status) status = 1;
  }
  cleave_ctx_free(ctx);
  return status;
}
