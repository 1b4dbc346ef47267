/* remote: the gateway's model repository (private).
 *
 * The layout operators know from Triton: DIR/<model>/<version>/model.onnx. Every model is also addressable by its
 * content hash: the sha256 of model.onnx, in lower-case hex, is accepted wherever a version is. Uploaded models
 * are stored as DIR/<model>/<sha256>/model.onnx after their hash is checked. Entries are only added, never
 * removed, while the repository lives, so pointers to them stay valid. Loop thread only, except where noted. */
#ifndef CLEAVE_REMOTE_REPO_H
#define CLEAVE_REMOTE_REPO_H

#include <stdbool.h>
#include <stddef.h>

#include "cleave.h"

#define CL_SHA256_HEX 65

typedef struct cl_repo_entry {
  char *name;
  char *version; /* the directory name */
  char sha256[CL_SHA256_HEX];
  char *path;          /* of model.onnx */
  cleave_model *model; /* loaded on the repository's context; read by every executor thread */
  void *user;          /* the gateway's per-entry state */
  void (*user_free)(void *user);
} cl_repo_entry;

typedef struct cl_repo cl_repo;

/* Lower-case hex sha256 of data into hex. Any thread. */
void cl_sha256_hex(const void *data, size_t len, char hex[CL_SHA256_HEX]);
/* A model name or version usable as one path component: 1-128 of [A-Za-z0-9._-], not starting with '.'. */
bool cl_repo_valid_name(const char *s);

/* Opens dir (NULL: an empty repository that cannot store uploads) and loads every model in it. A model that fails
 * to load is skipped with a warning through ctx's log, naming the file and the reason. Errors: CLEAVE_EIO (dir
 * cannot be read), CLEAVE_ENOMEM. */
int cl_repo_open(cleave_ctx *ctx, const char *dir, cl_repo **out);
void cl_repo_free(cl_repo *r);

/* The entry of model name at version (a directory name or a sha256), or the latest version when version is NULL:
 * the highest numeric version, else the last one added. NULL if none. */
cl_repo_entry *cl_repo_find(const cl_repo *r, const char *name, const char *version);
/* Whether any version of name exists. */
bool cl_repo_has_model(const cl_repo *r, const char *name);
int cl_repo_count(const cl_repo *r);
cl_repo_entry *cl_repo_at(const cl_repo *r, int i);

/* An upload in two halves: cl_repo_upload_check runs on any thread (hashes, validates by loading the bytes, writes
 * DIR/<name>/<sha256>/model.onnx through a temporary file and a rename), and cl_repo_upload_finish adds the entry on
 * the loop thread. */
typedef struct cl_repo_upload {
  char name[129];
  char sha256[CL_SHA256_HEX];
  const void *data;
  size_t len;
  int status;          /* HTTP status for the answer: 201 stored, 200 already there, 4xx/5xx */
  char message[512];   /* the error's text when status >= 400 */
  cleave_model *model; /* loaded by the check; handed to the new entry */
  char *path;
} cl_repo_upload;

/* Prepares up (name, sha256, data, len set by the caller), loading the model on ctx. dir is the repository's
 * folder. */
void cl_repo_upload_check(cleave_ctx *ctx, const char *dir, cl_repo_upload *up);
/* Adds the checked upload (status 201) as an entry, or releases what the check made. Returns the entry or NULL. */
cl_repo_entry *cl_repo_upload_finish(cl_repo *r, cl_repo_upload *up);
const char *cl_repo_dir(const cl_repo *r);

#endif
