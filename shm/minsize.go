package shm

// MinCapacity is the smallest capacity New and NewRegistry accept for a
// dict without WithShards: room for one entry, a one-byte key with an
// empty value (blockSize(1, 0), its header rounded up to the arena's
// 8-byte alignment) plus EntryOverhead, in the one shard a dict that small
// gets. New refuses less with ErrBadSize; configuration validation
// (package config) refuses it before anything is built.
const MinCapacity = (blockHeader+1+7)&^7 + EntryOverhead
