/* partitioner: min-cut placement (two devices exactly, k devices by alpha-expansion).
 *
 * Max-flow is Boykov-Kolmogorov's, on a flow network rebuilt in reusable arrays for each move. Vertex 0 is the source
 * (the "keep" side), vertex 1 the sink (the "take alpha" side). */
#include "partitioner/cut.h"

#include <assert.h>
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
  cl_free(ctx, w->arc);
  cl_free(ctx, w->parent);
  cl_free(ctx, w->ts);
  cl_free(ctx, w->dist);
  cl_free(ctx, w->active);
  cl_free(ctx, w->orphan);
  cl_free(ctx, w->tree);
  cl_free(ctx, w->queued);
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
    if (grow(ctx, (void **)&w->head, sizeof(int), c) || grow(ctx, (void **)&w->parent, sizeof(int), c) ||
        grow(ctx, (void **)&w->ts, sizeof(int), c) || grow(ctx, (void **)&w->dist, sizeof(int), c) ||
        grow(ctx, (void **)&w->active, sizeof(int), c) || grow(ctx, (void **)&w->orphan, sizeof(int), c) ||
        grow(ctx, (void **)&w->tree, 1, c) || grow(ctx, (void **)&w->queued, 1, c))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    w->cap_v = c;
  }
  if (ne > w->cap_e) {
    int c = ne + ne / 2 + 16;
    if (grow(ctx, (void **)&w->arc, sizeof *w->arc, c)) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    w->cap_e = c;
  }
  return 0;
}

