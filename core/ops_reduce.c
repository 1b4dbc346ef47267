/* core: schemas and shape inference of the reduce operators. */
#include "core/ops.h"

const cl_op_schema cl_ops_reduce[] = {
    {.name = NULL},
};
