/* tests/remote: what the HTTP/2 client's tests share: certificates made on the fly, a cl_h2_server on its own
 * thread and loop, a raw HTTP/2 server that misbehaves on purpose, and loop helpers bounded in time.
 * Header-only (static inline) so that each test program takes what it uses. */
#ifndef CLEAVE_TESTS_H2_CLIENT_TESTKIT_H
#define CLEAVE_TESTS_H2_CLIENT_TESTKIT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "cleave.h"
#include "core/ir/ctx.h"
#include "remote/h2_client.h"
#include "remote/h2_server.h"
#include "remote/tls.h"

/* ---- certificates ---- */

typedef struct kit_pki {
  char dir[64];
  char ca[128], cert[128], key[128];      /* server certificate for localhost and 127.0.0.1 */
  char wrong_cert[128], wrong_key[128];   /* signed by the CA, but for another name only */
  char client_cert[128], client_key[128]; /* for mTLS */
  char other_ca[128];                     /* a CA that signed none of these */
} kit_pki;

static inline EVP_PKEY *kit_key(void) { return EVP_EC_gen("P-256"); }

static inline void kit_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (ext) X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

static inline X509 *kit_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer, EVP_PKEY *issuer_key,
                             long serial) {
  X509 *c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
  X509_gmtime_adj(X509_getm_notBefore(c), -60);
  X509_gmtime_adj(X509_getm_notAfter(c), 3600);
  X509_set_pubkey(c, key);
  X509_NAME *name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
  if (!issuer) {
    kit_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
    kit_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else if (san) {
    kit_ext(c, issuer, NID_subject_alt_name, san);
  }
  X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256());
  return c;
}

static inline int kit_pem(const char *path, X509 *cert, EVP_PKEY *key) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  int ok = (!cert || PEM_write_X509(f, cert) == 1) &&
           (!key || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
  fclose(f);
  return ok ? 0 : -1;
}

static inline kit_pki *kit_pki_new(void) {
  kit_pki *p = calloc(1, sizeof *p);
  snprintf(p->dir, sizeof p->dir, "/tmp/cleave-h2c-XXXXXX");
  if (!mkdtemp(p->dir)) {
    free(p);
    return NULL;
  }
#define PATH(f, n) snprintf(p->f, sizeof p->f, "%s/" n, p->dir)
  PATH(ca, "ca.pem");
  PATH(cert, "server.pem");
  PATH(key, "server.key");
  PATH(wrong_cert, "wrong.pem");
  PATH(wrong_key, "wrong.key");
  PATH(client_cert, "client.pem");
  PATH(client_key, "client.key");
  PATH(other_ca, "other-ca.pem");
#undef PATH
  EVP_PKEY *ca_key = kit_key(), *key = kit_key(), *wkey = kit_key(), *ckey = kit_key(), *okey = kit_key();
  X509 *ca = kit_cert(ca_key, "cleave test CA", NULL, NULL, NULL, 1);
  X509 *cert = kit_cert(key, "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", ca, ca_key, 2);
  X509 *wrong = kit_cert(wkey, "elsewhere.invalid", "DNS:elsewhere.invalid", ca, ca_key, 3);
  X509 *client = kit_cert(ckey, "cleave test client", "DNS:client.invalid", ca, ca_key, 4);
  X509 *other = kit_cert(okey, "another CA", NULL, NULL, NULL, 5);
  int rc = kit_pem(p->ca, ca, NULL) | kit_pem(p->cert, cert, NULL) | kit_pem(p->key, NULL, key) |
           kit_pem(p->wrong_cert, wrong, NULL) | kit_pem(p->wrong_key, NULL, wkey) |
           kit_pem(p->client_cert, client, NULL) | kit_pem(p->client_key, NULL, ckey) |
           kit_pem(p->other_ca, other, NULL);
  X509_free(ca);
  X509_free(cert);
  X509_free(wrong);
  X509_free(client);
  X509_free(other);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(key);
  EVP_PKEY_free(wkey);
  EVP_PKEY_free(ckey);
  EVP_PKEY_free(okey);
  if (rc) {
    free(p);
    return NULL;
  }
  return p;
}

