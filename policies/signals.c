/* policies: signal snapshots, host-pushed values and the public signal calls. */
#include "policies/signals.h"

#include <math.h>
#include <string.h>

#include "core/ir/ctx.h"
#include "policies/settings.h"

static const char *const signal_names[] = {
    "battery_level", "battery_charging",   "thermal_status",    "thermal_headroom", "temperature_c",
    "net_online",    "net_effective_type", "net_downlink_mbps", "net_uplink_mbps",  "net_rtt_ms",
    "net_save_data", "net_metered",        "mem_pressure",      "mem_available_mb", "edge_queue_ms",
};
_Static_assert(sizeof signal_names / sizeof signal_names[0] == CLEAVE_SIGNAL_COUNT, "one name per signal");

const char *cleave_signal_name(cleave_signal sig) {
  if ((int)sig < 0 || sig >= CLEAVE_SIGNAL_COUNT) return NULL;
  return signal_names[sig];
}

void cl_signals_clear(cl_signals *s) { memset(s, 0, sizeof *s); }

double cl_signals_get(const cl_signals *s, cleave_signal k, double def) {
  return s->origin[k] != CL_ORIGIN_NONE ? s->v[k] : def;
}

void cl_signals_put(cl_signals *s, cleave_signal k, double v, cl_signal_origin origin) {
  s->v[k] = v;
  s->origin[k] = (uint8_t)origin;
}

void cl_signals_merge(cl_signals *dst, const cl_signals *src) {
  for (int k = 0; k < CLEAVE_SIGNAL_COUNT; k++)
    if (src->origin[k] != CL_ORIGIN_NONE) {
      dst->v[k] = src->v[k];
      dst->origin[k] = src->origin[k];
    }
}

const char *cl_signal_origin_name(cl_signal_origin o) {
  switch (o) {
  case CL_ORIGIN_SYSTEM: return "system";
  case CL_ORIGIN_HOST: return "host";
  case CL_ORIGIN_TRACE: return "trace";
  case CL_ORIGIN_SIM: return "simulation";
  default: return "none";
  }
}

int cl_signal_check(cleave_ctx *ctx, cleave_signal k, double v) {
  const char *name = cleave_signal_name(k);
  if (!name) return cl_err(ctx, CLEAVE_EINVAL, "signal %d: no such signal", (int)k);
  if (!isfinite(v)) return cl_err(ctx, CLEAVE_EINVAL, "signal %s: value is not a finite number", name);
  switch (k) {
  case CLEAVE_SIGNAL_BATTERY_LEVEL:
  case CLEAVE_SIGNAL_MEM_PRESSURE:
    if (v < 0 || v > 1) return cl_err(ctx, CLEAVE_EINVAL, "signal %s: %g is outside [0, 1]", name, v);
    break;
  case CLEAVE_SIGNAL_BATTERY_CHARGING:
  case CLEAVE_SIGNAL_NET_ONLINE:
  case CLEAVE_SIGNAL_NET_SAVE_DATA:
  case CLEAVE_SIGNAL_NET_METERED:
    if (v != 0 && v != 1) return cl_err(ctx, CLEAVE_EINVAL, "signal %s: %g is not 0 or 1", name, v);
    break;
  case CLEAVE_SIGNAL_THERMAL_STATUS:
    if (v < 0 || v > 6 || v != floor(v))
      return cl_err(ctx, CLEAVE_EINVAL, "signal %s: %g is not an integer in 0..6", name, v);
    break;
  case CLEAVE_SIGNAL_NET_EFFECTIVE_TYPE:
    if (v < 1 || v > 4 || v != floor(v))
      return cl_err(ctx, CLEAVE_EINVAL, "signal %s: %g is not an integer in 1..4 (slow-2g, 2g, 3g, 4g)", name, v);
    break;
  case CLEAVE_SIGNAL_TEMPERATURE_C:
    if (v < -273.15) return cl_err(ctx, CLEAVE_EINVAL, "signal %s: %g is below absolute zero", name, v);
    break;
  default:
    if (v < 0) return cl_err(ctx, CLEAVE_EINVAL, "signal %s: %g is negative", name, v);
  }
  return 0;
}

int cleave_signal_set(cleave_ctx *ctx, cleave_signal sig, double value) {
  if (!ctx) return CLEAVE_EINVAL;
  if ((int)sig < 0 || sig >= CLEAVE_SIGNAL_COUNT)
    return cl_err(ctx, CLEAVE_EINVAL, "signal %d: no such signal", (int)sig);
  if (isnan(value)) {
    ctx->policy->pushed_mask &= ~(UINT32_C(1) << sig);
    return 0;
  }
  int rc = cl_signal_check(ctx, sig, value);
  if (rc) return rc;
  ctx->policy->pushed[sig] = value;
  ctx->policy->pushed_mask |= UINT32_C(1) << sig;
  return 0;
}

int cleave_signal_get(cleave_ctx *ctx, cleave_signal sig, double *value) {
  if (!ctx || !value) return CLEAVE_EINVAL;
  if ((int)sig < 0 || sig >= CLEAVE_SIGNAL_COUNT)
    return cl_err(ctx, CLEAVE_EINVAL, "signal %d: no such signal", (int)sig);
  cl_signals s;
  int rc = cl_ctx_signals(ctx, &s);
  if (rc) return rc;
  if (!cl_signals_has(&s, sig))
    return cl_err(ctx, CLEAVE_ENOTFOUND, "signal %s: no source knows it", cleave_signal_name(sig));
  *value = s.v[sig];
  return 0;
}

static int host_read(void *state, double now_s, cl_signals *out) {
  (void)now_s;
  const cleave_ctx *ctx = state;
  for (int k = 0; k < CLEAVE_SIGNAL_COUNT; k++)
    if (ctx->policy->pushed_mask & (UINT32_C(1) << k))
      cl_signals_put(out, (cleave_signal)k, ctx->policy->pushed[k], CL_ORIGIN_HOST);
  return 0;
}

const cl_signal_source_iface cl_host_signals = {.name = "host", .read = host_read};

int cl_ctx_signals(cleave_ctx *ctx, cl_signals *out) {
  cl_signals_clear(out);
  if (!ctx->policy->system_off) {
    cl_linux_source lin = {.ctx = ctx, .root = ctx->policy->root};
    int rc = cl_linux_signals.read(&lin, 0, out);
    if (rc) return rc;
  }
  return cl_host_signals.read(ctx, 0, out);
}
