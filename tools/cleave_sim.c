/* cleave-sim: the placement and policy simulation CLI. `plan` prints the partitioner's plan for a model under
 * given devices and network conditions; `run` (when built) simulates a policy over traces. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleave.h"
#include "core/ir/model.h"
#include "partitioner/plan_json.h"
#ifdef CLEAVE_HAVE_SIM_RUN
#include "sim_run.h"
#endif

#define MAX_DEVICES 7
#define MAX_ARGS 32
#define MAX_LINKS 16

/* Uplink presets: LTE Cat-1, and the 3G, LTE and Wi-Fi uplink rates measured for Neurosurgeon (Y. Kang et al.,
 * "Neurosurgeon: Collaborative Intelligence Between the Cloud and Mobile Edge", ASPLOS 2017), each with the radio
 * whose energy model applies. */
static const struct link_preset {
  const char *name;
  double up_mbps;
  cl_radio_kind radio;
} link_presets[] = {
    {"cat1", 0.13, CL_RADIO_LTE},
    {"3g", 1.1, CL_RADIO_3G},
    {"4g", 5.85, CL_RADIO_LTE},
    {"wifi", 18.88, CL_RADIO_WIFI},
};

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: cleave-sim plan MODEL.onnx [options]\n"
      "       cleave-sim run [options]      (see cleave-sim run --help)\n"
      "\n"
      "plan: places every node of the model on the local devices or the edge, minimising\n"
      "w_lat * latency_ms + w_energy * device_energy_mJ + w_cost * edge_cost, and prints the plan as JSON:\n"
      "per-node costs on every device (nodes), tensors with their bytes, producer and consumers, the\n"
      "assignment, segments, the predicted objective and every candidate plan considered. With several\n"
      "uplinks (--uplink-mbps or --link lists) it prints a JSON array, one plan per uplink.\n"
      "\n"
      "options of plan:\n"
      "  --device-profile FILE    a local device profile (repeatable: the first is the home device)\n"
      "  --edge-profile FILE      the edge server's profile (omit for local-only planning)\n"
      "  --uplink-mbps X[,X...]   uplink bandwidth (default 5.85); a list plans once per value\n"
      "  --link NAME[,NAME...]    uplink presets, each with its radio: cat1 (0.13 Mbps, lte), 3g (1.1, 3g),\n"
      "                           4g (5.85, lte), wifi (18.88, wifi); a list plans once per preset\n"
      "  --downlink-mbps X        downlink bandwidth (default 20)\n"
      "  --rtt-ms X               round-trip time (default 50)\n"
      "  --queue-ms X             the edge's queueing delay (default 0)\n"
      "  --radio NAME             wifi, lte, 3g, 5g or none (default lte)\n"
      "  --radio-idle             the radio starts idle: pay promotion delay, promotion and tail energy\n"
      "  --mode MODE              auto, prefer-local, only-local, prefer-edge, only-edge (default auto)\n"
      "  --w-lat X, --w-energy X, --w-cost X   objective weights (default 1, 0, 0)\n"
      "  --pin TENSOR             a tensor that must not leave the device (repeatable)\n"
      "  --allow-input-offload    let the model's inputs leave the device (pinned by default)\n"
      "  --shape NAME=AxBxC       static shape for an input whose dims the model leaves open\n"
      "  --this-host              plan for this host: a local profile whose \"backend\" this build has (cpu, gpu)\n"
      "                           is bound to it; a backend that cannot start here (no driver) rules its device\n"
      "                           out, and the nodes it refuses stay off it\n"
      "  --table                  print a summary for people instead of the JSON: the candidates and the\n"
      "                           chosen plan's segments, or with several uplinks one row per uplink\n"
      "  -h, --help               this text\n"
      "\n"
      "examples:\n"
      "  cleave-sim plan det.onnx --shape x=1x3x640x640 --device-profile partitioner/profiles/pixel7-cpu.json \\\n"
      "      --edge-profile partitioner/profiles/edge-a10.json --link cat1,3g,4g,wifi --allow-input-offload --table\n"
      "  cleave-sim plan cls.onnx --device-profile cpu.json --device-profile gpu.json --device-profile npu.json \\\n"
      "      --edge-profile edge.json --w-energy 0.01 > plan.json\n"
      "\n"
      "exit codes: 0 success, 1 the model or a profile failed to load, 2 bad arguments, 3 no plan satisfies\n"
      "the constraints (the message names the constraint)\n");
}

