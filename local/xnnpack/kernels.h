/* local/xnnpack: NHWC helper kernels for what XNNPACK's 2022 API lacks or does slowly (private).
 *
 * All sizes are element counts. No kernel allocates, prints or fails; each splits its work over tp, and tp NULL
 * runs it on the calling thread. The caller owns every buffer; no kernel keeps a pointer after it returns. */
#ifndef CLEAVE_LOCAL_XNNPACK_KERNELS_H
#define CLEAVE_LOCAL_XNNPACK_KERNELS_H

#include <pthreadpool.h>
#include <stddef.h>
#include <stdint.h>

/* [n][c][hw] -> [n][hw][c], float32. src and dst do not overlap. */
void cl_xk_nchw_to_nhwc(pthreadpool_t tp, const float *src, float *dst, size_t n, size_t c, size_t hw);

/* [n][hw][c] -> [n][c][hw], float32. src and dst do not overlap. */
void cl_xk_nhwc_to_nchw(pthreadpool_t tp, const float *src, float *dst, size_t n, size_t c, size_t hw);

/* Concatenation along the innermost axis of an [outer][*] view: dst row o = src[0] row o (widths[0] elements) ++
 * src[1] row o ++ ...; elsize bytes per element (1, 4 or 8); dst row width = sum(widths). No source overlaps dst. */
void cl_xk_concat_inner(pthreadpool_t tp, size_t outer, int n_src, const void *const *src, const size_t *widths,
                        size_t elsize, void *dst);

/* Nearest-neighbour resize in NHWC: dst[b][oy][ox][:] = src[b][iy[oy]][ix[ox]][:] (c floats). iy has oh entries in
 * [0,ih), ix has ow entries in [0,iw); the caller computes them with ONNX's coordinate rules. */
void cl_xk_resize_nearest_nhwc(pthreadpool_t tp, const float *src, float *dst, size_t batch, size_t ih, size_t iw,
                               size_t oh, size_t ow, size_t c, const int32_t *iy, const int32_t *ix);

/* Batched row-major matmul: C_b[m][n] = sum_k A_b[m][k] * B_b[k][n] for b < batch, with A_b = a + b*a_stride,
 * B_b = bm + b*b_stride, C_b = c + b*m*n (a stride of 0 broadcasts that operand). c does not alias a or bm.
 * k == 0 writes zeros. */
void cl_xk_matmul(pthreadpool_t tp, size_t batch, size_t m, size_t n, size_t k, const float *a, size_t a_stride,
                  const float *bm, size_t b_stride, float *c);

#endif
