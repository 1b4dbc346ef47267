/* policies: the policy rules (signals in; a decision out) and the public policy settings.
 *
 * Every rule is a plain, monotone function of one signal, so that a decision can be read back from its rules. The
 * thresholds follow what the platforms themselves treat as significant: Android's battery saver suggestion at
 * 15%, its thermal status ladder, the kernel's passive trip point, PSI stall shares, and the effective-type
 * table of the W3C Network Information draft. */
#include "policies/decide.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/ir/ctx.h"
#include "policies/settings.h"

static void rule(cl_policy_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rule(cl_policy_result *r, const char *fmt, ...) {
  if (r->n_rules == CL_POLICY_MAX_RULES) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->rules[r->n_rules++], CL_POLICY_RULE_LEN, fmt, ap);
  va_end(ap);
}

/* Linear from (x0, y0) to (x1, y1), flat outside. */
static double ramp(double x, double x0, double y0, double x1, double y1) {
  if (x0 > x1) return ramp(x, x1, y1, x0, y0);
  if (x <= x0) return y0;
  if (x >= x1) return y1;
  return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

/* Android thermal status to the headroom at which it is typically reported (1.0 = severe). */
static const double status_headroom[7] = {0.0, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0};
static const char *const status_names[7] = {"none",     "light",     "moderate", "severe",
                                            "critical", "emergency", "shutdown"};

/* W3C Network Information, effective connection types: the slowest downlink and rtt that still rate as each
 * type; 4g has no bound, and takes the DADS paper's 4G uplink preset and a typical LTE rtt. */
static const struct {
  const char *name;
  double down_mbps, rtt_ms;
} effective_types[5] = {{"?", 0, 0}, {"slow-2g", 0.05, 2000}, {"2g", 0.07, 1400}, {"3g", 0.7, 270}, {"4g", 5.85, 50}};

int cl_policy_builtin(cleave_ctx *ctx, const cl_signals *s, cleave_mode mode, cleave_power_preference pref,
                     cl_policy_result *r) {
  memset(r, 0, sizeof *r);
  cleave_policy_decision *d = &r->d;
  d->w_latency = CL_POLICY_W_LATENCY;
  d->w_energy = CL_POLICY_W_ENERGY;
  d->w_cost = CL_POLICY_W_COST;
  d->local_slowdown = d->local_energy_scale = d->memory_cap_scale = d->edge_cost_scale = d->edge_slowdown = 1;
  d->edge_allowed = d->local_allowed = 1;
  d->mode = mode;
  r->up_mbps = r->down_mbps = r->rtt_ms = r->edge_queue_ms = NAN;

  if (pref == CLEAVE_POWER_HIGH_PERFORMANCE) {
    d->w_energy *= 0.2;
    rule(r, "power preference high-performance: energy weight x0.2");
  } else if (pref == CLEAVE_POWER_LOW_POWER) {
    d->w_energy *= 5;
    rule(r, "power preference low-power: energy weight x5");
  }

  /* Battery: only a discharging battery makes energy dearer; the factor rises as the charge falls below half,
   * to 4 at 15% and 8 at 5%. High performance keeps its speed until the battery is nearly empty. */
  if (cl_signals_has(s, CLEAVE_SIGNAL_BATTERY_LEVEL)) {
    double level = s->v[CLEAVE_SIGNAL_BATTERY_LEVEL];
    int charging = cl_signals_get(s, CLEAVE_SIGNAL_BATTERY_CHARGING, 0) == 1;
    if (!charging) {
      double f = level >= 0.15 ? ramp(level, 0.5, 1, 0.15, 4) : ramp(level, 0.15, 4, 0.05, 8);
      if (pref == CLEAVE_POWER_HIGH_PERFORMANCE && level > 0.15) f = 1;
      if (f > 1) {
        d->w_energy *= f;
        rule(r, "battery %.0f%% and discharging: energy weight x%.2g", level * 100, f);
      }
    }
  }

  /* Thermal: the larger of the reported headroom and the headroom the status implies. Below 0.7 nothing
   * changes; at 1.0 (severe) local work is predicted to take twice as long, and each extra 0.3 adds one more
   * multiple, up to 8. Hot silicon leaks, so the energy of local work rises by half of the slowdown. */
  double h = -1;
  const char *hsrc = NULL;
  if (cl_signals_has(s, CLEAVE_SIGNAL_THERMAL_HEADROOM)) {
    h = s->v[CLEAVE_SIGNAL_THERMAL_HEADROOM];
    hsrc = "headroom";
  }
  if (cl_signals_has(s, CLEAVE_SIGNAL_THERMAL_STATUS)) {
    int st = (int)s->v[CLEAVE_SIGNAL_THERMAL_STATUS];
    if (st >= 0 && st <= 6 && status_headroom[st] > h) {
      h = status_headroom[st];
      hsrc = status_names[st];
    }
  }
  if (h > 0.7) {
    double slow = 1 + (h - 0.7) / 0.3;
    if (slow > 8) slow = 8;
    d->local_slowdown *= slow;
    d->local_energy_scale *= 1 + 0.5 * (slow - 1);
    rule(r, "thermal %s (headroom %.2f): local devices x%.2g slower, x%.2g energy", hsrc, h, slow,
         1 + 0.5 * (slow - 1));
  }

  /* Memory: sustained stalls shrink what a plan may hold (to half at 25% stall share, a quarter from 35%); and a
   * plan never takes more than half of what is available, leaving the rest to the app. */
  if (cl_signals_has(s, CLEAVE_SIGNAL_MEM_PRESSURE)) {
    double p = s->v[CLEAVE_SIGNAL_MEM_PRESSURE];
    double sc = ramp(p, 0.05, 1, 0.35, 0.25);
    if (sc < 1) {
      d->memory_cap_scale *= sc;
      rule(r, "memory pressure %.0f%% (PSI some avg10): memory caps x%.2g", p * 100, sc);
    }
  }
  if (cl_signals_has(s, CLEAVE_SIGNAL_MEM_AVAILABLE_MB)) {
    d->memory_cap_mb = 0.5 * s->v[CLEAVE_SIGNAL_MEM_AVAILABLE_MB];
    rule(r, "%.0f MiB available: plans hold at most %.0f MiB on the device", s->v[CLEAVE_SIGNAL_MEM_AVAILABLE_MB],
         d->memory_cap_mb);
  }

  /* Network. */
  int online = cl_signals_get(s, CLEAVE_SIGNAL_NET_ONLINE, 1) != 0;
  if (!online) {
    d->edge_allowed = 0;
    rule(r, "offline (net_online = 0 from %s): the edge is forbidden",
         cl_signal_origin_name((cl_signal_origin)s->origin[CLEAVE_SIGNAL_NET_ONLINE]));
  }
  if (cl_signals_get(s, CLEAVE_SIGNAL_NET_METERED, 0) == 1) {
    r->cost_per_mb = CL_POLICY_METERED_COST_PER_MB;
    rule(r, "metered link: each MB over it costs %g", CL_POLICY_METERED_COST_PER_MB);
  }
  if (cl_signals_get(s, CLEAVE_SIGNAL_NET_SAVE_DATA, 0) == 1) {
    r->cost_per_mb = CL_POLICY_METERED_COST_PER_MB;
    d->edge_cost_scale *= 4;
    rule(r, "saveData requested: bytes count as metered, edge cost x4");
  }
  int et = (int)cl_signals_get(s, CLEAVE_SIGNAL_NET_EFFECTIVE_TYPE, 0);
  if (et >= 1 && et <= 4) {
    r->down_mbps = effective_types[et].down_mbps;
    r->rtt_ms = effective_types[et].rtt_ms;
  }
  if (cl_signals_has(s, CLEAVE_SIGNAL_NET_DOWNLINK_MBPS)) r->down_mbps = s->v[CLEAVE_SIGNAL_NET_DOWNLINK_MBPS];
  if (cl_signals_has(s, CLEAVE_SIGNAL_NET_RTT_MS)) r->rtt_ms = s->v[CLEAVE_SIGNAL_NET_RTT_MS];
  /* Network Information reports no uplink: a symmetric link is the guess until the host or a probe says more. */
  r->up_mbps = cl_signals_has(s, CLEAVE_SIGNAL_NET_UPLINK_MBPS) ? s->v[CLEAVE_SIGNAL_NET_UPLINK_MBPS] : r->down_mbps;
  if (et >= 1 && et <= 4 && !cl_signals_has(s, CLEAVE_SIGNAL_NET_DOWNLINK_MBPS))
    rule(r, "effective type %s: link taken as %.2g Mbit/s, %.0f ms", effective_types[et].name, r->down_mbps,
         r->rtt_ms);
  if (cl_signals_has(s, CLEAVE_SIGNAL_EDGE_QUEUE_MS)) r->edge_queue_ms = s->v[CLEAVE_SIGNAL_EDGE_QUEUE_MS];
  if (online && (r->up_mbps == 0 || r->down_mbps == 0)) {
    d->edge_allowed = 0;
    rule(r, "link bandwidth is 0: the edge is forbidden");
  }

  /* Modes last, so that they can contradict the signals and say so. */
  switch (mode) {
  case CLEAVE_MODE_AUTO: break;
  case CLEAVE_MODE_PREFER_LOCAL:
    rule(r, "mode prefer-local: the edge's time, energy and cost count x%.2g", CL_POLICY_PREFER_FACTOR);
    break;
  case CLEAVE_MODE_PREFER_EDGE:
    rule(r, "mode prefer-edge: the local devices' time, energy and cost count x%.2g", CL_POLICY_PREFER_FACTOR);
    break;
  case CLEAVE_MODE_ONLY_LOCAL:
    d->edge_allowed = 0;
    rule(r, "mode only-local: the edge is forbidden");
    break;
  case CLEAVE_MODE_ONLY_EDGE:
    if (!d->edge_allowed)
      return cl_err(ctx, CLEAVE_EINFEASIBLE, "mode only-edge contradicts the signals: %s",
                    r->n_rules ? r->rules[r->n_rules - 1] : "the edge is forbidden");
    d->local_allowed = 0;
    rule(r, "mode only-edge: local devices run nothing but the pinned inputs");
    break;
  default: return cl_err(ctx, CLEAVE_EINVAL, "mode %d: no such mode", (int)mode);
  }
  return 0;
}

static int check_decision(cleave_ctx *ctx, const cleave_policy_decision *d) {
  const struct {
    const char *name;
    double v, lo, hi;
  } f[] = {{"w_latency", d->w_latency, 0, INFINITY},
           {"w_energy", d->w_energy, 0, INFINITY},
           {"w_cost", d->w_cost, 0, INFINITY},
           {"local_slowdown", d->local_slowdown, 1e-3, 1e6},
           {"local_energy_scale", d->local_energy_scale, 0, 1e6},
           {"memory_cap_scale", d->memory_cap_scale, 1e-6, 1},
           {"memory_cap_mb", d->memory_cap_mb, 0, INFINITY},
           {"edge_cost_scale", d->edge_cost_scale, 0, 1e6},
           {"edge_slowdown", d->edge_slowdown, 1e-3, 1e6}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (!(f[i].v >= f[i].lo && f[i].v <= f[i].hi) || isinf(f[i].v))
      return cl_err(ctx, CLEAVE_EINVAL, "custom policy: %s = %g is outside [%g, %g]", f[i].name, f[i].v, f[i].lo,
                    f[i].hi);
  if (d->w_latency + d->w_energy + d->w_cost <= 0)
    return cl_err(ctx, CLEAVE_EINVAL, "custom policy: all weights are 0");
  if (!d->edge_allowed && !d->local_allowed)
    return cl_err(ctx, CLEAVE_EINFEASIBLE, "custom policy: both the edge and the local devices are forbidden");
  if ((int)d->mode < CLEAVE_MODE_AUTO || d->mode > CLEAVE_MODE_ONLY_EDGE)
    return cl_err(ctx, CLEAVE_EINVAL, "custom policy: mode %d: no such mode", (int)d->mode);
  return 0;
}

static bool decision_eq(const cleave_policy_decision *a, const cleave_policy_decision *b) {
  return a->w_latency == b->w_latency && a->w_energy == b->w_energy && a->w_cost == b->w_cost &&
         a->local_slowdown == b->local_slowdown && a->local_energy_scale == b->local_energy_scale &&
         a->memory_cap_scale == b->memory_cap_scale && a->memory_cap_mb == b->memory_cap_mb &&
         a->edge_cost_scale == b->edge_cost_scale && a->edge_slowdown == b->edge_slowdown &&
         a->edge_allowed == b->edge_allowed && a->local_allowed == b->local_allowed && a->mode == b->mode;
}

int cl_policy_decide(cleave_ctx *ctx, const cl_signals *s, cl_policy_result *out) {
  return cl_policy_decide_as(ctx, s, ctx->policy->mode, out);
}

int cl_policy_decide_as(cleave_ctx *ctx, const cl_signals *s, cleave_mode mode, cl_policy_result *out) {
  int rc = cl_policy_builtin(ctx, s, mode, ctx->policy->power, out);
  if (rc) return rc;
  if (!ctx->policy->fn) return 0;
  cleave_policy_input in = {.signals = s};
  cleave_policy_decision before = out->d;
  rc = ctx->policy->fn(ctx->policy->fn_user, &in, &out->d);
  if (rc) return cl_err(ctx, rc < 0 ? rc : CLEAVE_EINVAL, "custom policy refused: %s", cleave_strerror(rc));
  if ((rc = check_decision(ctx, &out->d))) return rc;
  if (!decision_eq(&before, &out->d)) rule(out, "custom policy changed the decision");
  return 0;
}

double cleave_policy_input_signal(const cleave_policy_input *in, cleave_signal sig) {
  if (!in || (int)sig < 0 || sig >= CLEAVE_SIGNAL_COUNT) return NAN;
  return cl_signals_get(in->signals, sig, NAN);
}

int cleave_policy_decide(cleave_ctx *ctx, cleave_policy_decision *out) {
  if (!ctx || !out) return CLEAVE_EINVAL;
  cl_signals s;
  cl_policy_result r;
  int rc = cl_ctx_signals(ctx, &s);
  if (!rc) rc = cl_policy_decide(ctx, &s, &r);
  if (!rc) *out = r.d;
  return rc;
}

int cleave_policy_set_mode(cleave_ctx *ctx, cleave_mode mode) {
  if (!ctx) return CLEAVE_EINVAL;
  if ((int)mode < CLEAVE_MODE_AUTO || mode > CLEAVE_MODE_ONLY_EDGE)
    return cl_err(ctx, CLEAVE_EINVAL, "mode %d: no such mode", (int)mode);
  ctx->policy->mode = mode;
  return 0;
}

int cleave_policy_set_power_preference(cleave_ctx *ctx, cleave_power_preference pref) {
  if (!ctx) return CLEAVE_EINVAL;
  if ((int)pref < CLEAVE_POWER_DEFAULT || pref > CLEAVE_POWER_LOW_POWER)
    return cl_err(ctx, CLEAVE_EINVAL, "power preference %d: no such preference", (int)pref);
  ctx->policy->power = pref;
  return 0;
}

int cleave_policy_set_system_root(cleave_ctx *ctx, const char *root) {
  if (!ctx) return CLEAVE_EINVAL;
  if (!root || !root[0]) {
    ctx->policy->system_off = true;
    return 0;
  }
  size_t len = strlen(root);
  if (len >= CL_POLICY_ROOT_MAX)
    return cl_err(ctx, CLEAVE_ELIMIT, "system root: %zu bytes, at most %d", len, CL_POLICY_ROOT_MAX - 1);
  memcpy(ctx->policy->root, root, len + 1);
  ctx->policy->system_off = false;
  return 0;
}

void cleave_policy_set_callback(cleave_ctx *ctx, cleave_policy_fn fn, void *user) {
  if (!ctx) return;
  ctx->policy->fn = fn;
  ctx->policy->fn_user = fn ? user : NULL;
}

void cleave_string_free(cleave_ctx *ctx, char *str) {
  if (ctx && str) cl_free(ctx, str);
}

static const char *const mode_names[] = {"auto", "prefer-local", "only-local", "prefer-edge", "only-edge"};
static const char *const power_names[] = {"default", "high-performance", "low-power"};

const char *cl_mode_name(cleave_mode m) { return (int)m >= 0 && m <= CLEAVE_MODE_ONLY_EDGE ? mode_names[m] : "?"; }
const char *cl_power_name(cleave_power_preference p) {
  return (int)p >= 0 && p <= CLEAVE_POWER_LOW_POWER ? power_names[p] : "?";
}

/* Accepts '-' or '_' between words, any case. */
static int name_eq(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a, y = *b;
    if (x == '_') x = '-';
    if (x != y) return 0;
  }
  return *a == *b;
}

int cl_mode_parse(const char *s) {
  for (int i = 0; s && i <= CLEAVE_MODE_ONLY_EDGE; i++)
    if (name_eq(s, mode_names[i])) return i;
  return -1;
}

int cl_power_parse(const char *s) {
  for (int i = 0; s && i <= CLEAVE_POWER_LOW_POWER; i++)
    if (name_eq(s, power_names[i])) return i;
  return -1;
}
