/*
 * epoch.h: console ownership epochs (the rule is in proto/vspc.proto,
 * "EPOCHS"): epoch = (counter << 8) | node_index. Pure functions.
 */
#ifndef VSPC_EPOCH_H
#define VSPC_EPOCH_H

#include "vspc/compat.h"

#define EPOCH_COUNTER_MAX ((UINT64_C(1) << 56) - 1)

static inline uint64_t
epoch_make(uint64_t counter, uint8_t node_index)
{
    return (counter << 8) | node_index;
}

static inline uint8_t
epoch_index(uint64_t epoch)
{
    return (uint8_t)(epoch & 0xff);
}

static inline uint64_t
epoch_counter(uint64_t epoch)
{
    return epoch >> 8;
}

/*
 * The epoch a node with node_index takes to claim a console whose highest
 * known epoch is highest (0 if none): one counter step above, with its own
 * index. The counter saturates at 2^56 - 1 (2^56 claims of one console do
 * not happen; saturating keeps the result >= highest's counter).
 */
static inline uint64_t
epoch_next(uint64_t highest, uint8_t node_index)
{
    uint64_t c = epoch_counter(highest);

    return epoch_make(c < EPOCH_COUNTER_MAX ? c + 1 : c, node_index);
}

#endif /* VSPC_EPOCH_H */
