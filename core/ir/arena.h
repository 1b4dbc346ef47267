/* core: a bump allocator over chunks taken from the context's allocator (private). */
#ifndef CLEAVE_CORE_ARENA_H
#define CLEAVE_CORE_ARENA_H

#include <stddef.h>

#include "core/ir/ctx.h"

typedef struct cl_arena_chunk cl_arena_chunk;

typedef struct cl_arena {
  cleave_ctx *ctx;
  cl_arena_chunk *head;
} cl_arena;

void cl_arena_init(cl_arena *a, cleave_ctx *ctx);
/* 16-byte aligned, zero-filled memory that lives until cl_arena_free(); NULL when out of memory. */
void *cl_arena_alloc(cl_arena *a, size_t size);
void *cl_arena_calloc(cl_arena *a, size_t n, size_t size);
char *cl_arena_strdup(cl_arena *a, const char *s);
char *cl_arena_strndup(cl_arena *a, const char *s, size_t len);
void cl_arena_free(cl_arena *a);

#endif
