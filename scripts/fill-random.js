'use strict';
// Bit-for-bit twin of cl_fill_random_f32() in core/ir/tensor.c: xorshift32 seeded with seed * 2654435761 + 1,
// value (x >> 8) / 2^23 - 1 in [-1, 1), exact in float32.
function fillRandomF32(n, seed) {
  const out = new Float32Array(n);
  let x = (Math.imul(seed, 2654435761 | 0) + 1) >>> 0;
  if (x === 0) x = 1;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = Math.fround((x >>> 8) / 8388608 - 1);
  }
  return out;
}

module.exports = { fillRandomF32 };
