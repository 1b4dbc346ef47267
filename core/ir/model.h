/* core/ir: the model object (private): a loaded, checked and folded graph with its metadata. Immutable once
 * loaded, so that any thread may read it. */
#ifndef CLEAVE_CORE_IR_MODEL_H
#define CLEAVE_CORE_IR_MODEL_H

#include "core/ir/graph.h"

struct cleave_model {
  cleave_ctx *ctx;
  cl_graph graph;
  cleave_tensor *inputs; /* metadata views of the graph's inputs and outputs */
  cleave_tensor *outputs;
  char sha256[65]; /* of the ONNX bytes it was loaded from: its content address on a gateway */
  char *path;      /* the file it was loaded from, NULL when loaded from memory */
};

/* Metadata views of values ids[0..n) of g (cleave_model_input() and cleave_session_input() describe tensors this
 * way): dims -1 where unknown or symbolic, with the symbol's name; ndim -1 when the rank is unknown. *out is
 * allocated from ctx (n + 1 entries). Returns 0 or CLEAVE_ENOMEM. */
int cl_tensor_meta(cleave_ctx *ctx, const cl_graph *g, const int *ids, int n, cleave_tensor **out);

#endif
