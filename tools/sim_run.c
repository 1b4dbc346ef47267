/* cleave-sim run: argument parsing and output files around cl_sim_run(). */
#include "sim_run.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleave.h"
#include "core/ir/model.h"
#include "partitioner/plan_json.h"
#include "policies/sim.h"

#define MAX_SHAPES 8

static void usage(FILE *f) {
  fprintf(
      f, "usage: cleave-sim run MODEL.onnx --device-profile FILE --edge-profile FILE [options]\n"
         "\n"
         "Simulates requests of MODEL over time on a device and an edge linked by a bandwidth trace, under five\n"
         "policies: auto (the policy engine and the partitioner on what the device sees), all-local, all-edge,\n"
         "the best static split, and an oracle (per request, the best plan knowing the real link). Prints a\n"
         "summary table: p50/p95 latency, deadline misses, device energy, battery used, bytes sent, and the mean\n"
         "objective w_lat*latency_ms + w_energy*energy_mJ + w_cost*cost that every policy is scored on.\n"
         "\n"
         "link (one of):\n"
         "  --trace FILE             CSV (t_s,up_mbps,down_mbps,rtt_ms[,radio]), Pensieve ('seconds Mbps'), or\n"
         "                           Mahimahi .up (with --trace-down FILE.down); by extension unless --trace-format\n"
         "  --trace-format F         auto, csv, pensieve, mahimahi\n"
         "  --trace-down FILE        Mahimahi downlink trace\n"
         "  --bin-ms X               Mahimahi bins (default 1000)\n"
         "  --up-ratio X             Pensieve: uplink = downlink * X (default 1)\n"
         "  --loop                   replay the trace from the start when it ends\n"
         "  --uplink-mbps X, --downlink-mbps X   a constant link instead of a trace\n"
         "  --rtt-ms X               round-trip time where the trace has none (default 50)\n"
         "  --radio NAME             wifi, lte, 3g, 5g or none, where the trace does not say (default lte)\n"
         "requests:\n"
         "  --rate X                 Poisson arrivals per second (default 1)\n"
         "  --arrivals FILE          request times in seconds, one per line, instead\n"
         "  --seed N                 of the Poisson arrivals (default 1)\n"
         "  --duration S             seconds to simulate (default: the trace's length)\n"
         "  --deadline-ms X          count requests slower than this (default 0: none)\n"
         "  --timeout-ms X           a transfer slower than this falls back to the device (default 2000)\n"
         "  --shape NAME=AxBxC       static shape for an input whose dims the model leaves open\n"
         "device and policy:\n"
         "  --battery-wh X           battery capacity (default 15)\n"
         "  --battery-start X        charge at the start, 0..1 (default 1)\n"
         "  --mode MODE              auto, prefer-local, only-local, prefer-edge, only-edge (auto's mode)\n"
         "  --power PREF             default, high-performance, low-power (auto's power preference)\n"
         "  --w-lat X, --w-energy X, --w-cost X   the objective (default 1, 0.05, 20: the engine's)\n"
         "  --pin-inputs             the model's inputs never leave the device under auto\n"
         "output:\n"
         "  --json FILE              everything as JSON ('-': standard output)\n"
         "  --html FILE              a self-contained HTML report with SVG plots\n"
         "  --no-progress            no progress bar (it is drawn on a terminal only)\n"
         "  -h, --help               this text\n"
         "\n"
         "example:\n"
         "  cleave-sim run det.onnx --shape x=1x3x640x640 --device-profile partitioner/profiles/pixel7-cpu.json \\\n"
         "      --edge-profile partitioner/profiles/edge-a10.json --trace policies/traces/commute.csv \\\n"
         "      --rate 0.5 --deadline-ms 500 --html report.html\n"
         "\n"
         "exit codes: 0 success, 1 a file failed to load or the run failed, 2 bad arguments, 3 no feasible plan\n");
}

static int bad(const char *fmt, const char *arg) {
  fprintf(stderr, "cleave-sim run: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see cleave-sim run --help)\n");
  return 2;
}

static int number(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_shape(const char *s, int *ndim, int64_t *dims) {
  *ndim = 0;
  while (*s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || *ndim == CLEAVE_MAX_DIMS) return -1;
    dims[(*ndim)++] = v;
    s = end;
    if (*s == 'x')
      s++;
    else if (*s)
      return -1;
  }
  return *ndim ? 0 : -1;
}

