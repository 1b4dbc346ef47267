/* core: ONNX ModelProto -> graph IR.
 *
 * Everything in the file is untrusted: every count, size, dim and name is checked before use, and every failure
 * is a clear error, never a crash. protobuf-c allocates through the context's allocator. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ir/onnx.h"
#include "core/ir/ops.h"
#include "onnx.pb-c.h"

#define MAX_FILE_BYTES ((size_t)4 << 30)
/* Executors keep per-node arrays on the stack; no real operator comes near this many inputs or outputs. */
#define MAX_NODE_IO 1024

/* protobuf-c reports an allocation failure like any other failure: remember it to return the right code. */
typedef struct pb_alloc_state {
  cleave_ctx *ctx;
  bool failed;
} pb_alloc_state;

static void *pb_alloc(void *data, size_t size) {
  pb_alloc_state *st = data;
  void *p = cl_malloc(st->ctx, size);
  if (!p) st->failed = true;
  return p;
}

static void pb_free(void *data, void *p) { cl_free(((pb_alloc_state *)data)->ctx, p); }

static int unpack_failed(cleave_ctx *ctx, const pb_alloc_state *st, const uint8_t *p, size_t n, const char *what);

int cl_read_file(cleave_ctx *ctx, const char *path, void **data, size_t *size) {
  *data = NULL;
  *size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cl_err(ctx, CLEAVE_EIO, "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = cl_err(ctx, CLEAVE_EIO, "'%s' is not a regular file", path);
    goto out;
  }
  if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
    rc = cl_err(ctx, CLEAVE_ELIMIT, "'%s' is larger than 4 GiB", path);
    goto out;
  }
  size_t n = (size_t)st.st_size, got = 0;
  char *buf = cl_malloc(ctx, n ? n : 1);
  if (!buf) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, n);
    goto out;
  }
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      cl_free(ctx, buf);
      rc = cl_err(ctx, CLEAVE_EIO, "cannot read '%s': %s", path, r < 0 ? strerror(errno) : "short read");
      goto out;
    }
    got += (size_t)r;
  }
  *data = buf;
  *size = n;
out:
  close(fd);
  return rc;
}

/* protobuf-c says only "failed"; walk the wire format to tell a truncated file from a corrupt one. */
static int classify_pb_failure(cleave_ctx *ctx, const uint8_t *p, size_t n, const char *what) {
  size_t i = 0;
  if (n == 0) return cl_err(ctx, CLEAVE_EPARSE, "%s is empty", what);
  while (i < n) {
    uint64_t key = 0;
    int shift = 0;
    while (1) {
      if (i >= n) return cl_err(ctx, CLEAVE_ETRUNCATED, "%s ends inside a field key at byte %zu", what, i);
      uint8_t b = p[i++];
      if (shift < 64) key |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
      if (shift > 70) return cl_err(ctx, CLEAVE_EPARSE, "%s has a malformed varint at byte %zu", what, i);
    }
    unsigned wt = key & 7;
    if ((key >> 3) == 0) return cl_err(ctx, CLEAVE_EPARSE, "%s has field number 0 at byte %zu", what, i);
    uint64_t len = 0;
    switch (wt) {
    case 0:
      for (shift = 0;; shift += 7) {
        if (i >= n) return cl_err(ctx, CLEAVE_ETRUNCATED, "%s ends inside a varint", what);
        if (!(p[i++] & 0x80)) break;
        if (shift > 63) return cl_err(ctx, CLEAVE_EPARSE, "%s has a malformed varint", what);
      }
      break;
    case 1: len = 8; goto skip;
    case 5: len = 4; goto skip;
    case 2:
      for (shift = 0;; shift += 7) {
        if (i >= n) return cl_err(ctx, CLEAVE_ETRUNCATED, "%s ends inside a length", what);
        uint8_t b = p[i++];
        if (shift < 64) len |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        if (shift > 63) return cl_err(ctx, CLEAVE_EPARSE, "%s has a malformed length", what);
      }
    skip:
      if (len > n - i)
        return cl_err(ctx, CLEAVE_ETRUNCATED, "%s is truncated: a field of %llu bytes at byte %zu runs past the end (%zu bytes)",
                      what, (unsigned long long)len, i, n);
      i += (size_t)len;
      break;
    default: return cl_err(ctx, CLEAVE_EPARSE, "%s has invalid wire type %u at byte %zu", what, wt, i);
    }
  }
  return cl_err(ctx, CLEAVE_EPARSE, "%s is not a valid ONNX protobuf (a nested message is malformed)", what);
}

