/* policies: cleave-sim run's outputs: the summary table, JSON, and a self-contained HTML report with SVG plots. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/ir/ctx.h"
#include "policies/sim.h"

void cl_sim_write_table(const cl_sim_result *r, FILE *f) {
  fprintf(f, "%-12s %9s %9s %8s %9s %10s %8s %10s %10s %10s\n", "policy", "p50 ms", "p95 ms", "misses", "fallbacks",
          "energy J", "battery", "sent MB", "objective", "plan chg");
  for (int p = 0; p < CL_SIM_POLICIES; p++) {
    const cl_sim_summary *s = &r->sum[p];
    fprintf(f, "%-12s %9.1f %9.1f %8d %9d %10.1f %7.2f%% %10.2f %10.1f %10d\n", cl_sim_policy_name((cl_sim_policy)p),
            s->p50_ms, s->p95_ms, s->misses, s->fallbacks, s->energy_j, 100 * s->battery_used, s->up_bytes / 1e6,
            s->mean_objective, s->plan_changes);
  }
  fprintf(f, "best static split: %s; objective per request = %g*latency_ms + %g*energy_mJ + %g*cost\n",
          r->plans[r->static_plan].name, r->w_lat, r->w_energy, r->w_cost);
}

static json_t *summary_json(const cl_sim_summary *s) {
  return json_pack("{s:i,s:f,s:f,s:f,s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:i,s:f}", "requests", s->n, "p50_ms", s->p50_ms,
                   "p95_ms", s->p95_ms, "mean_ms", s->mean_ms, "deadline_misses", s->misses, "fallbacks",
                   s->fallbacks, "energy_j", s->energy_j, "battery_used", s->battery_used, "up_bytes", s->up_bytes,
                   "down_bytes", s->down_bytes, "mean_objective", s->mean_objective, "plan_changes", s->plan_changes,
                   "max_temp_c", s->max_temp_c);
}

int cl_sim_write_json(const cl_sim_result *r, FILE *f) {
  json_t *root = json_object(), *pol = json_object(), *plans = json_array(), *series = json_object();
  int rc = CLEAVE_ENOMEM;
  if (!root || !pol || !plans || !series) goto done;
  json_object_set_new(root, "device", json_string(r->device));
  json_object_set_new(root, "edge", json_string(r->edge));
  json_object_set_new(root, "duration_s", json_real(r->duration_s));
  json_object_set_new(
      root, "weights",
      json_pack("{s:f,s:f,s:f}", "w_latency", r->w_lat, "w_energy", r->w_energy, "w_cost", r->w_cost));
  for (int k = 0; k < r->n_plans; k++) {
    const cl_sim_plan_info *pi = &r->plans[k];
    json_array_append_new(plans,
                          json_pack("{s:i,s:s,s:i,s:i,s:f,s:f,s:f,s:f}", "id", k, "name", pi->name, "edge_nodes",
                                    pi->edge_nodes, "nodes", pi->n_nodes, "local_ms", pi->local_ms, "edge_ms",
                                    pi->edge_ms, "up_bytes", pi->up_bytes, "down_bytes", pi->down_bytes));
  }
  json_object_set_new(root, "plans", plans);
  plans = NULL;
  json_object_set_new(root, "best_static_plan", json_integer(r->static_plan));
  for (int p = 0; p < CL_SIM_POLICIES; p++) {
    json_t *o = summary_json(&r->sum[p]), *req = json_array();
    if (!o || !req) {
      json_decref(o);
      json_decref(req);
      goto done;
    }
    for (int i = 0; i < r->n_pts; i++) {
      const cl_sim_point *q = &r->pts[p][i];
      json_array_append_new(req, json_pack("[f,f,f,f,i,b,b,f,f]", q->t_s, q->latency_ms, q->energy_mj, q->objective,
                                           q->plan, q->fallback, q->missed, q->battery, q->temp_c));
    }
    json_object_set_new(o, "requests_fields",
                        json_pack("[s,s,s,s,s,s,s,s,s]", "t_s", "latency_ms", "energy_mj", "objective", "plan",
                                  "fallback", "missed", "battery", "temp_c"));
    json_object_set_new(o, "requests", req);
    json_object_set_new(pol, cl_sim_policy_name((cl_sim_policy)p), o);
  }
  json_object_set_new(root, "policies", pol);
  pol = NULL;
  json_t *t = json_array(), *u = json_array(), *d = json_array();
  for (int i = 0; t && u && d && i < r->n_link; i++) {
    json_array_append_new(t, json_real(r->link_t[i]));
    json_array_append_new(u, json_real(r->link_up[i]));
    json_array_append_new(d, json_real(r->link_down[i]));
  }
  json_object_set_new(series, "t_s", t);
  json_object_set_new(series, "up_mbps", u);
  json_object_set_new(series, "down_mbps", d);
  json_object_set_new(root, "link", series);
  series = NULL;
  rc = json_dumpf(root, f, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) == 0 && fputc('\n', f) != EOF ? 0 : CLEAVE_EIO;
done:
  json_decref(root);
  json_decref(pol);
  json_decref(plans);
  json_decref(series);
  return rc;
}

/* ---- HTML ---- */

