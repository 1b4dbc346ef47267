/* partitioner: per-node cost from the IR's shapes (private). */
#ifndef CLEAVE_PARTITIONER_COST_H
#define CLEAVE_PARTITIONER_COST_H

#include "core/ir/graph.h"

typedef struct cl_node_cost {
  double flops; /* floating-point (or integer) operations, multiply-add = 2 */
  double bytes; /* bytes read (inputs, weights) plus bytes written (outputs) */
  bool known;   /* false when a shape is not static */
} cl_node_cost;

void cl_cost_node(const cl_graph *g, const cl_node *n, cl_node_cost *out);

#endif
