/* partitioner: device profiles (private).
 *
 * A profile describes one device for the cost model: effective throughput per op class, memory bandwidth,
 * per-dispatch overhead, memory capacity, power and thermal behaviour. Profiles are JSON files (see
 * partitioner/profiles/ and partitioner/README.md for the format); the struct is plain data with fixed-size
 * arrays, so it can be copied by value and needs no freeing. */
#ifndef CLEAVE_PARTITIONER_PROFILE_H
#define CLEAVE_PARTITIONER_PROFILE_H

#include "local/device.h"
#include "partitioner/cost.h"

/* Op classes the throughput table is indexed by. */
typedef enum cl_op_class {
  CL_OPC_CONV,        /* Conv, ConvTranspose with groups == 1 (or few) */
  CL_OPC_DEPTHWISE,   /* Conv with groups == input channels */
  CL_OPC_GEMM,        /* MatMul, Gemm */
  CL_OPC_ELEMENTWISE, /* unary/binary math, activations, normalisations, softmax, reductions */
  CL_OPC_POOL,        /* pooling, Resize */
  CL_OPC_DATA,        /* data movement: Concat, Transpose, Slice, Gather, Pad, Reshape ... */
  CL_OPC_COUNT
} cl_op_class;

/* "conv", "depthwise", "gemm", "elementwise", "pool", "data" (the JSON keys); NULL out of range. */
const char *cl_op_class_name(int c);
/* The class of node n (by op type and, for Conv, by its group count). */
cl_op_class cl_op_class_of(const cl_graph *g, const cl_node *n);

/* RC thermal model with throttling: temperature T follows C dT/dt = P - (T - ambient) / R, where P is the power
 * drawn; above throttle_c the device's speed falls linearly to min_speed at max_c (and stays there above). */
typedef struct cl_thermal_model {
  double r_c_per_w;  /* thermal resistance to ambient, degC per W (0: no thermal model) */
  double c_j_per_c;  /* heat capacity, J per degC */
  double ambient_c;  /* ambient temperature, degC */
  double throttle_c; /* throttling starts here */
  double max_c;      /* speed reaches min_speed here */
  double min_speed;  /* speed factor in (0, 1] at max_c */
} cl_thermal_model;

#define CL_PROFILE_NAME_MAX 64
#define CL_PROFILE_MAX_UNSUPPORTED 64
#define CL_PROFILE_OP_MAX 32
#define CL_PROFILE_SOURCE_MAX 1024

typedef struct cl_profile {
  char name[CL_PROFILE_NAME_MAX]; /* e.g. "pixel7-cpu", "edge-a10" */
  cl_device_kind kind;            /* cpu, gpu, npu or edge */
  char backend[32];               /* local backend that realises it on this host ("cpu", "ref"); "" if none */
  double gflops[CL_OPC_COUNT];    /* effective GFLOP/s per op class; 0: the class is not supported */
  double mem_gbps;                /* memory bandwidth, GB/s (1e9 bytes/s) */
  double dispatch_ms;             /* fixed overhead per node (kernel launch, dispatch) */
  double mem_bytes;               /* memory models may use (weights + activations), bytes; 0: unlimited */
  double xfer_gbps;               /* copy bandwidth between this device's memory and the host's, GB/s;
                                     0: it shares host memory (no copy) */
  double xfer_ms;                 /* fixed cost of one copy to or from the device (ignored when xfer_gbps 0) */
  double active_w;                /* power while computing, W */
  double idle_w;                  /* power while idle but powered, W */
  double cost_per_s;              /* price of one second of compute in cost units (edge servers); 0 for local */
  cl_thermal_model thermal;
  int n_unsupported;
  char unsupported[CL_PROFILE_MAX_UNSUPPORTED][CL_PROFILE_OP_MAX]; /* op types it cannot run */
  char source[CL_PROFILE_SOURCE_MAX];                              /* where the figures come from (free text) */
} cl_profile;

/* Parses a profile from JSON text (len bytes) or from a file. Unknown keys are ignored; a missing required key
 * (name, kind, gflops, mem_gbps, active_w) or a value of the wrong type or range is CLEAVE_EINVAL with a message
 * naming the file and the key; malformed JSON is CLEAVE_EINVAL with line and column; a file that cannot be read
 * is CLEAVE_EIO. */
int cl_profile_parse(cleave_ctx *ctx, const char *json, size_t len, const char *what, cl_profile *out);
int cl_profile_load(cleave_ctx *ctx, const char *path, cl_profile *out);
/* Writes p as JSON to path. Returns 0, CLEAVE_EIO or CLEAVE_ENOMEM. */
int cl_profile_save(cleave_ctx *ctx, const cl_profile *p, const char *path);
/* p as a jansson object (json_t *, the caller's reference), in the format cl_profile_parse reads; NULL when out of
 * memory. */
struct json_t;
struct json_t *cl_profile_json(const cl_profile *p);

/* The profile a cleave_profile (cleave_profile_load()) holds; NULL for NULL. Owned by p. */
const cl_profile *cl_profile_of(const cleave_profile *p);

/* Whether p can run n: its class has a throughput and its op is not in the unsupported list. */
bool cl_profile_supports(const cl_profile *p, const cl_graph *g, const cl_node *n);

/* Predicted time in ms of a node with cost c and class k on p, at nominal speed (no derating, no correction):
 * dispatch_ms + max(flops / gflops[k], bytes / mem_gbps) (roofline). INFINITY when the class is unsupported. */
double cl_profile_node_ms(const cl_profile *p, const cl_node_cost *c, cl_op_class k);

/* Speed factor (0, 1] of the thermal model at temperature t_c (1 below throttle_c). */
double cl_thermal_speed(const cl_thermal_model *m, double t_c);

#endif