#define W 900
#define H 170
#define ML 60 /* left margin for the axis labels */
#define MB 22

static const char *const colors[CL_SIM_POLICIES] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#7f7f7f"};

static void html_escape(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else if (*s == '"')
      fputs("&quot;", f);
    else
      fputc(*s, f);
  }
}

typedef struct axes {
  double x1, y0, y1;
  bool log_y;
} axes;

static double px(const axes *a, double x) { return ML + (W - ML - 10) * x / a->x1; }
static double py(const axes *a, double y) {
  double v0 = a->y0, v1 = a->y1, v = y;
  if (a->log_y) {
    v0 = log10(v0), v1 = log10(v1), v = log10(y > a->y0 ? y : a->y0);
  }
  double fr = (v - v0) / (v1 - v0);
  if (fr < 0) fr = 0;
  if (fr > 1) fr = 1;
  return 8 + (H - MB - 8) * (1 - fr);
}

static void frame(FILE *f, const axes *a, const char *title, const char *unit) {
  fprintf(
      f, "<h3>%s</h3>\n<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
      title, W, H, W, H);
  fprintf(f, "<rect x=\"%d\" y=\"8\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", ML, W - ML - 10,
          H - MB - 8);
  for (int i = 0; i <= 4; i++) {
    double y =
        a->log_y ? pow(10, log10(a->y0) + (log10(a->y1) - log10(a->y0)) * i / 4) : a->y0 + (a->y1 - a->y0) * i / 4;
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.3g</text>\n", ML - 4, py(a, y) + 3,
            y);
    double x = a->x1 * i / 4;
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.0f s</text>\n", px(a, x), H - 6,
            x);
  }
  fprintf(f, "<text x=\"4\" y=\"12\" font-size=\"10\">%s</text>\n", unit);
}

static void polyline(FILE *f, const axes *a, int n, const float *x, const float *y, int stride, const char *color) {
  fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" points=\"", color);
  for (int i = 0; i < n; i++) {
    const float *xi = (const float *)((const char *)x + (size_t)i * stride);
    const float *yi = (const float *)((const char *)y + (size_t)i * stride);
    fprintf(f, "%.1f,%.1f ", px(a, *xi), py(a, *yi));
  }
  fputs("\"/>\n", f);
}

static void legend(FILE *f, const bool *show) {
  fputs("<p class=\"legend\">", f);
  for (int p = 0; p < CL_SIM_POLICIES; p++)
    if (show[p])
      fprintf(f, "<span style=\"color:%s\">&#9632; %s</span> ", colors[p], cl_sim_policy_name((cl_sim_policy)p));
  fputs("</p>\n", f);
}

