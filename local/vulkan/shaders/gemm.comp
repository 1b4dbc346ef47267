#version 450
// Tiled GEMM: C[m][n] = alpha * sum_k A[m][k] * B[k][n] (+ bias), then the epilogue, for every batch z.
// MODE 0: B is a matrix with strides; MODE 1: B is the im2col view of an NCHW image (Conv); MODE 2: a 1x1 Conv
// with stride 1 and no padding, or a ConvTranspose whose kernel is its stride (B is the image as [Cin][H*W]).
// Each workgroup computes a BM x BN tile with (BM/TM)*(BN/TN) threads, each a TM x TN block held in registers as
// groups of 4 rows and 4 columns spread over the tile, so that a warp's shared-memory reads are whole vec4s without
// bank conflicts. A is stored k-major in shared memory (transposed) so that both operands are read as vec4. The
// shared tiles are double-buffered: the next tile is loaded from global memory into registers while the current
// one is multiplied, then stored into the other buffer, with one barrier per step.
// No array here may be indexed by a run-time value after unrolling: the driver would move it to local memory.
// Params: 0 M, 1 N, 2 K, 3 a_buf, 4 a_off, 5 sam, 6 sak, 7 b_buf, 8 b_off, 9 sbk, 10 sbn, 11 c_off, 12 ldc,
// 13 nb1, 14 sa0, 15 sa1, 16 sb0, 17 sb1, 18 sc0, 19 sc1, 20 bias_buf, 21 bias_off, 22 (unused), 23 alpha,
// 24 H, 25 W, 26 OW, 27 pad top, 28 pad left, 29 epi.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// The same buffers seen as vec4s, for aligned 16-byte loads and stores.
layout(std430, set = 0, binding = 0) buffer ArenaV { vec4 A4[]; };
layout(std430, set = 0, binding = 1) readonly buffer WeightsV { vec4 W4[]; };

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
layout(constant_id = 14) const uint A_BUF = 0; // buffer of A: 0 arena, 1 weights, 2 parameters
layout(constant_id = 15) const uint B_BUF = 0;
layout(constant_id = 16) const uint VEC = 0; // 1: A read as vec4 along k, 2: B as vec4 along n, 4: C written as vec4
layout(constant_id = 17) const uint EPI = 1; // 0: no epilogue program
// 1: ConvTranspose with kernel == stride (KH x KW), no pads or dilation: rows are (Cout, ky, kx), columns input
// pixels, and each result goes to its own output pixel
layout(constant_id = 18) const uint CT = 0;
layout(local_size_x = (BM / TM) * (BN / TN)) in;

const uint TX = BN / TN, TY = BM / TM, NT = TX * TY;
const uint LA = (BM * BK + NT - 1) / NT;      // A elements each thread loads per tile (scalar loads)
const uint LB = (BK * BN + NT - 1) / NT;      // B elements
const uint LAV = (BM * BK / 4 + NT - 1) / NT; // A vec4s (vector loads)
const uint LBV = (BK * BN / 4 + NT - 1) / NT; // B vec4s

shared vec4 As[2][BK][BM / 4 + 1]; // k-major; the padding spreads the transposing stores over the banks
shared vec4 Bs[2][BK][BN / 4 + 1];

float lda(uint i) { return A_BUF == 0 ? A[i] : A_BUF == 1 ? W[i] : intBitsToFloat(P[i]); }
float ldb(uint i) { return B_BUF == 0 ? A[i] : B_BUF == 1 ? W[i] : intBitsToFloat(P[i]); }

