/* scenario.h: `vspc-hvsim scenario ...`, the PROTOCOL.md section 10 runs. */
#ifndef VSPC_HVSIM_SCENARIO_H
#define VSPC_HVSIM_SCENARIO_H

/* argv[0] is "scenario". Returns the process exit code (0 = pass). */
int scen_main(int argc, char **argv);

#endif
