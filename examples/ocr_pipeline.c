/* cleave-ocr-demo: the PP-OCR pipeline (PP-OCRv4 detection and recognition, mobile v2.0 direction classifier) on
 * the public API in cleave.h.
 *
 * The pipeline follows PaddleOCR's: DB text detection on the picture resized to multiples of 32, one box per
 * connected region of the probability map, grown back ("unclipped") by the DB rule, then for every box the
 * direction classifier (0 or 180 degrees) and CTC recognition over ppocr_keys_v1.txt. PaddleOCR reads
 * pictures with OpenCV, so channels are fed in BGR order and resized bilinearly with OpenCV's pixel centres. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocr_demo.h"

#define DET_MODEL "ch_PP-OCRv4_det_infer.onnx"
#define REC_MODEL "ch_PP-OCRv4_rec_infer.onnx"
#define CLS_MODEL "ch_ppocr_mobile_v2.0_cls_infer.onnx"

#define DET_LIMIT_SIDE 960 /* longest side of the detector's input */
#define DET_THRESH 0.3f    /* a map pixel above this is text */
#define DET_BOX_THRESH 0.6 /* mean probability a region needs to count as a box */
#define DET_UNCLIP 1.5     /* DB grows a region by area * ratio / perimeter */
#define DET_MIN_SIDE 3     /* regions thinner than this (map pixels) are noise */
#define DET_MAX_BOXES 1000
#define LINE_HEIGHT 48 /* height of the classifier's and recogniser's input */
#define CLS_WIDTH 192
#define CLS_THRESH 0.9 /* PaddleOCR turns a crop over only when "180" is this sure */
#define REC_WIDTH 320
#define MAX_SIDE 16384 /* largest picture side accepted */

/* ---- pictures ------------------------------------------------------------------------------------------ */

static int image_alloc(image *im, int w, int h) {
  im->w = w;
  im->h = h;
  im->px = malloc((size_t)w * (size_t)h * 3);
  return im->px ? 0 : -1;
}

/* Reads one header number of a PNM file, skipping whitespace and comments. */
static int ppm_number(FILE *f, long *out) {
  int c = fgetc(f);
  for (;;) {
    if (c == '#') {
      while (c != EOF && c != '\n' && c != '\r')
        c = fgetc(f);
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      c = fgetc(f);
    } else {
      break;
    }
  }
  if (c < '0' || c > '9') return -1;
  long v = 0;
  while (c >= '0' && c <= '9') {
    v = v * 10 + (c - '0');
    if (v > 100000000) return -1;
    c = fgetc(f);
  }
  /* Exactly one whitespace character ends a number; after maxval it separates the header from the pixels. */
  if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f') return -1;
  *out = v;
  return 0;
}

/* Loads a binary PPM (P6, maxval 255). Prints the reason and returns -1 on any problem. */
static int ppm_load(const char *path, image *im) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cleave-ocr-demo: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  long w = 0, h = 0, maxval = 0;
  const char *why = NULL;
  if (fgetc(f) != 'P' || fgetc(f) != '6') {
    why = "not a binary PPM (P6) file";
  } else if (ppm_number(f, &w) || ppm_number(f, &h) || ppm_number(f, &maxval)) {
    why = "malformed PPM header";
  } else if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE) {
    why = "picture size out of range (1 to 16384 pixels a side)";
  } else if (maxval != 255) {
    why = "only 8-bit PPM files (maxval 255) are supported";
  } else if (image_alloc(im, (int)w, (int)h)) {
    why = "out of memory";
  } else if (fread(im->px, 3, (size_t)w * (size_t)h, f) != (size_t)w * (size_t)h) {
    why = "pixel data is truncated";
    free(im->px);
    im->px = NULL;
  }
  fclose(f);
  if (why) {
    fprintf(stderr, "cleave-ocr-demo: %s: %s\n", path, why);
    return -1;
  }
  return 0;
}

/* Copies the rectangle [x0, x1) x [y0, y1) of src, turned by quarter_turns * 90 degrees counter-clockwise
 * (1 like numpy.rot90, 2 upside down). */
