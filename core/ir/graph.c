/* core: graph IR construction, linking, topological order, attributes. */
#include "core/ir/graph.h"

#include <stdio.h>
#include <string.h>

#include "core/ir/ops.h"

int cl_graph_init(cl_graph *g, cleave_ctx *ctx) {
  memset(g, 0, sizeof *g);
  g->ctx = ctx;
  cl_arena_init(&g->arena, ctx);
  return 0;
}

void cl_graph_free(cl_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_values; i++) {
    cl_free(g->ctx, g->values[i].consumers);
    if (g->values[i].konst) {
      cl_tensor_release(g->ctx, g->values[i].konst);
      cl_free(g->ctx, g->values[i].konst);
    }
  }
  cl_free(g->ctx, g->values);
  cl_free(g->ctx, g->name_index);
  cl_free(g->ctx, g->nodes);
  cl_free(g->ctx, g->symbols);
  cl_arena_free(&g->arena);
  memset(g, 0, sizeof *g);
}

static int grow(cleave_ctx *ctx, void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int ncap = *cap ? *cap * 2 : 64;
  while (ncap < need) ncap *= 2;
  size_t bytes;
  if (cl_mul_size((size_t)ncap, elem, &bytes)) return CLEAVE_ENOMEM;
  void *p = cl_realloc(ctx, *arr, bytes);
  if (!p) return CLEAVE_ENOMEM;
  memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
  *arr = p;
  *cap = ncap;
  return 0;
}

static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  while (*s) h = (h ^ (uint8_t)*s++) * 16777619u;
  return h;
}

/* Slot of name in the index: where it is, or the empty slot where it would go. */
static int index_slot(const cl_graph *g, const char *name) {
  uint32_t mask = (uint32_t)g->name_index_cap - 1, i = name_hash(name) & mask;
  while (g->name_index[i] && strcmp(g->values[g->name_index[i] - 1].name, name) != 0) i = (i + 1) & mask;
  return (int)i;
}

static int index_grow(cl_graph *g) {
  int cap = g->name_index_cap ? g->name_index_cap * 2 : 256;
  int *idx = cl_calloc(g->ctx, (size_t)cap, sizeof(int));
  if (!idx) return CLEAVE_ENOMEM;
  cl_free(g->ctx, g->name_index);
  g->name_index = idx;
  g->name_index_cap = cap;
  for (int v = 0; v < g->n_values; v++) g->name_index[index_slot(g, g->values[v].name)] = v + 1;
  return 0;
}

int cl_graph_add_value(cl_graph *g, const char *name) {
  if (grow(g->ctx, (void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(cl_value)) ||
      ((g->n_values + 1) * 2 > g->name_index_cap && index_grow(g)))
    return cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory adding value");
  cl_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = cl_arena_strdup(&g->arena, name);
  if (!v->name) return cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory adding value");
  v->producer = -1;
  v->shape.ndim = -1;
  int slot = index_slot(g, name);
  if (!g->name_index[slot]) g->name_index[slot] = g->n_values + 1; /* a duplicate name keeps its first id */
  return g->n_values++;
}

int cl_graph_find_value(const cl_graph *g, const char *name) {
  if (!g->name_index_cap) return -1;
  return g->name_index[index_slot(g, name)] - 1;
}

int cl_graph_symbol(cl_graph *g, const char *name) {
  for (int i = 0; i < g->n_symbols; i++)
    if (strcmp(g->symbols[i], name) == 0) return i;
  if (grow(g->ctx, (void **)&g->symbols, &g->cap_symbols, g->n_symbols + 1, sizeof(char *)))
    return CLEAVE_ENOMEM;
  char *s = cl_arena_strdup(&g->arena, name);
  if (!s) return CLEAVE_ENOMEM;
  g->symbols[g->n_symbols] = s;
  return g->n_symbols++;
}

int cl_graph_link(cl_graph *g) {
  for (int v = 0; v < g->n_values; v++) {
    cl_free(g->ctx, g->values[v].consumers);
    g->values[v].consumers = NULL;
    g->values[v].n_consumers = 0;
    g->values[v].producer = -1;
  }
  int *count = cl_calloc(g->ctx, (size_t)g->n_values + 1, sizeof(int));
  if (!count) return cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory linking graph");
  int rc = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const cl_node *n = &g->nodes[i];
    for (int j = 0; j < n->n_out; j++) {
      int v = n->out[j];
      if (v < 0) continue;
      cl_value *val = &g->values[v];
      if (val->producer >= 0 || val->konst || val->is_input) {
        rc = cl_node_err(g->ctx, n, CLEAVE_EMODEL, "output '%s' is already defined elsewhere", val->name);
        goto out;
      }
      val->producer = i;
    }
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) count[n->in[j]]++;
  }
  for (int v = 0; v < g->n_values; v++) {
    cl_value *val = &g->values[v];
    if (count[v] && val->producer < 0 && !val->konst && !val->is_input) {
      for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
          if (g->nodes[i].in[j] == v) {
            rc = cl_node_err(g->ctx, &g->nodes[i], CLEAVE_EMODEL,
                             "input '%s' is neither a graph input, an initializer nor a node output", val->name);
            goto out;
          }
    }
    if (count[v]) {
      val->consumers = cl_malloc(g->ctx, sizeof(int) * (size_t)count[v]);
      if (!val->consumers) {
        rc = cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory linking graph");
        goto out;
      }
    }
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const cl_node *n = &g->nodes[i];
    for (int j = 0; j < n->n_in; j++) {
      int v = n->in[j];
      if (v < 0) continue;
      cl_value *val = &g->values[v];
      /* a node reading the same value twice is one consumer */
      if (val->n_consumers && val->consumers[val->n_consumers - 1] == i) continue;
      val->consumers[val->n_consumers++] = i;
    }
  }
