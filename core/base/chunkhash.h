/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The chunk digest of PROTOCOL.md (XXH3-64, fy_chunk_digest) by the
 * fastest of xxHash's code paths this CPU runs, picked once at run time.
 *
 * fy_chunk_digest is compiled for the build's baseline (SSE2 on x86-64).
 * Real hardware mostly has AVX2, three times faster here; an emulated CPU
 * (QEMU's TCG, ferry's test guest) runs the scalar path twice as fast as
 * the SSE2 one, because every vector instruction becomes a helper call.
 * Which one wins is not knowable from CPUID (TCG and KVM guests both say
 * "hypervisor"), so the first call times each candidate on a small buffer
 * and keeps the fastest.  All paths give the same digest (tests/test-chunkhash.c).
 */
#include <stddef.h>
#include <stdint.h>

uint64_t chunk_hash(const void *data, size_t len);

/* The paths, for the test and for `ferryd --version`-style reports. */
enum chunk_hash_impl { CHUNK_HASH_SCALAR, CHUNK_HASH_SSE2, CHUNK_HASH_AVX2, CHUNK_HASH_N };
/* The path chunk_hash uses (picking it if not done yet). */
enum chunk_hash_impl chunk_hash_impl(void);
const char *chunk_hash_impl_name(enum chunk_hash_impl i);
/* 0, or -ENOTSUP when this CPU cannot run path i. */
int chunk_hash_with(enum chunk_hash_impl i, const void *data, size_t len, uint64_t *ret_digest);
