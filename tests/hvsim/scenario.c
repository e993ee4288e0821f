/* Placeholder until the scenario module lands: see scenario.h. */
#include "vspc/compat.h"
#include "scenario.h"

#include <stdio.h>

int
scen_main(int argc, char **argv)
{
    fprintf(stderr, "vspc-hvsim: scenarios not built yet\n");
    return 2;
}
