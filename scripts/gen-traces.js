#!/usr/bin/env node
// Generates the example link traces in policies/traces/ (deterministic: a fixed seed).
//   commute.csv          40 min: home Wi-Fi, LTE on the street, 3G on a train with tunnels, LTE, office Wi-Fi
//   commute.pensieve     the same commute's downlink in Pensieve's "seconds Mbps" format
//   train-3g.up/.down    2 min of the train's 3G as Mahimahi packet-delivery traces (1500-byte packets, ms)
//   offline.csv          6 min: Wi-Fi, a 2-minute drop to offline, then LTE
// Bandwidth medians are the DADS paper's uplink presets (3G 1.1, 4G 5.85, Wi-Fi 18.88 Mbit/s); each sample varies
// log-normally around its median, and round-trip times are typical of each technology.
// Usage: node scripts/gen-traces.js [OUT_DIR]   (default: policies/traces next to this script)
'use strict';
const fs = require('fs');
const path = require('path');

const outDir = process.argv[2] || path.join(__dirname, '..', 'policies', 'traces');
fs.mkdirSync(outDir, { recursive: true });

// mulberry32: small, fast, and the same on every platform.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20240611);
function gauss() {
  const u = Math.max(rand(), 1e-12), v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
// A slowly varying log-normal factor (AR(1) in log space), so that bandwidth drifts instead of jumping.
function drift(sigma, keep) {
  let x = 0;
  return () => (x = keep * x + Math.sqrt(1 - keep * keep) * sigma * gauss(), Math.exp(x - (sigma * sigma) / 2));
}

const radios = {
  wifi: { up: 18.88, down: 40, rtt: 20, sigma: 0.25 },
  lte: { up: 5.85, down: 20, rtt: 55, sigma: 0.45 },
  '3g': { up: 1.1, down: 3.0, rtt: 220, sigma: 0.5 },
};

// [start_s, end_s, radio or 'offline']
function commutePhases() {
  const p = [
    [0, 300, 'wifi'],       // at home
    [300, 306, 'offline'],  // Wi-Fi lost at the door, LTE not yet attached
    [306, 900, 'lte'],      // walking, bus
    [900, 1500, '3g'],      // the train, with tunnels
    [1500, 1800, 'lte'],    // city centre
    [1800, 2400, 'wifi'],   // the office
  ];
  // Tunnels: short outages on the train.
  const out = [];
  for (const [a, b, r] of p) {
    if (r !== '3g') { out.push([a, b, r]); continue; }
    let t = a;
    for (const [ts, len] of [[980, 25], [1130, 12], [1290, 40], [1420, 8]]) {
      out.push([t, ts, r]);
      out.push([ts, ts + len, 'offline']);
      t = ts + len;
    }
    out.push([t, b, r]);
  }
  return out;
}

function samples(phases, step) {
  const rows = [];
  const d = {};
  for (const r of Object.keys(radios)) d[r] = { up: drift(radios[r].sigma, 0.9), down: drift(radios[r].sigma, 0.9) };
  for (const [a, b, r] of phases) {
    for (let t = a; t < b; t += step) {
      if (r === 'offline') { rows.push([t, 0, 0, 0, 'none']); continue; }
      const m = radios[r];
      const rtt = m.rtt * (0.8 + 0.4 * rand()) * (r === '3g' ? 1 + 0.3 * rand() : 1);
      rows.push([t, m.up * d[r].up(), m.down * d[r].down(), rtt, r]);
    }
  }
  return rows;
}

const fmt = (x) => (Math.round(x * 1000) / 1000).toString();

function writeCsv(name, rows, comment) {
  const lines = [`# ${comment}`, 't_s,up_mbps,down_mbps,rtt_ms,radio'];
  for (const [t, up, down, rtt, r] of rows) lines.push([fmt(t), fmt(up), fmt(down), fmt(rtt), r].join(','));
  fs.writeFileSync(path.join(outDir, name), lines.join('\n') + '\n');
}

// Mahimahi: each line is the ms at which one 1500-byte packet may be delivered.
function writeMahimahi(name, rows, col, t0, t1) {
  const lines = [];
  let credit = 0;
  for (const row of rows) {
    const t = row[0];
    if (t < t0 || t >= t1) continue;
    const pktsPerMs = (row[col] * 1e6) / 8 / 1500 / 1000;
    for (let ms = 0; ms < 1000; ms++) {
      credit += pktsPerMs;
      while (credit >= 1) {
        lines.push(String(Math.round((t - t0) * 1000 + ms + 1)));
        credit -= 1;
      }
    }
  }
  fs.writeFileSync(path.join(outDir, name), lines.join('\n') + '\n');
}

const commute = samples(commutePhases(), 1);
writeCsv('commute.csv', commute,
  'A 40-minute commute: home Wi-Fi, LTE, 3G on a train with four tunnels, LTE, office Wi-Fi. scripts/gen-traces.js');
fs.writeFileSync(path.join(outDir, 'commute.pensieve'),
  commute.map(([t, , down]) => `${fmt(t)} ${fmt(down)}`).join('\n') + '\n');
writeMahimahi('train-3g.up', commute, 1, 1000, 1120);
writeMahimahi('train-3g.down', commute, 2, 1000, 1120);
writeCsv('offline.csv', samples([[0, 120, 'wifi'], [120, 240, 'offline'], [240, 360, 'lte']], 1),
  'Six minutes: Wi-Fi, two minutes offline, then LTE. scripts/gen-traces.js');
console.log(`traces written to ${outDir}`);
