#!/usr/bin/env node
// Side-by-side benchmark: cleave (cleave-bench) against ONNX Runtime (ort-bench.js, CPU execution provider) on
// the PP-OCR models, same inputs, same thread count, runs interleaved. See bench/README.md.
//
// Usage: node bench/run.js [options]
//   --models DIR     folder holding the ONNX files (default: models/ at the repository root)
//   --bin DIR        folder holding cleave-bench (default: build/bin at the repository root)
//   --threads LIST   thread counts to try, comma-separated (default 2,1)
//   --runs N         timed runs per runtime (default 30)
//   --warmup N       untimed runs per runtime first (default 5)
//   --device NAME    cleave device (default cpu)
//   --cleave-api A   sync: cleave_run_sync, a new result each run (default); into: cleave_run_into, one result
//                    reused, so steady runs allocate nothing
//   --only LIST      models to run, comma-separated: det, rec, cls (default all)
//   --settle-ms N    before each run, wait up to N ms for both runtimes' threads to stop spinning (default 1000;
//                    0: do not wait)
//   --prime N        untimed runs right before each timed run, after the wait, so that the timed run finds the
//                    runtime's threads awake as in back-to-back use (default 1; 0: each timed run starts cold)
//   --redo N         run a timed run again when it was contended (see README.md), at most N times per runtime,
//                    model and thread count (default 0)
//   --ort-spin 0|1   ONNX Runtime's session.intra_op.allow_spinning (default: its own default)
//   --ort DIR        the onnxruntime-node package (default: .cache/ort/node_modules/onnxruntime-node, installed
//                    there on first use at the version scripts/gen-references.sh pins)
//   --json           print the results as JSON instead of one line per model and thread count
//
// Example: node bench/run.js --only det,cls --threads 2 --runs 20
'use strict';

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');

// Shapes are the ones the OCR pipeline feeds; the seeds are those of the conformance test inputs.
const MODELS = [
  { name: 'det', file: 'ch_PP-OCRv4_det_infer.onnx', shape: [1, 3, 640, 640], seed: 1 },
  { name: 'rec', file: 'ch_PP-OCRv4_rec_infer.onnx', shape: [1, 3, 48, 320], seed: 2 },
  { name: 'cls', file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', shape: [1, 3, 48, 192], seed: 3 },
];

class UsageError extends Error {}

function parseArgs(argv) {
  const args = {
    models: path.join(ROOT, 'models'),
    bin: path.join(ROOT, 'build', 'bin'),
    threads: [2, 1],
    runs: 30,
    warmup: 5,
    device: 'cpu',
    cleaveApi: 'sync',
    only: MODELS.map((m) => m.name),
    settleMs: 1000,
    prime: 1,
    redo: 0,
    ortSpin: null,
    ort: null,
    json: false,
  };
  const count = (v, a, min) => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`bad ${a} '${v}'`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
    case '--models': args.models = path.resolve(value()); break;
    case '--bin': args.bin = path.resolve(value()); break;
    case '--ort': args.ort = path.resolve(value()); break;
    case '--threads': args.threads = value().split(',').map((t) => count(t, a, 1)); break;
    case '--runs': args.runs = count(value(), a, 1); break;
    case '--warmup': args.warmup = count(value(), a, 0); break;
    case '--settle-ms': args.settleMs = count(value(), a, 0); break;
    case '--prime': args.prime = count(value(), a, 0); break;
    case '--redo': args.redo = count(value(), a, 0); break;
    case '--device': args.device = value(); break;
    case '--cleave-api': {
      const v = value();
      if (v !== 'sync' && v !== 'into') throw new UsageError(`bad --cleave-api '${v}': sync or into`);
      args.cleaveApi = v;
      break;
    }
    case '--only': {
      args.only = value().split(',');
      for (const m of args.only)
        if (!MODELS.some((k) => k.name === m)) throw new UsageError(`--only: no model '${m}' (det, rec, cls)`);
      break;
    }
    case '--ort-spin': {
      const v = value();
      if (v !== '0' && v !== '1') throw new UsageError(`bad --ort-spin '${v}': 0 or 1`);
      args.ortSpin = v;
      break;
    }
    case '--json': args.json = true; break;
    case '-h': case '--help': args.help = true; break;
    default: throw new UsageError(`unknown argument ${a}`);
    }
  }
  return args;
}

