/* core: the ONNX loader (private). Parses ModelProto / TensorProto with protobuf-c and builds the graph IR. */
#ifndef CLEAVE_CORE_ONNX_H
#define CLEAVE_CORE_ONNX_H

#include "core/ir/graph.h"

/* Parses a serialized ModelProto into g (initialised by the caller) and links, sorts, infers and folds it.
 * base_dir resolves external data (NULL: external data is an error). */
int cl_onnx_load_graph(cleave_ctx *ctx, const void *data, size_t size, const char *base_dir, cl_graph *g);

/* Parses a serialized TensorProto (as in the ONNX node tests' .pb files) into a tensor with data allocated from
 * ctx. name_out, if not NULL, receives a copy of the tensor's name (free with cl_free) or NULL. */
int cl_onnx_parse_tensor(cleave_ctx *ctx, const void *data, size_t size, cl_tensor *out, char **name_out);

/* Reads a whole file into memory from ctx's allocator. */
int cl_read_file(cleave_ctx *ctx, const char *path, void **data, size_t *size);

#endif
