/* tools: cleave-link's relay, what link_relay.c (sockets, connections) and link_shaper.c (the link) share
 * (private). */
#ifndef CLEAVE_TOOLS_LINK_RELAY_IMPL_H
#define CLEAVE_TOOLS_LINK_RELAY_IMPL_H

#include "link_relay.h"

#define PACKET 1500
#define READ_MAX 65536
#define CHUNK_MIN 16384
/* Bytes a direction may hold beyond its queue: sent and not yet written to the sink. The delay line carries
 * rate x delay bytes (2.5 MB at 100 Mbit/s and 200 ms); past this the source waits, as a sender's window would. */
#define HOLD_MAX ((size_t)16 << 20)
#define RECS_MAX 65536 /* packets in flight per direction */
#define WRITE_BUFS 16
#define RTO_MIN_NS 200000000ull /* Linux's TCP_RTO_MIN */
#define MS 1000000ull

typedef struct conn conn;
typedef struct link_dir link_dir;

/* A piece of one direction's stream. Bytes stay in place from the read to the completed write. */
typedef struct chunk {
  struct chunk *next;
  uint64_t start; /* stream offset of data[0] */
  size_t len, cap;
  char data[];
} chunk;

/* One direction of one connection. Stream offsets: read <= departed (left the queue) <= arrived (through the
 * delay line) <= issued (handed to uv_write) <= done (written). */
typedef struct flow {
  conn *c;
  int dir;
  uv_tcp_t *src, *dst;
  chunk *head, *tail, *wr; /* wr holds offset issued */
  uint64_t read, departed, arrived, issued, done;
  bool reading, src_eof, fin_departed, fin_arrived, shut_sent, shut_done, in_rr;
  struct flow *rr_next, *rr_prev;
  uv_shutdown_t shut;
} flow;

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN };

struct conn {
  link_relay *r;
  conn *next, *prev;
  uv_tcp_t client, server;
  uv_timer_t timer; /* connect timeout, then the handshake's RTT */
  uv_connect_t connect;
  flow f[2];
  int state, handles;
  bool closing;
  uint64_t id, t_accept;
};

/* A packet (or a FIN) in the delay line. */
typedef struct rec {
  conn *c; /* NULL once its connection is gone */
  uint32_t len;
  bool fin;
  uint64_t at; /* arrival, uv_hrtime() ns */
} rec;

struct link_dir {
  link_relay *r;
  int dir;
  link_dir_settings set;
  cleave_trace *trace;
  const uint64_t *opp; /* Mahimahi opportunities (ms), else NULL */
  size_t n_opp, opp_i;
  uint64_t t0, opp_round; /* trace start (ns); the next opportunity is opp[opp_i] of round opp_round */
  uint64_t busy_until;    /* constant rate and rate traces: the link is sending until then (ns) */
  uint64_t debt;          /* bytes of retransmissions that still take link time */
  flow *rr;               /* round-robin ring of flows with queued bytes; the next to send */
  size_t queued, held;    /* read, not departed; read, not written */
  bool paused;
  rec *recs;
  size_t rcap, rhead, rn;
  uint64_t last_at, rng;
  uv_timer_t tx, rx;
  uint64_t bytes_in, bytes_out, packets, lost;
};

struct link_relay {
  cleave_ctx *ctx;
  uv_loop_t *loop;
  link_config cfg;
  uv_tcp_t listener;
  conn *conns;
  link_dir d[2];
  bool cut, stalled, closing;
  uint64_t t_start, t_stall, next_id, open, accepted, refused, failed;
  int handles, conns_alive;
  void (*close_cb)(void *);
  void *close_arg;
  char rbuf[READ_MAX];
};

static inline size_t link_min(size_t a, size_t b) { return a < b ? a : b; }
/* Formats into err (when not NULL) and returns code. */
int link_fail(char *err, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* link_shaper.c */
/* Arms t to fire at `at` (uv_hrtime ns) or later. */
void link_arm_at(uv_timer_t *t, uv_timer_cb cb, uint64_t at);
uint64_t link_rtt_ns(const link_relay *r);
/* The round-robin ring of flows with queued bytes. */
void link_rr_add(link_dir *d, flow *f);
void link_rr_remove(link_dir *d, flow *f);
/* The FIN of a flow whose bytes have all left, leaving at t. */
void link_push_fin(link_dir *d, flow *f, uint64_t t);
/* The link was idle or frozen: it sends from now. */
void link_dir_sync(link_dir *d, uint64_t now);
/* Sends what the link can by now and waits for the next slot; delivers what has arrived. */
void link_dir_transmit(link_dir *d);
void link_dir_deliver(link_dir *d);
/* Stops or resumes reading the direction's sources as its queue fills and drains. */
void link_dir_update_pause(link_dir *d);

/* link_relay.c */
/* Writes what has arrived, then the FIN. */
void link_flow_flush(flow *f);
void link_flow_update_reading(flow *f);
/* Closes a connection, with RSTs when rst; why (may be NULL) goes to the verbose log. */
void link_conn_abort(conn *c, bool rst, const char *why);

#endif
