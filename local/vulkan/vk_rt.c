/* local/vulkan: the Vulkan runtime. The loader is opened with dlopen so that a host without Vulkan still loads the
 * library and gets a clean CLEAVE_ENODEVICE from the gpu device alone. */
#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local/vulkan/vk.h"

#define SHADER(name)                                                                                                 \
  extern const unsigned char cl_vk_spv_##name[];                                                                     \
  extern const size_t cl_vk_spv_##name##_size;
SHADER(gemm_l)
SHADER(gemm_m)
SHADER(gemm_n)
SHADER(gemm_w)
SHADER(gemm_x)
SHADER(gemm_y)
SHADER(gemm_s)
SHADER(dwconv)
SHADER(convt)
SHADER(ew)
SHADER(pool)
SHADER(reduce)
SHADER(softmax)
SHADER(copy)
SHADER(resize)
#undef SHADER

static const struct {
  const unsigned char *code;
  const size_t *size;
} shaders[VS_COUNT] = {
    [VS_GEMM_L] = {cl_vk_spv_gemm_l, &cl_vk_spv_gemm_l_size},
    [VS_GEMM_M] = {cl_vk_spv_gemm_m, &cl_vk_spv_gemm_m_size},
    [VS_GEMM_N] = {cl_vk_spv_gemm_n, &cl_vk_spv_gemm_n_size},
    [VS_GEMM_W] = {cl_vk_spv_gemm_w, &cl_vk_spv_gemm_w_size},
    [VS_GEMM_X] = {cl_vk_spv_gemm_x, &cl_vk_spv_gemm_x_size},
    [VS_GEMM_Y] = {cl_vk_spv_gemm_y, &cl_vk_spv_gemm_y_size},
    [VS_GEMM_S] = {cl_vk_spv_gemm_s, &cl_vk_spv_gemm_s_size},
    [VS_DWCONV] = {cl_vk_spv_dwconv, &cl_vk_spv_dwconv_size},
    [VS_CONVT] = {cl_vk_spv_convt, &cl_vk_spv_convt_size},
    [VS_EW] = {cl_vk_spv_ew, &cl_vk_spv_ew_size},
    [VS_POOL] = {cl_vk_spv_pool, &cl_vk_spv_pool_size},
    [VS_REDUCE] = {cl_vk_spv_reduce, &cl_vk_spv_reduce_size},
    [VS_SOFTMAX] = {cl_vk_spv_softmax, &cl_vk_spv_softmax_size},
    [VS_COPY] = {cl_vk_spv_copy, &cl_vk_spv_copy_size},
    [VS_RESIZE] = {cl_vk_spv_resize, &cl_vk_spv_resize_size},
};

static const char *vk_result_name(VkResult r) {
  switch (r) {
  case VK_NOT_READY: return "VK_NOT_READY";
  case VK_TIMEOUT: return "VK_TIMEOUT";
  case VK_INCOMPLETE: return "VK_INCOMPLETE";
  case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
  case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
  case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
  case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
  case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
  case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
  case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
  case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
  case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
  case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
  case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
  case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
  case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
  default: return "VkResult";
  }
}

int vr_check(vk_rt *rt, VkResult r, const char *what) {
  if (r == VK_SUCCESS) return 0;
  int code;
  switch (r) {
  case VK_ERROR_OUT_OF_HOST_MEMORY:
  case VK_ERROR_OUT_OF_DEVICE_MEMORY:
  case VK_ERROR_OUT_OF_POOL_MEMORY:
  case VK_ERROR_FRAGMENTED_POOL: code = CLEAVE_ENOMEM; break;
  case VK_ERROR_INCOMPATIBLE_DRIVER:
  case VK_ERROR_INITIALIZATION_FAILED: code = CLEAVE_ENODEVICE; break;
  default: code = CLEAVE_EBACKEND;
  }
  return cl_err(rt->ctx, code, "gpu device: %s failed: %s (%d)", what, vk_result_name(r), (int)r);
}

/* ---- device choice ---- */

static int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
  default: return 4;
  }
}

static bool contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n) return true;
  }
  return n == 0;
}

