/* cleave: split neural-network inference between the device and the edge.
 *
 * This header is the contract. Conventions:
 * - every function that can fail returns 0 or a negative CLEAVE_E* code (include/cleave/error.h);
 *   functions that take a context also leave a detailed message in cleave_ctx_last_error();
 * - objects are opaque, created by cleave_<noun>_new()/_load() and released by cleave_<noun>_free();
 *   passing NULL to a _free function does nothing;
 * - options objects have setters, so new settings never change the ABI;
 * - the library never aborts and never prints unless a log callback is installed.
 */
#ifndef CLEAVE_H
#define CLEAVE_H

#include <stdio.h>

#include "cleave/error.h"
#include "cleave/edge.h"
#include "cleave/policy.h"
#include "cleave/tensor.h"
#include "cleave/plan.h"
#include "cleave/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLEAVE_VERSION_MAJOR 0
#define CLEAVE_VERSION_MINOR 1
#define CLEAVE_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the linked library. */
CLEAVE_API const char *cleave_version(void);

/* ---- allocator and logging ---------------------------------------------------------------------------- */

/* Memory hooks, copied by value into the context and handed on to the libraries cleave drives. Every slot must
 * be set; aligned_allocate must honour any power-of-two alignment up to 4096. */
typedef struct cleave_allocator {
  void *context;
  void *(*allocate)(void *context, size_t size);
  void *(*reallocate)(void *context, void *ptr, size_t size);
  void (*deallocate)(void *context, void *ptr);
  void *(*aligned_allocate)(void *context, size_t alignment, size_t size);
  void (*aligned_deallocate)(void *context, void *ptr);
} cleave_allocator;

typedef enum cleave_log_level {
  CLEAVE_LOG_ERROR = 0,
  CLEAVE_LOG_WARN = 1,
  CLEAVE_LOG_INFO = 2,
  CLEAVE_LOG_DEBUG = 3
} cleave_log_level;

/* Called on the thread that produced the message; msg is valid only during the call. */
typedef void (*cleave_log_fn)(void *user, cleave_log_level level, const char *msg);

/* ---- options ------------------------------------------------------------------------------------------ */

typedef struct cleave_options cleave_options;

/* Creates options with defaults (system allocator, no logging, threads = number of cores).
 * Returns 0 or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_options_new(cleave_options **out);
CLEAVE_API void cleave_options_free(cleave_options *opt);
/* Copies *alloc. Returns CLEAVE_EINVAL if a slot is NULL. */
CLEAVE_API int cleave_options_set_allocator(cleave_options *opt, const cleave_allocator *alloc);
/* Messages at or below max_level go to fn. fn NULL switches logging off. */
CLEAVE_API void cleave_options_set_log(cleave_options *opt, cleave_log_fn fn, void *user, cleave_log_level max_level);
/* Worker threads for CPU backends; 0 means the number of online cores. Returns CLEAVE_EINVAL if n < 0. */
CLEAVE_API int cleave_options_set_threads(cleave_options *opt, int n);

/* ---- context ------------------------------------------------------------------------------------------ */

typedef struct cleave_ctx cleave_ctx;
struct uv_loop_s;

/* Creates a context. loop is the host's libuv loop that asynchronous calls will use (NULL: none yet; the
 * synchronous API needs none). opt may be NULL for defaults; it is copied and not kept.
 * Returns 0, CLEAVE_ENOMEM or CLEAVE_EINVAL. */
CLEAVE_API int cleave_ctx_new(cleave_ctx **out, struct uv_loop_s *loop, const cleave_options *opt);
/* Frees the context. Models and sessions created from it must be freed first, and its edges closed (their close
 * completed on the loop). */
CLEAVE_API void cleave_ctx_free(cleave_ctx *ctx);
/* The message of the last error returned by a call on ctx or on an object created from it ("" if none).
 * The string stays valid until the next failing call on the same context. */
CLEAVE_API const char *cleave_ctx_last_error(const cleave_ctx *ctx);

/* Number of devices the context can run on, and the name of device i ("ref", "cpu", ...). */
CLEAVE_API int cleave_ctx_device_count(const cleave_ctx *ctx);
CLEAVE_API const char *cleave_ctx_device_name(const cleave_ctx *ctx, int i);