static inline void kit_pki_free(kit_pki *p) {
  const char *files[] = {p->ca,        p->cert,        p->key,        p->wrong_cert,
                         p->wrong_key, p->client_cert, p->client_key, p->other_ca};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    unlink(files[i]);
  rmdir(p->dir);
  free(p);
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
static inline int kit_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

/* ---- the loop, bounded ---- */

static inline void kit_tick(uv_timer_t *t) { (void)t; }
static inline void kit_closed_flag(uv_handle_t *h) { *(int *)h->data = 1; }

/* Runs loop until *count >= want or ms pass; a ticking timer keeps each iteration short. */
static inline void kit_run_until(uv_loop_t *loop, const int *count, int want, int ms) {
  uv_timer_t tick;
  int closed = 0;
  uv_timer_init(loop, &tick);
  tick.data = &closed;
  uv_timer_start(&tick, kit_tick, 5, 5);
  double end = cl_now_ms() + ms;
  while (*count < want && cl_now_ms() < end)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, kit_closed_flag);
  for (int i = 0; i < 100 && !closed; i++)
    uv_run(loop, UV_RUN_NOWAIT);
}

static inline void kit_sleep_loop(uv_loop_t *loop, int ms) {
  int never = 0;
  kit_run_until(loop, &never, 1, ms);
}

static inline void kit_done_flag(void *arg) { (*(int *)arg)++; }

/* ---- one request's outcome ---- */

typedef struct kit_result {
  int calls, err, status;
  size_t len;
  uint8_t *body; /* a copy when keep_body */
  bool keep_body;
  char msg[512];
  char auth[128], ctype[64];
  cleave_ctx *ctx;
  int *counter; /* incremented too, if set */
} kit_result;

static inline void kit_on_reply(void *user, int err, const cl_h2_reply *r) {
  kit_result *x = user;
  x->calls++;
  if (x->counter) (*x->counter)++;
  x->err = err;
  if (err) {
    snprintf(x->msg, sizeof x->msg, "%s", cleave_ctx_last_error(x->ctx));
    return;
  }
  x->status = r->status;
  x->len = r->body_len;
  for (int i = 0; i < r->n_headers; i++) {
    if (strcmp(r->headers[i].name, "content-type") == 0)
      snprintf(x->ctype, sizeof x->ctype, "%s", r->headers[i].value);
  }
  if (x->keep_body && r->body_len) {
    x->body = malloc(r->body_len);
    memcpy(x->body, r->body, r->body_len);
  } else if (r->body_len < sizeof x->auth) {
    memcpy(x->auth, r->body, r->body_len);
    x->auth[r->body_len] = 0;
  }
}

/* ---- a cl_h2_server on its own thread ---- */

typedef struct kit_server {
  pthread_t th;
  uv_loop_t loop;
  uv_async_t stop;
  cleave_ctx *ctx;
  SSL_CTX *tls;
  cl_h2_server *srv;
  int port; /* wanted (0: any), then the bound one; -1 when it failed */
  const char *cert, *key, *client_ca;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool ready;
  atomic_int not_ready; /* /v2/health/ready answers 503 while set */
  atomic_int requests;
} kit_server;

/* /v2/health/ready, /echo (the body back), /whoami (the authorization header back, with a load hint) */
static inline void kit_handler(void *user, const cl_h2_request *req, cl_h2_response *res) {
  kit_server *s = user;
  atomic_fetch_add(&s->requests, 1);
  if (strcmp(req->path, "/v2/health/ready") == 0) {
    res->status = atomic_load(&s->not_ready) ? 503 : 200;
  } else if (strcmp(req->path, "/echo") == 0) {
    res->status = 200;
    res->content_type = "application/octet-stream";
    if (req->body_len && (res->body = cl_malloc(s->ctx, req->body_len))) {
      memcpy(res->body, req->body, req->body_len);
      res->body_len = req->body_len;
    } else if (req->body_len) {
      res->status = 500;
    }
  } else if (strcmp(req->path, "/whoami") == 0) {
    const char *a = cl_h2_request_header(req, "authorization");
    res->status = 200;
    res->content_type = "text/plain";
    res->body = cl_strdup(s->ctx, a ? a : "-");
    res->body_len = res->body ? strlen(res->body) : 0;
    res->extra[res->n_extra++] = (cl_h2_header){"cleave-load", "queue=3; running=2; wait-ms=12.5"};
  } else {
    cl_h2_error(s->ctx, res, 404, "no such path");
  }
}

static inline void kit_server_stop_cb(uv_async_t *a) {
  kit_server *s = a->data;
  cl_h2_server_shutdown(s->srv, NULL, NULL);
  uv_close((uv_handle_t *)&s->stop, NULL);
}

