// Checks cleave-sim plan's JSON on its own terms, without the partitioner's code: that the assignment, the
// segments and the byte counts agree with the graph the JSON lists, that the segment DAG is acyclic, and that the
// chosen plan is no worse than any candidate the planner reports.
// usage: node check_plan.js PLAN.json [--differ] [--local-at I] [--edge-at I]
//   --differ      (a JSON array, one plan per uplink) at least two of the plans place the nodes differently
//   --local-at I  plan I of the array runs every node on a local device
//   --edge-at I   plan I of the array sends something to the edge
'use strict';
const fs = require('fs');

const args = process.argv.slice(2);
const file = args.shift();
let differ = false;
const localAt = [], edgeAt = [];
while (args.length) {
  const a = args.shift();
  if (a === '--differ') differ = true;
  else if (a === '--local-at') localAt.push(Number(args.shift()));
  else if (a === '--edge-at') edgeAt.push(Number(args.shift()));
  else throw new Error(`unknown argument ${a}`);
}

const errors = [];
const fail = (msg) => errors.push(msg);
const close = (a, b) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));

function check(plan, where) {
  const dev = new Map(plan.devices.map((d) => [d.name, d.kind]));
  const isEdge = (name) => dev.get(name) === 'edge';
  const home = plan.devices[0].name;
  const nodes = new Map(plan.nodes.map((n) => [n.name, n]));
  // every node on a listed device that can run it
  for (const n of plan.nodes) {
    const d = plan.assignment[n.name];
    if (!dev.has(d)) fail(`${where}: node ${n.name} is on '${d}', not a listed device`);
    else if (n.cost_ms[d] === null || n.cost_ms[d] === undefined)
      fail(`${where}: node ${n.name} (${n.op}) is on ${d}, which cannot run it`);
  }
  if (Object.keys(plan.assignment).length !== plan.nodes.length)
    fail(`${where}: the assignment has ${Object.keys(plan.assignment).length} nodes, the graph ${plan.nodes.length}`);
  // segments partition the nodes, each on one device
  const segOf = new Map();
  for (const s of plan.segments) {
    for (const n of s.nodes) {
      if (segOf.has(n)) fail(`${where}: node ${n} is in segments ${segOf.get(n)} and ${s.id}`);
      segOf.set(n, s.id);
      if (plan.assignment[n] !== s.device) fail(`${where}: node ${n} of segment ${s.id} is not on ${s.device}`);
    }
  }
  for (const n of nodes.keys()) if (!segOf.has(n)) fail(`${where}: node ${n} is in no segment`);
  // tensors between segments: listed as outputs and inputs; the segment graph is acyclic
  const seg = new Map(plan.segments.map((s) => [s.id, s]));
  const succ = new Map(plan.segments.map((s) => [s.id, new Set()]));
  let up = 0, down = 0;
  for (const t of plan.tensors) {
    const from = t.producer === null ? null : segOf.get(t.producer);
    const fromDev = t.producer === null ? home : plan.assignment[t.producer];
    let toEdge = false, toLocal = t.output && isEdge(fromDev);
    for (const c of t.consumers) {
      const to = segOf.get(c);
      if (from !== null && to !== from) {
        succ.get(from).add(to);
        if (!seg.get(from).outputs.includes(t.name)) fail(`${where}: ${t.name} leaves segment ${from} unlisted`);
      }
      if (to !== from && t.producer !== null && !seg.get(to).inputs.includes(t.name))
        fail(`${where}: ${t.name} enters segment ${to} unlisted`);
      const toDev = plan.assignment[c];
      if (isEdge(toDev) && !isEdge(fromDev)) toEdge = true;
      if (!isEdge(toDev) && isEdge(fromDev)) toLocal = true;
    }
    // a tensor crosses the link at most once each way, however many readers it has there
    if (toEdge) up += t.bytes;
    if (toLocal) down += t.bytes;
  }
  const state = new Map();
  const visit = (id) => {
    if (state.get(id) === 1) return false;
    if (state.get(id) === 2) return true;
    state.set(id, 1);
    for (const s of succ.get(id)) if (!visit(s)) return false;
    state.set(id, 2);
    return true;
  };
  for (const s of plan.segments) if (!visit(s.id)) fail(`${where}: the segment graph has a cycle through ${s.id}`);
  if (!close(up, plan.objective.up_bytes)) fail(`${where}: ${up} bytes cross up, the objective says ${plan.objective.up_bytes}`);
  if (!close(down, plan.objective.down_bytes))
    fail(`${where}: ${down} bytes cross down, the objective says ${plan.objective.down_bytes}`);
  // the chosen plan is the best candidate, and (latency alone weighed) no slower than all-local or all-edge
  const chosen = plan.candidates.find((c) => c.name === plan.plan);
  if (!chosen) fail(`${where}: the chosen plan '${plan.plan}' is not among the candidates`);
  else if (!close(chosen.value, plan.objective.value)) fail(`${where}: the objective differs from its candidate's`);
  for (const c of plan.candidates)
    if (c.feasible && c.value < plan.objective.value - 1e-9)
      fail(`${where}: candidate ${c.name} (${c.value}) beats the chosen ${plan.plan} (${plan.objective.value})`);
  if (plan.weights.energy === 0 && plan.weights.cost === 0 && plan.mode === 'auto') {
    const statics = plan.candidates.filter((c) => c.feasible && (c.name === 'edge' || c.name.startsWith('local:')));
    const best = Math.min(...statics.map((c) => c.latency_ms));
    if (plan.objective.latency_ms > best + 1e-9)
      fail(`${where}: latency ${plan.objective.latency_ms} ms is above all-local/all-edge's ${best} ms`);
  }
  return Object.values(plan.assignment).some(isEdge);
}

const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
const plans = Array.isArray(doc) ? doc : [doc];
const usesEdge = plans.map((p, i) => check(p, `plan ${i} (uplink ${p.network.uplink_mbps} Mbps)`));
for (const i of localAt) if (usesEdge[i] !== false) fail(`plan ${i} was to run all on the device`);
for (const i of edgeAt) if (usesEdge[i] !== true) fail(`plan ${i} was to send something to the edge`);
if (differ) {
  const keys = new Set(plans.map((p) => JSON.stringify(p.assignment)));
  if (keys.size < 2) fail(`all ${plans.length} plans place the nodes the same way`);
}
if (errors.length) {
  console.error(errors.slice(0, 20).join('\n'));
  process.exit(1);
}
console.log(`${plans.length} plan(s) check out: ${plans.map((p) => `${p.plan} ${p.objective.latency_ms} ms`).join('; ')}`);
