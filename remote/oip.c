/* remote: the Open Inference Protocol codec (see oip.h). */
#include "remote/oip.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/tensor.h"

static const struct {
  const char *name;
  cleave_dtype dtype;
} datatypes[] = {
    {"BOOL", CLEAVE_DTYPE_BOOL},     {"UINT8", CLEAVE_DTYPE_UINT8},   {"UINT16", CLEAVE_DTYPE_UINT16},
    {"UINT32", CLEAVE_DTYPE_UINT32}, {"UINT64", CLEAVE_DTYPE_UINT64}, {"INT8", CLEAVE_DTYPE_INT8},
    {"INT16", CLEAVE_DTYPE_INT16},   {"INT32", CLEAVE_DTYPE_INT32},   {"INT64", CLEAVE_DTYPE_INT64},
    {"FP16", CLEAVE_DTYPE_FLOAT16},  {"FP32", CLEAVE_DTYPE_FLOAT32},  {"FP64", CLEAVE_DTYPE_FLOAT64},
};

const char *cl_oip_datatype(cleave_dtype dtype) {
  for (size_t i = 0; i < sizeof datatypes / sizeof datatypes[0]; i++)
    if (datatypes[i].dtype == dtype) return datatypes[i].name;
  return NULL;
}

cleave_dtype cl_oip_dtype(const char *name) {
  for (size_t i = 0; name && i < sizeof datatypes / sizeof datatypes[0]; i++)
    if (strcmp(datatypes[i].name, name) == 0) return datatypes[i].dtype;
  return CLEAVE_DTYPE_UNDEFINED;
}

void cl_oip_message_release(cleave_ctx *ctx, cl_oip_message *msg) {
  for (int i = 0; i < msg->n_owned; i++)
    cl_free(ctx, msg->owned[i]);
  if (msg->json) json_decref(msg->json);
  memset(msg, 0, sizeof *msg);
}

/* ---- decoding ---- */

/* Counts the numbers of a (possibly nested) JSON array, row-major; -1 if something else is in it. */
static int64_t count_leaves(const json_t *a, int depth) {
  if (!json_is_array(a)) return 1;
  if (depth > CLEAVE_MAX_DIMS) return -1;
  int64_t n = 0;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    int64_t k = count_leaves(v, depth + 1);
    if (k < 0) return -1;
    n += k;
  }
  return n;
}

/* Writes the leaves of a into dst as dtype; returns 0, or the leaf index + 1 of the first that does not fit. */
static size_t fill_leaves(const json_t *a, cleave_dtype dtype, uint8_t *dst, size_t *k) {
  if (json_is_array(a)) {
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
      size_t bad = fill_leaves(v, dtype, dst, k);
      if (bad) return bad;
    }
    return 0;
  }
  size_t at = (*k)++;
  switch (dtype) {
  case CLEAVE_DTYPE_FLOAT32:
  case CLEAVE_DTYPE_FLOAT64: {
    if (!json_is_number(a)) return at + 1;
    double x = json_number_value(a);
    if (dtype == CLEAVE_DTYPE_FLOAT32)
      ((float *)dst)[at] = (float)x;
    else
      ((double *)dst)[at] = x;
    return 0;
  }
  case CLEAVE_DTYPE_BOOL:
    if (!json_is_boolean(a)) return at + 1;
    dst[at] = json_is_true(a);
    return 0;
  default: break;
  }
  if (!json_is_integer(a)) return at + 1;
  json_int_t x = json_integer_value(a);
  switch (dtype) {
  case CLEAVE_DTYPE_INT8: ((int8_t *)dst)[at] = (int8_t)x; return x < INT8_MIN || x > INT8_MAX ? at + 1 : 0;
  case CLEAVE_DTYPE_UINT8: ((uint8_t *)dst)[at] = (uint8_t)x; return x < 0 || x > UINT8_MAX ? at + 1 : 0;
  case CLEAVE_DTYPE_INT16: ((int16_t *)dst)[at] = (int16_t)x; return x < INT16_MIN || x > INT16_MAX ? at + 1 : 0;
  case CLEAVE_DTYPE_UINT16: ((uint16_t *)dst)[at] = (uint16_t)x; return x < 0 || x > UINT16_MAX ? at + 1 : 0;
  case CLEAVE_DTYPE_INT32: ((int32_t *)dst)[at] = (int32_t)x; return x < INT32_MIN || x > INT32_MAX ? at + 1 : 0;
  case CLEAVE_DTYPE_UINT32: ((uint32_t *)dst)[at] = (uint32_t)x; return x < 0 || x > UINT32_MAX ? at + 1 : 0;
  case CLEAVE_DTYPE_INT64: ((int64_t *)dst)[at] = (int64_t)x; return 0;
  case CLEAVE_DTYPE_UINT64: ((uint64_t *)dst)[at] = (uint64_t)x; return x < 0 ? at + 1 : 0;
  default: return at + 1; /* FP16 has no JSON form here */
  }
}

