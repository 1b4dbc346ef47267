/* local/ref: kernel registry, capability checks, single-node evaluation. */
#include "local/ref/ref.h"

#include <stdio.h>
#include <string.h>

#include "core/ir/ops.h"

static const cl_ref_kernel *const families[] = {cl_ref_kernels_elementwise, cl_ref_kernels_nn,
                                                 cl_ref_kernels_data, cl_ref_kernels_reduce};

const cl_ref_kernel *cl_ref_find(const char *op) {
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const cl_ref_kernel *k = families[f]; k->op; k++)
      if (strcmp(k->op, op) == 0) return k;
  return NULL;
}

int cl_ref_supports(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  const cl_ref_kernel *k = n->schema ? cl_ref_find(n->op) : NULL;
  if (!k) {
    snprintf(why, why_len, "no reference kernel for %s", n->op);
    return 0;
  }
  for (int i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) continue;
    int dt = g->values[n->in[i]].dtype;
    if (!(CL_T_ALL & CL_T(dt))) {
      snprintf(why, why_len, "%s input %d has dtype %s", n->op, i, cleave_dtype_name(dt));
      return 0;
    }
    if (i == 0 && !(k->types & CL_T(dt))) {
      snprintf(why, why_len, "%s on %s is not implemented", n->op, cleave_dtype_name(dt));
      return 0;
    }
  }
  for (int i = 0; i < n->n_out; i++) {
    if (n->out[i] < 0) continue;
    int dt = g->values[n->out[i]].dtype;
    if (!(CL_T_ALL & CL_T(dt))) {
      snprintf(why, why_len, "%s output %d has dtype %s", n->op, i, cleave_dtype_name(dt));
      return 0;
    }
  }
  return k->check ? k->check(g, n, why, why_len) : 1;
}

int cl_ref_eval(cleave_ctx *ctx, int opset, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *out,
                int n_out) {
  const cl_ref_kernel *k = cl_ref_find(n->op);
  if (!k) return cl_node_err(ctx, n, CLEAVE_EUNSUPPORTED, "no reference kernel");
  cl_ival iv[n_in > 0 ? n_in : 1];
  cl_oval ov[n_out > 0 ? n_out : 1];
  for (int i = 0; i < n_in; i++) {
    iv[i].present = in[i] != NULL;
    iv[i].value = in[i];
    iv[i].dtype = in[i] ? in[i]->dtype : 0;
    if (in[i]) cl_shape_from_tensor(&iv[i].shape, in[i]);
    else iv[i].shape.ndim = -1;
  }
  cl_infer_ctx ic = {.ctx = ctx, .opset = opset, .runtime = true};
  int rc = cl_op_infer(&ic, n, iv, n_in, ov, n_out);
  if (rc) return rc;
  cl_tensor *outp[n_out > 0 ? n_out : 1];
  for (int i = 0; i < n_out; i++) {
    memset(&out[i], 0, sizeof out[i]);
    outp[i] = &out[i];
  }
  for (int i = 0; i < n_out; i++) {
    if (!cl_shape_is_static(&ov[i].shape)) {
      rc = cl_node_err(ctx, n, CLEAVE_EMODEL, "output %d has no concrete shape at run time", i);
      goto fail;
    }
    out[i].dtype = ov[i].dtype;
    out[i].ndim = ov[i].shape.ndim;
    for (int d = 0; d < ov[i].shape.ndim; d++) out[i].dims[d] = ov[i].shape.d[d];
    if ((rc = cl_tensor_alloc(ctx, &out[i]))) goto fail;
  }
  cl_kctx kc = {.ctx = ctx, .opset = opset};
  if ((rc = k->run(&kc, n, in, n_in, outp, n_out))) goto fail;
  return 0;
fail:
  for (int i = 0; i < n_out; i++) cl_tensor_release(ctx, &out[i]);
  return rc;
}

const cl_node_eval cl_ref_node_eval = {.supports = cl_ref_supports, .eval = cl_ref_eval};
