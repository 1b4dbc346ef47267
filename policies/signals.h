/* policies: signal snapshots and the sources that fill them (private).
 *
 * A source is a small vtable that writes what it knows into a snapshot; later sources override earlier ones, so
 * the order system files, host-pushed values, trace gives the host the last word over the system and the
 * simulator's trace the last word over both. */
#ifndef CLEAVE_POLICIES_SIGNALS_H
#define CLEAVE_POLICIES_SIGNALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleave.h"

typedef enum cl_signal_origin {
  CL_ORIGIN_NONE = 0,
  CL_ORIGIN_SYSTEM,
  CL_ORIGIN_HOST,
  CL_ORIGIN_TRACE,
  CL_ORIGIN_SIM
} cl_signal_origin;

typedef struct cl_signals {
  double v[CLEAVE_SIGNAL_COUNT];
  uint8_t origin[CLEAVE_SIGNAL_COUNT]; /* cl_signal_origin; CL_ORIGIN_NONE: v[i] means nothing */
} cl_signals;

void cl_signals_clear(cl_signals *s);
static inline bool cl_signals_has(const cl_signals *s, cleave_signal k) { return s->origin[k] != CL_ORIGIN_NONE; }
/* v[k] when known, else def. */
double cl_signals_get(const cl_signals *s, cleave_signal k, double def);
void cl_signals_put(cl_signals *s, cleave_signal k, double v, cl_signal_origin origin);
/* Copies every known signal of src over dst. */
void cl_signals_merge(cl_signals *dst, const cl_signals *src);
const char *cl_signal_origin_name(cl_signal_origin o);

/* Checks a value for signal k; 0, or CLEAVE_EINVAL with the reason in ctx. */
int cl_signal_check(cleave_ctx *ctx, cleave_signal k, double v);

typedef struct cl_signal_source_iface {
  const char *name;
  /* Writes what the source knows at time now_s (seconds on the source's own clock; sources without a clock
   * ignore it) into out, leaving the signals it does not know as they are. Returns 0 or an error; a source that
   * finds nothing to read is not in error. */
  int (*read)(void *state, double now_s, cl_signals *out);
} cl_signal_source_iface;

typedef struct cl_signal_source {
  const cl_signal_source_iface *iface;
  void *state;
} cl_signal_source;

/* Linux: battery, thermal zones, network links, memory pressure, meminfo and the cgroup limit, read below root
 * ("" or "/" for the real system). state is a cl_linux_source. */
typedef struct cl_linux_source {
  cleave_ctx *ctx; /* for error messages; may be NULL */
  const char *root;
} cl_linux_source;
extern const cl_signal_source_iface cl_linux_signals;

/* Reads the Linux files once into out (the body of cl_linux_signals.read). */
int cl_linux_read(const char *root, cl_signals *out);

/* The context's pushed values. state is the cleave_ctx. */
extern const cl_signal_source_iface cl_host_signals;

/* All of the context's sources (system files unless switched off, then pushed values) into out. */
int cl_ctx_signals(cleave_ctx *ctx, cl_signals *out);

#endif
