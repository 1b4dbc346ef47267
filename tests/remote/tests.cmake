# tests/remote: the gateway's inference path against stock HTTP/2 clients, with bodies made by gw_tool.
add_executable(gw_tool remote/gw_tool.c)
target_link_libraries(gw_tool PRIVATE cleave_test_support cleave_npy m)

add_test(NAME gateway_infer COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/remote/test_gateway_infer.sh ${CMAKE_BINARY_DIR}/bin
                                    ${CMAKE_SOURCE_DIR})
# 77: the models are not there (CLEAVE_MODELS unset)
set_tests_properties(gateway_infer PROPERTIES LABELS "remote;sanitize" TIMEOUT 600 SKIP_RETURN_CODE 77)

# 20000 infers under h2load: in the normal build only (the sanitizers make it minutes long, and its point is load).
add_test(NAME gateway_load COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/remote/test_gateway_load.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(gateway_load PROPERTIES LABELS "remote;load" TIMEOUT 900 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
