/* Placeholder until the replay module lands: see replay.h. */
#include "vspc/compat.h"
#include "replay.h"

#include <stdio.h>

int
replay_main(int argc, char **argv)
{
    fprintf(stderr, "vspc-hvsim: replay not built yet\n");
    return 2;
}