/* ---- models ------------------------------------------------------------------------------------------- */

typedef struct cleave_model cleave_model;

/* Loads and validates an ONNX model: parses it, checks the graph (names, cycles, initializer sizes), infers
 * shapes, folds constant subgraphs and removes dead nodes. External data files are resolved relative to the
 * model's folder. Errors: CLEAVE_EIO, CLEAVE_ETRUNCATED, CLEAVE_EPARSE, CLEAVE_EMODEL, CLEAVE_ECYCLE,
 * CLEAVE_EUNSUPPORTED (an op no backend knows; the message names it), CLEAVE_ESHAPE, CLEAVE_EDTYPE,
 * CLEAVE_ELIMIT, CLEAVE_ENOMEM. */
CLEAVE_API int cleave_model_load(cleave_ctx *ctx, const char *path, cleave_model **out);
/* Same from memory. The bytes are not kept after the call; external data is resolved against base_dir
 * (NULL: external data is an error). */
CLEAVE_API int cleave_model_load_memory(cleave_ctx *ctx, const void *data, size_t size, const char *base_dir,
                             cleave_model **out);
CLEAVE_API void cleave_model_free(cleave_model *model);

/* Graph inputs (initializers excluded) and outputs. The returned tensor has data NULL and dims of -1 where the
 * model leaves a dimension symbolic; it stays valid as long as the model. NULL when i is out of range. */
CLEAVE_API int cleave_model_num_inputs(const cleave_model *model);
CLEAVE_API int cleave_model_num_outputs(const cleave_model *model);
CLEAVE_API const cleave_tensor *cleave_model_input(const cleave_model *model, int i);
CLEAVE_API const cleave_tensor *cleave_model_output(const cleave_model *model, int i);
/* The sha256 of the ONNX bytes the model was loaded from, 64 lower-case hex digits: the model's content address on
 * a cleave gateway (its version in the Open Inference Protocol). Owned by the model. */
CLEAVE_API const char *cleave_model_sha256(const cleave_model *model);
/* Number of nodes after folding and dead-node removal. */
CLEAVE_API int cleave_model_num_nodes(const cleave_model *model);

/* Writes the graph as text: one line per node with op, inputs, outputs, shapes, FLOPs and bytes moved.
 * Returns 0 or CLEAVE_EIO. */
CLEAVE_API int cleave_model_print(const cleave_model *model, FILE *f);

/* ---- sessions ----------------------------------------------------------------------------------------- */

typedef struct cleave_session_options cleave_session_options;

CLEAVE_API int cleave_session_options_new(cleave_session_options **out);
CLEAVE_API void cleave_session_options_free(cleave_session_options *opt);
/* The device to run on, by name: "cpu" (XNNPACK, the default), "ref" (portable reference kernels), ... The name
 * is copied.
 * Returns 0, CLEAVE_EINVAL or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_session_options_set_device(cleave_session_options *opt, const char *device);
/* Fixes a symbolic dimension (e.g. "batch" = 1) before planning. The name is copied. */
CLEAVE_API int cleave_session_options_set_dim(cleave_session_options *opt, const char *dim_name, int64_t value);
/* Records per-node timings on every run (cleave_result_profile()). Default off. */
CLEAVE_API void cleave_session_options_set_profiling(cleave_session_options *opt, int on);
/* Runs only part of the model: the session is fed the tensors named in inputs (graph inputs or intermediate
 * tensors) and hands back the tensors named in outputs (any tensors), running just the nodes between them. n = 0
 * keeps the model's own inputs (or outputs). This is how a model is cut for partial offload: one side computes
 * an intermediate tensor, the other continues from it. The names are copied. Errors at session creation:
 * CLEAVE_ENOTFOUND (no tensor of that name), CLEAVE_EMISSING (an output needs a model input that is not among
 * inputs), CLEAVE_EINVAL (a name given twice, a constant as an input). Returns 0, CLEAVE_EINVAL or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_session_options_set_inputs(cleave_session_options *opt, const char *const *names, int n);
CLEAVE_API int cleave_session_options_set_outputs(cleave_session_options *opt, const char *const *names, int n);

/* ---- hybrid sessions: options ------------------------------------------------------------------------- */

