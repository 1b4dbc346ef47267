#version 450
// ConvTranspose gathered per output element: the inputs whose strided footprint covers it.
// Params: 0 total, 1 x_off, 2 y_off, 3 w_off, 4 bias_buf, 5 bias_off, 6 Cout, 7 Cin, 8 groups, 9 H, 10 W, 11 OH,
// 12 OW, 13 KH, 14 KW, 15 SH, 16 SW, 17 DH, 18 DW, 19 pad top, 20 pad left, 21 epi.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= pu(0)) return;
  const uint C = pu(6), Cin = pu(7), G = pu(8), H = pu(9), Wd = pu(10), OH = pu(11), OW = pu(12);
  const int KH = pi(13), KW = pi(14), SH = pi(15), SW = pi(16), DH = pi(17), DW = pi(18);
  uint ox = i % OW, t = i / OW;
  uint oy = t % OH;
  t /= OH;
  uint co = t % C, nb = t / C;
  uint cog = C / G, cig = Cin / G, g = co / cog;
  float acc = 0.0;
  for (uint c = 0; c < cig; c++) {
    uint ci = g * cig + c;
    uint xb = pu(1) + (nb * Cin + ci) * H * Wd;
    uint wb = pu(3) + ((ci * cog + co % cog) * uint(KH)) * uint(KW);
    for (int ky = 0; ky < KH; ky++) {
      int ty = int(oy) + pi(19) - ky * DH;
      if (ty < 0 || ty % SH != 0) continue;
      int iy = ty / SH;
      if (iy >= int(H)) continue;
      for (int kx = 0; kx < KW; kx++) {
        int tx = int(ox) + pi(20) - kx * DW;
        if (tx < 0 || tx % SW != 0) continue;
        int ix = tx / SW;
        if (ix >= int(Wd)) continue;
        acc = fma(A[xb + uint(iy) * Wd + uint(ix)], W[wb + uint(ky * KW + kx)], acc);
      }
    }
  }
  int bb = pi(4);
  if (bb >= 0) acc += ld(bb, pu(5) + co);
  A[pu(2) + i] = epilogue(pc.base + pu(21), acc, i);
}
