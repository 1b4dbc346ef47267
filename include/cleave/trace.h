/* cleave: link traces, recorded or synthetic links to replay (in a simulation, or through a link emulator).
 *
 * A trace says how fast the link is, each way, at every moment from its start. Three formats:
 *   - Mahimahi (.up / .down): one line per 1500-byte delivery opportunity, its time in whole ms; Mahimahi replays
 *     the file in a loop whose period is the last time in it. Rates are the opportunities counted per bin.
 *   - Pensieve: "seconds Mbps" per line, the downlink (the uplink is a fixed ratio of it).
 *   - CSV: t_s,up_mbps,down_mbps,rtt_ms[,radio], an optional header line, '#' comments.
 * Rates are in Mbit/s (10^6 bit/s); a rate of 0 is offline that way.
 *
 * A loaded trace is read-only: any number of threads may read it at once. It keeps a pointer to the context it
 * was loaded with, which must outlive it. */
#ifndef CLEAVE_TRACE_H
#define CLEAVE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "cleave/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cleave_ctx cleave_ctx;

typedef enum cleave_trace_format {
  CLEAVE_TRACE_AUTO = 0, /* by the file's extension: .up/.down Mahimahi, .csv CSV, anything else Pensieve */
  CLEAVE_TRACE_MAHIMAHI = 1,
  CLEAVE_TRACE_PENSIEVE = 2,
  CLEAVE_TRACE_CSV = 3
} cleave_trace_format;

/* The two ways of a link: up is from the device to the edge. */
typedef enum cleave_trace_dir { CLEAVE_TRACE_UP = 0, CLEAVE_TRACE_DOWN = 1 } cleave_trace_dir;

typedef struct cleave_trace_options cleave_trace_options;

/* Defaults: format by extension, no separate downlink file (a Mahimahi file then serves both ways), 1000 ms bins,
 * an RTT of 50 ms for formats that carry none, uplink = downlink for Pensieve, and no loop for the formats that do
 * not loop by themselves (their last sample then holds). Returns 0, CLEAVE_EINVAL (out NULL) or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_trace_options_new(cleave_trace_options **out);
CLEAVE_API void cleave_trace_options_free(cleave_trace_options *o);
/* Returns 0 or CLEAVE_EINVAL (a value not in the enum). */
CLEAVE_API int cleave_trace_options_set_format(cleave_trace_options *o, cleave_trace_format format);
/* Mahimahi: the .down file, when the path given to cleave_trace_load is the .up one. Copied; NULL clears it.
 * Returns 0, CLEAVE_EINVAL or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_trace_options_set_down_file(cleave_trace_options *o, const char *path);
/* Mahimahi: the bin in ms over which opportunities are counted into a rate (> 0). Returns 0 or CLEAVE_EINVAL. */
CLEAVE_API int cleave_trace_options_set_bin_ms(cleave_trace_options *o, double bin_ms);
/* The RTT in ms of formats that carry none (Mahimahi, Pensieve), > 0. Returns 0 or CLEAVE_EINVAL. */
CLEAVE_API int cleave_trace_options_set_rtt_ms(cleave_trace_options *o, double rtt_ms);
/* Pensieve: uplink = downlink * ratio (> 0). Returns 0 or CLEAVE_EINVAL. */
CLEAVE_API int cleave_trace_options_set_up_ratio(cleave_trace_options *o, double ratio);
/* Whether Pensieve and CSV traces replay from the start after their end (Mahimahi ones always do). */
CLEAVE_API void cleave_trace_options_set_loop(cleave_trace_options *o, int on);

typedef struct cleave_trace cleave_trace;

/* Loads a trace file (opt may be NULL for the defaults; it is not kept). Errors: CLEAVE_EIO (the message names
 * the file), CLEAVE_EINVAL ("FILE:LINE: what is wrong", or path or out NULL), CLEAVE_ELIMIT (more than 10^7
 * samples, or a file over 1 GiB), CLEAVE_ENOMEM; the message is in cleave_ctx_last_error(ctx). On error *out is
 * NULL. The trace is allocated through ctx's allocator and freed with cleave_trace_free. */
CLEAVE_API int cleave_trace_load(cleave_ctx *ctx, const char *path, const cleave_trace_options *opt,
                                 cleave_trace **out);
CLEAVE_API void cleave_trace_free(cleave_trace *t);

/* The format the trace was read as (never AUTO). */
CLEAVE_API cleave_trace_format cleave_trace_format_of(const cleave_trace *t);
/* Seconds from the start to the end of the trace (the loop's period where it loops). */
CLEAVE_API double cleave_trace_duration_s(const cleave_trace *t);
/* 1 if the trace replays from its start after duration_s, 0 if its last sample then holds. */
CLEAVE_API int cleave_trace_loops(const cleave_trace *t);

/* The link at t_s seconds from the start (looping, or holding the last sample, past the end; t_s < 0 reads as
 * 0): up and down rates in Mbit/s and the RTT in ms. Any output pointer may be NULL. */
CLEAVE_API void cleave_trace_at(const cleave_trace *t, double t_s, double *up_mbps, double *down_mbps,
                                double *rtt_ms);
/* Seconds the link takes to carry bytes one way starting at t_s, as its rate changes along the trace (the RTT is
 * not included). INFINITY when it never does (offline to the end of a trace that does not loop, or a loop with no
 * bandwidth that way). */
CLEAVE_API double cleave_trace_transfer_s(const cleave_trace *t, double t_s, double bytes, cleave_trace_dir dir);

/* Mahimahi traces: the delivery opportunities one way, as written in the file (whole ms from the start, in
 * order, repeated times meaning several opportunities in that ms). Each carries up to 1500 bytes; the file
 * replays with the period of its last time, so opportunity i of round k is at ms[i] + k * ms[n - 1]. A trace
 * loaded from one file has the same opportunities both ways. *ms belongs to the trace. Returns 0, or
 * CLEAVE_EINVAL for a trace of another format (then *ms is NULL and *n 0). */
CLEAVE_API int cleave_trace_opportunities(const cleave_trace *t, cleave_trace_dir dir, const uint64_t **ms,
                                          size_t *n);

#ifdef __cplusplus
}
#endif
#endif
