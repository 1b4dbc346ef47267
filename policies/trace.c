/* policies: link traces (Mahimahi, Pensieve, CSV), lookup and transfer times along a trace. */
#include "policies/trace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/ctx.h"

#define MAX_SAMPLES 10000000
#define MAX_TRACE_BYTES ((size_t)1 << 30)
#define MAHIMAHI_PACKET_BITS (1500.0 * 8)

typedef struct line_iter {
  const char *p, *end;
  int line;
  char buf[256];
} line_iter;

/* The next non-empty, non-comment line, trimmed, into it->buf; 0 at the end, -1 when a line is too long. */
static int next_line(line_iter *it) {
  while (it->p < it->end) {
    const char *s = it->p, *e = memchr(s, '\n', (size_t)(it->end - s));
    if (!e) e = it->end;
    it->p = e < it->end ? e + 1 : e;
    it->line++;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
      e--;
    if (s == e || *s == '#') continue;
    if ((size_t)(e - s) >= sizeof it->buf) return -1;
    memcpy(it->buf, s, (size_t)(e - s));
    it->buf[e - s] = 0;
    return 1;
  }
  return 0;
}

/* Parses n numbers separated by blanks or commas; 0, or the 1-based index of the first bad field. */
static int parse_fields(const char *s, double *out, int n, int *count) {
  int k = 0;
  while (*s) {
    while (*s == ' ' || *s == '\t' || *s == ',')
      s++;
    if (!*s) break;
    if (k == n) {
      *count = k + 1;
      return k + 1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || (*end && *end != ' ' && *end != '\t' && *end != ',')) {
      *count = k;
      return k + 1;
    }
    out[k++] = v;
    s = end;
  }
  *count = k;
  return 0;
}

static int grow(cleave_ctx *ctx, cl_link_trace *t, int *cap) {
  if (t->n < *cap) return 0;
  if (*cap >= MAX_SAMPLES) return CLEAVE_ELIMIT;
  int nc = *cap ? *cap * 2 : 256;
  if (nc > MAX_SAMPLES) nc = MAX_SAMPLES;
  cl_link_sample *s = cl_realloc(ctx, t->s, (size_t)nc * sizeof *s);
  if (!s) return CLEAVE_ENOMEM;
  t->s = s;
  *cap = nc;
  return 0;
}

/* Mahimahi: per-bin counts of delivery opportunities. */
static int mahimahi_bins(cleave_ctx *ctx, const char *name, const char *text, size_t len, double bin_ms,
                         double **bins, int *n_bins, double *last_ms) {
  line_iter it = {.p = text, .end = text + len};
  double prev = 0, *b = NULL;
  int cap = 0, n = 0, r, lines = 0;
  while ((r = next_line(&it)) > 0) {
    double v;
    int cnt;
    char *end;
    errno = 0;
    v = strtod(it.buf, &end);
    (void)cnt;
    if (end == it.buf || *end || errno || v != floor(v) || v < 0) {
      cl_free(ctx, b);
      return cl_err(ctx, CLEAVE_EINVAL, "%s:%d: '%s' is not a delivery time in whole ms (Mahimahi format)", name,
                    it.line, it.buf);
    }
    if (v < prev) {
      cl_free(ctx, b);
      return cl_err(ctx, CLEAVE_EINVAL, "%s:%d: time %.0f ms goes back (previous %.0f ms)", name, it.line, v, prev);
    }
    if (v / bin_ms >= MAX_SAMPLES) {
      cl_free(ctx, b);
      return cl_err(ctx, CLEAVE_ELIMIT, "%s:%d: time %.0f ms makes more than %d bins", name, it.line, v, MAX_SAMPLES);
    }
    int k = (int)(v / bin_ms);
    if (k >= cap) {
      int nc = cap ? cap : 256;
      while (nc <= k)
        nc *= 2;
      double *nb = cl_realloc(ctx, b, (size_t)nc * sizeof *nb);
      if (!nb) {
        cl_free(ctx, b);
        return cl_err(ctx, CLEAVE_ENOMEM, "%s: out of memory", name);
      }
      memset(nb + cap, 0, (size_t)(nc - cap) * sizeof *nb);
      b = nb;
      cap = nc;
    }
    b[k] += 1;
    if (k + 1 > n) n = k + 1;
    prev = v;
    lines++;
  }
  if (r < 0) {
    cl_free(ctx, b);
    return cl_err(ctx, CLEAVE_EINVAL, "%s:%d: line too long", name, it.line);
  }
  if (!lines || prev <= 0) {
    cl_free(ctx, b);
    return cl_err(ctx, CLEAVE_EINVAL, "%s: no delivery times after 0 ms (a Mahimahi trace needs at least one)", name);
  }
  *bins = b;
  *n_bins = n;
  *last_ms = prev;
  return 0;
}

