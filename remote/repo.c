/* remote: the gateway's model repository (see repo.h). */
#include "remote/repo.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ir/ctx.h"

struct cl_repo {
  cleave_ctx *ctx;
  char *dir;
  cl_repo_entry **e;
  int n, cap;
};

void cl_sha256_hex(const void *data, size_t len, char hex[CL_SHA256_HEX]) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  for (unsigned i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  hex[64] = 0;
}

bool cl_repo_valid_name(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 128 || s[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

static void entry_free(cl_repo_entry *e) {
  if (!e) return;
  if (e->user_free) e->user_free(e->user);
  cleave_model_free(e->model);
  free(e->name);
  free(e->version);
  free(e->path);
  free(e);
}

void cl_repo_free(cl_repo *r) {
  if (!r) return;
  for (int i = 0; i < r->n; i++)
    entry_free(r->e[i]);
  free(r->e);
  free(r->dir);
  free(r);
}

static int add_entry(cl_repo *r, cl_repo_entry *e) {
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 16;
    cl_repo_entry **p = realloc(r->e, sizeof *p * (size_t)cap);
    if (!p) return CLEAVE_ENOMEM;
    r->e = p;
    r->cap = cap;
  }
  r->e[r->n++] = e;
  return 0;
}

/* Reads a whole file; NULL with errno set on failure. */
static void *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  void *buf = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      buf = NULL;
      errno = EIO;
    }
    *len = (size_t)(n > 0 ? n : 0);
  }
  fclose(f);
  return buf;
}

static void load_one(cl_repo *r, const char *name, const char *version) {
  cleave_ctx *ctx = r->ctx;
  size_t plen = strlen(r->dir) + strlen(name) + strlen(version) + 16;
  char *path = malloc(plen);
  if (!path) return;
  snprintf(path, plen, "%s/%s/%s/model.onnx", r->dir, name, version);
  size_t len = 0;
  void *bytes = read_file(path, &len);
  if (!bytes) {
    if (errno != ENOENT) cl_log(ctx, CLEAVE_LOG_WARN, "model %s: %s", path, strerror(errno));
    free(path);
    return;
  }
  cl_repo_entry *e = calloc(1, sizeof *e);
  int rc = CLEAVE_ENOMEM;
  if (!e || !(e->name = strdup(name)) || !(e->version = strdup(version))) goto fail;
  e->path = path;
  path = NULL;
  cl_sha256_hex(bytes, len, e->sha256);
  if ((rc = cleave_model_load_memory(ctx, bytes, len, NULL, &e->model))) {
    cl_log(ctx, CLEAVE_LOG_WARN, "model %s skipped: %s", e->path, cleave_ctx_last_error(ctx));
    goto fail;
  }
  if ((rc = add_entry(r, e))) goto fail;
  cl_log(ctx, CLEAVE_LOG_INFO, "model %s version %s (sha256 %.12s...) loaded", name, version, e->sha256);
  free(bytes);
  return;
fail:
  if (rc == CLEAVE_ENOMEM) cl_log(ctx, CLEAVE_LOG_WARN, "model %s/%s skipped: out of memory", name, version);
  entry_free(e);
  free(path);
  free(bytes);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names of the subfolders of dir that are valid names, sorted (so that loading order is stable). */
static char **list_dirs(const char *dir, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **names = NULL;
  int cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!cl_repo_valid_name(de->d_name)) continue;
    char sub[4096];
    struct stat st;
    snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
    if (stat(sub, &st) || !S_ISDIR(st.st_mode)) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 8;
      char **p = realloc(names, sizeof *p * (size_t)cap);
      if (!p) break;
      names = p;
    }
    if (!(names[*n] = strdup(de->d_name))) break;
    (*n)++;
  }
  closedir(d);
  if (names) qsort(names, (size_t)*n, sizeof *names, cmp_str);
  return names;
}

static void free_list(char **l, int n) {
  for (int i = 0; i < n; i++)
    free(l[i]);
  free(l);
}

int cl_repo_open(cleave_ctx *ctx, const char *dir, cl_repo **out) {
  *out = NULL;
  cl_repo *r = calloc(1, sizeof *r);
  if (!r) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  r->ctx = ctx;
  if (!dir) {
    *out = r;
    return 0;
  }
  if (!(r->dir = strdup(dir))) {
    free(r);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  DIR *d = opendir(dir);
  if (!d) {
    int e = errno;
    cl_repo_free(r);
    return cl_err(ctx, CLEAVE_EIO, "model repository %s: %s", dir, strerror(e));
  }
  closedir(d);
  int n_models;
  char **models = list_dirs(dir, &n_models);
  for (int m = 0; m < n_models; m++) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", dir, models[m]);
    int n_versions;
    char **versions = list_dirs(sub, &n_versions);
    for (int v = 0; v < n_versions; v++)
      load_one(r, models[m], versions[v]);
    free_list(versions, n_versions);
  }
  free_list(models, n_models);
  *out = r;
  return 0;
}

