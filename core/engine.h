/* core: the engine, which runs a session's plan across local devices and edges on the context's loop (private).
 *
 * Three parts:
 * - core/engine.c: the context's devices, one executor thread each (local/executor.h), with the device's state
 *   made on that thread; every local segment of every session runs there, in the order it was queued.
 * - core/hybrid.c: a hybrid session's planning: its devices and edges, profiles (given, measured once and cached,
 *   or published by the gateway), the link as measured, the policy's decision, the planner with its plan cache and
 *   hysteresis, plans compiled into segments with their programs, and what runs feed back (correction, link).
 * - core/run.c: one run: the segment DAG dispatched as inputs arrive, tensors moved between segments without
 *   copies, edge requests, fallback to the device, hedging, cancel, the result with its placement.
 * Everything here runs on the loop thread except the jobs' work, which runs on the executors. */
#ifndef CLEAVE_CORE_ENGINE_H
#define CLEAVE_CORE_ENGINE_H

#include <uv.h>

#include "core/ir/model.h"
#include "local/executor.h"
#include "local/program.h"
#include "partitioner/correction.h"
#include "partitioner/network.h"
#include "partitioner/placement.h"
#include "partitioner/plan_cache.h"
#include "policies/signals.h"

#define CL_ENGINE_MAX_DEVICES 8
#define CL_HYBRID_MAX_LOCAL 7
#define CL_HYBRID_MAX_EDGES 8
#define CL_HYBRID_MAX_PINS 64
#define CL_HYBRID_MAX_PLANS 16

/* ---- the context's devices (core/engine.c) ---- */

typedef struct cl_engine_device {
  cleave_ctx *ctx;
  const cl_device_iface *dev;
  void *state; /* made and used on the executor's thread only */
  cl_executor *x;
  bool measured; /* profile holds the cached or measured figures */
  cl_profile profile;
} cl_engine_device;

struct cl_engine {
  cleave_ctx *ctx;
  cl_engine_device dev[CL_ENGINE_MAX_DEVICES];
  int n_dev;
  cl_correction corr; /* online correction of every local profile and edge, fed by all sessions */
};

/* A job for a device's executor: work() runs on its thread with the device's state. */
typedef struct cl_engine_job cl_engine_job;
struct cl_engine_job {
  cl_job job; /* first */
  void (*work)(cl_engine_job *j, const cl_device_iface *dev, void *state);
};

/* The engine of ctx, made on first call (NULL when out of memory). */
struct cl_engine *cl_engine_get(cleave_ctx *ctx);
/* The index of device name in the engine (its executor started on the context's loop on first use), or a negative
 * error: CLEAVE_ENODEVICE, CLEAVE_EINVAL (no loop), the device's creation error. */
int cl_engine_device_index(cleave_ctx *ctx, const char *name);
/* The profile of device i: measured once (and cached, cl_calibrate_cached) on first call. */
int cl_engine_device_profile(cleave_ctx *ctx, int i, const cl_profile **out);
/* Queues j on device i's executor (j->job.done set by the caller). 0 or CLEAVE_EBUSY. */
int cl_engine_submit(cleave_ctx *ctx, int i, cl_engine_job *j);
/* Takes j out if it still waits (its done then runs later with CLEAVE_ECANCELED), else waits until it has run. */
void cl_engine_cancel_wait(cleave_ctx *ctx, int i, cl_engine_job *j);
/* Runs every finished job's done() now. */
void cl_engine_flush(cleave_ctx *ctx);
/* Stops the executors and frees the engine (the context's teardown). */
void cl_engine_free(cleave_ctx *ctx);

/* ---- hybrid sessions (core/hybrid.c) ---- */

/* A program cache entry: one cut (inputs and outputs by value id) on one engine device. The program is made and
 * compiled on the device's executor thread the first time a job runs it, and only that thread touches it. */
