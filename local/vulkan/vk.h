/* local/vulkan: the "gpu" device on Vulkan compute (private).
 *
 * Layers, each in its own file:
 *   vk_rt.c     the runtime: the loader opened with dlopen, instance and device selection, the queue, buffers,
 *               shader modules and pipelines (one per shader and specialisation, cached), one-shot submissions
 *               and the translation of VkResult into CLEAVE_E* codes.
 *   vk_lower.c  compile, once per session: the segment's nodes become steps. Producers absorb the elementwise
 *               chains that follow them (an epilogue program run on each output element: affine and clamp ops,
 *               activations, binary ops with a constant or broadcast operand, and x*f(x) forms such as
 *               HardSwish), BatchNormalization and leading per-channel affines fold into Conv weights, and
 *               nodes whose outputs follow from shapes alone (Shape -> Slice -> Concat chains) run on the host.
 *   vk_plan.c   per input shapes: concrete shapes, host values, one device arena laid out from the values'
 *               lifetimes, every step's parameters, and one command buffer recorded for the whole segment.
 *   vk_params.c the parameter blocks of the kernels, written at plan time.
 *   vk_device.c the device vtable; a run copies inputs into a staging buffer, submits the recorded command
 *               buffer once and copies the outputs back.
 * Memory on the GPU: one buffer of constants (weights, uploaded at compile), one arena of activations, one of
 * kernel parameters; a kernel addresses them by element offsets, so one descriptor set serves every step. */
#ifndef CLEAVE_LOCAL_VULKAN_VK_H
#define CLEAVE_LOCAL_VULKAN_VK_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "local/device.h"

/* ---- runtime ---- */

#define VK_GLOBAL_FNS(X) X(vkCreateInstance) X(vkEnumerateInstanceVersion)

#define VK_INSTANCE_FNS(X)                                                                                           \
  X(vkDestroyInstance)                                                                                               \
  X(vkEnumeratePhysicalDevices)                                                                                      \
  X(vkGetPhysicalDeviceProperties)                                                                                   \
  X(vkGetPhysicalDeviceQueueFamilyProperties)                                                                        \
  X(vkGetPhysicalDeviceMemoryProperties)                                                                             \
  X(vkGetPhysicalDeviceFeatures)                                                                                     \
  X(vkEnumerateDeviceExtensionProperties)                                                                            \
  X(vkCreateDevice)                                                                                                  \
  X(vkGetDeviceProcAddr)

#define VK_DEVICE_FNS(X)                                                                                             \
  X(vkDestroyDevice)                                                                                                 \
  X(vkGetDeviceQueue)                                                                                                \
  X(vkCreateBuffer)                                                                                                  \
  X(vkDestroyBuffer)                                                                                                 \
  X(vkGetBufferMemoryRequirements)                                                                                   \
  X(vkAllocateMemory)                                                                                                \
  X(vkFreeMemory)                                                                                                    \
  X(vkBindBufferMemory)                                                                                              \
  X(vkMapMemory)                                                                                                     \
  X(vkUnmapMemory)                                                                                                   \
  X(vkCreateShaderModule)                                                                                            \
  X(vkDestroyShaderModule)                                                                                           \
  X(vkCreateDescriptorSetLayout)                                                                                     \
  X(vkDestroyDescriptorSetLayout)                                                                                    \
  X(vkCreatePipelineLayout)                                                                                          \
  X(vkDestroyPipelineLayout)                                                                                         \
  X(vkCreateComputePipelines)                                                                                        \
  X(vkDestroyPipeline)                                                                                               \
  X(vkCreateDescriptorPool)                                                                                          \
  X(vkDestroyDescriptorPool)                                                                                         \
  X(vkAllocateDescriptorSets)                                                                                        \
  X(vkUpdateDescriptorSets)                                                                                          \
  X(vkCreateCommandPool)                                                                                             \
  X(vkDestroyCommandPool)                                                                                            \
  X(vkAllocateCommandBuffers)                                                                                        \
  X(vkFreeCommandBuffers)                                                                                            \
  X(vkBeginCommandBuffer)                                                                                            \
  X(vkEndCommandBuffer)                                                                                              \
  X(vkCmdBindPipeline)                                                                                               \
  X(vkCmdBindDescriptorSets)                                                                                         \
  X(vkCmdPushConstants)                                                                                              \
  X(vkCmdDispatch)                                                                                                   \
  X(vkCmdPipelineBarrier)                                                                                            \
  X(vkCmdCopyBuffer)                                                                                                 \
  X(vkCmdWriteTimestamp)                                                                                             \
  X(vkCmdResetQueryPool)                                                                                             \
  X(vkCreateQueryPool)                                                                                               \
  X(vkDestroyQueryPool)                                                                                              \
  X(vkGetQueryPoolResults)                                                                                           \
  X(vkCreateFence)                                                                                                   \
  X(vkDestroyFence)                                                                                                  \
  X(vkResetFences)                                                                                                   \
  X(vkWaitForFences)                                                                                                 \
  X(vkQueueSubmit)                                                                                                   \
  X(vkDeviceWaitIdle)