// One installed copy, pinned in one place: the version scripts/gen-references.sh installs.
function ensureOrt() {
  const cache = path.join(ROOT, '.cache', 'ort');
  const pkg = path.join(cache, 'node_modules', 'onnxruntime-node');
  const script = fs.readFileSync(path.join(ROOT, 'scripts', 'gen-references.sh'), 'utf8');
  const m = /^ORT_VERSION="([^"]+)"/m.exec(script);
  if (!m) throw new Error('scripts/gen-references.sh no longer pins ORT_VERSION');
  const want = m[1];
  const pj = path.join(pkg, 'package.json');
  if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).version === want) return pkg;
  process.stderr.write(`run.js: installing onnxruntime-node@${want} into ${cache}\n`);
  fs.mkdirSync(cache, { recursive: true });
  const r = spawnSync('npm', ['install', '--ignore-scripts', '--no-save', '--no-audit', '--no-fund', '--silent',
    '--prefix', cache, `onnxruntime-node@${want}`], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm install onnxruntime-node@${want} failed (is npm installed?)`);
  return pkg;
}

// A benchmark server (cleave-bench or ort-bench.js) driven over its stdin/stdout line protocol.
class Server {
  constructor(label, cmd, argv) {
    this.label = label;
    this.lines = [];
    this.waiters = [];
    this.exited = null;
    this.proc = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.pid = this.proc.pid;
    let buf = '';
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) this.push(buf.slice(0, i));
    });
    this.proc.on('error', (e) => this.finish(`cannot start ${cmd}: ${e.message}`));
    // 'close' comes after the last of its output, so no reply is lost to an early 'exit'
    this.proc.on('close', (code, sig) => this.finish(`${label} exited (${sig || `code ${code}`})`));
    this.proc.stdin.on('error', () => {}); // a server that died is reported through 'exit'
  }

  push(line) {
    if (this.waiters.length) this.waiters.shift().resolve(line);
    else this.lines.push(line);
  }

  finish(why) {
    if (this.exited) return;
    this.exited = why;
    for (const w of this.waiters.splice(0)) w.reject(new Error(why));
  }

  next() {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async ask(cmd) {
    if (this.exited) throw new Error(this.exited);
    this.proc.stdin.write(cmd + '\n');
    const line = await this.next();
    if (line.startsWith('error ')) throw new Error(`${this.label}: ${line.slice(6)}`);
    return line;
  }

  async ready() {
    const line = await this.next();
    if (line !== 'ready') throw new Error(`${this.label}: expected "ready", got "${line}"`);
  }

  // { ms, wait }: the run's wall time, and how long tasks waited for a CPU meanwhile (null: unknown)
  async run() {
    const m = /^ms (\S+)(?: cpu_wait_ms (\S+))?$/.exec(await this.ask('run'));
    if (!m) throw new Error(`${this.label}: bad reply to run`);
    const wait = m[2] === undefined || Number(m[2]) < 0 ? null : Number(m[2]);
    return { ms: Number(m[1]), wait };
  }

  // "key value key value ..." -> { key: value }
  async stats() {
    const words = (await this.ask('stats')).split(' ');
    const out = {};
    for (let i = 0; i + 1 < words.length; i += 2) out[words[i]] = words[i + 1];
    return out;
  }

  async quit() {
    if (this.exited) return;
    const done = new Promise((resolve) => this.proc.once('close', resolve));
    this.proc.stdin.end('quit\n');
    await done;
  }

  kill() {
    if (!this.exited) this.proc.kill();
  }

  // Threads of this server on a CPU right now: runtimes spin their workers for a while after a run.
  runningThreads() {
    let n = 0;
    let tasks;
    try {
      tasks = fs.readdirSync(`/proc/${this.pid}/task`);
    } catch {
      return 0;
    }
    for (const t of tasks) {
      try {
        const s = fs.readFileSync(`/proc/${this.pid}/task/${t}/stat`, 'latin1');
        if (s[s.lastIndexOf(')') + 2] === 'R') n++;
      } catch {
        // the thread ended while we looked
      }
    }
    return n;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits until no thread of either server is running (after a run, ONNX Runtime spins its workers for some 30-40 ms
// and the pool of cleave's cpu device for some 25 ms), so that each run starts on an idle machine instead of
// sharing it with the other runtime's spinning threads.
// Returns the milliseconds waited.
async function settle(servers, maxMs) {
  if (maxMs <= 0) return 0;
  const t0 = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e6;
  while (servers.some((s) => s.runningThreads() > 0) && elapsed() < maxMs) await sleep(1);
  return elapsed();
}

// A run counts as contended when, during it, some task of the system waited for a CPU (the servers read Linux's
// /proc/pressure/cpu around the run call) for more than this share of its time: the run shared the cores with
// other processes, or had more threads of its own than there are cores.
const CONTENDED_SHARE = 0.1;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function quantile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  const idx = p * (s.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (idx - lo);
}

// The outputs are probabilities in [0, 1]. This is no conformance test (tests/models holds tighter limits against
// stored references); it only catches timings of two runtimes that did not compute the same thing.
const OUTPUT_TOL = 1e-3;

// Largest absolute difference between the two servers' first outputs of their last run (Infinity if the sizes
// differ).
async function outputDiff(a, b) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleave-bench-'));
  try {
    const read = async (s) => {
      const file = path.join(dir, `${s.label}.f32`);
      await s.ask(`dump ${file}`);
      const buf = fs.readFileSync(file);
      // a copy: a small Buffer may sit in node's pool at an offset that is no multiple of 4
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    };
    const [x, y] = [await read(a), await read(b)];
    if (x.length !== y.length) return Infinity;
    let d = 0;
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
    return d;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function benchOne(args, model, threads, ortPkg) {
  const file = path.join(args.models, model.file);
  const shape = model.shape.join('x');
  const common = ['--shape', shape, '--threads', String(threads), '--seed', String(model.seed)];
  const servers = [];
  try {
    const cl = new Server('cleave-bench', path.join(args.bin, 'cleave-bench'), [file, '--device', args.device,
      '--api', args.cleaveApi, ...common]);
    servers.push(cl);
    await cl.ready();
    const ortArgs = ['--expose-gc', path.join(__dirname, 'ort-bench.js'), file, ...common, '--ort', ortPkg];
    if (args.ortSpin !== null) ortArgs.push('--spin', args.ortSpin);
    const ort = new Server('ort-bench', process.execPath, ortArgs);
    servers.push(ort);
    await ort.ready();

    const times = { cleave: [], ort: [] };
    const waits = { cleave: [], ort: [] };
    const redone = { cleave: 0, ort: 0 };
    let settled = 0;
    let turns = 0;
    for (let round = 0; round < args.warmup + args.runs; round++) {
      const order = round % 2 ? [['ort', ort], ['cleave', cl]] : [['cleave', cl], ['ort', ort]];
      for (const [who, s] of order) {
        for (;;) {
          turns++;
          settled += await settle(servers, args.settleMs);
          for (let k = 0; k < args.prime; k++) await s.run();
          const { ms, wait } = await s.run();
          // garbage of node's runs is collected here, outside any timing, and before the next wait and priming
          await s.ask('collect');
          if (round < args.warmup) break;
          if (wait !== null && wait > CONTENDED_SHARE * ms && redone[who] < args.redo) {
            redone[who]++;
            continue;
          }
          times[who].push(ms);
          waits[who].push(wait);
          break;
        }
      }
    }
    const [cs, os_] = [await cl.stats(), await ort.stats()];
    const diff = await outputDiff(cl, ort);
    await Promise.all(servers.map((s) => s.quit()));

    if (cs.input_fnv1a !== os_.input_fnv1a)
      throw new Error(`${model.name}: the two inputs differ (fnv1a ${cs.input_fnv1a} vs ${os_.input_fnv1a})`);
    const flops = Number(cs.flops);
    const unknown = Number(cs.flops_unknown_nodes);
    const side = (st, t, w, again) => {
      const med = median(t);
      return {
        median_ms: med,
        min_ms: Math.min(...t),
        p10_ms: quantile(t, 0.1),
        p90_ms: quantile(t, 0.9),
        gflops_per_s: unknown === 0 ? flops / (med * 1e6) : null,
        rss_peak_kb: Number(st.rss_peak_kb),
        rss_start_kb: Number(st.rss_start_kb),
        rss_ready_kb: Number(st.rss_ready_kb),
        samples_ms: t,
        cpu_wait_ms: w,
        contended_runs: w.some((x) => x === null) ? null : w.filter((x, i) => x > CONTENDED_SHARE * t[i]).length,
        redone_runs: again,
      };
    };
    const r = {
      model: model.name,
      file: model.file,
      shape: model.shape,
      threads,
      device: args.device,
      runs: args.runs,
      warmup: args.warmup,
      flops,
      flops_unknown_nodes: unknown,
      input_fnv1a: cs.input_fnv1a,
      ort_version: os_.ort_version,
      mean_settle_ms: settled / turns,
      cleave: side(cs, times.cleave, waits.cleave, redone.cleave),
      ort: side(os_, times.ort, waits.ort, redone.ort),
    };
    r.ratio = r.cleave.median_ms / r.ort.median_ms;
    r.output_max_abs_diff = diff;
    r.outputs_agree = diff <= OUTPUT_TOL;
    return r;
  } finally {
    for (const s of servers) s.kill();
  }
}

function fmtMs(ms) {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

function line(r) {
  const mib = (kb) => Math.round(kb / 1024);
  const gf = (x) => (x === null ? '?' : x.toFixed(1));
  return `${r.model} ${r.shape.join('x')} threads=${r.threads}  ` +
    `cleave ${fmtMs(r.cleave.median_ms)} ms  ort ${fmtMs(r.ort.median_ms)} ms  ratio ${r.ratio.toFixed(2)}  ` +
    `cleave ${gf(r.cleave.gflops_per_s)} GFLOP/s  ort ${gf(r.ort.gflops_per_s)} GFLOP/s  ` +
    `rss cleave ${mib(r.cleave.rss_peak_kb)} MiB ort ${mib(r.ort.rss_peak_kb)} MiB ` +
    `(ort: node alone ${mib(r.ort.rss_start_kb)}, after session ${mib(r.ort.rss_ready_kb)})` +
    (r.cleave.contended_runs || r.ort.contended_runs
      ? `  contended runs: cleave ${r.cleave.contended_runs}/${r.runs} ort ${r.ort.contended_runs}/${r.runs}`
      : '') +
    (r.cleave.redone_runs || r.ort.redone_runs
      ? `  redone: cleave ${r.cleave.redone_runs} ort ${r.ort.redone_runs}`
      : '') +
    (r.outputs_agree ? '' : `  OUTPUTS DIFFER (max abs diff ${r.output_max_abs_diff.toPrecision(3)})`);
}

function cpuName() {
  const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'latin1'));
  return m ? m[1] : 'unknown CPU';
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(1);
    const text = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
    console.log(text.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return 0;
  }
  const cleaveBench = path.join(args.bin, 'cleave-bench');
  if (!fs.existsSync(cleaveBench))
    throw new Error(`${cleaveBench} not found: build first (make build) or give --bin`);
  for (const m of MODELS)
    if (args.only.includes(m.name) && !fs.existsSync(path.join(args.models, m.file)))
      throw new Error(`${path.join(args.models, m.file)} not found: run make models or give --models`);
  const ortPkg = args.ort || ensureOrt();
  if (args.runs < 20) process.stderr.write(`run.js: note: ${args.runs} timed runs; medians want 20 or more\n`);

  const meta = {
    cpu: cpuName(),
    cores: os.cpus().length,
    node: process.version,
    runs: args.runs,
    warmup: args.warmup,
    device: args.device,
    cleave_api: args.cleaveApi,
    settle_ms: args.settleMs,
    prime: args.prime,
    redo: args.redo,
    ort_spin: args.ortSpin,
  };
  if (!args.json)
    console.log(`# cleave --device ${args.device} vs onnxruntime-node (CPU EP) on ${meta.cpu}, ` +
      `${meta.cores} cores; median of ${args.runs} interleaved runs after ${args.warmup} warm-up`);
  const results = [];
  for (const m of MODELS) {
    if (!args.only.includes(m.name)) continue;
    for (const t of args.threads) {
      const r = await benchOne(args, m, t, ortPkg);
      results.push(r);
      if (!args.json) console.log(line(r));
      if (!r.outputs_agree)
        process.stderr.write(`run.js: ${m.name}: outputs differ by up to ${r.output_max_abs_diff} ` +
          `(limit ${OUTPUT_TOL}): the runtimes did not compute the same thing\n`);
    }
  }
  if (args.json) console.log(JSON.stringify({ meta, results }, null, 2));
  return results.every((r) => r.outputs_agree) ? 0 : 1;
}

main().then(
  (rc) => {
    process.exitCode = rc;
  },
  (e) => {
    process.stderr.write(`run.js: ${e.message}\n`);
    if (e instanceof UsageError) process.stderr.write('run.js --help lists the options\n');
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
