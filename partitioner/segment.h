/* partitioner: compiling an assignment into an acyclic segment DAG (private).
 *
 * A node's level is the largest level of its producers, plus one across a change of device. Nodes of one device
 * and one level form a segment. Every edge between segments then goes from a lower level to a strictly higher
 * one, so the segment graph is acyclic for any assignment, and a chain of same-device nodes stays in one
 * segment (maximal regions), split only where a path through another device would close a cycle. */
#ifndef CLEAVE_PARTITIONER_SEGMENT_H
#define CLEAVE_PARTITIONER_SEGMENT_H

#include "partitioner/placement.h"

/* Builds the segments of assign (node id -> device index) into *out (n_out segments, topological order: every
 * dependency has a smaller index). compute/start/end times are left 0. Returns 0 or CLEAVE_ENOMEM. */
int cl_segments_build(cleave_ctx *ctx, const cl_graph *g, const int *assign, cl_plan_segment **out, int *n_out);
void cl_segments_free(cleave_ctx *ctx, cl_plan_segment *segs, int n);

#endif
