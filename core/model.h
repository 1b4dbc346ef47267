/* core: the model and session objects (private). */
#ifndef CLEAVE_CORE_MODEL_H
#define CLEAVE_CORE_MODEL_H

#include "core/graph.h"

struct cleave_model {
  cleave_ctx *ctx;
  cl_graph graph;
  cleave_tensor *inputs; /* metadata views of the graph's inputs and outputs */
  cleave_tensor *outputs;
};

/* Checks inputs as a run of s would (names, dtypes, shapes, sizes), without running. 0 or the run's error. */
int cl_session_check_inputs(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs);
/* The model a session runs. */
cleave_model *cl_session_model(const cleave_session *s);

#endif
