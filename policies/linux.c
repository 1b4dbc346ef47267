/* policies: the Linux signal source. Reads sysfs and procfs below a configurable root, so that tests can point it
 * at fixture trees. Files that are missing leave their signals unknown; files that do not parse are skipped too,
 * because a kernel or a driver that writes something odd must not stop inference. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/ctx.h"
#include "policies/signals.h"

#define PATH_LEN 1400
#define MAX_ENTRIES 64

/* Ambient temperature taken as zero headroom when estimating Android-style headroom from a trip point. */
#define AMBIENT_C 25.0

/* Reads a small file into buf (NUL-terminated, trailing newline removed). 0 or -1. */
static int read_small(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
    buf[--n] = 0;
  return 0;
}

static int read_num(const char *path, double *out) {
  char buf[64], *end;
  if (read_small(path, buf, sizeof buf)) return -1;
  errno = 0;
  double v = strtod(buf, &end);
  if (end == buf || *end || errno || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entry names of dir (at most MAX_ENTRIES, dot entries skipped) into names; returns the count, 0 when the
 * folder is missing. The names live in store. */
static int list_dir(const char *dir, char store[MAX_ENTRIES][256], char *names[MAX_ENTRIES]) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while (n < MAX_ENTRIES && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(store[n], 256, "%s", e->d_name);
    names[n] = store[n];
    n++;
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], cmp_names);
  return n;
}

static void path_of(char *out, const char *root, const char *rel) {
  size_t len = strlen(root);
  while (len > 0 && root[len - 1] == '/')
    len--;
  snprintf(out, PATH_LEN, "%.*s/%s", (int)len, root, rel);
}

static void read_power(const char *root, cl_signals *out) {
  char store[MAX_ENTRIES][256];
  char *names[MAX_ENTRIES], dir[PATH_LEN], p[PATH_LEN + 300], buf[64];
  path_of(dir, root, "sys/class/power_supply");
  int n = list_dir(dir, store, names);
  int have_battery = 0, mains_online = 0;
  double sum_level = 0;
  int n_levels = 0, charging = -1;
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/%s/type", dir, names[i]);
    if (read_small(p, buf, sizeof buf)) continue;
    if (strcmp(buf, "Battery") == 0) {
      double cap;
      snprintf(p, sizeof p, "%s/%s/scope", dir, names[i]);
      char scope[32];
      if (!read_small(p, scope, sizeof scope) && strcmp(scope, "Device") == 0) continue; /* a mouse, a stylus */
      have_battery = 1;
      snprintf(p, sizeof p, "%s/%s/capacity", dir, names[i]);
      if (!read_num(p, &cap) && cap >= 0 && cap <= 100) {
        sum_level += cap / 100.0;
        n_levels++;
      }
      snprintf(p, sizeof p, "%s/%s/status", dir, names[i]);
      if (!read_small(p, buf, sizeof buf)) {
        if (strcmp(buf, "Discharging") == 0)
          charging = 0;
        else if (charging != 0 &&
                 (strcmp(buf, "Charging") == 0 || strcmp(buf, "Full") == 0 || strcmp(buf, "Not charging") == 0))
          charging = 1;
      }
    } else {
      double on;
      snprintf(p, sizeof p, "%s/%s/online", dir, names[i]);
      if (!read_num(p, &on) && on == 1) mains_online = 1;
    }
  }
  if (n_levels) cl_signals_put(out, CLEAVE_SIGNAL_BATTERY_LEVEL, sum_level / n_levels, CL_ORIGIN_SYSTEM);
  if (charging < 0 && (mains_online || (n > 0 && !have_battery))) charging = 1;
  if (charging >= 0) cl_signals_put(out, CLEAVE_SIGNAL_BATTERY_CHARGING, charging, CL_ORIGIN_SYSTEM);
}

/* The hottest zone's temperature, and the largest headroom over the zones that have a throttling trip point:
 * (T - ambient) / (T_trip - ambient), with the first passive trip (else hot, else critical) as T_trip, so that
 * 1.0 means "at the point where the kernel starts throttling", as Android's headroom does. */
static void read_thermal(const char *root, cl_signals *out) {
  char store[MAX_ENTRIES][256];
  char *names[MAX_ENTRIES], dir[PATH_LEN], p[PATH_LEN + 300], buf[64];
  path_of(dir, root, "sys/class/thermal");
  int n = list_dir(dir, store, names);
  double hottest = -INFINITY, headroom = -INFINITY;
  for (int i = 0; i < n; i++) {
    if (strncmp(names[i], "thermal_zone", 12) != 0) continue;
    double milli;
    snprintf(p, sizeof p, "%s/%s/temp", dir, names[i]);
    if (read_num(p, &milli)) continue;
    double t = milli / 1000.0;
    if (t < -273.15 || t > 500) continue;
    if (t > hottest) hottest = t;
    double trip[3] = {NAN, NAN, NAN}; /* passive, hot, critical */
    for (int k = 0; k < 16; k++) {
      double tt;
      snprintf(p, sizeof p, "%s/%s/trip_point_%d_type", dir, names[i], k);
      if (read_small(p, buf, sizeof buf)) break;
      snprintf(p, sizeof p, "%s/%s/trip_point_%d_temp", dir, names[i], k);
      if (read_num(p, &tt) || tt <= 0) continue;
      int slot = strcmp(buf, "passive") == 0    ? 0
                 : strcmp(buf, "hot") == 0      ? 1
                 : strcmp(buf, "critical") == 0 ? 2
                                                : -1;
      if (slot >= 0 && isnan(trip[slot])) trip[slot] = tt / 1000.0;
    }
    for (int s = 0; s < 3; s++)
      if (!isnan(trip[s]) && trip[s] > AMBIENT_C + 1) {
        double h = (t - AMBIENT_C) / (trip[s] - AMBIENT_C);
        if (h < 0) h = 0;
        if (h > headroom) headroom = h;
        break;
      }
  }
  if (isfinite(hottest)) cl_signals_put(out, CLEAVE_SIGNAL_TEMPERATURE_C, hottest, CL_ORIGIN_SYSTEM);
  if (isfinite(headroom)) cl_signals_put(out, CLEAVE_SIGNAL_THERMAL_HEADROOM, headroom, CL_ORIGIN_SYSTEM);
}