out:
  cl_free(g->ctx, count);
  return rc;
}

int cl_graph_toposort(cl_graph *g) {
  int n = g->n_nodes, rc = 0;
  if (n == 0) return 0;
  int *indeg = cl_calloc(g->ctx, (size_t)n, sizeof(int));
  int *order = cl_malloc(g->ctx, sizeof(int) * (size_t)n);
  cl_node *sorted = cl_malloc(g->ctx, sizeof(cl_node) * (size_t)n);
  int *remap = cl_malloc(g->ctx, sizeof(int) * (size_t)n);
  if (!indeg || !order || !sorted || !remap) {
    rc = cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory sorting graph");
    goto out;
  }
  for (int i = 0; i < n; i++) {
    const cl_node *nd = &g->nodes[i];
    for (int j = 0; j < nd->n_in; j++) {
      int v = nd->in[j];
      if (v < 0 || g->values[v].producer < 0) continue;
      indeg[i]++;
    }
  }
  /* Kahn's algorithm, FIFO: nodes ready together keep the model's relative order. */
  int head = 0, tail = 0;
  for (int i = 0; i < n; i++)
    if (indeg[i] == 0) order[tail++] = i;
  while (head < tail) {
    int i = order[head++];
    const cl_node *nd = &g->nodes[i];
    for (int j = 0; j < nd->n_out; j++) {
      int v = nd->out[j];
      if (v < 0) continue;
      const cl_value *val = &g->values[v];
      for (int c = 0; c < val->n_consumers; c++) {
        int ci = val->consumers[c];
        const cl_node *cn = &g->nodes[ci];
        for (int k = 0; k < cn->n_in; k++)
          if (cn->in[k] == v && --indeg[ci] == 0) order[tail++] = ci;
      }
    }
  }
  if (tail < n) {
    for (int i = 0; i < n; i++)
      if (indeg[i] > 0) {
        rc = cl_node_err(g->ctx, &g->nodes[i], CLEAVE_ECYCLE, "the graph has a cycle through this node");
        goto out;
      }
  }
  for (int k = 0; k < n; k++) {
    sorted[k] = g->nodes[order[k]];
    remap[order[k]] = k;
  }
  memcpy(g->nodes, sorted, sizeof(cl_node) * (size_t)n);
  for (int v = 0; v < g->n_values; v++) {
    cl_value *val = &g->values[v];
    if (val->producer >= 0) val->producer = remap[val->producer];
    for (int c = 0; c < val->n_consumers; c++) val->consumers[c] = remap[val->consumers[c]];
  }
out:
  cl_free(g->ctx, indeg);
  cl_free(g->ctx, order);
  cl_free(g->ctx, sorted);
  cl_free(g->ctx, remap);
  return rc;
}

int64_t cl_value_bytes(const cl_graph *g, int v) {
  const cl_value *val = &g->values[v];
  int64_t n = cl_shape_numel(&val->shape), b;
  if (n < 0 || cl_mul_i64(n, (int64_t)cl_dtype_size(val->dtype), &b)) return -1;
  return b;
}

/* ---- attributes ---- */

const cl_attr *cl_node_attr(const cl_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

int64_t cl_attr_int(const cl_node *n, const char *name, int64_t def) {
  const cl_attr *a = cl_node_attr(n, name);
  return a && a->type == CL_ATTR_INT ? a->i : def;
}

float cl_attr_float(const cl_node *n, const char *name, float def) {
  const cl_attr *a = cl_node_attr(n, name);
  if (!a) return def;
  if (a->type == CL_ATTR_FLOAT) return a->f;
  if (a->type == CL_ATTR_INT) return (float)a->i;
  return def;
}

const char *cl_attr_str(const cl_node *n, const char *name, const char *def) {
  const cl_attr *a = cl_node_attr(n, name);
  return a && a->type == CL_ATTR_STRING ? a->s : def;
}

int cl_attr_ints(const cl_node *n, const char *name, const int64_t **vals) {
  const cl_attr *a = cl_node_attr(n, name);
  if (!a || a->type != CL_ATTR_INTS) {
    if (vals) *vals = NULL;
    return -1;
  }
  if (vals) *vals = a->ints;
  return a->n;
}

int cl_attr_floats(const cl_node *n, const char *name, const float **vals) {
  const cl_attr *a = cl_node_attr(n, name);
  if (!a || a->type != CL_ATTR_FLOATS) {
    if (vals) *vals = NULL;
    return -1;
  }
  if (vals) *vals = a->floats;
  return a->n;
}

int cl_node_err(cleave_ctx *ctx, const cl_node *n, int code, const char *fmt, ...) {
  char msg[CL_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return cl_err(ctx, code, "node '%s' (%s): %s", n->name, n->op, msg);
}
