/* remote: the Open Inference Protocol (KServe v2) codec, shared by the gateway and the client (private).
 *
 * An infer request or response is a JSON header, optionally followed by raw tensor bytes (the binary tensor data
 * extension): the Inference-Header-Content-Length header then gives the JSON header's length, and each binary
 * tensor says its byte count in parameters.binary_data_size, in the order the tensors appear. JSON goes through
 * jansson. Tensors decoded from a body point into it when they are binary and aligned for their element type, and
 * into memory the message owns when they came as JSON numbers or misaligned. */
#ifndef CLEAVE_REMOTE_OIP_H
#define CLEAVE_REMOTE_OIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ir/ctx.h"

#define CL_OIP_MAX_TENSORS 256
#define CL_OIP_HEADER_LEN "inference-header-content-length"

/* KServe datatype name ("FP32", "INT64", ...) of dtype, or NULL when the protocol has none. */
const char *cl_oip_datatype(cleave_dtype dtype);
/* dtype of a KServe datatype name, or CLEAVE_DTYPE_UNDEFINED. */
cleave_dtype cl_oip_dtype(const char *datatype);

/* A decoded message: its tensors (inputs of a request, outputs of a response) and, for a request, the outputs it
 * asks for. Everything points into the message or into the body it was decoded from. */
typedef struct cl_oip_message {
  void *json; /* json_t root, kept for its strings */
  const char *id;
  const char *model_name, *model_version; /* responses */
  cleave_tensor tensors[CL_OIP_MAX_TENSORS];
  int n_tensors;
  const char *outputs[CL_OIP_MAX_TENSORS]; /* requests: requested output names (none: the model's outputs) */
  bool output_binary[CL_OIP_MAX_TENSORS];  /* requests: wanted as binary data */
  int n_outputs;
  bool binary_default; /* requests: parameters.binary_data_output */
  void *owned[CL_OIP_MAX_TENSORS]; /* data converted from JSON numbers */
  int n_owned;
} cl_oip_message;

/* Decodes an infer request (request = true) or response. header_len is the Inference-Header-Content-Length value,
 * or -1 when the body is JSON only. The body must outlive msg. Errors, with a message that names the tensor and
 * the field: CLEAVE_EPARSE (not JSON, or not the protocol's shape), CLEAVE_EDTYPE (unknown datatype, or data of
 * the wrong kind), CLEAVE_ESHAPE (shape invalid or disagreeing with the data's element count), CLEAVE_EINVAL (binary
 * sizes that do not add up to the body, or a binary size that disagrees with the shape), CLEAVE_ELIMIT (too many
 * tensors), CLEAVE_ENOMEM. msg is released on error too. */
int cl_oip_decode(cleave_ctx *ctx, bool request, const uint8_t *body, size_t len, long long header_len,
                  cl_oip_message *msg);
void cl_oip_message_release(cleave_ctx *ctx, cl_oip_message *msg);

/* One tensor to encode, and whether its data goes as binary (else as JSON numbers). */
typedef struct cl_oip_out {
  const cleave_tensor *t;
  bool binary;
} cl_oip_out;

/* Encodes an infer response ({model_name, model_version, id, outputs}) into *body (cl_malloc'd). *header_len is
 * the JSON header's length when a tensor is binary, else -1. Errors: CLEAVE_EDTYPE (a dtype the protocol cannot
 * carry), CLEAVE_ENOMEM. */
int cl_oip_encode_response(cleave_ctx *ctx, const char *model, const char *version, const char *id,
                           const cl_oip_out *outs, int n, uint8_t **body, size_t *len, long long *header_len);

/* Encodes an infer request: inputs (binary or JSON), the outputs wanted (names; NULL/0: the model's) and whether
 * they should come back binary. Same results and errors as cl_oip_encode_response. */
int cl_oip_encode_request(cleave_ctx *ctx, const char *id, const cl_oip_out *inputs, int n_inputs,
                          const char *const *outputs, int n_outputs, bool binary_outputs, uint8_t **body, size_t *len,
                          long long *header_len);

#endif
