/* examples: what the examples share: the command line (model, input shape, edge) and random inputs. Public API
 * only. */
#ifndef CLEAVE_EXAMPLE_COMMON_H
#define CLEAVE_EXAMPLE_COMMON_H

#include <cleave.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct example_args {
  const char *model;
  int64_t dims[CLEAVE_MAX_DIMS]; /* the first input's shape */
  int ndim;
  const char *edge, *ca, *token;
  const char *device; /* the home device */
  int runs, in_flight;
} example_args;

static inline int example_parse(int argc, char **argv, example_args *a, const char *usage) {
  memset(a, 0, sizeof *a);
  a->device = "cpu";
  a->runs = 8;
  a->in_flight = 4;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--shape") && v) {
      char *p = argv[++i];
      for (a->ndim = 0; *p && a->ndim < CLEAVE_MAX_DIMS; a->ndim++) {
        a->dims[a->ndim] = strtoll(p, &p, 10);
        if (*p == 'x') p++;
      }
    } else if (!strcmp(argv[i], "--edge") && v) {
      a->edge = argv[++i];
    } else if (!strcmp(argv[i], "--ca") && v) {
      a->ca = argv[++i];
    } else if (!strcmp(argv[i], "--token") && v) {
      a->token = argv[++i];
    } else if (!strcmp(argv[i], "--device") && v) {
      a->device = argv[++i];
    } else if (!strcmp(argv[i], "--runs") && v) {
      a->runs = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--in-flight") && v) {
      a->in_flight = atoi(argv[++i]);
    } else if (argv[i][0] != '-' && !a->model) {
      a->model = argv[i];
    } else {
      fprintf(stderr, "%s", usage);
      return -1;
    }
  }
  if (!a->model || !a->ndim || a->runs < 1 || a->in_flight < 1) {
    fprintf(stderr, "%s", usage);
    return -1;
  }
  return 0;
}

/* Fixes the first input's symbolic dimensions to the shape given on the command line. */
static inline int example_fix_dims(const cleave_model *m, const example_args *a, cleave_session_options *o) {
  const cleave_tensor *in = cleave_model_input(m, 0);
  if (!in || in->ndim != a->ndim) {
    fprintf(stderr, "the model's first input has rank %d; --shape gives %d dims\n", in ? in->ndim : -1, a->ndim);
    return -1;
  }
  for (int d = 0; d < a->ndim; d++)
    if (in->dims[d] < 0 && in->dim_names[d] && cleave_session_options_set_dim(o, in->dim_names[d], a->dims[d]))
      return -1;
  return 0;
}

/* A float32 input of the given shape, filled with a fixed pattern; free data with free(). */
static inline cleave_tensor example_input(const cleave_model *m, const example_args *a) {
  cleave_tensor t = {.name = cleave_model_input(m, 0)->name, .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = a->ndim};
  memcpy(t.dims, a->dims, sizeof t.dims);
  size_t n = (size_t)cleave_tensor_numel(&t);
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; x && i < n; i++)
    x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
  t.data = x;
  t.nbytes = x ? n * sizeof *x : 0;
  return t;
}

/* One line per segment: where it ran and what it cost. */
static inline void example_print_placement(const cleave_result *r) {
  const cleave_placement *p = cleave_result_placement(r);
  printf("  plan %s: %.2f ms (predicted %.2f), %d segments, %d fell back, %d hedged, %.1f mJ\n", p->plan,
         cleave_result_ms(r), p->predicted_ms, p->n_segments, p->fallbacks, p->hedges, p->energy_mj);
  for (int i = 0; i < p->n_segments; i++) {
    const cleave_segment_report *s = &p->segments[i];
    printf("    %-28s %4d nodes  start %7.2f  end %7.2f ms  queue %.2f  compute %.2f  transfer %.2f  up %llu B  "
           "down %llu B%s%s\n",
           s->where, s->n_nodes, s->start_ms, s->end_ms, s->queue_ms, s->compute_ms, s->transfer_ms,
           (unsigned long long)s->bytes_up, (unsigned long long)s->bytes_down, s->fallback ? "  (fell back)" : "",
           s->hedged ? "  (hedged)" : "");
  }
}

/* The edge of the command line on ctx (NULL when none was given). */
static inline cleave_edge *example_edge(cleave_ctx *ctx, const example_args *a) {
  if (!a->edge) return NULL;
  cleave_edge_options *eo = NULL;
  cleave_edge *e = NULL;
  int rc = cleave_edge_options_new(&eo);
  if (!rc && a->ca) rc = cleave_edge_options_set_ca_file(eo, a->ca);
  if (!rc && a->token) rc = cleave_edge_options_set_token(eo, a->token);
  if (!rc) rc = cleave_edge_new(ctx, a->edge, eo, &e);
  cleave_edge_options_free(eo);
  if (rc) fprintf(stderr, "edge %s: %s: %s\n", a->edge, cleave_strerror(rc), cleave_ctx_last_error(ctx));
  return e;
}

#endif
