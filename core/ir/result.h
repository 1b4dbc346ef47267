/* core/ir: results (private): the tensors a run hands back, its per-node timings and its placement.
 *
 * A result owns the data of its outputs (data[i], cap[i] bytes held) and every string its placement names. Device
 * runs fill one in place and may reuse its buffers on the next run of the same owner (cl_exec_output); runs that
 * assemble outputs from parts (the engine, an edge's answer) move buffers in without copying them. */
#ifndef CLEAVE_CORE_IR_RESULT_H
#define CLEAVE_CORE_IR_RESULT_H

#include "core/ir/tensor.h"

#define CL_WHERE_MAX 256

struct cleave_result {
  cleave_ctx *ctx;
  const void *owner; /* the program or session whose runs may reuse this result */
  int n_outputs;
  cleave_tensor *outputs;
  cl_tensor *data; /* owns the output data */
  size_t *cap;     /* bytes held by data[i] */
  int n_data;
  double ms;
  /* what an edge reported of its answer (Server-Timing): the request's arrival there (its upload), its queue and
   * its run; -1: unknown */
  double edge_recv_ms, edge_queue_ms, edge_compute_ms;
  cleave_node_profile *profile;
  int n_profile, cap_profile;
  char **names; /* owned output names (NULL: the names belong to the model) */
  bool has_placement;
  cleave_placement placement;
  cleave_segment_report *seg;  /* placement.segments */
  char (*where)[CL_WHERE_MAX]; /* per segment: its where text */
  char **why;                  /* per segment: its fallback message, or NULL */
  int cap_seg;
  char plan[48];
};

/* A result for n_data outputs with room for n_profile node timings (0: none), reusable by owner's runs. NULL when
 * out of memory. */
cleave_result *cl_result_new(cleave_ctx *ctx, const void *owner, int n_data, int n_profile);
/* A result holding copies of n tensors (names and data) that no run made (an edge's answer). */
int cl_result_from_tensors(cleave_ctx *ctx, const cleave_tensor *t, int n, double ms, cleave_result **out);
/* Moves t (dtype, dims and an aligned buffer from cl_tensor_alloc, cap bytes held) in as output i, named name (not
 * copied: it must outlive the result), releasing what data[i] held before; t is left empty. */
void cl_result_take(cleave_result *r, int i, const char *name, cl_tensor *t, size_t cap);
/* Publishes data[0..n) as the outputs, named names[i] (not copied). */
void cl_result_publish(cleave_result *r, int n, const char *const *names);
/* Room for n segment reports in the placement (zeroed, with plan as its name). Returns 0 or CLEAVE_ENOMEM. */
int cl_result_placement(cleave_result *r, const char *plan, int n);
/* Sets segment i's where text and fallback message (either may be NULL), copying them. Returns 0 or
 * CLEAVE_ENOMEM. */
int cl_result_segment_text(cleave_result *r, int i, const char *where, const char *why);

#endif