typedef struct vk_fns {
#define VK_FN_FIELD(name) PFN_##name name;
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
  VK_GLOBAL_FNS(VK_FN_FIELD)
  VK_INSTANCE_FNS(VK_FN_FIELD)
  VK_DEVICE_FNS(VK_FN_FIELD)
#undef VK_FN_FIELD
  /* VK_KHR_pipeline_executable_properties, loaded only when CLEAVE_VULKAN_PIPELINE_STATS asks for it */
  PFN_vkGetPipelineExecutablePropertiesKHR vkGetPipelineExecutablePropertiesKHR;
  PFN_vkGetPipelineExecutableStatisticsKHR vkGetPipelineExecutableStatisticsKHR;
  PFN_vkGetPipelineExecutableInternalRepresentationsKHR vkGetPipelineExecutableInternalRepresentationsKHR;
} vk_fns;

/* The shaders, in the order of the table in vk_rt.c. */
typedef enum vk_shader {
  VS_GEMM_L,  /* tiled GEMM (MatMul, Gemm, Conv as an implicit GEMM): 128x128 tiles, 8x8 per thread */
  VS_GEMM_M,  /* 64x64 tiles, 4x4 per thread */
  VS_GEMM_N,  /* 32x128: few rows (output channels), many columns */
  VS_GEMM_W,  /* 128x32: many rows, few columns */
  VS_GEMM_X,  /* 128x128 tiles with a k step of 16 */
  VS_GEMM_Y,  /* 64x128 tiles, 4x8 per thread */
  VS_GEMM_S,  /* 32x64 tiles, 128 threads: few rows, more workgroups */
  VS_DWCONV,  /* direct depthwise convolution */
  VS_CONVT,   /* ConvTranspose, gathered per output */
  VS_EW,      /* elementwise: an epilogue program over one input, or a broadcast binary op first */
  VS_POOL,    /* MaxPool, AveragePool (1 to 3 spatial dims) */
  VS_REDUCE,  /* Reduce*, the global pools: one workgroup per output */
  VS_SOFTMAX, /* Softmax, LogSoftmax: one workgroup per row */
  VS_COPY,    /* strided copies: Transpose, Slice, Pad, Expand, Tile, Concat */
  VS_RESIZE,  /* Resize, Upsample from per-axis tap tables */
  VS_COUNT
} vk_shader;

#define VK_MAX_EOPS 12 /* ops in one epilogue program */
#define VK_SPEC_EPI 32 /* specialisation constant of the epilogue's length; its ops follow (common.glsl) */
#define VK_MAX_SPEC (VK_SPEC_EPI + 1 + VK_MAX_EOPS)
#define VK_MAX_PIPELINES 256

typedef struct vk_buf {
  VkBuffer buf;
  VkDeviceMemory mem;
  VkDeviceSize size;
  void *map;           /* host-visible buffers: mapped for their lifetime */
  VkDeviceSize device; /* bytes of device memory it holds */
} vk_buf;

enum { VB_DEVICE, VB_UPLOAD, VB_DOWNLOAD };

typedef struct vk_pipe {
  int shader;
  int n_spec;
  uint32_t spec[VK_MAX_SPEC];
  VkPipeline pipe;
} vk_pipe;

typedef struct vk_rt {
  cleave_ctx *ctx;
  void *lib;
  vk_fns f;
  VkInstance inst;
  VkPhysicalDevice pd;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem;
  VkDevice dev;
  VkQueue queue;
  uint32_t qfam;
  bool timestamps;  /* the queue writes timestamps */
  double ts_ns;     /* nanoseconds per timestamp tick */
  uint64_t ts_mask; /* valid bits */
  VkDescriptorSetLayout dsl;
  VkPipelineLayout layout;
  VkCommandPool pool;
  VkFence fence;
  VkShaderModule modules[VS_COUNT];
  vk_pipe *pipes;
  int n_pipes;
  VkDeviceSize mem_limit, mem_used; /* device memory this runtime may take (CLEAVE_VULKAN_MAX_MEMORY) */
  bool pipe_stats;                  /* log the driver's statistics of every pipeline made */
  char pipe_dump[256];              /* and write its internal representations into this folder ("" none) */
} vk_rt;

