/* tools: cleave-link's link model: per direction, a queue served round-robin onto a link of a rate or a trace, a
 * delay line that nothing overtakes, and loss as TCP recovers it (described in link_relay.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_relay_impl.h"

/* splitmix64: small, seedable, the same sequence on every machine */
static double rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

/* ---- timers on exact times ---- */

/* Arms t to fire at `at` (uv_hrtime ns) or later: the loop's clock is in whole ms and may lag uv_hrtime, so the
 * timeout counts from a fresh loop time to the ms after `at`. */
void link_arm_at(uv_timer_t *t, uv_timer_cb cb, uint64_t at) {
  uv_update_time(t->loop);
  uint64_t due = (at + MS - 1) / MS, now = uv_now(t->loop);
  uv_timer_start(t, cb, due > now ? due - now : 0, 0);
}

/* ---- the delay line ---- */

static int rec_room(link_dir *d, bool data) {
  if (data && d->rn >= RECS_MAX) return 0;
  if (d->rn < d->rcap) return 1;
  size_t nc = d->rcap ? d->rcap * 2 : 1024;
  rec *n = malloc(nc * sizeof *n);
  if (!n) return 0;
  for (size_t i = 0; i < d->rn; i++)
    n[i] = d->recs[(d->rhead + i) % d->rcap];
  free(d->recs);
  d->recs = n;
  d->rcap = nc;
  d->rhead = 0;
  return 1;
}

static void on_rx(uv_timer_t *t);

/* Appends a packet arriving at `at`, or later if the one before it arrives later (nothing overtakes). Needs a
 * slot (rec_room). */
static void rec_push(link_dir *d, conn *c, size_t len, bool fin, uint64_t at) {
  if (at < d->last_at) at = d->last_at;
  d->last_at = at;
  d->recs[(d->rhead + d->rn) % d->rcap] = (rec){.c = c, .len = (uint32_t)len, .fin = fin, .at = at};
  if (d->rn++ == 0 && !d->r->stalled) link_arm_at(&d->rx, on_rx, at);
}

static uint64_t delay_ns(const link_dir *d) { return (uint64_t)(d->set.delay_ms * 1e6); }

uint64_t link_rtt_ns(const link_relay *r) { return delay_ns(&r->d[0]) + delay_ns(&r->d[1]); }

/* ---- the link ---- */

void link_rr_add(link_dir *d, flow *f) {
  if (f->in_rr) return;
  f->in_rr = true;
  if (!d->rr) {
    f->rr_next = f->rr_prev = f;
    d->rr = f;
    return;
  }
  f->rr_next = d->rr; /* last in the ring: just before the next to send */
  f->rr_prev = d->rr->rr_prev;
  f->rr_prev->rr_next = f;
  d->rr->rr_prev = f;
}

void link_rr_remove(link_dir *d, flow *f) {
  if (!f->in_rr) return;
  f->in_rr = false;
  if (f->rr_next == f) {
    d->rr = NULL;
    return;
  }
  f->rr_prev->rr_next = f->rr_next;
  f->rr_next->rr_prev = f->rr_prev;
  if (d->rr == f) d->rr = f->rr_next;
}

static bool want_pause(const link_dir *d) {
  size_t q = d->r->cfg.queue_bytes;
  return d->queued >= q || d->held >= q + HOLD_MAX;
}

void link_dir_update_pause(link_dir *d) {
  bool p = want_pause(d);
  if (p == d->paused) return;
  d->paused = p;
  for (conn *c = d->r->conns; c; c = c->next)
    link_flow_update_reading(&c->f[d->dir]);
}

void link_push_fin(link_dir *d, flow *f, uint64_t t) {
  if (f->fin_departed) return;
  if (!rec_room(d, false)) {
    link_conn_abort(f->c, true, "out of memory");
    return;
  }
  f->fin_departed = true;
  rec_push(d, f->c, 0, true, t + delay_ns(d));
}

/* Sends up to max bytes that left the link at dep: retransmissions owed first, then the next flow's bytes.
 * Returns the bytes sent. */
