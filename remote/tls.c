/* remote: TLS over memory BIOs (see tls.h). */
#include "remote/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

/* The first queued OpenSSL error as text, and the queue cleared: errors must not leak into the next call. */
static const char *ossl_reason(char *buf, size_t len) {
  unsigned long e = ERR_get_error();
  if (!e) {
    snprintf(buf, len, "no detail from OpenSSL");
  } else {
    ERR_error_string_n(e, buf, len);
  }
  ERR_clear_error();
  return buf;
}

static const unsigned char alpn_h2[] = {2, 'h', '2'};

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  /* h2 or nothing: a client that cannot speak HTTP/2 gets a handshake alert */
  if (SSL_select_next_proto((unsigned char **)out, outlen, alpn_h2, sizeof alpn_h2, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  return SSL_TLSEXT_ERR_OK;
}

int cl_tls_ctx_new(cleave_ctx *ctx, const cl_tls_config *cfg, SSL_CTX **out) {
  char why[256];
  *out = NULL;
  SSL_CTX *s = SSL_CTX_new(cfg->server ? TLS_server_method() : TLS_client_method());
  if (!s) return cl_err(ctx, CLEAVE_ENOMEM, "TLS context: %s", ossl_reason(why, sizeof why));
  SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
  SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
  int rc = 0;
  if (cfg->cert_file || cfg->key_file) {
    if (!cfg->cert_file || !cfg->key_file) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "TLS: a certificate needs its key, and a key its certificate");
      goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(s, cfg->cert_file) != 1) {
      rc = cl_err(ctx, CLEAVE_EIO, "TLS certificate '%s': %s", cfg->cert_file, ossl_reason(why, sizeof why));
      goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(s, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        rc =
            cl_err(ctx, CLEAVE_EINVAL, "TLS key '%s' does not match certificate '%s'", cfg->key_file, cfg->cert_file);
      } else {
        rc = cl_err(ctx, CLEAVE_EIO, "TLS key '%s': %s", cfg->key_file, ossl_reason(why, sizeof why));
      }
      goto fail;
    }
    if (SSL_CTX_check_private_key(s) != 1) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "TLS key '%s' does not match certificate '%s'", cfg->key_file, cfg->cert_file);
      goto fail;
    }
  } else if (cfg->server) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "TLS server: a certificate and a key are required");
    goto fail;
  }
  if (cfg->ca_file) {
    if (SSL_CTX_load_verify_locations(s, cfg->ca_file, NULL) != 1) {
      rc = cl_err(ctx, CLEAVE_EIO, "TLS CA file '%s': %s", cfg->ca_file, ossl_reason(why, sizeof why));
      goto fail;
    }
  } else if (!cfg->server && SSL_CTX_set_default_verify_paths(s) != 1) {
    rc = cl_err(ctx, CLEAVE_EIO, "TLS: the system certificate store: %s", ossl_reason(why, sizeof why));
    goto fail;
  }
  if (cfg->server) {
    SSL_CTX_set_alpn_select_cb(s, select_alpn, NULL);
    if (cfg->verify_peer) SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  } else {
    SSL_CTX_set_alpn_protos(s, alpn_h2, sizeof alpn_h2);
    SSL_CTX_set_verify(s, cfg->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  }
  *out = s;
  return 0;
fail:
  SSL_CTX_free(s);
  return rc;
}

void cl_tls_ctx_free(SSL_CTX *sctx) { SSL_CTX_free(sctx); }

