/* local/ref: reference kernels of the data operators that index, pad and generate. */
#include <stdio.h>
#include <string.h>

#include "core/ir/ops_data.h"
#include "local/ref/k_data.h"

static int64_t span(const cl_tensor *t, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= t->dims[i];
  return p;
}

static int norm_axis(const cl_kctx *k, const cl_node *n, int64_t axis, int rank, int *out) {
  if (axis < -(int64_t)rank || axis >= rank)
    return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "axis %lld is out of range for rank %d", (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 0;
}

/* ---- Slice ---- */

CL_KDATA_KERNEL(cl_kdata_slice) {
  const cl_tensor *x = in[0];
  int r = x->ndim, rc;
  int64_t starts[CL_MAX_DIMS], ends[CL_MAX_DIMS], axes[CL_MAX_DIMS], steps[CL_MAX_DIMS];
  int ks = cl_kdata_list(k, n, in, n_in, "starts", 1, 10, starts, CL_MAX_DIMS);
  int ke = cl_kdata_list(k, n, in, n_in, "ends", 2, 10, ends, CL_MAX_DIMS);
  int ka = cl_kdata_list(k, n, in, n_in, "axes", 3, 10, axes, CL_MAX_DIMS);
  int kt = k->opset >= 10 ? cl_kdata_list(k, n, in, n_in, "steps", 4, 10, steps, CL_MAX_DIMS) : -1;
  if (ks < 0 || ke != ks || (ka != -1 && ka != ks) || (kt != -1 && kt != ks))
    return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "starts, ends, axes and steps do not match");
  int64_t xs[CL_MAX_DIMS], first[CL_MAX_DIMS] = {0}, step[CL_MAX_DIMS], st[CL_MAX_DIMS], base = 0;
  for (int d = 0; d < r; d++) step[d] = 1;
  for (int i = 0; i < ks; i++) {
    int a = 0;
    if ((rc = norm_axis(k, n, ka >= 0 ? axes[i] : i, r, &a))) return rc;
    step[a] = kt >= 0 ? steps[i] : 1;
    if (step[a] == 0) return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "step %d is 0", i);
    if (cl_slice_axis(x->dims[a], starts[i], ends[i], step[a], &first[a]) != out[0]->dims[a])
      return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "axis %d: the slice does not match the inferred shape", a);
  }
  if (cl_tensor_numel(out[0]) == 0) return 0;
  cl_kdata_strides(x, xs);
  for (int d = 0; d < r; d++) {
    st[d] = xs[d] * step[d];
    base += first[d] * xs[d];
  }
  cl_kdata_view_copy(out[0], x->data, base, st);
  return 0;
}

/* ---- Gather, GatherElements ---- */

static int64_t index_at(const cl_tensor *t, int64_t i) {
  return t->dtype == CLEAVE_DTYPE_INT64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}

static int bad_index(const cl_kctx *k, const cl_node *n, int64_t v, int64_t d) {
  return cl_node_err(k->ctx, n, CLEAVE_ERANGE, "index %lld is out of range for an axis of size %lld", (long long)v,
                     (long long)d);
}

CL_KDATA_KERNEL(cl_kdata_gather) {
  const cl_tensor *x = in[0], *ix = in[1];
  int axis = 0, rc;
  if ((rc = norm_axis(k, n, cl_attr_int(n, "axis", 0), x->ndim, &axis))) return rc;
  if (ix->dtype != CLEAVE_DTYPE_INT64 && ix->dtype != CLEAVE_DTYPE_INT32)
    return cl_node_err(k->ctx, n, CLEAVE_EDTYPE, "indices must be int32 or int64");
  size_t es = cl_dtype_size(x->dtype);
  int64_t d = x->dims[axis], outer = span(x, 0, axis), inner = span(x, axis + 1, x->ndim), m = cl_tensor_numel(ix);
  for (int64_t j = 0; j < m; j++) {
    int64_t v = index_at(ix, j);
    if (v < -d || v >= d) return bad_index(k, n, v, d);
  }
  size_t blk = (size_t)inner * es;
  const char *src = x->data;
  char *dst = out[0]->data;
  for (int64_t b = 0; b < outer; b++, src += (size_t)d * blk)
    for (int64_t j = 0; j < m; j++, dst += blk) {
      int64_t v = index_at(ix, j);
      memcpy(dst, src + (size_t)(v < 0 ? v + d : v) * blk, blk);
    }
  return 0;
}

