/* policies: the public trace API (include/cleave/trace.h) over the private reader. Pensieve and CSV traces are
 * the reader's samples; Mahimahi traces are their delivery opportunities as written, so that rates and transfer
 * times follow the file's own loop (the reader's bins would round the period up to a whole bin). */
#include "cleave/trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/ctx.h"
#include "policies/trace.h"

#define PACKET_BYTES 1500.0

struct cleave_trace_options {
  cl_trace_options o;
  char *down_path;
};

struct cleave_trace {
  cleave_ctx *ctx;
  cleave_trace_format format;
  cl_link_trace link; /* Pensieve, CSV */
  /* Mahimahi: opportunities each way (down may alias up), the loop period (the last time), the bin and RTT */
  uint64_t *opp[2];
  size_t n_opp[2];
  double bin_ms, rtt_ms;
};

int cleave_trace_options_new(cleave_trace_options **out) {
  if (!out) return CLEAVE_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : CLEAVE_ENOMEM;
}

void cleave_trace_options_free(cleave_trace_options *o) {
  if (!o) return;
  free(o->down_path);
  free(o);
}

int cleave_trace_options_set_format(cleave_trace_options *o, cleave_trace_format format) {
  if (!o || format < CLEAVE_TRACE_AUTO || format > CLEAVE_TRACE_CSV) return CLEAVE_EINVAL;
  /* the two enums list the formats in the same order */
  o->o.format = (cl_trace_format)format;
  return 0;
}

int cleave_trace_options_set_down_file(cleave_trace_options *o, const char *path) {
  if (!o) return CLEAVE_EINVAL;
  char *c = NULL;
  if (path && !(c = strdup(path))) return CLEAVE_ENOMEM;
  free(o->down_path);
  o->down_path = c;
  o->o.down_path = c;
  return 0;
}

static int set_positive(double *dst, double v, cleave_trace_options *o) {
  if (!o || !(v > 0) || !isfinite(v)) return CLEAVE_EINVAL;
  *dst = v;
  return 0;
}

int cleave_trace_options_set_bin_ms(cleave_trace_options *o, double bin_ms) {
  return set_positive(o ? &o->o.bin_ms : NULL, bin_ms, o);
}

int cleave_trace_options_set_rtt_ms(cleave_trace_options *o, double rtt_ms) {
  return set_positive(o ? &o->o.rtt_ms : NULL, rtt_ms, o);
}

int cleave_trace_options_set_up_ratio(cleave_trace_options *o, double ratio) {
  return set_positive(o ? &o->o.up_ratio : NULL, ratio, o);
}

void cleave_trace_options_set_loop(cleave_trace_options *o, int on) {
  if (o) o->o.loop = on != 0;
}

static cleave_trace_format format_of_path(const char *path) {
  const char *dot = strrchr(path, '.');
  if (dot && (strcmp(dot, ".up") == 0 || strcmp(dot, ".down") == 0)) return CLEAVE_TRACE_MAHIMAHI;
  if (dot && strcmp(dot, ".csv") == 0) return CLEAVE_TRACE_CSV;
  return CLEAVE_TRACE_PENSIEVE;
}