static int bad_args(const char *fmt, const char *arg) {
  fprintf(stderr, "cleave-sim: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see cleave-sim --help)\n");
  return 2;
}

static int parse_num(const char *s, double lo, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo) return -1;
  *out = v;
  return 0;
}

static int parse_shape(const char *s, int *ndim, int64_t *dims) {
  *ndim = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 0 || *ndim == CLEAVE_MAX_DIMS) return -1;
    dims[(*ndim)++] = v;
    if (*end == 'x')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  return *ndim > 0 ? 0 : -1;
}

/* Splits a comma-separated list of uplinks, numbers (Mbps) or preset names when presets, into up[] and radio[]
 * (radio -1: keep the problem's). Returns the count, or -1 with a message in err. */
static int parse_links(const char *s, bool presets, double *up, int *radio, char *err, size_t err_len) {
  char buf[512];
  if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) {
    snprintf(err, err_len, "the uplink list '%.40s...' is too long", s);
    return -1;
  }
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (n == MAX_LINKS) {
      snprintf(err, err_len, "at most %d uplinks in one list", MAX_LINKS);
      return -1;
    }
    if (presets) {
      int k = -1;
      for (size_t i = 0; i < sizeof link_presets / sizeof link_presets[0]; i++)
        if (strcmp(t, link_presets[i].name) == 0) k = (int)i;
      if (k < 0) {
        snprintf(err, err_len, "unknown --link '%s' (cat1, 3g, 4g, wifi)", t);
        return -1;
      }
      up[n] = link_presets[k].up_mbps;
      radio[n] = (int)link_presets[k].radio;
    } else {
      if (parse_num(t, 0, &up[n]) || up[n] <= 0) {
        snprintf(err, err_len, "--uplink-mbps: '%s' is not a number > 0", t);
        return -1;
      }
      radio[n] = -1;
    }
    n++;
  }
  if (n == 0) snprintf(err, err_len, "the uplink list '%s' is empty", s);
  return n ? n : -1;
}

/* The plan's tensors that leave the device for the edge, as "name (bytes)" joined into buf. */
static void sent_up(const cl_planner *pl, const cl_place_problem *p, const cl_plan *plan, char *buf, size_t len) {
  const cl_graph *g = cl_planner_graph(pl);
  size_t at = 0;
  buf[0] = 0;
  for (int s = 0; s < plan->n_segments; s++) {
    const cl_plan_segment *sg = &plan->segments[s];
    if (p->dev[sg->device].profile->kind != CL_DEV_EDGE) continue;
    for (int i = 0; i < sg->n_inputs && at < len; i++) {
      int v = sg->inputs[i], pr = g->values[v].producer;
      if (pr >= 0 && p->dev[plan->assign[pr]].profile->kind == CL_DEV_EDGE) continue; /* already there */
      at += (size_t)snprintf(buf + at, len - at, "%s%s (%.0f B)", at ? ", " : "", g->values[v].name,
                             cl_planner_value_bytes(pl, v));
    }
  }
  if (!buf[0]) snprintf(buf, len, "-");
}

/* One row of the sweep table: the chosen plan against the best all-local and the all-edge candidates. */
static void print_row(const cl_planner *pl, const cl_place_problem *p, const cl_plan *plan) {
  int nc;
  const cl_plan_candidate *c = cl_planner_candidates(pl, &nc);
  double local = INFINITY, edge = INFINITY;
  for (int i = 0; i < nc; i++) {
    if (!c[i].feasible) continue;
    if (strncmp(c[i].name, "local:", 6) == 0 && c[i].obj.latency_ms < local) local = c[i].obj.latency_ms;
    if (strcmp(c[i].name, "edge") == 0) edge = c[i].obj.latency_ms;
  }
  char sent[256];
  sent_up(pl, p, plan, sent, sizeof sent);
  printf("%8.2f %-5s %-22s %10.2f %10.2f %10.2f %5d %11.0f %11.0f  %s\n", p->net.up_mbps,
         cl_radio_preset(p->net.radio)->name, plan->name, plan->obj.latency_ms, local, edge, plan->n_segments,
         plan->obj.up_bytes, plan->obj.down_bytes, sent);
}