static int unpack_failed(cleave_ctx *ctx, const pb_alloc_state *st, const uint8_t *p, size_t n, const char *what) {
  if (st->failed) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory parsing %s", what);
  return classify_pb_failure(ctx, p, n, what);
}

/* ---- tensors ---- */

static int set_dims(cleave_ctx *ctx, cl_tensor *t, const int64_t *dims, size_t n_dims, const char *name) {
  if (n_dims > CL_MAX_DIMS)
    return cl_err(ctx, CLEAVE_ELIMIT, "tensor '%s' has rank %zu; at most %d is supported", name, n_dims,
                  CL_MAX_DIMS);
  t->ndim = (int)n_dims;
  int64_t numel = 1;
  for (size_t i = 0; i < n_dims; i++) {
    if (dims[i] < 0) return cl_err(ctx, CLEAVE_EMODEL, "tensor '%s' has negative dim %lld", name, (long long)dims[i]);
    if (cl_mul_i64(numel, dims[i], &numel) || numel > CL_MAX_DIM_VALUE)
      return cl_err(ctx, CLEAVE_ELIMIT, "tensor '%s' has too many elements", name);
    t->dims[i] = dims[i];
  }
  return 0;
}

static bool path_is_safe(const char *rel) {
  if (!rel[0] || rel[0] == '/') return false;
  for (const char *p = rel; *p;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 2 && p[0] == '.' && p[1] == '.') return false;
    if (!slash) break;
    p = slash + 1;
  }
  return true;
}

