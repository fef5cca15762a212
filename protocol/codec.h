/* SPDX-License-Identifier: MIT */
/*
 * Encode and decode ferry frames.  Pure functions over caller-owned buffers.
 *
 * Errors are -errno values, one per kind of fault, so a caller (and a test)
 * can tell which field was wrong; fy_strerror_decode() names them.
 */
#pragma once

#include "wire.h"
#include "xxh.h"

/* Largest payload of any frame other than DATA.  Control frames are small;
 * a reader can keep one fixed buffer of this size for them. */
#define FY_MAX_CTRL 8192
/* Largest control frame, header included. */
#define FY_MAX_CTRL_FRAME (FY_HDR_SIZE + FY_MAX_CTRL)

/* Header checks, in the order they are made:
 *   -EILSEQ          bad magic
 *   -EBADMSG         header checksum mismatch
 *   -EPROTONOSUPPORT version outside [FY_PROTO_MIN, FY_PROTO_VERSION]
 *   -ENOMSG          unknown or reserved message type
 *   -EPROTO          a flag other than FY_HF_CHECKED, or that one on DATA
 *   -EMSGSIZE        length over the cap for this type */
int fy_header_decode(const uint8_t buf[FY_HDR_SIZE], struct fy_header *ret_hdr);
void fy_header_encode(uint8_t buf[FY_HDR_SIZE], uint8_t type, uint32_t length);

/* The offset of the first position in buf where a valid header starts, or
 * where a header may start once more bytes arrive (at most FY_HDR_SIZE-1
 * bytes before len).  Used to find a frame boundary again in a byte stream
 * that carries leftovers of an earlier session. */
size_t fy_scan(const uint8_t *buf, size_t len);

/* Decode the payload of a frame whose header fy_header_decode() accepted.
 * For FY_DATA only the DATA head is decoded: len may be anything from
 * FY_DATA_HEAD_SIZE to hdr->length (the chunk itself follows the head and
 * need not be in memory); payload_len comes from the header.  Errors:
 *   -EBADMSG  payload too short, too long, or a length field overruns it
 *   -EMSGSIZE a string or chunk over its cap
 *   -EPROTO   a reserved field is not zero, or a value is out of range
 *   -EINVAL   a string holds a NUL byte, or a name is not one component
 *   -EBADE    FY_HF_CHECKED and the payload's check does not match (checked
 *             before any field: the payload was damaged in transit) */
int fy_msg_decode(const struct fy_header *hdr, const uint8_t *payload, size_t len,
                  struct fy_msg *ret_msg);

/* Encode a complete control frame (header + payload) into buf.  Returns its
 * length, or -EMSGSIZE if it does not fit in cap or breaks a cap, or -EINVAL
 * for FY_DATA (use fy_data_head_encode) or an unknown type. */
ssize_t fy_msg_encode(uint8_t *buf, size_t cap, const struct fy_msg *msg);
/* The same with FY_HF_CHECKED and the payload check (FY_FEAT_CHECKED agreed);
 * the check counts in FY_MAX_CTRL. */
ssize_t fy_msg_encode_checked(uint8_t *buf, size_t cap, const struct fy_msg *msg);

/* Frame header + DATA head for a chunk whose payload_len bytes the caller
 * sends right after (e.g. with writev).  Returns FY_HDR_SIZE+FY_DATA_HEAD_SIZE,
 * or -EMSGSIZE if payload_len is over FY_MAX_CHUNK. */
#define FY_DATA_FRAME_HEAD (FY_HDR_SIZE + FY_DATA_HEAD_SIZE)
ssize_t fy_data_head_encode(uint8_t buf[FY_DATA_FRAME_HEAD], const struct fy_data *data);

/* Fill buf with PAD frames (each at most FY_MAX_CTRL of zeros) covering
 * as much of len as whole frames can; returns the bytes filled. */
size_t fy_pad_encode(uint8_t *buf, size_t len);

/* XXH3-64 of a chunk, and the XXH3-128 whole-file digest over chunk digests. */
uint64_t fy_chunk_digest(const void *data, size_t len);
struct fy_file_digest {
        XXH3_state_t state;
        uint8_t pending[256]; /* chunk digests not yet fed to state */
        size_t npending;
};
void fy_file_digest_init(struct fy_file_digest *fd);
void fy_file_digest_add(struct fy_file_digest *fd, uint64_t chunk_digest);
/* A hole joins the file digest as the XXH3-64 (seed FY_HOLE_SEED) of its
 * offset and length, 8 bytes LE each, in its place among the chunks. */
#define FY_HOLE_SEED 0x454c4f48u /* "HOLE" */
void fy_file_digest_add_hole(struct fy_file_digest *fd, uint64_t offset, uint64_t length);
void fy_file_digest_final(struct fy_file_digest *fd, uint8_t ret_digest[16]);

/* Mapping between wire codes and this host's errno values. */
uint32_t fy_code_from_errno(int err);
int fy_code_to_errno(uint32_t code);

/* Short names for logs and error messages. */
const char *fy_type_name(uint8_t type);
const char *fy_strerror_decode(int err);