static int reserve_nodes(cleave_ctx *ctx, cl_cut_work *w, int nn) {
  if (nn + 1 > w->lab_cap) {
    if (grow(ctx, (void **)&w->vmap, sizeof(int), nn + 1) || grow(ctx, (void **)&w->lab, sizeof(int), nn + 1))
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    w->lab_cap = nn + 1;
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
  w->arc[e] = (struct cl_cut_arc){.cap = c, .to = v, .next = w->head[u]};
  w->arc[e + 1] = (struct cl_cut_arc){.cap = 0, .to = u, .next = w->head[v]};
  w->head[u] = e, w->head[v] = e + 1;
  w->n_e += 2;
}

/* ---- max-flow: Boykov-Kolmogorov ----
 *
 * A search tree grows from the source and one from the sink over arcs with capacity left; where they touch, the
 * path through both is augmented, and the vertices cut off from their tree (orphans) look for a new parent in it
 * or become free. A move's network has thousands of short source-sink paths and few long ones: the trees find
 * them in one sweep, where Dinic's algorithm scanned the whole network once per path length. parent[v] is the
 * arc from v to its parent (flow runs over its reverse in the source tree, over the arc itself in the sink tree),
 * ROOT for the terminals, NONE for free vertices. ts/dist cache a vertex's distance to its root (the "distance
 * heuristic": adopt the closest valid parent). */

enum { FREE = 0, IN_S = 1, IN_T = 2 };
enum { NONE = -1, ROOT = -2, ORPHAN = -3 };

typedef struct bk {
  cl_cut_work *w;
  double eps;
  int n, qh, qt, oh, ot; /* active and orphan queues: rings of n slots, each vertex at most once in each */
  int time;
} bk;

static void activate(bk *b, int v) {
  cl_cut_work *w = b->w;
  if (w->queued[v]) return;
  w->queued[v] = 1;
  w->active[b->qt] = v;
  if (++b->qt == b->n) b->qt = 0;
}

static void make_orphan(bk *b, int v) {
  b->w->parent[v] = ORPHAN;
  b->w->orphan[b->ot] = v;
  if (++b->ot == b->n) b->ot = 0;
}

/* Pushes the bottleneck over the path through arc e (source tree -> sink tree); returns the amount. */
static double augment(bk *b, int e) {
  cl_cut_work *w = b->w;
  int *parent = w->parent;
  struct cl_cut_arc *arc = w->arc;
  double f = arc[e].cap, eps = b->eps;
  for (int v = arc[e ^ 1].to; parent[v] != ROOT; v = arc[parent[v]].to)
    if (arc[parent[v] ^ 1].cap < f) f = arc[parent[v] ^ 1].cap;
  for (int v = arc[e].to; parent[v] != ROOT; v = arc[parent[v]].to)
    if (arc[parent[v]].cap < f) f = arc[parent[v]].cap;
  arc[e].cap -= f;
  arc[e ^ 1].cap += f;
  for (int v = arc[e ^ 1].to, a; (a = parent[v]) != ROOT; v = arc[a].to) {
    arc[a ^ 1].cap -= f;
    arc[a].cap += f;
    if (!(arc[a ^ 1].cap > eps)) make_orphan(b, v);
  }
  for (int v = arc[e].to, a; (a = parent[v]) != ROOT; v = arc[a].to) {
    arc[a].cap -= f;
    arc[a ^ 1].cap += f;
    if (!(arc[a].cap > eps)) make_orphan(b, v);
  }
  return f;
}

/* Distance from q to its tree's root, or -1 when the way up meets an orphan; caches it along the way. */
static int origin(bk *b, int q) {
  cl_cut_work *w = b->w;
  int *parent = w->parent, *ts = w->ts, *dist = w->dist, d = 0, j = q;
  for (;;) {
    if (ts[j] == b->time) {
      d += dist[j];
      break;
    }
    int a = parent[j];
    if (a == ROOT) {
      ts[j] = b->time;
      dist[j] = 0;
      break;
    }
    if (a < 0) return -1;
    d++;
    j = w->arc[a].to;
  }
  int dd = d;
  for (j = q; ts[j] != b->time; j = w->arc[parent[j]].to) {
    ts[j] = b->time;
    dist[j] = dd--;
  }
  return d;
}

static void adopt(bk *b) {
  cl_cut_work *w = b->w;
  int *parent = w->parent;
  unsigned char *tree = w->tree;
  const struct cl_cut_arc *arc = w->arc;
  while (b->oh != b->ot) {
    int v = w->orphan[b->oh];
    if (++b->oh == b->n) b->oh = 0;
    int side = tree[v], rev = side == IN_S; /* the arc into v's tree runs v -> q in T, q -> v in S */
    int best = -1, dmin = 0;
    for (int a = w->head[v]; a >= 0; a = arc[a].next) {
      int q = arc[a].to;
      if (tree[q] != side || !(arc[a ^ rev].cap > b->eps)) continue;
      int d = origin(b, q);
      if (d >= 0 && (best < 0 || d < dmin)) best = a, dmin = d;
    }
    if (best >= 0) {
      parent[v] = best;
      w->ts[v] = b->time;
      w->dist[v] = dmin + 1;
      continue;
    }
    for (int a = w->head[v]; a >= 0; a = arc[a].next) {
      int q = arc[a].to;
      if (tree[q] != side) continue;
      if (arc[a ^ rev].cap > b->eps) activate(b, q);
      if (parent[q] >= 0 && arc[parent[q]].to == v) make_orphan(b, q);
    }
    tree[v] = FREE;
    parent[v] = NONE;
  }
}

/* Max-flow from SRC to SNK; afterwards tree[v] == IN_S exactly for the vertices on the source side of the
 * minimum cut closest to the source (those the source still reaches over arcs with more than eps left), which
 * every maximum flow leaves the same. */
static double maxflow(cl_cut_work *w, double eps) {
  int nv = w->n_v, *parent = w->parent, *ts = w->ts, *dist = w->dist;
  unsigned char *tree = w->tree;
  const struct cl_cut_arc *arc = w->arc;
  double flow = 0;
  w->maxflows++;
  for (int v = 0; v < nv; v++)
    tree[v] = FREE, parent[v] = NONE, ts[v] = 0, dist[v] = 0, w->queued[v] = 0;
  bk b = {.w = w, .eps = eps, .n = nv};
  tree[SRC] = IN_S, tree[SNK] = IN_T, parent[SRC] = parent[SNK] = ROOT;
  activate(&b, SRC);
  activate(&b, SNK);
  int u = -1, first = -1; /* the vertex growing its tree, and its first arc not yet scanned */
  for (;;) {
    if (u < 0 || tree[u] == FREE) {
      u = -1;
      while (b.qh != b.qt && u < 0) {
        int v = w->active[b.qh];
        if (++b.qh == b.n) b.qh = 0;
        w->queued[v] = 0;
        if (tree[v] != FREE) u = v;
      }
      if (u < 0) break;
      first = w->head[u];
    }
    int found = -1, side = tree[u], rev = side == IN_T; /* growth runs u -> v in S, v -> u in T */
    for (int a = first; a >= 0; a = arc[a].next) {
      if (!(arc[a ^ rev].cap > eps)) continue;
      int v = arc[a].to;
      if (tree[v] == FREE) {
        tree[v] = (unsigned char)side;
        parent[v] = a ^ 1;
        ts[v] = ts[u];
        dist[v] = dist[u] + 1;
        activate(&b, v);
      } else if (tree[v] != side) {
        found = a;
        break;
      } else if (ts[v] <= ts[u] && dist[v] > dist[u] && parent[v] != ROOT) {
        parent[v] = a ^ 1;
        ts[v] = ts[u];
        dist[v] = dist[u] + 1;
      }
    }
    if (found < 0) {
      u = -1; /* fully grown */
      continue;
    }
    /* u stays current and resumes at the arc that met the other tree: the source alone has an arc per node,
     * and rescanning it after each of its thousands of paths would be quadratic. An arc scanned before can only
     * lead out of the tree again if its head was freed, and then adopt() queues u for a full scan. */
    first = found;
    b.time++;
    flow += augment(&b, found ^ rev); /* oriented source tree -> sink tree */
    adopt(&b);
  }
#ifndef NDEBUG
  /* the source tree is exactly what the source reaches in the residual network */
  int *queue = w->active, qh = 0, qt = 0;
  unsigned char *seen = w->queued;
  memset(seen, 0, (size_t)nv);
  seen[SRC] = 1;
  queue[qt++] = SRC;
  while (qh < qt)
    for (int v = queue[qh++], a = w->head[v]; a >= 0; a = arc[a].next)
      if (arc[a].cap > eps && !seen[arc[a].to]) seen[arc[a].to] = 1, queue[qt++] = arc[a].to;
  for (int v = 0; v < nv; v++)
    assert((tree[v] == IN_S) == (seen[v] == 1));
#endif
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

/* The move's network for alpha at assign, with inf standing for "never" (see bound()); cuts it and applies it. */
static int move(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, int alpha, int *assign, double inf) {
  int nd = pg->n_dev, nn = pg->n_nodes;
  int n_cons = pg->cons_off[pg->n_tensors];
  /* vertices: terminals, nodes, per tensor at most one alpha vertex and one per label group */
  long nv = 2 + (long)nn + (long)pg->n_tensors * (nd + 2);
  long ne = 2 * (2L * nn + (long)(n_cons + pg->n_tensors) * 3 + (long)pg->n_tensors * (nd + 2) * 2);
  if (nv > (1L << 29) || ne > (1L << 29)) return cl_err(ctx, CLEAVE_ELIMIT, "graph too large to cut");
  int rc = reserve(ctx, w, (int)nv, (int)ne);
  if (rc || (rc = reserve_nodes(ctx, w, nn))) return rc;
  net g = {.w = w, .inf = inf};
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
      double keep = u[cur], take = u[alpha];
      double m = keep < take ? keep : take;
      g.constant += m;
      add_edge(&g, SRC, v, take - m);
      add_edge(&g, v, SNK, keep - m);
    }
  }
  if (w->n_v == 2) { /* no node has a choice */
    for (int n = 0; n < nn; n++)
      if (vmap[n] == SNK) assign[n] = alpha;
    return 0;
  }
  for (int t = 0; t < pg->n_tensors; t++) {
    int p = pg->producer[t];
    int lp = p >= 0 ? assign[p] : pg->home;
    int P = p >= 0 ? vmap[p] : (pg->home == alpha ? SNK : SRC);
    const int *cons = pg->cons + pg->cons_off[t];
    int nc = pg->cons_off[t + 1] - pg->cons_off[t];
    /* consumers grouped by current label (the output's destination is a member of home's group that never
     * moves); a consumer at alpha sits on the sink side for good */
    int members[CL_CUT_MAX_DEVICES] = {0}, only[CL_CUT_MAX_DEVICES], group[CL_CUT_MAX_DEVICES];
    int movable = 0, one_movable = -1;
    bool at_alpha = pg->to_home[t] && pg->home == alpha;
    if (pg->to_home[t] && pg->home != alpha) members[pg->home]++, only[pg->home] = SRC;
    for (int k = 0; k < nc; k++) {
      int L = assign[cons[k]], v = vmap[cons[k]];
      if (L != alpha) members[L]++, only[L] = v;
      if (v == SNK)
        at_alpha = true;
      else if (v != SRC)
        movable++, one_movable = v;
    }
    bool grouped = false;
    for (int L = 0; L < nd; L++) {
      group[L] = -1;
      if (L == alpha || !members[L]) continue;
      /* while a member of L stays: the producer keeping lp sends lp -> L (exact when the producer cannot
       * move; an upper bound, as if a member stayed, when it can), and the producer taking alpha sends
       * alpha -> L */
      int target = -1;
      double c = 0;
      if (P == SRC) {
        if (L != lp) target = SNK, c = cl_pg_xfer(pg, t, lp, L);
      } else {
        if (P != SNK && L != lp) add_edge(&g, P, SNK, cl_pg_xfer(pg, t, lp, L));
        target = P, c = cl_pg_xfer(pg, t, alpha, L);
      }
      if (target < 0 || !(c > 0)) continue;
      if (members[L] == 1) {
        add_edge(&g, only[L], target, c);
      } else {
        group[L] = new_vertex(&g);
        add_edge(&g, group[L], target, c);
        grouped = true;
      }
    }
    if (grouped) {
      for (int k = 0; k < nc; k++) {
        int L = assign[cons[k]];
        if (L != alpha && group[L] >= 0) add_edge(&g, vmap[cons[k]], group[L], g.inf);
      }
      if (pg->to_home[t] && pg->home != alpha && group[pg->home] >= 0) add_edge(&g, SRC, group[pg->home], g.inf);
    }
    if (lp != alpha && P != SNK) { /* producer keeps lp: the tensor goes lp -> alpha if any consumer takes alpha */
      double c = cl_pg_xfer(pg, t, lp, alpha);
      if (at_alpha)
        add_edge(&g, P, SNK, c);
      else if (movable == 1)
        add_edge(&g, P, one_movable, c);
      else if (movable > 1 && c > 0) {
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
    if (v == SNK || (v != SRC && w->tree[v] != IN_S)) assign[n] = alpha;
  }
  return 0;
}

int cl_cut_move(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, int alpha, int *assign) {
  int rc = reserve_nodes(ctx, w, pg->n_nodes);
  return rc ? rc : move(ctx, w, pg, alpha, assign, 4 * bound(pg) + 1);
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

int cl_cut_expand(cleave_ctx *ctx, cl_cut_work *w, const cl_pgraph *pg, unsigned allowed_mask, unsigned settled,
                  int max_cycles, int *assign, double *cost) {
  int nn = pg->n_nodes, nd = pg->n_dev;
  int rc = reserve_nodes(ctx, w, nn);
  if (rc) return rc;
  int *lab = w->lab;
  double inf = 4 * bound(pg) + 1;
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
    settled = 0; /* what the caller knew was about its own labelling */
  }
  /* done: the labels whose move from the current labelling gains nothing (a move is a pure function of the
   * labelling, so it is not made again until another move changes the labelling) */
  unsigned done = settled;
  for (int cycle = 0; cycle < max_cycles; cycle++) {
    bool improved = false;
    for (int alpha = 0; alpha < nd; alpha++) {
      if (!(allowed_mask & (1u << alpha)) || (done & (1u << alpha))) continue;
      memcpy(lab, assign, sizeof(int) * (size_t)nn);
      if ((rc = move(ctx, w, pg, alpha, lab, inf))) return rc;
      double c = memcmp(lab, assign, sizeof(int) * (size_t)nn) ? cl_pgraph_cost(pg, lab) : cur;
      if (c < cur - 1e-12 * (fabs(cur) + 1) || (!isfinite(cur) && isfinite(c))) {
        memcpy(assign, lab, sizeof(int) * (size_t)nn);
        cur = c;
        improved = true;
        done = 0;
      } else {
        done |= 1u << alpha;
      }
    }
    if (!improved) break;
  }
  *cost = cur;
  return isfinite(cur) ? 0 : CLEAVE_EINFEASIBLE;
}