static int read_external(cleave_ctx *ctx, const Onnx__TensorProto *tp, const char *base_dir, cl_tensor *t,
                         const char *name) {
  const char *loc = NULL;
  long long off = 0, len = -1;
  for (size_t i = 0; i < tp->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = tp->external_data[i];
    if (!e->key || !e->value) continue;
    char *end;
    if (strcmp(e->key, "location") == 0) loc = e->value;
    else if (strcmp(e->key, "offset") == 0 || strcmp(e->key, "length") == 0) {
      errno = 0;
      long long v = strtoll(e->value, &end, 10);
      if (errno || *end || v < 0)
        return cl_err(ctx, CLEAVE_EMODEL, "tensor '%s': external data %s '%s' is not a number", name, e->key,
                      e->value);
      if (e->key[0] == 'o') off = v;
      else len = v;
    }
  }
  if (!base_dir) return cl_err(ctx, CLEAVE_EMODEL, "tensor '%s' uses external data but the model has no folder", name);
  if (!loc || !path_is_safe(loc))
    return cl_err(ctx, CLEAVE_EMODEL, "tensor '%s': external data location '%s' must be a relative path inside the model's folder",
                  name, loc ? loc : "(none)");
  if (len >= 0 && (size_t)len != t->nbytes)
    return cl_err(ctx, CLEAVE_EMODEL, "tensor '%s': external data length %lld disagrees with its dims (%zu bytes)",
                  name, len, t->nbytes);
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", base_dir, loc) >= sizeof path)
    return cl_err(ctx, CLEAVE_EMODEL, "tensor '%s': external data path too long", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cl_err(ctx, CLEAVE_EIO, "tensor '%s': cannot open external data '%s': %s", name, loc, strerror(errno));
  size_t got = 0;
  int rc = 0;
  while (got < t->nbytes) {
    ssize_t r = pread(fd, (char *)t->data + got, t->nbytes - got, (off_t)off + (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = cl_err(ctx, CLEAVE_ETRUNCATED, "tensor '%s': external data '%s' ends before %zu bytes at offset %lld",
                  name, loc, t->nbytes, off);
      break;
    }
    got += (size_t)r;
  }
  close(fd);
  return rc;
}

/* Copies typed repeated fields of n elements into dst of dtype dt. */
static int copy_typed(const Onnx__TensorProto *tp, int dt, void *dst, size_t n, size_t *have) {
  *have = 0;
  switch (dt) {
  case CLEAVE_DTYPE_FLOAT32:
    *have = tp->n_float_data;
    if (*have == n && n) memcpy(dst, tp->float_data, n * 4);
    return 0;
  case CLEAVE_DTYPE_INT64:
    *have = tp->n_int64_data;
    if (*have == n && n) memcpy(dst, tp->int64_data, n * 8);
    return 0;
  case CLEAVE_DTYPE_FLOAT64:
    *have = tp->n_double_data;
    if (*have == n && n) memcpy(dst, tp->double_data, n * 8);
    return 0;
  case CLEAVE_DTYPE_UINT32:
  case CLEAVE_DTYPE_UINT64:
    *have = tp->n_uint64_data;
    if (*have == n)
      for (size_t i = 0; i < n; i++) {
        if (dt == CLEAVE_DTYPE_UINT32) ((uint32_t *)dst)[i] = (uint32_t)tp->uint64_data[i];
        else ((uint64_t *)dst)[i] = tp->uint64_data[i];
      }
    return 0;
  case CLEAVE_DTYPE_INT32:
  case CLEAVE_DTYPE_INT16:
  case CLEAVE_DTYPE_UINT16:
  case CLEAVE_DTYPE_INT8:
  case CLEAVE_DTYPE_UINT8:
  case CLEAVE_DTYPE_BOOL:
  case CLEAVE_DTYPE_FLOAT16:
    *have = tp->n_int32_data;
    if (*have == n)
      for (size_t i = 0; i < n; i++) {
        int32_t v = tp->int32_data[i];
        switch (dt) {
        case CLEAVE_DTYPE_INT32: ((int32_t *)dst)[i] = v; break;
        case CLEAVE_DTYPE_INT16: ((int16_t *)dst)[i] = (int16_t)v; break;
        case CLEAVE_DTYPE_UINT16:
        case CLEAVE_DTYPE_FLOAT16: ((uint16_t *)dst)[i] = (uint16_t)v; break;
        case CLEAVE_DTYPE_INT8: ((int8_t *)dst)[i] = (int8_t)v; break;
        case CLEAVE_DTYPE_UINT8: ((uint8_t *)dst)[i] = (uint8_t)v; break;
        default: ((uint8_t *)dst)[i] = v != 0; break;
        }
      }
    return 0;
  default: return -1;
  }
}

static int tensor_from_pb(cleave_ctx *ctx, const Onnx__TensorProto *tp, const char *base_dir, cl_tensor *t) {
  const char *name = tp->name && tp->name[0] ? tp->name : "(unnamed)";
  memset(t, 0, sizeof *t);
  int dt = tp->has_data_type ? tp->data_type : 0;
  if (dt == CLEAVE_DTYPE_STRING)
    return cl_err(ctx, CLEAVE_EUNSUPPORTED, "tensor '%s' holds strings, which cleave does not support", name);
  if (cl_dtype_size(dt) == 0)
    return cl_err(ctx, CLEAVE_EUNSUPPORTED, "tensor '%s' has unsupported data type %d", name, dt);
  if (tp->segment) return cl_err(ctx, CLEAVE_EUNSUPPORTED, "tensor '%s' is segmented", name);
  t->dtype = dt;
  int rc = set_dims(ctx, t, tp->dims, tp->n_dims, name);
  if (rc) return rc;
  size_t n = (size_t)cl_tensor_numel(t), have = 0;
  /* check what the file holds before allocating what the dims claim */
  if (tp->has_raw_data && tp->raw_data.len != n * cl_dtype_size(dt) &&
      !(tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
    return cl_err(ctx, CLEAVE_EMODEL, "tensor '%s' has %zu bytes of data; dims %s of %s need %zu", name,
                  tp->raw_data.len, cl_dims_str(t->ndim, t->dims, (char[96]){0}, 96), cleave_dtype_name(dt),
                  n * cl_dtype_size(dt));
  if ((rc = cl_tensor_alloc(ctx, t))) return rc;
  if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
    rc = read_external(ctx, tp, base_dir, t, name);
  } else if (tp->has_raw_data) {
    if (tp->raw_data.len != t->nbytes)
      rc = cl_err(ctx, CLEAVE_EMODEL, "tensor '%s' has %zu bytes of data; dims %s of %s need %zu", name,
                  tp->raw_data.len, cl_dims_str(t->ndim, t->dims, (char[96]){0}, 96), cleave_dtype_name(dt),
                  t->nbytes);
    else if (t->nbytes)
      memcpy(t->data, tp->raw_data.data, t->nbytes); /* little-endian host, as ONNX raw_data */
  } else {
    copy_typed(tp, dt, t->data, n, &have);
    if (have != n)
      rc = cl_err(ctx, CLEAVE_EMODEL, "tensor '%s' has %zu values; dims %s need %zu", name, have,
                  cl_dims_str(t->ndim, t->dims, (char[96]){0}, 96), n);
  }
  if (rc) cl_tensor_release(ctx, t);
  return rc;
}

int cl_onnx_parse_tensor(cleave_ctx *ctx, const void *data, size_t size, cl_tensor *out, char **name_out) {
  pb_alloc_state st = {ctx, false};
  ProtobufCAllocator pa = {.alloc = pb_alloc, .free = pb_free, .allocator_data = &st};
  if (name_out) *name_out = NULL;
  Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&pa, size, data);
  if (!tp) return unpack_failed(ctx, &st, data, size, "tensor file");
  int rc = tensor_from_pb(ctx, tp, NULL, out);
  if (!rc && name_out && tp->name && tp->name[0] && !(*name_out = cl_strdup(ctx, tp->name))) {
    cl_tensor_release(ctx, out);
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  onnx__tensor_proto__free_unpacked(tp, &pa);
  return rc;
}

/* ---- graph ---- */

static int value_for(cl_graph *g, const char *name, bool define) {
  int v = cl_graph_find_value(g, name);
  if (v >= 0 || !define) return v;
  return cl_graph_add_value(g, name);
}

static int set_value_type(cl_graph *g, cl_value *val, const Onnx__TypeProto *type) {
  if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type)
    return cl_err(g->ctx, CLEAVE_EUNSUPPORTED, "value '%s' is not a tensor (sequences, maps and optionals are not supported)",
                  val->name);
  const Onnx__TypeProto__Tensor *tt = type->tensor_type;
  val->dtype = tt->has_elem_type ? tt->elem_type : 0;
  if (cl_dtype_size(val->dtype) == 0)
    return cl_err(g->ctx, CLEAVE_EUNSUPPORTED, "value '%s' has data type %d, which cleave does not support", val->name,
                  val->dtype);
  if (!tt->shape) {
    val->shape.ndim = -1;
    return 0;
  }
  if (tt->shape->n_dim > CL_MAX_DIMS)
    return cl_err(g->ctx, CLEAVE_ELIMIT, "value '%s' has rank %zu; at most %d is supported", val->name,
                  tt->shape->n_dim, CL_MAX_DIMS);
  val->shape.ndim = (int)tt->shape->n_dim;
  for (size_t i = 0; i < tt->shape->n_dim; i++) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
    int64_t dim = CL_DIM_UNKNOWN;
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      if (d->dim_value < 0 || d->dim_value > CL_MAX_DIM_VALUE)
        return cl_err(g->ctx, d->dim_value < 0 ? CLEAVE_EMODEL : CLEAVE_ELIMIT, "value '%s' has dim %lld",
                      val->name, (long long)d->dim_value);
      dim = d->dim_value;
    } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
               d->dim_param[0]) {
      int id = cl_graph_symbol(g, d->dim_param);
      if (id < 0) return cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory");
      dim = CL_SYM_DIM(id);
    }
    val->shape.d[i] = dim;
  }
  return 0;
}

