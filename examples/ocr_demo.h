/* cleave-ocr-demo: what its parts share. ocr_pipeline.c holds the PP-OCR pipeline, ocr_demo.c the command line and
 * the all-local run, ocr_hybrid.c the same pipeline through hybrid sessions (a local device and an edge) while an
 * emulated link changes. Public API only. */
#ifndef CLEAVE_OCR_DEMO_H
#define CLEAVE_OCR_DEMO_H

#include <stdint.h>

#include "cleave.h"

#define OCR_TEXT_MAX 1024                 /* bytes of one recognised line, with its terminating zero */
#define OCR_KEYS_FILE "ppocr_keys_v1.txt" /* the recogniser's characters, beside the models */

/* The three models of the pipeline, in the order a picture meets them. */
enum { OCR_DET, OCR_CLS, OCR_REC, OCR_NETS };

typedef struct image {
  int w, h;
  uint8_t *px; /* RGB, row-major */
} image;

typedef struct charset {
  char *text;   /* the file, with each '\n' turned into '\0' */
  char **chars; /* chars[k] is class k + 1; class n + 1 is a space, class 0 the CTC blank */
  int n;
} charset;

/* What every pipeline reads and nothing changes: the picture, the recogniser's characters and the detector's
 * input size. */
typedef struct ocr_job {
  image img;
  charset cs;
  int dh, dw; /* detector input: longest side at most 960, both sides multiples of 32 */
} ocr_job;

/* Loads the picture and the character list, and sizes the detector's input. Prints the reason and returns -1 on
 * any problem; ocr_job_free releases what was loaded either way. */
int ocr_job_load(ocr_job *job, const char *image_path, const char *models_dir);
void ocr_job_free(ocr_job *job);

/* How the sessions of a pipeline are made: on one device (edge NULL, as cleave_session_options_set_device), or as
 * hybrid sessions with device as the home device, the edge and the mode (the model's inputs may go to the edge). */
typedef struct ocr_placement_spec {
  const char *device;
  cleave_edge *edge;
  cleave_mode mode;
  double deadline_ms; /* hybrid sessions: cleave_session_options_set_deadline_ms (0: none) */
} ocr_placement_spec;

/* One model of a pipeline and its session. */
typedef struct ocr_net {
  const char *label; /* "det", "cls", "rec" */
  cleave_model *model;
  cleave_session *session;
  double ms; /* sum of run times */
  int runs;
} ocr_net;

/* The three models loaded on one context, their sessions, and the buffers a run uses. */
typedef struct ocr_pipe {
  cleave_ctx *ctx;
  ocr_net net[OCR_NETS];
  float *buf;
  struct box *boxes;
  const char *trace; /* when set, every run's segments are printed on stderr under this name */
} ocr_pipe;

/* Loads the models from models_dir on ctx (which the pipe does not own) and makes their sessions as spec says.
 * Prints the reason and returns -1 on any problem; ocr_pipe_free releases what was made either way. */
int ocr_pipe_new(ocr_pipe *p, cleave_ctx *ctx, const char *models_dir, const ocr_job *job,
                 const ocr_placement_spec *spec);
void ocr_pipe_free(ocr_pipe *p);

/* Where the runs of one model went in one request. */
typedef struct ocr_use {
  int runs;
  int device;            /* runs computed on local devices only, none of them a fallback */
  int edge;              /* runs computed on the edge only */
  int split;             /* runs with segments on both sides */
  int fallbacks, hedges; /* segments, over all runs */
  char device_name[32];  /* the local device that ran segments ("" if none) */
  char why[160];         /* the first fallback's reason */
} ocr_use;

/* One recognised text box. */
typedef struct ocr_line {
  int x0, y0, x1, y1; /* picture pixels, [x0, x1) x [y0, y1) */
  float det_score;
  int angle;
  double angle_score, conf;
  char text[OCR_TEXT_MAX];
} ocr_line;

/* What one request (one picture through det, then cls and rec for each box) gave. */
typedef struct ocr_outcome {
  int status;    /* 0, or the CLEAVE_E* code of the run that failed */
  char err[300]; /* what failed, when status is not 0 */
  int n_lines;
  ocr_line *lines;  /* malloc'd; ocr_outcome_free */
  double ms;        /* wall time of the whole request, pre- and post-processing included */
  double energy_mj; /* the placements' estimates of device energy, summed */
  ocr_use use[OCR_NETS];
} ocr_outcome;

/* Reads the job's picture with the pipe's sessions into *out, which it overwrites (free an earlier outcome first).
 * Returns 0 or -1 (then out->status and out->err say why; a failed run of a session is not printed). Either way
 * ocr_outcome_free releases what out holds. */
int ocr_pipe_run(ocr_pipe *p, const ocr_job *job, ocr_outcome *out);
/* Runs each model of the pipe once on an input of zeros of its shape, untimed: the first runs of a session
 * compile its programs, and those of a hybrid session ask the edge for its profile and the model. 0, or the first
 * failing run's CLEAVE_E* code. */
int ocr_pipe_warm(ocr_pipe *p, const ocr_job *job);
void ocr_outcome_free(ocr_outcome *o);
/* Writes the outcome's text as one line, boxes joined by " / ", into buf. */
void ocr_outcome_text(const ocr_outcome *o, char *buf, size_t cap);

/* Prints "cleave-ocr-demo: what: <error>: <detail>" and returns -1. ctx may be NULL. */
int ocr_fail(cleave_ctx *ctx, const char *what, int err);

/* The hybrid demo's settings (the command line of ocr_demo.c). */
typedef struct ocr_hybrid_options {
  const char *models, *image;
  const char *device; /* the home device */
  const char *edge_url, *ca, *token;
  const char *link_control; /* HOST:PORT of cleave-link's control port, or NULL */
  const char *phases;       /* comma-separated presets of cleave-link */
  int requests;             /* per phase */
  int compare;              /* requests of each phase that also run the baselines */
  cleave_mode mode;         /* the mode shown request by request */
  int edge_timeout_ms;
  int deadline_ms; /* of each model run (0: none) */
  int link_hints;  /* pass the link's rates on as host signals when a phase begins */
  int verbose;
} ocr_hybrid_options;

/* Runs the hybrid demo. Returns the process's exit code: 0, 1 when a request failed or read the wrong text or
 * the set-up failed, 2 bad arguments. */
int ocr_hybrid(const ocr_hybrid_options *o);

#endif
