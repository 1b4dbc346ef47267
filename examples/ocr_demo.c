/* cleave-ocr-demo: reads text from a picture with PP-OCR (PP-OCRv4 detection and recognition, mobile v2.0
 * direction classifier), using only the public API in cleave.h.
 *
 * The pipeline follows PaddleOCR's: DB text detection on the picture resized to multiples of 32, one box per
 * connected region of the probability map, grown back ("unclipped") by the DB rule, then for every box the
 * direction classifier (0 or 180 degrees) and CTC recognition over ppocr_keys_v1.txt. PaddleOCR reads
 * pictures with OpenCV, so channels are fed in BGR order and resized bilinearly with OpenCV's pixel centres. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleave.h"

#ifndef CLEAVE_SOURCE_DIR
#define CLEAVE_SOURCE_DIR "."
#endif

#define DET_MODEL "ch_PP-OCRv4_det_infer.onnx"
#define REC_MODEL "ch_PP-OCRv4_rec_infer.onnx"
#define CLS_MODEL "ch_ppocr_mobile_v2.0_cls_infer.onnx"
#define KEYS_FILE "ppocr_keys_v1.txt"

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

typedef struct image {
  int w, h;
  uint8_t *px; /* RGB, row-major */
} image;

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

/* ---- models -------------------------------------------------------------------------------------------- */

typedef struct net {
  const char *label; /* "det", "cls", "rec" */
  cleave_model *model;
  cleave_session *session;
  double ms; /* sum of run times */
  int runs;
} net;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(cleave_ctx *ctx, const char *what, int err) {
  const char *detail = ctx ? cleave_ctx_last_error(ctx) : "";
  fprintf(stderr, "cleave-ocr-demo: %s: %s%s%s\n", what, cleave_strerror(err), *detail ? ": " : "", detail);
  return -1;
}

static int net_load(cleave_ctx *ctx, net *n, const char *dir, const char *file) {
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
  if (err) return fail(ctx, path, err);
  if (cleave_model_num_inputs(n->model) != 1 || cleave_model_num_outputs(n->model) != 1) {
    fprintf(stderr, "cleave-ocr-demo: %s: expected one input and one output\n", path);
    return -1;
  }
  return 0;
}

/* (Re)creates the session of n for an input of shape 1x3xhxw, fixing the model's symbolic dimensions. */
static int net_plan(cleave_ctx *ctx, net *n, const char *device, int h, int w) {
  const cleave_tensor *in = cleave_model_input(n->model, 0);
  const int64_t want[4] = {1, 3, h, w};
  cleave_session_options *so = NULL;
  int err = 0;
  cleave_session_free(n->session);
  n->session = NULL;
  if (in->ndim != 4 || in->dtype != CLEAVE_DTYPE_FLOAT32) {
    fprintf(stderr, "cleave-ocr-demo: %s: expected a float32 NCHW input\n", n->label);
    return -1;
  }
  if ((err = cleave_session_options_new(&so))) goto fail;
  if ((err = cleave_session_options_set_device(so, device))) goto fail;
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
    fprintf(stderr, "cleave-ocr-demo: no device \"%s\"; this build has:", device);
    for (int i = 0; i < cleave_ctx_device_count(ctx); i++)
      fprintf(stderr, " %s", cleave_ctx_device_name(ctx, i));
    fprintf(stderr, "\n");
    return -1;
  }
  return err ? fail(ctx, n->label, err) : 0;
}

/* Runs n on a 1x3xhxw input and checks that the single float32 output has rank ndim. */
static int net_run(cleave_ctx *ctx, net *n, float *data, int h, int w, int ndim, cleave_result **res,
                   const cleave_tensor **out) {
  cleave_tensor in = {
      .name = cleave_model_input(n->model, 0)->name,
      .dtype = CLEAVE_DTYPE_FLOAT32,
      .ndim = 4,
      .dims = {1, 3, h, w},
      .data = data,
      .nbytes = (size_t)3 * h * w * sizeof(float),
  };
  int err = cleave_run_sync(n->session, &in, 1, res);
  if (err) return fail(ctx, n->label, err);
  n->ms += cleave_result_ms(*res);
  n->runs++;
  *out = cleave_result_output(*res, 0);
  if (!*out || (*out)->dtype != CLEAVE_DTYPE_FLOAT32 || (*out)->ndim != ndim || (*out)->dims[0] != 1 ||
      (size_t)cleave_tensor_numel(*out) * sizeof(float) > (*out)->nbytes) {
    fprintf(stderr, "cleave-ocr-demo: %s: unexpected output\n", n->label);
    cleave_result_free(*res);
    *res = NULL;
    return -1;
  }
  return 0;
}

