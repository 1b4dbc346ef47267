/* partitioner: link and radio energy models (private).
 *
 * The link between the device and the edge has separate uplink and downlink bandwidths and a round-trip time.
 * A tensor crosses the link once, however many of its consumers sit on the other side. Radio energy follows the
 * usual state-machine model: a promotion from idle to the high-power state (time and power), active transfer
 * power that grows with throughput, and a tail in high power after the last transfer. */
#ifndef CLEAVE_PARTITIONER_NETWORK_H
#define CLEAVE_PARTITIONER_NETWORK_H

#include <stdbool.h>

typedef enum cl_radio_kind { CL_RADIO_NONE, CL_RADIO_WIFI, CL_RADIO_LTE, CL_RADIO_3G, CL_RADIO_5G } cl_radio_kind;

/* Power of the radio while transferring: base_mw + up_mw_per_mbps * uplink Mbps (while sending) or
 * base_mw + down_mw_per_mbps * downlink Mbps (while receiving). mW times seconds gives mJ. */
typedef struct cl_radio_model {
  cl_radio_kind kind;
  const char *name;      /* "wifi", "lte", "3g", "5g", "none" */
  double up_mw_per_mbps; /* transfer power per Mbps of uplink throughput */
  double down_mw_per_mbps;
  double base_mw;  /* power in the high-power state, before the per-Mbps part */
  double promo_s;  /* promotion delay from idle to the high-power state */
  double promo_mw; /* power during promotion */
  double tail_s;   /* time in high power after the last transfer (all tail timers together) */
  double tail_mw;  /* average power during the tail */
} cl_radio_model;

/* The preset for kind (sources in network.c); never NULL (CL_RADIO_NONE: a zero-power radio). */
const cl_radio_model *cl_radio_preset(cl_radio_kind kind);
/* Kind by name ("wifi", "lte", "3g", "5g", "none"); -1 if unknown. */
int cl_radio_kind_from_name(const char *name);

/* Network conditions between the device and the edge. */
typedef struct cl_network {
  double up_mbps;      /* uplink bandwidth, Mbit/s (1e6 bit/s); <= 0: no link (edge unreachable) */
  double down_mbps;    /* downlink bandwidth, Mbit/s */
  double rtt_ms;       /* round-trip time */
  cl_radio_kind radio; /* radio whose energy the device pays */
  bool radio_warm;     /* the radio is already in its high-power state: no promotion delay or energy, and the
                          tail is not charged to this request (requests close together share it) */
  double cost_per_mb;  /* cost units per MB (1e6 bytes) sent or received (metered links); 0: free */
} cl_network;

/* Sets n to a 4G-like default: 5.85 Mbps up, 20 down, 50 ms RTT, LTE, radio warm, free. */
void cl_network_default(cl_network *n);

/* Time to send (up) or receive (down) bytes, excluding RTT: bytes * 8 / (Mbps * 1e6), in ms. INFINITY when the
 * link has no bandwidth. */
double cl_net_up_ms(const cl_network *n, double bytes);
double cl_net_down_ms(const cl_network *n, double bytes);
/* Radio energy in mJ of sending (up) or receiving (down) bytes at the link's bandwidth, excluding promotion and
 * tail. */
double cl_radio_up_mj(const cl_network *n, double bytes);
double cl_radio_down_mj(const cl_network *n, double bytes);
/* Radio energy in mJ of a transfer of up and down bytes measured to take ms (round trip included): the time is
 * shared between the two ways in proportion to their times at n's rates, and each way's power follows the rate it
 * achieved. 0 when nothing moved or ms <= 0. */
double cl_radio_transfer_mj(const cl_network *n, double up_bytes, double down_bytes, double ms);
/* Fixed cost of using the link once for a request: promotion and tail energy in mJ and promotion delay in ms
 * (both 0 when radio_warm). */
double cl_radio_fixed_mj(const cl_network *n);
double cl_radio_fixed_ms(const cl_network *n);

#endif