static int parse_mahimahi(cleave_ctx *ctx, const char *name, const char *up, size_t up_len, const char *down,
                          size_t down_len, const cl_trace_options *o, cl_link_trace *t) {
  double bin = o->bin_ms > 0 ? o->bin_ms : 1000, *bu = NULL, *bd = NULL, lu, ld;
  int nu, nd, rc = mahimahi_bins(ctx, name, up, up_len, bin, &bu, &nu, &lu);
  if (rc) return rc;
  if (down) {
    char dname[300];
    snprintf(dname, sizeof dname, "%s", o->down_path ? o->down_path : "downlink");
    if ((rc = mahimahi_bins(ctx, dname, down, down_len, bin, &bd, &nd, &ld))) {
      cl_free(ctx, bu);
      return rc;
    }
  } else {
    bd = bu;
    nd = nu;
    ld = lu;
  }
  int n = nu > nd ? nu : nd;
  t->s = cl_malloc(ctx, (size_t)n * sizeof *t->s);
  if (!t->s) rc = cl_err(ctx, CLEAVE_ENOMEM, "%s: out of memory", name);
  for (int i = 0; !rc && i < n; i++) {
    double scale = MAHIMAHI_PACKET_BITS / (bin / 1000.0) / 1e6;
    t->s[i] = (cl_link_sample){.t_s = i * bin / 1000.0,
                               .up_mbps = (i < nu ? bu[i] : 0) * scale,
                               .down_mbps = (i < nd ? bd[i] : 0) * scale,
                               .rtt_ms = o->rtt_ms > 0 ? o->rtt_ms : 50,
                               .radio = -1};
  }
  t->n = rc ? 0 : n;
  t->duration_s = n * bin / 1000.0;
  t->loop = true;
  if (bd != bu) cl_free(ctx, bd);
  cl_free(ctx, bu);
  return rc;
}