static int decode_tensor(cleave_ctx *ctx, cl_oip_message *msg, const json_t *j, const char *what, const uint8_t *bin,
                         size_t bin_len, size_t *bin_off) {
  if (!json_is_object(j)) return cl_err(ctx, CLEAVE_EPARSE, "each of the %ss must be a JSON object", what);
  const char *name = json_string_value(json_object_get(j, "name"));
  if (!name || !name[0]) return cl_err(ctx, CLEAVE_EPARSE, "an %s has no \"name\" string", what);
  const char *dt = json_string_value(json_object_get(j, "datatype"));
  if (!dt) return cl_err(ctx, CLEAVE_EPARSE, "%s '%s' has no \"datatype\" string", what, name);
  cleave_dtype dtype = cl_oip_dtype(dt);
  if (dtype == CLEAVE_DTYPE_UNDEFINED)
    return cl_err(ctx, CLEAVE_EDTYPE, "%s '%s' has datatype \"%s\", which is not a tensor datatype this server takes",
                  what, name, dt);
  const json_t *shape = json_object_get(j, "shape");
  if (!json_is_array(shape)) return cl_err(ctx, CLEAVE_EPARSE, "%s '%s' has no \"shape\" array", what, name);
  if (json_array_size(shape) > CLEAVE_MAX_DIMS)
    return cl_err(ctx, CLEAVE_ESHAPE, "%s '%s' has %zu dimensions; at most %d are supported", what, name,
                  json_array_size(shape), CLEAVE_MAX_DIMS);
  cleave_tensor *t = &msg->tensors[msg->n_tensors];
  memset(t, 0, sizeof *t);
  t->name = name;
  t->dtype = dtype;
  t->ndim = (int)json_array_size(shape);
  int64_t numel = 1;
  for (int d = 0; d < t->ndim; d++) {
    const json_t *v = json_array_get(shape, (size_t)d);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
      return cl_err(ctx, CLEAVE_ESHAPE, "%s '%s': shape[%d] is not a non-negative integer", what, name, d);
    t->dims[d] = json_integer_value(v);
    if (cl_mul_i64(numel, t->dims[d], &numel) || numel > ((int64_t)1 << 40))
      return cl_err(ctx, CLEAVE_ESHAPE, "%s '%s': the shape holds too many elements", what, name);
  }
  size_t esize = cleave_dtype_size(dtype);
  t->nbytes = (size_t)numel * esize;
  const json_t *params = json_object_get(j, "parameters");
  const json_t *bsize = params ? json_object_get(params, "binary_data_size") : NULL;
  const json_t *data = json_object_get(j, "data");
  if (bsize) {
    if (!json_is_integer(bsize) || json_integer_value(bsize) < 0)
      return cl_err(ctx, CLEAVE_EINVAL, "%s '%s': binary_data_size must be a non-negative integer", what, name);
    if (data) return cl_err(ctx, CLEAVE_EINVAL, "%s '%s' has both \"data\" and binary_data_size", what, name);
    size_t n = (size_t)json_integer_value(bsize);
    if (!bin)
      return cl_err(ctx, CLEAVE_EINVAL, "%s '%s' has binary_data_size but the body has no binary part", what, name);
    if (n > bin_len - *bin_off)
      return cl_err(ctx, CLEAVE_EINVAL,
                    "%s '%s': binary_data_size %zu runs past the end of the body (%zu bytes left)", what, name, n,
                    bin_len - *bin_off);
    if (n != t->nbytes)
      return cl_err(ctx, CLEAVE_EINVAL, "%s '%s': binary_data_size %zu disagrees with shape and %s (%zu bytes)", what,
                    name, n, dt, t->nbytes);
    const uint8_t *src = bin + *bin_off;
    *bin_off += n;
    if ((uintptr_t)src % (esize ? esize : 1) == 0) {
      t->data = (void *)src;
      return 0;
    }
    /* the JSON header's length decides where the bytes land; elements must be aligned to be read as such */
    if (msg->n_owned == CL_OIP_MAX_TENSORS) return cl_err(ctx, CLEAVE_ELIMIT, "too many tensors");
    uint8_t *copy = cl_malloc(ctx, n ? n : 1);
    if (!copy) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory for %s '%s'", what, name);
    msg->owned[msg->n_owned++] = copy;
    memcpy(copy, src, n);
    t->data = copy;
    return 0;
  }
  if (!data) return cl_err(ctx, CLEAVE_EPARSE, "%s '%s' has neither \"data\" nor binary_data_size", what, name);
  int64_t leaves = json_is_array(data) ? count_leaves(data, 0) : -1;
  if (leaves < 0) return cl_err(ctx, CLEAVE_EPARSE, "%s '%s': \"data\" must be an array of numbers", what, name);
  if (leaves != numel)
    return cl_err(ctx, CLEAVE_ESHAPE, "%s '%s' has %lld values in \"data\"; its shape needs %lld", what, name,
                  (long long)leaves, (long long)numel);
  if (msg->n_owned == CL_OIP_MAX_TENSORS) return cl_err(ctx, CLEAVE_ELIMIT, "too many tensors");
  uint8_t *buf = cl_malloc(ctx, t->nbytes ? t->nbytes : 1);
  if (!buf) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory for %s '%s'", what, name);
  msg->owned[msg->n_owned++] = buf;
  size_t k = 0, bad = fill_leaves(data, dtype, buf, &k);
  if (bad) return cl_err(ctx, CLEAVE_EDTYPE, "%s '%s': data[%zu] is not a valid %s value", what, name, bad - 1, dt);
  t->data = buf;
  return 0;
}