/* ---- character list ------------------------------------------------------------------------------------ */

typedef struct charset {
  char *text;   /* the file, with each '\n' turned into '\0' */
  char **chars; /* chars[k] is class k + 1; class n + 1 is a space, class 0 the CTC blank */
  int n;
} charset;

static int charset_load(const char *dir, charset *cs) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, KEYS_FILE);
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

typedef struct options {
  const char *device, *models, *image;
} options;

static int ocr(cleave_ctx *ctx, const options *o) {
  image img = {0}, crop = {0}, turned = {0};
  charset cs = {0};
  net det = {.label = "det"}, cls = {.label = "cls"}, rec = {.label = "rec"};
  float *buf = NULL;
  box *boxes = NULL;
  cleave_result *res = NULL;
  const cleave_tensor *out;
  int rc = -1, nbox = 0;
  double t_start = now_ms(), t_load;

  if (ppm_load(o->image, &img) || charset_load(o->models, &cs)) goto done;
  if (net_load(ctx, &det, o->models, DET_MODEL) || net_load(ctx, &cls, o->models, CLS_MODEL) ||
      net_load(ctx, &rec, o->models, REC_MODEL))
    goto done;

  /* Detector input: longest side at most 960, both sides rounded to multiples of 32. */
  double ratio = img.w > img.h ? img.w : img.h;
  ratio = ratio > DET_LIMIT_SIDE ? DET_LIMIT_SIDE / ratio : 1.0;
  int dh = (int)lround(img.h * ratio / 32) * 32, dw = (int)lround(img.w * ratio / 32) * 32;
  if (dh < 32) dh = 32;
  if (dw < 32) dw = 32;
  if (net_plan(ctx, &det, o->device, dh, dw) || net_plan(ctx, &cls, o->device, LINE_HEIGHT, CLS_WIDTH) ||
      net_plan(ctx, &rec, o->device, LINE_HEIGHT, REC_WIDTH))
    goto done;
  t_load = now_ms();

  size_t floats = (size_t)3 * dh * dw;
  if ((size_t)3 * LINE_HEIGHT * REC_WIDTH > floats) floats = (size_t)3 * LINE_HEIGHT * REC_WIDTH;
  if (!(buf = malloc(floats * sizeof(float))) || !(boxes = malloc(sizeof(box) * DET_MAX_BOXES))) {
    fprintf(stderr, "cleave-ocr-demo: out of memory\n");
    goto done;
  }
  static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STD[3] = {0.229f, 0.224f, 0.225f};
  resize_normalize(&img, dw, dh, dw, MEAN, STD, buf);
  if (net_run(ctx, &det, buf, dh, dw, 4, &res, &out)) goto done;
  if (out->dims[1] != 1 || out->dims[2] != dh || out->dims[3] != dw) {
    fprintf(stderr, "cleave-ocr-demo: det: output is not a 1x1x%dx%d map\n", dh, dw);
    goto done;
  }
  nbox = find_boxes(out->data, dh, dw, img.w, img.h, boxes, DET_MAX_BOXES);
  cleave_result_free(res);
  res = NULL;
  if (nbox < 0) {
    fprintf(stderr, "cleave-ocr-demo: out of memory\n");
    goto done;
  }
  sort_boxes(boxes, nbox);
  printf("%s: %dx%d, detector input %dx%d, device %s, %d text box%s\n", o->image, img.w, img.h, dw, dh, o->device,
         nbox, nbox == 1 ? "" : "es");

  for (int i = 0; i < nbox; i++) {
    const box *b = &boxes[i];
    /* Tall boxes hold vertical text: PaddleOCR turns them a quarter left before reading. */
    int tall = (b->y1 - b->y0) >= 1.5 * (b->x1 - b->x0);
    if (image_crop(&img, b->x0, b->y0, b->x1, b->y1, tall ? 1 : 0, &crop)) goto oom;

    line_input(&crop, CLS_WIDTH, buf);
    if (net_run(ctx, &cls, buf, LINE_HEIGHT, CLS_WIDTH, 2, &res, &out)) goto done;
    if (out->dims[1] != 2) {
      fprintf(stderr, "cleave-ocr-demo: cls: expected 2 classes, got %lld\n", (long long)out->dims[1]);
      goto done;
    }
    const float *pc = out->data;
    int angle = pc[1] > pc[0] ? 180 : 0;
    double angle_score = angle ? pc[1] : pc[0];
    cleave_result_free(res);
    res = NULL;
    if (angle == 180 && angle_score > CLS_THRESH) {
      if (image_crop(&crop, 0, 0, crop.w, crop.h, 2, &turned)) goto oom;
      free(crop.px);
      crop = turned;
      turned.px = NULL;
    }

    line_input(&crop, REC_WIDTH, buf);
    free(crop.px);
    crop.px = NULL;
    if (net_run(ctx, &rec, buf, LINE_HEIGHT, REC_WIDTH, 3, &res, &out)) goto done;
    if (out->dims[2] != cs.n + 2) {
      fprintf(stderr, "cleave-ocr-demo: rec: %lld classes, but %s has %d characters (expected %d classes)\n",
              (long long)out->dims[2], KEYS_FILE, cs.n, cs.n + 2);
      goto done;
    }
    char text[1024];
    double conf;
    ctc_decode(out, &cs, text, sizeof text, &conf);
    cleave_result_free(res);
    res = NULL;
    printf("  box %d  [%d,%d]-[%d,%d]  det %.3f  cls %3d %.3f  rec %.3f  \"%s\"\n", i + 1, b->x0, b->y0, b->x1, b->y1,
           b->score, angle, angle_score, conf, text);
  }
  printf("times (ms): det %.1f (1 run), cls %.1f (%d run%s), rec %.1f (%d run%s); load %.1f, total %.1f\n", det.ms,
         cls.ms, cls.runs, cls.runs == 1 ? "" : "s", rec.ms, rec.runs, rec.runs == 1 ? "" : "s", t_load - t_start,
         now_ms() - t_start);
  rc = 0;
  goto done;
oom:
  fprintf(stderr, "cleave-ocr-demo: out of memory\n");
done:
  cleave_result_free(res);
  free(crop.px);
  free(turned.px);
  free(boxes);
  free(buf);
  for (net *n = &det; n; n = n == &det ? &cls : n == &cls ? &rec : NULL) {
    cleave_session_free(n->session);
    cleave_model_free(n->model);
  }
  free(cs.chars);
  free(cs.text);
  free(img.px);
  return rc;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: cleave-ocr-demo [--device NAME] [--models DIR] [IMAGE.ppm]\n"
          "\n"
          "Finds and reads the text in a picture with PP-OCR (PP-OCRv4 det and rec, mobile v2.0 cls), run by "
          "cleave.\n"
          "Prints one line per text box: its corners in pixels, the detector's score, the direction classifier's\n"
          "angle and score, the recogniser's mean confidence and the text; then the time spent in each model.\n"
          "\n"
          "options:\n"
          "  --device NAME   device to run on (default cpu)\n"
          "  --models DIR    folder with the models and %s (default: models/ in the source tree;\n"
          "                  scripts/fetch-models.sh fills it)\n"
          "  -h, --help      this text\n"
          "IMAGE.ppm is a binary PPM (P6, 8 bits); default: examples/data/sample.ppm in the source tree.\n"
          "\n"
          "examples:\n"
          "  cleave-ocr-demo\n"
          "  cleave-ocr-demo --device ref --models models/ photo.ppm\n"
          "  convert photo.jpg photo.ppm && cleave-ocr-demo photo.ppm\n"
          "\n"
          "exit codes: 0 success, 1 a file is missing or bad or a model failed, 2 bad arguments\n",
          KEYS_FILE);
}

int main(int argc, char **argv) {
  options o = {
      .device = "cpu",
      .models = CLEAVE_SOURCE_DIR "/models",
      .image = CLEAVE_SOURCE_DIR "/examples/data/sample.ppm",
  };
  static const struct option longopts[] = {
      {"device", required_argument, NULL, 'd'},
      {"models", required_argument, NULL, 'm'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': o.device = optarg; break;
    case 'm': o.models = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (argc - optind > 1) {
    fprintf(stderr, "cleave-ocr-demo: one picture at a time\n\n");
    usage(stderr);
    return 2;
  }
  if (optind < argc) o.image = argv[optind];

  cleave_ctx *ctx = NULL;
  int err = cleave_ctx_new(&ctx, NULL, NULL);
  if (err) {
    fail(NULL, "cannot create a context", err);
    return 1;
  }
  int rc = ocr(ctx, &o);
  cleave_ctx_free(ctx);
  return rc ? 1 : 0;
}
