/* partitioner: plans as JSON (private). */
#ifndef CLEAVE_PARTITIONER_PLAN_JSON_H
#define CLEAVE_PARTITIONER_PLAN_JSON_H

#include <jansson.h>

#include "partitioner/placement.h"

/* A JSON object describing plan under p:
 *   devices: [{name, kind}], network: {uplink_mbps, downlink_mbps, rtt_ms, radio, radio_warm, queue_ms},
 *   weights: {lat, energy, cost}, mode,
 *   nodes (when with_graph): [{name, op, class, flops, bytes, cost_ms: {device: ms or null}}],
 *   tensors (when with_graph): [{name, bytes, producer (node name or null), consumers: [node names]}],
 *   assignment: {node name: device name},
 *   segments: [{id, device, nodes: [names], inputs: [tensor names], outputs: [...], deps: [ids], compute_ms,
 *               start_ms, end_ms}],
 *   objective: {latency_ms, energy_mj, cost, value, up_bytes, down_bytes}, plan: candidate name,
 *   candidates: [{name, feasible, why, segments, latency_ms, energy_mj, cost, value}] (the planner's last).
 * NULL when out of memory (jansson's allocator). */
json_t *cl_plan_json(const cl_planner *pl, const cl_place_problem *p, const cl_plan *plan, bool with_graph);

#endif
