/* tests/remote: TLS over memory BIOs. A client and a server cl_tls talk through byte buffers, with certificates
 * this test makes itself (a CA and a server certificate for localhost and 127.0.0.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cleave.h"
#include "core/ir/ctx.h"
#include "remote/tls.h"

typedef struct pki {
  char dir[64];
  char ca[128], cert[128], key[128], other_key[128];
} pki;

static EVP_PKEY *new_key(void) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  assert_non_null(k);
  return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  assert_non_null(ext);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca) {
  X509 *c = X509_new();
  assert_non_null(c);
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), ca ? 1 : 2);
  X509_gmtime_adj(X509_getm_notBefore(c), -60);
  X509_gmtime_adj(X509_getm_notAfter(c), 3600);
  X509_set_pubkey(c, key);
  X509_NAME *name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
  if (ca) {
    add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(c, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  }
  assert_true(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return c;
}

static void write_pem(const char *path, X509 *cert, EVP_PKEY *key) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  if (cert) assert_int_equal(PEM_write_X509(f, cert), 1);
  if (key) assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
  fclose(f);
}

static int setup(void **state) {
  pki *p = calloc(1, sizeof *p);
  snprintf(p->dir, sizeof p->dir, "/tmp/cleave-tls-XXXXXX");
  if (!mkdtemp(p->dir)) return -1;
  snprintf(p->ca, sizeof p->ca, "%s/ca.pem", p->dir);
  snprintf(p->cert, sizeof p->cert, "%s/server.pem", p->dir);
  snprintf(p->key, sizeof p->key, "%s/server.key", p->dir);
  snprintf(p->other_key, sizeof p->other_key, "%s/other.key", p->dir);
  EVP_PKEY *ca_key = new_key(), *key = new_key(), *other = new_key();
  X509 *ca = new_cert(ca_key, "cleave test CA", NULL, NULL, true);
  X509 *cert = new_cert(key, "localhost", ca, ca_key, false);
  write_pem(p->ca, ca, NULL);
  write_pem(p->cert, cert, NULL);
  write_pem(p->key, NULL, key);
  write_pem(p->other_key, NULL, other);
  X509_free(ca);
  X509_free(cert);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(key);
  EVP_PKEY_free(other);
  *state = p;
  return 0;
}

static int teardown(void **state) {
  pki *p = *state;
  unlink(p->ca);
  unlink(p->cert);
  unlink(p->key);
  unlink(p->other_key);
  rmdir(p->dir);
  free(p);
  return 0;
}

static cleave_ctx *ctx_new(void) {
  cleave_ctx *ctx = NULL;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  return ctx;
}

/* Moves pending ciphertext from one side to the other; returns the bytes moved. */
static size_t pump(cleave_ctx *ctx, cl_tls *from, cl_tls *to) {
  char buf[16384];
  size_t moved = 0, n;
  while ((n = cl_tls_take(from, buf, sizeof buf)) > 0) {
    assert_int_equal(cl_tls_feed(ctx, to, buf, n), 0);
    moved += n;
  }
  return moved;
}

/* Runs both handshakes to the end; returns the client's result (1 done, or an error). */
static int handshake(cleave_ctx *ctx, cl_tls *client, cl_tls *server, int *server_rc) {
  int c = 0, s = 0;
  for (int round = 0; round < 20; round++) {
    if (c == 0) c = cl_tls_handshake(ctx, client);
    if (c < 0) break; /* keep the client's error as the context's last one */
    pump(ctx, client, server);
    if (s == 0) s = cl_tls_handshake(ctx, server);
    pump(ctx, server, client);
    if (c != 0 && s != 0) break;
    if (c < 0 || s < 0) {
      /* let the other side read the alert */
      if (c == 0) c = cl_tls_handshake(ctx, client);
      break;
    }
  }
  *server_rc = s;
  return c;
}

static void pair(cleave_ctx *ctx, pki *p, const char *host, const char *ca, SSL_CTX **sc, SSL_CTX **cc,
                 cl_tls *server, cl_tls *client) {
  cl_tls_config scfg = {.server = true, .cert_file = p->cert, .key_file = p->key};
  cl_tls_config ccfg = {.server = false, .ca_file = ca, .verify_peer = true};
  assert_int_equal(cl_tls_ctx_new(ctx, &scfg, sc), 0);
  assert_int_equal(cl_tls_ctx_new(ctx, &ccfg, cc), 0);
  assert_int_equal(cl_tls_init(ctx, server, *sc, true, NULL), 0);
  assert_int_equal(cl_tls_init(ctx, client, *cc, false, host), 0);
}