CL_KDATA_KERNEL(cl_kdata_gather_elements) {
  const cl_tensor *x = in[0], *ix = in[1];
  cl_tensor *o = out[0];
  int axis = 0, rc, r = x->ndim;
  if ((rc = norm_axis(k, n, cl_attr_int(n, "axis", 0), r, &axis))) return rc;
  if (ix->dtype != CLEAVE_DTYPE_INT64 && ix->dtype != CLEAVE_DTYPE_INT32)
    return cl_node_err(k->ctx, n, CLEAVE_EDTYPE, "indices must be int32 or int64");
  size_t es = cl_dtype_size(x->dtype);
  int64_t xs[CL_MAX_DIMS], c[CL_MAX_DIMS] = {0}, total = cl_tensor_numel(ix), d = x->dims[axis], off = 0;
  cl_kdata_strides(x, xs);
  const char *src = x->data;
  char *dst = o->data;
  /* off walks the data position of every coordinate except axis, whose part comes from the index */
  for (int64_t i = 0; i < total; i++) {
    int64_t v = index_at(ix, i);
    if (v < -d || v >= d) return bad_index(k, n, v, d);
    memcpy(dst + (size_t)i * es, src + (size_t)(off + (v < 0 ? v + d : v) * xs[axis]) * es, es);
    for (int q = r - 1; q >= 0; q--) {
      int64_t s = q == axis ? 0 : xs[q];
      off += s;
      if (++c[q] < ix->dims[q]) break;
      off -= s * ix->dims[q];
      c[q] = 0;
    }
  }
  return 0;
}

/* ---- Tile, Expand ---- */

CL_KDATA_KERNEL(cl_kdata_tile) {
  const cl_tensor *x = in[0];
  cl_tensor *o = out[0];
  int r = x->ndim;
  size_t es = cl_dtype_size(x->dtype);
  int64_t total = cl_tensor_numel(o);
  if (total == 0) return 0;
  if (r == 0) {
    memcpy(o->data, x->data, es);
    return 0;
  }
  int64_t xs[CL_MAX_DIMS], c[CL_MAX_DIMS] = {0}, xl = x->dims[r - 1], ol = o->dims[r - 1], rows = total / ol;
  cl_kdata_strides(x, xs);
  size_t row_bytes = (size_t)xl * es;
  char *dst = o->data;
  for (int64_t row = 0; row < rows; row++) {
    int64_t off = 0;
    for (int q = 0; q < r - 1; q++) off += (c[q] % x->dims[q]) * xs[q];
    const char *s = (const char *)x->data + (size_t)off * es;
    for (int64_t j = 0; j < ol; j += xl, dst += row_bytes) memcpy(dst, s, row_bytes);
    for (int q = r - 2; q >= 0; q--) {
      if (++c[q] < o->dims[q]) break;
      c[q] = 0;
    }
  }
  return 0;
}

CL_KDATA_KERNEL(cl_kdata_expand) {
  int64_t st[CL_MAX_DIMS];
  cl_bcast_strides(in[0]->ndim, in[0]->dims, out[0]->ndim, out[0]->dims, st);
  cl_kdata_view_copy(out[0], in[0]->data, 0, st);
  return 0;
}

/* ---- ConstantOfShape, Range ---- */

/* Fills cnt elements of size es at dst with the element at val. */
static void fill(void *dst, const void *val, int64_t cnt, size_t es) {
  char *d = dst;
  for (int64_t i = 0; i < cnt; i++, d += es) memcpy(d, val, es);
}

CL_KDATA_KERNEL(cl_kdata_constant_of_shape) {
  const cl_attr *a = cl_node_attr(n, "value");
  cl_tensor *o = out[0];
  if (!a || !a->t) return 0; /* float 0: the output is zero-filled */
  if (a->t->dtype != o->dtype || !a->t->data || a->t->nbytes < cl_dtype_size(o->dtype))
    return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "attribute value does not hold one %s",
                       cleave_dtype_name(o->dtype));
  fill(o->data, a->t->data, cl_tensor_numel(o), cl_dtype_size(o->dtype));
  return 0;
}