/* A session is hybrid when its options name several devices (cleave_session_options_set_devices) or add an edge:
 * its model is then planned across them by the cost model (partitioner), replanned as conditions change, and run
 * segment by segment, each on its device or edge (cleave_run). A session with one device and no edge runs
 * the whole model (or its cut) on that device, as before. Hybrid sessions run the whole model: the cut options
 * above must not be set. */

/* The local devices a hybrid session may use, by name (as cleave_session_options_set_device). The first is the
 * home device: the inputs come from it, the outputs arrive on it, and segments fall back to it when the edge
 * fails (to "cpu" when the home device cannot run one). Default: the device of set_device, else "cpu". The names are
 * copied. Returns 0, CLEAVE_EINVAL (n < 1 or more than 7, an empty name) or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_session_options_set_devices(cleave_session_options *opt, const char *const *names, int n);
/* Adds an edge the session may offload to (at most 8). The edge must be a cleave gateway (partial offload names
 * the model by its sha256; the gateway is sent the model when it lacks it), made on the same context, and must
 * outlive the session. profile: the edge's device profile (cleave_profile_load), used in place; NULL: the session
 * asks the gateway for it (GET /v2/cleave/profile) and plans without the edge until it has it. Returns 0 or
 * CLEAVE_EINVAL. */
CLEAVE_API int cleave_session_options_add_edge(cleave_session_options *opt, cleave_edge *edge,
                                               const struct cleave_profile *profile);
/* The profile a local device is planned with (used in place: it must outlive the session). Without one, the device
 * is measured once on first use (cleave_calibrate, about a second) and the figures are kept in the cache folder
 * ($CLEAVE_CACHE_DIR, else $XDG_CACHE_HOME/cleave, else ~/.cache/cleave) for the next sessions and processes.
 * Returns 0, CLEAVE_EINVAL or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_session_options_set_profile(cleave_session_options *opt, const char *device,
                                                  const struct cleave_profile *profile);
/* Where the session's work may run; overrides the context's mode (cleave_policy_set_mode) for this session.
 * Returns 0 or CLEAVE_EINVAL. */
CLEAVE_API int cleave_session_options_set_mode(cleave_session_options *opt, cleave_mode mode);
/* The weights the planner minimises w_latency * ms + w_energy * mJ + w_cost * cost with, instead of the policy's
 * (which still derates devices and forbids the edge when offline). All must be >= 0 and one > 0. Returns 0 or
 * CLEAVE_EINVAL. */
CLEAVE_API int cleave_session_options_set_weights(cleave_session_options *opt, double w_latency, double w_energy,
                                                  double w_cost);
/* A deadline for each run in ms (0: none, the default). It does not fail a late run: it bounds how long a run
 * waits for the edge before the work is hedged on the device (see cleave_run), and edge requests time out at
 * twice it. Returns 0 or CLEAVE_EINVAL. */
CLEAVE_API int cleave_session_options_set_deadline_ms(cleave_session_options *opt, double ms);
/* Privacy pins: tensors that never leave the device (the name is copied; at most 64). The model's own inputs are
 * pinned unless cleave_session_options_set_offload_inputs(opt, 1). Returns 0, CLEAVE_EINVAL, CLEAVE_ELIMIT or
 * CLEAVE_ENOMEM; an unknown name fails at session creation with CLEAVE_ENOTFOUND. */
CLEAVE_API int cleave_session_options_pin(cleave_session_options *opt, const char *tensor);
/* Whether the model's inputs may be sent to the edge as they are (default 0: they stay on the device, so the edge
 * only ever sees intermediate tensors). */
CLEAVE_API void cleave_session_options_set_offload_inputs(cleave_session_options *opt, int on);
/* Runs a session may have in flight at once (default 256, at most 65536); cleave_run beyond it returns
 * CLEAVE_EBUSY. Returns 0 or CLEAVE_EINVAL. */
CLEAVE_API int cleave_session_options_set_max_in_flight(cleave_session_options *opt, int n);
/* Hedging of late edge requests (default on): a segment sent to the edge that is still unanswered when its
 * predicted time has passed twice over (or when waiting longer would miss the deadline) is also run on the device;
 * the first answer wins and the other is canceled. Sessions in CLEAVE_MODE_ONLY_EDGE never hedge (an edge request
 * that fails still falls back to the device). */
