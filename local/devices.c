/* local: the registry of device backends. A new backend is one folder and one line here. */
#include <string.h>

#include "local/device.h"

extern const cl_device_iface cl_ref_device;

const cl_device_iface *const cl_devices[] = {
    &cl_ref_device,
    NULL,
};

const cl_device_iface *cl_device_find(const char *name) {
  for (int i = 0; cl_devices[i]; i++)
    if (strcmp(cl_devices[i]->name, name) == 0) return cl_devices[i];
  return NULL;
}