/* A verified handshake for localhost and for 127.0.0.1 negotiates h2, and data crosses both ways. */
static void test_handshake_and_data(void **state) {
  pki *p = *state;
  const char *hosts[] = {"localhost", "127.0.0.1"};
  for (int h = 0; h < 2; h++) {
    cleave_ctx *ctx = ctx_new();
    SSL_CTX *sc, *cc;
    cl_tls server, client;
    pair(ctx, p, hosts[h], p->ca, &sc, &cc, &server, &client);
    int srv;
    assert_int_equal(handshake(ctx, &client, &server, &srv), 1);
    assert_int_equal(srv, 1);
    char alpn[8];
    assert_string_equal(cl_tls_alpn(&client, alpn, sizeof alpn), "h2");
    assert_string_equal(cl_tls_alpn(&server, alpn, sizeof alpn), "h2");
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++)
      big[i] = (char)(i * 7);
    assert_int_equal(cl_tls_write(ctx, &client, big, sizeof big), 0);
    pump(ctx, &client, &server);
    static char got[sizeof big];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof got && (r = cl_tls_read(ctx, &server, got + n, sizeof got - n)) > 0)
      n += (size_t)r;
    assert_int_equal(n, sizeof big);
    assert_memory_equal(got, big, sizeof big);
    assert_int_equal(cl_tls_read(ctx, &server, got, 16), 0); /* nothing more: "later", not an error */
    cl_tls_free(&client);
    cl_tls_free(&server);
    cl_tls_ctx_free(sc);
    cl_tls_ctx_free(cc);
    cleave_ctx_free(ctx);
  }
}

/* The wrong host name, or a CA that did not sign the server's certificate, fails verification, and says so. */
static void test_verification_failures(void **state) {
  pki *p = *state;
  const struct {
    const char *host, *ca;
  } cases[] = {{"wrong.example", p->ca}, {"10.1.2.3", p->ca}, {"localhost", p->cert}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cleave_ctx *ctx = ctx_new();
    SSL_CTX *sc, *cc;
    cl_tls server, client;
    pair(ctx, p, cases[i].host, cases[i].ca, &sc, &cc, &server, &client);
    int srv;
    int rc = handshake(ctx, &client, &server, &srv);
    assert_int_equal(rc, CLEAVE_EIO);
    assert_non_null(strstr(cleave_ctx_last_error(ctx), "verification failed"));
    cl_tls_free(&client);
    cl_tls_free(&server);
    cl_tls_ctx_free(sc);
    cl_tls_ctx_free(cc);
    cleave_ctx_free(ctx);
  }
}

/* Configuration errors name the file and the problem. */
static void test_config_errors(void **state) {
  pki *p = *state;
  cleave_ctx *ctx = ctx_new();
  SSL_CTX *s = NULL;
  cl_tls_config missing = {.server = true, .cert_file = "/nonexistent/cert.pem", .key_file = p->key};
  assert_int_equal(cl_tls_ctx_new(ctx, &missing, &s), CLEAVE_EIO);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "/nonexistent/cert.pem"));
  assert_null(s);
  cl_tls_config mismatch = {.server = true, .cert_file = p->cert, .key_file = p->other_key};
  assert_int_equal(cl_tls_ctx_new(ctx, &mismatch, &s), CLEAVE_EINVAL);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "does not match"));
  cl_tls_config no_cert = {.server = true};
  assert_int_equal(cl_tls_ctx_new(ctx, &no_cert, &s), CLEAVE_EINVAL);
  cl_tls_config bad_ca = {.server = false, .ca_file = "/nonexistent/ca.pem", .verify_peer = true};
  assert_int_equal(cl_tls_ctx_new(ctx, &bad_ca, &s), CLEAVE_EIO);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "/nonexistent/ca.pem"));
  cleave_ctx_free(ctx);
}

/* Garbage instead of a ClientHello is a clean handshake error on the server. */
static void test_garbage_input(void **state) {
  pki *p = *state;
  cleave_ctx *ctx = ctx_new();
  SSL_CTX *sc;
  cl_tls server;
  cl_tls_config scfg = {.server = true, .cert_file = p->cert, .key_file = p->key};
  assert_int_equal(cl_tls_ctx_new(ctx, &scfg, &sc), 0);
  assert_int_equal(cl_tls_init(ctx, &server, sc, true, NULL), 0);
  const char req[] = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(cl_tls_feed(ctx, &server, req, sizeof req - 1), 0);
  assert_int_equal(cl_tls_handshake(ctx, &server), CLEAVE_EIO);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "handshake"));
  cl_tls_free(&server);
  cl_tls_ctx_free(sc);
  cleave_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_and_data),
      cmocka_unit_test(test_verification_failures),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_garbage_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
