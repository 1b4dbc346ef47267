#version 450
// Tiled GEMM: C[m][n] = alpha * sum_k A[m][k] * B[k][n] (+ bias), then the epilogue, for every batch z.
// MODE 0: B is a matrix with strides; MODE 1: B is the im2col view of an NCHW image (Conv); MODE 2: a 1x1 Conv
// with stride 1 and no padding (B is the image as [Cin][H*W]).
// Each workgroup computes a BM x BN tile with (BM/TM)*(BN/TN) threads, each a TM x TN block held in registers;
// tiles of A and B pass through shared memory, the next one loaded into registers while the current one is used.
// Params: 0 M, 1 N, 2 K, 3 a_buf, 4 a_off, 5 sam, 6 sak, 7 b_buf, 8 b_off, 9 sbk, 10 sbn, 11 c_off, 12 ldc,
// 13 nb1, 14 sa0, 15 sa1, 16 sb0, 17 sb1, 18 sc0, 19 sc1, 20 bias_buf, 21 bias_off, 22 (unused), 23 alpha,
// 24 H, 25 W, 26 OW, 27 pad top, 28 pad left, 29 epi.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// The tile is fixed at compile time (one SPIR-V module per tile, see vulkan.cmake) so that the register blocks
// and their loops are plain constants to the driver's compiler.
#ifndef BM
#define BM 64
#define BN 64
#define BK 16
#define TM 4
#define TN 4
#endif
layout(constant_id = 5) const uint MODE = 0;
layout(constant_id = 6) const uint KH = 1;
layout(constant_id = 7) const uint KW = 1;
layout(constant_id = 8) const uint SH = 1;
layout(constant_id = 9) const uint SW = 1;
layout(constant_id = 10) const uint DH = 1;
layout(constant_id = 11) const uint DW = 1;
layout(constant_id = 12) const uint A_KCONTIG = 1;
layout(constant_id = 13) const uint B_NCONTIG = 1;
layout(local_size_x = (BM / TM) * (BN / TN)) in;

const uint NT = (BM / TM) * (BN / TN);
const uint LA = (BM * BK + NT - 1) / NT; // A elements each thread loads per tile
const uint LB = (BK * BN + NT - 1) / NT;

shared vec4 As[BK][BM / 4];
shared vec4 Bs[BK][BN / 4];

void load_tiles(uint k0, inout float ra[LA], inout float rb[LB], uint M, uint N, uint K, int abuf, int bbuf,
                uint abase, uint bbase, uint sam, uint sak, uint sbk, uint sbn, uint m0, uint n0, uint tid, uint H,
                uint Wd, int iy0[LB], int ix0[LB]) {
  [[unroll]] for (uint j = 0; j < LA; j++) {
    uint e = tid + j * NT;
    uint mm = A_KCONTIG == 1 ? e / BK : e % BM, kk = A_KCONTIG == 1 ? e % BK : e / BM;
    uint m = m0 + mm, k = k0 + kk;
    ra[j] = (e < BM * BK && m < M && k < K) ? ld(abuf, abase + m * sam + k * sak) : 0.0;
  }
  [[unroll]] for (uint j = 0; j < LB; j++) {
    uint e = tid + j * NT;
    bool row = B_NCONTIG == 1 || MODE != 0;
    uint nn = row ? e % BN : e / BK, kk = row ? e / BN : e % BK;
    uint n = n0 + nn, k = k0 + kk;
    float v = 0.0;
    if (e < BK * BN && n < N && k < K) {
      if (MODE == 0) {
        v = ld(bbuf, bbase + k * sbk + n * sbn);
      } else if (MODE == 2) {
        v = A[bbase + k * sbk + n];
      } else {
        uint ci = k / (KH * KW), r = k % (KH * KW);
        int iy = iy0[j] + int((r / KW) * DH), ix = ix0[j] + int((r % KW) * DW);
        if (iy >= 0 && iy < int(H) && ix >= 0 && ix < int(Wd)) v = A[bbase + (ci * H + uint(iy)) * Wd + uint(ix)];
      }
    }
    rb[j] = v;
  }
}

