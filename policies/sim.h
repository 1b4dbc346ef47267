/* policies: cleave-sim's discrete-event simulation (private).
 *
 * One device and one edge. Requests arrive (Poisson or a list of times) and run a plan: segments queue FIFO on
 * their device (the device and the edge serve one segment at a time), tensors that cross queue FIFO on the uplink
 * or the downlink, whose bandwidth follows a link trace, and arrive half a round trip after they are sent. The
 * device's power drives an RC thermal model that throttles it, and drains a battery; the radio pays promotion and
 * tail energy. A transfer that cannot start (the link is down) or would take longer than the timeout falls back:
 * the whole request runs again on the device, as the engine does when the edge fails.
 *
 * The same requests run under five policies: AUTO (the policy rules and the partitioner on the signals the
 * device would see: the link's recent mean, battery, temperature, plan cache and hysteresis), all-local,
 * all-edge, the best static split (each plan AUTO used, and the planner's candidates, run alone; the best mean
 * objective wins), and an oracle (per request, the plan with the best outcome given the real link and queues). */
#ifndef CLEAVE_POLICIES_SIM_H
#define CLEAVE_POLICIES_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "partitioner/placement.h"
#include "policies/decide.h"
#include "policies/trace.h"

typedef enum cl_sim_policy {
  CL_SIM_AUTO,
  CL_SIM_LOCAL,
  CL_SIM_EDGE,
  CL_SIM_STATIC,
  CL_SIM_ORACLE,
  CL_SIM_POLICIES
} cl_sim_policy;

const char *cl_sim_policy_name(cl_sim_policy p);

typedef struct cl_sim_config {
  const cl_graph *graph;
  const cl_profile *device; /* the home device (cpu, gpu or npu) */
  const cl_profile *edge;   /* kind edge */
  const cl_link_trace *link;
  cl_radio_kind radio;    /* the radio where the trace does not say */
  double duration_s;      /* 0: the trace's duration */
  double rate_per_s;      /* Poisson arrival rate, when arrivals is NULL */
  const double *arrivals; /* request times in seconds, ascending; NULL: Poisson */
  int n_arrivals;
  uint64_t seed;                  /* of the arrivals */
  double deadline_ms;             /* 0: none */
  double timeout_ms;              /* a transfer longer than this falls back to the device; 0: 2000 */
  double battery_wh;              /* 0: 15 (a 4000 mAh phone battery at 3.85 V) */
  double battery_start;           /* 0..1; 0: 1 */
  double w_lat, w_energy, w_cost; /* the objective every policy is scored on; all 0: the policy rules' defaults */
  cleave_mode mode;               /* AUTO's mode and power preference */
  cleave_power_preference power;
  bool pin_inputs; /* the model's inputs never leave the device (all-edge still sends them) */
  double window_s; /* AUTO's bandwidth estimate: mean of the past window; 0: 2 */
  void (*progress)(void *user, double done); /* done in [0, 1]; NULL: none */
  void *progress_user;
} cl_sim_config;

/* One request as it went. */
typedef struct cl_sim_point {
  float t_s, latency_ms, energy_mj, objective;
  float battery; /* level after it, 0..1 */
  float temp_c;  /* device temperature when it arrived */
  int16_t plan;  /* index into the result's plans */
  uint8_t fallback, missed;
} cl_sim_point;

typedef struct cl_sim_summary {
  int n;
  double p50_ms, p95_ms, mean_ms;
  int misses;          /* over the deadline */
  int fallbacks;       /* requests that fell back to the device */
  double energy_j;     /* device energy over the whole run: idle, compute, radio */
  double battery_used; /* share of the battery, 0..1 */
  double up_bytes, down_bytes;
  double mean_objective;
  int plan_changes; /* consecutive requests with different plans */
  double max_temp_c;
} cl_sim_summary;

#define CL_SIM_PLAN_NAME 64

typedef struct cl_sim_plan_info {
  char name[CL_SIM_PLAN_NAME];
  int edge_nodes, n_nodes;
  double local_ms, edge_ms; /* nominal compute */
  double up_bytes, down_bytes;
} cl_sim_plan_info;

typedef struct cl_sim_result {
  cleave_ctx *ctx;
  double duration_s;
  double w_lat, w_energy, w_cost;
  int n_plans;
  cl_sim_plan_info *plans;
  int static_plan; /* the best static split's plan */
  cl_sim_summary sum[CL_SIM_POLICIES];
  cl_sim_point *pts[CL_SIM_POLICIES];
  int n_pts;
  int n_link; /* the link, sampled for the plots */
  float *link_t, *link_up, *link_down;
  char device[CL_PROFILE_NAME_MAX], edge[CL_PROFILE_NAME_MAX];
} cl_sim_result;

/* Runs the five policies. Errors: CLEAVE_EINVAL (a bad configuration, named), CLEAVE_EINFEASIBLE (AUTO's planner
 * found no plan), CLEAVE_ENOMEM. On error out holds nothing to free. */
int cl_sim_run(cleave_ctx *ctx, const cl_sim_config *cfg, cl_sim_result *out);
void cl_sim_result_free(cl_sim_result *r);

/* The summary table, as text. */
void cl_sim_write_table(const cl_sim_result *r, FILE *f);
/* Everything as JSON. Returns 0, CLEAVE_EIO or CLEAVE_ENOMEM. */
int cl_sim_write_json(const cl_sim_result *r, FILE *f);
/* A self-contained HTML report with SVG plots over time: bandwidth, placement, latency, battery, temperature. */
int cl_sim_write_html(const cl_sim_result *r, const char *title, FILE *f);

#endif