static inline void *kit_server_main(void *arg) {
  kit_server *s = arg;
  int port = -1;
  cl_tls_config tc = {.server = true,
                      .cert_file = s->cert,
                      .key_file = s->key,
                      .ca_file = s->client_ca,
                      .verify_peer = s->client_ca != NULL};
  uv_loop_init(&s->loop);
  if (!cleave_ctx_new(&s->ctx, &s->loop, NULL) && !cl_tls_ctx_new(s->ctx, &tc, &s->tls)) {
    cl_h2_server_config cfg = {.host = "127.0.0.1",
                               .port = s->port,
                               .tls = s->tls,
                               .max_body = (size_t)64 << 20,
                               .handler = kit_handler,
                               .user = s};
    if (!cl_h2_server_new(s->ctx, &s->loop, &cfg, &s->srv)) port = cl_h2_server_port(s->srv);
  }
  if (port > 0) {
    uv_async_init(&s->loop, &s->stop, kit_server_stop_cb);
    s->stop.data = s;
  }
  pthread_mutex_lock(&s->mu);
  s->port = port;
  s->ready = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (port > 0) uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* Starts a server on 127.0.0.1:port (0: any); client_ca set: client certificates required. NULL on failure. */
static inline kit_server *kit_server_start(const kit_pki *p, int port, const char *cert, const char *key,
                                           const char *client_ca) {
  kit_server *s = calloc(1, sizeof *s);
  s->port = port;
  s->cert = cert ? cert : p->cert;
  s->key = key ? key : p->key;
  s->client_ca = client_ca;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_create(&s->th, NULL, kit_server_main, s);
  pthread_mutex_lock(&s->mu);
  while (!s->ready)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  if (s->port <= 0) {
    pthread_join(s->th, NULL);
    fprintf(stderr, "test server: %s\n", s->ctx ? cleave_ctx_last_error(s->ctx) : "no context");
    /* what was made is freed by kit_server_stop's tail */
  }
  return s;
}

/* Graceful shutdown (open streams finish), then everything freed. */
static inline void kit_server_stop(kit_server *s) {
  if (!s) return;
  if (s->port > 0) {
    uv_async_send(&s->stop);
    pthread_join(s->th, NULL);
  } else if (s->srv) {
    cl_h2_server_shutdown(s->srv, NULL, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&s->loop);
  cl_tls_ctx_free(s->tls);
  cleave_ctx_free(s->ctx);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

/* ---- a raw HTTP/2 server that misbehaves (blocking sockets on its own thread) ---- */

typedef enum kit_fault {
  FAULT_SILENT,    /* reads requests, never answers */
  FAULT_RESET_MID, /* answers headers and part of the body, then resets the TCP connection */
  FAULT_NO_ALPN,   /* completes TLS without choosing a protocol */
  FAULT_BAD_FRAME, /* answers a request with a frame that breaks HTTP/2 */
  FAULT_GOAWAY,    /* refuses every request with GOAWAY (last stream 0) */
} kit_fault;

typedef struct kit_fault_server {
  pthread_t th;
  int lfd, port;
  kit_fault mode;
  SSL_CTX *tls;
  atomic_int stop;
  atomic_int requests; /* request HEADERS seen */
  atomic_int rst_code; /* 1 + the error code of the last RST_STREAM received, 0 if none */
  int fd;
  SSL *ssl;
  bool kill_now;
} kit_fault_server;

static inline int kit_alpn_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                              unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  static const unsigned char h2[] = {2, 'h', '2'};
  return SSL_select_next_proto((unsigned char **)out, outlen, h2, sizeof h2, in, inlen) == OPENSSL_NPN_NEGOTIATED
             ? SSL_TLSEXT_ERR_OK
             : SSL_TLSEXT_ERR_ALERT_FATAL;
}

static inline ssize_t kit_f_send(nghttp2_session *h2, const uint8_t *data, size_t len, int flags, void *user) {
  (void)h2;
  (void)flags;
  kit_fault_server *f = user;
  int n = SSL_write(f->ssl, data, (int)len);
  return n > 0 ? n : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static inline ssize_t kit_f_part(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                                 nghttp2_data_source *src, void *user) {
  (void)h2;
  (void)id;
  (void)flags;
  kit_fault_server *f = user;
  if (src->ptr == NULL) return NGHTTP2_ERR_DEFERRED; /* the rest never comes */
  size_t n = len < 30000 ? len : 30000;
  memset(buf, 'x', n);
  src->ptr = NULL;
  f->kill_now = true;
  return (ssize_t)n;
}

static inline int kit_f_frame(nghttp2_session *h2, const nghttp2_frame *fr, void *user) {
  kit_fault_server *f = user;
  if (fr->hd.type == NGHTTP2_RST_STREAM) atomic_store(&f->rst_code, (int)fr->rst_stream.error_code + 1);
  if (fr->hd.type == NGHTTP2_HEADERS && fr->headers.cat == NGHTTP2_HCAT_REQUEST) {
    atomic_fetch_add(&f->requests, 1);
    if (f->mode == FAULT_GOAWAY) {
      /* and the connection stays open: the client closes it once it has nothing left on it */
      nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
    }
  }
  if ((fr->hd.type == NGHTTP2_HEADERS || fr->hd.type == NGHTTP2_DATA) && (fr->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    if (f->mode == FAULT_RESET_MID) {
      nghttp2_nv nv[] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
                         {(uint8_t *)"content-length", (uint8_t *)"1000000", 14, 7, 0}};
      nghttp2_data_provider dp = {.source.ptr = f, .read_callback = kit_f_part};
      nghttp2_submit_response(h2, fr->hd.stream_id, nv, 2, &dp);
    } else if (f->mode == FAULT_BAD_FRAME) {
      /* a response HEADERS frame without :status: nghttp2 sends it, the client must reject it */
      nghttp2_nv nv[] = {{(uint8_t *)"x-no-status", (uint8_t *)"1", 11, 1, 0}};
      nghttp2_submit_headers(h2, NGHTTP2_FLAG_END_STREAM, fr->hd.stream_id, NULL, nv, 1, NULL);
    }
  }
  return 0;
}

static inline void kit_fault_conn(kit_fault_server *f, int fd) {
  f->fd = fd;
  f->ssl = SSL_new(f->tls);
  SSL_set_fd(f->ssl, fd);
  nghttp2_session *h2 = NULL;
  if (SSL_accept(f->ssl) != 1) goto out;
  if (f->mode != FAULT_NO_ALPN) {
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, kit_f_send);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, kit_f_frame);
    nghttp2_session_server_new(&h2, cb, f);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, iv, 1);
    nghttp2_session_send(h2);
  }
  f->kill_now = false;
  while (!atomic_load(&f->stop)) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (SSL_pending(f->ssl) == 0 && poll(&pfd, 1, 20) <= 0) continue;
    uint8_t buf[16384];
    int n = SSL_read(f->ssl, buf, sizeof buf);
    if (n <= 0) {
      int e = SSL_get_error(f->ssl, n);
      if (e == SSL_ERROR_WANT_READ) continue;
      break;
    }
    if (!h2) continue;
    if (nghttp2_session_mem_recv(h2, buf, (size_t)n) < 0) break;
    if (nghttp2_session_send(h2)) break;
    if (f->kill_now) {
      /* an abortive close once the client has read the start of the body (a reset discards what the client's
       * kernel holds unread): the client sees a reset in the middle of the body */
      usleep(100 * 1000);
      struct linger lg = {.l_onoff = 1, .l_linger = 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      break;
    }
  }
out:
  if (h2) nghttp2_session_del(h2);
  SSL_free(f->ssl);
  f->ssl = NULL;
  close(fd);
}

