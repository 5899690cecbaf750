// LMDB module.