static int convert_attr(cl_graph *g, const Onnx__AttributeProto *ap, cl_attr *a, const char *node) {
  cl_arena *ar = &g->arena;
  if (!ap->name) return cl_err(g->ctx, CLEAVE_EMODEL, "node '%s' has an attribute without a name", node);
  a->name = cl_arena_strdup(ar, ap->name);
  int type = ap->has_type ? (int)ap->type : 0;
  if (!type) { /* IR < 3: infer the type from the populated field */
    if (ap->n_floats) type = CL_ATTR_FLOATS;
    else if (ap->n_ints) type = CL_ATTR_INTS;
    else if (ap->n_strings) type = CL_ATTR_STRINGS;
    else if (ap->t) type = CL_ATTR_TENSOR;
    else if (ap->g) type = CL_ATTR_GRAPH;
    else if (ap->has_s) type = CL_ATTR_STRING;
    else if (ap->has_f) type = CL_ATTR_FLOAT;
    else type = CL_ATTR_INT;
  }
  a->type = type;
  switch (type) {
  case CL_ATTR_FLOAT: a->f = ap->f; break;
  case CL_ATTR_INT: a->i = ap->i; break;
  case CL_ATTR_STRING:
    a->s = cl_arena_strndup(ar, (const char *)ap->s.data ? (const char *)ap->s.data : "", ap->s.len);
    a->s_len = ap->s.len;
    if (!a->s) return CLEAVE_ENOMEM;
    break;
  case CL_ATTR_FLOATS: {
    float *f = cl_arena_calloc(ar, ap->n_floats ? ap->n_floats : 1, sizeof(float));
    if (!f) return CLEAVE_ENOMEM;
    if (ap->n_floats) memcpy(f, ap->floats, ap->n_floats * sizeof(float));
    a->floats = f;
    a->n = (int)ap->n_floats;
    break;
  }
  case CL_ATTR_INTS: {
    int64_t *v = cl_arena_calloc(ar, ap->n_ints ? ap->n_ints : 1, sizeof(int64_t));
    if (!v) return CLEAVE_ENOMEM;
    if (ap->n_ints) memcpy(v, ap->ints, ap->n_ints * sizeof(int64_t));
    a->ints = v;
    a->n = (int)ap->n_ints;
    break;
  }
  case CL_ATTR_STRINGS: {
    char **s = cl_arena_calloc(ar, ap->n_strings ? ap->n_strings : 1, sizeof(char *));
    if (!s) return CLEAVE_ENOMEM;
    for (size_t i = 0; i < ap->n_strings; i++)
      if (!(s[i] = cl_arena_strndup(ar, (const char *)ap->strings[i].data ? (const char *)ap->strings[i].data : "",
                                    ap->strings[i].len)))
        return CLEAVE_ENOMEM;
    a->strings = (const char *const *)s;
    a->n = (int)ap->n_strings;
    break;
  }
  case CL_ATTR_TENSOR: {
    if (!ap->t) return cl_err(g->ctx, CLEAVE_EMODEL, "node '%s': attribute '%s' has no tensor", node, ap->name);
    cl_tensor *t = cl_arena_alloc(ar, sizeof *t);
    if (!t) return CLEAVE_ENOMEM;
    int rc = tensor_from_pb(g->ctx, ap->t, NULL, t);
    if (rc) return rc;
    /* move the data into the arena so the attribute lives as long as the graph */
    void *d = cl_arena_alloc(ar, t->nbytes ? t->nbytes : 1);
    if (!d) {
      cl_tensor_release(g->ctx, t);
      return CLEAVE_ENOMEM;
    }
    memcpy(d, t->data, t->nbytes);
    cl_tensor_release(g->ctx, t);
    t->data = d;
    t->nbytes = (size_t)cl_tensor_numel(t) * cl_dtype_size(t->dtype);
    a->t = t;
    break;
  }
  default: break; /* graphs, sparse tensors, type protos: kept by name only; ops that need them are unsupported */
  }
  if (!a->name) return CLEAVE_ENOMEM;
  return 0;
}

