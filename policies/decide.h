/* policies: the policy decision (private). Signals in; weights, constraints, derating and the link's conditions out,
 * with the text of every rule that fired so that a decision can be explained. */
#ifndef CLEAVE_POLICIES_DECIDE_H
#define CLEAVE_POLICIES_DECIDE_H

#include "policies/signals.h"

#define CL_POLICY_MAX_RULES 16
#define CL_POLICY_RULE_LEN 160

/* Base weights at the DEFAULT power preference: w_latency per ms, w_energy per mJ of device energy, w_cost per cost
 * unit. 20 mJ weigh as much as 1 ms; one MB over a metered link (one cost unit) as much as 20 ms. */
#define CL_POLICY_W_LATENCY 1.0
#define CL_POLICY_W_ENERGY 0.05
#define CL_POLICY_W_COST 20.0
#define CL_POLICY_METERED_COST_PER_MB 1.0
/* The PREFER_* modes' bias, applied by the partitioner to the disfavoured side's terms. */
#define CL_POLICY_PREFER_FACTOR 1.5

typedef struct cl_policy_result {
  cleave_policy_decision d;
  /* The link as the signals describe it; NAN where unknown (the partitioner then keeps its own estimate). */
  double up_mbps, down_mbps, rtt_ms, edge_queue_ms;
  double cost_per_mb; /* cost units per MB over the link: metered links and saveData; 0 free */
  int n_rules;
  char rules[CL_POLICY_MAX_RULES][CL_POLICY_RULE_LEN];
} cl_policy_result;

struct cleave_policy_input {
  const cl_signals *signals;
};

/* The built-in rules: pure, deterministic, no I/O. Returns 0, or CLEAVE_EINFEASIBLE (message in ctx, which may be
 * NULL) when the mode contradicts the signals. */
int cl_policy_builtin(cleave_ctx *ctx, const cl_signals *s, cleave_mode mode, cleave_power_preference pref,
                     cl_policy_result *out);

/* The built-in rules, then the context's custom policy if one is set; the decision is checked after the callback. */
int cl_policy_decide(cleave_ctx *ctx, const cl_signals *s, cl_policy_result *out);
/* The same with mode in place of the context's (a session's own mode). */
int cl_policy_decide_as(cleave_ctx *ctx, const cl_signals *s, cleave_mode mode, cl_policy_result *out);

/* Names for JSON and tables. */
const char *cl_mode_name(cleave_mode m);
const char *cl_power_name(cleave_power_preference p);
/* Parses "auto", "prefer-local" (or prefer_local), ...; -1 when unknown. */
int cl_mode_parse(const char *s);
int cl_power_parse(const char *s);

#endif
