/* core: the model and session objects (private). */
#ifndef CLEAVE_CORE_MODEL_H
#define CLEAVE_CORE_MODEL_H

#include "core/graph.h"

struct cleave_model {
  cleave_ctx *ctx;
  cl_graph graph;
  cleave_tensor *inputs; /* metadata views of the graph's inputs and outputs */
  cleave_tensor *outputs;
  char sha256[65]; /* of the ONNX bytes it was loaded from: its content address on a gateway */
  char *path;      /* the file it was loaded from, NULL when loaded from memory */
};

/* Checks inputs as a run of s would (names, dtypes, shapes, sizes), without running. 0 or the run's error. */
int cl_session_check_inputs(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs);
/* A result holding copies of n tensors (names and data) that no session made (an edge's answer). */
int cl_result_from_tensors(cleave_ctx *ctx, const cleave_tensor *t, int n, double ms, cleave_result **out);
/* The model a session runs. */
cleave_model *cl_session_model(const cleave_session *s);

#endif
