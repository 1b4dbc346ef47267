/* cleave: policies. Signals the host pushes, modes, power preference, a custom policy and decision explanations.
 *
 * The policy engine turns signals (battery, thermal state, memory, connectivity) into the weights, constraints and
 * device derating the partitioner optimises under. Signals come from three sources, later ones overriding earlier:
 * the Linux system files (/sys/class/power_supply, /sys/class/thermal, /sys/class/net, /proc/pressure/memory,
 * /proc/meminfo, the cgroup's memory.max), values the host pushes with cleave_signal_set(), and, in the
 * simulator, traces. Every setting here belongs to the context and applies to all its sessions. */
#ifndef CLEAVE_POLICY_H
#define CLEAVE_POLICY_H

#include "cleave/export.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cleave_ctx;
struct cleave_session;

/* XX(name, unit and meaning). Values are doubles; new signals are appended at the end. */
#define CLEAVE_SIGNAL_MAP(XX)                                                                                        \
  XX(BATTERY_LEVEL, "battery charge, 0 (empty) to 1 (full)")                                                         \
  XX(BATTERY_CHARGING, "1 while charging or full on external power, 0 while discharging")                            \
  XX(THERMAL_STATUS, "Android PowerManager thermal status: 0 none, 1 light, 2 moderate, 3 severe, "                  \
                     "4 critical, 5 emergency, 6 shutdown")                                                          \
  XX(THERMAL_HEADROOM, "Android getThermalHeadroom(): 1.0 is where severe throttling starts, 0 is cold")             \
  XX(TEMPERATURE_C, "hottest thermal zone in degrees Celsius")                                                       \
  XX(NET_ONLINE, "1 when a network link is up, 0 when offline")                                                      \
  XX(NET_EFFECTIVE_TYPE, "Network Information effectiveType: 1 slow-2g, 2 2g, 3 3g, 4 4g")                           \
  XX(NET_DOWNLINK_MBPS, "downlink bandwidth estimate in Mbit/s (Network Information downlink)")                      \
  XX(NET_UPLINK_MBPS, "uplink bandwidth estimate in Mbit/s")                                                         \
  XX(NET_RTT_MS, "round-trip time estimate in ms (Network Information rtt)")                                         \
  XX(NET_SAVE_DATA, "1 when the user asked to reduce data use (Network Information saveData)")                       \
  XX(NET_METERED, "1 when the link is billed by volume")                                                             \
  XX(MEM_PRESSURE, "share of the last 10 s some task stalled on memory, 0 to 1 (Linux PSI some avg10/100)")          \
  XX(MEM_AVAILABLE_MB, "memory available to new work in MiB (MemAvailable, or the cgroup's room if less)")           \
  XX(EDGE_QUEUE_MS, "the edge's queueing delay in ms (its load hint)")

#define CLEAVE_SIGNAL_GEN(name, doc) CLEAVE_SIGNAL_##name,
typedef enum cleave_signal { CLEAVE_SIGNAL_MAP(CLEAVE_SIGNAL_GEN) CLEAVE_SIGNAL_COUNT } cleave_signal;
#undef CLEAVE_SIGNAL_GEN

/* The signal's name in lower case ("battery_level"), or NULL when sig is out of range. */
CLEAVE_API const char *cleave_signal_name(cleave_signal sig);

/* Pushes a value the host knows (the Android or browser battery, thermal and network APIs). It overrides what the
 * system files say until it is cleared by pushing NAN. Values are checked: levels and shares in [0, 1], flags 0 or
 * 1, THERMAL_STATUS an integer in 0..6, NET_EFFECTIVE_TYPE an integer in 1..4, the rest finite and >= 0.
 * Returns 0, or CLEAVE_EINVAL (the message says which value and why). Call on the thread that drives ctx. */
CLEAVE_API int cleave_signal_set(struct cleave_ctx *ctx, cleave_signal sig, double value);

/* The value a decision would use now (pushed, else read from the system), in *value. Returns 0, or
 * CLEAVE_ENOTFOUND when no source knows it, or CLEAVE_EINVAL. */
CLEAVE_API int cleave_signal_get(struct cleave_ctx *ctx, cleave_signal sig, double *value);

/* Where work may run. AUTO lets the costs decide; PREFER_LOCAL counts the edge's time, energy and cost 1.5 times,
 * PREFER_EDGE the local devices'; ONLY_* forbid the other side. */
typedef enum cleave_mode {
  CLEAVE_MODE_AUTO = 0,
  CLEAVE_MODE_PREFER_LOCAL = 1,
  CLEAVE_MODE_ONLY_LOCAL = 2,
  CLEAVE_MODE_PREFER_EDGE = 3,
  CLEAVE_MODE_ONLY_EDGE = 4
} cleave_mode;

/* The app's wish between speed and energy, in the spirit of WebGPU's powerPreference. */
typedef enum cleave_power_preference {
  CLEAVE_POWER_DEFAULT = 0,
  CLEAVE_POWER_HIGH_PERFORMANCE = 1,
  CLEAVE_POWER_LOW_POWER = 2
} cleave_power_preference;

