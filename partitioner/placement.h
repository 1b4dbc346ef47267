/* partitioner: placement of a model's nodes on devices (private).
 *
 * The problem: a graph, up to CL_PLACE_MAX_DEVICES devices (dev[0] is the home device, where the inputs come
 * from and the outputs must arrive; at most one device of kind edge), network conditions, weights and
 * constraints. The planner minimises
 *
 *     w_lat * latency_ms + w_energy * device_energy_mj + w_cost * edge_cost
 *
 * subject to op support, memory caps, privacy pins and the mode. Candidates: every allowed device alone, the
 * exact two-way min-cut between each local device and the edge, and a k-way plan by alpha-expansion (each move a
 * min-cut) started from the best of those; the makespan evaluator on each candidate's segment DAG (parallel
 * branches on different devices overlap) picks the winner.
 *
 * Usage: cl_planner_new() once per model (it computes FLOPs, bytes and op classes of every node), then
 * cl_planner_plan() for each set of conditions (the replanning path: no parsing, only arithmetic and min-cuts),
 * cl_plan_free() on each plan. A planner is not thread-safe: one call at a time. */
#ifndef CLEAVE_PARTITIONER_PLACEMENT_H
#define CLEAVE_PARTITIONER_PLACEMENT_H

#include "partitioner/network.h"
#include "partitioner/profile.h"

#define CL_PLACE_MAX_DEVICES 8

/* Same order and meaning as the public modes. */
typedef enum cl_place_mode {
  CL_PLACE_AUTO,         /* minimise the objective */
  CL_PLACE_PREFER_LOCAL, /* edge time, energy and cost count prefer_factor times (local wins close calls) */
  CL_PLACE_ONLY_LOCAL,   /* the edge is forbidden */
  CL_PLACE_PREFER_EDGE,  /* local time, energy and cost count prefer_factor times */
  CL_PLACE_ONLY_EDGE     /* every node runs on the edge (infeasible if a pin or the support forbids it) */
} cl_place_mode;

struct cl_correction; /* partitioner/correction.h */

typedef struct cl_place_device {
  const cl_profile *profile; /* not owned; must stay valid while the problem is used */
  double speed;              /* compute-time multiplier: 1 nominal, 2 twice as slow (throttled, loaded) */
  double energy;             /* energy multiplier (heat raises leakage, a hot SoC costs more per op) */
  double mem_cap;            /* bytes for weights + peak activations; 0: the profile's mem_bytes; the smaller of
                                the two applies when both are set */
  bool allowed;              /* false: no node may run here (edge offline, device off) */
  const char *off_why;       /* why it is not allowed, when known (NULL: switched off or forbidden) */
  const bool *node_ok;       /* NULL: support from the profile; else node_ok[node id] says whether it runs here
                                (a real backend's supports() answer) and is ANDed with the profile's */
} cl_place_device;

typedef struct cl_place_problem {
  int n_devices;
  cl_place_device dev[CL_PLACE_MAX_DEVICES]; /* dev[0]: the home device (local) */
  cl_network net;                            /* link to the edge device, if any */
  double edge_queue_ms;                      /* the edge's queueing delay (its load hint), added per request */
  double edge_cost_mult;                     /* multiplies edge cost (metered link, expensive hours); >= 0 */
  double w_lat;                              /* per ms of latency */
  double w_energy;                           /* per mJ of device energy */
  double w_cost;                             /* per cost unit (edge compute price + metered bytes) */
  cl_place_mode mode;
  double prefer_factor;      /* the PREFER_* modes' bias (default 1.5) */
  bool pin_inputs;           /* the model's inputs never leave the device (default true) */
  const char *const *pinned; /* names of further tensors that never leave the device */
  int n_pinned;
  const struct cl_correction *correction; /* online correction of node times; NULL: none */
} cl_place_problem;

/* Defaults: no devices, cl_network_default(), queue 0, edge_cost_mult 1, w_lat 1, w_energy 0, w_cost 0, AUTO,
 * prefer_factor 1.5, pin_inputs true, no pinned tensors, no correction. */
void cl_place_problem_init(cl_place_problem *p);
/* Appends a device with speed 1, energy 1, mem_cap 0, allowed, node_ok NULL; returns its index or
 * CLEAVE_ELIMIT. */
int cl_place_problem_add(cl_place_problem *p, const cl_profile *profile);

/* What this host's backends say about a problem's local devices (cl_place_bind_backends()). */
typedef struct cl_place_binding {
  bool *ok;                                         /* [n_devices * n_nodes] node_ok arrays */
  char why[CL_PLACE_MAX_DEVICES][256];              /* off_why texts */
} cl_place_binding;

/* Binds p's local devices whose profile names a backend of this build ("cpu", "gpu", ...) to that backend on
 * this host: a backend that cannot start here (no driver, no device) makes its device not allowed, with the
 * backend's message as the reason; one that starts says which nodes of g it runs (node_ok). Devices whose
 * profile names no backend, or one this build lacks, and the edge are left as they are. b must outlive p's use;
 * free it with cl_place_binding_free(). Returns 0 or CLEAVE_ENOMEM. */
