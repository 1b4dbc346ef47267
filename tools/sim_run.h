/* cleave-sim run: the trace-driven policy simulation (the logic is in policies/sim.c). */
#ifndef CLEAVE_TOOLS_SIM_RUN_H
#define CLEAVE_TOOLS_SIM_RUN_H

/* argv[0] is "run". Returns the process exit code: 0, 1 (a file failed to load or the run failed), 2 (bad
 * arguments), 3 (no plan satisfies the constraints). */
int cl_sim_run_main(int argc, char **argv);

#endif
