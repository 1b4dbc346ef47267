/* core: schemas and shape inference of the nn operators. */
#include "core/ops.h"

const cl_op_schema cl_ops_nn[] = {
    {.name = NULL},
};
