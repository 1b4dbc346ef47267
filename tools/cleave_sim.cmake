# cleave-sim: `plan` (tools/cleave_sim.c) and, when its sources are present, `run` (tools/sim_*.c).
file(GLOB CLEAVE_SIM_EXTRA CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/sim_*.c)
add_executable(cleave-sim cleave_sim.c ${CLEAVE_SIM_EXTRA})
target_link_libraries(cleave-sim PRIVATE cleave_internal PkgConfig::JANSSON m)
target_include_directories(cleave-sim PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/sim_run.h)
  target_compile_definitions(cleave-sim PRIVATE CLEAVE_HAVE_SIM_RUN=1)
endif()
install(TARGETS cleave-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