/* Pensieve ("t Mbps") or CSV ("t,up,down,rtt"). */
static int parse_rows(cleave_ctx *ctx, const char *name, const char *text, size_t len, int csv,
                      const cl_trace_options *o, cl_link_trace *t) {
  line_iter it = {.p = text, .end = text + len};
  int cap = 0, r, want = csv ? 4 : 2, first = 1, rc = 0;
  double t0 = 0;
  while ((r = next_line(&it)) > 0) {
    double f[4];
    int radio = -1;
    const char *radio_name = NULL;
    if (csv) { /* an optional fifth field names the radio */
      char *c = it.buf;
      for (int k = 0; k < 4 && c; k++)
        c = strchr(c + (k > 0), ',');
      if (c) {
        *c++ = 0;
        while (*c == ' ')
          c++;
        radio_name = c;
        radio = cl_radio_kind_from_name(c);
      }
    }
    int cnt, bad = parse_fields(it.buf, f, want, &cnt);
    if (first && csv && bad == 1 && !(it.buf[0] >= '0' && it.buf[0] <= '9')) {
      first = 0; /* header */
      continue;
    }
    first = 0;
    if (radio_name && radio < 0) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "%s:%d: radio '%s' is none of wifi, lte, 3g, 5g, none", name, it.line,
                  radio_name);
      goto fail;
    }
    if (bad || cnt != want) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "%s:%d: '%s': expected %s", name, it.line, it.buf,
                  csv ? "t_s,up_mbps,down_mbps,rtt_ms" : "'seconds Mbps' (Pensieve format)");
      goto fail;
    }
    double bw_up = csv ? f[1] : f[1] * (o->up_ratio > 0 ? o->up_ratio : 1), bw_down = csv ? f[2] : f[1];
    double rtt = csv ? f[3] : (o->rtt_ms > 0 ? o->rtt_ms : 50);
    if (bw_up < 0 || bw_down < 0 || rtt < 0) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "%s:%d: negative bandwidth or rtt", name, it.line);
      goto fail;
    }
    if (t->n == 0)
      t0 = f[0];
    else if (f[0] - t0 <= t->s[t->n - 1].t_s) {
      rc =
          cl_err(ctx, CLEAVE_EINVAL, "%s:%d: time %g s does not come after the previous line's", name, it.line, f[0]);
      goto fail;
    }
    if ((rc = grow(ctx, t, &cap))) {
      rc = cl_err(ctx, rc, "%s:%d: %s", name, it.line, rc == CLEAVE_ELIMIT ? "too many samples" : "out of memory");
      goto fail;
    }
    t->s[t->n++] =
        (cl_link_sample){.t_s = f[0] - t0, .up_mbps = bw_up, .down_mbps = bw_down, .rtt_ms = rtt, .radio = radio};
  }
  if (r < 0) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "%s:%d: line too long", name, it.line);
    goto fail;
  }
  if (t->n == 0) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "%s: no samples", name);
    goto fail;
  }
  /* The last sample lasts as long as the one before it. */
  t->duration_s = t->s[t->n - 1].t_s + (t->n > 1 ? t->s[t->n - 1].t_s - t->s[t->n - 2].t_s : 1);
  t->loop = o->loop;
  return 0;
fail:
  cl_free(ctx, t->s);
  t->s = NULL;
  t->n = 0;
  return rc;
}

static cl_trace_format guess_format(const char *path) {
  const char *dot = path ? strrchr(path, '.') : NULL;
  if (dot && (strcmp(dot, ".up") == 0 || strcmp(dot, ".down") == 0)) return CL_TRACE_MAHIMAHI;
  if (dot && strcmp(dot, ".csv") == 0) return CL_TRACE_CSV;
  return CL_TRACE_PENSIEVE;
}

int cl_trace_parse(cleave_ctx *ctx, const char *name, const char *text, size_t len, cl_trace_format format,
                   const char *down_text, size_t down_len, const cl_trace_options *opt, cl_link_trace *out) {
  static const cl_trace_options defaults = {0};
  const cl_trace_options *o = opt ? opt : &defaults;
  memset(out, 0, sizeof *out);
  out->ctx = ctx;
  if (!text) return cl_err(ctx, CLEAVE_EINVAL, "%s: no text", name);
  if (format == CL_TRACE_AUTO) format = guess_format(name);
  switch (format) {
  case CL_TRACE_MAHIMAHI: return parse_mahimahi(ctx, name, text, len, down_text, down_len, o, out);
  case CL_TRACE_PENSIEVE: return parse_rows(ctx, name, text, len, 0, o, out);
  case CL_TRACE_CSV: return parse_rows(ctx, name, text, len, 1, o, out);
  default: return cl_err(ctx, CLEAVE_EINVAL, "%s: unknown trace format %d", name, (int)format);
  }
}

