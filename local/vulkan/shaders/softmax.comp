#version 450
// Softmax and LogSoftmax, one workgroup per row of L elements spaced I apart.
// Params: 0 rows, 1 x_off, 2 y_off, 3 L, 4 I, 5 log?, 6 epi.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 64) in;
shared float red[64];

float reduce_wg(bool is_max, float v) {
  uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint s = 32u; s > 0u; s >>= 1) {
    if (t < s) red[t] = is_max ? max(red[t], red[t + s]) : red[t] + red[t + s];
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

void main() {
  uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= pu(0)) return;
  uint L = pu(3), I = pu(4), t = gl_LocalInvocationID.x;
  uint base = (row / I) * L * I + row % I;
  uint xb = pu(1) + base, yb = pu(2) + base;
  float mx = -1.0 / 0.0;
  for (uint j = t; j < L; j += 64u) mx = max(mx, A[xb + j * I]);
  mx = reduce_wg(true, mx);
  float s = 0.0;
  for (uint j = t; j < L; j += 64u) s += exp(A[xb + j * I] - mx);
  s = reduce_wg(false, s);
  bool lg = pi(5) != 0;
  float ls = log(s);
  uint epi = pc.base + pu(6);
  for (uint j = t; j < L; j += 64u) {
    float v = A[xb + j * I] - mx;
    A[yb + j * I] = epilogue(epi, lg ? v - ls : exp(v) / s, base + j * I);
  }
}
