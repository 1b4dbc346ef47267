/* local/xnnpack: chains of cheap elementwise ops (affine, clamp, HardSwish, HardSigmoid) in one pass over memory.
 * Each chunk of rows is brought through every op while it is in cache; every op's loop is simple enough for the
 * compiler to vectorise, for the instruction set of the running CPU (target_clones). */
#include <math.h>
#include <string.h>

#include "local/xnnpack/xnn.h"

typedef struct ew_job {
  const xstep *st;
  const float *x;
  float *y;
  size_t cols; /* elements per row: the channel count when an op is per channel */
} ew_job;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define EW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EW_CLONES
#endif

/* fminf/fmaxf must honour NaN operands, which keeps the compiler from vectorising them; these compile to
 * minps/maxps. */
static inline float clampf(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

EW_CLONES static void ew_rows(void *ctx, size_t row0, size_t nrows) {
  const ew_job *j = ctx;
  const xstep *st = j->st;
  size_t cols = j->cols, n = nrows * cols;
  const float *x = j->x + row0 * cols;
  float *y = j->y + row0 * cols;
  /* the first op reads x, the others work in place on y */
  for (int k = 0; k < st->n_ew; k++) {
    const xe_op *op = &st->ew[k];
    const float *src = k == 0 ? x : y;
    switch (op->kind) {
    case XE_AFFINE:
      if (op->scale || op->bias) {
        const float *s = op->scale, *b = op->bias;
        for (size_t r = 0; r < nrows; r++) {
          const float *xr = src + r * cols;
          float *yr = y + r * cols;
          if (s && b)
            for (size_t c = 0; c < cols; c++)
              yr[c] = xr[c] * s[c] + b[c];
          else if (s)
            for (size_t c = 0; c < cols; c++)
              yr[c] = xr[c] * s[c];
          else
            for (size_t c = 0; c < cols; c++)
              yr[c] = xr[c] + b[c];
        }
      } else {
        float a = op->a, b = op->b;
        for (size_t i = 0; i < n; i++)
          y[i] = src[i] * a + b;
      }
      break;
    case XE_CLAMP: {
      float lo = op->a, hi = op->b;
      for (size_t i = 0; i < n; i++)
        y[i] = clampf(src[i], lo, hi);
      break;
    }
    case XE_HARDSWISH:
      for (size_t i = 0; i < n; i++)
        y[i] = src[i] * clampf(src[i] + 3.0f, 0.0f, 6.0f) * (1.0f / 6.0f);
      break;
    case XE_HARDSIGMOID: {
      float a = op->a, b = op->b;
      for (size_t i = 0; i < n; i++)
        y[i] = clampf(src[i] * a + b, 0.0f, 1.0f);
      break;
    }
    }
  }
}

void xe_run(pthreadpool_t tp, const xstep *st, const float *x, float *y, size_t rows, size_t cols) {
  bool per_channel = false;
  for (int k = 0; k < st->n_ew; k++)
    per_channel |= st->ew[k].scale || st->ew[k].bias;
  if (!per_channel) { /* one flat row, cut into chunks */
    size_t n = rows * cols;
    cols = n < 1024 ? (n ? n : 1) : 1024;
    rows = n / cols;
    ew_job tail = {.st = st, .x = x + rows * cols, .y = y + rows * cols, .cols = n - rows * cols};
    if (tail.cols) ew_rows(&tail, 0, 1);
  }
  if (!rows || !cols) return;
  ew_job j = {.st = st, .x = x, .y = y, .cols = cols};
  /* about 4096 elements per task: small enough to stay in L1 through the chain, large enough to amortise */
  size_t tile = 4096 / cols ? 4096 / cols : 1;
  pthreadpool_parallelize_1d_tile_1d(tp, ew_rows, &j, rows, tile, 0);
}
