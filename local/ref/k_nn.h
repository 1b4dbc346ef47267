/* local/ref: what the nn kernel files share (private). */
#ifndef CLEAVE_LOCAL_REF_K_NN_H
#define CLEAVE_LOCAL_REF_K_NN_H

#include "local/ref/ref.h"

/* Kernels in k_nn_2.c (pools, normalisations, Resize). */
int cl_nn_run_avgpool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                      int n_out);
int cl_nn_run_maxpool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                      int n_out);
int cl_nn_run_lppool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                     int n_out);
int cl_nn_run_global_pool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                          cl_tensor *const *out, int n_out);
int cl_nn_run_batchnorm(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                        cl_tensor *const *out, int n_out);
int cl_nn_run_instancenorm(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                           cl_tensor *const *out, int n_out);
int cl_nn_run_lrn(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                  int n_out);
int cl_nn_run_resize(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                     int n_out);

int cl_nn_check_pool(const cl_graph *g, const cl_node *n, char *why, size_t why_len);
int cl_nn_check_batchnorm(const cl_graph *g, const cl_node *n, char *why, size_t why_len);
int cl_nn_check_resize(const cl_graph *g, const cl_node *n, char *why, size_t why_len);

#endif
