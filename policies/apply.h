/* policies: the policy's decision applied to a placement problem, and explanations (private). */
#ifndef CLEAVE_POLICIES_APPLY_H
#define CLEAVE_POLICIES_APPLY_H

#include <jansson.h>

#include "partitioner/placement.h"
#include "policies/decide.h"

/* Writes r into p, whose devices are already added: weights, mode and its bias, derating and memory caps of the
 * local devices, the edge's permission, slowdown and cost, and the link where the signals know it. */
void cl_policy_apply(const cl_policy_result *r, cl_place_problem *p);

/* The explanation object: signals, mode, power preference, decision, link, rules; and, when pl is non-NULL, the
 * candidates of pl's last plan (for g) under p and the chosen plan (plan may be NULL when planning failed, with why
 * set). NULL when out of memory. */
json_t *cl_explain_json(const cl_signals *s, cleave_mode mode, cleave_power_preference pref,
                        const cl_policy_result *r, const cl_graph *g, const cl_planner *pl, const cl_place_problem *p,
                        const cl_plan *plan, const char *why);

/* Explains planning g on the context's signals and policy with the device profile dev and the edge profile edge
 * (NULL: none) into a JSON string allocated with ctx's allocator. */
int cl_explain(cleave_ctx *ctx, const cl_graph *g, const cl_profile *dev, const cl_profile *edge, char **json_out);

#endif
