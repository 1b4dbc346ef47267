/* partitioner: link times and radio energy.
 *
 * Sources of the radio presets:
 * - LTE: J. Huang, F. Qian, A. Gerber, Z. M. Mao, S. Sen, O. Spatscheck, "A Close Examination of Performance
 *   and Power Characteristics of 4G LTE Networks", MobiSys 2012 (power model measured with AT&T's ARO):
 *   438.39 mW per Mbps up, 51.97 mW per Mbps down, about 1.2 W in the connected state, promotion 0.26 s at
 *   1.21 W, tail about 10 s at 1.06 W.
 * - Wi-Fi: the same study's Wi-Fi figures as summarised in the project's design notes: 0.403 W while active,
 *   a 0.25 s tail; no promotion (power-save wake-up is a few ms).
 * - 3G: the UMTS RRC state machine with DCH at 1.30 W and FACH at 0.30 W, DCH->FACH after 4 s and FACH->IDLE
 *   after 10 s (F. Qian et al., "Characterizing Radio Resource Allocation for 3G Networks", IMC 2010, and
 *   Huang et al. above); the tail below is the energy of both timers spread over 14 s. The 2 s promotion at
 *   0.8 W is an estimate of the IDLE->DCH setup, not a cited measurement.
 * - 5G: an estimate, not a measurement: LTE's model with the connected-state power raised by 30 % and half the
 *   promotion time, in the direction 5G NSA measurements report (A. Narayanan et al., "A Variegated Look at
 *   5G in the Wild", SIGCOMM 2021). Replace with figures measured on the target phone. */
#include "partitioner/network.h"

#include <math.h>
#include <string.h>

static const cl_radio_model presets[] = {
    [CL_RADIO_NONE] = {.kind = CL_RADIO_NONE, .name = "none"},
    [CL_RADIO_WIFI] = {.kind = CL_RADIO_WIFI, .name = "wifi", .base_mw = 403, .tail_s = 0.25, .tail_mw = 403},
    [CL_RADIO_LTE] = {.kind = CL_RADIO_LTE,
                      .name = "lte",
                      .up_mw_per_mbps = 438.39,
                      .down_mw_per_mbps = 51.97,
                      .base_mw = 1200,
                      .promo_s = 0.26,
                      .promo_mw = 1210,
                      .tail_s = 10,
                      .tail_mw = 1060},
    [CL_RADIO_3G] = {.kind = CL_RADIO_3G,
                     .name = "3g",
                     .base_mw = 1300,
                     .promo_s = 2.0,
                     .promo_mw = 800,
                     .tail_s = 14,
                     .tail_mw = (1300.0 * 4 + 300.0 * 10) / 14},
    [CL_RADIO_5G] = {.kind = CL_RADIO_5G,
                     .name = "5g",
                     .up_mw_per_mbps = 438.39,
                     .down_mw_per_mbps = 51.97,
                     .base_mw = 1560,
                     .promo_s = 0.13,
                     .promo_mw = 1570,
                     .tail_s = 10,
                     .tail_mw = 1380},
};

const cl_radio_model *cl_radio_preset(cl_radio_kind kind) {
  if ((int)kind < 0 || (size_t)kind >= sizeof presets / sizeof presets[0]) return &presets[CL_RADIO_NONE];
  return &presets[kind];
}

int cl_radio_kind_from_name(const char *name) {
  for (size_t i = 0; name && i < sizeof presets / sizeof presets[0]; i++)
    if (strcmp(presets[i].name, name) == 0) return (int)i;
  return -1;
}

void cl_network_default(cl_network *n) {
  *n = (cl_network){.up_mbps = 5.85, .down_mbps = 20, .rtt_ms = 50, .radio = CL_RADIO_LTE, .radio_warm = true};
}

static double xfer_ms(double mbps, double bytes) {
  if (bytes <= 0) return 0;
  if (!(mbps > 0)) return INFINITY;
  return bytes * 8.0 / (mbps * 1e3); /* bits / (bits per ms) */
}

double cl_net_up_ms(const cl_network *n, double bytes) { return xfer_ms(n->up_mbps, bytes); }
double cl_net_down_ms(const cl_network *n, double bytes) { return xfer_ms(n->down_mbps, bytes); }

double cl_radio_up_mj(const cl_network *n, double bytes) {
  const cl_radio_model *r = cl_radio_preset(n->radio);
  double ms = cl_net_up_ms(n, bytes);
  if (!isfinite(ms)) return ms;
  return (r->base_mw + r->up_mw_per_mbps * n->up_mbps) * ms / 1e3; /* mW * s = mJ */
}

double cl_radio_down_mj(const cl_network *n, double bytes) {
  const cl_radio_model *r = cl_radio_preset(n->radio);
  double ms = cl_net_down_ms(n, bytes);
  if (!isfinite(ms)) return ms;
  return (r->base_mw + r->down_mw_per_mbps * n->down_mbps) * ms / 1e3;
}

double cl_radio_transfer_mj(const cl_network *n, double up_bytes, double down_bytes, double ms) {
  if (!(ms > 0) || !(up_bytes + down_bytes > 0)) return 0;
  const cl_radio_model *r = cl_radio_preset(n->radio);
  double tu = up_bytes > 0 ? cl_net_up_ms(n, up_bytes) : 0, td = down_bytes > 0 ? cl_net_down_ms(n, down_bytes) : 0;
  double share = isfinite(tu) && isfinite(td) && tu + td > 0 ? tu / (tu + td) : up_bytes / (up_bytes + down_bytes);
  double mj = 0, t;
  if ((t = ms * share) > 0) mj += (r->base_mw + r->up_mw_per_mbps * up_bytes * 8 / (t * 1e3)) * t / 1e3;
  if ((t = ms * (1 - share)) > 0) mj += (r->base_mw + r->down_mw_per_mbps * down_bytes * 8 / (t * 1e3)) * t / 1e3;
  return mj;
}

double cl_radio_fixed_mj(const cl_network *n) {
  if (n->radio_warm) return 0;
  const cl_radio_model *r = cl_radio_preset(n->radio);
  return r->promo_s * r->promo_mw + r->tail_s * r->tail_mw;
}

double cl_radio_fixed_ms(const cl_network *n) { return n->radio_warm ? 0 : cl_radio_preset(n->radio)->promo_s * 1e3; }
