#ifndef LEADLEDGER_CLMDB_SHIM_H
#define LEADLEDGER_CLMDB_SHIM_H
#include <lmdb.h>
#endif