typedef struct cl_hprog {
  struct cl_hprog *next;
  int device; /* engine device index */
  int *in, *out;
  int n_in, n_out;
  cl_program *p;
  int rc; /* the compile's error, once tried */
  bool tried;
  char err[512];
} cl_hprog;

/* A segment of a plan, as runs execute it. */
typedef struct cl_hseg {
  int local;     /* index into the session's local devices, or -1 for the edge */
  int *in, *out; /* slots read and written */
  int n_in, n_out;
  int *extra; /* remote only: slots of values the specialisation folded that the edge's graph still computes */
  int n_extra;
  int *next; /* segments that read this one's outputs */
  int n_next, n_deps;
  int n_nodes;
  cl_hprog *prog; /* local only */
  double pred_ms; /* local: compute; remote: the whole request (up, edge queue and compute, down, round trip) */
  double pred_class_ms[CL_OPC_COUNT]; /* local: uncorrected prediction per op class, for the correction */
  double up_bytes, down_bytes;
} cl_hseg;

/* A plan compiled for running: shared by the runs that use it (refs), kept while it is cached or in use. */
typedef struct cl_hplan {
  struct cl_hplan *next;
  int refs;
  uint64_t hash;
  int edge; /* the session's edge it offloads to, -1: none */
  cl_plan plan;
  int n_seg;
  cl_hseg *seg;
  int n_slots;
  int *slot_value; /* value id of each slot */
  int *in_slot;    /* per graph input: its slot */
  int *out_slot;   /* per graph output: its slot */
  bool uses_edge;
  cl_network net; /* the link as last planned with (its radio prices a run's transfers) */
} cl_hplan;

/* What a session knows of one edge. */
typedef struct cl_hedge {
  cleave_edge *e;
  const cl_profile *given; /* the app's */
  cl_profile fetched;
  bool has_profile, fetching;
  struct cl_hfetch *fetch;  /* the profile request in flight */
  struct cl_hfetch *ensure; /* the model check (and upload) in flight */
  bool model_ready;         /* the gateway has the model */
  bool explored;            /* tried once to test its figures */
  double ensure_at;
  double down_until; /* ms: not planned before (after failures, with backoff) */
  int fails;         /* consecutive failures */
  char why[256];     /* the last failure */
  struct cl_hfetch *probe; /* this session's bandwidth probe in flight (the link's estimate is the edge's) */
  double fetch_at;         /* ms of the last profile request */
  char model_name[129]; /* the model's name on the gateway */
} cl_hedge;

typedef struct cl_hybrid cl_hybrid;

struct cl_hybrid {
  cleave_ctx *ctx;
  cleave_session *s;
  const cleave_model *user_model; /* the app's: output names come from it */
  cleave_model *model;            /* the session's copy with its input shapes fixed (specialised) */
  cl_program *meta;               /* validates inputs */
  /* devices */
  int n_local;
  int local[CL_HYBRID_MAX_LOCAL]; /* engine device indices; [0] the home device */
  const cl_profile *prof[CL_HYBRID_MAX_LOCAL];
  bool *node_ok[CL_HYBRID_MAX_LOCAL]; /* per node: the backend runs it */
  int fallback_dev;                   /* engine index of "cpu", for segments the home device refuses (-1: none) */
  cl_hedge edge[CL_HYBRID_MAX_EDGES];
  int n_edges;
  /* options */
  int mode; /* cleave_mode, or -1: the context's */
  double w[3];
  bool weights;
  double deadline_ms;
  const char **pinned;
  int n_pinned;
  bool offload_inputs, hedging;
  int max_in_flight;
  /* planning */
  cl_planner *pl;
  cl_plan_cache *cache;
  cl_hysteresis hyst;
  cl_hplan *plans; /* most recently used first */
  int n_plans;
  cl_hplan *current;
  const int *forced; /* tests: every run uses this assignment (node -> problem device) */
  cl_signals sys; /* the system's signals, read at most once a second */
  double sys_at;
  cl_hprog *progs;
  bool *folded; /* per value: a constant here that the app's model computes */
  /* runs */
  struct cleave_run_req *runs; /* with anything outstanding (and not detached), doubly linked */
  int in_flight;               /* of those, the runs not finished */
  bool closing;                /* being freed: no more runs */
  uv_timer_t *timer; /* hedging; its block frees itself when closed */
  double timer_due;
  long replans;
};

