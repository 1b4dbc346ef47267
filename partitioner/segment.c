/* partitioner: segment compilation (see segment.h for why levels give an acyclic segment DAG). */
#include "partitioner/segment.h"

#include <string.h>

void cl_segments_free(cleave_ctx *ctx, cl_plan_segment *segs, int n) {
  for (int i = 0; segs && i < n; i++) {
    cl_free(ctx, segs[i].nodes);
    cl_free(ctx, segs[i].inputs);
    cl_free(ctx, segs[i].outputs);
    cl_free(ctx, segs[i].deps);
  }
  cl_free(ctx, segs);
}

/* ---- merging: two same-device segments joined by an edge merge when no other path joins them ---- */

typedef struct ilist {
  int *v;
  int n, cap;
} ilist;

static int ilist_add(cleave_ctx *ctx, ilist *l, int x) {
  for (int i = 0; i < l->n; i++)
    if (l->v[i] == x) return 0;
  if (l->n == l->cap) {
    int c = l->cap ? 2 * l->cap : 4;
    int *nv = cl_realloc(ctx, l->v, sizeof(int) * (size_t)c);
    if (!nv) return CLEAVE_ENOMEM;
    l->v = nv;
    l->cap = c;
  }
  l->v[l->n++] = x;
  return 0;
}

static void ilist_del(ilist *l, int x) {
  for (int i = 0; i < l->n; i++)
    if (l->v[i] == x) {
      l->v[i] = l->v[--l->n];
      return;
    }
}

typedef struct merger {
  cleave_ctx *ctx;
  int n;
  ilist *succ, *pred;
  int *dev, *stamp, *stack, *work;
  int clock, n_work, cap_work;
} merger;

/* Whether b is reachable from a other than by the direct edge. */
static bool other_path(merger *m, int a, int b) {
  int top = 0;
  m->clock++;
  for (int i = 0; i < m->succ[a].n; i++) {
    int s = m->succ[a].v[i];
    if (s != b) m->stack[top++] = s, m->stamp[s] = m->clock;
  }
  while (top) {
    int u = m->stack[--top];
    if (u == b) return true;
    for (int i = 0; i < m->succ[u].n; i++) {
      int s = m->succ[u].v[i];
      if (m->stamp[s] != m->clock) m->stamp[s] = m->clock, m->stack[top++] = s;
    }
  }
  return false;
}

static int push_work(merger *m, int a, int b) {
  if (m->dev[a] != m->dev[b]) return 0;
  if (m->n_work + 2 > m->cap_work) {
    int c = m->cap_work ? 2 * m->cap_work : 64;
    int *nw = cl_realloc(m->ctx, m->work, sizeof(int) * (size_t)c);
    if (!nw) return CLEAVE_ENOMEM;
    m->work = nw;
    m->cap_work = c;
  }
  m->work[m->n_work++] = a;
  m->work[m->n_work++] = b;
  return 0;
}

/* Merges b into a. */
static int merge(merger *m, int a, int b, int *root) {
  root[b] = a;
  ilist_del(&m->succ[a], b);
  ilist_del(&m->pred[b], a);
  for (int i = 0; i < m->succ[b].n; i++) {
    int s = m->succ[b].v[i];
    ilist_del(&m->pred[s], b);
    if (ilist_add(m->ctx, &m->pred[s], a) || ilist_add(m->ctx, &m->succ[a], s) || push_work(m, a, s))
      return CLEAVE_ENOMEM;
  }
  for (int i = 0; i < m->pred[b].n; i++) {
    int q = m->pred[b].v[i];
    ilist_del(&m->succ[q], b);
    if (ilist_add(m->ctx, &m->succ[q], a) || ilist_add(m->ctx, &m->pred[a], q) || push_work(m, q, a))
      return CLEAVE_ENOMEM;
  }
  m->succ[b].n = m->pred[b].n = 0;
  return 0;
}

static int find_root(int *root, int x) {
  while (root[x] != x)
    x = root[x] = root[root[x]];
  return x;
}

/* Merges level segments (seg_of, n ids) where no cycle can arise, then renumbers them 0.. in a topological
 * order; *n_out receives the count. */