static inline void *kit_fault_main(void *arg) {
  kit_fault_server *f = arg;
  while (!atomic_load(&f->stop)) {
    struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 20) <= 0) continue;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd >= 0) kit_fault_conn(f, fd);
  }
  return NULL;
}

static inline kit_fault_server *kit_fault_start(const kit_pki *p, kit_fault mode) {
  kit_fault_server *f = calloc(1, sizeof *f);
  f->mode = mode;
  f->tls = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate_chain_file(f->tls, p->cert);
  SSL_CTX_use_PrivateKey_file(f->tls, p->key, SSL_FILETYPE_PEM);
  if (mode != FAULT_NO_ALPN) SSL_CTX_set_alpn_select_cb(f->tls, kit_alpn_h2, NULL);
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) || listen(f->lfd, 16) ||
      getsockname(f->lfd, (struct sockaddr *)&a, &len)) {
    close(f->lfd);
    SSL_CTX_free(f->tls);
    free(f);
    return NULL;
  }
  f->port = ntohs(a.sin_port);
  pthread_create(&f->th, NULL, kit_fault_main, f);
  return f;
}

static inline void kit_fault_stop(kit_fault_server *f) {
  if (!f) return;
  atomic_store(&f->stop, 1);
  pthread_join(f->th, NULL);
  close(f->lfd);
  SSL_CTX_free(f->tls);
  free(f);
}

#endif
