/* core: sessions and their options (private). */
#ifndef CLEAVE_CORE_SESSION_H
#define CLEAVE_CORE_SESSION_H

#include "core/engine.h"

#define CL_SESSION_MAX_DIMS CL_PROGRAM_MAX_DIMS

typedef struct cl_name_list {
  char **names;
  int n;
} cl_name_list;

struct cleave_session_options {
  char *device;
  int n_dims;
  char *dim_names[CL_SESSION_MAX_DIMS];
  int64_t dim_values[CL_SESSION_MAX_DIMS];
  int profiling;
  cl_name_list cut_in, cut_out; /* empty: the model's own inputs / outputs */
  /* hybrid sessions */
  cl_name_list devices;
  struct {
    cleave_edge *edge;
    const cleave_profile *profile;
  } edges[CL_HYBRID_MAX_EDGES];
  int n_edges;
  struct {
    char *device;
    const cleave_profile *profile;
  } profiles[CL_HYBRID_MAX_LOCAL];
  int n_profiles;
  int mode; /* -1: the context's */
  double w[3];
  bool weights;
  double deadline_ms;
  cl_name_list pins;
  bool offload_inputs;
  int max_in_flight;
  bool no_hedging;
};

struct cleave_session {
  cleave_ctx *ctx;
  cleave_model *model;
  cl_program *prog; /* one device: the session's cut, compiled for it; hybrid: NULL */
  cl_hybrid *hybrid;
  int plain_dev;               /* one device: its engine index once an asynchronous run needed one, else -1 */
  struct cleave_run_req *runs; /* one device: asynchronous runs in flight */
};

/* Whether opt asks for a hybrid session (several devices, or an edge). */
bool cl_session_options_hybrid(const cleave_session_options *opt);

#endif
