#version 450
// Depthwise convolution (groups == input channels), one output element per thread.
// Params: 0 total, 1 x_off, 2 y_off, 3 w_off, 4 bias_buf, 5 bias_off, 6 Cout, 7 Cout/Cin, 8 H, 9 W, 10 OH, 11 OW,
// 12 pad top, 13 pad left, 14 epi.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(constant_id = 0) const uint KH = 3;
layout(constant_id = 1) const uint KW = 3;
layout(constant_id = 2) const uint SH = 1;
layout(constant_id = 3) const uint SW = 1;
layout(constant_id = 4) const uint DH = 1;
layout(constant_id = 5) const uint DW = 1;
layout(local_size_x = 256) in;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= pu(0)) return;
  const uint C = pu(6), mult = pu(7), H = pu(8), Wd = pu(9), OH = pu(10), OW = pu(11);
  uint ox = i % OW, t = i / OW;
  uint oy = t % OH;
  t /= OH;
  uint co = t % C, nb = t / C;
  uint ci = co / mult;
  uint xb = pu(1) + (nb * (C / mult) + ci) * H * Wd;
  uint wb = pu(3) + co * KH * KW;
  int iy0 = int(oy * SH) - pi(12), ix0 = int(ox * SW) - pi(13);
  float acc = 0.0;
  [[unroll]] for (uint ky = 0; ky < KH; ky++) {
    int iy = iy0 + int(ky * DH);
    if (iy < 0 || iy >= int(H)) continue;
    [[unroll]] for (uint kx = 0; kx < KW; kx++) {
      int ix = ix0 + int(kx * DW);
      if (ix < 0 || ix >= int(Wd)) continue;
      acc = fma(A[xb + uint(iy) * Wd + uint(ix)], W[wb + ky * KW + kx], acc);
    }
  }
  int bb = pi(4);
  if (bb >= 0) acc += ld(bb, pu(5) + co);
  A[pu(2) + i] = epilogue(pc.base + pu(14), acc, i);
}
