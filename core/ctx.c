/* core: the public context: the ground part (core/ir/ctx.c) with what the layers above hang on it. */
#include <string.h>

#include "core/engine.h"
#include "core/ir/ctx.h"
#include "local/device.h"
#include "local/ref/ref.h"
#include "policies/settings.h"

int cleave_ctx_new(cleave_ctx **out, struct uv_loop_s *loop, const cleave_options *opt) {
  if (!out) return CLEAVE_EINVAL;
  *out = NULL;
  const cleave_allocator *a = opt ? &opt->alloc : &cl_default_allocator;
  cleave_ctx *ctx = a->allocate(a->context, sizeof *ctx);
  if (!ctx) return CLEAVE_ENOMEM;
  memset(ctx, 0, sizeof *ctx);
  if (cl_ctx_init(ctx, loop, opt)) {
    a->deallocate(a->context, ctx);
    return CLEAVE_ENOMEM;
  }
  /* folding is execution: constants are evaluated by the reference kernels */
  ctx->fold = &cl_ref_node_eval;
  if (!(ctx->policy = cl_calloc(ctx, 1, sizeof *ctx->policy))) {
    cleave_ctx_free(ctx);
    return CLEAVE_ENOMEM;
  }
  *out = ctx;
  return 0;
}

void cleave_ctx_free(cleave_ctx *ctx) {
  if (!ctx) return;
  cl_engine_free(ctx);
  cl_free(ctx, ctx->policy);
  cl_ctx_fini(ctx);
  cleave_allocator a = ctx->alloc;
  a.deallocate(a.context, ctx);
}

int cleave_ctx_device_count(const cleave_ctx *ctx) {
  (void)ctx;
  int n = 0;
  while (cl_devices[n])
    n++;
  return n;
}

const char *cleave_ctx_device_name(const cleave_ctx *ctx, int i) {
  if (i < 0 || i >= cleave_ctx_device_count(ctx)) return NULL;
  return cl_devices[i]->name;
}
