/* partitioner: placement as graph cuts on an abstract cost graph (private).
 *
 * The cost graph has nodes (one per IR node) with a cost per device, and tensors with one producer (a node, or
 * -1 for a graph input, which lives on the home device), their consumers, and a flag for graph outputs, which
 * must reach the home device. Moving a tensor from device a to b costs xfer_fixed[a][b] + xfer_byte[a][b] *
 * bytes. A tensor crosses to each device that consumes it once, however many consumers it has there:
 *
 *   cost(assign) = sum_n unary[n][assign[n]]
 *                + sum_t sum_{d in dests(t), d != src(t)} xfer(t, src(t), d)
 *
 * where dests(t) is the set of devices of t's consumers (plus home for outputs). Two devices: exact minimum by
 * one min-cut (DADS-style, with an auxiliary vertex per tensor with several consumers so that it is cut once).
 * More devices: alpha-expansion, each move a min-cut over a graph whose cut cost equals the move's true cost at
 * the current labelling and bounds it from above elsewhere, so that every accepted move lowers the true cost. */
#ifndef CLEAVE_PARTITIONER_CUT_H
#define CLEAVE_PARTITIONER_CUT_H

#include "core/ir/ctx.h"

#define CL_CUT_MAX_DEVICES 8

typedef struct cl_pgraph {
  int n_nodes;
  int n_dev;
  int home;      /* device of the graph inputs and destination of the outputs */
  double *unary; /* [n_nodes * n_dev]: cost of node n on device d; INFINITY: not allowed there */
  int n_tensors;
  int *producer; /* [n_tensors]: node, or -1 (graph input, on home) */
  bool *to_home; /* [n_tensors]: graph output */
  double *bytes; /* [n_tensors] */
  int *cons_off; /* [n_tensors + 1]: consumers of t are cons[cons_off[t] .. cons_off[t+1]) (distinct) */
  int *cons;
  double xfer_fixed[CL_CUT_MAX_DEVICES][CL_CUT_MAX_DEVICES]; /* diagonal unused */
  double xfer_byte[CL_CUT_MAX_DEVICES][CL_CUT_MAX_DEVICES];
} cl_pgraph;

/* Allocates the arrays of a cost graph of n_nodes, n_dev devices, n_tensors tensors and n_cons consumer slots in
 * total (all zero). Returns 0 or CLEAVE_ENOMEM. */
int cl_pgraph_alloc(cleave_ctx *ctx, cl_pgraph *pg, int n_nodes, int n_dev, int n_tensors, int n_cons);
void cl_pgraph_free(cleave_ctx *ctx, cl_pgraph *pg);

static inline double cl_pg_xfer(const cl_pgraph *pg, int t, int a, int b) {
  return a == b ? 0 : pg->xfer_fixed[a][b] + pg->xfer_byte[a][b] * pg->bytes[t];
}

/* The cost of a full assignment (INFINITY if a node sits where it is not allowed). */
double cl_pgraph_cost(const cl_pgraph *pg, const int *assign);

/* An arc of the flow network. An arc, its reverse and its successor share a cache line as often as can be. */
struct cl_cut_arc {
  double cap; /* residual capacity */
  int to;     /* head vertex */
  int next;   /* next arc out of the same tail, or -1 */
};

/* Reusable working memory of the cut algorithms (the flow network and the max-flow's search trees), so that
 * replanning allocates nothing once warm. Zero-initialise, then release with cl_cut_work_free(). */
typedef struct cl_cut_work {
  int n_v, cap_v, n_e, cap_e;
  int *head;                                 /* per vertex: its first arc */
  struct cl_cut_arc *arc;                    /* arc e runs from arc[e ^ 1].to to arc[e].to, e ^ 1 being its reverse */
  int *parent, *ts, *dist, *active, *orphan; /* Boykov-Kolmogorov search trees, per vertex */
  unsigned char *tree, *queued;
  int *vmap, *lab; /* per node: its vertex in the move's network; scratch labelling */
  int lab_cap;
  long maxflows; /* max-flow runs so far (statistics) */
} cl_cut_work;

void cl_cut_work_free(cleave_ctx *ctx, cl_cut_work *w);

/* Exact two-device placement: every node on device a or device b (others forbidden), minimising
 * cl_pgraph_cost. assign receives the labelling; *cost its cost (INFINITY and CLEAVE_EINFEASIBLE when no
 * labelling over {a, b} is finite). Returns 0, CLEAVE_EINFEASIBLE or CLEAVE_ENOMEM. */
int cl_cut_two(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, int a, int b, int *assign, double *cost);

/* k-way by alpha-expansion from assign (which must have a finite cost, or be all -1 to start from the best
 * single device or, failing that, each node's cheapest device). allowed_mask selects the labels used (bit d for
 * device d). settled marks labels whose move from assign the caller knows cannot lower the cost (for example
 * both labels of an exact two-way cut that assign is at least as good as); they are skipped until another move
 * changes the labelling. Stops when a full cycle over the labels improves nothing (at most max_cycles cycles).
 * assign holds the result; *cost its cost. Returns 0, CLEAVE_EINFEASIBLE or CLEAVE_ENOMEM. */
int cl_cut_expand(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, unsigned allowed_mask, unsigned settled,
                  int max_cycles, int *assign, double *cost);

/* One expansion move: the best labelling in which each node keeps its label in assign or takes alpha (exact
 * when only two labels are in play). On return assign holds it. Returns 0 or CLEAVE_ENOMEM. */
int cl_cut_move(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, int alpha, int *assign);

#endif
