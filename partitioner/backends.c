/* partitioner: a problem's local devices bound to this host's backends, so that plans made on the device itself
 * route around a backend that cannot start (no driver, no device) and around the nodes a backend refuses. */
#include <string.h>

#include "core/ir/ctx.h"
#include "local/device.h"
#include "partitioner/placement.h"

int cl_place_bind_backends(cleave_ctx *ctx, const cl_graph *g, cl_place_problem *p, cl_place_binding *b) {
  memset(b, 0, sizeof *b);
  int nn = g->n_nodes;
  b->ok = cl_calloc(ctx, (size_t)p->n_devices * (size_t)nn + 1, sizeof *b->ok);
  if (!b->ok) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  for (int d = 0; d < p->n_devices; d++) {
    cl_place_device *dv = &p->dev[d];
    if (dv->profile->kind == CL_DEV_EDGE || !dv->profile->backend[0]) continue;
    const cl_device_iface *dev = cl_device_find(dv->profile->backend);
    if (!dev) continue; /* a backend this build lacks: the profile describes other hardware */
    void *state = NULL;
    int rc = dev->create(ctx, &state);
    if (rc == CLEAVE_ENOMEM) return rc;
    if (rc) {
      snprintf(b->why[d], sizeof b->why[d], "%s", cleave_ctx_last_error(ctx));
      dv->allowed = false;
      dv->off_why = b->why[d];
      continue;
    }
    bool *ok = b->ok + (size_t)d * (size_t)nn;
    char why[256];
    for (int n = 0; n < nn; n++)
      ok[n] = dev->supports(state, g, &g->nodes[n], why, sizeof why) != 0;
    dev->destroy(state);
    dv->node_ok = ok;
  }
  return 0;
}

void cl_place_binding_free(cleave_ctx *ctx, cl_place_binding *b) {
  if (!b) return;
  cl_free(ctx, b->ok);
  b->ok = NULL;
}