CLEAVE_API void cleave_session_options_set_hedging(cleave_session_options *opt, int on);

typedef struct cleave_session cleave_session;

/* Creates a session that runs model on the chosen device. The model must outlive the session. Fails with
 * CLEAVE_ENODEVICE for an unknown device and CLEAVE_EUNSUPPORTED if the device cannot run a node (the
 * message names the node, its op and the reason). opt may be NULL. */
CLEAVE_API int cleave_session_new(cleave_ctx *ctx, cleave_model *model, const cleave_session_options *opt,
                       cleave_session **out);
CLEAVE_API void cleave_session_free(cleave_session *s);
/* The tensors the session is fed and hands back (the model's own unless the options cut it), as metadata: data
 * NULL, dims -1 where unknown or symbolic, ndim -1 when even the rank is unknown. Valid as long as the session;
 * NULL when i is out of range. */
CLEAVE_API int cleave_session_num_inputs(const cleave_session *s);
CLEAVE_API int cleave_session_num_outputs(const cleave_session *s);
CLEAVE_API const cleave_tensor *cleave_session_input(const cleave_session *s, int i);
CLEAVE_API const cleave_tensor *cleave_session_output(const cleave_session *s, int i);

/* ---- results ------------------------------------------------------------------------------------------ */

typedef struct cleave_result cleave_result;

/* One profiled node: name, op, device and wall time of its last run. */
typedef struct cleave_node_profile {
  const char *node;
  const char *op;
  const char *device;
  double ms;
} cleave_node_profile;

/* Number of outputs and output i. The tensor and its data belong to the result; its name belongs to the model,
 * which must outlive the result. */
CLEAVE_API int cleave_result_num_outputs(const cleave_result *r);
CLEAVE_API const cleave_tensor *cleave_result_output(const cleave_result *r, int i);
/* Output by name, or NULL. */
CLEAVE_API const cleave_tensor *cleave_result_find(const cleave_result *r, const char *name);
/* Wall time of the whole run in milliseconds. */
CLEAVE_API double cleave_result_ms(const cleave_result *r);
/* Per-node timings; *n receives the count (0 unless profiling was on). Owned by the result. */
CLEAVE_API const cleave_node_profile *cleave_result_profile(const cleave_result *r, int *n);
CLEAVE_API void cleave_result_free(cleave_result *r);

/* Where one segment of a run went and what it cost. Times are in ms from the moment the run was submitted. */
typedef struct cleave_segment_report {
  const char *where;     /* the device's name ("cpu", "gpu") or the edge's URL; owned by the result */
  int on_edge;           /* 1: the edge computed it */
  int n_nodes;           /* nodes of the model in the segment */
  double ready_ms;       /* its inputs were all there */
  double start_ms;       /* its device began it (local), or its request was sent (edge) */
  double end_ms;         /* its outputs were there */
  double queue_ms;       /* waiting for its device (local), or in the edge's queue as the edge reported it */
  double compute_ms;     /* running on its device, or on the edge as the edge reported it (0 if it did not) */
  double transfer_ms;    /* edge only: the rest of the request's time: uploads, downloads, round trips */
  double predicted_ms;   /* what the cost model predicted for compute (local) or the whole request (edge) */
  uint64_t bytes_up;     /* tensors sent to the edge */
  uint64_t bytes_down;   /* tensors received from it */
  double energy_mj;      /* estimated device energy: compute on a local device, radio for the edge */
  int fallback;          /* 1: planned for the edge, ran here because the edge failed (error in why) */
  int hedged;            /* 1: a local copy raced a late edge request; this report is the one that won */
  const char *why;       /* for fallbacks: the edge's error message; else NULL */
} cleave_segment_report;

/* The placement of a whole run. */
typedef struct cleave_placement {
  const char *plan; /* the plan's name: "local:cpu", "edge", "cut:cpu|edge", "kway", ... */
  int n_segments;
  const cleave_segment_report *segments; /* in the plan's order (a segment's inputs come from earlier ones) */
  int fallbacks;                         /* segments that fell back from the edge to a device */
  int hedges;                            /* segments that were hedged */
  double predicted_ms;                   /* the plan's predicted latency */
  double energy_mj;                      /* the sum of the segments' estimates */
} cleave_placement;