CL_KDATA_KERNEL(cl_kdata_range) {
  cl_tensor *o = out[0];
  int64_t cnt = o->dims[0];
  if (cl_range_count(in[0], in[1], in[2]) != cnt)
    return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "the range length does not match the inferred shape");
  /* accumulated as ONNX Runtime does (value += delta), not start + i * delta */
  switch (o->dtype) {
  case CLEAVE_DTYPE_FLOAT32: {
    float v = *(const float *)in[0]->data, d = *(const float *)in[2]->data, *p = o->data;
    for (int64_t i = 0; i < cnt; i++, v += d) p[i] = v;
    break;
  }
  case CLEAVE_DTYPE_INT32: {
    int32_t v = *(const int32_t *)in[0]->data, d = *(const int32_t *)in[2]->data, *p = o->data;
    for (int64_t i = 0; i < cnt; i++) {
      p[i] = v;
      if (i + 1 < cnt) v += d; /* stays inside [start, limit): no overflow */
    }
    break;
  }
  case CLEAVE_DTYPE_INT64: {
    int64_t v = *(const int64_t *)in[0]->data, d = *(const int64_t *)in[2]->data, *p = o->data;
    for (int64_t i = 0; i < cnt; i++) {
      p[i] = v;
      if (i + 1 < cnt) v += d;
    }
    break;
  }
  default:
    return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "Range on %s is not implemented",
                       cleave_dtype_name(o->dtype));
  }
  return 0;
}

/* ---- Pad ---- */

int cl_kdata_check_pad(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  if (cl_pad_mode(n) == CL_PAD_WRAP) {
    snprintf(why, why_len, "Pad mode wrap is not implemented");
    return 0;
  }
  return 1;
}

/* The source index along one axis of extent d for output index j, or -1 for the constant. */
static int64_t pad_src(int mode, int64_t j, int64_t begin, int64_t d) {
  int64_t s = j - begin;
  if (s >= 0 && s < d) return s;
  switch (mode) {
  case CL_PAD_EDGE: return s < 0 ? 0 : d - 1;
  case CL_PAD_REFLECT: {
    if (d == 1) return 0;
    int64_t p = 2 * (d - 1), m = ((s % p) + p) % p; /* numpy's reflect is periodic beyond one bounce */
    return m < d ? m : p - m;
  }
  default: return -1;
  }
}

/* The pad value as one element of dtype into val (16 bytes). */
static void pad_value(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, int dtype,
                      unsigned char *val) {
  memset(val, 0, 16);
  if (k->opset >= 11) {
    const cl_tensor *cv = n_in > 2 ? in[2] : NULL;
    if (cv && cv->dtype == dtype && cl_tensor_numel(cv) >= 1) memcpy(val, cv->data, cl_dtype_size(dtype));
    return;
  }
  float f = cl_attr_float(n, "value", 0.0f);
  switch (dtype) {
  case CLEAVE_DTYPE_FLOAT32: memcpy(val, &f, 4); break;
  case CLEAVE_DTYPE_INT32: *(int32_t *)(void *)val = (int32_t)f; break;
  case CLEAVE_DTYPE_INT64: *(int64_t *)(void *)val = (int64_t)f; break;
  case CLEAVE_DTYPE_BOOL: val[0] = f != 0; break;
  default: break;
  }
}