/* Online when any link other than loopback is up (operstate "up", or "unknown" with carrier 1, which is what
 * many virtual links report). Metered when every link that is up is a mobile-broadband (wwan) device. */
static void read_net(const char *root, cl_signals *out) {
  char store[MAX_ENTRIES][256];
  char *names[MAX_ENTRIES], dir[PATH_LEN], p[PATH_LEN + 300], buf[64], uevent[512];
  path_of(dir, root, "sys/class/net");
  int n = list_dir(dir, store, names);
  int links = 0, up = 0, up_wwan = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(names[i], "lo") == 0) continue;
    links++;
    snprintf(p, sizeof p, "%s/%s/operstate", dir, names[i]);
    if (read_small(p, buf, sizeof buf)) continue;
    double carrier = 0;
    snprintf(p, sizeof p, "%s/%s/carrier", dir, names[i]);
    int is_up = strcmp(buf, "up") == 0 || (strcmp(buf, "unknown") == 0 && !read_num(p, &carrier) && carrier == 1);
    if (!is_up) continue;
    up++;
    snprintf(p, sizeof p, "%s/%s/uevent", dir, names[i]);
    if (!read_small(p, uevent, sizeof uevent) && strstr(uevent, "DEVTYPE=wwan")) up_wwan++;
  }
  if (!links) return;
  cl_signals_put(out, CLEAVE_SIGNAL_NET_ONLINE, up > 0, CL_ORIGIN_SYSTEM);
  if (up) cl_signals_put(out, CLEAVE_SIGNAL_NET_METERED, up == up_wwan, CL_ORIGIN_SYSTEM);
}

/* "some avg10=1.50 avg60=..." */
static void read_psi(const char *root, cl_signals *out) {
  char p[PATH_LEN], buf[256];
  path_of(p, root, "proc/pressure/memory");
  if (read_small(p, buf, sizeof buf)) return;
  const char *s = strstr(buf, "some ");
  if (!s || s != buf) return;
  s = strstr(s, "avg10=");
  if (!s) return;
  char *end;
  double v = strtod(s + 6, &end);
  if (end == s + 6 || !isfinite(v) || v < 0 || v > 100) return;
  cl_signals_put(out, CLEAVE_SIGNAL_MEM_PRESSURE, v / 100.0, CL_ORIGIN_SYSTEM);
}

/* MemAvailable, lowered to the room left under the process's cgroup (v2) memory.max when that is less. */
static void read_memory(const char *root, cl_signals *out) {
  char p[PATH_LEN], buf[4096];
  double avail_mb = NAN;
  path_of(p, root, "proc/meminfo");
  if (!read_small(p, buf, sizeof buf)) {
    const char *s = strstr(buf, "MemAvailable:");
    if (s) {
      char *end;
      double kb = strtod(s + 13, &end);
      if (end != s + 13 && isfinite(kb) && kb >= 0) avail_mb = kb / 1024.0;
    }
  }
  /* cgroup v2: "0::/path" names the process's group. */
  char cg[512] = "", rel[PATH_LEN];
  path_of(p, root, "proc/self/cgroup");
  if (!read_small(p, buf, sizeof buf)) {
    const char *s = strstr(buf, "0::");
    if (s) {
      size_t len = strcspn(s + 3, "\n");
      if (len < sizeof cg) snprintf(cg, sizeof cg, "%.*s", (int)len, s + 3);
    }
  }
  const char *group = cg[0] == '/' ? cg + 1 : cg;
  double max, cur = 0;
  snprintf(rel, sizeof rel, "sys/fs/cgroup/%s%smemory.max", group, group[0] ? "/" : "");
  path_of(p, root, rel);
  if (!read_num(p, &max) && max >= 0) { /* "max" (no limit) does not parse */
    snprintf(rel, sizeof rel, "sys/fs/cgroup/%s%smemory.current", group, group[0] ? "/" : "");
    path_of(p, root, rel);
    if (read_num(p, &cur) || cur < 0) cur = 0;
    double room_mb = (max > cur ? max - cur : 0) / (1024.0 * 1024.0);
    if (isnan(avail_mb) || room_mb < avail_mb) avail_mb = room_mb;
  }
  if (!isnan(avail_mb)) cl_signals_put(out, CLEAVE_SIGNAL_MEM_AVAILABLE_MB, avail_mb, CL_ORIGIN_SYSTEM);
}

int cl_linux_read(const char *root, cl_signals *out) {
  if (!root || !root[0]) root = "/";
  read_power(root, out);
  read_thermal(root, out);
  read_net(root, out);
  read_psi(root, out);
  read_memory(root, out);
  return 0;
}

static int linux_read(void *state, double now_s, cl_signals *out) {
  (void)now_s;
  const cl_linux_source *src = state;
  return cl_linux_read(src->root, out);
}

const cl_signal_source_iface cl_linux_signals = {.name = "linux", .read = linux_read};
