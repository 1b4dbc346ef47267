/* remote: TLS over memory BIOs (private).
 *
 * OpenSSL never touches a socket here: ciphertext from the network is fed in, ciphertext to send is taken out,
 * and the caller moves the bytes with libuv. That keeps every call non-blocking and on the loop thread. */
#ifndef CLEAVE_REMOTE_TLS_H
#define CLEAVE_REMOTE_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/ir/ctx.h"

typedef struct cl_tls_config {
  bool server;
  const char *cert_file; /* PEM; the server's own (required), or the client's for mTLS */
  const char *key_file;
  const char *ca_file; /* PEM CAs to verify the peer; NULL: the system store (client) */
  bool verify_peer;    /* client: verify the server (default on); server: require a client certificate */
} cl_tls_config;

/* An SSL_CTX for TLS 1.2 and later (1.3 preferred) with ALPN h2. Errors name the file or the OpenSSL reason. */
int cl_tls_ctx_new(cleave_ctx *ctx, const cl_tls_config *cfg, SSL_CTX **out);
void cl_tls_ctx_free(SSL_CTX *sctx);

typedef struct cl_tls {
  SSL *ssl;
  BIO *net_in;  /* ciphertext from the network, written by cl_tls_feed */
  BIO *net_out; /* ciphertext for the network, read by cl_tls_take */
  bool established;
} cl_tls;

/* host: the name to send as SNI and to verify against (client only; an IP address is checked as one). */
int cl_tls_init(cleave_ctx *ctx, cl_tls *t, SSL_CTX *sctx, bool server, const char *host);
void cl_tls_free(cl_tls *t);

/* Ciphertext arrived. */
int cl_tls_feed(cleave_ctx *ctx, cl_tls *t, const void *data, size_t len);
/* Advances the handshake: 1 done (established), 0 needs more input, or an error (CLEAVE_EIO with the reason). */
int cl_tls_handshake(cleave_ctx *ctx, cl_tls *t);
/* Decrypted bytes: > 0 read, 0 none for now, < 0 an error (the peer closed: CLEAVE_EIO "closed"). */
ssize_t cl_tls_read(cleave_ctx *ctx, cl_tls *t, void *buf, size_t len);
/* Encrypts len bytes (all of them, into net_out). 0 or an error. */
int cl_tls_write(cleave_ctx *ctx, cl_tls *t, const void *buf, size_t len);
/* Pending ciphertext to send. */
size_t cl_tls_pending(const cl_tls *t);
/* Takes up to len bytes of pending ciphertext into buf; returns the count. */
size_t cl_tls_take(cl_tls *t, void *buf, size_t len);
/* The ALPN protocol the handshake chose, "" if none. */
const char *cl_tls_alpn(const cl_tls *t, char *buf, size_t len);

#endif