int vr_create(cleave_ctx *ctx, vk_rt **out);
void vr_destroy(vk_rt *rt);
/* Translates r into a CLEAVE_E* code with "what: <VkResult>" as the message; 0 for VK_SUCCESS. */
int vr_check(vk_rt *rt, VkResult r, const char *what);
int vr_buf_new(vk_rt *rt, VkDeviceSize size, int kind, vk_buf *b);
void vr_buf_free(vk_rt *rt, vk_buf *b);
/* The pipeline of shader with these specialisation constants, created on first use and kept by rt. */
int vr_pipeline(vk_rt *rt, int shader, const uint32_t *spec, int n_spec, VkPipeline *out);
/* Copies bytes into a device buffer through a staging buffer, waiting for the copy. */
int vr_upload(vk_rt *rt, vk_buf *dst, VkDeviceSize off, const void *src, size_t bytes);
int vr_cmd_new(vk_rt *rt, VkCommandBuffer *out);
void vr_cmd_free(vk_rt *rt, VkCommandBuffer cb);
/* Submits cb and waits for it. */
int vr_submit(vk_rt *rt, VkCommandBuffer cb);

/* ---- epilogue programs ---- */

/* Ops on the running value x of one element. Binary ops take their operand from a scalar, the saved value, or a
 * tensor broadcast along one contiguous block of the output's dims. */
enum {
  EO_ADD,
  EO_SUB,  /* x - o */
  EO_RSUB, /* o - x */
  EO_MUL,
  EO_DIV,  /* x / o */
  EO_RDIV, /* o / x */
  EO_MAX,
  EO_MIN,
  EO_POW,   /* x ^ o */
  EO_RPOW,  /* o ^ x */
  EO_PRELU, /* x < 0 ? x * o : x */
  EO_BINARY_END,
  EO_SAVE = 32, /* s = x */
  EO_CLAMP,     /* a, b */
  EO_LEAKY,     /* a */
  EO_ELU,       /* a */
  EO_SELU,      /* a (alpha), b (gamma) */
  EO_CELU,      /* a */
  EO_HSIG,      /* a, b */
  EO_HSWISH,
  EO_SIGMOID,
  EO_TANH,
  EO_EXP,
  EO_LOG,
  EO_SQRT,
  EO_ABS,
  EO_NEG,
  EO_RECIP,
  EO_FLOOR,
  EO_CEIL,
  EO_ROUND,
  EO_ERF,
  EO_SOFTPLUS,
  EO_SOFTSIGN,
  EO_SIN,
  EO_COS,
  EO_SIGN,
  EO_THRELU, /* a */
  EO_RELU,
  EO_AFFINE, /* x * a + b */
};

enum { ES_SCALAR, ES_SAVED, ES_TENSOR };

typedef struct vk_eop {
  int op;
  float a, b;   /* scalar operand or parameters; a tensor operand is multiplied by a */
  int src;      /* ES_* */
  int v;        /* ES_TENSOR: graph value, or -1 for a constant made at compile (woff) */
  int64_t woff; /* ES_TENSOR constant: element offset in the weights buffer, or -1 */
  int rank;     /* ES_TENSOR constant made at compile: its shape */
  int64_t dims[CL_MAX_DIMS];
} vk_eop;

/* ---- steps ---- */

typedef enum vk_kind {
  VK_HOST,    /* evaluated at plan time with the reference kernels */
  VK_ALIAS,   /* output shares its input's memory */
  VK_CONV,    /* implicit GEMM */
  VK_DWCONV,  /* depthwise */
  VK_CONVT,   /* ConvTranspose */
  VK_MATMUL,  /* MatMul, Gemm */
  VK_EW,      /* elementwise chain over one input */
  VK_BINARY,  /* broadcast binary op, then a chain */
  VK_POOL,    /* MaxPool, AveragePool */
  VK_REDUCE,  /* Reduce*, GlobalAveragePool, GlobalMaxPool */
  VK_SOFTMAX, /* Softmax, LogSoftmax */
  VK_COPY,    /* Transpose, Slice, Pad, Expand, Tile */
  VK_CONCAT,  /* one copy per input */
  VK_RESIZE,
} vk_kind;