static void print_table(const cl_planner *pl, const cl_place_problem *p, const cl_plan *plan) {
  const cl_graph *g = cl_planner_graph(pl);
  printf("devices:");
  for (int d = 0; d < p->n_devices; d++)
    printf(" %s%s", p->dev[d].profile->name, d == 0 ? " (home)" : "");
  printf("\nlink: %.2f Mbps up, %.2f Mbps down, RTT %.1f ms, radio %s%s, edge queue %.1f ms\n", p->net.up_mbps,
         p->net.down_mbps, p->net.rtt_ms, cl_radio_preset(p->net.radio)->name, p->net.radio_warm ? "" : " (idle)",
         p->edge_queue_ms);
  printf("objective: %g * latency_ms + %g * energy_mJ + %g * cost\n\n", p->w_lat, p->w_energy, p->w_cost);
  int nc;
  const cl_plan_candidate *c = cl_planner_candidates(pl, &nc);
  printf("%-28s %9s %12s %11s %12s %5s  %s\n", "candidate", "latency", "energy", "cost", "objective", "segs", "note");
  for (int i = 0; i < nc; i++)
    printf("%-28s %6.2f ms %9.2f mJ %11.3g %12.4g %5d  %s%s\n", c[i].name, c[i].obj.latency_ms, c[i].obj.energy_mj,
           c[i].obj.cost, c[i].obj.value, c[i].n_segments, c[i].feasible ? "" : "infeasible: ",
           c[i].feasible ? (strcmp(c[i].name, plan->name) == 0 ? "<- chosen" : "") : c[i].why);
  printf("\nplan '%s': %d segments, latency %.2f ms, energy %.2f mJ, cost %.3g, %.0f bytes up, %.0f bytes down\n",
         plan->name, plan->n_segments, plan->obj.latency_ms, plan->obj.energy_mj, plan->obj.cost, plan->obj.up_bytes,
         plan->obj.down_bytes);
  for (int s = 0; s < plan->n_segments; s++) {
    const cl_plan_segment *sg = &plan->segments[s];
    printf("  segment %d on %-14s %4d nodes (%s .. %s), %d in, %d out, %.2f -> %.2f ms\n", s,
           p->dev[sg->device].profile->name, sg->n_nodes, g->nodes[sg->nodes[0]].name,
           g->nodes[sg->nodes[sg->n_nodes - 1]].name, sg->n_inputs, sg->n_outputs, sg->start_ms, sg->end_ms);
  }
}

