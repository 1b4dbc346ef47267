/* partitioner: plan cache (small, linear, LRU) and hysteresis. */
#include "partitioner/plan_cache.h"

#include <math.h>
#include <string.h>

static int16_t log_bucket(double x) {
  if (!(x > 0)) return INT16_MIN;
  double b = floor(log2(x) * CL_PLAN_KEY_STEPS_PER_DOUBLING + 0.5);
  if (b < -1000) b = -1000;
  if (b > 1000) b = 1000;
  return (int16_t)b;
}

cl_plan_key cl_plan_key_of(const cl_conditions *c) {
  cl_plan_key k;
  memset(&k, 0, sizeof k);
  bool offline = !(c->up_mbps > 0) || !(c->down_mbps > 0);
  k.up = offline ? INT16_MIN : log_bucket(c->up_mbps);
  k.down = offline ? INT16_MIN : log_bucket(c->down_mbps);
  /* RTT below 1 ms is one bucket */
  k.rtt = offline ? INT16_MIN : log_bucket(c->rtt_ms > 1 ? c->rtt_ms : 1);
  k.thermal = (int8_t)(c->thermal_level < 0 ? 0 : c->thermal_level > 6 ? 6 : c->thermal_level);
  k.battery = (int8_t)c->battery_band;
  k.mode = (int8_t)c->mode;
  k.extra = c->extra;
  return k;
}

bool cl_plan_key_eq(const cl_plan_key *a, const cl_plan_key *b) {
  return a->up == b->up && a->down == b->down && a->rtt == b->rtt && a->thermal == b->thermal &&
         a->battery == b->battery && a->mode == b->mode && a->extra == b->extra;
}

typedef struct entry {
  cl_plan_key key;
  cl_plan plan;
  long used; /* recency stamp */
  bool full;
} entry;

struct cl_plan_cache {
  cleave_ctx *ctx;
  entry *e;
  int cap;
  long clock, hits, misses;
};

int cl_plan_cache_new(cleave_ctx *ctx, int capacity, cl_plan_cache **out) {
  if (!out || capacity < 1) return cl_err(ctx, CLEAVE_EINVAL, "plan cache: capacity must be >= 1");
  *out = NULL;
  cl_plan_cache *c = cl_calloc(ctx, 1, sizeof *c);
  if (!c || !(c->e = cl_calloc(ctx, (size_t)capacity, sizeof *c->e))) {
    cl_free(ctx, c);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  c->ctx = ctx;
  c->cap = capacity;
  *out = c;
  return 0;
}

void cl_plan_cache_free(cl_plan_cache *c) {
  if (!c) return;
  for (int i = 0; i < c->cap; i++)
    if (c->e[i].full) cl_plan_free(c->ctx, &c->e[i].plan);
  cl_free(c->ctx, c->e);
  cl_free(c->ctx, c);
}

const cl_plan *cl_plan_cache_get(cl_plan_cache *c, const cl_plan_key *key) {
  for (int i = 0; i < c->cap; i++)
    if (c->e[i].full && cl_plan_key_eq(&c->e[i].key, key)) {
      c->e[i].used = ++c->clock;
      c->hits++;
      return &c->e[i].plan;
    }
  c->misses++;
  return NULL;
}

int cl_plan_cache_put(cl_plan_cache *c, const cl_plan_key *key, const cl_plan *plan) {
  int slot = -1;
  for (int i = 0; i < c->cap && slot < 0; i++)
    if (c->e[i].full && cl_plan_key_eq(&c->e[i].key, key)) slot = i;
  for (int i = 0; i < c->cap && slot < 0; i++)
    if (!c->e[i].full) slot = i;
  if (slot < 0) {
    slot = 0;
    for (int i = 1; i < c->cap; i++)
      if (c->e[i].used < c->e[slot].used) slot = i;
  }
  cl_plan copy;
  int rc = cl_plan_copy(c->ctx, plan, &copy);
  if (rc) return rc;
  if (c->e[slot].full) cl_plan_free(c->ctx, &c->e[slot].plan);
  c->e[slot] = (entry){.key = *key, .plan = copy, .used = ++c->clock, .full = true};
  return 0;
}

void cl_plan_cache_stats(const cl_plan_cache *c, long *hits, long *misses) {
  if (hits) *hits = c->hits;
  if (misses) *misses = c->misses;
}

void cl_hysteresis_init(cl_hysteresis *h) {
  memset(h, 0, sizeof *h);
  h->gain_threshold = 0.1;
  h->persist_n = 3;
}

uint64_t cl_plan_assign_hash(const int *assign, int n) {
  uint64_t x = 1469598103934665603ull; /* FNV-1a */
  for (int i = 0; i < n; i++) {
    x ^= (uint64_t)(uint32_t)assign[i];
    x *= 1099511628211ull;
  }
  return x;
}

bool cl_hysteresis_offer(cl_hysteresis *h, double current_value, double proposed_value, uint64_t proposed_hash) {
  bool adopt = false;
  if (!isfinite(current_value))
    adopt = isfinite(proposed_value);
  else if (current_value > 0 && (current_value - proposed_value) / current_value > h->gain_threshold)
    adopt = true;
  else if (proposed_value < current_value) {
    if (h->pending_count > 0 && h->pending_hash == proposed_hash)
      h->pending_count++;
    else
      h->pending_hash = proposed_hash, h->pending_count = 1;
    adopt = h->pending_count >= h->persist_n;
  } else {
    h->pending_count = 0; /* the plan in use is at least as good: forget any pending proposal */
  }
  if (adopt) h->pending_count = 0;
  return adopt;
}