static int compute_family(vk_rt *rt, VkPhysicalDevice pd, uint32_t *fam, uint32_t *ts_bits) {
  uint32_t n = 0;
  rt->f.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
  VkQueueFamilyProperties q[16];
  if (n > 16) n = 16;
  rt->f.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
  int best = -1;
  for (uint32_t i = 0; i < n; i++) {
    if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    /* a compute family without graphics is the dedicated one: prefer it */
    if (best < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = (int)i;
  }
  if (best < 0) return -1;
  *fam = (uint32_t)best;
  *ts_bits = q[best].timestampValidBits;
  return 0;
}

/* Discrete, then integrated, virtual and CPU implementations; CLEAVE_VULKAN_DEVICE (an index, or a part of the
 * name) overrides. */
static int choose_device(vk_rt *rt) {
  uint32_t n = 0;
  VkResult r = rt->f.vkEnumeratePhysicalDevices(rt->inst, &n, NULL);
  if (r != VK_SUCCESS) return vr_check(rt, r, "vkEnumeratePhysicalDevices");
  if (n == 0) return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: the Vulkan loader found no device");
  VkPhysicalDevice pds[16];
  if (n > 16) n = 16;
  r = rt->f.vkEnumeratePhysicalDevices(rt->inst, &n, pds);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vr_check(rt, r, "vkEnumeratePhysicalDevices");
  const char *want = getenv("CLEAVE_VULKAN_DEVICE");
  if (want && !*want) want = NULL;
  bool by_index = want && strspn(want, "0123456789") == strlen(want);
  int best = -1, best_rank = 99;
  char names[512] = "";
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    rt->f.vkGetPhysicalDeviceProperties(pds[i], &p);
    size_t len = strlen(names);
    snprintf(names + len, sizeof names - len, "%s%u: %s", i ? ", " : "", i, p.deviceName);
    uint32_t fam, ts;
    if (p.apiVersion < VK_API_VERSION_1_1 || compute_family(rt, pds[i], &fam, &ts)) continue;
    if (want) {
      if (by_index ? strtoul(want, NULL, 10) == i : contains_nocase(p.deviceName, want)) {
        best = (int)i;
        break;
      }
      continue;
    }
    if (type_rank(p.deviceType) < best_rank) {
      best_rank = type_rank(p.deviceType);
      best = (int)i;
    }
  }
  if (best < 0)
    return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: %s (Vulkan devices: %s)",
                  want ? "no Vulkan 1.1 compute device matches CLEAVE_VULKAN_DEVICE" : "no Vulkan 1.1 compute device",
                  names);
  rt->pd = pds[best];
  rt->f.vkGetPhysicalDeviceProperties(rt->pd, &rt->props);
  rt->f.vkGetPhysicalDeviceMemoryProperties(rt->pd, &rt->mem);
  uint32_t ts_bits = 0;
  compute_family(rt, rt->pd, &rt->qfam, &ts_bits);
  rt->mem_limit = 0;
  for (uint32_t i = 0; i < rt->mem.memoryHeapCount; i++)
    if (rt->mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT && rt->mem.memoryHeaps[i].size > rt->mem_limit)
      rt->mem_limit = rt->mem.memoryHeaps[i].size;
  if (!rt->mem_limit) rt->mem_limit = ~(VkDeviceSize)0;
  rt->timestamps = ts_bits > 0 && rt->props.limits.timestampPeriod > 0;
  rt->ts_ns = rt->props.limits.timestampPeriod;
  rt->ts_mask = ts_bits >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << ts_bits) - 1);
  return 0;
}

/* ---- instance and device ---- */

/* The loader stays loaded once opened: drivers (NVIDIA's among them) do not survive being unloaded and loaded
 * again in one process. */
static void *loader;
static pthread_once_t loader_once = PTHREAD_ONCE_INIT;

static void open_loader(void) {
  loader = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!loader) loader = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
}

static int load(vk_rt *rt) {
  if (rt->inst) return 0;
  pthread_once(&loader_once, open_loader);
  rt->lib = loader;
  if (!rt->lib) return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: no Vulkan loader (libvulkan.so.1)");
  void *sym = dlsym(rt->lib, "vkGetInstanceProcAddr");
  if (!sym) return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: the Vulkan loader lacks vkGetInstanceProcAddr");
  memcpy(&rt->f.vkGetInstanceProcAddr, &sym, sizeof sym);
#define LOAD_GLOBAL(name) rt->f.name = (PFN_##name)rt->f.vkGetInstanceProcAddr(NULL, #name);
  VK_GLOBAL_FNS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
  if (!rt->f.vkCreateInstance) return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: the Vulkan loader is broken");
  uint32_t version = VK_API_VERSION_1_0;
  if (rt->f.vkEnumerateInstanceVersion) rt->f.vkEnumerateInstanceVersion(&version);
  if (version < VK_API_VERSION_1_1)
    return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: the Vulkan loader supports only Vulkan 1.0");
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "cleave",
                           .pEngineName = "cleave",
                           .apiVersion = VK_API_VERSION_1_1};
  VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
  VkResult r = rt->f.vkCreateInstance(&ici, NULL, &rt->inst);
  if (r != VK_SUCCESS) return vr_check(rt, r, "vkCreateInstance");