static int image_crop(const image *src, int x0, int y0, int x1, int y1, int quarter_turns, image *out) {
  int cw = x1 - x0, ch = y1 - y0;
  int w = quarter_turns == 1 ? ch : cw, h = quarter_turns == 1 ? cw : ch;
  if (image_alloc(out, w, h)) return -1;
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      int sx, sy;
      if (quarter_turns == 1) {
        sx = cw - 1 - y;
        sy = x;
      } else if (quarter_turns == 2) {
        sx = cw - 1 - x;
        sy = ch - 1 - y;
      } else {
        sx = x;
        sy = y;
      }
      memcpy(out->px + ((size_t)y * w + x) * 3, src->px + ((size_t)(y0 + sy) * src->w + (x0 + sx)) * 3, 3);
    }
  }
  return 0;
}

/* Resizes src to dw x dh (bilinear, OpenCV's INTER_LINEAR sampling and rounding to 8 bits) and writes it as
 * three planes of a 1x3xHxstride tensor in BGR order, normalised as (v / 255 - mean[c]) / std[c]. Columns from
 * dw to stride are left as they are (the caller zeroes them: PaddleOCR pads with 0). */
static void resize_normalize(const image *src, int dw, int dh, int stride, const float mean[3], const float std[3],
                             float *dst) {
  double sx = (double)src->w / dw, sy = (double)src->h / dh;
  for (int y = 0; y < dh; y++) {
    double fy = (y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    int y0 = (int)fy;
    double ay = fy - y0;
    if (y0 >= src->h - 1) {
      y0 = src->h - 1;
      ay = 0;
    }
    int y1 = y0 + 1 < src->h ? y0 + 1 : y0;
    const uint8_t *r0 = src->px + (size_t)y0 * src->w * 3, *r1 = src->px + (size_t)y1 * src->w * 3;
    for (int x = 0; x < dw; x++) {
      double fx = (x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      int x0 = (int)fx;
      double ax = fx - x0;
      if (x0 >= src->w - 1) {
        x0 = src->w - 1;
        ax = 0;
      }
      int x1 = x0 + 1 < src->w ? x0 + 1 : x0;
      for (int c = 0; c < 3; c++) {
        int s = 2 - c; /* plane 0 is blue */
        double v = (1 - ay) * ((1 - ax) * r0[x0 * 3 + s] + ax * r0[x1 * 3 + s]) +
                   ay * ((1 - ax) * r1[x0 * 3 + s] + ax * r1[x1 * 3 + s]);
        float q = (float)floor(v + 0.5);
        dst[((size_t)c * dh + y) * stride + x] = (q / 255.0f - mean[c]) / std[c];
      }
    }
  }
}

/* ---- character list ------------------------------------------------------------------------------------ */

static int charset_load(const char *dir, charset *cs) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, OCR_KEYS_FILE);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cleave-ocr-demo: cannot open %s: %s (run scripts/fetch-models.sh)\n", path, strerror(errno));
    return -1;
  }
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (size < 0 || size > (64L << 20) || fseek(f, 0, SEEK_SET) != 0 || !(cs->text = malloc((size_t)size + 1)) ||
      fread(cs->text, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cleave-ocr-demo: cannot read %s\n", path);
    fclose(f);
    return -1;
  }
  fclose(f);
  cs->text[size] = '\0';
  int lines = 1;
  for (long i = 0; i < size; i++)
    lines += cs->text[i] == '\n';
  if (!(cs->chars = malloc(sizeof(char *) * (size_t)lines))) return -1;
  cs->n = 0;
  for (char *p = cs->text; p < cs->text + size;) {
    char *e = strchr(p, '\n');
    if (e) *e = '\0';
    size_t len = strlen(p);
    if (len && p[len - 1] == '\r') p[len - 1] = '\0';
    cs->chars[cs->n++] = p;
    p += len + 1;
  }
  return 0;
}

/* ---- detection ----------------------------------------------------------------------------------------- */

typedef struct box {
  int x0, y0, x1, y1; /* picture pixels, [x0, x1) x [y0, y1) */
  float score;
} box;

/* Finds the 8-connected regions of map > DET_THRESH, keeps the confident ones and grows each by the DB rule
 * (distance = area * DET_UNCLIP / perimeter), scaled back to the picture. Returns the number of boxes or -1. */
