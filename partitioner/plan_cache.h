/* partitioner: plan cache keyed by quantised conditions, and hysteresis (private).
 *
 * Conditions that differ by less than a quantisation step map to the same key and reuse the cached plan;
 * bandwidth and RTT are quantised on a log scale (CL_PLAN_KEY_STEPS_PER_DOUBLING steps per factor 2). The
 * hysteresis decides whether a newly computed plan replaces the one in use: only when its predicted gain
 * exceeds a threshold, or when it has been proposed persist_n times in a row. */
#ifndef CLEAVE_PARTITIONER_PLAN_CACHE_H
#define CLEAVE_PARTITIONER_PLAN_CACHE_H

#include <stdint.h>

#include "partitioner/placement.h"

#define CL_PLAN_KEY_STEPS_PER_DOUBLING 2

/* What the key is made of. */
typedef struct cl_conditions {
  double up_mbps, down_mbps, rtt_ms; /* <= 0 bandwidth: offline */
  int thermal_level;                 /* 0 (cool) .. 6 (shutdown), Android's thermal status scale */
  int battery_band;                  /* e.g. 0: < 15 %, 1: < 50 %, 2: >= 50 %, 3: charging (the caller's bands) */
  int mode;                          /* cl_place_mode */
  uint32_t extra;                    /* anything else the caller wants in the key (weights band, ...) */
} cl_conditions;

typedef struct cl_plan_key {
  int16_t up, down, rtt; /* log-scale buckets; INT16_MIN for offline */
  int8_t thermal, battery, mode;
  uint32_t extra;
} cl_plan_key;

cl_plan_key cl_plan_key_of(const cl_conditions *c);
bool cl_plan_key_eq(const cl_plan_key *a, const cl_plan_key *b);

typedef struct cl_plan_cache cl_plan_cache;

/* A cache of at most capacity plans (least recently used evicted). Returns 0, CLEAVE_EINVAL or CLEAVE_ENOMEM. */
int cl_plan_cache_new(cleave_ctx *ctx, int capacity, cl_plan_cache **out);
void cl_plan_cache_free(cl_plan_cache *c);
/* The cached plan for key, or NULL. Owned by the cache; valid until the next put. */
const cl_plan *cl_plan_cache_get(cl_plan_cache *c, const cl_plan_key *key);
/* Stores a copy of plan under key (replacing any). Returns 0 or CLEAVE_ENOMEM. */
int cl_plan_cache_put(cl_plan_cache *c, const cl_plan_key *key, const cl_plan *plan);
/* Hits and misses of get so far. */
void cl_plan_cache_stats(const cl_plan_cache *c, long *hits, long *misses);

/* Hysteresis between the plan in use and proposals. */
typedef struct cl_hysteresis {
  double gain_threshold; /* adopt at once when (current - proposed) / current > this (default 0.1) */
  int persist_n;         /* or when the same proposal (by assignment) came persist_n times in a row (default 3) */
  uint64_t pending_hash; /* assignment hash of the pending proposal */
  int pending_count;
} cl_hysteresis;

void cl_hysteresis_init(cl_hysteresis *h);
/* Hash of an assignment (n node devices). */
uint64_t cl_plan_assign_hash(const int *assign, int n);
/* Decides on a proposal: current_value is the objective of the plan in use re-evaluated under the new
 * conditions (INFINITY if it is infeasible now, e.g. the edge went offline: always adopt), proposed_value and
 * proposed_hash those of the new plan. Returns true to adopt (and resets the pending state). */
bool cl_hysteresis_offer(cl_hysteresis *h, double current_value, double proposed_value, uint64_t proposed_hash);

#endif
