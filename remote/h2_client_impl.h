/* remote: the HTTP/2 client's internals, shared by h2_client.c (calls, pool, timers) and h2_client_conn.c (one
 * connection). Not for other modules: they use h2_client.h. */
#ifndef CLEAVE_REMOTE_H2_CLIENT_IMPL_H
#define CLEAVE_REMOTE_H2_CLIENT_IMPL_H

#include <nghttp2/nghttp2.h>

#include "remote/h2_client.h"
#include "remote/tls.h"

#define CL_H2C_NO_RST UINT32_MAX
#define CL_H2C_MAX_REPLY_HEADERS 64

typedef struct conn conn;
typedef struct call_list {
  cl_h2_call *head, *tail;
  int n;
} call_list;

enum { CALL_QUEUED = 1, CALL_ACTIVE, CALL_DONE };
enum { CONN_RESOLVING, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY, CONN_DRAINING, CONN_CLOSED };

struct cl_h2_call {
  cl_h2_client *cl;
  cl_h2_call *prev, *next;
  call_list *list; /* the client's queue or done list, or its connection's calls */
  conn *conn;
  int32_t stream_id;
  int state;
  bool internal; /* a health probe: not counted as the caller's */
  cl_h2_client_cb cb;
  void *user;
  /* request */
  nghttp2_nv *nv;
  size_t n_nv;
  const uint8_t *body;
  size_t body_len, body_off, body_sent; /* body_off: handed to nghttp2; body_sent: written to TLS */
  int timeout_ms, retries;
  double deadline;
  /* measurement */
  double t_up0, t_down0, t_down1;
  bool eof_queued, up_done;
  /* response */
  int status;
  cl_h2_header hdrs[CL_H2C_MAX_REPLY_HEADERS];
  int n_hdrs;
  uint8_t *rbody;
  size_t rlen, rcap;
  bool oom;
  int err;
  char msg[384];
};

struct conn {
  cl_h2_client *cl;
  conn *prev, *next;
  int state;
  bool tcp_open, gai_pending, next_addr, got_settings, goaway, ping_out, proto_error;
  uv_tcp_t tcp;
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  struct addrinfo *ai, *ai_cur;
  cl_tls tls;
  nghttp2_session *h2;
  call_list calls;
  double deadline, ping_at;
  char why[160]; /* what nghttp2 said about a protocol error */
  uint8_t plain[65536];
  char buf[65536];
};

struct cl_h2_client {
  cleave_ctx *ctx;
  uv_loop_t *loop;
  cl_h2_client_config cfg; /* health_path points into strs; the other strings are not kept */
  char *strs, *host, *authority, *auth;
  char port_str[8];
  struct sockaddr_storage addr;
  bool numeric;
  SSL_CTX *tls;
  nghttp2_mem mem;
  conn *conns;
  call_list queue, done;
  uv_timer_t timer, kick;
  double timer_at;
  bool closing, handles_closing;
  int handles_closed;
  void (*done_cb)(void *);
  void *done_arg;
  int fails, last_err;
  double backoff_until;
  char last_msg[320];
  double next_health, next_ping;
  bool probe_out;
  uint32_t rng;
  cl_h2_client_stats st;
  double rtt_min_at; /* when st.rtt_min_ms was taken */
};

void cl_h2c_list_push(call_list *l, cl_h2_call *k, bool front);
void cl_h2c_list_remove(cl_h2_call *k);
void cl_h2c_ewma(double *avg, double sample);
/* Runs the pool (assign queued calls, flush connections, deliver callbacks) soon, on the loop. */
void cl_h2c_schedule(cl_h2_client *cl);
/* Makes the client's timer fire no later than at (cl_now_ms time). */
void cl_h2c_arm(cl_h2_client *cl, double at);
/* Decides a call's result and schedules its callback; an open stream is reset with rst unless CL_H2C_NO_RST. */
void cl_h2c_call_finish(cl_h2_call *k, int err, uint32_t rst, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Puts a call the server refused without processing back at the head of the queue. */
void cl_h2c_call_requeue(cl_h2_call *k);
void cl_h2c_call_reset_reply(cleave_ctx *ctx, cl_h2_call *k);
void cl_h2c_connect_failed(cl_h2_client *cl, int err, const char *msg);
void cl_h2c_connect_ok(cl_h2_client *cl);
void cl_h2c_try_free(cl_h2_client *cl);

void cl_h2c_conn_start(cl_h2_client *cl);
bool cl_h2c_conn_has_room(const conn *c);
void cl_h2c_conn_submit(conn *c, cl_h2_call *k);
void cl_h2c_conn_flush(conn *c);
void cl_h2c_conn_ping(conn *c);
/* Closes the connection (abruptly) and fails its calls with err; a connection that never got the server's
 * SETTINGS counts as a failed attempt for the backoff. */
void cl_h2c_conn_fail(conn *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