static int find_boxes(const float *map, int mh, int mw, int img_w, int img_h, box *boxes, int max_boxes) {
  size_t n = (size_t)mh * mw;
  uint8_t *seen = calloc(n, 1);
  int32_t *stack = malloc(n * sizeof(int32_t));
  int count = 0;
  if (!seen || !stack) {
    free(seen);
    free(stack);
    return -1;
  }
  for (size_t i = 0; i < n && count < max_boxes; i++) {
    if (seen[i] || !(map[i] > DET_THRESH)) continue;
    int x0 = mw, y0 = mh, x1 = -1, y1 = -1;
    double sum = 0;
    size_t top = 0, pixels = 0;
    seen[i] = 1;
    stack[top++] = (int32_t)i;
    while (top) {
      int32_t j = stack[--top];
      int jy = j / mw, jx = j % mw;
      if (jx < x0) x0 = jx;
      if (jx > x1) x1 = jx;
      if (jy < y0) y0 = jy;
      if (jy > y1) y1 = jy;
      sum += map[j];
      pixels++;
      for (int dy = -1; dy <= 1; dy++) {
        for (int dx = -1; dx <= 1; dx++) {
          int yy = jy + dy, xx = jx + dx;
          if (yy < 0 || xx < 0 || yy >= mh || xx >= mw) continue;
          int32_t k = yy * mw + xx;
          if (!seen[k] && map[k] > DET_THRESH) {
            seen[k] = 1;
            stack[top++] = k;
          }
        }
      }
    }
    double bw = x1 - x0 + 1, bh = y1 - y0 + 1, score = sum / (double)pixels;
    if (bw < DET_MIN_SIDE || bh < DET_MIN_SIDE || score < DET_BOX_THRESH) continue;
    double d = bw * bh * DET_UNCLIP / (2 * (bw + bh));
    double sx = (double)img_w / mw, sy = (double)img_h / mh;
    box b = {
        .x0 = (int)lround((x0 - d) * sx),
        .y0 = (int)lround((y0 - d) * sy),
        .x1 = (int)lround((x1 + 1 + d) * sx),
        .y1 = (int)lround((y1 + 1 + d) * sy),
        .score = (float)score,
    };
    if (b.x0 < 0) b.x0 = 0;
    if (b.y0 < 0) b.y0 = 0;
    if (b.x1 > img_w) b.x1 = img_w;
    if (b.y1 > img_h) b.y1 = img_h;
    if (b.x1 - b.x0 < DET_MIN_SIDE + 2 || b.y1 - b.y0 < DET_MIN_SIDE + 2) continue;
    boxes[count++] = b;
  }
  free(seen);
  free(stack);
  return count;
}

static int box_cmp(const void *pa, const void *pb) {
  const box *a = pa, *b = pb;
  if (a->y0 != b->y0) return a->y0 < b->y0 ? -1 : 1;
  return (a->x0 > b->x0) - (a->x0 < b->x0);
}

/* Reading order as PaddleOCR's sorted_boxes: top to bottom, and left to right within 10 pixels of height. */
static void sort_boxes(box *b, int n) {
  qsort(b, (size_t)n, sizeof *b, box_cmp);
  for (int i = 0; i + 1 < n; i++) {
    for (int j = i; j >= 0; j--) {
      if (abs(b[j + 1].y0 - b[j].y0) < 10 && b[j + 1].x0 < b[j].x0) {
        box t = b[j];
        b[j] = b[j + 1];
        b[j + 1] = t;
      } else {
        break;
      }
    }
  }
}