CL_KDATA_KERNEL(cl_kdata_pad) {
  const cl_tensor *x = in[0];
  cl_tensor *o = out[0];
  int r = x->ndim, mode = cl_pad_mode(n), rc = 0;
  size_t es = cl_dtype_size(x->dtype);
  int64_t pads[2 * CL_MAX_DIMS], axes[CL_MAX_DIMS], begin[CL_MAX_DIMS] = {0};
  int kp = cl_kdata_list(k, n, in, n_in, k->opset < 2 ? "paddings" : "pads", 1, 11, pads, 2 * CL_MAX_DIMS);
  int ka = cl_kdata_list(k, n, in, n_in, "axes", 3, 18, axes, CL_MAX_DIMS);
  int na = ka >= 0 ? ka : r;
  if (kp != 2 * na) return cl_node_err(k->ctx, n, CLEAVE_EMODEL, "%d pads for %d axes", kp, na);
  for (int i = 0; i < na; i++) {
    int a = 0;
    if ((rc = norm_axis(k, n, ka >= 0 ? axes[i] : i, r, &a))) return rc;
    begin[a] = pads[i];
  }
  unsigned char val[16];
  pad_value(k, n, in, n_in, x->dtype, val);
  int64_t total = cl_tensor_numel(o);
  if (total == 0) return 0;
  if (r == 0) {
    memcpy(o->data, x->data, es);
    return 0;
  }
  /* per axis, the source index of every output index, so the inner loop is a table lookup */
  int64_t nmap = 0, *map[CL_MAX_DIMS], xs[CL_MAX_DIMS], c[CL_MAX_DIMS] = {0};
  for (int d = 0; d < r; d++) nmap += o->dims[d];
  int64_t *maps = cl_malloc(k->ctx, sizeof(int64_t) * (size_t)nmap);
  if (!maps) return cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory");
  for (int64_t d = 0, at = 0; d < r; at += o->dims[d], d++) {
    map[d] = maps + at;
    for (int64_t j = 0; j < o->dims[d]; j++) map[d][j] = pad_src(mode, j, begin[d], x->dims[d]);
  }
  cl_kdata_strides(x, xs);
  int64_t ol = o->dims[r - 1], rows = total / ol;
  const int64_t *ml = map[r - 1];
  const char *src = x->data;
  char *dst = o->data;
  for (int64_t row = 0; row < rows; row++, dst += (size_t)ol * es) {
    int64_t off = 0;
    bool outside = false;
    for (int q = 0; q < r - 1; q++) {
      int64_t s = map[q][c[q]];
      if (s < 0) outside = true;
      off += s * xs[q];
    }
    if (outside) {
      fill(dst, val, ol, es);
    } else if (es == 4) {
      const uint32_t *s = (const uint32_t *)(const void *)src + off, cv = *(const uint32_t *)(const void *)val;
      uint32_t *p = (uint32_t *)(void *)dst;
      for (int64_t j = 0; j < ol; j++) p[j] = ml[j] >= 0 ? s[ml[j]] : cv;
    } else {
      for (int64_t j = 0; j < ol; j++)
        memcpy(dst + (size_t)j * es, ml[j] >= 0 ? src + (size_t)(off + ml[j]) * es : (const char *)val, es);
    }
    for (int q = r - 2; q >= 0; q--) {
      if (++c[q] < o->dims[q]) break;
      c[q] = 0;
    }
  }
  cl_free(k->ctx, maps);
  return 0;
}

/* ---- DepthToSpace, SpaceToDepth: both are one 6-D strided view of the input ---- */

static void blocks_copy(cl_tensor *o, const void *src, const int64_t *dims6, const int64_t *st6) {
  cl_tensor v = {.dtype = o->dtype, .ndim = 6, .data = o->data, .nbytes = o->nbytes};
  memcpy(v.dims, dims6, sizeof(int64_t) * 6);
  cl_kdata_view_copy(&v, src, 0, st6);
}

CL_KDATA_KERNEL(cl_kdata_depth_to_space) {
  const cl_tensor *x = in[0];
  int64_t b = cl_attr_int(n, "blocksize", 1), N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  int64_t c = C / (b * b), hw = H * W;
  /* output viewed as [N, C/b^2, H, b, W, b] */
  int64_t dims[6] = {N, c, H, b, W, b};
  if (strcmp(cl_attr_str(n, "mode", "DCR"), "CRD") == 0) {
    int64_t st[6] = {C * hw, b * b * hw, W, b * hw, 1, hw}; /* input as [N, C', b, b, H, W] */
    blocks_copy(out[0], x->data, dims, st);
  } else {
    int64_t st[6] = {C * hw, hw, W, b * c * hw, 1, c * hw}; /* input as [N, b, b, C', H, W] */
    blocks_copy(out[0], x->data, dims, st);
  }
  return 0;
}

CL_KDATA_KERNEL(cl_kdata_space_to_depth) {
  const cl_tensor *x = in[0];
  int64_t b = cl_attr_int(n, "blocksize", 1), N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  /* output viewed as [N, b, b, C, H/b, W/b]; input element [n, c, h*b + i, w*b + j] */
  int64_t dims[6] = {N, b, b, C, H / b, W / b}, st[6] = {C * H * W, W, 1, H * W, b * W, b};
  blocks_copy(out[0], x->data, dims, st);
  return 0;
}
