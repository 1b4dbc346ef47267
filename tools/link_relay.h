/* tools: cleave-link's relay: a TCP relay on libuv that makes the path between a client and a server behave like
 * a network link, each way on its own (up: client -> server, down: server -> client).
 *
 * The model, per direction:
 *   - The byte stream is cut into packets of at most 1500 bytes as it leaves a bounded queue onto the link. With
 *     a constant rate a packet of s bytes takes s * 8 / rate to send; with a Mahimahi trace each delivery
 *     opportunity carries up to 1500 bytes (the file loops with the period of its last time, unused opportunities
 *     are lost, as in mm-link); with a CSV or Pensieve trace the rate follows the trace's column for that way.
 *     Traces start when they are set and loop.
 *   - A packet arrives one one-way delay after it left. Arrivals never overtake each other: a change of delay
 *     delays what follows, it never reorders the stream.
 *   - Loss, on a byte stream that cannot lose bytes, is what TCP makes of it: a lost packet arrives late, by one
 *     RTT when at least three packets wait behind it (duplicate ACKs, fast retransmit), else by max(200 ms,
 *     2 * RTT) (a tail loss, waiting for the retransmission timer, 200 ms being Linux's minimum); nothing behind it
 *     is delivered first (head-of-line blocking); and its retransmission takes link time again. The RTT is the
 *     sum of the two one-way delays. Not modelled: the sender's congestion window shrinking after a loss, since
 *     the relay's own TCP legs never see one.
 *   - Connection setup costs one RTT (the TCP handshake the relay's local accept does not show), and a FIN
 *     travels like a packet, after the data before it.
 * Connections share the link: the queue serves them round-robin, a packet at a time.
 *
 * Control: rates, traces, delays and loss change at any time (for the packets that leave after the change);
 * cut resets every connection and every new one until restore; stall freezes both ways (nothing read, sent or
 * delivered, connections kept open) until restore, after which what was in flight arrives as late as the stall
 * was long. Everything runs on the loop's thread. */
#ifndef CLEAVE_TOOLS_LINK_RELAY_H
#define CLEAVE_TOOLS_LINK_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "cleave.h"

enum { LINK_UP = 0, LINK_DOWN = 1 };
/* Direction masks of the setters. */
enum { LINK_MASK_UP = 1, LINK_MASK_DOWN = 2, LINK_MASK_BOTH = 3 };

/* Bounds on settings: rates in Mbit/s (10^6 bit/s), delays in ms, loss a probability. */
#define LINK_RATE_MAX_MBPS 100000.0
#define LINK_DELAY_MAX_MS 60000.0
#define LINK_TRACE_PATH_MAX 512

/* What the relay says: verbose 0 for events (connect failures, cut, stall), 1 for each connection. msg is valid
 * during the call only. */
typedef void (*link_log_fn)(void *user, int verbose, const char *msg);

typedef struct link_config {
  struct sockaddr_storage listen, target; /* numeric addresses; port 0 listens on any free port */
  size_t queue_bytes;                     /* per direction, bytes waiting for the link (default 128 KiB) */
  int max_connections;                    /* relayed at once; more are reset at once (default 256) */
  int connect_timeout_ms;                 /* to the target (default 5000) */
  int socket_buffer;                      /* SO_RCVBUF and SO_SNDBUF of the relay's sockets (default 16 KiB) */
  uint64_t seed;                          /* of the loss draws (default 1) */
  link_log_fn log;                        /* NULL: silent */
  void *log_user;
} link_config;

/* One direction's settings. */
typedef struct link_dir_settings {
  double rate_mbps;                /* the constant rate when trace is "" (INFINITY: no limit) */
  char trace[LINK_TRACE_PATH_MAX]; /* the trace file in force, or "" */
  double delay_ms, loss;
} link_dir_settings;

typedef struct link_stats {
  uint64_t open, accepted, refused, failed; /* connections: relayed now, since start, reset at once, target failed */
  struct {
    uint64_t bytes_in, bytes_out, packets, lost; /* read from the source, written to the sink, packets sent */
    size_t queued, in_flight;                    /* waiting for the link; sent and not yet written */
    link_dir_settings set;
  } dir[2];
  bool cut, stalled;
  double uptime_s;
} link_stats;

typedef struct link_relay link_relay;

void link_config_defaults(link_config *c);
/* Parses "A.B.C.D:PORT" or "[IPV6]:PORT" (numeric only, no name resolution). Returns 0, or CLEAVE_EINVAL with the
 * reason in err. */
int link_parse_addr(const char *s, struct sockaddr_storage *out, char *err, size_t cap);
/* Writes "A.B.C.D:PORT" or "[IPV6]:PORT". */
void link_format_addr(const struct sockaddr *sa, char *buf, size_t cap);

/* Starts listening (cfg is copied; ctx, which loads traces, must outlive the relay). The link starts unshaped: no
 * rate limit, no delay, no loss. Returns 0, CLEAVE_EINVAL, CLEAVE_ENOMEM or CLEAVE_EIO (bind or listen failed),
 * with the reason in err. On error nothing is left open. */
int link_relay_new(cleave_ctx *ctx, uv_loop_t *loop, const link_config *cfg, link_relay **out, char *err, size_t cap);
/* The bound listen address. */
void link_relay_listen_addr(const link_relay *r, struct sockaddr_storage *out);
uv_loop_t *link_relay_loop(const link_relay *r);
cleave_ctx *link_relay_ctx(const link_relay *r);
/* Says something through cfg.log (nothing when it is NULL). */
void link_relay_log(link_relay *r, int verbose, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Setters for the directions in mask, for what leaves the queue from now on. A rate replaces a trace; rate_mbps 0
 * is offline that way, INFINITY no limit. A trace starts now and loops. Return 0, CLEAVE_EINVAL (out of bounds),
 * or a trace's load error (CLEAVE_EIO, CLEAVE_EINVAL, ...), its message in err; on error nothing changes. */
int link_relay_set_rate(link_relay *r, int mask, double rate_mbps, char *err, size_t cap);
int link_relay_set_trace(link_relay *r, int mask, const char *path, char *err, size_t cap);
int link_relay_set_delay(link_relay *r, int mask, double delay_ms, char *err, size_t cap);
int link_relay_set_loss(link_relay *r, int mask, double loss, char *err, size_t cap);
void link_relay_cut(link_relay *r);
void link_relay_stall(link_relay *r);
/* Ends a cut and a stall. */
void link_relay_restore(link_relay *r);
void link_relay_settings(const link_relay *r, int dir, link_dir_settings *out);
void link_relay_stats(const link_relay *r, link_stats *out);

/* Closes the listener and every connection; cb(arg) runs once every handle is closed, after r is freed. */
void link_relay_close(link_relay *r, void (*cb)(void *arg), void *arg);

#endif