static void progress(void *user, double done) {
  int *last = user, pct = (int)(done * 100);
  if (pct == *last) return;
  *last = pct;
  int bar = pct * 40 / 100;
  fprintf(stderr, "\r[%-40.*s] %3d%%", bar, "########################################", pct);
  if (pct >= 100) fputc('\n', stderr);
  fflush(stderr);
}

static int read_arrivals(const char *path, double **out, int *n) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cleave-sim run: %s: %s\n", path, strerror(errno));
    return 1;
  }
  char line[128];
  int cap = 0, line_no = 0;
  *n = 0;
  *out = NULL;
  while (fgets(line, sizeof line, f)) {
    line_no++;
    char *s = line;
    while (*s == ' ' || *s == '\t')
      s++;
    if (*s == '#' || *s == '\n' || !*s) continue;
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
      end++;
    if (end == s || *end || !isfinite(v) || v < 0 || (*n > 0 && v < (*out)[*n - 1])) {
      fprintf(stderr, "cleave-sim run: %s:%d: expected a time in seconds, not before the previous one\n", path,
              line_no);
      fclose(f);
      free(*out);
      *out = NULL;
      return 2;
    }
    if (*n == cap) {
      cap = cap ? 2 * cap : 256;
      double *na = realloc(*out, (size_t)cap * sizeof *na);
      if (!na) {
        fclose(f);
        free(*out);
        *out = NULL;
        return 1;
      }
      *out = na;
    }
    (*out)[(*n)++] = v;
  }
  fclose(f);
  return 0;
}

