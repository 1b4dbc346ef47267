# Writes the SPIR-V file IN as a 4-byte aligned C byte array named cl_vk_spv_NAME (and its size) to OUT.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${NAME}.comp by glslc; do not edit */\n#include <stddef.h>\n"
  "_Alignas(4) const unsigned char cl_vk_spv_${NAME}[] = {\n${body}};\n"
  "const size_t cl_vk_spv_${NAME}_size = ${bytes};\n")
