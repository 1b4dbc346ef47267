/* remote: the gateway's configuration file (see gateway.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/gateway.h"

void cl_gateway_config_defaults(cl_gateway_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
  cfg->port = 8443;
  snprintf(cfg->backend, sizeof cfg->backend, "cpu");
  cfg->max_concurrency = 2;
  cfg->queue_length = 64;
  cfg->max_request_bytes = (size_t)256 << 20;
  cfg->batch_window_ms = 2;
  cfg->max_batch = 8;
  cfg->allow_upload = true;
}

int cl_gateway_config_listen(cleave_ctx *ctx, cl_gateway_config *cfg, const char *s) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s) return cl_err(ctx, CLEAVE_EINVAL, "listen '%s': expected HOST:PORT", s);
  size_t n = (size_t)(colon - s);
  const char *h = s;
  if (h[0] == '[' && n >= 2 && h[n - 1] == ']') h++, n -= 2; /* [::1]:443 */
  if (n == 0 || n >= sizeof cfg->host) return cl_err(ctx, CLEAVE_EINVAL, "listen '%s': bad host", s);
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || errno || p < 0 || p > 65535)
    return cl_err(ctx, CLEAVE_EINVAL, "listen '%s': the port must be 0..65535", s);
  memcpy(cfg->host, h, n);
  cfg->host[n] = 0;
  cfg->port = (int)p;
  return 0;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = 0;
  return s;
}

static int set_str(char *dst, size_t cap, const char *v) {
  if (strlen(v) >= cap) return -1;
  snprintf(dst, cap, "%s", v);
  return 0;
}

static int set_int(int *dst, const char *v, long lo, long hi) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (!*v || *end || errno || x < lo || x > hi) return -1;
  *dst = (int)x;
  return 0;
}

/* One "key = value"; -1 for a bad value, -2 for an unknown key. */
static int apply(cleave_ctx *ctx, cl_gateway_config *cfg, const char *k, const char *v) {
  if (strcmp(k, "listen") == 0) return cl_gateway_config_listen(ctx, cfg, v) ? -1 : 0;
  if (strcmp(k, "cert") == 0) return set_str(cfg->cert, sizeof cfg->cert, v);
  if (strcmp(k, "key") == 0) return set_str(cfg->key, sizeof cfg->key, v);
  if (strcmp(k, "client_ca") == 0) return set_str(cfg->client_ca, sizeof cfg->client_ca, v);
  if (strcmp(k, "models") == 0) return set_str(cfg->models, sizeof cfg->models, v);
  if (strcmp(k, "backend") == 0) return set_str(cfg->backend, sizeof cfg->backend, v);
  if (strcmp(k, "access_log") == 0) return set_str(cfg->access_log, sizeof cfg->access_log, v);
  if (strcmp(k, "profile") == 0) return set_str(cfg->profile, sizeof cfg->profile, v);
  if (strcmp(k, "token") == 0) {
    if (cfg->n_tokens == CL_GATEWAY_MAX_TOKENS || !*v) return -1;
    return set_str(cfg->tokens[cfg->n_tokens++], sizeof cfg->tokens[0], v);
  }
  if (strcmp(k, "max_concurrency") == 0) return set_int(&cfg->max_concurrency, v, 1, 256);
  if (strcmp(k, "threads") == 0) return set_int(&cfg->threads, v, 0, 1024);
  if (strcmp(k, "queue_length") == 0) return set_int(&cfg->queue_length, v, 0, 1 << 20);
  if (strcmp(k, "max_batch") == 0) return set_int(&cfg->max_batch, v, 1, 1024);
  if (strcmp(k, "max_request_bytes") == 0) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || x < 1024 || x > ((unsigned long long)1 << 40)) return -1;
    cfg->max_request_bytes = (size_t)x;
    return 0;
  }
  if (strcmp(k, "batch_window_ms") == 0) {
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= 0 && x <= 10000)) return -1;
    cfg->batch_window_ms = x;
    return 0;
  }
  if (strcmp(k, "allow_upload") == 0) {
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
      cfg->allow_upload = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
      cfg->allow_upload = false;
    else
      return -1;
    return 0;
  }
  return -2;
}

int cl_gateway_config_load(cleave_ctx *ctx, const char *path, cl_gateway_config *cfg) {
  FILE *f = fopen(path, "r");
  if (!f) return cl_err(ctx, CLEAVE_EIO, "config %s: %s", path, strerror(errno));
  char line[2048];
  int no = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    no++;
    if (!strchr(line, '\n') && !feof(f)) {
      rc = cl_err(ctx, CLEAVE_EPARSE, "%s:%d: line too long", path, no);
      break;
    }
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *s = trim(line);
    if (!*s) continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = cl_err(ctx, CLEAVE_EPARSE, "%s:%d: expected \"key = value\"", path, no);
      break;
    }
    *eq = 0;
    char *k = trim(s), *v = trim(eq + 1);
    int r = apply(ctx, cfg, k, v);
    if (r == -2) {
      rc = cl_err(ctx, CLEAVE_EPARSE, "%s:%d: unknown key '%s'", path, no, k);
      break;
    }
    if (r) {
      rc = cl_err(ctx, CLEAVE_EPARSE, "%s:%d: bad value for %s: '%s'", path, no, k, v);
      break;
    }
  }
  fclose(f);
  return rc;
}
