/* core: schemas and shape inference of the data operators. */
#include "core/ops.h"

const cl_op_schema cl_ops_data[] = {
    {.name = NULL},
};