int cl_place_bind_backends(cleave_ctx *ctx, const cl_graph *g, cl_place_problem *p, cl_place_binding *b);
void cl_place_binding_free(cleave_ctx *ctx, cl_place_binding *b);

/* Predicted cost of a plan. value is the objective; latency from the makespan evaluator. */
typedef struct cl_objective {
  double latency_ms;
  double energy_mj; /* device energy: local compute, waiting while the edge works, radio */
  double cost;      /* edge compute price and metered bytes, times edge_cost_mult */
  double value;     /* w_lat * latency_ms + w_energy * energy_mj + w_cost * cost (mode bias excluded) */
  double up_bytes;  /* bytes sent to the edge */
  double down_bytes;
} cl_objective;

/* One runnable part of a plan: nodes of one device, in topological order. */
typedef struct cl_plan_segment {
  int device; /* index into the problem's dev[] */
  int *nodes; /* node ids */
  int n_nodes;
  int *inputs; /* value ids read from outside the segment (graph inputs or other segments; constants excluded) */
  int n_inputs;
  int *outputs; /* value ids other segments read, and graph outputs produced here */
  int n_outputs;
  int *deps; /* segments (indices, all smaller) whose outputs it reads */
  int n_deps;
  double compute_ms; /* predicted compute time on its device */
  double start_ms;   /* from the makespan evaluator: when its inputs are there and its device is free */
  double end_ms;
} cl_plan_segment;

#define CL_PLAN_NAME_MAX 48

/* A plan. Segments are in topological order; segment i depends only on segments < i. All arrays are allocated
 * with the planner's context and released by cl_plan_free(). */
typedef struct cl_plan {
  char name[CL_PLAN_NAME_MAX]; /* the candidate it came from: "local:cpu", "edge", "cut:cpu|edge", "kway" */
  int n_nodes;
  int *assign; /* node id -> device index */
  int n_segments;
  cl_plan_segment *segments;
  cl_objective obj;
} cl_plan;

/* One candidate considered by the last cl_planner_plan(), for explanations. */
typedef struct cl_plan_candidate {
  char name[CL_PLAN_NAME_MAX];
  bool feasible; /* false: it breaks a constraint (why says which) */
  char why[160];
  int n_segments;
  cl_objective obj;
  double biased; /* the value the mode's bias compares (value with PREFER_* applied) */
} cl_plan_candidate;

typedef struct cl_planner cl_planner;

/* Creates a planner for g (which must outlive it). Returns 0 or CLEAVE_ENOMEM. */
int cl_planner_new(cleave_ctx *ctx, const cl_graph *g, cl_planner **out);
void cl_planner_free(cl_planner *pl);

/* Plans for p into *out (which the caller frees with cl_plan_free()). Errors: CLEAVE_EINVAL (a malformed
 * problem: no devices, dev[0] not local, two edges, negative weights), CLEAVE_EINFEASIBLE (the message names the
 * constraint: e.g. "node 'x' (Resize) runs on no allowed device: ... mode ONLY_LOCAL forbids the edge",
 * "privacy pin on 'x' ...", "memory cap of 'npu' ..."), CLEAVE_ENOMEM. On error *out is zeroed. */
int cl_planner_plan(cl_planner *pl, const cl_place_problem *p, cl_plan *out);

/* Evaluates a given assignment (node id -> device index) under p (its devices, derating, link and weights, whatever
 * the planner was last asked): builds its segments and objective into *out. Constraints are not checked (see
 * cl_planner_check()). Returns 0, CLEAVE_EINVAL (a malformed problem or assignment), CLEAVE_ENOTFOUND (a pin names
 * no tensor) or CLEAVE_ENOMEM. */
int cl_planner_evaluate(cl_planner *pl, const cl_place_problem *p, const int *assign, cl_plan *out);

/* 0 if assign satisfies every constraint of p, else CLEAVE_EINFEASIBLE with the constraint named. */
int cl_planner_check(cl_planner *pl, const cl_place_problem *p, const int *assign);

/* Candidates of the last cl_planner_plan() call; *n receives the count. Owned by the planner, valid until the
 * next call. */
const cl_plan_candidate *cl_planner_candidates(const cl_planner *pl, int *n);

/* Predicted compute time in ms of node on device dev under p (derating and correction applied); INFINITY where
 * the device cannot run it. */
double cl_planner_node_ms(const cl_planner *pl, const cl_place_problem *p, int node, int dev);
/* The graph the planner was made for. */
const cl_graph *cl_planner_graph(const cl_planner *pl);
/* Max-flows the planner has run since it was made (statistics; a move repeated within a plan is not run again). */
long cl_planner_maxflows(const cl_planner *pl);
/* Bytes of value v (0 when its shape is not static). */
double cl_planner_value_bytes(const cl_planner *pl, int v);

void cl_plan_free(cleave_ctx *ctx, cl_plan *plan);
/* Deep copy of src into *dst. Returns 0 or CLEAVE_ENOMEM. */
int cl_plan_copy(cleave_ctx *ctx, const cl_plan *src, cl_plan *dst);

#endif
