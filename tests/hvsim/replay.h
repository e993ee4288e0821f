/* replay.h: `vspc-hvsim replay ...`, VMware's capture replayed. */
#ifndef VSPC_HVSIM_REPLAY_H
#define VSPC_HVSIM_REPLAY_H

/* argv[0] is "replay". Returns the process exit code (0 = pass). */
int replay_main(int argc, char **argv);

#endif