int cl_tls_init(cleave_ctx *ctx, cl_tls *t, SSL_CTX *sctx, bool server, const char *host) {
  char why[256];
  memset(t, 0, sizeof *t);
  t->ssl = SSL_new(sctx);
  t->net_in = BIO_new(BIO_s_mem());
  t->net_out = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->net_in || !t->net_out) {
    SSL_free(t->ssl);
    BIO_free(t->net_in);
    BIO_free(t->net_out);
    memset(t, 0, sizeof *t);
    return cl_err(ctx, CLEAVE_ENOMEM, "TLS session: %s", ossl_reason(why, sizeof why));
  }
  /* reads of an empty input BIO mean "later", not end of file */
  BIO_set_mem_eof_return(t->net_in, -1);
  SSL_set_bio(t->ssl, t->net_in, t->net_out); /* the SSL owns both BIOs now */
  if (server) {
    SSL_set_accept_state(t->ssl);
    return 0;
  }
  SSL_set_connect_state(t->ssl);
  if (host && host[0]) {
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(t->ssl, host) != 1) goto fail;
    X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1 : X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1)
      goto fail;
  }
  return 0;
fail:
  cl_tls_free(t);
  return cl_err(ctx, CLEAVE_EINVAL, "TLS: cannot verify against host '%s': %s", host, ossl_reason(why, sizeof why));
}

void cl_tls_free(cl_tls *t) {
  if (t->ssl) SSL_free(t->ssl);
  memset(t, 0, sizeof *t);
}

int cl_tls_feed(cleave_ctx *ctx, cl_tls *t, const void *data, size_t len) {
  while (len) {
    int n = BIO_write(t->net_in, data, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n <= 0) return cl_err(ctx, CLEAVE_ENOMEM, "TLS: cannot buffer %zu bytes of input", len);
    data = (const char *)data + n;
    len -= (size_t)n;
  }
  return 0;
}

/* Maps an SSL_get_error result to 0 (try again later) or an error. */
static int ssl_status(cleave_ctx *ctx, cl_tls *t, int ret, const char *what) {
  char why[256];
  int e = SSL_get_error(t->ssl, ret);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e == SSL_ERROR_ZERO_RETURN) return cl_err(ctx, CLEAVE_EIO, "TLS %s: the peer closed the connection", what);
  long vr = SSL_get_verify_result(t->ssl);
  if (vr != X509_V_OK)
    return cl_err(ctx, CLEAVE_EIO, "TLS %s: certificate verification failed: %s", what,
                  X509_verify_cert_error_string(vr));
  return cl_err(ctx, CLEAVE_EIO, "TLS %s failed: %s", what, ossl_reason(why, sizeof why));
}

int cl_tls_handshake(cleave_ctx *ctx, cl_tls *t) {
  if (t->established) return 1;
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->established = true;
    return 1;
  }
  return ssl_status(ctx, t, r, "handshake");
}

ssize_t cl_tls_read(cleave_ctx *ctx, cl_tls *t, void *buf, size_t len) {
  size_t got = 0;
  int r = SSL_read_ex(t->ssl, buf, len, &got);
  if (r == 1) return (ssize_t)got;
  return ssl_status(ctx, t, r, "read");
}

int cl_tls_write(cleave_ctx *ctx, cl_tls *t, const void *buf, size_t len) {
  while (len) {
    size_t done = 0;
    int r = SSL_write_ex(t->ssl, buf, len, &done);
    if (r != 1) {
      int rc = ssl_status(ctx, t, r, "write");
      return rc ? rc : cl_err(ctx, CLEAVE_EIO, "TLS write: the session is not ready");
    }
    buf = (const char *)buf + done;
    len -= done;
  }
  return 0;
}

size_t cl_tls_pending(const cl_tls *t) { return BIO_ctrl_pending(t->net_out); }

size_t cl_tls_take(cl_tls *t, void *buf, size_t len) {
  size_t got = 0;
  if (BIO_read_ex(t->net_out, buf, len, &got) != 1) return 0;
  return got;
}

const char *cl_tls_alpn(const cl_tls *t, char *buf, size_t len) {
  const unsigned char *p = NULL;
  unsigned int n = 0;
  SSL_get0_alpn_selected(t->ssl, &p, &n);
  if (n >= len) n = (unsigned)len - 1;
  if (n) memcpy(buf, p, n);
  buf[n] = 0;
  return buf;
}