#define LOAD_INSTANCE(name)                                                                                          \
  if (!(rt->f.name = (PFN_##name)rt->f.vkGetInstanceProcAddr(rt->inst, #name)))                                      \
    return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: the Vulkan loader lacks %s", #name);
  VK_INSTANCE_FNS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
  return 0;
}

static bool has_extension(vk_rt *rt, const char *name) {
  uint32_t n = 0;
  if (rt->f.vkEnumerateDeviceExtensionProperties(rt->pd, NULL, &n, NULL) != VK_SUCCESS || !n) return false;
  VkExtensionProperties *e = cl_malloc(rt->ctx, sizeof *e * n);
  bool found = false;
  if (e && rt->f.vkEnumerateDeviceExtensionProperties(rt->pd, NULL, &n, e) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++)
      found = !strcmp(e[i].extensionName, name);
  cl_free(rt->ctx, e);
  return found;
}

static int open_device(vk_rt *rt) {
  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = rt->qfam,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  VkDeviceCreateInfo dci = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci};
  /* CLEAVE_VULKAN_PIPELINE_STATS (tuning): "1" logs what the driver says of each compiled pipeline (registers,
   * spills, instructions); a folder name also writes its internal representations there */
  const char *stats = getenv("CLEAVE_VULKAN_PIPELINE_STATS");
  const char *ext = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR pef = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
      .pipelineExecutableInfo = VK_TRUE};
  if (stats && *stats && strcmp(stats, "0")) {
    if (has_extension(rt, ext)) {
      dci.enabledExtensionCount = 1;
      dci.ppEnabledExtensionNames = &ext;
      dci.pNext = &pef;
      rt->pipe_stats = true;
      if (strcmp(stats, "1")) snprintf(rt->pipe_dump, sizeof rt->pipe_dump, "%s", stats);
    } else {
      cl_log(rt->ctx, CLEAVE_LOG_WARN, "gpu device: the driver lacks %s: no pipeline statistics", ext);
    }
  }
  VkResult r = rt->f.vkCreateDevice(rt->pd, &dci, NULL, &rt->dev);
  if (r != VK_SUCCESS) return vr_check(rt, r, "vkCreateDevice");
#define LOAD_DEVICE(name)                                                                                            \
  if (!(rt->f.name = (PFN_##name)rt->f.vkGetDeviceProcAddr(rt->dev, #name)))                                         \
    return cl_err(rt->ctx, CLEAVE_ENODEVICE, "gpu device: the Vulkan driver lacks %s", #name);
  VK_DEVICE_FNS(LOAD_DEVICE)
  if (rt->pipe_stats) {
    LOAD_DEVICE(vkGetPipelineExecutablePropertiesKHR)
    LOAD_DEVICE(vkGetPipelineExecutableStatisticsKHR)
    LOAD_DEVICE(vkGetPipelineExecutableInternalRepresentationsKHR)
  }
#undef LOAD_DEVICE
  rt->f.vkGetDeviceQueue(rt->dev, rt->qfam, 0, &rt->queue);
  return 0;
}

/* A session's own objects on the shared device. */
static int open_session(vk_rt *rt) {
  VkResult r;
  /* every kernel sees the same three buffers (arena, weights, parameters) and one word of push constants */
  VkDescriptorSetLayoutBinding b[3];
  for (int i = 0; i < 3; i++)
    b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .descriptorCount = 1,
                                          .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo dl = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = 3, .pBindings = b};
  if ((r = rt->f.vkCreateDescriptorSetLayout(rt->dev, &dl, NULL, &rt->dsl)))
    return vr_check(rt, r, "vkCreateDescriptorSetLayout");
  VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = 4};
  VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                   .setLayoutCount = 1,
                                   .pSetLayouts = &rt->dsl,
                                   .pushConstantRangeCount = 1,
                                   .pPushConstantRanges = &pc};
  if ((r = rt->f.vkCreatePipelineLayout(rt->dev, &pl, NULL, &rt->layout)))
    return vr_check(rt, r, "vkCreatePipelineLayout");
  VkCommandPoolCreateInfo cp = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                .queueFamilyIndex = rt->qfam};
  if ((r = rt->f.vkCreateCommandPool(rt->dev, &cp, NULL, &rt->pool))) return vr_check(rt, r, "vkCreateCommandPool");
  VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  if ((r = rt->f.vkCreateFence(rt->dev, &fi, NULL, &rt->fence))) return vr_check(rt, r, "vkCreateFence");
  return 0;
}

