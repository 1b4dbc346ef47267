// Shared by every kernel: the three buffers, the parameter block and the epilogue program (see vk.h).
#extension GL_EXT_control_flow_attributes : enable

layout(std430, set = 0, binding = 0) buffer Arena { float A[]; };
layout(std430, set = 0, binding = 1) readonly buffer Weights { float W[]; };
layout(std430, set = 0, binding = 2) readonly buffer Params { int P[]; };
layout(push_constant) uniform Push { uint base; } pc;

int pi(uint i) { return P[pc.base + i]; }
uint pu(uint i) { return uint(P[pc.base + i]); }
float pf(uint i) { return intBitsToFloat(P[pc.base + i]); }

// Buffer 0 is the arena, 1 the weights, 2 the parameter buffer (host values read as floats).
float ld(int buf, uint i) {
  if (buf == 0) return A[i];
  if (buf == 1) return W[i];
  return intBitsToFloat(P[i]);
}

#define NAN_F uintBitsToFloat(0x7fc00000u)

float pow_f(float x, float y) {
  if (y == 2.0) return x * x;
  if (y == 1.0) return x;
  if (y == 0.0) return 1.0;
  if (y == 0.5) return sqrt(x);
  if (x > 0.0) return pow(x, y);
  if (x == 0.0) return y > 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
  if (y == floor(y)) {
    float r = pow(-x, y);
    return mod(y, 2.0) == 1.0 ? -r : r;
  }
  return NAN_F;
}

float erf_f(float x) {
  float ax = abs(x);
  if (ax < 0.5) {
    float x2 = x * x;
    return x * 1.1283791671 * (1.0 + x2 * (-1.0 / 3.0 + x2 * (0.1 + x2 * (-1.0 / 42.0 + x2 * (1.0 / 216.0)))));
  }
  // Abramowitz and Stegun 7.1.26
  float t = 1.0 / (1.0 + 0.3275911 * ax);
  float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
                      t * exp(-ax * ax);
  return x < 0.0 ? -y : y;
}

float binop(int op, float x, float o) {
  switch (op) {
  case 0: return x + o;
  case 1: return x - o;
  case 2: return o - x;
  case 3: return x * o;
  case 4: return x / o;
  case 5: return o / x;
  case 6: return isnan(x) || isnan(o) ? NAN_F : max(x, o);
  case 7: return isnan(x) || isnan(o) ? NAN_F : min(x, o);
  case 8: return pow_f(x, o);
  case 9: return pow_f(o, x);
  default: return x < 0.0 ? x * o : x;
  }
}

float unop(int op, float x, float a, float b) {
  switch (op) {
  case 33: return isnan(x) ? x : min(max(x, a), b);
  case 34: return x < 0.0 ? a * x : x;
  case 35: return x < 0.0 ? a * (exp(x) - 1.0) : x;
  case 36: return x > 0.0 ? b * x : b * (a * exp(x) - a);
  case 37: return max(0.0, x) + min(0.0, a * (exp(x / a) - 1.0));
  case 38: return max(0.0, min(1.0, a * x + b));
  case 39: return x * max(0.0, min(1.0, x / 6.0 + 0.5));
  case 40: return 1.0 / (1.0 + exp(-x));
  case 41: return tanh(clamp(x, -15.0, 15.0));
  case 42: return exp(x);
  case 43: return log(x);
  case 44: return sqrt(x);
  case 45: return abs(x);
  case 46: return -x;
  case 47: return 1.0 / x;
  case 48: return floor(x);
  case 49: return ceil(x);
  case 50: return roundEven(x);
  case 51: return erf_f(x);
  case 52: return x > 20.0 ? x : log(exp(x) + 1.0);
  case 53: return x / (1.0 + abs(x));
  case 54: return sin(x);
  case 55: return cos(x);
  case 56: return sign(x);
  case 57: return x > a ? x : 0.0;
  case 58: return max(x, 0.0);
  case 59: return x * a + b;
  default: return x;
  }
}

// n / d for a divisor known when planning, from its multiplier m and shifts sh (bit 0: the first shift, bits 1-7:
// the second), as vk_params.c computes them: a multiply-high and shifts instead of a division.
uint fdiv(uint n, uint m, uint sh) {
  uint hi, lo;
  umulExtended(n, m, hi, lo);
  return (hi + ((n - hi) >> (sh & 1u))) >> (sh >> 1);
}

// The epilogue program's length and ops are specialisation constants (32, then 33-44), so that once the driver
// specialises the pipeline, the loop has a known trip count and each op's switch a known case.
layout(constant_id = 32) const int EPI_N = 0;
layout(constant_id = 33) const int EOP0 = 0;
layout(constant_id = 34) const int EOP1 = 0;
layout(constant_id = 35) const int EOP2 = 0;
layout(constant_id = 36) const int EOP3 = 0;
layout(constant_id = 37) const int EOP4 = 0;
layout(constant_id = 38) const int EOP5 = 0;
layout(constant_id = 39) const int EOP6 = 0;
layout(constant_id = 40) const int EOP7 = 0;
layout(constant_id = 41) const int EOP8 = 0;
layout(constant_id = 42) const int EOP9 = 0;
layout(constant_id = 43) const int EOP10 = 0;
layout(constant_id = 44) const int EOP11 = 0;

int eop_code(int k) {
  switch (k) {
  case 0: return EOP0;
  case 1: return EOP1;
  case 2: return EOP2;
  case 3: return EOP3;
  case 4: return EOP4;
  case 5: return EOP5;
  case 6: return EOP6;
  case 7: return EOP7;
  case 8: return EOP8;
  case 9: return EOP9;
  case 10: return EOP10;
  default: return EOP11;
  }
}

// The epilogue program at absolute parameter index e, on value x of output element i (flat index in its tensor).
// Block: count, then per op 10 words: op, a, b, src (-1 scalar a, -2 saved value, else a buffer), offset, C, inner,
// and the divisions' multipliers for inner and C with their shifts (inner's in bits 0-7, C's in bits 8-15); a
// tensor operand is element (i / inner) % C of its buffer from offset, times a.
float epilogue(uint e, float x, uint i) {
  float s = 0.0;
  for (int k = 0; k < EPI_N; k++) {
    uint q = e + 1u + 10u * uint(k);
    int op = eop_code(k);
    float a = intBitsToFloat(P[q + 1u]), b = intBitsToFloat(P[q + 2u]);
    if (op < 32) {
      int src = P[q + 3u];
      float o = a;
      if (src == -2) {
        o = s;
      } else if (src >= 0) {
        uint sh = uint(P[q + 9u]), t = fdiv(i, uint(P[q + 7u]), sh & 255u);
        uint r = t - fdiv(t, uint(P[q + 8u]), sh >> 8) * uint(P[q + 5u]);
        o = a * ld(src, uint(P[q + 4u]) + r);
      }
      x = binop(op, x, o);
    } else if (op == 32) {
      s = x;
    } else {
      x = unop(op, x, a, b);
    }
  }
  return x;
}