static int build_graph(cl_graph *g, const Onnx__GraphProto *gp, const char *base_dir) {
  cleave_ctx *ctx = g->ctx;
  int rc;
  /* initializers: constants */
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *tp = gp->initializer[i];
    if (!tp->name || !tp->name[0]) return cl_err(ctx, CLEAVE_EMODEL, "initializer %zu has no name", i);
    if (cl_graph_find_value(g, tp->name) >= 0)
      return cl_err(ctx, CLEAVE_EMODEL, "initializer '%s' is defined twice", tp->name);
    int v = cl_graph_add_value(g, tp->name);
    if (v < 0) return v;
    cl_tensor *t = cl_malloc(ctx, sizeof *t);
    if (!t) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    if ((rc = tensor_from_pb(ctx, tp, base_dir, t))) {
      cl_free(ctx, t);
      return rc;
    }
    cl_value *val = &g->values[v];
    val->konst = t;
    val->dtype = t->dtype;
    cl_shape_from_tensor(&val->shape, t);
  }
  /* inputs that are not initializers are what the caller feeds */
  int n_in = 0;
  g->inputs = cl_arena_calloc(&g->arena, gp->n_input + 1, sizeof(int));
  if (!g->inputs) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    if (!vi->name || !vi->name[0]) return cl_err(ctx, CLEAVE_EMODEL, "graph input %zu has no name", i);
    int v = cl_graph_find_value(g, vi->name);
    if (v >= 0 && g->values[v].konst) continue; /* IR < 4 lists initializers as inputs too */
    if (v >= 0) return cl_err(ctx, CLEAVE_EMODEL, "graph input '%s' is listed twice", vi->name);
    if ((v = cl_graph_add_value(g, vi->name)) < 0) return v;
    g->values[v].is_input = true;
    if ((rc = set_value_type(g, &g->values[v], vi->type))) return rc;
    if (g->values[v].shape.ndim < 0)
      return cl_err(ctx, CLEAVE_EUNSUPPORTED, "graph input '%s' has no shape; cleave needs at least its rank", vi->name);
    g->inputs[n_in++] = v;
  }
  g->n_inputs = n_in;
  /* nodes */
  if (gp->n_node > (size_t)INT32_MAX / 2) return cl_err(ctx, CLEAVE_ELIMIT, "too many nodes");
  g->nodes = cl_calloc(ctx, gp->n_node ? gp->n_node : 1, sizeof(cl_node));
  if (!g->nodes) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  g->cap_nodes = (int)(gp->n_node ? gp->n_node : 1);
  for (size_t i = 0; i < gp->n_node; i++) {
    const Onnx__NodeProto *np = gp->node[i];
    cl_node *n = &g->nodes[g->n_nodes];
    const char *op = np->op_type ? np->op_type : "";
    if (!op[0]) return cl_err(ctx, CLEAVE_EMODEL, "node %zu has no op_type", i);
    char gen[64];
    snprintf(gen, sizeof gen, "%.40s_%zu", op, i);
    n->name = cl_arena_strdup(&g->arena, np->name && np->name[0] ? np->name : gen);
    n->op = cl_arena_strdup(&g->arena, op);
    n->domain = cl_arena_strdup(&g->arena, np->domain ? np->domain : "");
    n->in = cl_arena_calloc(&g->arena, np->n_input + 1, sizeof(int));
    n->out = cl_arena_calloc(&g->arena, np->n_output + 1, sizeof(int));
    n->attrs = cl_arena_calloc(&g->arena, np->n_attribute + 1, sizeof(cl_attr));
    if (!n->name || !n->op || !n->domain || !n->in || !n->out || !n->attrs)
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    g->n_nodes++;
    if (np->n_input > MAX_NODE_IO || np->n_output > MAX_NODE_IO || np->n_attribute > MAX_NODE_IO)
      return cl_node_err(ctx, n, CLEAVE_ELIMIT, "has %zu inputs, %zu outputs and %zu attributes; at most %d each",
                         np->n_input, np->n_output, np->n_attribute, MAX_NODE_IO);
    n->schema = cl_op_find(n->domain, n->op);
    if (!n->schema)
      return cl_node_err(ctx, n, CLEAVE_EUNSUPPORTED, "operator '%s%s%s' is not implemented by cleave",
                         n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op);
    for (size_t j = 0; j < np->n_input; j++) {
      const char *nm = np->input[j];
      if (!nm || !nm[0]) {
        n->in[j] = -1;
      } else {
        int v = value_for(g, nm, true);
        if (v < 0) return v;
        n->in[j] = v;
      }
    }
    n->n_in = (int)np->n_input;
    while (n->n_in > 0 && n->in[n->n_in - 1] < 0) n->n_in--; /* trailing omitted inputs */
    for (size_t j = 0; j < np->n_output; j++) {
      const char *nm = np->output[j];
      if (!nm || !nm[0]) {
        n->out[j] = -1;
        continue;
      }
      int v = value_for(g, nm, true);
      if (v < 0) return v;
      n->out[j] = v;
    }
    n->n_out = (int)np->n_output;
    for (size_t j = 0; j < np->n_attribute; j++) {
      if ((rc = convert_attr(g, np->attribute[j], &n->attrs[j], n->name)))
        return rc == CLEAVE_ENOMEM ? cl_err(ctx, rc, "out of memory") : rc;
      n->n_attrs++;
    }
  }
  /* outputs */
  g->outputs = cl_arena_calloc(&g->arena, gp->n_output + 1, sizeof(int));
  if (!g->outputs) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  if (gp->n_output == 0) return cl_err(ctx, CLEAVE_EMODEL, "the graph has no outputs");
  for (size_t i = 0; i < gp->n_output; i++) {
    const Onnx__ValueInfoProto *vi = gp->output[i];
    int v = vi->name ? cl_graph_find_value(g, vi->name) : -1;
    if (v < 0)
      return cl_err(ctx, CLEAVE_EMODEL, "graph output '%s' is not produced by any node", vi->name ? vi->name : "");
    g->values[v].is_output = true;
    g->outputs[g->n_outputs++] = v;
  }
  return 0;
}

