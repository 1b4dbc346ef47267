/* cleave-ocr-demo: reads text from a picture with PP-OCR (ocr_pipeline.c), using only the public API in cleave.h.
 * Without --edge it runs once on one device. With --edge the same pipeline runs through hybrid sessions, a local
 * device and the edge, while an emulated link changes (ocr_hybrid.c). */
#include <errno.h>
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
          "       cleave-ocr-demo --edge https://HOST:PORT [--ca CA.pem] [--token T] [--local-device NAME]\n"
          "                       [--mode auto|local|edge] [--link-control HOST:PORT] [--phases LIST]\n"
          "                       [--requests-per-phase N] [--compare N] [--deadline-ms MS] [--edge-timeout-ms MS]\n"
          "                       [--no-link-hints] [--verbose] [--models DIR] [IMAGE.ppm]\n"
          "\n"
          "Finds and reads the text in a picture with PP-OCR (PP-OCRv4 det and rec, mobile v2.0 cls), run by "
          "cleave.\n"
          "Prints one line per text box: its corners in pixels, the detector's score, the direction classifier's\n"
          "angle and score, the recogniser's mean confidence and the text; then the time spent in each model.\n"
          "\n"
          "With --edge (a cleave-gateway) the three models run as hybrid sessions of a local device and the edge,\n"
          "request after request, while cleave-link (whose control port --link-control names) goes through the\n"
          "phases. Each request prints where each model ran (the device or the edge, and any fallback or hedge),\n"
          "its latency, the estimated device energy and the text, checked against the all-local text. The first\n"
          "--compare requests of each phase also run all-local and all-edge; a summary compares the three.\n"
          "scripts/demo.sh (make demo) starts the gateway and the link emulator and runs this.\n"
          "\n"
          "options:\n"
          "  --device NAME          device to run on (default cpu; with --edge the home device, default ref)\n"
          "  --local-device NAME    the same as --device\n"
          "  --models DIR           folder with the models and %s (default: models/ in the source tree;\n"
          "                         scripts/fetch-models.sh fills it)\n"
          "  --edge URL             https://HOST:PORT of a cleave-gateway (numeric address)\n"
          "  --ca FILE              PEM file of the CAs that verify the edge (default: the system's)\n"
          "  --token T              bearer token for the edge\n"
          "  --mode M               the mode shown request by request: auto (default), local or edge\n"
          "  --link-control H:P     cleave-link's control port (numeric address), to change the link\n"
          "  --phases LIST          cleave-link presets, one phase each (wifi, lte, 4g, 3g, offline; default\n"
          "                         wifi,lte,3g,offline,wifi); needs --link-control\n"
          "  --requests-per-phase N requests of each phase (default 4)\n"
          "  --compare N            requests of each phase that also run the other two modes (default 1; 0: none;\n"
          "                         all-edge over 3G takes about half a minute a picture)\n"
          "  --deadline-ms MS       deadline of each model run (default 2000; 0: none): a late edge request is\n"
          "                         hedged on the device while the device can still make it, and edge requests\n"
          "                         time out at twice it\n"
          "  --edge-timeout-ms MS   time limit of an edge request without a deadline (default 30000)\n"
          "  --no-link-hints        do not pass the link's rates on to cleave when a phase begins (by default the\n"
          "                         demo does, as an app passes on what its platform reports; never offline)\n"
          "  --verbose              the library's messages (plans, edges) on stderr; twice: also debug messages\n"
          "                         and every run's segments\n"
          "  -h, --help             this text\n"
          "IMAGE.ppm is a binary PPM (P6, 8 bits); default: examples/data/sample.ppm in the source tree.\n"
          "\n"
          "examples:\n"
          "  cleave-ocr-demo\n"
          "  cleave-ocr-demo --device ref --models models/ photo.ppm\n"
          "  convert photo.jpg photo.ppm && cleave-ocr-demo photo.ppm\n"
          "  cleave-ocr-demo --edge https://127.0.0.1:9443 --ca ca.pem --link-control 127.0.0.1:9444\n"
          "  cleave-ocr-demo --edge https://127.0.0.1:9443 --ca ca.pem --mode local --compare 0\n"
          "\n"
          "exit codes: 0 success, 1 a file is missing or bad, a model failed or a request read the wrong text,\n"
          "2 bad arguments\n",
          OCR_KEYS_FILE);
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "cleave-ocr-demo: %s: '%s' is not a whole number from %d to %d\n", flag, s, lo, hi);
    return -1;
  }
  *out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  enum {
    O_EDGE = 256,
    O_CA,
    O_TOKEN,
    O_MODE,
    O_LINK,
    O_PHASES,
    O_REQUESTS,
    O_COMPARE,
    O_DEADLINE,
    O_TIMEOUT,
    O_NO_HINTS,
    O_VERBOSE
  };
  options o = {
      .device = NULL,
      .models = CLEAVE_SOURCE_DIR "/models",
      .image = CLEAVE_SOURCE_DIR "/examples/data/sample.ppm",
  };
  ocr_hybrid_options h = {.requests = 4,
                          .compare = 1,
                          .mode = CLEAVE_MODE_AUTO,
                          .edge_timeout_ms = 30000,
                          .deadline_ms = 2000,
                          .link_hints = 1};
  const char *hybrid_flag = NULL; /* the first flag given that only means something with --edge */
  static const struct option longopts[] = {
      {"device", required_argument, NULL, 'd'},
      {"local-device", required_argument, NULL, 'd'},
      {"models", required_argument, NULL, 'm'},
      {"edge", required_argument, NULL, O_EDGE},
      {"ca", required_argument, NULL, O_CA},
      {"token", required_argument, NULL, O_TOKEN},
      {"mode", required_argument, NULL, O_MODE},
      {"link-control", required_argument, NULL, O_LINK},
      {"phases", required_argument, NULL, O_PHASES},
      {"requests-per-phase", required_argument, NULL, O_REQUESTS},
      {"compare", required_argument, NULL, O_COMPARE},
      {"deadline-ms", required_argument, NULL, O_DEADLINE},
      {"edge-timeout-ms", required_argument, NULL, O_TIMEOUT},
      {"no-link-hints", no_argument, NULL, O_NO_HINTS},
      {"verbose", no_argument, NULL, O_VERBOSE},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c, idx = 0;
  while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
    if (c >= O_CA && !hybrid_flag) hybrid_flag = longopts[idx].name;
    switch (c) {
    case 'd': o.device = optarg; break;
    case 'm': o.models = optarg; break;
    case O_EDGE: h.edge_url = optarg; break;
    case O_CA: h.ca = optarg; break;
    case O_TOKEN: h.token = optarg; break;
    case O_MODE:
      if (!strcmp(optarg, "auto")) {
        h.mode = CLEAVE_MODE_AUTO;
      } else if (!strcmp(optarg, "local")) {
        h.mode = CLEAVE_MODE_ONLY_LOCAL;
      } else if (!strcmp(optarg, "edge")) {
        h.mode = CLEAVE_MODE_ONLY_EDGE;
      } else {
        fprintf(stderr, "cleave-ocr-demo: --mode: '%s' is not auto, local or edge\n", optarg);
        return 2;
      }
      break;
    case O_LINK: h.link_control = optarg; break;
    case O_PHASES: h.phases = optarg; break;
    case O_REQUESTS:
      if (parse_int("--requests-per-phase", optarg, 1, 1000, &h.requests)) return 2;
      break;
    case O_COMPARE:
      if (parse_int("--compare", optarg, 0, 1000, &h.compare)) return 2;
      break;
    case O_DEADLINE:
      if (parse_int("--deadline-ms", optarg, 0, 600000, &h.deadline_ms)) return 2;
      break;
    case O_TIMEOUT:
      if (parse_int("--edge-timeout-ms", optarg, 100, 600000, &h.edge_timeout_ms)) return 2;
      break;
    case O_NO_HINTS: h.link_hints = 0; break;
    case O_VERBOSE: h.verbose++; break;
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
  if (h.edge_url) {
    h.models = o.models;
    h.image = o.image;
    h.device = o.device ? o.device : "ref";
    return ocr_hybrid(&h);
  }
  if (hybrid_flag) {
    fprintf(stderr, "cleave-ocr-demo: --%s needs --edge\n", hybrid_flag);
    return 2;
  }
  if (!o.device) o.device = "cpu";

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
