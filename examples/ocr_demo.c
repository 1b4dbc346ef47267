/* cleave-ocr-demo: reads text from a picture with PP-OCR (ocr_pipeline.c), using only the public API in cleave.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocr_demo.h"

#ifndef CLEAVE_SOURCE_DIR
#define CLEAVE_SOURCE_DIR "."
#endif

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the all-local run --------------------------------------------------------------------------------- */

typedef struct options {
  const char *device, *models, *image;
} options;

static int ocr_local(cleave_ctx *ctx, const options *o) {
  ocr_job job;
  ocr_pipe pipe = {0};
  ocr_outcome out = {0};
  int rc = -1;
  double t_start = now_ms(), t_load = 0;
  const ocr_placement_spec spec = {.device = o->device};
  if (ocr_job_load(&job, o->image, o->models) || ocr_pipe_new(&pipe, ctx, o->models, &job, &spec)) goto done;
  t_load = now_ms();
  if (ocr_pipe_run(&pipe, &job, &out)) {
    fprintf(stderr, "cleave-ocr-demo: %s\n", out.err);
    goto done;
  }
  printf("%s: %dx%d, detector input %dx%d, device %s, %d text box%s\n", o->image, job.img.w, job.img.h, job.dw,
         job.dh, o->device, out.n_lines, out.n_lines == 1 ? "" : "es");
  for (int i = 0; i < out.n_lines; i++) {
    const ocr_line *l = &out.lines[i];
    printf("  box %d  [%d,%d]-[%d,%d]  det %.3f  cls %3d %.3f  rec %.3f  \"%s\"\n", i + 1, l->x0, l->y0, l->x1, l->y1,
           l->det_score, l->angle, l->angle_score, l->conf, l->text);
  }
  const ocr_net *n = pipe.net;
  printf("times (ms): det %.1f (1 run), cls %.1f (%d run%s), rec %.1f (%d run%s); load %.1f, total %.1f\n",
         n[OCR_DET].ms, n[OCR_CLS].ms, n[OCR_CLS].runs, n[OCR_CLS].runs == 1 ? "" : "s", n[OCR_REC].ms,
         n[OCR_REC].runs, n[OCR_REC].runs == 1 ? "" : "s", t_load - t_start, now_ms() - t_start);
  rc = 0;
done:
  ocr_outcome_free(&out);
  ocr_pipe_free(&pipe);
  ocr_job_free(&job);
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
          OCR_KEYS_FILE);
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
    ocr_fail(NULL, "cannot create a context", err);
    return 1;
  }
  int rc = ocr_local(ctx, &o);
  cleave_ctx_free(ctx);
  return rc ? 1 : 0;
}
