#!/usr/bin/env node
// ort-bench: the ONNX Runtime side of bench/run.js. Same line protocol as cleave-bench (see its --help):
// "run" -> "ms <wall time of session.run> cpu_wait_ms <W>", "stats" -> "rss_peak_kb ... input_fnv1a ...",
// "dump FILE", "collect" (a garbage collection when node runs with --expose-gc) -> "ok", "quit".
//
// Usage: node bench/ort-bench.js MODEL.onnx --shape AxBxC [--threads N] [--seed S] [--spin 0|1] [--ort DIR]
//   --threads N   intra-op threads, the caller's included (default 1); inter-op threads are always 1
//   --seed S      seed of the input values, the generator of cleave-bench (default 1)
//   --spin 0|1    set ONNX Runtime's session.intra_op.allow_spinning (default: leave ONNX Runtime's default)
//   --ort DIR     the onnxruntime-node package folder (default: require('onnxruntime-node'))
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

// A field of /proc/self/status in kB, or -1.
function statusKb(field) {
  const m = new RegExp(`^${field}:\\s*(\\d+)`, 'm').exec(fs.readFileSync('/proc/self/status', 'latin1'));
  return m ? Number(m[1]) : -1;
}

// Twin of cpu_wait_ms() in cleave_bench.c: ms some task waited for a CPU since boot, or -1.
function cpuWaitMs() {
  try {
    const m = /^some .*total=(\d+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'latin1'));
    return m ? Number(m[1]) / 1000 : -1;
  } catch {
    return -1;
  }
}

// Read first, before anything is loaded: the process's own share is then visible next to ONNX Runtime's.
const rssStartKb = statusKb('VmRSS');

const { fillRandomF32 } = require(path.join(__dirname, '..', 'scripts', 'fill-random.js'));

// Twin of fnv1a() in cleave_bench.c, over the same little-endian float32 bytes.
function fnv1a(f32) {
  const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let h = 2166136261;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function parseArgs(argv) {
  const args = { threads: 1, seed: 1, spin: null, ort: 'onnxruntime-node' };
  const need = (i, a) => {
    if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--shape') {
      const v = need(i++, a);
      if (!/^\d+(x\d+)*$/.test(v)) throw new Error(`bad --shape '${v}'`);
      args.shape = v.split('x').map(Number);
    } else if (a === '--threads' || a === '--seed') {
      const v = need(i++, a);
      if (!/^\d+$/.test(v)) throw new Error(`bad ${a} '${v}'`);
      args[a.slice(2)] = Number(v);
    } else if (a === '--spin') {
      const v = need(i++, a);
      if (v !== '0' && v !== '1') throw new Error(`bad --spin '${v}': 0 or 1`);
      args.spin = v;
    } else if (a === '--ort') {
      args.ort = need(i++, a);
    } else if (a === '-h' || a === '--help') {
      args.help = true;
    } else if (a.startsWith('-') || args.model) {
      throw new Error(`unexpected argument ${a}`);
    } else {
      args.model = a;
    }
  }
  if (!args.help && (!args.model || !args.shape)) throw new Error('need MODEL.onnx and --shape');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(1);
    const text = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
    console.log(text.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return 0;
  }
  const ort = require(args.ort);
  const version = ort.env.versions.node || ort.env.versions.common;
  const opts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (args.spin !== null) opts.extra = { session: { intra_op: { allow_spinning: args.spin } } };
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, opts);
  } catch (e) {
    process.stderr.write(`ort-bench: cannot create a session for ${args.model}: ${e.message}\n`);
    return 1;
  }
  if (session.inputNames.length !== 1) {
    process.stderr.write(`ort-bench: ${args.model} has ${session.inputNames.length} inputs; ort-bench feeds one\n`);
    return 1;
  }
  const n = args.shape.reduce((a, b) => a * b, 1);
  const data = fillRandomF32(n, args.seed);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, args.shape) };
  const inputHash = fnv1a(data);
  const rssReadyKb = statusKb('VmRSS');
  let last = null;

  const out = (s) => process.stdout.write(s + '\n');
  out('ready');
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    const cmd = line.replace(/\r$/, '');
    if (cmd === 'run') {
      try {
        const w0 = cpuWaitMs();
        const t0 = process.hrtime.bigint();
        const res = await session.run(feeds);
        const ns = process.hrtime.bigint() - t0;
        const w1 = cpuWaitMs();
        last = res;
        const wait = w0 < 0 || w1 < 0 ? -1 : w1 - w0;
        out(`ms ${(Number(ns) / 1e6).toFixed(6)} cpu_wait_ms ${wait.toFixed(3)}`);
      } catch (e) {
        out(`error ${String(e.message).replace(/\n/g, ' ')}`);
      }
    } else if (cmd === 'stats') {
      out(`rss_peak_kb ${statusKb('VmHWM')} rss_start_kb ${rssStartKb} rss_ready_kb ${rssReadyKb} ` +
        `input_fnv1a ${inputHash} ort_version ${version}`);
    } else if (cmd.startsWith('dump ')) {
      const data = last && last[session.outputNames[0]].data;
      if (!(data instanceof Float32Array)) {
        out('error no float32 output to dump (run first)');
        continue;
      }
      try {
        fs.writeFileSync(cmd.slice(5), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        out(`dumped ${data.length}`);
      } catch (e) {
        out(`error ${e.message}`);
      }
    } else if (cmd === 'collect') {
      // Outputs of earlier runs stay in memory until node collects them. Collecting on request keeps them out of
      // the peak RSS, as cleave-bench frees its previous result, and no collection happens right before a timed
      // run (needs node --expose-gc).
      if (global.gc) global.gc();
      out('ok');
    } else if (cmd === 'quit') {
      break;
    } else if (cmd) {
      out(`error unknown command '${cmd}'`);
    }
  }
  rl.close();
  await session.release();
  return 0;
}

main().then(
  (rc) => {
    process.exitCode = rc;
  },
  (e) => {
    process.stderr.write(`ort-bench: ${e.message}\n`);
    process.exitCode = 2;
  },
);
