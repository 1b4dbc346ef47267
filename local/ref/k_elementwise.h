/* local/ref: kernels of the elementwise family shared between k_elementwise.c and k_elementwise_2.c (private). */
#ifndef CLEAVE_LOCAL_REF_K_ELEMENTWISE_H
#define CLEAVE_LOCAL_REF_K_ELEMENTWISE_H

#include "local/ref/ref.h"

#define CL_EW_ARGS                                                                                                   \
  const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out, int n_out

/* Records "Op is not implemented for <dtype of t>" and returns CLEAVE_EUNSUPPORTED. */
int cl_ew_bad_dtype(const cl_kctx *k, const cl_node *n, const cl_tensor *t);

/* Broadcasting kernels (k_elementwise_2.c). */
int cl_ew_add(CL_EW_ARGS);
int cl_ew_sub(CL_EW_ARGS);
int cl_ew_mul(CL_EW_ARGS);
int cl_ew_div(CL_EW_ARGS);
int cl_ew_mod(CL_EW_ARGS);
int cl_ew_pow(CL_EW_ARGS);
int cl_ew_equal(CL_EW_ARGS);
int cl_ew_less(CL_EW_ARGS);
int cl_ew_greater(CL_EW_ARGS);
int cl_ew_less_equal(CL_EW_ARGS);
int cl_ew_greater_equal(CL_EW_ARGS);
int cl_ew_and(CL_EW_ARGS);
int cl_ew_or(CL_EW_ARGS);
int cl_ew_xor(CL_EW_ARGS);
int cl_ew_min(CL_EW_ARGS);
int cl_ew_max(CL_EW_ARGS);
int cl_ew_sum(CL_EW_ARGS);
int cl_ew_mean(CL_EW_ARGS);
int cl_ew_prelu(CL_EW_ARGS);
int cl_ew_where(CL_EW_ARGS);

#endif
