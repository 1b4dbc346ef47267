/* tools: NumPy .npy reader and writer. The header is a Python dict literal; only the three keys NumPy writes are
 * accepted, and anything else is a clear error. */
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *descr;
  cleave_dtype dtype;
} types[] = {
    {"<f4", CLEAVE_DTYPE_FLOAT32}, {"<f8", CLEAVE_DTYPE_FLOAT64}, {"<i8", CLEAVE_DTYPE_INT64},
    {"<i4", CLEAVE_DTYPE_INT32},   {"|b1", CLEAVE_DTYPE_BOOL},    {"|u1", CLEAVE_DTYPE_UINT8},
    {"|i1", CLEAVE_DTYPE_INT8},    {"<f2", CLEAVE_DTYPE_FLOAT16}, {"<u4", CLEAVE_DTYPE_UINT32},
    {"<u8", CLEAVE_DTYPE_UINT64},  {"<i2", CLEAVE_DTYPE_INT16},   {"<u2", CLEAVE_DTYPE_UINT16},
};

static int fail(char *err, size_t len, int code, const char *path, const char *what) {
  snprintf(err, len, "%s: %s", path, what);
  return code;
}

/* Finds 'key': in the header and returns a pointer just past the colon and spaces. */
static const char *find_key(const char *h, const char *key) {
  char pat[32];
  snprintf(pat, sizeof pat, "'%s':", key);
  const char *p = strstr(h, pat);
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ') p++;
  return p;
}

int npy_read(const char *path, cleave_tensor *t, char *err, size_t err_len) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_len, "%s: %s", path, strerror(errno));
    return CLEAVE_EIO;
  }
  int rc = 0;
  char *hdr = NULL;
  unsigned char pre[12];
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "not a .npy file (bad magic)");
    goto out;
  }
  size_t hlen;
  if (pre[6] == 1) {
    hlen = pre[8] | (size_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      rc = fail(err, err_len, CLEAVE_EPARSE, path, "truncated header");
      goto out;
    }
    hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "unsupported .npy version");
    goto out;
  }
  if (hlen > 65536) {
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "header too long");
    goto out;
  }
  hdr = calloc(1, hlen + 1);
  if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "truncated header");
    goto out;
  }
  const char *d = find_key(hdr, "descr"), *fo = find_key(hdr, "fortran_order"), *sh = find_key(hdr, "shape");
  if (!d || !fo || !sh || *d != '\'' || *sh != '(') {
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "header lacks descr, fortran_order or shape");
    goto out;
  }
  if (strncmp(fo, "False", 5) != 0) {
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "Fortran-order arrays are not supported");
    goto out;
  }
  t->dtype = CLEAVE_DTYPE_UNDEFINED;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strncmp(d + 1, types[i].descr, 3) == 0 && d[4] == '\'') t->dtype = types[i].dtype;
  if (t->dtype == CLEAVE_DTYPE_UNDEFINED) {
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "unsupported dtype (need little-endian f4/f8/i4/i8/b1/...)");
    goto out;
  }
  const char *p = sh + 1;
  int64_t numel = 1;
  while (1) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 0 || t->ndim == CLEAVE_MAX_DIMS || (v && numel > (INT64_C(1) << 40) / v)) {
      rc = fail(err, err_len, CLEAVE_EPARSE, path, "bad or too large shape");
      goto out;
    }
    t->dims[t->ndim++] = v;
    numel *= v;
    p = end;
  }
  size_t bytes = (size_t)numel * cleave_dtype_size(t->dtype);
  t->data = malloc(bytes ? bytes : 1);
  if (!t->data) {
    rc = fail(err, err_len, CLEAVE_ENOMEM, path, "out of memory");
    goto out;
  }
  if (fread(t->data, 1, bytes, f) != bytes) {
    free(t->data);
    t->data = NULL;
    rc = fail(err, err_len, CLEAVE_EPARSE, path, "data shorter than the shape says");
    goto out;
  }
  t->nbytes = bytes;
out:
  free(hdr);
  fclose(f);
  return rc;
}

int npy_write(const char *path, const cleave_tensor *t, char *err, size_t err_len) {
  const char *descr = NULL;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (types[i].dtype == t->dtype) descr = types[i].descr;
  if (!descr) return fail(err, err_len, CLEAVE_EINVAL, path, "dtype has no .npy equivalent");
  char dict[512], shape[256] = "";
  size_t o = 0;
  for (int i = 0; i < t->ndim; i++)
    o += (size_t)snprintf(shape + o, sizeof shape - o, "%lld,%s", (long long)t->dims[i],
                          (i + 1 < t->ndim || t->ndim == 1) ? " " : "");
  if (t->ndim > 1) shape[o - 1] = 0; /* numpy writes (1, 2) but (3,) */
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
  size_t total = 10 + (size_t)n + 1;
  size_t pad = (64 - total % 64) % 64;
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, err_len, "%s: %s", path, strerror(errno));
    return CLEAVE_EIO;
  }
  size_t hlen = (size_t)n + pad + 1;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
  for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF && fwrite(t->data, 1, t->nbytes, f) == t->nbytes;
  if (fclose(f) != 0) ok = 0;
  if (!ok) return fail(err, err_len, CLEAVE_EIO, path, "write failed");
  return 0;
}