int cl_sim_write_html(const cl_sim_result *r, const char *title, FILE *f) {
  fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", f);
  html_escape(f, title);
  fputs("</title>\n<style>body{font-family:sans-serif;max-width:960px;margin:1em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px "
        "8px;text-align:right}th{background:#eee}td:first-child{text-align:left}"
        ".legend span{margin-right:1em}</style></head><body>\n<h1>",
        f);
  html_escape(f, title);
  fprintf(f, "</h1>\n<p>Device <b>");
  html_escape(f, r->device);
  fputs("</b>, edge <b>", f);
  html_escape(f, r->edge);
  fprintf(f,
          "</b>, %d requests over %.0f s. Objective per request: %g &times; latency (ms) + %g &times; device energy "
          "(mJ) + %g &times; cost. Best static split: <b>",
          r->n_pts, r->duration_s, r->w_lat, r->w_energy, r->w_cost);
  html_escape(f, r->plans[r->static_plan].name);
  fputs(
      "</b>.</p>\n<table><tr><th>policy</th><th>p50 ms</th><th>p95 ms</th><th>deadline misses</th><th>fallbacks</th>"
      "<th>energy J</th><th>battery used</th><th>MB sent</th><th>mean objective</th><th>plan changes</th></tr>\n",
      f);
  for (int p = 0; p < CL_SIM_POLICIES; p++) {
    const cl_sim_summary *s = &r->sum[p];
    fprintf(f,
            "<tr><td style=\"color:%s\">%s</td><td>%.1f</td><td>%.1f</td><td>%d</td><td>%d</td><td>%.1f</td>"
            "<td>%.2f%%</td><td>%.2f</td><td>%.1f</td><td>%d</td></tr>\n",
            colors[p], cl_sim_policy_name((cl_sim_policy)p), s->p50_ms, s->p95_ms, s->misses, s->fallbacks,
            s->energy_j, 100 * s->battery_used, s->up_bytes / 1e6, s->mean_objective, s->plan_changes);
  }
  fputs("</table>\n", f);

  double ymax = 1;
  for (int i = 0; i < r->n_link; i++)
    ymax = fmax(ymax, fmax(r->link_up[i], r->link_down[i]));
  axes a = {.x1 = r->duration_s > 0 ? r->duration_s : 1, .y0 = 0.05, .y1 = ymax * 1.2, .log_y = true};
  frame(f, &a, "Link bandwidth", "Mbit/s");
  polyline(f, &a, r->n_link, r->link_t, r->link_up, sizeof(float), "#d62728");
  polyline(f, &a, r->n_link, r->link_t, r->link_down, sizeof(float), "#1f77b4");
  fputs(
      "</svg>\n<p class=\"legend\"><span style=\"color:#d62728\">&#9632; uplink</span> <span style=\"color:#1f77b4\">"
      "&#9632; downlink</span> (log scale; 0 is offline)</p>\n",
      f);

  /* Placement: the share of nodes on the edge, per request. */
  axes ap = {.x1 = a.x1, .y0 = 0, .y1 = 1};
  frame(f, &ap, "Placement: share of nodes on the edge", "share");
  bool show[CL_SIM_POLICIES] = {true, false, false, true, true};
  for (int p = 0; p < CL_SIM_POLICIES; p++) {
    if (!show[p]) continue;
    for (int i = 0; i < r->n_pts; i++) {
      const cl_sim_point *q = &r->pts[p][i];
      double share = q->fallback ? 0
                                 : (double)r->plans[q->plan].edge_nodes /
                                       (r->plans[q->plan].n_nodes ? r->plans[q->plan].n_nodes : 1);
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\" fill=\"%s\"/>\n", px(&ap, q->t_s),
              py(&ap, share) + (p == CL_SIM_AUTO     ? -2
                                : p == CL_SIM_ORACLE ? 2
                                                     : 0),
              colors[p]);
    }
  }
  fputs("</svg>\n", f);
  legend(f, show);

  double lmax = 1, lmin = INFINITY;
  for (int p = 0; p < CL_SIM_POLICIES; p++)
    for (int i = 0; i < r->n_pts; i++) {
      lmax = fmax(lmax, r->pts[p][i].latency_ms);
      lmin = fmin(lmin, r->pts[p][i].latency_ms);
    }
  axes al = {.x1 = a.x1, .y0 = isfinite(lmin) && lmin > 0 ? lmin * 0.8 : 1, .y1 = lmax * 1.2, .log_y = true};
  frame(f, &al, "Latency per request", "ms (log)");
  bool all[CL_SIM_POLICIES] = {true, true, true, true, true};
  for (int p = CL_SIM_POLICIES - 1; p >= 0; p--)
    for (int i = 0; i < r->n_pts; i++)
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.3\" fill=\"%s\" fill-opacity=\"0.6\"/>\n",
              px(&al, r->pts[p][i].t_s), py(&al, r->pts[p][i].latency_ms), colors[p]);
  fputs("</svg>\n", f);
  legend(f, all);

  double bmin = 1, bmax = 0, tmin = INFINITY, tmax = -INFINITY;
  for (int p = 0; p < CL_SIM_POLICIES; p++)
    for (int i = 0; i < r->n_pts; i++) {
      bmin = fmin(bmin, r->pts[p][i].battery), bmax = fmax(bmax, r->pts[p][i].battery);
      tmin = fmin(tmin, r->pts[p][i].temp_c), tmax = fmax(tmax, r->pts[p][i].temp_c);
    }
  if (!(bmax > bmin)) bmin = bmax - 0.01;
  axes ab = {.x1 = a.x1, .y0 = bmin * 100, .y1 = bmax * 100};
  frame(f, &ab, "Battery", "%");
  for (int p = 0; p < CL_SIM_POLICIES; p++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" points=\"", colors[p]);
    for (int i = 0; i < r->n_pts; i++)
      fprintf(f, "%.1f,%.1f ", px(&ab, r->pts[p][i].t_s), py(&ab, 100 * r->pts[p][i].battery));
    fputs("\"/>\n", f);
  }
  fputs("</svg>\n", f);
  legend(f, all);

  if (!(tmax > tmin)) tmax = tmin + 1;
  if (isfinite(tmin)) {
    axes at = {.x1 = a.x1, .y0 = tmin - 1, .y1 = tmax + 1};
    frame(f, &at, "Device temperature", "&#176;C");
    for (int p = 0; p < CL_SIM_POLICIES; p++)
      polyline(f, &at, r->n_pts, &r->pts[p][0].t_s, &r->pts[p][0].temp_c, sizeof(cl_sim_point), colors[p]);
    fputs("</svg>\n", f);
    legend(f, all);
  }
  fputs(
      "<h3>Plans</h3>\n<table><tr><th>id</th><th>plan</th><th>nodes on the edge</th><th>local ms</th><th>edge ms</th>"
      "<th>up MB</th><th>down MB</th></tr>\n",
      f);
  for (int k = 0; k < r->n_plans; k++) {
    const cl_sim_plan_info *pi = &r->plans[k];
    fprintf(f, "<tr><td>%d</td><td>", k);
    html_escape(f, pi->name);
    fprintf(f, "</td><td>%d / %d</td><td>%.1f</td><td>%.1f</td><td>%.3f</td><td>%.3f</td></tr>\n", pi->edge_nodes,
            pi->n_nodes, pi->local_ms, pi->edge_ms, pi->up_bytes / 1e6, pi->down_bytes / 1e6);
  }
  fputs("</table>\n</body></html>\n", f);
  return ferror(f) ? CLEAVE_EIO : 0;
}
