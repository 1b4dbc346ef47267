/* remote: what the engine needs of an edge beyond the public API (private). Loop thread only. */
#ifndef CLEAVE_REMOTE_EDGE_IMPL_H
#define CLEAVE_REMOTE_EDGE_IMPL_H

#include <stddef.h>

#include "cleave/edge.h"

/* The edge's URL, as given to cleave_edge_new. */
const char *cl_edge_url(const cleave_edge *e);

/* In both calls timeout_ms < 0 takes the edge's default, 0 is none; the callback never runs inside the call, and the
 * edge's close cancels a call still in flight (its callback then gets CLEAVE_ECANCELED).
 *
 * GET path on the edge (with its token). The callback runs once on the loop: status 0 with the HTTP status and
 * the body (valid during the call), or a negative CLEAVE_E* code (the message in cleave_ctx_last_error() during the
 * call). Errors before sending (the callback then never runs): CLEAVE_EINVAL, CLEAVE_ENOMEM. */
typedef void (*cl_edge_get_cb)(void *user, int status, int http_status, const char *body, size_t len);
int cl_edge_get(cleave_edge *e, const char *path, int timeout_ms, cl_edge_get_cb cb, void *user);

/* A bandwidth probe: POSTs up_bytes of filler to the gateway's probe endpoint (POST /v2/cleave/probe), which reads
 * and discards them, and answers down_bytes of filler when down_bytes > 0 (?down=N). The callback gets status 0,
 * the time from the request's start to its whole answer in ms, and the gateway's Server-Timing recv (the time from
 * the request's headers to the end of its body there: the upload's; -1 when absent), or a negative CLEAVE_E* code
 * (an HTTP error status mapped as cleave_edge_cb's are). Errors before sending: CLEAVE_EINVAL (also more than
 * 4 MiB either way, the gateway's limit), CLEAVE_ENOMEM. */
typedef void (*cl_edge_probe_cb)(void *user, int status, double ms, double recv_ms);
int cl_edge_probe(cleave_edge *e, size_t up_bytes, size_t down_bytes, int timeout_ms, cl_edge_probe_cb cb,
                  void *user);

/* The path to the edge as measured end to end, one estimate per edge shared by every session that uses it. A
 * sample is a request of up and down bytes whose time beyond the edge's own queue and compute was net_ms: less
 * the path's round trip (the least PING of the last 10 s), and with the upload's time up_ms as the edge timed it
 * (its Server-Timing recv), both ways are seen; without it (up_ms < 0) the way that dominated is, the other's
 * share of the time taken off at its own estimate. A way of under 16 KiB, or of 0.5 ms or less, is no sample. */
#define CL_EDGE_LINK_FRESH_MS 30000.0 /* an estimate whose last sample is older than this is not given */
typedef enum cl_link_sample_kind {
  CL_LINK_RUN,    /* a request's transfer: smoothed (weight 0.3) */
  CL_LINK_PROBE,  /* a probe: weight 0.6, and taken as it is when over twice or under half the estimate */
  CL_LINK_AT_MOST /* a request given up after net_ms (a hedge beat it; up_ms unused): the dominant way's rate is at
                     most what that implies, taken at once */
} cl_link_sample_kind;
void cl_edge_link_sample(cleave_edge *e, double up_bytes, double down_bytes, double net_ms, double up_ms,
                         cl_link_sample_kind kind);
/* The estimates in Mbit/s (10^6 bit/s), each 0 while unknown or stale. */
void cl_edge_link_rates(const cleave_edge *e, double *up_mbps, double *down_mbps);
/* Probes both ways at once, each with about 0.1 s of its estimated rate (64 to 256 KiB), and takes the result as
 * a CL_LINK_PROBE sample (the gateway's recv timing the upload); cb (may be NULL) then gets the probe's outcome. One probe per edge at a
 * time, and none within min_gap_ms of the last one's start or end: CLEAVE_EBUSY (nothing sent, the callback never
 * runs). Other errors as cl_edge_probe's. */
int cl_edge_link_probe(cleave_edge *e, double min_gap_ms, cl_edge_probe_cb cb, void *user);

/* Makes sure the gateway has model (its file's sha256 as the version, name as its name there): asks whether it is
 * ready (GET /v2/models/<name>/versions/<sha256>/ready) and, when it is not there and uploads are on, uploads the
 * file (read on the thread pool). The callback (result always NULL) gets 0 once the gateway has it, or the error:
 * CLEAVE_ENOTFOUND (missing and no upload possible), the upload's HTTP error, the transport's. *out, if not NULL,
 * may be canceled with cleave_edge_cancel until the callback. Errors before sending: CLEAVE_EINVAL, CLEAVE_ENOMEM. */
int cl_edge_ensure_model(cleave_edge *e, const cleave_model *model, const char *name, int timeout_ms,
                         cleave_edge_cb cb, void *user, cleave_edge_req **out);

#endif