/* VK_REDUCE operations */
enum { RO_SUM, RO_MEAN, RO_MAX, RO_MIN, RO_PROD, RO_L1, RO_L2, RO_SUMSQ, RO_LOGSUM, RO_LOGSUMEXP };

typedef struct vk_dispatch {
  VkPipeline pipe;
  uint32_t groups[3];
  uint32_t param; /* offset of the parameter block, in words */
} vk_dispatch;

typedef struct vk_step {
  vk_kind kind;
  int node;    /* main node */
  char *label; /* "Conv+Mul+Add+HardSwish", owned; NULL when the step is one node */
  int in, in2; /* main inputs (graph values; -1 none) */
  int out;     /* graph value written */
  int op;      /* binary op (EO_*), reduce op (RO_*), pool max (1) / avg (0), softmax log flag */
  /* constants (element offsets in the weights buffer; -1 none) */
  int64_t w_off, b_off;
  int64_t cout, cin, kh, kw; /* conv geometry known at compile */
  bool trans_a, trans_b;     /* Gemm */
  float alpha, beta;
  int n_eops;
  vk_eop eops[VK_MAX_EOPS];
  /* per plan */
  bool skip;
  int n_disp;
  vk_dispatch *disp; /* owned */
} vk_step;

typedef struct vk_val {
  int64_t off; /* arena or weights element offset; -1 none */
  bool in_arena;
  bool host; /* value known on the host at plan time (pk) */
  int alias; /* graph value whose memory this one shares, or -1 */
  int first, last;
  int64_t params_off; /* host float values a kernel reads: their copy in the parameter buffer, or -1 */
} vk_val;

typedef struct vk_exe {
  cleave_ctx *ctx;
  vk_rt *rt;
  const cl_graph *g;
  int *nodes, n_nodes;
  int *inputs, n_inputs;
  int *outputs, n_outputs;
  vk_step *s;
  int n_s, cap_s;
  int *producer;  /* per graph value: step index, or -1 */
  bool *host;     /* per graph node: evaluated on the host at plan time */
  int64_t *konst; /* per graph value: element offset in the weights buffer, or -1 */
  float *wdata;   /* weights on the host while compiling */
  int64_t n_w, cap_w;
  vk_buf weights;
  /* plan */
  bool planned;
  int64_t *key, *key_scratch;
  int n_key;
  bool *value_key; /* per input: small integer inputs are planned by value */
  cl_shape *shape; /* per graph value */
  cl_tensor *pk;   /* per graph value: known on the host */
  bool *pk_owned;
  vk_val *v; /* per graph value */
  int32_t *params;
  int64_t n_params, cap_params;
  vk_buf arena, pbuf, pstage, in_stage, out_stage;
  int64_t *in_off, *out_off; /* per input / output: byte offset in its staging buffer */
  VkDescriptorPool dpool;
  VkDescriptorSet dset;
  VkCommandBuffer cb;
  VkQueryPool qpool;
  int n_queries;
  int *ts_step; /* per query after the first: step index */
} vk_exe;

/* vk_lower.c */
int vl_lower(vk_exe *e, const cl_segment *seg);
/* 1 if the gpu device runs n, else 0 with a reason. memo caches, per graph value, whether it is known at plan
 * time (0 unknown yet, 1 yes, 2 no); it has g->n_values entries. */
int vl_supports(const cl_graph *g, const cl_node *n, signed char *memo, char *why, size_t why_len);
int64_t vl_const(vk_exe *e, int v); /* the weights-buffer copy of constant v, made on first use; -1 if none */
/* vk_plan.c */
int vp_plan(vk_exe *e, const cl_tensor *inputs);
bool vp_same_key(vk_exe *e, const cl_tensor *inputs);
int vp_root(const vk_exe *e, int v); /* the value whose memory v shares (v itself when none) */
void vp_reset(vk_exe *e);
int vp_key_size(const vk_exe *e);
/* vk_params.c: fills a step's dispatches (pipelines, groups, parameter blocks) for the planned shapes */
int vq_step(vk_exe *e, vk_step *st);
int64_t vq_push(vk_exe *e, const int32_t *words, int64_t n); /* appends to the parameter block; offset or <0 */

static inline int32_t vq_f(float f) {
  union {
    float f;
    int32_t i;
  } u = {.f = f};
  return u.i;
}

#endif
