#version 450
// Elementwise: y[i] = epilogue(x[i]), or, in broadcast mode, epilogue(op(a[ia], b[ib])) with up to 8 dims of
// numpy broadcasting. Params: n, mode, x_buf, x_off, y_off, epi, then (mode 1) op, b_buf, b_off, ndim, and per dim:
// size, a stride, b stride.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
  uint n = pu(0);
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= n) return;
  int mode = pi(1);
  float x;
  if (mode == 0) {
    x = ld(pi(2), pu(3) + i);
  } else {
    uint ia = pu(3), ib = pu(8), r = i;
    int nd = pi(9);
    for (int d = nd - 1; d >= 0; d--) {
      uint sz = pu(10u + 3u * uint(d));
      uint c = r % sz;
      r /= sz;
      ia += c * pu(11u + 3u * uint(d));
      ib += c * pu(12u + 3u * uint(d));
    }
    x = binop(pi(6), ld(pi(2), ia), ld(pi(7), ib));
  }
  A[pu(4) + i] = epilogue(pc.base + pu(5), x, i);
}
