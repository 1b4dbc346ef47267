# cleave-sim run's command line (bad input, and a short run when the PP-OCR models are present).
add_test(NAME sim_run_cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/policies/test_sim_cli.sh ${CMAKE_BINARY_DIR}/bin
         ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_run_cli PROPERTIES LABELS "tools;sanitize" TIMEOUT 120)
