#!/usr/bin/env node
// Runs the PP-OCR models with ONNX Runtime (CPU, one thread) on fixed pseudo-random inputs and writes the
// outputs as NumPy .npy files: the reference the conformance tests compare cleave against.
//
// Usage: node scripts/gen-references.js [--models DIR] [--out DIR] [--inputs]
//   --models DIR  folder holding the ONNX files (default: models/ at the repository root)
//   --out DIR     where to write <name>_out<i>.npy (default: tests/data/ppocr/)
//   --inputs      also write <name>_in0.npy (the tests regenerate inputs, so they are not committed)
//
// onnxruntime-node must be resolvable (scripts/gen-references.sh sets NODE_PATH to its private install).
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');

// name, file, input shape, seed. The seeds and shapes are part of the test contract: tests/data/ppocr/README.md.
const MODELS = [
  { name: 'det', file: 'ch_PP-OCRv4_det_infer.onnx', shape: [1, 3, 640, 640], seed: 1 },
  { name: 'rec', file: 'ch_PP-OCRv4_rec_infer.onnx', shape: [1, 3, 48, 320], seed: 2 },
  { name: 'cls', file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', shape: [1, 3, 48, 192], seed: 3 },
  // The detector on random input finds no text (a near-zero map); this case feeds it the bundled sample picture.
  { name: 'det_sample', file: 'ch_PP-OCRv4_det_infer.onnx', shape: [1, 3, 256, 640], picture: 'examples/data/sample.ppm' },
];

const { fillRandomF32 } = require('./fill-random.js');

// NumPy format 1.0: magic, version, little-endian u16 header length, a Python dict literal padded with spaces
// and ended by '\n' so that the data starts on a 64-byte boundary, then the raw little-endian data.
// Twin of picture_input() in tests/models/test_ppocr.c: a binary PPM (maxval 255) as 1x3xHxW float32, RGB planes,
// x = (p / 255 - mean) / std computed in double and rounded once to float32, so both sides agree bit for bit.
function pictureInput(file, shape) {
  const buf = fs.readFileSync(file);
  const m = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(buf.toString('latin1', 0, 64));
  if (!m) throw new Error(`${file}: not a binary PPM with maxval 255`);
  const w = Number(m[1]), h = Number(m[2]);
  if (h !== shape[2] || w !== shape[3]) throw new Error(`${file}: ${w}x${h}, expected ${shape[3]}x${shape[2]}`);
  const px = buf.subarray(m[0].length);
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < h * w; i++) out[c * h * w + i] = (px[i * 3 + c] / 255 - mean[c]) / std[c];
  return out;
}

function npyBytes(data, shape) {
  if (!(data instanceof Float32Array)) throw new Error('npyBytes: only float32 is supported');
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  const pre = 10; // 6 magic + 2 version + 2 length
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, ' ') + '\n';
  if (header.length > 65535) throw new Error('npyBytes: header too long for format 1.0');
  const buf = Buffer.alloc(total + data.length * 4);
  buf.write('\x93NUMPY', 0, 'latin1');
  buf.writeUInt8(1, 6);
  buf.writeUInt8(0, 7);
  buf.writeUInt16LE(header.length, 8);
  buf.write(header, pre, 'latin1');
  for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], total + i * 4);
  return buf;
}

function parseArgs(argv) {
  const args = { models: path.join(ROOT, 'models'), out: path.join(ROOT, 'tests', 'data', 'ppocr'), inputs: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--models' || a === '--out') {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      args[a.slice(2)] = path.resolve(argv[++i]);
    } else if (a === '--inputs') {
      args.inputs = true;
    } else if (a === '-h' || a === '--help') {
      args.help = true;
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  return args;
}

function stats(data) {
  let max = -Infinity;
  let min = Infinity;
  for (let i = 0; i < data.length; i++) {
    if (data[i] > max) max = data[i];
    if (data[i] < min) min = data[i];
  }
  return { min, max };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const text = fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 9);
    console.log(text.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  const ort = require('onnxruntime-node');
  fs.mkdirSync(args.out, { recursive: true });
  const opts = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1,
    graphOptimizationLevel: 'basic' };

  for (const m of MODELS) {
    const file = path.join(args.models, m.file);
    if (!fs.existsSync(file)) throw new Error(`${file} not found: run scripts/fetch-models.sh first`);
    const session = await ort.InferenceSession.create(file, opts);
    if (session.inputNames.length !== 1) throw new Error(`${m.name}: expected one input, got ${session.inputNames}`);
    const n = m.shape.reduce((a, b) => a * b, 1);
    const input = m.picture ? pictureInput(path.join(ROOT, m.picture), m.shape) : fillRandomF32(n, m.seed);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, m.shape) };
    const results = await session.run(feeds);
    if (args.inputs) fs.writeFileSync(path.join(args.out, `${m.name}_in0.npy`), npyBytes(input, m.shape));
    session.outputNames.forEach((outName, i) => {
      const t = results[outName];
      if (t.type !== 'float32') throw new Error(`${m.name}: output ${outName} is ${t.type}, expected float32`);
      const dims = t.dims.map(Number);
      const dest = path.join(args.out, `${m.name}_out${i}.npy`);
      fs.writeFileSync(dest, npyBytes(t.data, dims));
      const s = stats(t.data);
      console.log(`${m.name}: input ${session.inputNames[0]} [${m.shape}] ${m.picture || 'seed ' + m.seed} -> ` +
        `output ${outName} [${dims}] min ${s.min} max ${s.max} -> ${path.relative(ROOT, dest)}`);
    });
    if (typeof session.release === 'function') await session.release();
  }
}

main().catch((err) => {
  console.error(`gen-references: ${err.message}`);
  process.exit(1);
});