int cl_oip_decode(cleave_ctx *ctx, bool request, const uint8_t *body, size_t len, long long header_len,
                  cl_oip_message *msg) {
  memset(msg, 0, sizeof *msg);
  int rc;
  if (header_len > (long long)len)
    return cl_err(ctx, CLEAVE_EINVAL, "Inference-Header-Content-Length %lld is larger than the body (%zu bytes)",
                  header_len, len);
  size_t jlen = header_len >= 0 ? (size_t)header_len : len;
  json_error_t jerr;
  json_t *root = json_loadb((const char *)body, jlen, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return cl_err(ctx, CLEAVE_EPARSE, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
  msg->json = root;
  const char *what = request ? "input" : "output";
  if (!json_is_object(root)) {
    rc = cl_err(ctx, CLEAVE_EPARSE, "the body must be a JSON object");
    goto fail;
  }
  msg->id = json_string_value(json_object_get(root, "id"));
  msg->model_name = json_string_value(json_object_get(root, "model_name"));
  msg->model_version = json_string_value(json_object_get(root, "model_version"));
  const json_t *list = json_object_get(root, request ? "inputs" : "outputs");
  if (!json_is_array(list) || (request && json_array_size(list) == 0)) {
    rc = cl_err(ctx, CLEAVE_EPARSE, "the body needs a non-empty \"%ss\" array", what);
    goto fail;
  }
  if (json_array_size(list) > CL_OIP_MAX_TENSORS) {
    rc = cl_err(ctx, CLEAVE_ELIMIT, "%zu %ss; at most %d are allowed", json_array_size(list), what,
                CL_OIP_MAX_TENSORS);
    goto fail;
  }
  const uint8_t *bin = header_len >= 0 ? body + header_len : NULL;
  size_t bin_len = header_len >= 0 ? len - (size_t)header_len : 0, bin_off = 0;
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if ((rc = decode_tensor(ctx, msg, v, what, bin, bin_len, &bin_off))) goto fail;
    for (int k = 0; k < msg->n_tensors; k++)
      if (strcmp(msg->tensors[k].name, msg->tensors[msg->n_tensors].name) == 0) {
        rc = cl_err(ctx, CLEAVE_EINVAL, "%s '%s' is given twice", what, msg->tensors[k].name);
        goto fail;
      }
    msg->n_tensors++;
  }
  if (bin && bin_off != bin_len) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "%zu bytes of binary data follow the tensors' binary_data_size",
                bin_len - bin_off);
    goto fail;
  }
  if (!request) return 0;
  const json_t *params = json_object_get(root, "parameters");
  const json_t *bdo = params ? json_object_get(params, "binary_data_output") : NULL;
  if (bdo && !json_is_boolean(bdo)) {
    rc = cl_err(ctx, CLEAVE_EPARSE, "parameters.binary_data_output must be true or false");
    goto fail;
  }
  msg->binary_default = bdo && json_is_true(bdo);
  const json_t *outs = json_object_get(root, "outputs");
  if (outs && !json_is_array(outs)) {
    rc = cl_err(ctx, CLEAVE_EPARSE, "\"outputs\" must be an array");
    goto fail;
  }
  if (json_array_size(outs) > CL_OIP_MAX_TENSORS) {
    rc = cl_err(ctx, CLEAVE_ELIMIT, "%zu outputs requested; at most %d are allowed", json_array_size(outs),
                CL_OIP_MAX_TENSORS);
    goto fail;
  }
  json_array_foreach(outs, i, v) {
    const char *name = json_is_object(v) ? json_string_value(json_object_get(v, "name")) : NULL;
    if (!name || !name[0]) {
      rc = cl_err(ctx, CLEAVE_EPARSE, "each requested output needs a \"name\" string");
      goto fail;
    }
    const json_t *op = json_object_get(v, "parameters");
    const json_t *bd = op ? json_object_get(op, "binary_data") : NULL;
    if (bd && !json_is_boolean(bd)) {
      rc = cl_err(ctx, CLEAVE_EPARSE, "output '%s': parameters.binary_data must be true or false", name);
      goto fail;
    }
    for (int k = 0; k < msg->n_outputs; k++)
      if (strcmp(msg->outputs[k], name) == 0) {
        rc = cl_err(ctx, CLEAVE_EINVAL, "output '%s' is requested twice", name);
        goto fail;
      }
    msg->outputs[msg->n_outputs] = name;
    msg->output_binary[msg->n_outputs++] = bd ? json_is_true(bd) : msg->binary_default;
  }
  return 0;