/* ---- models -------------------------------------------------------------------------------------------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int ocr_fail(cleave_ctx *ctx, const char *what, int err) {
  const char *detail = ctx ? cleave_ctx_last_error(ctx) : "";
  fprintf(stderr, "cleave-ocr-demo: %s: %s%s%s\n", what, cleave_strerror(err), *detail ? ": " : "", detail);
  return -1;
}

static int net_load(cleave_ctx *ctx, ocr_net *n, const char *dir, const char *file) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
    fprintf(stderr, "cleave-ocr-demo: models path too long\n");
    return -1;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cleave-ocr-demo: cannot open %s: %s (run scripts/fetch-models.sh)\n", path, strerror(errno));
    return -1;
  }
  fclose(f);
  int err = cleave_model_load(ctx, path, &n->model);
  if (err) return ocr_fail(ctx, path, err);
  if (cleave_model_num_inputs(n->model) != 1 || cleave_model_num_outputs(n->model) != 1) {
    fprintf(stderr, "cleave-ocr-demo: %s: expected one input and one output\n", path);
    return -1;
  }
  return 0;
}

/* Makes the session of n for an input of shape 1x3xhxw, fixing the model's symbolic dimensions: on one device, or
 * a hybrid session of the home device and the edge. */
static int net_plan(cleave_ctx *ctx, ocr_net *n, const ocr_placement_spec *spec, int h, int w) {
  const cleave_tensor *in = cleave_model_input(n->model, 0);
  const int64_t want[4] = {1, 3, h, w};
  cleave_session_options *so = NULL;
  int err = 0;
  if (in->ndim != 4 || in->dtype != CLEAVE_DTYPE_FLOAT32) {
    fprintf(stderr, "cleave-ocr-demo: %s: expected a float32 NCHW input\n", n->label);
    return -1;
  }
  if ((err = cleave_session_options_new(&so))) goto fail;
  if (!spec->edge) {
    if ((err = cleave_session_options_set_device(so, spec->device))) goto fail;
  } else {
    const char *devs[1] = {spec->device};
    if ((err = cleave_session_options_set_devices(so, devs, 1))) goto fail;
    if ((err = cleave_session_options_add_edge(so, spec->edge, NULL))) goto fail; /* the gateway says what it is */
    if ((err = cleave_session_options_set_mode(so, spec->mode))) goto fail;
    if ((err = cleave_session_options_set_deadline_ms(so, spec->deadline_ms))) goto fail;
    cleave_session_options_set_offload_inputs(so, 1); /* the picture itself may go to the edge */
  }
  for (int i = 0; i < 4; i++) {
    if (in->dims[i] >= 0 && in->dims[i] != want[i]) {
      fprintf(stderr, "cleave-ocr-demo: %s: input dimension %d is %lld, need %lld\n", n->label, i,
              (long long)in->dims[i], (long long)want[i]);
      cleave_session_options_free(so);
      return -1;
    }
    if (in->dims[i] < 0 && in->dim_names[i] && (err = cleave_session_options_set_dim(so, in->dim_names[i], want[i])))
      goto fail;
  }
  err = cleave_session_new(ctx, n->model, so, &n->session);
fail:
  cleave_session_options_free(so);
  if (err == CLEAVE_ENODEVICE) {
    fprintf(stderr, "cleave-ocr-demo: no device \"%s\"; this build has:", spec->device);
    for (int i = 0; i < cleave_ctx_device_count(ctx); i++)
      fprintf(stderr, " %s", cleave_ctx_device_name(ctx, i));
    fprintf(stderr, "\n");
    return -1;
  }
  return err ? ocr_fail(ctx, n->label, err) : 0;
}

/* Counts where the segments of one run went. */
static void account(ocr_use *u, double *energy, const cleave_result *r) {
  const cleave_placement *p = cleave_result_placement(r);
  u->runs++;
  if (!p) return;
  int local = 0, edge = 0;
  for (int i = 0; i < p->n_segments; i++) {
    const cleave_segment_report *s = &p->segments[i];
    if (s->on_edge) {
      edge++;
      continue;
    }
    local++;
    if (!u->device_name[0]) snprintf(u->device_name, sizeof u->device_name, "%s", s->where);
    if (s->fallback && !u->why[0]) snprintf(u->why, sizeof u->why, "%s", s->why ? s->why : "");
  }
  if (local && edge)
    u->split++;
  else if (edge)
    u->edge++;
  else
    u->device++;
  u->fallbacks += p->fallbacks;
  u->hedges += p->hedges;
  *energy += p->energy_mj;
}