/* The instance and device are made once per process and kept: drivers do not all survive being set up and torn
 * down for every session, and setting them up costs far more than a session's own objects. */
static vk_rt core;
static pthread_mutex_t core_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;

static int open_core(cleave_ctx *ctx) {
  if (core.dev) return 0;
  core.ctx = ctx;
  int rc = load(&core);
  if (!rc) rc = choose_device(&core);
  if (!rc) rc = open_device(&core);
  if (rc) {
    /* the instance stays for the next try: unloading the ICD would lose what it keeps for the process */
    if (core.dev) core.f.vkDestroyDevice(core.dev, NULL);
    core.dev = VK_NULL_HANDLE;
    core.ctx = NULL;
    return rc;
  }
  cl_log(ctx, CLEAVE_LOG_INFO, "gpu device: %s (Vulkan %u.%u)", core.props.deviceName,
         VK_API_VERSION_MAJOR(core.props.apiVersion), VK_API_VERSION_MINOR(core.props.apiVersion));
  core.ctx = NULL;
  return 0;
}

int vr_create(cleave_ctx *ctx, vk_rt **out) {
  vk_rt *rt = cl_calloc(ctx, 1, sizeof *rt);
  if (!rt) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory creating the gpu device");
  pthread_mutex_lock(&core_lock);
  int rc = open_core(ctx);
  if (!rc) *rt = core;
  pthread_mutex_unlock(&core_lock);
  rt->ctx = ctx;
  rt->pipes = cl_calloc(ctx, VK_MAX_PIPELINES, sizeof *rt->pipes);
  if (!rc && !rt->pipes) rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory creating the gpu device");
  if (!rc) rc = open_session(rt);
  if (rc) {
    vr_destroy(rt);
    return rc;
  }
  if (!rt->mem_limit) rt->mem_limit = ~(VkDeviceSize)0;
  const char *lim = getenv("CLEAVE_VULKAN_MAX_MEMORY");
  if (lim && *lim) {
    char *end;
    double v = strtod(lim, &end);
    double mul = *end == 'k' || *end == 'K'   ? 1024.0
                 : *end == 'm' || *end == 'M' ? 1048576.0
                 : *end == 'g' || *end == 'G' ? 1073741824.0
                                              : 1.0;
    if (v > 0 && v * mul < (double)rt->mem_limit) rt->mem_limit = (VkDeviceSize)(v * mul);
  }
  *out = rt;
  return 0;
}

void vr_destroy(vk_rt *rt) {
  if (!rt) return;
  if (rt->dev) {
    /* every submission was waited for: nothing of this session is in flight */
    for (int i = 0; i < rt->n_pipes; i++)
      rt->f.vkDestroyPipeline(rt->dev, rt->pipes[i].pipe, NULL);
    for (int i = 0; i < VS_COUNT; i++)
      if (rt->modules[i]) rt->f.vkDestroyShaderModule(rt->dev, rt->modules[i], NULL);
    if (rt->fence) rt->f.vkDestroyFence(rt->dev, rt->fence, NULL);
    if (rt->pool) rt->f.vkDestroyCommandPool(rt->dev, rt->pool, NULL);
    if (rt->layout) rt->f.vkDestroyPipelineLayout(rt->dev, rt->layout, NULL);
    if (rt->dsl) rt->f.vkDestroyDescriptorSetLayout(rt->dev, rt->dsl, NULL);
  }
  cl_free(rt->ctx, rt->pipes);
  cl_free(rt->ctx, rt);
}

/* ---- buffers ---- */