fail:
  cl_oip_message_release(ctx, msg);
  return rc;
}

/* ---- encoding ---- */

static json_t *json_data(const cleave_tensor *t, int64_t numel) {
  json_t *a = json_array();
  if (!a) return NULL;
  for (int64_t i = 0; i < numel; i++) {
    json_t *v = NULL;
    const void *p = t->data;
    switch (t->dtype) {
    case CLEAVE_DTYPE_FLOAT32: v = json_real(((const float *)p)[i]); break; /* NULL for NaN and infinities */
    case CLEAVE_DTYPE_FLOAT64: v = json_real(((const double *)p)[i]); break;
    case CLEAVE_DTYPE_BOOL: v = json_boolean(((const uint8_t *)p)[i]); break;
    case CLEAVE_DTYPE_INT8: v = json_integer(((const int8_t *)p)[i]); break;
    case CLEAVE_DTYPE_UINT8: v = json_integer(((const uint8_t *)p)[i]); break;
    case CLEAVE_DTYPE_INT16: v = json_integer(((const int16_t *)p)[i]); break;
    case CLEAVE_DTYPE_UINT16: v = json_integer(((const uint16_t *)p)[i]); break;
    case CLEAVE_DTYPE_INT32: v = json_integer(((const int32_t *)p)[i]); break;
    case CLEAVE_DTYPE_UINT32: v = json_integer(((const uint32_t *)p)[i]); break;
    case CLEAVE_DTYPE_INT64: v = json_integer(((const int64_t *)p)[i]); break;
    case CLEAVE_DTYPE_UINT64: v = json_integer((json_int_t)((const uint64_t *)p)[i]); break;
    default: break;
    }
    if (!v || json_array_append_new(a, v)) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

static int encode(cleave_ctx *ctx, json_t *root, const char *key, const cl_oip_out *ts, int n, uint8_t **body,
                  size_t *len, long long *header_len) {
  *body = NULL;
  int rc = 0;
  size_t bin_total = 0;
  json_t *list = json_array();
  if (!root || !list || json_object_set_new(root, key, list)) {
    json_decref(root);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    const cleave_tensor *t = ts[i].t;
    const char *dt = cl_oip_datatype(t->dtype);
    if (!dt) {
      rc = cl_err(ctx, CLEAVE_EDTYPE, "tensor '%s' has dtype %s, which the protocol cannot carry", t->name,
                  cleave_dtype_name(t->dtype));
      goto out;
    }
    int64_t numel = cleave_tensor_numel(t);
    if (numel < 0 || t->nbytes != (size_t)numel * cleave_dtype_size(t->dtype)) {
      rc =
          cl_err(ctx, CLEAVE_EINVAL, "tensor '%s' has %zu bytes, which disagrees with its shape", t->name, t->nbytes);
      goto out;
    }
    json_t *shape = json_array(), *o = json_object();
    if (!shape || !o || json_array_append_new(list, o)) {
      json_decref(shape);
      rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
      goto out;
    }
    for (int d = 0; d < t->ndim; d++)
      json_array_append_new(shape, json_integer(t->dims[d]));
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "datatype", json_string(dt));
    json_object_set_new(o, "shape", shape);
    if (ts[i].binary) {
      json_object_set_new(o, "parameters", json_pack("{s:I}", "binary_data_size", (json_int_t)t->nbytes));
      bin_total += t->nbytes;
    } else {
      json_t *data = json_data(t, numel);
      if (!data) {
        rc = t->dtype == CLEAVE_DTYPE_FLOAT16
                 ? cl_err(ctx, CLEAVE_EDTYPE, "tensor '%s' is FP16, which only travels as binary data", t->name)
                 : cl_err(ctx, CLEAVE_EDTYPE,
                          "tensor '%s' holds NaN or infinity, which JSON cannot carry; ask for binary data", t->name);
        goto out;
      }
      json_object_set_new(o, "data", data);
    }
  }
  /* float32 needs 9 significant digits to come back bit-exact */
  char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
  if (!text) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory encoding JSON");
    goto out;
  }
  size_t tlen = strlen(text);
  *body = cl_malloc(ctx, tlen + bin_total + 1);
  if (!*body) {
    free(text);
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory for a %zu-byte body", tlen + bin_total);
    goto out;
  }
  memcpy(*body, text, tlen);
  free(text);
  size_t off = tlen;
  for (int i = 0; i < n; i++)
    if (ts[i].binary && ts[i].t->nbytes) {
      memcpy(*body + off, ts[i].t->data, ts[i].t->nbytes);
      off += ts[i].t->nbytes;
    }
  *len = off;
  *header_len = -1;
  for (int i = 0; i < n; i++)
    if (ts[i].binary) *header_len = (long long)tlen;
out:
  json_decref(root);
  return rc;
}