/* One line per segment of a run, on stderr. */
static void trace_run(const ocr_pipe *p, const ocr_net *n, const cleave_result *r) {
  const cleave_placement *pl = cleave_result_placement(r);
  if (!pl) return;
  fprintf(stderr, "cleave-ocr-demo: [%s] %s: plan %s, %.1f ms (predicted %.1f), %.1f mJ\n", p->trace, n->label,
          pl->plan, cleave_result_ms(r), pl->predicted_ms, pl->energy_mj);
  for (int i = 0; i < pl->n_segments; i++) {
    const cleave_segment_report *g = &pl->segments[i];
    fprintf(stderr,
            "cleave-ocr-demo: [%s]   %-26s %4d nodes  %7.1f..%7.1f ms  compute %.1f  transfer %.1f  predicted %.1f  "
            "up %llu B  down %llu B%s%s\n",
            p->trace, g->where, g->n_nodes, g->start_ms, g->end_ms, g->compute_ms, g->transfer_ms, g->predicted_ms,
            (unsigned long long)g->bytes_up, (unsigned long long)g->bytes_down, g->fallback ? "  fell back" : "",
            g->hedged ? "  hedged" : "");
  }
}

/* Runs n on a 1x3xhxw input and checks that the single float32 output has rank ndim. A failure is left in out. */
static int net_run(ocr_pipe *p, int which, float *data, int h, int w, int ndim, cleave_result **res,
                   const cleave_tensor **tensor, ocr_outcome *out) {
  ocr_net *n = &p->net[which];
  cleave_tensor in = {
      .name = cleave_model_input(n->model, 0)->name,
      .dtype = CLEAVE_DTYPE_FLOAT32,
      .ndim = 4,
      .dims = {1, 3, h, w},
      .data = data,
      .nbytes = (size_t)3 * h * w * sizeof(float),
  };
  int err = cleave_run_sync(n->session, &in, 1, res);
  if (err) {
    out->status = err;
    snprintf(out->err, sizeof out->err, "%s: %s: %s", n->label, cleave_err_name(err), cleave_ctx_last_error(p->ctx));
    return -1;
  }
  n->ms += cleave_result_ms(*res);
  n->runs++;
  account(&out->use[which], &out->energy_mj, *res);
  if (p->trace) trace_run(p, n, *res);
  *tensor = cleave_result_output(*res, 0);
  const cleave_tensor *t = *tensor;
  if (!t || t->dtype != CLEAVE_DTYPE_FLOAT32 || t->ndim != ndim || t->dims[0] != 1 ||
      (size_t)cleave_tensor_numel(t) * sizeof(float) > t->nbytes) {
    out->status = CLEAVE_EMODEL;
    snprintf(out->err, sizeof out->err, "%s: unexpected output", n->label);
    cleave_result_free(*res);
    *res = NULL;
    return -1;
  }
  return 0;
}

/* ---- the pipeline -------------------------------------------------------------------------------------- */

static const float HALF[3] = {0.5f, 0.5f, 0.5f};

/* Resizes a crop to height 48 keeping its aspect ratio, at most max_w wide, padded with zeros to width. */
static int line_input(const image *crop, int width, float *buf) {
  int w = (int)ceil((double)LINE_HEIGHT * crop->w / crop->h);
  if (w > width) w = width;
  if (w < 1) w = 1;
  memset(buf, 0, sizeof(float) * 3 * LINE_HEIGHT * width);
  resize_normalize(crop, w, LINE_HEIGHT, width, HALF, HALF, buf);
  return w;
}

/* CTC greedy decoding: the best class at each step, repeats merged, blanks dropped. */
static void ctc_decode(const cleave_tensor *probs, const charset *cs, char *text, size_t cap, double *conf) {
  int steps = (int)probs->dims[1], classes = (int)probs->dims[2];
  const float *p = probs->data;
  size_t len = 0;
  int prev = 0, emitted = 0;
  double sum = 0;
  text[0] = '\0';
  for (int t = 0; t < steps; t++) {
    int best = 0;
    for (int k = 1; k < classes; k++)
      if (p[(size_t)t * classes + k] > p[(size_t)t * classes + best]) best = k;
    if (best != 0 && best != prev) {
      const char *s = best <= cs->n ? cs->chars[best - 1] : " ";
      size_t sl = strlen(s);
      if (len + sl < cap) {
        memcpy(text + len, s, sl + 1);
        len += sl;
      }
      sum += p[(size_t)t * classes + best];
      emitted++;
    }
    prev = best;
  }
  *conf = emitted ? sum / emitted : 0;
}

