#version 450
// MaxPool and AveragePool over 1 to 3 spatial dims (shorter ones padded to 3 with size-1 dims), as the reference
// kernel: taps inside the input, and for count_include_pad those inside the padded input.
// Params: 0 total, 1 x_off, 2 y_off, 3 max?, 4 count_include_pad, 5 in[3], 8 out[3], 11 k[3], 14 s[3], 17 d[3],
// 20 pad begin[3], 23 pad end[3], 26 epi.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= pu(0)) return;
  int inn[3], o[3], lo[3], hi[3], st[3], d[3];
  int padded = 1;
  uint r = i;
  for (int a = 2; a >= 0; a--) {
    uint os = pu(8u + uint(a));
    o[a] = int(r % os);
    r /= os;
  }
  uint plane = r;
  for (int a = 0; a < 3; a++) {
    inn[a] = pi(5u + uint(a));
    int k = pi(11u + uint(a)), s = pi(14u + uint(a)), pb = pi(20u + uint(a)), pe = pi(23u + uint(a));
    d[a] = pi(17u + uint(a));
    st[a] = o[a] * s - pb;
    int l = 0, h = k, pl = 0, ph = k;
    while (l < h && st[a] + l * d[a] < 0) l++;
    while (h > l && st[a] + (h - 1) * d[a] >= inn[a]) h--;
    while (pl < ph && st[a] + pl * d[a] < -pb) pl++;
    while (ph > pl && st[a] + (ph - 1) * d[a] >= inn[a] + pe) ph--;
    lo[a] = l;
    hi[a] = h;
    padded *= ph - pl;
  }
  bool is_max = pi(3) != 0;
  uint xb = pu(1) + plane * uint(inn[0] * inn[1] * inn[2]);
  float acc = 0.0, mx = -3.402823466e38;
  int cnt = 0;
  for (int a = lo[0]; a < hi[0]; a++) {
    int iz = st[0] + a * d[0];
    for (int b = lo[1]; b < hi[1]; b++) {
      int iy = st[1] + b * d[1];
      uint row = xb + uint((iz * inn[1] + iy) * inn[2]);
      for (int c = lo[2]; c < hi[2]; c++) {
        float v = A[row + uint(st[2] + c * d[2])];
        cnt++;
        if (is_max)
          mx = max(mx, v);
        else
          acc += v;
      }
    }
  }
  float y;
  if (is_max)
    y = mx;
  else
    y = acc / float(pi(4) != 0 ? padded : cnt);
  A[pu(2) + i] = epilogue(pc.base + pu(26), y, i);
}
