/* cleave: error codes.
 *
 * Every function that can fail returns int: 0 on success or one negative CLEAVE_E* code. The list below is the
 * only place codes are defined; new codes are appended at the end so that numbers never change. */
#ifndef CLEAVE_ERROR_H
#define CLEAVE_ERROR_H

#include "cleave/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, number, message) */
#define CLEAVE_ERRNO_MAP(XX)                                                                                    \
  XX(NOMEM, -1, "out of memory")                                                                               \
  XX(INVAL, -2, "invalid argument")                                                                            \
  XX(IO, -3, "I/O error")                                                                                      \
  XX(TRUNCATED, -4, "model file is truncated")                                                                 \
  XX(PARSE, -5, "model file is not a valid ONNX protobuf")                                                     \
  XX(MODEL, -6, "model is malformed")                                                                          \
  XX(CYCLE, -7, "graph contains a cycle")                                                                      \
  XX(UNSUPPORTED, -8, "operator, attribute or data type not supported")                                        \
  XX(SHAPE, -9, "tensor shape mismatch")                                                                       \
  XX(DTYPE, -10, "tensor data type mismatch")                                                                  \
  XX(NOTFOUND, -11, "no such name")                                                                            \
  XX(MISSING, -12, "required input missing")                                                                   \
  XX(RANGE, -13, "value out of range")                                                                         \
  XX(LIMIT, -14, "size limit exceeded")                                                                        \
  XX(BACKEND, -15, "device backend failure")                                                                   \
  XX(NODEVICE, -16, "no such device")                                                                          \
  XX(CONNREFUSED, -17, "connection refused")                                                                   \
  XX(TLS, -18, "TLS handshake or certificate verification failed")                                             \
  XX(HTTP, -19, "server answered with an HTTP error status")                                                   \
  XX(PROTO, -20, "protocol error")                                                                             \
  XX(TIMEDOUT, -21, "timed out")                                                                               \
  XX(CANCELED, -22, "canceled")                                                                                \
  XX(NET, -23, "network error: connection reset or closed")                                                    \
  XX(BUSY, -24, "server overloaded, retry later")                                                              \
  XX(AUTH, -25, "not authorised")                                                                              \
  XX(INFEASIBLE, -26, "no placement satisfies the constraints")

#define CLEAVE_ERRNO_GEN(name, num, msg) CLEAVE_E##name = (num),
typedef enum cleave_errno { CLEAVE_OK = 0, CLEAVE_ERRNO_MAP(CLEAVE_ERRNO_GEN) } cleave_errno;
#undef CLEAVE_ERRNO_GEN

/* A static, human-readable message for err ("unknown error" for codes not in the list). */
CLEAVE_API const char *cleave_strerror(int err);

/* The code's name without prefix, e.g. "NOMEM" ("UNKNOWN" for codes not in the list). */
CLEAVE_API const char *cleave_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