int cleave_trace_load(cleave_ctx *ctx, const char *path, const cleave_trace_options *opt, cleave_trace **out) {
  static const cl_trace_options defaults = {0};
  if (!out) return cl_err(ctx, CLEAVE_EINVAL, "trace: no output pointer");
  *out = NULL;
  if (!path) return cl_err(ctx, CLEAVE_EINVAL, "trace: no path");
  const cl_trace_options *o = opt ? &opt->o : &defaults;
  cleave_trace *t = cl_calloc(ctx, 1, sizeof *t);
  if (!t) return cl_err(ctx, CLEAVE_ENOMEM, "trace %s: out of memory", path);
  t->ctx = ctx;
  t->format = o->format ? (cleave_trace_format)o->format : format_of_path(path);
  t->bin_ms = o->bin_ms > 0 ? o->bin_ms : 1000;
  t->rtt_ms = o->rtt_ms > 0 ? o->rtt_ms : 50;
  int rc;
  if (t->format == CLEAVE_TRACE_MAHIMAHI) {
    rc = cl_trace_mahimahi_times(ctx, path, &t->opp[0], &t->n_opp[0]);
    if (!rc && o->down_path) rc = cl_trace_mahimahi_times(ctx, o->down_path, &t->opp[1], &t->n_opp[1]);
    if (!rc && !o->down_path) {
      t->opp[1] = t->opp[0];
      t->n_opp[1] = t->n_opp[0];
    }
  } else {
    cl_trace_options lo = *o;
    lo.format = (cl_trace_format)t->format;
    rc = cl_trace_load(ctx, path, &lo, &t->link);
  }
  if (rc) {
    cleave_trace_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void cleave_trace_free(cleave_trace *t) {
  if (!t) return;
  if (t->opp[1] != t->opp[0]) cl_free(t->ctx, t->opp[1]);
  cl_free(t->ctx, t->opp[0]);
  cl_trace_free(&t->link);
  cl_free(t->ctx, t);
}

cleave_trace_format cleave_trace_format_of(const cleave_trace *t) { return t->format; }

static double period_ms(const cleave_trace *t, int dir) { return (double)t->opp[dir][t->n_opp[dir] - 1]; }

double cleave_trace_duration_s(const cleave_trace *t) {
  if (t->format != CLEAVE_TRACE_MAHIMAHI) return t->link.duration_s;
  double a = period_ms(t, 0), b = period_ms(t, 1);
  return (a > b ? a : b) / 1000;
}

int cleave_trace_loops(const cleave_trace *t) { return t->format == CLEAVE_TRACE_MAHIMAHI || t->link.loop; }

/* t_s in ms, to the ns: t_s * 1000 is not exact (0.011 s reads as 11.000000000000002 ms, after the opportunity
 * at 11 ms). */
static double to_ms(double t_s) { return nearbyint(t_s * 1e9) / 1e6; }

/* Opportunities of the looped file before x ms (x >= 0). Round k holds ms[i] + k * P; the last time of round
 * k - 1 is k * P, the same instant as any time 0 of round k. */
static double opp_before(const uint64_t *ms, size_t n, double x) {
  double p = (double)ms[n - 1], k = floor(x / p), r = x - k * p;
  size_t lo = 0, hi = n; /* first time >= r */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if ((double)ms[mid] < r)
      lo = mid + 1;
    else
      hi = mid;
  }
  double c = k * (double)n + (double)lo;
  if (r == 0 && k > 0) /* round k - 1's times at k * P are not before x */
    for (size_t i = n; i-- > 0 && ms[i] == ms[n - 1];)
      c -= 1;
  return c;
}

static double mahimahi_mbps(const cleave_trace *t, int dir, double t_ms) {
  double b0 = floor(t_ms / t->bin_ms) * t->bin_ms;
  double n = opp_before(t->opp[dir], t->n_opp[dir], b0 + t->bin_ms) - opp_before(t->opp[dir], t->n_opp[dir], b0);
  return n * PACKET_BYTES * 8 / (t->bin_ms / 1000) / 1e6;
}

void cleave_trace_at(const cleave_trace *t, double t_s, double *up_mbps, double *down_mbps, double *rtt_ms) {
  if (!(t_s > 0)) t_s = 0;
  if (t->format == CLEAVE_TRACE_MAHIMAHI) {
    if (up_mbps) *up_mbps = mahimahi_mbps(t, 0, to_ms(t_s));
    if (down_mbps) *down_mbps = mahimahi_mbps(t, 1, to_ms(t_s));
    if (rtt_ms) *rtt_ms = t->rtt_ms;
    return;
  }
  const cl_link_sample *s = cl_trace_at(&t->link, t_s);
  if (up_mbps) *up_mbps = s->up_mbps;
  if (down_mbps) *down_mbps = s->down_mbps;
  if (rtt_ms) *rtt_ms = s->rtt_ms;
}

double cleave_trace_transfer_s(const cleave_trace *t, double t_s, double bytes, cleave_trace_dir dir) {
  if (!(bytes > 0)) return 0;
  if (!(t_s > 0)) t_s = 0;
  int d = dir == CLEAVE_TRACE_DOWN;
  if (t->format != CLEAVE_TRACE_MAHIMAHI) return cl_trace_transfer_s(&t->link, t_s, bytes, !d);
  /* the last of the ceil(bytes / 1500) opportunities at or after t_s */
  const uint64_t *ms = t->opp[d];
  size_t n = t->n_opp[d];
  double j = opp_before(ms, n, to_ms(t_s)) + ceil(bytes / PACKET_BYTES) - 1;
  double round = floor(j / (double)n), i = j - round * (double)n;
  return ((double)ms[(size_t)i] + round * period_ms(t, d)) / 1000 - t_s;
}

int cleave_trace_opportunities(const cleave_trace *t, cleave_trace_dir dir, const uint64_t **ms, size_t *n) {
  int d = dir == CLEAVE_TRACE_DOWN;
  if (t->format != CLEAVE_TRACE_MAHIMAHI) {
    *ms = NULL;
    *n = 0;
    return CLEAVE_EINVAL;
  }
  *ms = t->opp[d];
  *n = t->n_opp[d];
  return 0;
}
