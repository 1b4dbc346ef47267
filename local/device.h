/* local: the device vtable every backend implements (private).
 *
 * A device says which nodes it supports and compiles a segment (a set of nodes in topological order, with the
 * values that enter and leave it) into an executable. Unsupported nodes are reported with a reason, never run
 * elsewhere behind the caller's back: the partitioner places them. */
#ifndef CLEAVE_LOCAL_DEVICE_H
#define CLEAVE_LOCAL_DEVICE_H

#include "core/ir/graph.h"

typedef enum cl_device_kind { CL_DEV_CPU, CL_DEV_GPU, CL_DEV_NPU, CL_DEV_EDGE } cl_device_kind;

typedef struct cl_segment {
  const cl_graph *graph;
  const int *nodes; /* node ids, topological order */
  int n_nodes;
  const int *inputs; /* value ids fed from outside the segment (not constants) */
  int n_inputs;
  const int *outputs; /* value ids the segment must hand back */
  int n_outputs;
} cl_segment;

/* One timed step of a run: a node, or a group of nodes the device fused and ran as one (node is then the group's
 * main node and label names the group, e.g. "Conv+BatchNormalization+Relu"). */
typedef struct cl_exec_timing {
  int node;          /* node id */
  const char *label; /* NULL: the node's op; else owned by the executable */
  double ms;
} cl_exec_timing;

/* One run: inputs[i] matches segment inputs[i]. outputs[i] arrives either empty (data NULL) or holding the buffer
 * of an earlier run, of out_cap[i] bytes, allocated with cl_tensor_alloc; the executable sets its dtype and dims
 * and fills it, reusing that buffer when it is large enough (cl_exec_output does this), and updates out_cap[i].
 * The caller releases the buffers with cl_tensor_release. timings, when non-NULL, has room for two entries per
 * segment node; the executable fills n_timings entries. */
typedef struct cl_exec_io {
  const cl_tensor *inputs;
  cl_tensor *outputs;
  size_t *out_cap;
  cl_exec_timing *timings;
  int n_timings;
} cl_exec_io;

/* Sizes outputs[i] for dtype and dims, reusing its buffer when it holds enough bytes, else reallocating it.
 * Zero-fills nothing. Returns 0 or CLEAVE_ENOMEM. */
int cl_exec_output(cleave_ctx *ctx, cl_exec_io *io, int i, int dtype, int ndim, const int64_t *dims);

typedef struct cl_device_iface {
  const char *name;
  /* The library the device runs on ("xnnpack", "vulkan"), accepted wherever a device name is. */
  const char *api;
  cl_device_kind kind;
  /* Creates the device's state for ctx. */
  int (*create)(cleave_ctx *ctx, void **dev);
  void (*destroy)(void *dev);
  /* 1 if the device runs n as the graph types it, else 0 with a reason in why. */
  int (*supports)(void *dev, const cl_graph *g, const cl_node *n, char *why, size_t why_len);
  int (*compile)(void *dev, const cl_segment *seg, void **exe);
  int (*run)(void *exe, cl_exec_io *io);
  void (*release)(void *exe);
} cl_device_iface;

/* Registered backends, NULL-terminated. */
extern const cl_device_iface *const cl_devices[];
/* The device whose name or api is name, or NULL. */
const cl_device_iface *cl_device_find(const char *name);

#endif
