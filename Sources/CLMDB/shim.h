#ifndef LEADLEDGER_CLMDB_SHIM_H
#define LEADLEDGER_CLMDB_SHIM_H
#include <lmdb.h>

/// Asks the processor to start loading the cache line at `address` (for reading, kept in all
/// cache levels); never faults, whatever the address.
static inline void leadledger_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}
#endif
