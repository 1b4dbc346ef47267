# cleave-sim plan's command line: JSON output and errors for bad arguments, profiles and constraints.
add_test(NAME cleave_sim_plan_cli
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/partitioner/test_cleave_sim.sh ${CMAKE_BINARY_DIR}/bin ${CMAKE_SOURCE_DIR})
set_tests_properties(cleave_sim_plan_cli PROPERTIES LABELS "tools;sanitize" TIMEOUT 120)
