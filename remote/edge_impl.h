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

/* A bandwidth probe: POSTs bytes of filler to the gateway's probe endpoint (POST /v2/cleave/probe), which reads
 * and discards them. The callback gets status 0 and the time from the request's start to its answer in ms, or a
 * negative CLEAVE_E* code (an HTTP error status mapped as cleave_edge_cb's are). Errors before sending:
 * CLEAVE_EINVAL (also bytes over 4 MiB, the gateway's limit), CLEAVE_ENOMEM. */
typedef void (*cl_edge_probe_cb)(void *user, int status, double ms);
int cl_edge_probe(cleave_edge *e, size_t bytes, int timeout_ms, cl_edge_probe_cb cb, void *user);

/* Makes sure the gateway has model (its file's sha256 as the version, name as its name there): asks whether it is
 * ready (GET /v2/models/<name>/versions/<sha256>/ready) and, when it is not there and uploads are on, uploads the
 * file (read on the thread pool). The callback (result always NULL) gets 0 once the gateway has it, or the error:
 * CLEAVE_ENOTFOUND (missing and no upload possible), the upload's HTTP error, the transport's. *out, if not NULL,
 * may be canceled with cleave_edge_cancel until the callback. Errors before sending: CLEAVE_EINVAL, CLEAVE_ENOMEM. */
int cl_edge_ensure_model(cleave_edge *e, const cleave_model *model, const char *name, int timeout_ms,
                         cleave_edge_cb cb, void *user, cleave_edge_req **out);

#endif
