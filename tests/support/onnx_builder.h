/* tests: builds small ONNX models in memory (through the protobuf-c code generated from onnx.proto), so tests
 * can make exactly the valid and broken models they need. Test-only: aborts on allocation failure. */
#ifndef CLEAVE_TESTS_ONNX_BUILDER_H
#define CLEAVE_TESTS_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tb_model tb_model;
typedef struct tb_node tb_node;

tb_model *tb_new(int opset);
/* Graph input; a dim of -1 becomes the symbolic dim "N". */
void tb_input(tb_model *m, const char *name, int dtype, int ndim, const int64_t *dims);
/* Renames symbolic dim d of graph input number `input` (dims given as -1 are all "N" at first). */
void tb_dim_name(tb_model *m, size_t input, size_t d, const char *name);
void tb_output(tb_model *m, const char *name);
/* Float initializer with dims; n_data may disagree with dims on purpose. */
void tb_init_f32(tb_model *m, const char *name, int ndim, const int64_t *dims, const float *data, size_t n_data);
void tb_init_i64(tb_model *m, const char *name, int ndim, const int64_t *dims, const int64_t *data, size_t n_data);
/* Initializer stored in an external file at location (relative to the model). */
void tb_init_external(tb_model *m, const char *name, int ndim, const int64_t *dims, const char *location);
/* inputs/outputs: comma-separated names ("" for an omitted optional input). */
tb_node *tb_add_node(tb_model *m, const char *op, const char *inputs, const char *outputs);
void tb_attr_int(tb_node *n, const char *name, int64_t v);
void tb_attr_float(tb_node *n, const char *name, float v);
void tb_attr_str(tb_node *n, const char *name, const char *v);
void tb_attr_ints(tb_node *n, const char *name, const int64_t *v, size_t count);
/* Serialises the model; free the buffer with free(). */
uint8_t *tb_pack(tb_model *m, size_t *len);
void tb_free(tb_model *m);

#endif