/* Makes the hybrid part of session s (options already checked). Errors name the cause. */
struct cleave_session_options;
int cl_hybrid_new(cleave_session *s, cleave_model *model, const struct cleave_session_options *opt, cl_hybrid **out);
/* Cancels what is in flight (callbacks run with CLEAVE_ECANCELED before this returns), waits for running jobs and
 * frees h. */
void cl_hybrid_free(cl_hybrid *h);
/* The plan the next run uses (a reference the caller releases with cl_hplan_unref), replanning first when
 * conditions changed. Errors: CLEAVE_EINFEASIBLE (the message names the constraint), CLEAVE_ENOMEM. */
int cl_hybrid_plan(cl_hybrid *h, cl_hplan **out);
void cl_hplan_unref(cl_hybrid *h, cl_hplan *p);
/* The program of a local segment on another engine device than planned (fallback), made on first use. NULL when
 * out of memory. */
cl_hprog *cl_hybrid_prog(cl_hybrid *h, int device, const int *in, int n_in, const int *out, int n_out);
/* Feedback from a finished segment: a local one's measured compute time (first runs of a program, which compile,
 * are left out), or an edge request's total time with what the edge reported of the upload, its own queue and
 * compute (Server-Timing; -1 where unknown). */
void cl_hybrid_observe_local(cl_hybrid *h, const cl_hseg *sg, int device, double ms);
void cl_hybrid_observe_edge(cl_hybrid *h, int edge, const cl_hseg *sg, double total_ms, double edge_recv_ms,
                            double edge_queue_ms, double edge_compute_ms);
/* A hedge on the device beat an edge request that had been out elapsed_ms: the link is at least that slow. */
void cl_hybrid_observe_edge_late(cl_hybrid *h, int edge, const cl_hseg *sg, double elapsed_ms);
/* An edge request failed (a run falls back): the edge is not planned for a while. */
void cl_hybrid_edge_failed(cl_hybrid *h, int edge, const char *why);
/* The predicted local compute time of a segment's nodes on engine device dev (for hedging and fallbacks). */
double cl_hybrid_local_ms(cl_hybrid *h, const cl_hseg *sg, const cl_hplan *p, int dev_local);
/* Tests: every later run uses assign (node id of the session's graph -> 0..n_local-1 local, n_local: the first
 * edge), bypassing the planner; NULL returns to planning. The array is copied. */
int cl_hybrid_force(cl_hybrid *h, const int *assign);

/* ---- runs (core/run.c) ---- */

/* Submits a run of a hybrid session; cleave_run's contract. */
int cl_run_submit(cleave_session *s, cl_hybrid *h, const cleave_tensor *inputs, size_t n_inputs, cleave_run_cb cb,
                  void *user, struct cleave_run_req **out);
/* Fails every run in flight with CLEAVE_ECANCELED now and detaches it from h (what is still out completes
 * silently later). */
void cl_run_cancel_all(cl_hybrid *h);
/* Runs of a session on one device: cleave_run's contract, the whole run one job on the device's executor. */
int cl_run_plain_submit(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_run_cb cb, void *user,
                        struct cleave_run_req **out);
/* As cl_run_cancel_all, for a session on one device. */
void cl_run_plain_cancel_all(cleave_session *s);
/* The one-segment placement of a run of a session on one device that waited queue_ms for its device. */
int cl_run_plain_placement(cleave_session *s, cleave_result *r, double start_ms, double queue_ms);
/* Re-arms the hedging timer for the earliest hedge due among the runs in flight. */
void cl_run_hedge_scan(cl_hybrid *h);

#endif