int cl_onnx_load_graph(cleave_ctx *ctx, const void *data, size_t size, const char *base_dir, cl_graph *g) {
  pb_alloc_state st = {ctx, false};
  ProtobufCAllocator pa = {.alloc = pb_alloc, .free = pb_free, .allocator_data = &st};
  if (size == 0) return cl_err(ctx, CLEAVE_EPARSE, "model file is empty");
  Onnx__ModelProto *mp = onnx__model_proto__unpack(&pa, size, data);
  if (!mp) return unpack_failed(ctx, &st, data, size, "model file");
  int rc = 0;
  if (!mp->graph) {
    rc = cl_err(ctx, CLEAVE_EMODEL, "the model has no graph");
    goto out;
  }
  g->opset = 0;
  for (size_t i = 0; i < mp->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *os = mp->opset_import[i];
    if (!os->domain || !os->domain[0] || strcmp(os->domain, "ai.onnx") == 0)
      g->opset = os->version < 0 || os->version > 1000 ? -1 : (int)os->version;
  }
  if (mp->n_opset_import == 0) g->opset = 1; /* IR v1-2 without opset_import */
  if (g->opset < 0) {
    rc = cl_err(ctx, CLEAVE_EUNSUPPORTED, "the model's default-domain opset version is out of range");
    goto out;
  }
  if (g->opset == 0) {
    rc = cl_err(ctx, CLEAVE_EUNSUPPORTED, "the model imports no opset of the default ONNX domain");
    goto out;
  }
  if (g->opset < 7) {
    rc = cl_err(ctx, CLEAVE_EUNSUPPORTED, "the model uses opset %d; cleave supports opset 7 and later", g->opset);
    goto out;
  }
  if ((rc = build_graph(g, mp->graph, base_dir))) goto out;
  onnx__model_proto__free_unpacked(mp, &pa);
  mp = NULL;
  if ((rc = cl_graph_link(g))) goto out;
  if ((rc = cl_graph_toposort(g))) goto out;
  if ((rc = cl_graph_infer(g))) goto out;
  if ((rc = cl_graph_fold(g))) goto out;
out:
  if (mp) onnx__model_proto__free_unpacked(mp, &pa);
  return rc;
}
