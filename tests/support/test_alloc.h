/* tests: an allocator for the library's hook that counts allocations and can fail the i-th one. */
#ifndef CLEAVE_TESTS_TEST_ALLOC_H
#define CLEAVE_TESTS_TEST_ALLOC_H

#include "cleave.h"

typedef struct tb_counter {
  long allocs;  /* allocate + reallocate + aligned_allocate calls so far */
  long fail_at; /* the call (counted from 0) that returns NULL, or -1 for none */
} tb_counter;

/* An allocator over malloc whose context is c; c must outlive every context made with it. */
cleave_allocator tb_counting_allocator(tb_counter *c);

#endif
