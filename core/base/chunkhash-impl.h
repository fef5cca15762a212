/* SPDX-License-Identifier: MIT */
#pragma once
/* The per-path functions behind chunk_hash (core/base/chunkhash.c). */
#include <stddef.h>
#include <stdint.h>

uint64_t chunk_hash_scalar(const void *data, size_t len);
uint64_t chunk_hash_sse2(const void *data, size_t len);
uint64_t chunk_hash_avx2(const void *data, size_t len);