static int plan_main(int argc, char **argv) {
  static const struct option longopts[] = {{"device-profile", required_argument, 0, 'D'},
                                           {"edge-profile", required_argument, 0, 'E'},
                                           {"uplink-mbps", required_argument, 0, 'u'},
                                           {"downlink-mbps", required_argument, 0, 'd'},
                                           {"rtt-ms", required_argument, 0, 'r'},
                                           {"queue-ms", required_argument, 0, 'q'},
                                           {"radio", required_argument, 0, 'R'},
                                           {"radio-idle", no_argument, 0, 'I'},
                                           {"mode", required_argument, 0, 'm'},
                                           {"w-lat", required_argument, 0, 'l'},
                                           {"w-energy", required_argument, 0, 'e'},
                                           {"w-cost", required_argument, 0, 'c'},
                                           {"pin", required_argument, 0, 'p'},
                                           {"allow-input-offload", no_argument, 0, 'a'},
                                           {"shape", required_argument, 0, 's'},
                                           {"link", required_argument, 0, 'L'},
                                           {"json", no_argument, 0, 'j'},
                                           {"table", no_argument, 0, 'T'},
                                           {"this-host", no_argument, 0, 'H'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  static const char *const modes[] = {"auto", "prefer-local", "only-local", "prefer-edge", "only-edge"};
  const char *dev_files[MAX_DEVICES], *edge_file = NULL, *pins[MAX_ARGS], *shapes[MAX_ARGS];
  int n_dev = 0, n_pins = 0, n_shapes = 0, table = 0, c, n_links = 0, link_radio[MAX_LINKS];
  double link_up[MAX_LINKS];
  bool radio_given = false, this_host = false;
  char err[160];
  cl_place_problem p;
  cl_place_problem_init(&p);
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    double *target = NULL, lo = 0;
    switch (c) {
    case 'D':
      if (n_dev == MAX_DEVICES) return bad_args("at most 7 device profiles (%s)", optarg);
      dev_files[n_dev++] = optarg;
      break;
    case 'E': edge_file = optarg; break;
    case 'u':
    case 'L':
      if (n_links) return bad_args("%s", "give one --uplink-mbps or --link list");
      if ((n_links = parse_links(optarg, c == 'L', link_up, link_radio, err, sizeof err)) < 0)
        return bad_args("%s", err);
      break;
    case 'd': target = &p.net.down_mbps; break;
    case 'r': target = &p.net.rtt_ms; break;
    case 'q': target = &p.edge_queue_ms; break;
    case 'l': target = &p.w_lat; break;
    case 'e': target = &p.w_energy; break;
    case 'c': target = &p.w_cost; break;
    case 'R': {
      int k = cl_radio_kind_from_name(optarg);
      if (k < 0) return bad_args("unknown --radio '%s' (wifi, lte, 3g, 5g, none)", optarg);
      p.net.radio = (cl_radio_kind)k;
      radio_given = true;
      break;
    }
    case 'I': p.net.radio_warm = false; break;
    case 'm': {
      int k = -1;
      for (int i = 0; i < 5; i++)
        if (strcmp(optarg, modes[i]) == 0) k = i;
      if (k < 0)
        return bad_args("unknown --mode '%s' (auto, prefer-local, only-local, prefer-edge, only-edge)", optarg);
      p.mode = (cl_place_mode)k;
      break;
    }
    case 'p':
      if (n_pins == MAX_ARGS) return bad_args("too many --pin (%s)", optarg);
      pins[n_pins++] = optarg;
      break;
    case 'a': p.pin_inputs = false; break;
    case 's':
      if (n_shapes == MAX_ARGS) return bad_args("too many --shape (%s)", optarg);
      shapes[n_shapes++] = optarg;
      break;
    case 'j': table = 0; break;
    case 'T': table = 1; break;
    case 'H': this_host = true; break;
    case 'h': usage(stdout); return 0;
    default: return bad_args("%s", "unknown option");
    }
    if (target && parse_num(optarg, lo, target)) return bad_args("'%s' is not a number >= 0", optarg);
  }
  if (optind + 1 != argc) return bad_args("%s", "plan needs exactly one MODEL.onnx");
  if (n_dev == 0) return bad_args("%s", "plan needs at least one --device-profile");
  const char *model_path = argv[optind];

  cleave_ctx *ctx = NULL;
  cleave_model *m = NULL;
  cl_profile profiles[MAX_DEVICES + 1];
  cl_planner *pl = NULL;
  cl_plan plan = {0};
  cl_place_binding bind = {0};
  int ret = 1, rc;
  if (cleave_ctx_new(&ctx, NULL, NULL)) {
    fprintf(stderr, "cleave-sim: out of memory\n");
    return 1;
  }
  for (int i = 0; i < n_dev + (edge_file != NULL); i++) {
    const char *file = i < n_dev ? dev_files[i] : edge_file;
    if ((rc = cl_profile_load(ctx, file, &profiles[i]))) goto fail;
    if (i < n_dev && profiles[i].kind == CL_DEV_EDGE) {
      fprintf(stderr, "cleave-sim: %s describes an edge device: pass it with --edge-profile\n", file);
      ret = 2;
      goto out;
    }
    if (i == n_dev && profiles[i].kind != CL_DEV_EDGE) {
      fprintf(stderr, "cleave-sim: %s is not an edge profile (kind '%s')\n", file,
              profiles[i].kind == CL_DEV_CPU   ? "cpu"
              : profiles[i].kind == CL_DEV_GPU ? "gpu"
                                               : "npu");
      ret = 2;
      goto out;
    }
    cl_place_problem_add(&p, &profiles[i]);
  }
  if ((rc = cleave_model_load(ctx, model_path, &m))) goto fail;
  for (int i = 0; i < n_shapes; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", shapes[i]);
    char *eq = strchr(buf, '=');
    int ndim;
    int64_t dims[CLEAVE_MAX_DIMS];
    if (!eq || eq == buf || parse_shape(eq + 1, &ndim, dims)) {
      ret = bad_args("bad --shape '%s' (NAME=AxBxC)", shapes[i]);
      goto out;
    }
    *eq = 0;
    if ((rc = cl_graph_fix_input_shape(&m->graph, buf, ndim, dims))) {
      fprintf(stderr, "cleave-sim: --shape %s: %s\n", shapes[i], cleave_ctx_last_error(ctx));
      ret = rc == CLEAVE_ESHAPE || rc == CLEAVE_ENOTFOUND ? 2 : 1;
      goto out;
    }
  }
  for (int i = 0; i < m->graph.n_inputs; i++)
    if (!cl_shape_is_static(&m->graph.values[m->graph.inputs[i]].shape)) {
      fprintf(stderr, "cleave-sim: input '%s' has dims the model leaves open: give --shape %s=...\n",
              m->graph.values[m->graph.inputs[i]].name, m->graph.values[m->graph.inputs[i]].name);
      ret = 2;
      goto out;
    }
  p.pinned = pins;
  p.n_pinned = n_pins;
  if (this_host && (rc = cl_place_bind_backends(ctx, &m->graph, &p, &bind))) goto fail;
  if ((rc = cl_planner_new(ctx, &m->graph, &pl))) goto fail;
  if (n_links == 0) link_up[n_links++] = p.net.up_mbps, link_radio[0] = -1;
  json_t *all = n_links > 1 && !table ? json_array() : NULL;
  if (n_links > 1 && !table && !all) goto oom;
  if (n_links > 1 && table)
    printf("%8s %-5s %-22s %10s %10s %10s %5s %11s %11s  %s\n", "up Mbps", "radio", "chosen", "latency ms",
           "all-local", "all-edge", "segs", "bytes up", "bytes down", "sent to the edge");
  for (int i = 0; i < n_links; i++) {
    p.net.up_mbps = link_up[i];
    if (link_radio[i] >= 0 && !radio_given) p.net.radio = (cl_radio_kind)link_radio[i];
    cl_plan_free(ctx, &plan);
    if ((rc = cl_planner_plan(pl, &p, &plan))) {
      json_decref(all);
      if (rc == CLEAVE_EINFEASIBLE) {
        fprintf(stderr, "cleave-sim: infeasible: %s\n", cleave_ctx_last_error(ctx));
        ret = 3;
        goto out;
      }
      goto fail;
    }
    if (table) {
      if (n_links > 1)
        print_row(pl, &p, &plan);
      else
        print_table(pl, &p, &plan);
      continue;
    }
    json_t *j = cl_plan_json(pl, &p, &plan, true);
    if (!j || (all && json_array_append_new(all, j))) {
      json_decref(all);
      goto oom;
    }
    if (!all) all = j;
  }
  if (all) {
    int bad = json_dumpf(all, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(all);
    if (bad) goto oom;
    printf("\n");
  }
  ret = 0;
  goto out;
oom:
  fprintf(stderr, "cleave-sim: out of memory writing JSON\n");
  goto out;
fail:
  fprintf(stderr, "cleave-sim: %s (%s)\n", cleave_ctx_last_error(ctx), cleave_err_name(rc));
  if (rc == CLEAVE_EINVAL || rc == CLEAVE_ENOTFOUND) ret = 2;
out:
  cl_plan_free(ctx, &plan);
  cl_planner_free(pl);
  cl_place_binding_free(ctx, &bind);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  return ret;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "plan") == 0) return plan_main(argc - 1, argv + 1);
  if (strcmp(argv[1], "run") == 0) {
#ifdef CLEAVE_HAVE_SIM_RUN
    return cl_sim_run_main(argc - 1, argv + 1);
#else
    fprintf(stderr, "cleave-sim: this build has no 'run' subcommand\n");
    return 2;
#endif
  }
  return bad_args("unknown subcommand '%s' (plan, run)", argv[1]);
}