/* How the run was placed, segment by segment; owned by the result. Every result of a run has one (a run of a
 * single-device session has one segment). NULL for results that no run made. */
CLEAVE_API const cleave_placement *cleave_result_placement(const cleave_result *r);

/* Runs the model on inputs (matched by name; order does not matter) and waits for the result. Inputs are read
 * during the call only. A session on one device runs on the calling thread; a hybrid session runs as cleave_run
 * does and drives the context's loop until the result is there: the context's own loop when the host gave none,
 * else the host's, which must then not be running (libuv loops are not re-entrant: from a callback on that loop,
 * use cleave_run). Errors: CLEAVE_ENOTFOUND (an input name the model lacks), CLEAVE_EMISSING (a model input
 * not given), CLEAVE_EDTYPE, CLEAVE_ESHAPE, CLEAVE_EINVAL (nbytes disagrees with dims), CLEAVE_ERANGE (an index
 * out of bounds in the data), CLEAVE_ENOMEM. On error *out is NULL. */
CLEAVE_API int cleave_run_sync(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_result **out);

/* Like cleave_run_sync, but reuses a result: if *result is NULL a new one is created, else *result must come from
 * an earlier run of the same session and its output buffers are reused where large enough. Running again with
 * inputs of the same shapes then allocates nothing (on devices that plan their memory, such as "cpu"). On error
 * a reused result stays owned by the caller with no outputs; a new one is freed and *result left NULL. The
 * result is not thread-safe: one run at a time per session. Errors as cleave_run_sync, and CLEAVE_EINVAL for a
 * result of another session. */
CLEAVE_API int cleave_run_into(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs,
                               cleave_result **result);

/* ---- asynchronous runs -------------------------------------------------------------------------------- */

/* One run in flight. Owned by the library; valid until its callback returns. */
typedef struct cleave_run_req cleave_run_req;

/* Called once per accepted run, on the loop thread: status 0 and a result (owned by the receiver: free it with
 * cleave_result_free), or a negative CLEAVE_E* code and NULL, with the reason in cleave_run_req_error(req).
 * Local failures keep their codes (CLEAVE_ESHAPE, ...); an edge's failure never reaches the callback: the segment
 * runs on the device instead, and the result's placement says so. */
typedef void (*cleave_run_cb)(cleave_run_req *req, int status, cleave_result *result);

/* Runs the session on inputs without waiting, on the context's loop (the host's, given to cleave_ctx_new):
 * segments go to the executor thread of their device or to their edge as the plan of the moment says, several
 * runs may be in flight at once (up to the session's max_in_flight), and cb(req, ...) runs exactly once, on the
 * loop thread, never from inside this call. The input descriptors are copied, but not their data: it must stay
 * valid and unchanged until the callback (as libuv's write buffers). user is passed back through
 * cleave_run_req_user(). On success *req (if req is not NULL) identifies the run until its callback returns.
 * Errors (the callback then never runs): CLEAVE_EINVAL (a NULL argument, a context without a loop),
 * CLEAVE_EBUSY (max_in_flight runs in flight), the validation errors of cleave_run_sync, CLEAVE_EINFEASIBLE (no
 * placement satisfies the session's constraints; the message names the one) and CLEAVE_ENOMEM.
 * Loop thread only. */
CLEAVE_API int cleave_run(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_run_cb cb,
                          void *user, cleave_run_req **req);
/* Cancels a run: work not started is dropped, edge requests are reset, and the callback runs (later, on the loop)
 * with CLEAVE_ECANCELED, unless the run had already finished. Returns 0, or CLEAVE_EINVAL when req is NULL.
 * Loop thread only. */
CLEAVE_API int cleave_run_cancel(cleave_run_req *req);
/* The user pointer given to cleave_run. */
CLEAVE_API void *cleave_run_req_user(const cleave_run_req *req);
/* What went wrong with the run ("" when it succeeded); owned by req. */
CLEAVE_API const char *cleave_run_req_error(const cleave_run_req *req);

#ifdef __cplusplus
}
#endif
#endif