static int memory_type(const vk_rt *rt, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
  for (uint32_t i = 0; i < rt->mem.memoryTypeCount; i++) {
    VkMemoryPropertyFlags f = rt->mem.memoryTypes[i].propertyFlags;
    if ((bits & (1u << i)) && (f & want) == want && !(f & avoid)) return (int)i;
  }
  return -1;
}

int vr_buf_new(vk_rt *rt, VkDeviceSize size, int kind, vk_buf *b) {
  memset(b, 0, sizeof *b);
  if (size < 256) size = 256;
  VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                           .size = size,
                           .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                    VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                           .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkResult r = rt->f.vkCreateBuffer(rt->dev, &bi, NULL, &b->buf);
  if (r) return vr_check(rt, r, "vkCreateBuffer");
  VkMemoryRequirements req;
  rt->f.vkGetBufferMemoryRequirements(rt->dev, b->buf, &req);
  const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int t = -1;
  if (kind == VB_DEVICE) {
    t = memory_type(rt, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
  } else if (kind == VB_DOWNLOAD) {
    t = memory_type(rt, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
  } else {
    /* uploads: plain system memory rather than the small host-visible window of device memory */
    t = memory_type(rt, req.memoryTypeBits, hv, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  }
  if (t < 0) t = memory_type(rt, req.memoryTypeBits, kind == VB_DEVICE ? 0 : hv, 0);
  if (t < 0) {
    vr_buf_free(rt, b);
    return cl_err(rt->ctx, CLEAVE_EBACKEND, "gpu device: no memory type for a buffer");
  }
  /* a budget below the heap's size fails as the driver would */
  if (kind == VB_DEVICE && rt->mem_used + req.size > rt->mem_limit) {
    vr_buf_free(rt, b);
    char what[128];
    snprintf(what, sizeof what, "allocating %llu bytes of GPU memory (%llu in use, limit %llu)",
             (unsigned long long)size, (unsigned long long)rt->mem_used, (unsigned long long)rt->mem_limit);
    return vr_check(rt, VK_ERROR_OUT_OF_DEVICE_MEMORY, what);
  }
  VkMemoryAllocateInfo ai = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t)t};
  if ((r = rt->f.vkAllocateMemory(rt->dev, &ai, NULL, &b->mem))) {
    vr_buf_free(rt, b);
    char what[96];
    snprintf(what, sizeof what, "allocating %llu bytes of GPU memory", (unsigned long long)size);
    return vr_check(rt, r, what);
  }
  if ((r = rt->f.vkBindBufferMemory(rt->dev, b->buf, b->mem, 0))) {
    vr_buf_free(rt, b);
    return vr_check(rt, r, "vkBindBufferMemory");
  }
  if (kind != VB_DEVICE && (r = rt->f.vkMapMemory(rt->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map))) {
    vr_buf_free(rt, b);
    return vr_check(rt, r, "vkMapMemory");
  }
  b->size = size;
  b->device = kind == VB_DEVICE ? req.size : 0;
  rt->mem_used += b->device;
  return 0;
}

void vr_buf_free(vk_rt *rt, vk_buf *b) {
  if (!b) return;
  if (b->map) rt->f.vkUnmapMemory(rt->dev, b->mem);
  if (b->buf) rt->f.vkDestroyBuffer(rt->dev, b->buf, NULL);
  if (b->mem) rt->f.vkFreeMemory(rt->dev, b->mem, NULL);
  rt->mem_used -= b->device;
  memset(b, 0, sizeof *b);
}

/* ---- pipelines ---- */

static const char *const shader_names[VS_COUNT] = {
    [VS_GEMM_L] = "gemm_l",   [VS_GEMM_M] = "gemm_m", [VS_GEMM_N] = "gemm_n", [VS_GEMM_W] = "gemm_w",
    [VS_GEMM_X] = "gemm_x",   [VS_GEMM_Y] = "gemm_y", [VS_GEMM_S] = "gemm_s", [VS_DWCONV] = "dwconv",
    [VS_CONVT] = "convt",     [VS_EW] = "ew",         [VS_POOL] = "pool",     [VS_REDUCE] = "reduce",
    [VS_SOFTMAX] = "softmax", [VS_COPY] = "copy",     [VS_RESIZE] = "resize",
};

/* Logs the driver's statistics of a pipeline just made (and writes its internal representations when asked). */
static void pipeline_stats(vk_rt *rt, VkPipeline pipe, int shader, const uint32_t *spec, int n_spec) {
  char head[160];
  int len = snprintf(head, sizeof head, "gpu device: pipeline %s", shader_names[shader]);
  for (int i = 0; i < n_spec && len < (int)sizeof head - 12; i++)
    len += snprintf(head + len, sizeof head - (size_t)len, "%s%u", i ? "," : " [", spec[i]);
  if (n_spec && len < (int)sizeof head - 2) snprintf(head + len, sizeof head - (size_t)len, "]");
  VkPipelineInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = pipe};
  VkPipelineExecutablePropertiesKHR props[4];
  uint32_t n = 4;
  for (uint32_t i = 0; i < n; i++)
    props[i] = (VkPipelineExecutablePropertiesKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR};
  VkResult r = rt->f.vkGetPipelineExecutablePropertiesKHR(rt->dev, &pi, &n, props);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return;
  for (uint32_t x = 0; x < n; x++) {
    VkPipelineExecutableInfoKHR ei = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, .pipeline = pipe, .executableIndex = x};
    VkPipelineExecutableStatisticKHR st[32];
    uint32_t ns = 32;
    for (uint32_t i = 0; i < ns; i++)
      st[i] = (VkPipelineExecutableStatisticKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
    r = rt->f.vkGetPipelineExecutableStatisticsKHR(rt->dev, &ei, &ns, st);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) continue;
    char line[2048];
    int l = snprintf(line, sizeof line, "%s %s (subgroup %u):", head, props[x].name, props[x].subgroupSize);
    for (uint32_t i = 0; i < ns && l < (int)sizeof line - 64; i++) {
      const VkPipelineExecutableStatisticKHR *s = &st[i];
      l += snprintf(line + l, sizeof line - (size_t)l, " %s=", s->name);
      switch (s->format) {
      case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
        l += snprintf(line + l, sizeof line - (size_t)l, "%u", s->value.b32);
        break;
      case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
        l += snprintf(line + l, sizeof line - (size_t)l, "%lld", (long long)s->value.i64);
        break;
      case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
        l += snprintf(line + l, sizeof line - (size_t)l, "%llu", (unsigned long long)s->value.u64);
        break;
      default: l += snprintf(line + l, sizeof line - (size_t)l, "%g", s->value.f64);
      }
    }
    cl_log(rt->ctx, CLEAVE_LOG_INFO, "%s", line);
    if (!rt->pipe_dump[0]) continue;
    VkPipelineExecutableInternalRepresentationKHR ir[4];
    uint32_t ni = 4;
    for (uint32_t i = 0; i < ni; i++)
      ir[i] = (VkPipelineExecutableInternalRepresentationKHR){
          .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INTERNAL_REPRESENTATION_KHR};
    r = rt->f.vkGetPipelineExecutableInternalRepresentationsKHR(rt->dev, &ei, &ni, ir);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) continue;
    for (uint32_t i = 0; i < ni; i++) {
      ir[i].pData = cl_malloc(rt->ctx, ir[i].dataSize + 1);
      if (!ir[i].pData) ir[i].dataSize = 0;
    }
    r = rt->f.vkGetPipelineExecutableInternalRepresentationsKHR(rt->dev, &ei, &ni, ir);
    for (uint32_t i = 0; i < ni; i++) {
      if ((r == VK_SUCCESS || r == VK_INCOMPLETE) && ir[i].pData) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%d-%u-%u.txt", rt->pipe_dump, shader_names[shader], rt->n_pipes, x, i);
        FILE *f = fopen(path, "wb");
        if (f) {
          fprintf(f, "%s\n%s: %s\n", head + 12, ir[i].name, ir[i].description);
          fwrite(ir[i].pData, 1, ir[i].isText && ir[i].dataSize ? ir[i].dataSize - 1 : ir[i].dataSize, f);
          fclose(f);
        }
      }
      cl_free(rt->ctx, ir[i].pData);
    }
  }
}

