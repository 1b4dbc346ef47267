#version 450
// Reductions, one workgroup per output element. Params: 0 n_out, 1 x_off, 2 y_off, 3 op, 4 R (elements reduced),
// 5 kept dims, 6 reduced dims, 7 epi, 8 contiguous (the reduced dims are innermost and dense), 9 (size, stride) of
// each kept dim (8 slots), 25 (size, stride) of each reduced dim.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 64) in;
shared float red[64];

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
  for (uint s = 32u; s > 0u; s >>= 1) {
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
    for (uint r = t; r < R; r += 64u) mx = max(mx, A[src_index(base, r, nr, contig)]);
    m = reduce_wg(2, mx);
    if (isinf(m)) m = 0.0;
  }
  int cop = op == 2 ? 2 : op == 3 ? 3 : op == 4 ? 4 : 0;
  float acc = cop == 2 ? -1.0 / 0.0 : cop == 3 ? 1.0 / 0.0 : cop == 4 ? 1.0 : 0.0;
  for (uint r = t; r < R; r += 64u) {
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