static size_t take(link_dir *d, size_t max, uint64_t dep) {
  double loss = d->set.loss;
  if (d->debt) { /* a retransmission can be lost too: its bytes are owed again */
    size_t n = (size_t)(d->debt < max ? d->debt : max);
    d->debt -= n;
    if (loss > 0 && rng_next(&d->rng) < loss) d->debt += n;
    return n;
  }
  flow *f = d->rr;
  size_t n = link_min(max, (size_t)(f->read - f->departed));
  uint64_t at = dep + delay_ns(d);
  f->departed += n;
  d->queued -= n;
  d->packets++;
  if (loss > 0 && rng_next(&d->rng) < loss) {
    uint64_t rtt = link_rtt_ns(d->r);
    d->debt += n;
    d->lost++;
    at += f->read - f->departed >= 3 * PACKET ? rtt : (2 * rtt > RTO_MIN_NS ? 2 * rtt : RTO_MIN_NS);
  }
  rec_push(d, f->c, n, false, at);
  d->rr = f->rr_next;
  if (f->departed == f->read) {
    link_rr_remove(d, f);
    if (f->src_eof) link_push_fin(d, f, dep);
  }
  return n;
}

/* The next Mahimahi opportunity, in ns. */
static uint64_t opp_time(const link_dir *d) {
  return d->t0 + (d->opp[d->opp_i] + d->opp_round * d->opp[d->n_opp - 1]) * MS;
}

/* The link was idle or frozen: it can send from now, not from when it last could. */
void link_dir_sync(link_dir *d, uint64_t now) {
  if (d->busy_until < now) d->busy_until = now;
  if (!d->opp || opp_time(d) >= now) return;
  uint64_t p = d->opp[d->n_opp - 1], x = (now - d->t0 + MS - 1) / MS; /* first whole ms >= now */
  uint64_t k = x / p, rem = x - k * p;
  size_t lo = 0, hi = d->n_opp;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (d->opp[mid] < rem)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == d->n_opp) lo = 0, k++;
  d->opp_i = lo;
  d->opp_round = k;
}

static void on_tx(uv_timer_t *t) { link_dir_transmit(t->data); }

/* Sends everything the link can send by now, then arms the timer for the next slot. */
static void transmit(link_dir *d) {
  uint64_t now = uv_hrtime();
  while ((d->queued || d->debt) && rec_room(d, true)) {
    if (d->opp) {
      uint64_t at = opp_time(d);
      if (at > now) {
        link_arm_at(&d->tx, on_tx, at);
        return;
      }
      if (++d->opp_i == d->n_opp) d->opp_i = 0, d->opp_round++;
      size_t budget = PACKET; /* an opportunity carries 1500 bytes, from as many flows as it takes */
      while (budget && (d->queued || d->debt) && rec_room(d, true))
        budget -= take(d, budget, at);
      continue;
    }
    uint64_t start = d->busy_until;
    if (start > now) {
      link_arm_at(&d->tx, on_tx, start);
      return;
    }
    size_t s = d->debt ? (size_t)(d->debt < PACKET ? d->debt : PACKET)
                       : link_min(PACKET, (size_t)(d->rr->read - d->rr->departed));
    double secs;
    if (d->trace) {
      secs = cleave_trace_transfer_s(d->trace, (double)(start - d->t0) / 1e9, (double)s,
                                     d->dir == LINK_UP ? CLEAVE_TRACE_UP : CLEAVE_TRACE_DOWN);
    } else {
      secs = d->set.rate_mbps > 0 ? s * 8.0 / (d->set.rate_mbps * 1e6) : INFINITY;
    }
    if (!isfinite(secs) || secs > 1e6) return; /* offline: a new setting starts it again */
    d->busy_until = start + (uint64_t)(secs * 1e9);
    take(d, s, d->busy_until);
  }
}

void link_dir_transmit(link_dir *d) {
  if (d->r->stalled || d->r->closing) return;
  transmit(d);
  link_dir_update_pause(d); /* the queue may have room again */
}

void link_dir_deliver(link_dir *d) {
  link_relay *r = d->r;
  if (r->stalled || r->closing) return;
  uint64_t now = uv_hrtime();
  conn *last = NULL;
  while (d->rn && d->recs[d->rhead].at <= now) {
    rec e = d->recs[d->rhead];
    d->rhead = (d->rhead + 1) % d->rcap;
    d->rn--;
    if (!e.c) continue;
    if (last && last != e.c) link_flow_flush(&last->f[d->dir]);
    last = e.c;
    e.c->f[d->dir].arrived += e.len;
    if (e.fin) e.c->f[d->dir].fin_arrived = true;
  }
  if (last) link_flow_flush(&last->f[d->dir]);
  if (d->rn) link_arm_at(&d->rx, on_rx, d->recs[d->rhead].at);
  link_dir_transmit(d); /* room in the delay line again */
}