int vr_pipeline(vk_rt *rt, int shader, const uint32_t *spec, int n_spec, VkPipeline *out) {
  for (int i = 0; i < rt->n_pipes; i++) {
    vk_pipe *p = &rt->pipes[i];
    if (p->shader == shader && p->n_spec == n_spec &&
        (!n_spec || !memcmp(p->spec, spec, sizeof(uint32_t) * (size_t)n_spec))) {
      *out = p->pipe;
      return 0;
    }
  }
  if (rt->n_pipes == VK_MAX_PIPELINES)
    return cl_err(rt->ctx, CLEAVE_ELIMIT, "gpu device: more than %d kernel variants", VK_MAX_PIPELINES);
  VkResult r;
  if (!rt->modules[shader]) {
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = *shaders[shader].size,
                                   .pCode = (const uint32_t *)(const void *)shaders[shader].code};
    if ((r = rt->f.vkCreateShaderModule(rt->dev, &mi, NULL, &rt->modules[shader])))
      return vr_check(rt, r, "vkCreateShaderModule");
  }
  VkSpecializationMapEntry me[VK_MAX_SPEC];
  for (int i = 0; i < n_spec; i++)
    me[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i, .offset = 4u * (uint32_t)i, .size = 4};
  VkSpecializationInfo si = {
      .mapEntryCount = (uint32_t)n_spec, .pMapEntries = me, .dataSize = 4u * (size_t)n_spec, .pData = spec};
  VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                    .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                              .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                                              .module = rt->modules[shader],
                                              .pName = "main",
                                              .pSpecializationInfo = n_spec ? &si : NULL},
                                    .layout = rt->layout};
  if (rt->pipe_stats)
    ci.flags = VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR |
               (rt->pipe_dump[0] ? VK_PIPELINE_CREATE_CAPTURE_INTERNAL_REPRESENTATIONS_BIT_KHR : 0);
  vk_pipe *p = &rt->pipes[rt->n_pipes];
  if ((r = rt->f.vkCreateComputePipelines(rt->dev, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipe)))
    return vr_check(rt, r, "vkCreateComputePipelines");
  if (rt->pipe_stats) pipeline_stats(rt, p->pipe, shader, spec, n_spec);
  p->shader = shader;
  p->n_spec = n_spec;
  if (n_spec) memcpy(p->spec, spec, sizeof(uint32_t) * (size_t)n_spec);
  rt->n_pipes++;
  *out = p->pipe;
  return 0;
}

