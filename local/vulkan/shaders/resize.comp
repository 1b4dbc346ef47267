#version 450
// Resize from per-axis tables: for each axis and output coordinate, two input indices and the weight of the
// second. Params: 0 total, 1 x_off, 2 y_off, 3 rank, then per axis: out size, in stride, table offset (relative);
// a table holds (i0, i1, w) per output coordinate.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= pu(0)) return;
  int rank = pi(3);
  uint base = pu(1), r = i;
  uint off1[8];
  float w1[8];
  int two[8], n2 = 0;
  for (int a = rank - 1; a >= 0; a--) {
    uint q = 4u + 3u * uint(a);
    uint sz = pu(q), c = r % sz;
    r /= sz;
    uint tb = pu(q + 2u) + 3u * c;
    uint st = pu(q + 1u);
    int i0 = pi(tb), i1 = pi(tb + 1u);
    base += uint(i0) * st;
    if (i1 != i0) {
      off1[n2] = uint(i1 - i0) * st;
      w1[n2] = pf(tb + 2u);
      two[n2] = a;
      n2++;
    }
  }
  float acc = 0.0;
  for (uint combo = 0u; combo < (1u << uint(n2)); combo++) {
    uint off = base;
    float w = 1.0;
    for (int j = 0; j < n2; j++) {
      if ((combo & (1u << uint(j))) != 0u) {
        off += off1[j];
        w *= w1[j];
      } else {
        w *= 1.0 - w1[j];
      }
    }
    acc += w * A[off];
  }
  A[pu(2) + i] = acc;
}