void store_tiles(float ra[LA], float rb[LB], uint tid) {
  [[unroll]] for (uint j = 0; j < LA; j++) {
    uint e = tid + j * NT;
    if (e < BM * BK) {
      uint mm = A_KCONTIG == 1 ? e / BK : e % BM, kk = A_KCONTIG == 1 ? e % BK : e / BM;
      As[kk][mm / 4][mm % 4] = ra[j];
    }
  }
  [[unroll]] for (uint j = 0; j < LB; j++) {
    uint e = tid + j * NT;
    if (e < BK * BN) {
      bool row = B_NCONTIG == 1 || MODE != 0;
      uint nn = row ? e % BN : e / BK, kk = row ? e / BN : e % BK;
      Bs[kk][nn / 4][nn % 4] = rb[j];
    }
  }
}

void main() {
  const uint M = pu(0), N = pu(1), K = pu(2);
  const int abuf = pi(3), bbuf = pi(7);
  const uint sam = pu(5), sak = pu(6), sbk = pu(9), sbn = pu(10);
  const uint z = gl_WorkGroupID.z, nb1 = pu(13);
  const uint b0 = z / nb1, b1 = z % nb1;
  const uint abase = pu(4) + b0 * pu(14) + b1 * pu(15);
  const uint bbase = pu(8) + b0 * pu(16) + b1 * pu(17);
  const uint cbase = pu(11) + b0 * pu(18) + b1 * pu(19);
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  const uint tid = gl_LocalInvocationID.x;
  const uint tx = tid % (BN / TN), ty = tid / (BN / TN);
  const uint H = pu(24), Wd = pu(25), OW = pu(26);
  const int pt = pi(27), pl = pi(28);

  // im2col: the output pixel of each B element this thread loads is the same for every tile
  int iy0[LB], ix0[LB];
  [[unroll]] for (uint j = 0; j < LB; j++) {
    uint e = tid + j * NT;
    uint nn = (B_NCONTIG == 1 || MODE != 0) ? e % BN : e / BK;
    uint n = n0 + nn;
    uint oy = n / OW, ox = n % OW;
    iy0[j] = int(oy * SH) - pt;
    ix0[j] = int(ox * SW) - pl;
  }

  float ra[LA], rb[LB];
  float acc[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; i++)[[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < K; k0 += BK) {
    // global -> registers for this tile (the first) or the next (issued before the math on the current one)
    if (k0 == 0) {
      load_tiles(0u, ra, rb, M, N, K, abuf, bbuf, abase, bbase, sam, sak, sbk, sbn, m0, n0, tid, H, Wd, iy0, ix0);
      store_tiles(ra, rb, tid);
      barrier();
    }
    bool more = k0 + BK < K;
    if (more)
      load_tiles(k0 + BK, ra, rb, M, N, K, abuf, bbuf, abase, bbase, sam, sak, sbk, sbn, m0, n0, tid, H, Wd, iy0,
                 ix0);
    [[unroll]] for (uint kk = 0; kk < BK; kk++) {
      vec4 a[TM / 4], b[TN / 4];
      [[unroll]] for (uint i = 0; i < TM / 4; i++) a[i] = As[kk][ty * (TM / 4) + i];
      [[unroll]] for (uint j = 0; j < TN / 4; j++) b[j] = Bs[kk][tx * (TN / 4) + j];
      [[unroll]] for (uint i = 0; i < TM; i++)[[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] =
          fma(a[i / 4][i % 4], b[j / 4][j % 4], acc[i][j]);
    }
    barrier();
    if (more) {
      store_tiles(ra, rb, tid);
      barrier();
    }
  }

  const float alpha = pf(23);
  const int biasbuf = pi(20);
  const uint ldc = pu(12), epi = pc.base + pu(29), origin = pu(11);
  [[unroll]] for (uint i = 0; i < TM; i++) {
    uint m = m0 + ty * TM + i;
    if (m >= M) continue;
    float bias = biasbuf >= 0 ? ld(biasbuf, pu(21) + b1 * M + m) : 0.0;
    [[unroll]] for (uint j = 0; j < TN; j++) {
      uint n = n0 + tx * TN + j;
      if (n >= N) continue;
      uint c = cbase + m * ldc + n;
      A[c] = epilogue(epi, acc[i][j] * alpha + bias, c - origin);
    }
  }
}
