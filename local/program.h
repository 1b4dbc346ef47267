/* local: programs, a cut of a model compiled for one device (private).
 *
 * A program is fed the values it names as inputs (graph inputs or intermediate tensors) and hands back the values
 * it names as outputs, running exactly the nodes between them (core/ir/cut.h). It validates what it is fed (names,
 * dtypes, shapes against the model and the fixed symbolic dims, byte counts) and runs into a result whose buffers
 * the next run reuses. Public sessions, the engine's segments, the gateway's cuts and the calibrator all run
 * through this one mechanism.
 *
 * Two phases: cl_program_new() resolves the cut and its metadata (enough to validate requests), and
 * cl_program_compile() builds the device's executable. Threads: a program may be run from any thread; runs of one
 * program are serialised by its own lock (a device's executable has scratch state of its own), so a synchronous
 * run from the loop thread and an executor's run never interleave. */
#ifndef CLEAVE_LOCAL_PROGRAM_H
#define CLEAVE_LOCAL_PROGRAM_H

#include <pthread.h>

#include "core/ir/model.h"
#include "core/ir/result.h"
#include "local/device.h"

#define CL_PROGRAM_MAX_NAMES 1024
#define CL_PROGRAM_MAX_DIMS 16

/* What to cut: the values fed and handed back, as value ids or, where the ids are NULL, by name (n = 0: the model's
 * own); dims fix symbolic dimensions by name. */
typedef struct cl_program_spec {
  const int *inputs;
  const char *const *input_names;
  int n_inputs;
  const int *outputs;
  const char *const *output_names;
  int n_outputs;
  const char *const *dim_names;
  const int64_t *dim_values;
  int n_dims;
  bool profiling; /* per-node timings in every result */
} cl_program_spec;

typedef struct cl_program {
  cleave_ctx *ctx;
  const cleave_model *model;
  int *nodes;
  int n_nodes;
  int *in_ids, *out_ids; /* the values the program is fed and hands back */
  int n_in, n_out;
  const char **out_names; /* the outputs' names, in order */
  cleave_tensor *in_meta, *out_meta;
  int64_t *sym_fixed; /* per symbol: value fixed by the spec, or -1 */
  bool profiling;
  /* after cl_program_compile */
  const cl_device_iface *dev;
  void *dev_state;
  bool own_state; /* dev_state was created for this program */
  void *exe;
  /* run scratch, allocated once so that a run with a reused result allocates nothing; guarded by mu */
  pthread_mutex_t mu;
  cl_tensor *in;
  bool *given;
  int64_t *sym_seen;
  cl_exec_timing *timings;
} cl_program;

/* Value ids of names (n of them), or of the model's own inputs (in) or outputs when n is 0, into *ids (allocated
 * from ctx) and *n_ids. Errors: CLEAVE_ENOTFOUND (the message names the tensor), CLEAVE_EINVAL (a name given twice,
 * too many), CLEAVE_ENOMEM. */
int cl_program_ids(cleave_ctx *ctx, const cl_graph *g, const char *const *names, int n, bool in, int **ids,
                   int *n_ids);

/* Resolves the cut of model that spec names. model must outlive the program. Errors: CLEAVE_ENOTFOUND (a tensor or
 * a symbolic dim the model lacks), CLEAVE_EINVAL (a name given twice), those of cl_graph_cut (CLEAVE_EINVAL,
 * CLEAVE_EMISSING), CLEAVE_ENOMEM. */
int cl_program_new(cleave_ctx *ctx, const cleave_model *model, const cl_program_spec *spec, cl_program **out);
/* Compiles the program for dev, on dev_state when it is not NULL (shared: the caller keeps it alive and frees it
 * after the program), else on a state of the program's own. Errors: CLEAVE_EUNSUPPORTED (the message names the
 * node, its op and the device's reason), the device's errors. */
int cl_program_compile(cl_program *p, const cl_device_iface *dev, void *dev_state);
void cl_program_free(cl_program *p);

/* Checks inputs as a run would, without running. 0 or the run's error. */
int cl_program_check(cl_program *p, const cleave_tensor *inputs, size_t n_inputs);
/* Runs a compiled program: the semantics of cleave_run_into (inputs matched by name; *result NULL or a result of
 * an earlier run of p, reused). The result's outputs are named after the model's values. */
int cl_program_run(cl_program *p, const cleave_tensor *inputs, size_t n_inputs, cleave_result **result);

#endif