int cl_sim_run_main(int argc, char **argv) {
  enum {
    O_DEV = 256,
    O_EDGE,
    O_TRACE,
    O_TFMT,
    O_TDOWN,
    O_BIN,
    O_RATIO,
    O_LOOP,
    O_UP,
    O_DOWN,
    O_RTT,
    O_RADIO,
    O_RATE,
    O_ARR,
    O_SEED,
    O_DUR,
    O_DEADLINE,
    O_TIMEOUT,
    O_SHAPE,
    O_BWH,
    O_BSTART,
    O_MODE,
    O_POWER,
    O_WLAT,
    O_WEN,
    O_WCOST,
    O_PIN,
    O_JSON,
    O_HTML,
    O_NOPROG
  };
  static const struct option longopts[] = {{"device-profile", 1, 0, O_DEV},
                                           {"edge-profile", 1, 0, O_EDGE},
                                           {"trace", 1, 0, O_TRACE},
                                           {"trace-format", 1, 0, O_TFMT},
                                           {"trace-down", 1, 0, O_TDOWN},
                                           {"bin-ms", 1, 0, O_BIN},
                                           {"up-ratio", 1, 0, O_RATIO},
                                           {"loop", 0, 0, O_LOOP},
                                           {"uplink-mbps", 1, 0, O_UP},
                                           {"downlink-mbps", 1, 0, O_DOWN},
                                           {"rtt-ms", 1, 0, O_RTT},
                                           {"radio", 1, 0, O_RADIO},
                                           {"rate", 1, 0, O_RATE},
                                           {"arrivals", 1, 0, O_ARR},
                                           {"seed", 1, 0, O_SEED},
                                           {"duration", 1, 0, O_DUR},
                                           {"deadline-ms", 1, 0, O_DEADLINE},
                                           {"timeout-ms", 1, 0, O_TIMEOUT},
                                           {"shape", 1, 0, O_SHAPE},
                                           {"battery-wh", 1, 0, O_BWH},
                                           {"battery-start", 1, 0, O_BSTART},
                                           {"mode", 1, 0, O_MODE},
                                           {"power", 1, 0, O_POWER},
                                           {"w-lat", 1, 0, O_WLAT},
                                           {"w-energy", 1, 0, O_WEN},
                                           {"w-cost", 1, 0, O_WCOST},
                                           {"pin-inputs", 0, 0, O_PIN},
                                           {"json", 1, 0, O_JSON},
                                           {"html", 1, 0, O_HTML},
                                           {"no-progress", 0, 0, O_NOPROG},
                                           {"help", 0, 0, 'h'},
                                           {0, 0, 0, 0}};
  const char *dev_file = NULL, *edge_file = NULL, *trace_file = NULL, *arr_file = NULL, *json_file = NULL,
             *html_file = NULL, *shapes[MAX_SHAPES];
  int n_shapes = 0, show_progress = isatty(2);
  double up = -1, down = -1, seed = 1;
  bool weights_given = false;
  cl_trace_options topt = {0};
  cl_sim_config cfg = {.radio = CL_RADIO_LTE, .rate_per_s = 1};
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    double *target = NULL, lo = 0, hi = INFINITY;
    switch (c) {
    case 'h': usage(stdout); return 0;
    case O_DEV: dev_file = optarg; break;
    case O_EDGE: edge_file = optarg; break;
    case O_TRACE: trace_file = optarg; break;
    case O_TDOWN: topt.down_path = optarg; break;
    case O_TFMT:
      if (strcmp(optarg, "auto") == 0)
        topt.format = CL_TRACE_AUTO;
      else if (strcmp(optarg, "csv") == 0)
        topt.format = CL_TRACE_CSV;
      else if (strcmp(optarg, "pensieve") == 0)
        topt.format = CL_TRACE_PENSIEVE;
      else if (strcmp(optarg, "mahimahi") == 0)
        topt.format = CL_TRACE_MAHIMAHI;
      else
        return bad("unknown trace format '%s' (auto, csv, pensieve, mahimahi)", optarg);
      break;
    case O_BIN: target = &topt.bin_ms, lo = 1; break;
    case O_RATIO: target = &topt.up_ratio, lo = 1e-6; break;
    case O_LOOP: topt.loop = true; break;
    case O_UP: target = &up; break;
    case O_DOWN: target = &down; break;
    case O_RTT: target = &topt.rtt_ms; break;
    case O_RADIO:
      if (cl_radio_kind_from_name(optarg) < 0) return bad("unknown radio '%s' (wifi, lte, 3g, 5g, none)", optarg);
      cfg.radio = (cl_radio_kind)cl_radio_kind_from_name(optarg);
      break;
    case O_RATE: target = &cfg.rate_per_s, lo = 1e-6; break;
    case O_ARR: arr_file = optarg; break;
    case O_SEED: target = &seed, hi = 1e18; break;
    case O_DUR: target = &cfg.duration_s, lo = 1e-3; break;
    case O_DEADLINE: target = &cfg.deadline_ms; break;
    case O_TIMEOUT: target = &cfg.timeout_ms, lo = 1; break;
    case O_SHAPE:
      if (n_shapes == MAX_SHAPES) return bad("%s", "too many --shape options");
      shapes[n_shapes++] = optarg;
      break;
    case O_BWH: target = &cfg.battery_wh, lo = 1e-3; break;
    case O_BSTART: target = &cfg.battery_start, lo = 1e-3, hi = 1; break;
    case O_MODE:
      if (cl_mode_parse(optarg) < 0) return bad("unknown mode '%s'", optarg);
      cfg.mode = (cleave_mode)cl_mode_parse(optarg);
      break;
    case O_POWER:
      if (cl_power_parse(optarg) < 0) return bad("unknown power preference '%s'", optarg);
      cfg.power = (cleave_power_preference)cl_power_parse(optarg);
      break;
    case O_WLAT: target = &cfg.w_lat, weights_given = true; break;
    case O_WEN: target = &cfg.w_energy, weights_given = true; break;
    case O_WCOST: target = &cfg.w_cost, weights_given = true; break;
    case O_PIN: cfg.pin_inputs = true; break;
    case O_JSON: json_file = optarg; break;
    case O_HTML: html_file = optarg; break;
    case O_NOPROG: show_progress = 0; break;
    default: return bad("%s", "unknown option");
    }
    if (target && number(optarg, lo, hi, target)) return bad("'%s' is not a number in range", optarg);
  }
  if (optind + 1 != argc) return bad("%s", "run needs exactly one MODEL.onnx");
  if (!dev_file || !edge_file) return bad("%s", "run needs --device-profile and --edge-profile");
  if (!trace_file && (up < 0 || down < 0))
    return bad("%s", "run needs a --trace, or --uplink-mbps and --downlink-mbps");
  if (trace_file && (up >= 0 || down >= 0))
    return bad("%s", "--trace and --uplink-mbps/--downlink-mbps exclude each other");
  if (!trace_file && cfg.duration_s == 0) return bad("%s", "a constant link needs --duration");
  if (weights_given && cfg.w_lat + cfg.w_energy + cfg.w_cost == 0) return bad("%s", "the weights are all 0");
  cfg.seed = (uint64_t)seed;

  cleave_ctx *ctx = NULL;
  cleave_model *m = NULL;
  cl_profile dev, edge;
  cl_link_trace link = {0};
  cl_sim_result res = {0};
  double *arrivals = NULL;
  int ret = 1, rc, last_pct = -1;
  if (cleave_ctx_new(&ctx, NULL, NULL)) {
    fprintf(stderr, "cleave-sim run: out of memory\n");
    return 1;
  }
  if ((rc = cl_profile_load(ctx, dev_file, &dev)) || (rc = cl_profile_load(ctx, edge_file, &edge))) goto fail;
  if (dev.kind == CL_DEV_EDGE || edge.kind != CL_DEV_EDGE) {
    fprintf(stderr, "cleave-sim run: %s\n",
            dev.kind == CL_DEV_EDGE ? "--device-profile describes an edge" : "--edge-profile is not of kind edge");
    ret = 2;
    goto out;
  }
  if (trace_file)
    rc = cl_trace_load(ctx, trace_file, &topt, &link);
  else
    rc = cl_trace_constant(ctx, up, down, topt.rtt_ms > 0 ? topt.rtt_ms : 50, &link);
  if (rc) goto fail;
  if (arr_file) {
    if ((ret = read_arrivals(arr_file, &arrivals, &cfg.n_arrivals))) goto out;
    ret = 1;
    cfg.arrivals = arrivals;
  }
  if ((rc = cleave_model_load(ctx, argv[optind], &m))) goto fail;
  for (int i = 0; i < n_shapes; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", shapes[i]);
    char *eq = strchr(buf, '=');
    int ndim;
    int64_t dims[CLEAVE_MAX_DIMS];
    if (!eq || eq == buf || parse_shape(eq + 1, &ndim, dims)) {
      ret = bad("bad --shape '%s' (NAME=AxBxC)", shapes[i]);
      goto out;
    }
    *eq = 0;
    if ((rc = cl_graph_fix_input_shape(&m->graph, buf, ndim, dims))) goto fail;
  }
  for (int i = 0; i < m->graph.n_inputs; i++)
    if (!cl_shape_is_static(&m->graph.values[m->graph.inputs[i]].shape)) {
      fprintf(stderr, "cleave-sim run: input '%s' has dims the model leaves open: give --shape %s=...\n",
              m->graph.values[m->graph.inputs[i]].name, m->graph.values[m->graph.inputs[i]].name);
      ret = 2;
      goto out;
    }
  cfg.graph = &m->graph;
  cfg.device = &dev;
  cfg.edge = &edge;
  cfg.link = &link;
  if (show_progress) {
    cfg.progress = progress;
    cfg.progress_user = &last_pct;
  }
  if ((rc = cl_sim_run(ctx, &cfg, &res))) goto fail;
  cl_sim_write_table(&res, stdout);
  if (json_file) {
    FILE *f = strcmp(json_file, "-") == 0 ? stdout : fopen(json_file, "w");
    if (!f || cl_sim_write_json(&res, f) || (f != stdout && fclose(f))) {
      fprintf(stderr, "cleave-sim run: cannot write %s\n", json_file);
      goto out;
    }
  }
  if (html_file) {
    FILE *f = fopen(html_file, "w");
    char title[256];
    snprintf(title, sizeof title, "cleave-sim run: %s", trace_file ? trace_file : "constant link");
    if (!f || cl_sim_write_html(&res, title, f) || fclose(f)) {
      fprintf(stderr, "cleave-sim run: cannot write %s\n", html_file);
      goto out;
    }
  }
  ret = 0;
  goto out;
fail:
  fprintf(stderr, "cleave-sim run: %s\n", cleave_ctx_last_error(ctx));
  ret = rc == CLEAVE_EINFEASIBLE ? 3 : 1;
out:
  cl_sim_result_free(&res);
  cl_trace_free(&link);
  free(arrivals);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  return ret;
}