int cl_oip_encode_response(cleave_ctx *ctx, const char *model, const char *version, const char *id,
                           const cl_oip_out *outs, int n, uint8_t **body, size_t *len, long long *header_len) {
  json_t *root = json_object();
  if (root) {
    json_object_set_new(root, "model_name", json_string(model ? model : ""));
    if (version) json_object_set_new(root, "model_version", json_string(version));
    if (id) json_object_set_new(root, "id", json_string(id));
  }
  return encode(ctx, root, "outputs", outs, n, body, len, header_len);
}

int cl_oip_encode_request(cleave_ctx *ctx, const char *id, const cl_oip_out *inputs, int n_inputs,
                          const char *const *outputs, int n_outputs, bool binary_outputs, uint8_t **body, size_t *len,
                          long long *header_len) {
  json_t *root = json_object();
  if (root) {
    if (id) json_object_set_new(root, "id", json_string(id));
    if (binary_outputs) json_object_set_new(root, "parameters", json_pack("{s:b}", "binary_data_output", 1));
    if (n_outputs) {
      json_t *outs = json_array();
      for (int i = 0; i < n_outputs && outs; i++)
        json_array_append_new(
            outs, json_pack("{s:s,s:{s:b}}", "name", outputs[i], "parameters", "binary_data", binary_outputs));
      json_object_set_new(root, "outputs", outs);
    }
  }
  return encode(ctx, root, "inputs", inputs, n_inputs, body, len, header_len);
}
