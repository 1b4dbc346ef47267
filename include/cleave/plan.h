/* cleave: device profiles, calibration and the online correction of the cost model. */
#ifndef CLEAVE_PLAN_H
#define CLEAVE_PLAN_H

#include "cleave/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cleave_ctx cleave_ctx;
typedef struct cleave_model cleave_model;
typedef struct cleave_result cleave_result;

/* ---- device profiles ---------------------------------------------------------------------------------- */

/* A device profile: throughput per op class, memory bandwidth, dispatch overhead, memory, power and thermal
 * behaviour (the JSON format is described in the partitioner's documentation). */
typedef struct cleave_profile cleave_profile;

/* Loads a profile from a JSON file. Errors: CLEAVE_EIO (unreadable), CLEAVE_EINVAL (malformed; the message
 * names the file and the key or position), CLEAVE_ENOMEM. */
CLEAVE_API int cleave_profile_load(cleave_ctx *ctx, const char *path, cleave_profile **out);
CLEAVE_API void cleave_profile_free(cleave_profile *p);
/* The profile's name; owned by the profile. */
CLEAVE_API const char *cleave_profile_name(const cleave_profile *p);

/* Measures the local device named device ("cpu", "ref", ...) with micro-models built in memory, one or more per
 * op class, run through the real backend, and writes a profile to out_path. Takes from a fraction of a second
 * to a few seconds. Errors: CLEAVE_ENODEVICE, CLEAVE_EIO, CLEAVE_ENOMEM, or the backend's. */
CLEAVE_API int cleave_calibrate(cleave_ctx *ctx, const char *device, const char *out_path);

/* ---- online correction -------------------------------------------------------------------------------- */

/* EWMA of measured / predicted time per (profile, op class), fed by real runs. */
typedef struct cleave_correction cleave_correction;

/* Creates an empty correction (all factors 1). Returns 0, CLEAVE_EINVAL or CLEAVE_ENOMEM. */
CLEAVE_API int cleave_correction_new(cleave_ctx *ctx, cleave_correction **out);
CLEAVE_API void cleave_correction_free(cleave_correction *c);
/* Replaces the state with the one saved in path. Errors: CLEAVE_EIO, CLEAVE_EINVAL (malformed; the message says
 * where). */
CLEAVE_API int cleave_correction_load(cleave_correction *c, const char *path);
/* Writes the state to path as JSON. Errors: CLEAVE_EIO, CLEAVE_ENOMEM. */
CLEAVE_API int cleave_correction_save(const cleave_correction *c, const char *path);
/* Folds in the per-node timings of a run of model (a result of a session with profiling on) on the device that
 * profile describes: each node's measured time (the sum of its steps, where the device ran it in several) against
 * the profile's prediction. Returns the number of nodes used (0 if the result has no timings), CLEAVE_EINVAL or
 * CLEAVE_ENOMEM. */
CLEAVE_API int cleave_correction_observe(cleave_correction *c, const cleave_model *model,
                                         const cleave_profile *profile, const cleave_result *result);
/* The current factor (measured / predicted) for a profile name and op class name ("conv", "depthwise", "gemm",
 * "elementwise", "pool", "data"); 1 when nothing was observed, a negative CLEAVE_EINVAL for an unknown class. */
CLEAVE_API double cleave_correction_factor(const cleave_correction *c, const char *profile, const char *op_class);

#ifdef __cplusplus
}
#endif
#endif
