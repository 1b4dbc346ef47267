/* local: the registry of device backends. A new backend is one folder and one line here. */
#include <string.h>

#include "local/device.h"

extern const cl_device_iface cl_ref_device;
extern const cl_device_iface cl_cpu_device;
extern const cl_device_iface cl_gpu_device;

const cl_device_iface *const cl_devices[] = {
    &cl_ref_device,
    &cl_cpu_device,
    &cl_gpu_device,
    NULL,
};

const cl_device_iface *cl_device_find(const char *name) {
  for (int i = 0; cl_devices[i]; i++)
    if (strcmp(cl_devices[i]->name, name) == 0 || (cl_devices[i]->api && strcmp(cl_devices[i]->api, name) == 0))
      return cl_devices[i];
  return NULL;
}

int cl_exec_output(cleave_ctx *ctx, cl_exec_io *io, int i, int dtype, int ndim, const int64_t *dims) {
  cl_tensor *t = &io->outputs[i];
  cl_tensor want = {.dtype = dtype, .ndim = ndim};
  memcpy(want.dims, dims, sizeof(int64_t) * (size_t)ndim);
  int64_t n = cl_tensor_numel(&want);
  size_t bytes;
  if (n < 0 || cl_mul_size((size_t)n, cl_dtype_size(dtype), &bytes))
    return cl_err(ctx, CLEAVE_ELIMIT, "output %d is too large", i);
  if (t->data && io->out_cap[i] >= bytes) {
    want.data = t->data;
    want.nbytes = bytes;
    *t = want;
    return 0;
  }
  cl_tensor_release(ctx, t);
  io->out_cap[i] = 0;
  int rc = cl_tensor_alloc(ctx, &want);
  if (rc) return rc;
  *t = want;
  io->out_cap[i] = want.nbytes;
  return 0;
}
