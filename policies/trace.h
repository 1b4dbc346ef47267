/* policies: link traces for the simulator (private).
 *
 * A trace is a piecewise-constant link: sample i holds from t_s[i] until t_s[i+1] (the last until duration_s).
 * Three formats:
 *   - Mahimahi (.up / .down): one line per 1500-byte delivery opportunity, its time in ms; Mahimahi replays the
 *     file in a loop, so the trace loops too. Opportunities are counted in bins of bin_ms.
 *   - Pensieve: "seconds Mbps" per line, the downlink throughput.
 *   - CSV: t_s,up_mbps,down_mbps,rtt_ms[,radio], an optional header line, '#' comments; radio, where given, is
 *     the technology whose energy model applies ("wifi", "lte", "3g", "5g", "none").
 * A bandwidth of 0 both ways means offline. Parse errors name the file and the line. */
#ifndef CLEAVE_POLICIES_TRACE_H
#define CLEAVE_POLICIES_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "cleave.h"
#include "partitioner/network.h"

typedef enum cl_trace_format {
  CL_TRACE_AUTO = 0,
  CL_TRACE_MAHIMAHI,
  CL_TRACE_PENSIEVE,
  CL_TRACE_CSV
} cl_trace_format;

typedef struct cl_link_sample {
  double t_s, up_mbps, down_mbps, rtt_ms;
  int radio; /* cl_radio_kind, or -1 where the trace does not say */
} cl_link_sample;

typedef struct cl_link_trace {
  cleave_ctx *ctx;
  cl_link_sample *s;
  int n;
  double duration_s;
  bool loop; /* replay from the start after duration_s (else the last sample holds) */
} cl_link_trace;

typedef struct cl_trace_options {
  cl_trace_format format; /* AUTO: by extension (.up/.down Mahimahi, .csv CSV, else Pensieve) */
  const char *down_path;  /* Mahimahi: the .down file when path is the .up one (NULL: symmetric link) */
  double bin_ms;          /* Mahimahi bins; 0: 1000 */
  double rtt_ms;          /* the rtt of formats that carry none; 0: 50 */
  double up_ratio;        /* Pensieve: uplink = downlink * up_ratio; 0: 1 */
  bool loop;              /* loop formats that do not loop by themselves */
} cl_trace_options;

/* Loads a trace (opt may be NULL). Errors: CLEAVE_EIO (the message names the file), CLEAVE_EINVAL ("FILE:LINE:
 * what is wrong"), CLEAVE_ELIMIT, CLEAVE_ENOMEM. On error out is left empty. */
int cl_trace_load(cleave_ctx *ctx, const char *path, const cl_trace_options *opt, cl_link_trace *out);
/* Same from text in memory; name stands for the file in messages. */
int cl_trace_parse(cleave_ctx *ctx, const char *name, const char *text, size_t len, cl_trace_format format,
                   const char *down_text, size_t down_len, const cl_trace_options *opt, cl_link_trace *out);
/* A constant link (no trace). */
int cl_trace_constant(cleave_ctx *ctx, double up_mbps, double down_mbps, double rtt_ms, cl_link_trace *out);
void cl_trace_free(cl_link_trace *t);

/* The sample in force at time t (seconds from the start). */
const cl_link_sample *cl_trace_at(const cl_link_trace *t, double t_s);
/* Seconds to move bytes starting at t_s, up (up != 0) or down, as the bandwidth changes along the trace; the
 * rtt is not included. INFINITY when the link never carries them (offline to the end of a trace that does not
 * loop, or a loop with no bandwidth at all). */
double cl_trace_transfer_s(const cl_link_trace *t, double t_s, double bytes, int up);
/* Mean up and down bandwidth over [t0, t1). */
void cl_trace_mean(const cl_link_trace *t, double t0, double t1, double *up_mbps, double *down_mbps);

/* Mahimahi: the delivery opportunities of one file as they are, in whole ms and in order (the trace above keeps
 * only their counts per bin). Same checks and errors as cl_trace_load; on success *out (freed with cl_free) holds
 * *n > 0 times, the last one > 0: Mahimahi replays the file with that period. */
int cl_trace_mahimahi_times(cleave_ctx *ctx, const char *path, uint64_t **out, size_t *n);

#endif
