# tests/tools: cleave-link's relay in process, between real peers on 127.0.0.1, and its command line.
add_executable(test_link_relay tools/test_link_relay.c)
target_link_libraries(test_link_relay PRIVATE cleave_link_relay PkgConfig::CMOCKA)
add_test(NAME link_relay COMMAND test_link_relay)
set_tests_properties(link_relay PROPERTIES LABELS "tools;sanitize" TIMEOUT 90)

# cleave-link's command line and control port, with python3 peers.
add_test(NAME link_cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/test_cleave_link.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(link_cli PROPERTIES LABELS "tools;sanitize" TIMEOUT 90)