static int slurp(cleave_ctx *ctx, const char *path, char **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return cl_err(ctx, CLEAVE_EIO, "trace %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *b = cl_malloc(ctx, cap);
  int rc = b ? 0 : CLEAVE_ENOMEM;
  while (!rc) {
    if (n == cap) {
      if (cap >= MAX_TRACE_BYTES) {
        rc = cl_err(ctx, CLEAVE_ELIMIT, "trace %s: larger than %zu bytes", path, MAX_TRACE_BYTES);
        break;
      }
      char *nb = cl_realloc(ctx, b, cap * 2);
      if (!nb) {
        rc = CLEAVE_ENOMEM;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t k = fread(b + n, 1, cap - n, f);
    n += k;
    if (k == 0) {
      if (ferror(f)) rc = cl_err(ctx, CLEAVE_EIO, "trace %s: read error", path);
      break;
    }
  }
  fclose(f);
  if (rc == CLEAVE_ENOMEM) rc = cl_err(ctx, rc, "trace %s: out of memory", path);
  if (rc) {
    cl_free(ctx, b);
    return rc;
  }
  *out = b;
  *len = n;
  return 0;
}

int cl_trace_load(cleave_ctx *ctx, const char *path, const cl_trace_options *opt, cl_link_trace *out) {
  memset(out, 0, sizeof *out);
  if (!path) return cl_err(ctx, CLEAVE_EINVAL, "trace: no path");
  char *text = NULL, *down = NULL;
  size_t len = 0, down_len = 0;
  int rc = slurp(ctx, path, &text, &len);
  if (rc) return rc;
  cl_trace_format fmt = opt && opt->format ? opt->format : guess_format(path);
  if (fmt == CL_TRACE_MAHIMAHI && opt && opt->down_path && (rc = slurp(ctx, opt->down_path, &down, &down_len))) {
    cl_free(ctx, text);
    return rc;
  }
  rc = cl_trace_parse(ctx, path, text, len, fmt, down, down_len, opt, out);
  cl_free(ctx, down);
  cl_free(ctx, text);
  return rc;
}

int cl_trace_constant(cleave_ctx *ctx, double up_mbps, double down_mbps, double rtt_ms, cl_link_trace *out) {
  memset(out, 0, sizeof *out);
  out->ctx = ctx;
  if (!(up_mbps >= 0 && down_mbps >= 0 && rtt_ms >= 0) || !isfinite(up_mbps + down_mbps + rtt_ms))
    return cl_err(ctx, CLEAVE_EINVAL, "link: bandwidth and rtt must be finite and >= 0");
  if (!(out->s = cl_malloc(ctx, sizeof *out->s))) return cl_err(ctx, CLEAVE_ENOMEM, "link: out of memory");
  out->s[0] = (cl_link_sample){0, up_mbps, down_mbps, rtt_ms, -1};
  out->n = 1;
  out->duration_s = 1;
  out->loop = true;
  return 0;
}

void cl_trace_free(cl_link_trace *t) {
  if (!t) return;
  if (t->s) cl_free(t->ctx, t->s);
  memset(t, 0, sizeof *t);
}

/* Index of the sample in force at local time x in [0, duration). */
static int find(const cl_link_trace *t, double x) {
  int lo = 0, hi = t->n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (t->s[mid].t_s <= x)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

const cl_link_sample *cl_trace_at(const cl_link_trace *t, double t_s) {
  if (t_s <= 0) return &t->s[0];
  if (t_s >= t->duration_s) {
    if (!t->loop) return &t->s[t->n - 1];
    t_s = fmod(t_s, t->duration_s);
  }
  return &t->s[find(t, t_s)];
}

static double rate_of(const cl_link_sample *s, int up) { return (up ? s->up_mbps : s->down_mbps) * 1e6; }

double cl_trace_transfer_s(const cl_link_trace *t, double t_s, double bytes, int up) {
  if (bytes <= 0) return 0;
  if (t_s < 0) t_s = 0;
  double bits = bytes * 8, base = 0, x = t_s;
  if (x >= t->duration_s) {
    if (!t->loop) {
      double r = rate_of(&t->s[t->n - 1], up);
      return r > 0 ? bits / r : INFINITY;
    }
    base = floor(x / t->duration_s) * t->duration_s;
    x -= base;
    if (x >= t->duration_s) x = 0, base += t->duration_s; /* rounding */
  }
  double loop_bits = -1;
  int i = find(t, x);
  for (;;) {
    double end = i + 1 < t->n ? t->s[i + 1].t_s : t->duration_s, r = rate_of(&t->s[i], up);
    if (r > 0 && r * (end - x) >= bits) return base + x + bits / r - t_s;
    if (r > 0) bits -= r * (end - x);
    x = end;
    if (++i == t->n) {
      if (!t->loop) {
        double last = rate_of(&t->s[t->n - 1], up);
        return last > 0 ? base + x + bits / last - t_s : INFINITY;
      }
      if (loop_bits < 0) { /* whole loops at once, then the remainder sample by sample */
        loop_bits = 0;
        for (int k = 0; k < t->n; k++)
          loop_bits += rate_of(&t->s[k], up) * ((k + 1 < t->n ? t->s[k + 1].t_s : t->duration_s) - t->s[k].t_s);
        if (loop_bits <= 0) return INFINITY;
        double whole = floor(bits / loop_bits);
        if (whole >= 1 && bits - whole * loop_bits <= 0) whole -= 1;
        bits -= whole * loop_bits;
        base += whole * t->duration_s;
      }
      base += t->duration_s;
      x = 0;
      i = 0;
    }
  }
}

void cl_trace_mean(const cl_link_trace *t, double t0, double t1, double *up_mbps, double *down_mbps) {
  double su = 0, sd = 0, span = 0;
  const double step = t1 - t0 > 0 ? (t1 - t0) / 64 : 0;
  for (int k = 0; k < 64 && step > 0; k++) {
    const cl_link_sample *s = cl_trace_at(t, t0 + (k + 0.5) * step);
    su += s->up_mbps;
    sd += s->down_mbps;
    span += 1;
  }
  if (span == 0) {
    const cl_link_sample *s = cl_trace_at(t, t0);
    su = s->up_mbps, sd = s->down_mbps, span = 1;
  }
  *up_mbps = su / span;
  *down_mbps = sd / span;
}

int cl_trace_mahimahi_times(cleave_ctx *ctx, const char *path, uint64_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!path) return cl_err(ctx, CLEAVE_EINVAL, "trace: no path");
  char *text = NULL;
  size_t len = 0, cap = 0, k = 0;
  int rc = slurp(ctx, path, &text, &len), r;
  if (rc) return rc;
  uint64_t *v = NULL, prev = 0;
  line_iter it = {.p = text, .end = text + len};
  while ((r = next_line(&it)) > 0) {
    char *end;
    errno = 0;
    double x = strtod(it.buf, &end);
    if (end == it.buf || *end || errno || x != floor(x) || x < 0 || x > 1e12) { /* 1e12 ms: 31 years */
      rc = cl_err(ctx, CLEAVE_EINVAL, "%s:%d: '%s' is not a delivery time in whole ms (Mahimahi format)", path,
                  it.line, it.buf);
      goto fail;
    }
    if ((uint64_t)x < prev) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "%s:%d: time %.0f ms goes back (previous %llu ms)", path, it.line, x,
                  (unsigned long long)prev);
      goto fail;
    }
    if (k == cap) {
      if (cap >= MAX_SAMPLES) {
        rc = cl_err(ctx, CLEAVE_ELIMIT, "%s:%d: more than %d delivery times", path, it.line, MAX_SAMPLES);
        goto fail;
      }
      size_t nc = cap ? cap * 2 : 1024;
      uint64_t *nv = cl_realloc(ctx, v, nc * sizeof *nv);
      if (!nv) {
        rc = cl_err(ctx, CLEAVE_ENOMEM, "%s: out of memory", path);
        goto fail;
      }
      v = nv;
      cap = nc;
    }
    v[k++] = prev = (uint64_t)x;
  }
  if (r < 0) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "%s:%d: line too long", path, it.line);
    goto fail;
  }
  if (!k || prev == 0) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "%s: no delivery times after 0 ms (a Mahimahi trace needs at least one)", path);
    goto fail;
  }
  cl_free(ctx, text);
  *out = v;
  *n = k;
  return 0;
fail:
  cl_free(ctx, v);
  cl_free(ctx, text);
  return rc;
}