static void on_rx(uv_timer_t *t) { link_dir_deliver(t->data); }

/* ---- settings ---- */

static void dir_changed(link_dir *d) {
  link_dir_sync(d, uv_hrtime());
  link_dir_transmit(d);
}

int link_relay_set_rate(link_relay *r, int mask, double rate_mbps, char *err, size_t cap) {
  if (!(rate_mbps >= 0) || (rate_mbps > LINK_RATE_MAX_MBPS && !isinf(rate_mbps)))
    return link_fail(err, cap, CLEAVE_EINVAL, "rate %g is out of range (0 to %g Mbit/s)", rate_mbps,
                     LINK_RATE_MAX_MBPS);
  for (int i = 0; i < 2; i++) {
    if (!(mask & (1 << i))) continue;
    link_dir *d = &r->d[i];
    d->opp = NULL;
    cleave_trace_free(d->trace);
    d->trace = NULL;
    d->set.trace[0] = 0;
    d->set.rate_mbps = rate_mbps;
    dir_changed(d);
  }
  return 0;
}

int link_relay_set_trace(link_relay *r, int mask, const char *path, char *err, size_t cap) {
  if (!path || !*path || strlen(path) >= LINK_TRACE_PATH_MAX)
    return link_fail(err, cap, CLEAVE_EINVAL, "trace: the path is empty or longer than %d bytes",
                     LINK_TRACE_PATH_MAX - 1);
  cleave_trace *t[2] = {NULL, NULL};
  cleave_trace_options *o = NULL;
  int rc = cleave_trace_options_new(&o);
  if (rc) return link_fail(err, cap, rc, "trace: out of memory");
  cleave_trace_options_set_loop(o, 1); /* traces loop, as Mahimahi's do */
  for (int i = 0; i < 2 && !rc; i++)   /* both loaded before either is used: a failure changes nothing */
    if (mask & (1 << i)) rc = cleave_trace_load(r->ctx, path, o, &t[i]);
  cleave_trace_options_free(o);
  if (rc) {
    cleave_trace_free(t[0]);
    return link_fail(err, cap, rc, "%s", cleave_ctx_last_error(r->ctx));
  }
  for (int i = 0; i < 2; i++) {
    if (!t[i]) continue;
    link_dir *d = &r->d[i];
    cleave_trace_free(d->trace);
    d->trace = t[i];
    d->opp = NULL;
    cleave_trace_opportunities(t[i], i == LINK_UP ? CLEAVE_TRACE_UP : CLEAVE_TRACE_DOWN, &d->opp, &d->n_opp);
    d->t0 = uv_hrtime();
    d->opp_i = 0;
    d->opp_round = 0;
    snprintf(d->set.trace, sizeof d->set.trace, "%s", path);
    dir_changed(d);
  }
  return 0;
}

int link_relay_set_delay(link_relay *r, int mask, double delay_ms, char *err, size_t cap) {
  if (!(delay_ms >= 0 && delay_ms <= LINK_DELAY_MAX_MS))
    return link_fail(err, cap, CLEAVE_EINVAL, "delay %g ms is out of range (0 to %g ms one way)", delay_ms,
                     LINK_DELAY_MAX_MS);
  for (int i = 0; i < 2; i++)
    if (mask & (1 << i)) r->d[i].set.delay_ms = delay_ms;
  return 0;
}

int link_relay_set_loss(link_relay *r, int mask, double loss, char *err, size_t cap) {
  if (!(loss >= 0 && loss < 1))
    return link_fail(err, cap, CLEAVE_EINVAL, "loss %g is out of range (a probability, 0 to below 1)", loss);
  for (int i = 0; i < 2; i++)
    if (mask & (1 << i)) r->d[i].set.loss = loss;
  return 0;
}

void link_relay_settings(const link_relay *r, int dir, link_dir_settings *out) { *out = r->d[dir].set; }
