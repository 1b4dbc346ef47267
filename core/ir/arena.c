/* core: bump allocator. */
#include "core/ir/arena.h"

#include <string.h>

#define CHUNK_MIN (64 * 1024)

struct cl_arena_chunk {
  cl_arena_chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char mem[];
};

void cl_arena_init(cl_arena *a, cleave_ctx *ctx) {
  a->ctx = ctx;
  a->head = NULL;
}

void *cl_arena_alloc(cl_arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (size == 0) size = 16;
  cl_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < size) {
    size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
    if (cap > SIZE_MAX - sizeof(cl_arena_chunk)) return NULL;
    c = cl_malloc(a->ctx, sizeof(cl_arena_chunk) + cap);
    if (!c) return NULL;
    c->used = 0;
    c->cap = cap;
    /* Keep filling the older chunk if it has more room left than the new one will. */
    if (a->head && size > CHUNK_MIN / 4) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
  }
  void *p = c->mem + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

void *cl_arena_calloc(cl_arena *a, size_t n, size_t size) {
  size_t total;
  if (cl_mul_size(n, size, &total)) return NULL;
  return cl_arena_alloc(a, total);
}

char *cl_arena_strndup(cl_arena *a, const char *s, size_t len) {
  char *d = cl_arena_alloc(a, len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = 0;
  return d;
}

char *cl_arena_strdup(cl_arena *a, const char *s) { return cl_arena_strndup(a, s, strlen(s)); }

void cl_arena_free(cl_arena *a) {
  cl_arena_chunk *c = a->head;
  while (c) {
    cl_arena_chunk *next = c->next;
    cl_free(a->ctx, c);
    c = next;
  }
  a->head = NULL;
}