void main() {
  const uint M = pu(0), N = pu(1), K = pu(2);
  const uint sam = pu(5), sak = pu(6), sbk = pu(9), sbn = pu(10);
  const uint z = gl_WorkGroupID.z, nb1 = pu(13);
  const uint b0 = z / nb1, b1 = z % nb1;
  const uint abase = pu(4) + b0 * pu(14) + b1 * pu(15);
  const uint bbase = pu(8) + b0 * pu(16) + b1 * pu(17);
  const uint cbase = pu(11) + b0 * pu(18) + b1 * pu(19);
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  const uint tid = gl_LocalInvocationID.x;
  const uint tx = tid % TX, ty = tid / TX;
  const uint H = pu(24), Wd = pu(25), OW = pu(26);
  const int pt = pi(27), pl = pi(28);
  const bool avec = (VEC & 1u) != 0u, bvec = (VEC & 2u) != 0u;
  const bool brow = B_NCONTIG == 1 || MODE != 0; // B loads run along n

  // im2col: the output pixel of each B element this thread loads is the same for every tile
  int iy0[LB], ix0[LB];
  [[unroll]] for (uint j = 0; j < LB; j++) {
    uint e = tid + j * NT;
    uint n = n0 + e % BN;
    iy0[j] = int((n / OW) * SH) - pt;
    ix0[j] = int((n % OW) * SW) - pl;
  }

  float ra[LA], rb[LB];
  vec4 rav[LAV], rbv[LBV];
  vec4 acc[TM][TN / 4];
  [[unroll]] for (uint i = 0; i < TM; i++)[[unroll]] for (uint j = 0; j < TN / 4; j++) acc[i][j] = vec4(0.0);

  for (uint k0 = 0, it = 0; k0 < K + BK; k0 += BK, it++) {
    // global -> registers: tile k0 (issued before the math on the previous one)
    if (k0 < K) {
      if (avec) {
        [[unroll]] for (uint j = 0; j < LAV; j++) {
          uint e = tid + j * NT;
          uint m = m0 + e / (BK / 4), k = k0 + (e % (BK / 4)) * 4;
          vec4 v = vec4(0.0);
          if (e < BM * BK / 4 && m < M && k < K) {
            uint q = (abase + m * sam + k) / 4;
            v = A_BUF == 0 ? A4[q] : W4[q];
          }
          rav[j] = v;
        }
      } else {
        [[unroll]] for (uint j = 0; j < LA; j++) {
          uint e = tid + j * NT;
          uint mm = A_KCONTIG == 1 ? e / BK : e % BM, kk = A_KCONTIG == 1 ? e % BK : e / BM;
          uint m = m0 + mm, k = k0 + kk;
          ra[j] = (e < BM * BK && m < M && k < K) ? lda(abase + m * sam + k * sak) : 0.0;
        }
      }
      if (bvec) {
        [[unroll]] for (uint j = 0; j < LBV; j++) {
          uint e = tid + j * NT;
          uint k = k0 + e / (BN / 4), n = n0 + (e % (BN / 4)) * 4;
          vec4 v = vec4(0.0);
          if (e < BK * BN / 4 && n < N && k < K) {
            uint q = (bbase + k * sbk + n) / 4;
            v = MODE == 2 || B_BUF == 0 ? A4[q] : W4[q];
          }
          rbv[j] = v;
        }
      } else {
        [[unroll]] for (uint j = 0; j < LB; j++) {
          uint e = tid + j * NT;
          uint nn = brow ? e % BN : e / BK, kk = brow ? e / BN : e % BK;
          uint n = n0 + nn, k = k0 + kk;
          float v = 0.0;
          if (e < BK * BN && n < N && k < K) {
            if (MODE == 0) {
              v = ldb(bbase + k * sbk + n * sbn);
            } else if (MODE == 2) {
              v = A[bbase + k * sbk + n];
            } else {
              uint ci = k / (KH * KW), r = k % (KH * KW);
              int iy = iy0[j] + int((r / KW) * DH), ix = ix0[j] + int((r % KW) * DW);
              if (iy >= 0 && iy < int(H) && ix >= 0 && ix < int(Wd))
                v = A[bbase + (ci * H + uint(iy)) * Wd + uint(ix)];
            }
          }
          rb[j] = v;
        }
      }
    }

    // the previous tile's products, from the buffer the last step filled
    if (k0 > 0) {
      const uint cur = (it + 1u) & 1u;
      [[unroll]] for (uint kk = 0; kk < BK; kk++) {
        vec4 a[TM / 4], b[TN / 4];
        [[unroll]] for (uint i = 0; i < TM / 4; i++) a[i] = As[cur][kk][i * TY + ty];
        [[unroll]] for (uint j = 0; j < TN / 4; j++) b[j] = Bs[cur][kk][j * TX + tx];
        [[unroll]] for (uint i = 0; i < TM / 4; i++)[[unroll]] for (uint r = 0; r < 4; r++)
            [[unroll]] for (uint j = 0; j < TN / 4; j++) acc[i * 4 + r][j] =
                fma(vec4(a[i][r]), b[j], acc[i * 4 + r][j]);
      }
    }

    // registers -> the other shared buffer (last read two steps ago, before the last barrier)
    if (k0 < K) {
      const uint nxt = it & 1u;
      if (avec) {
        [[unroll]] for (uint j = 0; j < LAV; j++) {
          uint e = tid + j * NT;
          if (e < BM * BK / 4) {
            uint mm = e / (BK / 4), kq = (e % (BK / 4)) * 4;
            vec4 v = rav[j];
            As[nxt][kq][mm / 4][mm % 4] = v.x;
            As[nxt][kq + 1][mm / 4][mm % 4] = v.y;
            As[nxt][kq + 2][mm / 4][mm % 4] = v.z;
            As[nxt][kq + 3][mm / 4][mm % 4] = v.w;
          }
        }
      } else {
        [[unroll]] for (uint j = 0; j < LA; j++) {
          uint e = tid + j * NT;
          if (e < BM * BK) {
            uint mm = A_KCONTIG == 1 ? e / BK : e % BM, kk = A_KCONTIG == 1 ? e % BK : e / BM;
            As[nxt][kk][mm / 4][mm % 4] = ra[j];
          }
        }
      }
      if (bvec) {
        [[unroll]] for (uint j = 0; j < LBV; j++) {
          uint e = tid + j * NT;
          if (e < BK * BN / 4) Bs[nxt][e / (BN / 4)][e % (BN / 4)] = rbv[j];
        }
      } else {
        [[unroll]] for (uint j = 0; j < LB; j++) {
          uint e = tid + j * NT;
          if (e < BK * BN) {
            uint nn = brow ? e % BN : e / BK, kk = brow ? e / BN : e % BK;
            Bs[nxt][kk][nn / 4][nn % 4] = rb[j];
          }
        }
      }
    }
    barrier();
  }

  // The stores in a loop left rolled, so that the epilogue program is in the code once rather than once per
  // element; acc is picked by a switch with constant indices (indexed by the loop's counter it would go to local
  // memory).
  const float alpha = pf(23);
  const int biasbuf = pi(20);
  const uint ldc = pu(12), epi = pc.base + pu(29), origin = pu(11);
  for (uint s = 0; s < TM * (TN / 4); s++) {
    const uint row = s / (TN / 4), col = s % (TN / 4);
    uint m = m0 + ((row / 4) * TY + ty) * 4 + row % 4, n = n0 + (col * TX + tx) * 4;
    vec4 v;
    switch (s) {
#define PICK(R, J)                                                                                                   \
  case R * (TN / 4) + J: v = acc[R][J]; break;
#if TN == 8
#define PICK_ROW(R) PICK(R, 0) PICK(R, 1)
#else
#define PICK_ROW(R) PICK(R, 0)
#endif
      PICK_ROW(0) PICK_ROW(1) PICK_ROW(2) PICK_ROW(3)
#if TM == 8
      PICK_ROW(4) PICK_ROW(5) PICK_ROW(6) PICK_ROW(7)
#endif
    default: v = vec4(0.0);
    }
    if (CT != 0 && m < M && n < N) {
      // scattered: column n is input pixel (iy, ix), row m output channel co at kernel tap (ky, kx)
      uint co = m / (KH * KW), t = m % (KH * KW), ky = t / KW, kx = t % KW;
      v = v * alpha + (biasbuf >= 0 ? ld(biasbuf, pu(21) + co) : 0.0);
      uint rowbase = cbase + co * (H * KH) * OW + ky * OW + kx;
#define CT_STORE(Q, COMP)                                                                                            \
  if (n + Q < N) {                                                                                                   \
    uint c = rowbase + ((n + Q) / Wd) * KH * OW + ((n + Q) % Wd) * KW;                                               \
    A[c] = EPI != 0 ? epilogue(epi, v.COMP, c - origin) : v.COMP;                                                    \
  }
      CT_STORE(0, x) CT_STORE(1, y) CT_STORE(2, z) CT_STORE(3, w)
    } else if (m < M && n < N) {
      uint c = cbase + m * ldc + n;
      v = v * alpha + (biasbuf >= 0 ? ld(biasbuf, pu(21) + b1 * M + m) : 0.0);
      if (EPI != 0) {
        v.x = epilogue(epi, v.x, c - origin);
        v.y = epilogue(epi, v.y, c + 1 - origin);
        v.z = epilogue(epi, v.z, c + 2 - origin);
        v.w = epilogue(epi, v.w, c + 3 - origin);
      }
      if ((VEC & 4u) != 0u) {
        A4[c / 4] = v;
      } else {
        A[c] = v.x;
        if (n + 1 < N) A[c + 1] = v.y;
        if (n + 2 < N) A[c + 2] = v.z;
        if (n + 3 < N) A[c + 3] = v.w;
      }
    }
  }
}