/* Returns 0 or CLEAVE_EINVAL for a value outside the enum. */
CLEAVE_API int cleave_policy_set_mode(struct cleave_ctx *ctx, cleave_mode mode);
CLEAVE_API int cleave_policy_set_power_preference(struct cleave_ctx *ctx, cleave_power_preference pref);

/* The folder that stands for "/" when the system files are read ("/" by default; tests point it at a fixture
 * tree). NULL or "" stops reading system files, so that only pushed values count. The string is copied.
 * Returns 0, CLEAVE_EINVAL or CLEAVE_ELIMIT (longer than 1023 bytes). */
CLEAVE_API int cleave_policy_set_system_root(struct cleave_ctx *ctx, const char *root);

/* What a policy decides. The partitioner minimises
 *   w_latency * latency_ms + w_energy * device_energy_mJ + w_cost * edge_cost
 * with the local devices' predicted times multiplied by local_slowdown and their energy by local_energy_scale,
 * the edge's compute time by edge_slowdown, every memory cap multiplied by memory_cap_scale (and
 * capped at memory_cap_mb when > 0), and the edge's cost multiplied by edge_cost_scale. This struct only grows at
 * the end. */
typedef struct cleave_policy_decision {
  double w_latency;          /* per ms */
  double w_energy;           /* per mJ of device energy */
  double w_cost;             /* per unit of edge cost: the edge's compute price, and 1 per MB over a metered link */
  double local_slowdown;     /* >= 1: thermal throttling */
  double local_energy_scale; /* >= 1: hot silicon leaks */
  double memory_cap_scale;   /* in (0, 1] */
  double memory_cap_mb;      /* 0: no absolute cap */
  double edge_cost_scale;    /* >= 0: multiplies the edge's cost; saveData raises it */
  double edge_slowdown;      /* >= 1: a loaded or distrusted edge; its compute times are multiplied by it */
  int edge_allowed;          /* 0: offline or ONLY_LOCAL */
  int local_allowed;         /* 0: ONLY_EDGE (privacy pins still hold the model's inputs on the device) */
  cleave_mode mode;
} cleave_policy_decision;

/* The signals a custom policy sees. */
typedef struct cleave_policy_input cleave_policy_input;

/* A signal's value, or NAN when no source knows it. */
CLEAVE_API double cleave_policy_input_signal(const cleave_policy_input *in, cleave_signal sig);

/* A custom policy: called on the thread that drives the context with the built-in engine's decision in *d, which
 * it may change. Returning a negative CLEAVE_E* code makes the planning call fail with that code. */
typedef int (*cleave_policy_fn)(void *user, const cleave_policy_input *in, cleave_policy_decision *d);

/* Installs (fn non-NULL) or removes (fn NULL) the custom policy. user is passed back and not owned. */
CLEAVE_API void cleave_policy_set_callback(struct cleave_ctx *ctx, cleave_policy_fn fn, void *user);

/* Runs the policy on the current signals and writes the decision to *out. Errors: CLEAVE_EINFEASIBLE when the
 * mode contradicts the signals (ONLY_EDGE while offline; the message names both), or the custom policy's code. */
CLEAVE_API int cleave_policy_decide(struct cleave_ctx *ctx, cleave_policy_decision *out);

/* The device profiles explanations plan with: the home device's and, optionally, the edge's (edge_path NULL: no
 * edge). The files are read now (the format is the partitioner's profile JSON). Errors: CLEAVE_EIO, CLEAVE_EINVAL
 * (the message names the file and the key), CLEAVE_ENOMEM. */
CLEAVE_API int cleave_policy_set_profiles(struct cleave_ctx *ctx, const char *device_path, const char *edge_path);

struct cleave_profile;

/* Like cleave_policy_set_profiles() with profiles the caller loaded (cleave_profile_load()), used in place: the
 * context keeps the pointers, not copies, so both must outlive its explanations or be replaced first. edge NULL:
 * no edge; device NULL: no profiles (explanations then plan nothing). Errors: CLEAVE_EINVAL (a device profile of
 * kind edge, or an edge profile of another kind; the message names the profile). */
CLEAVE_API int cleave_policy_use_profiles(struct cleave_ctx *ctx, const struct cleave_profile *device,
                                          const struct cleave_profile *edge);

/* Explains how the session would be placed now, as JSON:
 *   {"signals": {name: {"value": v, "source": "system"|"host"}}, "mode", "power_preference",
 *    "decision": {weights, derating, caps, edge flags}, "rules": [text of each rule that fired],
 *    "candidates": [{"name", "assignment": {device: nodes}, "latency_ms", "energy_mj", "cost", "objective",
 *                    "feasible"}], "chosen": name}
 * *json_out is allocated with the context's allocator; release it with cleave_string_free(). Errors as
 * cleave_policy_decide, and CLEAVE_ENOMEM. */
CLEAVE_API int cleave_session_explain(struct cleave_session *s, char **json_out);

/* Releases a string the library returned (NULL is a no-op). */
CLEAVE_API void cleave_string_free(struct cleave_ctx *ctx, char *str);

#ifdef __cplusplus
}
#endif
#endif