static int merge_segments(cleave_ctx *ctx, const cl_graph *g, const int *assign, int *seg_of, int n, int *n_out) {
  merger m = {.ctx = ctx, .n = n};
  int rc = 0;
  int *root = cl_malloc(ctx, sizeof(int) * (size_t)(n + 1));
  int *indeg = cl_calloc(ctx, (size_t)n + 1, sizeof(int));
  int *order = cl_malloc(ctx, sizeof(int) * (size_t)(n + 1));
  m.succ = cl_calloc(ctx, (size_t)n + 1, sizeof(ilist));
  m.pred = cl_calloc(ctx, (size_t)n + 1, sizeof(ilist));
  m.dev = cl_malloc(ctx, sizeof(int) * (size_t)(n + 1));
  m.stamp = cl_calloc(ctx, (size_t)n + 1, sizeof(int));
  m.stack = cl_malloc(ctx, sizeof(int) * (size_t)(n + 1));
  if (!root || !indeg || !order || !m.succ || !m.pred || !m.dev || !m.stamp || !m.stack) goto nomem;
  for (int s = 0; s < n; s++)
    root[s] = s;
  for (int k = 0; k < g->n_nodes; k++)
    m.dev[seg_of[k]] = assign[k];
  for (int k = 0; k < g->n_nodes; k++) {
    const cl_node *node = &g->nodes[k];
    for (int i = 0; i < node->n_in; i++) {
      int v = node->in[i];
      if (v < 0 || g->values[v].konst || g->values[v].producer < 0) continue;
      int a = seg_of[g->values[v].producer], b = seg_of[k];
      if (a == b) continue;
      int before = m.succ[a].n;
      if (ilist_add(ctx, &m.succ[a], b) || ilist_add(ctx, &m.pred[b], a)) goto nomem;
      if (m.succ[a].n > before && push_work(&m, a, b)) goto nomem;
    }
  }
  while (m.n_work) {
    int b = find_root(root, m.work[--m.n_work]), a = find_root(root, m.work[--m.n_work]);
    if (a == b || m.dev[a] != m.dev[b]) continue;
    bool edge = false;
    for (int i = 0; i < m.succ[a].n && !edge; i++)
      edge = m.succ[a].v[i] == b;
    if (!edge || other_path(&m, a, b)) continue;
    if (merge(&m, a, b, root)) goto nomem;
  }
  /* Kahn's algorithm over the roots, smallest id first among the ready ones (ids follow node order) */
  int n_roots = 0, head = 0;
  for (int s = 0; s < n; s++)
    if (find_root(root, s) == s) {
      indeg[s] = m.pred[s].n;
      if (!indeg[s]) order[n_roots++] = s;
    }
  int *newid = m.stamp; /* reuse: the new id of each root */
  while (head < n_roots) {
    int s = order[head++];
    for (int i = 0; i < m.succ[s].n; i++)
      if (--indeg[m.succ[s].v[i]] == 0) order[n_roots++] = m.succ[s].v[i];
  }
  for (int i = 0; i < n_roots; i++)
    newid[order[i]] = i;
  for (int k = 0; k < g->n_nodes; k++)
    seg_of[k] = newid[find_root(root, seg_of[k])];
  *n_out = n_roots;
  goto done;
nomem:
  rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
done:
  for (int s = 0; s < n && m.succ; s++)
    cl_free(ctx, m.succ[s].v);
  for (int s = 0; s < n && m.pred; s++)
    cl_free(ctx, m.pred[s].v);
  cl_free(ctx, m.succ);
  cl_free(ctx, m.pred);
  cl_free(ctx, m.dev);
  cl_free(ctx, m.stamp);
  cl_free(ctx, m.stack);
  cl_free(ctx, m.work);
  cl_free(ctx, root);
  cl_free(ctx, indeg);
  cl_free(ctx, order);
  return rc;
}