static bool numeric(const char *s, long long *v) {
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return *s && !*end && !errno;
}

cl_repo_entry *cl_repo_find(const cl_repo *r, const char *name, const char *version) {
  cl_repo_entry *best = NULL;
  long long best_v = -1;
  for (int i = 0; i < r->n; i++) {
    cl_repo_entry *e = r->e[i];
    if (strcmp(e->name, name) != 0) continue;
    if (version) {
      if (strcmp(e->version, version) == 0 || strcmp(e->sha256, version) == 0) return e;
      continue;
    }
    long long v;
    if (numeric(e->version, &v)) {
      if (v >= best_v) best = e, best_v = v;
    } else if (best_v < 0) {
      best = e;
    }
  }
  return best;
}

bool cl_repo_has_model(const cl_repo *r, const char *name) { return cl_repo_find(r, name, NULL) != NULL; }
int cl_repo_count(const cl_repo *r) { return r->n; }
cl_repo_entry *cl_repo_at(const cl_repo *r, int i) { return i >= 0 && i < r->n ? r->e[i] : NULL; }
const char *cl_repo_dir(const cl_repo *r) { return r->dir; }

static void fail_upload(cl_repo_upload *up, int status, const char *fmt, const char *a, const char *b) {
  up->status = status;
  snprintf(up->message, sizeof up->message, fmt, a, b);
}

void cl_repo_upload_check(cleave_ctx *ctx, const char *dir, cl_repo_upload *up) {
  char got[CL_SHA256_HEX];
  cl_sha256_hex(up->data, up->len, got);
  if (strcmp(got, up->sha256) != 0) {
    fail_upload(up, 400, "hash mismatch: the body's sha256 is %s, not the %s the path names", got, up->sha256);
    return;
  }
  /* this runs on a worker thread: the loader's errors go to a buffer of its own */
  char why[CL_ERRMSG_MAX];
  cl_err_bind(why, sizeof why);
  int rc = cleave_model_load_memory(ctx, up->data, up->len, NULL, &up->model);
  cl_err_bind(NULL, 0);
  if (rc) {
    fail_upload(up, rc == CLEAVE_ENOMEM ? 500 : 400, "the uploaded model does not load: %s%s", why, "");
    return;
  }
  size_t n = strlen(dir) + strlen(up->name) + 2 * CL_SHA256_HEX + 32;
  char *folder = malloc(n), *tmp = malloc(n);
  up->path = malloc(n);
  if (!folder || !tmp || !up->path) {
    fail_upload(up, 500, "out of memory%s%s", "", "");
    goto out;
  }
  snprintf(folder, n, "%s/%s", dir, up->name);
  if (mkdir(folder, 0755) && errno != EEXIST) {
    fail_upload(up, 500, "cannot create %s: %s", folder, strerror(errno));
    goto out;
  }
  snprintf(folder, n, "%s/%s/%s", dir, up->name, up->sha256);
  if (mkdir(folder, 0755) && errno != EEXIST) {
    fail_upload(up, 500, "cannot create %s: %s", folder, strerror(errno));
    goto out;
  }
  snprintf(tmp, n, "%s/.model.onnx.XXXXXX", folder);
  snprintf(up->path, n, "%s/model.onnx", folder);
  /* written whole under a name of its own first, so that a crash never leaves a partial model.onnx behind and two
   * uploads of the same model at once (each renames its own file; the bytes are the same) never meet */
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (fd >= 0 && !f) close(fd);
  bool ok = f && fchmod(fd, 0644) == 0 && fwrite(up->data, 1, up->len, f) == up->len;
  if (f && fclose(f)) ok = false;
  if (!ok || rename(tmp, up->path)) {
    fail_upload(up, 500, "cannot write %s: %s", tmp, strerror(errno));
    unlink(tmp);
    goto out;
  }
  up->status = 201;
out:
  free(folder);
  free(tmp);
}

cl_repo_entry *cl_repo_upload_finish(cl_repo *r, cl_repo_upload *up) {
  cl_repo_entry *e = NULL;
  if (up->status == 201 && (e = calloc(1, sizeof *e)) && (e->name = strdup(up->name)) &&
      (e->version = strdup(up->sha256))) {
    memcpy(e->sha256, up->sha256, CL_SHA256_HEX);
    e->path = up->path;
    e->model = up->model;
    up->path = NULL;
    up->model = NULL;
    if (add_entry(r, e) == 0) {
      cl_log(r->ctx, CLEAVE_LOG_INFO, "model %s version %s uploaded", e->name, e->version);
      return e;
    }
  }
  if (up->status == 201) {
    up->status = 500;
    snprintf(up->message, sizeof up->message, "out of memory");
  }
  entry_free(e);
  cleave_model_free(up->model);
  free(up->path);
  up->model = NULL;
  up->path = NULL;
  return NULL;
}
