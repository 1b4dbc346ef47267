#version 450
// Strided copy over up to 8 dims: y[out offset] = x[in offset], the input coordinate being the output's minus a
// pad, handled per mode outside the input's extent. Params: 0 total, 1 x_buf, 2 x_off, 3 y_off, 4 ndim, 5 mode
// (0 plain, 1 constant pad, 2 edge, 3 reflect, 4 wrap), 6 pad value, 7 (size, in stride, out stride, pad begin,
// in extent) per dim.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= pu(0)) return;
  int nd = pi(4), mode = pi(5);
  uint xo = pu(2), yo = pu(3), r = i;
  bool outside = false;
  for (int d = nd - 1; d >= 0; d--) {
    uint q = 7u + 5u * uint(d);
    uint sz = pu(q);
    uint c = r % sz;
    r /= sz;
    yo += c * pu(q + 2u);
    int ic = int(c) - pi(q + 3u), ext = pi(q + 4u);
    if (mode != 0 && (ic < 0 || ic >= ext)) {
      if (mode == 1) outside = true;
      else if (mode == 2) ic = clamp(ic, 0, ext - 1);
      else if (mode == 4) ic = ((ic % ext) + ext) % ext;
      else if (ext == 1) ic = 0;
      else {
        int period = 2 * (ext - 1);
        ic = ((ic % period) + period) % period;
        if (ic >= ext) ic = period - ic;
      }
    }
    xo += uint(ic) * pu(q + 1u);
  }
  A[yo] = outside ? pf(6) : ld(pi(1), xo);
}
