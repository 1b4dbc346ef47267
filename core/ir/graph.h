/* core: the graph IR (private).
 *
 * Values and nodes have integer ids (indices). Every value has one producer (a node id, or -1 for graph inputs and
 * constants) and a list of consumer node ids. Nodes are kept in topological order. All memory of a graph lives in
 * its arena and goes with cl_graph_free(). */
#ifndef CLEAVE_CORE_GRAPH_H
#define CLEAVE_CORE_GRAPH_H

#include "core/ir/arena.h"
#include "core/ir/tensor.h"

/* ONNX AttributeProto.AttributeType */
enum {
  CL_ATTR_FLOAT = 1,
  CL_ATTR_INT = 2,
  CL_ATTR_STRING = 3,
  CL_ATTR_TENSOR = 4,
  CL_ATTR_GRAPH = 5,
  CL_ATTR_FLOATS = 6,
  CL_ATTR_INTS = 7,
  CL_ATTR_STRINGS = 8
};

typedef struct cl_attr {
  const char *name;
  int type;
  int64_t i;
  float f;
  const char *s; /* NUL-terminated copy */
  size_t s_len;
  const int64_t *ints;
  const float *floats;
  int n; /* element count of ints / floats / strings */
  const char *const *strings;
  const cl_tensor *t;
} cl_attr;

typedef struct cl_value {
  const char *name;
  int dtype;
  cl_shape shape;
  int producer; /* node id, -1 for graph inputs and constants */
  int *consumers;
  int n_consumers;
  cl_tensor *konst; /* constant data: initializer or folded; NULL otherwise */
  bool is_input;    /* a graph input the caller feeds */
  bool is_output;   /* a graph output */
} cl_value;

struct cl_op_schema;

typedef struct cl_node {
  const char *name; /* never NULL; generated ("<op>_<index>") when the model has none */
  const char *op;
  const char *domain;
  const struct cl_op_schema *schema;
  int *in; /* value ids; -1 for an omitted optional input */
  int n_in;
  int *out; /* value ids; -1 for an omitted optional output */
  int n_out;
  cl_attr *attrs;
  int n_attrs;
} cl_node;

typedef struct cl_graph {
  cleave_ctx *ctx;
  cl_arena arena;
  int opset;  /* default-domain opset version */
  cl_value *values;
  int n_values, cap_values;
  int *name_index; /* open-addressing hash of value names -> id + 1 (0: empty); cap is a power of two */
  int name_index_cap;
  cl_node *nodes;
  int n_nodes, cap_nodes;
  int *inputs; /* value ids of graph inputs (not constants), in model order */
  int n_inputs;
  int *outputs; /* value ids of graph outputs, in model order */
  int n_outputs;
  char **symbols; /* names of symbolic dims; CL_SYM_DIM(i) is symbols[i] */
  int n_symbols, cap_symbols;
} cl_graph;

int cl_graph_init(cl_graph *g, cleave_ctx *ctx);
void cl_graph_free(cl_graph *g);

/* Adds a value (name copied into the arena); returns its id or a negative error. */
int cl_graph_add_value(cl_graph *g, const char *name);
int cl_graph_find_value(const cl_graph *g, const char *name); /* id or -1 */
/* Symbol id for name, added if new; negative error on allocation failure. */
int cl_graph_symbol(cl_graph *g, const char *name);

/* Rebuilds producers and consumer lists from the nodes; checks that each value has at most one producer and that
 * no node reads a value nobody defines. Returns 0, CLEAVE_EMODEL or CLEAVE_ENOMEM. */
int cl_graph_link(cl_graph *g);
/* Reorders nodes topologically (stable). Returns 0, CLEAVE_ECYCLE (the message names a node on the cycle) or
 * CLEAVE_ENOMEM. Requires cl_graph_link(). */
int cl_graph_toposort(cl_graph *g);
/* Infers dtypes and shapes of every node output, in order. Returns 0 or the first node's error. */
int cl_graph_infer(cl_graph *g);
/* Evaluates every node whose inputs are all constant (with the reference kernels) and turns its outputs into
 * constants, then removes nodes whose outputs nobody needs. Returns 0 or an error. */
int cl_graph_fold(cl_graph *g);
int cl_graph_remove_dead(cl_graph *g);
/* Gives graph input `name` the static shape dims, then infers shapes again and folds what became constant (Shape
 * chains), so that every node's cost is known. Errors: CLEAVE_ENOTFOUND (no such input), CLEAVE_ESHAPE (rank or
 * a fixed dim disagrees with the model), the inference's errors. */
int cl_graph_fix_input_shape(cl_graph *g, const char *name, int ndim, const int64_t *dims);

/* Total bytes of a value's static shape and dtype, or -1 if not static. */
int64_t cl_value_bytes(const cl_graph *g, int v);

/* Attribute lookup; NULL/default when absent. */
const cl_attr *cl_node_attr(const cl_node *n, const char *name);
int64_t cl_attr_int(const cl_node *n, const char *name, int64_t def);
float cl_attr_float(const cl_node *n, const char *name, float def);
const char *cl_attr_str(const cl_node *n, const char *name, const char *def);
/* Number of ints (or floats) and pointer to them; -1 and NULL when absent. */
int cl_attr_ints(const cl_node *n, const char *name, const int64_t **vals);
int cl_attr_floats(const cl_node *n, const char *name, const float **vals);

/* Records an error about node n: "node 'name' (Op): <message>". Returns code. */
int cl_node_err(cleave_ctx *ctx, const cl_node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
