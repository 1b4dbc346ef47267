/* tests: the counting, failing allocator (see test_alloc.h). */
#include "test_alloc.h"

#include <stdbool.h>
#include <stdlib.h>

/* atomic: executor threads allocate too */
static bool fails(tb_counter *c) { return __atomic_fetch_add(&c->allocs, 1, __ATOMIC_RELAXED) == c->fail_at; }

static void *c_alloc(void *c, size_t n) { return fails(c) ? NULL : malloc(n ? n : 1); }
static void *c_realloc(void *c, void *p, size_t n) { return fails(c) ? NULL : realloc(p, n ? n : 1); }
static void c_free(void *c, void *p) {
  (void)c;
  free(p);
}
static void *c_aligned(void *c, size_t al, size_t n) {
  if (fails(c)) return NULL;
  void *p = NULL;
  return posix_memalign(&p, al < sizeof(void *) ? sizeof(void *) : al, n ? n : 1) ? NULL : p;
}

cleave_allocator tb_counting_allocator(tb_counter *c) {
  return (cleave_allocator){.context = c,
                            .allocate = c_alloc,
                            .reallocate = c_realloc,
                            .deallocate = c_free,
                            .aligned_allocate = c_aligned,
                            .aligned_deallocate = c_free};
}
