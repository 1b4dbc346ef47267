# local/vulkan: the "gpu" device. Its GLSL compute shaders are compiled to SPIR-V with glslc at build time and
# embedded in the library as C arrays. The Vulkan loader is opened at run time (dlopen), so that the library loads
# and its other devices work on hosts without one; only the headers are needed to build.
find_program(GLSLC glslc REQUIRED)
find_path(VULKAN_INCLUDE_DIR vulkan/vulkan.h REQUIRED)

set(VK_DIR ${CMAKE_CURRENT_LIST_DIR})
set(VK_GEN ${CMAKE_BINARY_DIR}/gen/vulkan)
file(MAKE_DIRECTORY ${VK_GEN})
file(GLOB VK_SHADER_INCLUDES CONFIGURE_DEPENDS ${VK_DIR}/shaders/*.glsl)
# name, source, defines: the GEMM comes in one module per tile (rows x columns of a workgroup, k step, rows x
# columns of a thread), so that its register blocks are compile-time constants.
set(VK_MODULES
  "gemm_l|gemm|-DBM=128 -DBN=128 -DBK=8 -DTM=8 -DTN=8"
  "gemm_m|gemm|-DBM=64 -DBN=64 -DBK=16 -DTM=4 -DTN=4"
  "gemm_n|gemm|-DBM=32 -DBN=128 -DBK=16 -DTM=4 -DTN=4"
  "gemm_w|gemm|-DBM=128 -DBN=32 -DBK=16 -DTM=4 -DTN=4"
  "gemm_x|gemm|-DBM=128 -DBN=128 -DBK=16 -DTM=8 -DTN=8"
  "gemm_y|gemm|-DBM=64 -DBN=128 -DBK=16 -DTM=4 -DTN=8"
  "gemm_s|gemm|-DBM=32 -DBN=64 -DBK=16 -DTM=4 -DTN=4")
foreach(s dwconv convt ew pool reduce softmax copy resize)
  list(APPEND VK_MODULES "${s}|${s}|")
endforeach()
set(VK_SPV_SOURCES "")
foreach(mod ${VK_MODULES})
  string(REPLACE "|" ";" parts "${mod}")
  list(GET parts 0 name)
  list(GET parts 1 src)
  list(GET parts 2 defstr)
  separate_arguments(defs UNIX_COMMAND "${defstr}")
  add_custom_command(
    OUTPUT ${VK_GEN}/${name}.spv.c
    COMMAND ${GLSLC} -O --target-env=vulkan1.1 -I ${VK_DIR}/shaders ${defs} -o ${VK_GEN}/${name}.spv
            ${VK_DIR}/shaders/${src}.comp
    COMMAND ${CMAKE_COMMAND} -DIN=${VK_GEN}/${name}.spv -DOUT=${VK_GEN}/${name}.spv.c -DNAME=${name}
            -P ${VK_DIR}/embed.cmake
    DEPENDS ${VK_DIR}/shaders/${src}.comp ${VK_SHADER_INCLUDES} ${VK_DIR}/embed.cmake
    COMMENT "glslc ${name}")
  list(APPEND VK_SPV_SOURCES ${VK_GEN}/${name}.spv.c)
endforeach()

file(GLOB VK_C_SOURCES CONFIGURE_DEPENDS ${VK_DIR}/*.c)
list(APPEND CLEAVE_EXTRA_SOURCES ${VK_C_SOURCES} ${VK_SPV_SOURCES})
list(APPEND CLEAVE_EXTRA_LIBS ${CMAKE_DL_LIBS})
include_directories(${VULKAN_INCLUDE_DIR})