int ocr_job_load(ocr_job *job, const char *image_path, const char *models_dir) {
  memset(job, 0, sizeof *job);
  if (ppm_load(image_path, &job->img) || charset_load(models_dir, &job->cs)) return -1;
  double ratio = job->img.w > job->img.h ? job->img.w : job->img.h;
  ratio = ratio > DET_LIMIT_SIDE ? DET_LIMIT_SIDE / ratio : 1.0;
  job->dh = (int)lround(job->img.h * ratio / 32) * 32;
  job->dw = (int)lround(job->img.w * ratio / 32) * 32;
  if (job->dh < 32) job->dh = 32;
  if (job->dw < 32) job->dw = 32;
  return 0;
}

void ocr_job_free(ocr_job *job) {
  free(job->cs.chars);
  free(job->cs.text);
  free(job->img.px);
  memset(job, 0, sizeof *job);
}

int ocr_pipe_new(ocr_pipe *p, cleave_ctx *ctx, const char *models_dir, const ocr_job *job,
                 const ocr_placement_spec *spec) {
  static const char *const files[OCR_NETS] = {DET_MODEL, CLS_MODEL, REC_MODEL};
  static const char *const labels[OCR_NETS] = {"det", "cls", "rec"};
  static const int heights[OCR_NETS] = {0, LINE_HEIGHT, LINE_HEIGHT}, widths[OCR_NETS] = {0, CLS_WIDTH, REC_WIDTH};
  memset(p, 0, sizeof *p);
  p->ctx = ctx;
  for (int i = 0; i < OCR_NETS; i++) {
    p->net[i].label = labels[i];
    if (net_load(ctx, &p->net[i], models_dir, files[i]) ||
        net_plan(ctx, &p->net[i], spec, i == OCR_DET ? job->dh : heights[i], i == OCR_DET ? job->dw : widths[i]))
      return -1;
  }
  size_t floats = (size_t)3 * job->dh * job->dw;
  if ((size_t)3 * LINE_HEIGHT * REC_WIDTH > floats) floats = (size_t)3 * LINE_HEIGHT * REC_WIDTH;
  if (!(p->buf = malloc(floats * sizeof(float))) || !(p->boxes = malloc(sizeof(box) * DET_MAX_BOXES))) {
    fprintf(stderr, "cleave-ocr-demo: out of memory\n");
    return -1;
  }
  return 0;
}

void ocr_pipe_free(ocr_pipe *p) {
  for (int i = 0; i < OCR_NETS; i++) {
    cleave_session_free(p->net[i].session);
    cleave_model_free(p->net[i].model);
  }
  free(p->buf);
  free(p->boxes);
  memset(p, 0, sizeof *p);
}

void ocr_outcome_free(ocr_outcome *o) {
  free(o->lines);
  memset(o, 0, sizeof *o);
}

void ocr_outcome_text(const ocr_outcome *o, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < o->n_lines && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " / " : "", o->lines[i].text);
}

static int oom(ocr_outcome *out) {
  out->status = CLEAVE_ENOMEM;
  snprintf(out->err, sizeof out->err, "out of memory");
  return -1;
}

