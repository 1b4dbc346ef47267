/* partitioner: calibration of a local device (private).
 *
 * Micro-models built in memory (one or two nodes per op class, a chain of tiny nodes for the dispatch overhead,
 * one large streaming node for the memory bandwidth) run through the device's real backend with profiling on;
 * the lower quartiles of their per-node times give the profile's effective throughput per op class, memory bandwidth
 * and dispatch overhead, so that the roofline of cl_profile_node_ms() reproduces them. */
#ifndef CLEAVE_PARTITIONER_CALIBRATE_H
#define CLEAVE_PARTITIONER_CALIBRATE_H

#include "partitioner/profile.h"

/* One micro-model's measurement. */
typedef struct cl_calib_sample {
  const char *what; /* "conv", ..., "dispatch", "memory" */
  double flops;     /* per run, from the cost model */
  double bytes;     /* per run, from the cost model */
  int steps;        /* timed steps per run (nodes, or fused groups) */
  int runs;         /* timed runs */
  double ms;        /* lower quartile over runs of the sum of the steps' times */
  double gflops;    /* flops / (ms - steps * dispatch_ms) */
  bool supported;   /* false: the device refused the model (its class gets throughput 0) */
} cl_calib_sample;

#define CL_CALIB_SAMPLES 8
/* The budget of cleave_calibrate(), in ms of timed runs. */
#define CL_CALIB_DEFAULT_MS 4000

/* Measures the local device named device into *out, named name, spending about budget_ms on timed runs (at
 * least 3 runs per micro-model; compiling and one warm-up run per micro-model come on top). samples, when not
 * NULL, receives CL_CALIB_SAMPLES entries. Errors: CLEAVE_ENODEVICE (unknown device, or the edge),
 * CLEAVE_EINVAL, CLEAVE_ENOMEM, or the backend's error on a micro-model every device must run (the dispatch
 * chain and the memory stream). */
int cl_calibrate(cleave_ctx *ctx, const char *device, const char *name, double budget_ms, cl_profile *out,
                 cl_calib_sample *samples);

/* cleave_calibrate() with a budget: the profile is named after the file (without folder and ".json") and
 * written there; a file that cannot be written fails before any measuring, and a file this call created is
 * removed again when the measuring fails. */
int cl_calibrate_file(cleave_ctx *ctx, const char *device, const char *out_path, double budget_ms);

/* The profile of the local device named device on this host, for plans made without a profile from the app: read
 * from the cache when a file exists there for this device, thread count and host, else measured (budget_ms of timed
 * runs) and written there. The cache folder is $CLEAVE_CACHE_DIR, else $XDG_CACHE_HOME/cleave, else
 * $HOME/.cache/cleave, created as needed; a cache that cannot be read or written is not an error (the profile is
 * measured and returned all the same, and a warning logged). path, when not NULL, receives the cache file's path
 * (path_len bytes, "" when there is no cache folder). Errors: those of cl_calibrate. */
int cl_calibrate_cached(cleave_ctx *ctx, const char *device, double budget_ms, cl_profile *out, char *path,
                        size_t path_len);

#endif
