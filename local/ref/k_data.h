/* local/ref: the data operators' kernels of k_data_2.c and the copy helpers both files use (private). */
#ifndef CLEAVE_LOCAL_REF_K_DATA_H
#define CLEAVE_LOCAL_REF_K_DATA_H

#include "local/ref/ref.h"

#define CL_KDATA_KERNEL(name)                                                                                   \
  int name(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,    \
           int n_out)

CL_KDATA_KERNEL(cl_kdata_slice);
CL_KDATA_KERNEL(cl_kdata_gather);
CL_KDATA_KERNEL(cl_kdata_gather_elements);
CL_KDATA_KERNEL(cl_kdata_tile);
CL_KDATA_KERNEL(cl_kdata_expand);
CL_KDATA_KERNEL(cl_kdata_constant_of_shape);
CL_KDATA_KERNEL(cl_kdata_range);
CL_KDATA_KERNEL(cl_kdata_pad);
CL_KDATA_KERNEL(cl_kdata_depth_to_space);
CL_KDATA_KERNEL(cl_kdata_space_to_depth);
int cl_kdata_check_pad(const cl_graph *g, const cl_node *n, char *why, size_t why_len);

/* Fills dst (its dtype and dims set) from the strided view of src: element (i0, .., ir-1) of dst is element
 * base + sum(i_d * strides[d]) of src. Strides may be 0 (broadcast) or negative (reversed). */
void cl_kdata_view_copy(cl_tensor *dst, const void *src, int64_t base, const int64_t *strides);
/* Row-major element strides of t. */
void cl_kdata_strides(const cl_tensor *t, int64_t *strides);
/* Integer list from attribute attr (opset < since) or input idx (opset >= since), as the infer function read it:
 * the count, -1 when absent, -2 when there are more than max. */
int cl_kdata_list(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, const char *attr,
                  int idx, int since, int64_t *dst, int max);

#endif
