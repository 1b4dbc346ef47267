/* partitioner: online correction of predicted node times (private).
 *
 * For each (device profile name, op class) an exponentially weighted moving average of measured / predicted
 * time. Real runs feed it (cleave_correction_observe() in the public API); the planner multiplies its
 * predictions by the factor. The state persists as JSON so that the next start is already calibrated. */
#ifndef CLEAVE_PARTITIONER_CORRECTION_H
#define CLEAVE_PARTITIONER_CORRECTION_H

#include "partitioner/profile.h"

#define CL_CORR_MAX_DEVICES 16

typedef struct cl_correction {
  cleave_ctx *ctx;
  double alpha; /* EWMA weight of a new observation (default 0.2) */
  int n_devices;
  struct {
    char name[CL_PROFILE_NAME_MAX]; /* profile name */
    double factor[CL_OPC_COUNT];    /* measured / predicted; 1 until observed */
    long count[CL_OPC_COUNT];       /* observations */
  } dev[CL_CORR_MAX_DEVICES];
} cl_correction;

void cl_correction_init(cl_correction *c, cleave_ctx *ctx);
/* Folds one observation in: measured and predicted ms of a node of class k on the profile named device. Ignores
 * non-positive or non-finite values. Returns 0 or CLEAVE_ELIMIT (too many devices). */
int cl_correction_observe(cl_correction *c, const char *device, cl_op_class k, double measured_ms,
                          double predicted_ms);
/* The factor for (device, k); 1 when never observed. */
double cl_correction_factor(const cl_correction *c, const char *device, cl_op_class k);
/* Observations of the profile named device so far, all op classes together (0: its figures are untested). */
long cl_correction_count(const cl_correction *c, const char *device);
/* JSON persistence: {"alpha":0.2,"devices":{"name":{"conv":{"factor":1.3,"count":12},...}}}.
 * Load replaces c's state; errors CLEAVE_EIO, CLEAVE_EINVAL (malformed, the message says where). */
int cl_correction_load(cl_correction *c, const char *path);
int cl_correction_save(const cl_correction *c, const char *path);

#endif
