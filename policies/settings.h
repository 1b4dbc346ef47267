/* policies: what a context holds for the policies (private; the context's policy member). All-zero is the default:
 * nothing pushed, the system files read from "/", AUTO, DEFAULT power preference, no custom policy. */
#ifndef CLEAVE_POLICIES_SETTINGS_H
#define CLEAVE_POLICIES_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "cleave/policy.h"
#include "partitioner/profile.h"

#define CL_POLICY_ROOT_MAX 1024

typedef struct cl_policy_settings {
  double pushed[CLEAVE_SIGNAL_COUNT];
  uint32_t pushed_mask; /* bit i: pushed[i] holds a value */
  cleave_mode mode;
  cleave_power_preference power;
  bool system_off;               /* cleave_policy_set_system_root(ctx, NULL) */
  char root[CL_POLICY_ROOT_MAX]; /* "" stands for "/" */
  cleave_policy_fn fn;
  void *fn_user;
  /* The profiles explanations plan with: the device's and the edge's (NULL: none). They point either into
   * profiles[] (cleave_policy_set_profiles() loads files into it) or at the caller's cleave_profile objects
   * (cleave_policy_use_profiles(), no copy). */
  const cl_profile *device, *edge;
  cl_profile profiles[2];
} cl_policy_settings;

#endif