/* ---- submissions ---- */

int vr_cmd_new(vk_rt *rt, VkCommandBuffer *out) {
  VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = rt->pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  return vr_check(rt, rt->f.vkAllocateCommandBuffers(rt->dev, &ai, out), "vkAllocateCommandBuffers");
}

void vr_cmd_free(vk_rt *rt, VkCommandBuffer cb) {
  if (cb) rt->f.vkFreeCommandBuffers(rt->dev, rt->pool, 1, &cb);
}

int vr_submit(vk_rt *rt, VkCommandBuffer cb) {
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
  VkResult r = rt->f.vkResetFences(rt->dev, 1, &rt->fence);
  pthread_mutex_lock(&queue_lock);
  if (!r) r = rt->f.vkQueueSubmit(rt->queue, 1, &si, rt->fence);
  pthread_mutex_unlock(&queue_lock);
  if (r) return vr_check(rt, r, "vkQueueSubmit");
  /* no deadline: a long segment on a slow device is not a failure; a hung one ends as VK_ERROR_DEVICE_LOST */
  r = rt->f.vkWaitForFences(rt->dev, 1, &rt->fence, VK_TRUE, UINT64_MAX);
  return vr_check(rt, r, "vkWaitForFences");
}

int vr_upload(vk_rt *rt, vk_buf *dst, VkDeviceSize off, const void *src, size_t bytes) {
  if (!bytes) return 0;
  vk_buf st;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  int rc = vr_buf_new(rt, bytes, VB_UPLOAD, &st);
  if (rc) return rc;
  memcpy(st.map, src, bytes);
  if ((rc = vr_cmd_new(rt, &cb))) goto out;
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  if ((rc = vr_check(rt, rt->f.vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer"))) goto out;
  VkBufferCopy c = {.srcOffset = 0, .dstOffset = off, .size = bytes};
  rt->f.vkCmdCopyBuffer(cb, st.buf, dst->buf, 1, &c);
  if ((rc = vr_check(rt, rt->f.vkEndCommandBuffer(cb), "vkEndCommandBuffer"))) goto out;
  rc = vr_submit(rt, cb);
out:
  vr_cmd_free(rt, cb);
  vr_buf_free(rt, &st);
  return rc;
}