int ocr_pipe_run(ocr_pipe *p, const ocr_job *job, ocr_outcome *out) {
  static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STD[3] = {0.229f, 0.224f, 0.225f};
  const image *img = &job->img;
  image crop = {0}, turned = {0};
  cleave_result *res = NULL;
  const cleave_tensor *t;
  int dh = job->dh, dw = job->dw, rc = -1;
  double t0 = now_ms();
  memset(out, 0, sizeof *out);

  resize_normalize(img, dw, dh, dw, MEAN, STD, p->buf);
  if (net_run(p, OCR_DET, p->buf, dh, dw, 4, &res, &t, out)) goto done;
  if (t->dims[1] != 1 || t->dims[2] != dh || t->dims[3] != dw) {
    out->status = CLEAVE_EMODEL;
    snprintf(out->err, sizeof out->err, "det: output is not a 1x1x%dx%d map", dh, dw);
    goto done;
  }
  int nbox = find_boxes(t->data, dh, dw, img->w, img->h, p->boxes, DET_MAX_BOXES);
  cleave_result_free(res);
  res = NULL;
  if (nbox < 0) goto nomem;
  sort_boxes(p->boxes, nbox);
  if (nbox && !(out->lines = calloc((size_t)nbox, sizeof *out->lines))) goto nomem;

  for (int i = 0; i < nbox; i++) {
    const box *b = &p->boxes[i];
    ocr_line *line = &out->lines[i];
    line->x0 = b->x0, line->y0 = b->y0, line->x1 = b->x1, line->y1 = b->y1;
    line->det_score = b->score;
    /* Tall boxes hold vertical text: PaddleOCR turns them a quarter left before reading. */
    int tall = (b->y1 - b->y0) >= 1.5 * (b->x1 - b->x0);
    if (image_crop(img, b->x0, b->y0, b->x1, b->y1, tall ? 1 : 0, &crop)) goto nomem;

    line_input(&crop, CLS_WIDTH, p->buf);
    if (net_run(p, OCR_CLS, p->buf, LINE_HEIGHT, CLS_WIDTH, 2, &res, &t, out)) goto done;
    if (t->dims[1] != 2) {
      out->status = CLEAVE_EMODEL;
      snprintf(out->err, sizeof out->err, "cls: expected 2 classes, got %lld", (long long)t->dims[1]);
      goto done;
    }
    const float *pc = t->data;
    line->angle = pc[1] > pc[0] ? 180 : 0;
    line->angle_score = line->angle ? pc[1] : pc[0];
    cleave_result_free(res);
    res = NULL;
    if (line->angle == 180 && line->angle_score > CLS_THRESH) {
      if (image_crop(&crop, 0, 0, crop.w, crop.h, 2, &turned)) goto nomem;
      free(crop.px);
      crop = turned;
      turned.px = NULL;
    }

    line_input(&crop, REC_WIDTH, p->buf);
    free(crop.px);
    crop.px = NULL;
    if (net_run(p, OCR_REC, p->buf, LINE_HEIGHT, REC_WIDTH, 3, &res, &t, out)) goto done;
    if (t->dims[2] != job->cs.n + 2) {
      out->status = CLEAVE_EMODEL;
      snprintf(out->err, sizeof out->err, "rec: %lld classes, but %s has %d characters (expected %d classes)",
               (long long)t->dims[2], OCR_KEYS_FILE, job->cs.n, job->cs.n + 2);
      goto done;
    }
    ctc_decode(t, &job->cs, line->text, sizeof line->text, &line->conf);
    cleave_result_free(res);
    res = NULL;
    out->n_lines = i + 1;
  }
  rc = 0;
  goto done;
nomem:
  oom(out);
done:
  out->ms = now_ms() - t0;
  cleave_result_free(res);
  free(crop.px);
  free(turned.px);
  return rc;
}

int ocr_pipe_warm(ocr_pipe *p, const ocr_job *job) {
  static const int heights[OCR_NETS] = {0, LINE_HEIGHT, LINE_HEIGHT}, widths[OCR_NETS] = {0, CLS_WIDTH, REC_WIDTH};
  int first = 0;
  for (int i = 0; i < OCR_NETS; i++) {
    int h = i == OCR_DET ? job->dh : heights[i], w = i == OCR_DET ? job->dw : widths[i];
    memset(p->buf, 0, sizeof(float) * 3 * (size_t)h * (size_t)w);
    cleave_tensor in = {.name = cleave_model_input(p->net[i].model, 0)->name,
                        .dtype = CLEAVE_DTYPE_FLOAT32,
                        .ndim = 4,
                        .dims = {1, 3, h, w},
                        .data = p->buf,
                        .nbytes = sizeof(float) * 3 * (size_t)h * (size_t)w};
    cleave_result *r = NULL;
    int rc = cleave_run_sync(p->net[i].session, &in, 1, &r); /* every session, so that each starts what it needs */
    cleave_result_free(r);
    if (rc && !first) first = rc;
  }
  return first;
}