int cl_segments_build(cleave_ctx *ctx, const cl_graph *g, const int *assign, cl_plan_segment **out, int *n_out) {
  int nn = g->n_nodes, nv = g->n_values;
  *out = NULL;
  *n_out = 0;
  int *level = cl_malloc(ctx, sizeof(int) * (size_t)(nn + 1));
  int *seg_of = cl_malloc(ctx, sizeof(int) * (size_t)(nn + 1));
  int *mark = cl_malloc(ctx, sizeof(int) * (size_t)(nv + 1));
  int *count = NULL, *cell = NULL;
  cl_plan_segment *segs = NULL;
  int n_segs = 0, rc = 0, max_level = 0, max_dev = 0;
  if (!level || !seg_of || !mark) goto nomem;
  for (int n = 0; n < nn; n++) {
    const cl_node *node = &g->nodes[n];
    int lv = 0;
    for (int i = 0; i < node->n_in; i++) {
      int v = node->in[i];
      if (v < 0 || g->values[v].konst) continue;
      int p = g->values[v].producer;
      if (p < 0) continue;
      int l = level[p] + (assign[p] != assign[n]);
      if (l > lv) lv = l;
    }
    level[n] = lv;
    if (lv > max_level) max_level = lv;
    if (assign[n] > max_dev) max_dev = assign[n];
  }
  /* segment ids in (level, device) order: number the occupied cells of a level x device table */
  size_t n_cells = ((size_t)max_level + 1) * ((size_t)max_dev + 1);
  if (!(cell = cl_malloc(ctx, sizeof(int) * n_cells))) goto nomem;
  for (size_t c = 0; c < n_cells; c++)
    cell[c] = -1;
  for (int n = 0; n < nn; n++)
    cell[(size_t)level[n] * ((size_t)max_dev + 1) + (size_t)assign[n]] = 0;
  for (size_t c = 0; c < n_cells; c++)
    if (cell[c] == 0) cell[c] = n_segs++;
  for (int n = 0; n < nn; n++)
    seg_of[n] = cell[(size_t)level[n] * ((size_t)max_dev + 1) + (size_t)assign[n]];
  if (n_segs > 1 && (rc = merge_segments(ctx, g, assign, seg_of, n_segs, &n_segs))) goto done;
  segs = cl_calloc(ctx, (size_t)n_segs + 1, sizeof *segs);
  count = cl_calloc(ctx, (size_t)n_segs + 1, sizeof *count);
  if (!segs || !count) goto nomem;
  for (int n = 0; n < nn; n++) {
    count[seg_of[n]]++;
    segs[seg_of[n]].device = assign[n];
  }
  for (int s = 0; s < n_segs; s++) {
    if (!(segs[s].nodes = cl_malloc(ctx, sizeof(int) * (size_t)count[s]))) goto nomem;
  }
  for (int n = 0; n < nn; n++)
    segs[seg_of[n]].nodes[segs[seg_of[n]].n_nodes++] = n;
  /* inputs and deps: values read from outside; outputs: values read elsewhere or graph outputs. The arrays get
   * room for all their nodes' inputs and outputs, which saves a counting pass over the graph. */
  for (int s = 0; s < n_segs; s++) {
    cl_plan_segment *sg = &segs[s];
    int n_in = 0, n_out = 0;
    for (int k = 0; k < sg->n_nodes; k++)
      n_in += g->nodes[sg->nodes[k]].n_in, n_out += g->nodes[sg->nodes[k]].n_out;
    sg->inputs = cl_malloc(ctx, sizeof(int) * (size_t)(n_in + 1));
    sg->outputs = cl_malloc(ctx, sizeof(int) * (size_t)(n_out + 1));
    sg->deps = cl_malloc(ctx, sizeof(int) * (size_t)(n_in + 1));
    if (!sg->inputs || !sg->outputs || !sg->deps) goto nomem;
  }
  for (int v = 0; v < nv; v++)
    mark[v] = -1;
  for (int s = 0; s < n_segs; s++) {
    cl_plan_segment *sg = &segs[s];
    for (int k = 0; k < sg->n_nodes; k++) {
      const cl_node *node = &g->nodes[sg->nodes[k]];
      for (int i = 0; i < node->n_in; i++) {
        int v = node->in[i];
        if (v < 0 || g->values[v].konst || mark[v] == s) continue;
        int p = g->values[v].producer;
        if (p >= 0 && seg_of[p] == s) continue;
        mark[v] = s;
        sg->inputs[sg->n_inputs++] = v;
        if (p >= 0) {
          int d = seg_of[p], j = 0;
          while (j < sg->n_deps && sg->deps[j] != d)
            j++;
          if (j == sg->n_deps) sg->deps[sg->n_deps++] = d;
        }
      }
      for (int i = 0; i < node->n_out; i++) {
        int v = node->out[i];
        if (v < 0) continue;
        bool o = g->values[v].is_output;
        for (int c = 0; c < g->values[v].n_consumers && !o; c++)
          o = seg_of[g->values[v].consumers[c]] != s;
        if (o) sg->outputs[sg->n_outputs++] = v;
      }
    }
  }
  *out = segs;
  *n_out = n_segs;
  segs = NULL;
  goto done;
nomem:
  rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
done:
  cl_segments_free(ctx, segs, n_segs);
  cl_free(ctx, level);
  cl_free(ctx, seg_of);
  cl_free(ctx, cell);
  cl_free(ctx, mark);
  cl_free(ctx, count);
  return rc;
}
