/* tools: NumPy .npy files (format 1.0/2.0, little-endian, C order) for cleave's tools and tests. */
#ifndef CLEAVE_TOOLS_NPY_H
#define CLEAVE_TOOLS_NPY_H

#include "cleave.h"

/* Reads path into t (t->data from malloc; free with free()). Returns 0, CLEAVE_EIO or CLEAVE_EPARSE and a message
 * in err. */
int npy_read(const char *path, cleave_tensor *t, char *err, size_t err_len);
/* Writes t to path. Returns 0 or CLEAVE_EIO / CLEAVE_EINVAL with a message in err. */
int npy_write(const char *path, const cleave_tensor *t, char *err, size_t err_len);

#endif
