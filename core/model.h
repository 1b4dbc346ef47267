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

#endif
