/* partitioner: min-cut placement (two devices exactly, k devices by alpha-expansion).
 *
 * Max-flow is Dinic's algorithm with an iterative blocking-flow search, on a flow network rebuilt in reusable
 * arrays for each move. Vertex 0 is the source (the "keep" side), vertex 1 the sink (the "take alpha" side). */
#include "partitioner/cut.h"

#include <math.h>
#include <string.h>

enum { SRC = 0, SNK = 1 };

int cl_pgraph_alloc(cleave_ctx *ctx, cl_pgraph *pg, int n_nodes, int n_dev, int n_tensors, int n_cons) {
  memset(pg, 0, sizeof *pg);
  if (n_dev < 1 || n_dev > CL_CUT_MAX_DEVICES || n_nodes < 0 || n_tensors < 0 || n_cons < 0)
    return cl_err(ctx, CLEAVE_EINVAL, "cost graph: bad sizes");
  pg->n_nodes = n_nodes;
  pg->n_dev = n_dev;
  pg->n_tensors = n_tensors;
  pg->unary = cl_calloc(ctx, (size_t)n_nodes * (size_t)n_dev + 1, sizeof *pg->unary);
  pg->producer = cl_calloc(ctx, (size_t)n_tensors + 1, sizeof *pg->producer);
  pg->to_home = cl_calloc(ctx, (size_t)n_tensors + 1, sizeof *pg->to_home);
  pg->bytes = cl_calloc(ctx, (size_t)n_tensors + 1, sizeof *pg->bytes);
  pg->cons_off = cl_calloc(ctx, (size_t)n_tensors + 1, sizeof *pg->cons_off);
  pg->cons = cl_calloc(ctx, (size_t)n_cons + 1, sizeof *pg->cons);
  if (!pg->unary || !pg->producer || !pg->to_home || !pg->bytes || !pg->cons_off || !pg->cons) {
    cl_pgraph_free(ctx, pg);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  return 0;
}

void cl_pgraph_free(cleave_ctx *ctx, cl_pgraph *pg) {
  cl_free(ctx, pg->unary);
  cl_free(ctx, pg->producer);
  cl_free(ctx, pg->to_home);
  cl_free(ctx, pg->bytes);
  cl_free(ctx, pg->cons_off);
  cl_free(ctx, pg->cons);
  memset(pg, 0, sizeof *pg);
}

double cl_pgraph_cost(const cl_pgraph *pg, const int *assign) {
  double c = 0;
  for (int n = 0; n < pg->n_nodes; n++)
    c += pg->unary[(size_t)n * (size_t)pg->n_dev + (size_t)assign[n]];
  for (int t = 0; t < pg->n_tensors; t++) {
    int src = pg->producer[t] >= 0 ? assign[pg->producer[t]] : pg->home;
    unsigned seen = 1u << src;
    for (int k = pg->cons_off[t]; k < pg->cons_off[t + 1]; k++) {
      int d = assign[pg->cons[k]];
      if (!(seen & (1u << d))) {
        seen |= 1u << d;
        c += cl_pg_xfer(pg, t, src, d);
      }
    }
    if (pg->to_home[t] && !(seen & (1u << pg->home))) c += cl_pg_xfer(pg, t, src, pg->home);
  }
  return c;
}

/* ---- flow network ---- */

void cl_cut_work_free(cleave_ctx *ctx, cl_cut_work *w) {
  cl_free(ctx, w->head);
  cl_free(ctx, w->level);
  cl_free(ctx, w->iter);
  cl_free(ctx, w->queue);
  cl_free(ctx, w->stack);
  cl_free(ctx, w->next);
  cl_free(ctx, w->to);
  cl_free(ctx, w->cap);
  cl_free(ctx, w->off);
  cl_free(ctx, w->cto);
  cl_free(ctx, w->crev);
  cl_free(ctx, w->ccap);
  cl_free(ctx, w->vmap);
  cl_free(ctx, w->lab);
  memset(w, 0, sizeof *w);
}

static int grow(cleave_ctx *ctx, void **p, size_t elem, int n) {
  void *q = cl_realloc(ctx, *p, elem * (size_t)n);
  if (!q) return CLEAVE_ENOMEM;
  *p = q;
  return 0;
}

/* Room for nv vertices and ne arcs (each edge is two arcs). */
static int reserve(cleave_ctx *ctx, cl_cut_work *w, int nv, int ne) {
  if (nv > w->cap_v) {
    int c = nv + nv / 2 + 16;
    if (grow(ctx, (void **)&w->head, sizeof(int), c) || grow(ctx, (void **)&w->level, sizeof(int), c) ||
        grow(ctx, (void **)&w->iter, sizeof(int), c) || grow(ctx, (void **)&w->queue, sizeof(int), c) ||
        grow(ctx, (void **)&w->stack, sizeof(int), 2 * c) || grow(ctx, (void **)&w->off, sizeof(int), c + 1))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    w->cap_v = c;
  }
  if (ne > w->cap_e) {
    int c = ne + ne / 2 + 16;
    if (grow(ctx, (void **)&w->next, sizeof(int), c) || grow(ctx, (void **)&w->to, sizeof(int), c) ||
        grow(ctx, (void **)&w->cap, sizeof(double), c) || grow(ctx, (void **)&w->cto, sizeof(int), c) ||
        grow(ctx, (void **)&w->crev, sizeof(int), c) || grow(ctx, (void **)&w->ccap, sizeof(double), c))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    w->cap_e = c;
  }
  return 0;
}

typedef struct net {
  cl_cut_work *w;
  double constant; /* cost paid whatever the cut */
  double inf;
} net;

static int new_vertex(net *g) {
  cl_cut_work *w = g->w;
  w->head[w->n_v] = -1;
  return w->n_v++;
}

/* Cost c paid when u is on the keep side and v on the alpha side. */
static void add_edge(net *g, int u, int v, double c) {
  if (u == v || !(c > 0) || u == SNK || v == SRC) return;
  if (u == SRC && v == SNK) {
    g->constant += c;
    return;
  }
  cl_cut_work *w = g->w;
  if (c > g->inf) c = g->inf;
  int e = w->n_e;
  w->to[e] = v, w->cap[e] = c, w->next[e] = w->head[u], w->head[u] = e;
  w->to[e + 1] = u, w->cap[e + 1] = 0, w->next[e + 1] = w->head[v], w->head[v] = e + 1;
  w->n_e += 2;
}

/* Regroups the arcs by tail (arc e runs from to[e ^ 1] to to[e]) so that the max-flow scans contiguous memory. */
static void compact(cl_cut_work *w) {
  int nv = w->n_v, ne = w->n_e, *off = w->off, *pos = w->next, *cur = w->iter;
  memset(off, 0, sizeof(int) * (size_t)(nv + 1));
  for (int e = 0; e < ne; e++)
    off[w->to[e ^ 1] + 1]++;
  for (int v = 0; v < nv; v++)
    off[v + 1] += off[v];
  memcpy(cur, off, sizeof(int) * (size_t)nv);
  for (int e = 0; e < ne; e++) {
    int i = pos[e] = cur[w->to[e ^ 1]]++;
    w->cto[i] = w->to[e];
    w->ccap[i] = w->cap[e];
  }
  for (int e = 0; e < ne; e++)
    w->crev[pos[e]] = pos[e ^ 1];
}

/* Levels from SRC over arcs with capacity left. With stop set, vertices at the sink's level or beyond are left
 * unexpanded (a blocking flow uses none of them); without, every reachable vertex gets its level. */
static bool bfs(cl_cut_work *w, double eps, bool stop) {
  int *level = w->level, *queue = w->queue, *off = w->off, *cto = w->cto;
  const double *ccap = w->ccap;
  for (int i = 0; i < w->n_v; i++)
    level[i] = -1;
  int qh = 0, qt = 0;
  queue[qt++] = SRC;
  level[SRC] = 0;
  while (qh < qt) {
    int u = queue[qh++];
    if (stop && level[SNK] >= 0 && level[u] >= level[SNK] - 1) break;
    for (int i = off[u], end = off[u + 1]; i < end; i++)
      if (ccap[i] > eps && level[cto[i]] < 0) {
        level[cto[i]] = level[u] + 1;
        queue[qt++] = cto[i];
      }
  }
  return level[SNK] >= 0;
}

/* Dinic's max-flow from SRC to SNK; afterwards level[v] >= 0 exactly for the vertices on the source side of a
 * minimum cut. */
static double maxflow(cl_cut_work *w, double eps) {
  double flow = 0, *ccap = w->ccap;
  int *pv = w->stack, *pe = w->stack + w->cap_v, *iter = w->iter, *level = w->level, *off = w->off, *cto = w->cto,
      *crev = w->crev;
  w->maxflows++;
  compact(w);
  while (bfs(w, eps, true)) {
    memcpy(iter, off, sizeof(int) * (size_t)w->n_v);
    int top = 0, u = SRC;
    for (;;) {
      if (u == SNK) {
        double f = INFINITY;
        for (int k = 0; k < top; k++)
          if (ccap[pe[k]] < f) f = ccap[pe[k]];
        int first = -1;
        for (int k = 0; k < top; k++) {
          ccap[pe[k]] -= f;
          ccap[crev[pe[k]]] += f;
          if (first < 0 && ccap[pe[k]] <= eps) first = k;
        }
        flow += f;
        top = first < 0 ? 0 : first;
        u = pv[top];
        continue;
      }
      int i = iter[u], end = off[u + 1], next_level = level[u] + 1;
      while (i < end && !(ccap[i] > eps && level[cto[i]] == next_level))
        i++;
      iter[u] = i;
      if (i < end) {
        pv[top] = u;
        pe[top++] = i;
        u = cto[i];
        continue;
      }
      level[u] = -1; /* dead end for this phase */
      if (top == 0) break;
      u = pv[--top];
      iter[u]++;
    }
  }
  bfs(w, eps, false); /* residual reachability: the source side */
  return flow;
}

/* ---- expansion move ---- */

/* A bound on any finite cut: every node's dearest placement and every tensor sent to every device at the dearest
 * rate. Rates of 1e299 and more stand for "never" (a link that is down): edges at such rates are capped at the
 * network's infinity instead of inflating it, which would drown the real capacities below its epsilon. */
static double bound(const cl_pgraph *pg) {
  double b = 0, mf = 0, mb = 0;
  int nd = pg->n_dev;
  for (int n = 0; n < pg->n_nodes; n++) {
    double m = 0;
    for (int d = 0; d < nd; d++) {
      double u = pg->unary[(size_t)n * (size_t)nd + (size_t)d];
      if (isfinite(u) && fabs(u) > m) m = fabs(u);
    }
    b += m;
  }
  for (int a = 0; a < nd; a++)
    for (int c = 0; c < nd; c++) {
      double f = fabs(pg->xfer_fixed[a][c]), r = fabs(pg->xfer_byte[a][c]);
      if (a == c || !(f < 1e299) || !(r < 1e299)) continue;
      if (f > mf) mf = f;
      if (r > mb) mb = r;
    }
  for (int t = 0; t < pg->n_tensors; t++)
    b += (mf + mb * pg->bytes[t]) * nd;
  return b;
}

int cl_cut_move(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, int alpha, int *assign) {
  int nd = pg->n_dev, nn = pg->n_nodes;
  int n_cons = pg->cons_off[pg->n_tensors];
  /* vertices: terminals, nodes, per tensor at most one alpha vertex and one per label group */
  long nv = 2 + (long)nn + (long)pg->n_tensors * (nd + 2);
  long ne = 2 * (2L * nn + (long)(n_cons + pg->n_tensors) * 3 + (long)pg->n_tensors * (nd + 2) * 2);
  if (nv > (1L << 29) || ne > (1L << 29)) return cl_err(ctx, CLEAVE_ELIMIT, "graph too large to cut");
  int rc = reserve(ctx, w, (int)nv, (int)ne);
  if (rc) return rc;
  if (nn + 1 > w->lab_cap) {
    if (grow(ctx, (void **)&w->vmap, sizeof(int), nn + 1) || grow(ctx, (void **)&w->lab, sizeof(int), nn + 1))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    w->lab_cap = nn + 1;
  }
  net g = {.w = w, .inf = 4 * bound(pg) + 1};
  w->n_v = 0;
  w->n_e = 0;
  new_vertex(&g);
  new_vertex(&g);
  int *vmap = w->vmap;
  for (int n = 0; n < nn; n++) {
    const double *u = &pg->unary[(size_t)n * (size_t)nd];
    int cur = assign[n];
    if (cur == alpha)
      vmap[n] = SNK;
    else if (!isfinite(u[alpha]))
      vmap[n] = SRC;
    else if (!isfinite(u[cur])) { /* it cannot stay: every finite labelling of the move puts it at alpha */
      vmap[n] = SNK;
      g.constant += u[alpha];
    } else {
      int v = vmap[n] = new_vertex(&g);
      double keep = isfinite(u[cur]) ? u[cur] : g.inf, take = u[alpha];
      double m = keep < take ? keep : take;
      g.constant += m;
      add_edge(&g, SRC, v, take - m);
      add_edge(&g, v, SNK, keep - m);
    }
  }
  for (int t = 0; t < pg->n_tensors; t++) {
    int p = pg->producer[t];
    int lp = p >= 0 ? assign[p] : pg->home;
    int P = p >= 0 ? vmap[p] : (pg->home == alpha ? SNK : SRC);
    const int *cons = pg->cons + pg->cons_off[t];
    int nc = pg->cons_off[t + 1] - pg->cons_off[t];
    bool home_dest = pg->to_home[t];
    /* groups by current label; a consumer at alpha sits on the sink side for good */
    for (int L = 0; L < nd; L++) {
      if (L == alpha) continue;
      int members = 0, only = -1;
      bool fixed_keep = home_dest && L == pg->home; /* the output's destination never moves */
      for (int k = 0; k < nc; k++)
        if (assign[cons[k]] == L) members++, only = vmap[cons[k]];
      if (fixed_keep) members++, only = SRC;
      if (!members) continue;
      if (L != lp) {
        double c = cl_pg_xfer(pg, t, lp, L);
        if (P == SRC) { /* exact: paid while any member stays */
          if (members == 1)
            add_edge(&g, only, SNK, c);
          else {
            int b = new_vertex(&g);
            for (int k = 0; k < nc; k++)
              if (assign[cons[k]] == L) add_edge(&g, vmap[cons[k]], b, g.inf);
            if (fixed_keep) add_edge(&g, SRC, b, g.inf);
            add_edge(&g, b, SNK, c);
          }
        } else if (P != SNK) {
          add_edge(&g, P, SNK, c); /* upper bound: as if a member stayed */
        }
      }
      if (P != SRC) { /* the producer takes alpha: the tensor goes alpha -> L while a member stays */
        double c = cl_pg_xfer(pg, t, alpha, L);
        if (members == 1)
          add_edge(&g, only, P, c);
        else {
          int b = new_vertex(&g);
          for (int k = 0; k < nc; k++)
            if (assign[cons[k]] == L) add_edge(&g, vmap[cons[k]], b, g.inf);
          if (fixed_keep) add_edge(&g, SRC, b, g.inf);
          add_edge(&g, b, P, c);
        }
      }
    }
    if (lp != alpha && P != SNK) { /* producer keeps lp: the tensor goes lp -> alpha if any consumer takes alpha */
      double c = cl_pg_xfer(pg, t, lp, alpha);
      int movable = 0, only = -1;
      bool at_alpha = home_dest && pg->home == alpha;
      for (int k = 0; k < nc; k++) {
        int v = vmap[cons[k]];
        if (v == SNK)
          at_alpha = true;
        else if (v != SRC)
          movable++, only = v;
      }
      if (at_alpha)
        add_edge(&g, P, SNK, c);
      else if (movable == 1)
        add_edge(&g, P, only, c);
      else if (movable > 1) {
        int a = new_vertex(&g);
        add_edge(&g, P, a, c);
        for (int k = 0; k < nc; k++) {
          int v = vmap[cons[k]];
          if (v != SRC && v != SNK) add_edge(&g, a, v, g.inf);
        }
      }
    }
  }
  double eps = g.inf * 1e-15;
  maxflow(w, eps);
  for (int n = 0; n < nn; n++) {
    int v = vmap[n];
    if (v == SNK || (v != SRC && w->level[v] < 0)) assign[n] = alpha;
  }
  return 0;
}

/* ---- drivers ---- */

int cl_cut_two(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, int a, int b, int *assign, double *cost) {
  for (int n = 0; n < pg->n_nodes; n++)
    assign[n] = a;
  int rc = cl_cut_move(ctx, w, pg, b, assign);
  if (rc) return rc;
  /* a node allowed on neither a nor b (or an all-a start whose a is forbidden and b too) stays infeasible */
  *cost = cl_pgraph_cost(pg, assign);
  if (!isfinite(*cost)) return CLEAVE_EINFEASIBLE;
  return 0;
}

static double single_device(const cl_pgraph *pg, unsigned mask, int *lab, int *best_dev) {
  double best = INFINITY;
  *best_dev = -1;
  for (int d = 0; d < pg->n_dev; d++) {
    if (!(mask & (1u << d))) continue;
    for (int n = 0; n < pg->n_nodes; n++)
      lab[n] = d;
    double c = cl_pgraph_cost(pg, lab);
    if (c < best) best = c, *best_dev = d;
  }
  return best;
}

int cl_cut_expand(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, unsigned allowed_mask, int max_cycles,
                  int *assign, double *cost) {
  int nn = pg->n_nodes, nd = pg->n_dev;
  if (nn + 1 > w->lab_cap) {
    if (grow(ctx, (void **)&w->vmap, sizeof(int), nn + 1) || grow(ctx, (void **)&w->lab, sizeof(int), nn + 1))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    w->lab_cap = nn + 1;
  }
  int *lab = w->lab;
  double cur = nn > 0 && assign[0] >= 0 ? cl_pgraph_cost(pg, assign) : INFINITY;
  if (!isfinite(cur)) {
    int d;
    cur = single_device(pg, allowed_mask, lab, &d);
    if (isfinite(cur)) {
      for (int n = 0; n < nn; n++)
        assign[n] = d;
    } else { /* each node on its cheapest allowed device */
      for (int n = 0; n < nn; n++) {
        int bd = -1;
        for (int e = 0; e < nd; e++)
          if ((allowed_mask & (1u << e)) && isfinite(pg->unary[(size_t)n * (size_t)nd + (size_t)e]) &&
              (bd < 0 ||
               pg->unary[(size_t)n * (size_t)nd + (size_t)e] < pg->unary[(size_t)n * (size_t)nd + (size_t)bd]))
            bd = e;
        assign[n] = bd < 0 ? 0 : bd;
      }
      cur = cl_pgraph_cost(pg, assign);
    }
  }
  for (int cycle = 0; cycle < max_cycles; cycle++) {
    bool improved = false;
    for (int alpha = 0; alpha < nd; alpha++) {
      if (!(allowed_mask & (1u << alpha))) continue;
      memcpy(lab, assign, sizeof(int) * (size_t)nn);
      int rc = cl_cut_move(ctx, w, pg, alpha, lab);
      if (rc) return rc;
      double c = cl_pgraph_cost(pg, lab);
      if (c < cur - 1e-12 * (fabs(cur) + 1) || (!isfinite(cur) && isfinite(c))) {
        memcpy(assign, lab, sizeof(int) * (size_t)nn);
        cur = c;
        improved = true;
      }
    }
    if (!improved) break;
  }
  *cost = cur;
  return isfinite(cur) ? 0 : CLEAVE_EINFEASIBLE;
}
