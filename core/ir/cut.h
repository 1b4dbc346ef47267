/* core: the minimal subgraph between given values (private).
 *
 * A cut names the values a run is fed (graph inputs or intermediate tensors) and the values it must produce (any
 * tensors). Its nodes are exactly those that lie on a path from the fed values or constants to the wanted ones:
 * walking back from each wanted value, the walk stops at a fed value or a constant. A fed value may also be wanted:
 * it passes through. */
#ifndef CLEAVE_CORE_CUT_H
#define CLEAVE_CORE_CUT_H

#include "core/ir/graph.h"

/* Fills nodes (room for g->n_nodes) with the ids of the nodes that compute outs from ins, in topological order, and
 * *n_nodes with their count. Errors (with the names in the message): CLEAVE_EINVAL for a value given twice or a
 * constant named as an input; CLEAVE_EMISSING when an output needs a graph
 * input that is not among ins; CLEAVE_ENOMEM. */
int cl_graph_cut(cleave_ctx *ctx, const cl_graph *g, const int *ins, int n_ins, const int *outs, int n_outs,
                 int *nodes, int *n_nodes);

#endif
