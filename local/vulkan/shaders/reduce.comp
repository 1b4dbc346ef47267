#version 450
// Reductions, one workgroup per output element. Params: 0 n_out, 1 x_off, 2 y_off, 3 op, 4 R (elements reduced),
// 5 kept dims, 6 reduced dims, 7 epi, 8 contiguous (the reduced dims are innermost and dense), 9 (size, stride) of
// each kept dim (8 slots), 25 (size, stride) of each reduced dim.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// 256 threads, each with four independent partial results so that several loads are in flight: one workgroup
// reads a whole channel (a global pool over 160x160 is 25,600 elements).
const uint NT = 256u;
layout(local_size_x = 256) in;
shared float red[NT];

uint src_index(uint base, uint r, int nr, bool contig) {
  if (contig) return base + r;
  uint off = base;
  for (int d = nr - 1; d >= 0; d--) {
    uint sz = pu(25u + 2u * uint(d));
    off += (r % sz) * pu(26u + 2u * uint(d));
    r /= sz;
  }
  return off;
}

float combine(int op, float a, float b) {
  if (op == 2) return max(a, b);
  if (op == 3) return min(a, b);
  if (op == 4) return a * b;
  return a + b;
}

float reduce_wg(int op, float v) {
  uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint s = NT / 2u; s > 0u; s >>= 1) {
    if (t < s) red[t] = combine(op, red[t], red[t + s]);
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

void main() {
  uint o = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (o >= pu(0)) return;
  int op = pi(3), nk = pi(5), nr = pi(6);
  uint R = pu(4);
  bool contig = pi(8) != 0;
  uint base = pu(1), q = o;
  for (int d = nk - 1; d >= 0; d--) {
    uint sz = pu(9u + 2u * uint(d));
    base += (q % sz) * pu(10u + 2u * uint(d));
    q /= sz;
  }
  uint t = gl_LocalInvocationID.x;
  float m = 0.0;
  if (op == 9) { // log-sum-exp: the maximum first
    float mx = -1.0 / 0.0;
    for (uint r = t; r < R; r += NT) mx = max(mx, A[src_index(base, r, nr, contig)]);
    m = reduce_wg(2, mx);
    if (isinf(m)) m = 0.0;
  }
  int cop = op == 2 ? 2 : op == 3 ? 3 : op == 4 ? 4 : 0;
  float id = cop == 2 ? -1.0 / 0.0 : cop == 3 ? 1.0 / 0.0 : cop == 4 ? 1.0 : 0.0;
  vec4 acc4 = vec4(id);
  uint r = t;
  if (contig && op < 5) { // plain sums, means, extremes and products of a dense run: four loads at a time
    for (; r + 3u * NT < R; r += 4u * NT) {
      vec4 v = vec4(A[base + r], A[base + r + NT], A[base + r + 2u * NT], A[base + r + 3u * NT]);
      acc4 = cop == 2 ? max(acc4, v) : cop == 3 ? min(acc4, v) : cop == 4 ? acc4 * v : acc4 + v;
    }
  }
  float acc = combine(cop, combine(cop, acc4.x, acc4.y), combine(cop, acc4.z, acc4.w));
  for (; r < R; r += NT) {
    float v = A[src_index(base, r, nr, contig)];
    if (op == 5) v = abs(v);
    else if (op == 6 || op == 7) v = v * v;
    else if (op == 9) v = exp(v - m);
    acc = combine(cop, acc, v);
  }
  acc = reduce_wg(cop, acc);
  if (t != 0u) return;
  if (op == 1) acc = R > 0u ? acc / float(R) : NAN_F;
  else if (op == 6) acc = sqrt(acc);
  else if (op == 8) acc = log(acc);
  else if (op == 9) acc = log(acc) + m;
  A[pu(2) + o] = epilogue(pc.base + pu(7), acc, o);
}
