/* SPDX-License-Identifier: MIT */
/*
 * ferry wire format, version 1: constants and message structs.
 *
 * protocol/ is pure: encode, decode and validate only.  No I/O, no logging,
 * no allocation.  Every length that arrives from the wire is checked against
 * the caps below before anything is sized from it.  PROTOCOL.md is the
 * normative description; this header must match it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- frame header ------------------------------------------------------ */

#define FY_MAGIC0 0x46 /* 'F' */
#define FY_MAGIC1 0x45 /* 'E' */
#define FY_MAGIC2 0x52 /* 'R' */
#define FY_MAGIC3 0x59 /* 'Y' */

#define FY_PROTO_VERSION 1 /* highest version this codec speaks */
#define FY_PROTO_MIN 1     /* lowest version this codec speaks */

#define FY_HDR_SIZE 16

/* Largest chunk of file data one DATA frame may carry, and the largest frame
 * payload of any type.  4 MiB keeps a receiver's worst-case buffer small while
 * letting hand-offs stay >= 1 MiB, which is what keeps a pipeline fast here. */
#define FY_MAX_CHUNK (4u << 20)
#define FY_MIN_CHUNK 4096u
#define FY_DATA_HEAD_SIZE 32
#define FY_MAX_PAYLOAD (FY_MAX_CHUNK + FY_DATA_HEAD_SIZE)

#define FY_MAX_PATH 4096  /* bytes of a path on the wire, without NUL */
#define FY_MAX_NAME 255   /* one path component */
#define FY_MAX_TEXT 1024  /* human-readable error text */
#define FY_MAX_AGENT 64   /* agent identification string */

enum fy_type {
        FY_SYNC = 0x01,        /* initiator -> responder: nonce + hello */
        FY_SYNC_ACK = 0x02,    /* responder -> initiator: echoed nonce + choice */
        FY_ERROR = 0x03,       /* either way: the session is over, with a reason */
        FY_BYE = 0x04,         /* either way: clean end of session */
        FY_CREDIT = 0x05,      /* data receiver -> data sender: flow control */
        FY_PAD = 0x06,         /* either way: ignored (resync padding) */
        FY_FILE_BEGIN = 0x10,  /* data sender -> receiver: a file starts */
        FY_DATA = 0x11,        /* data sender -> receiver: one chunk */
        FY_FILE_END = 0x12,    /* data sender -> receiver: size, count, digest */
        FY_FILE_STATUS = 0x13, /* data receiver -> sender: verdict on a file */
        FY_FILE_ABORT = 0x14,  /* data sender -> receiver: give up on a file */
        FY_CHUNK_NACK = 0x15,  /* data receiver -> sender: send this chunk again (FY_FEAT_RESEND) */
        FY_GET = 0x20,         /* host -> guest: send me this file (pull) */
        FY_MKDIR = 0x21,       /* data sender -> receiver: a directory (trees) */
        FY_SYMLINK = 0x22,     /* data sender -> receiver: a symbolic link (trees) */
        FY_HOLE = 0x23,        /* data sender -> receiver: a hole in the open file */
        FY_RESUME_QUERY = 0x16, /* data sender -> receiver: what of this file do you have? */
        FY_RESUME_STATE = 0x17, /* data receiver -> sender: the answer (FY_FEAT_RESUME) */
        /* 0x30 STATS_REQ, 0x31 STATS: below (FY_FEAT_STATS). */
};

/* Stats (FY_FEAT_STATS, PROTOCOL.md 9.12): the responder's daemon-wide
 * counters and budgets, on request. */
enum {
        FY_STATS_REQ = 0x30, /* initiator -> responder: your counters, please */
        FY_STATS = 0x31,     /* responder -> initiator: the answer */
};

/* Feature bits offered in SYNC and accepted in SYNC_ACK.  A v1 peer offers
 * none of these yet; they are numbered now so that later work does not
 * renumber the wire. */
enum {
        FY_FEAT_ZSTD = 1ull << 0,     /* DATA codec 1 (zstd) may be used */
        FY_FEAT_RESUME = 1ull << 1,   /* RESUME_QUERY/RESUME_STATE */
        FY_FEAT_TREE = 1ull << 2,     /* MKDIR, SYMLINK, FILE_BEGIN tree flags */
        FY_FEAT_RESEND = 1ull << 3,   /* CHUNK_NACK: corrupted chunks re-sent */
        FY_FEAT_SPARSE = 1ull << 4,   /* HOLE frames */
        FY_FEAT_PACING = 1ull << 5,   /* richer pacing exchange (v1 CREDIT has reasons) */
        FY_FEAT_STATS = 1ull << 6,    /* STATS_REQ/STATS */
        FY_FEAT_BENCH = 1ull << 7,    /* bench mode: FY_FB_BENCH, FY_GET_BENCH, FY_MK_SCRATCH */
        FY_FEAT_CHECKED = 1ull << 8,  /* every control payload ends with a check (FY_HF_CHECKED),
                                       * and a SKIP carries the digest it vouches for */
        FY_FEAT_DELTA = 1ull << 9,    /* FY_FB_DELTA and DATA codec 2 (keep): a changed
                                       * file sends only the chunks that differ */
};
/* What this implementation supports. */
#define FY_FEAT_KNOWN (FY_FEAT_TREE | FY_FEAT_SPARSE | FY_FEAT_RESUME | FY_FEAT_RESEND | FY_FEAT_BENCH | FY_FEAT_CHECKED | \
                       FY_FEAT_DELTA)

/* Header flags.  FY_HF_CHECKED (only once FY_FEAT_CHECKED is agreed, never
 * on DATA): the last FY_CHECK_SIZE bytes of the payload (counted in the
 * header's length) are the XXH3-64 of the bytes before them, seeded with
 * the XXH3-64 of header bytes 0..11, little-endian.  The header's own check
 * covers its 12 bytes only, so without this one flipped bit in a control
 * payload (a name, a mode, a verdict) would go unnoticed; DATA chunks carry
 * their own digest and every field of a DATA head is checked against the
 * file's state. */
enum {
        FY_HF_CHECKED = 1u << 0,
};
#define FY_HF_KNOWN FY_HF_CHECKED
#define FY_CHECK_SIZE 8

/* DATA codecs */
enum {
        FY_CODEC_RAW = 0,
        FY_CODEC_ZSTD = 1, /* zstd frame of the chunk, smaller than it (FY_FEAT_ZSTD) */
        FY_CODEC_KEEP = 2, /* no payload: the receiver's own bytes at this offset of
                            * the file it had (FY_FB_DELTA), if their digest is this
                            * one; else it asks for the chunk (CHUNK_NACK) */
};

/* FILE_BEGIN flags: how the receiver turns (dest, name) into a path. */
enum {
        FY_FB_DEST_IS_DIR = 1u << 0,    /* dest must be a directory; file = dest/name */
        FY_FB_DEST_MAYBE_DIR = 1u << 1, /* if dest is a directory, file = dest/name */
        FY_FB_SPARSE = 1u << 2,         /* HOLE frames may follow (FY_FEAT_SPARSE) */
        FY_ENTRY_REL = 1u << 3,         /* dest is relative to the GET's destination
                                         * (an entry of a tree being pulled) */
        FY_FB_RESUME = 1u << 4,         /* continue the receiver's partial file at
                                         * resume_off (FY_FEAT_RESUME, after RESUME_STATE) */
        FY_FB_BENCH = 1u << 5,          /* a measurement (FY_FEAT_BENCH): check every
                                         * chunk and the file, then discard it; dest
                                         * is a label, nothing is opened or written.
                                         * The only flag of its FILE_BEGIN */
        FY_FB_DELTA = 1u << 6,          /* DATA may be codec 2 (keep), taken from the
                                         * file at the destination now (FY_FEAT_DELTA,
                                         * FY_FEAT_RESEND; after RESUME_STATE FY_RS_DIGEST) */
};
#define FY_FB_KNOWN (FY_FB_DEST_IS_DIR | FY_FB_DEST_MAYBE_DIR | FY_FB_SPARSE | FY_ENTRY_REL | FY_FB_RESUME | FY_FB_BENCH | \
                     FY_FB_DELTA)

/* RESUME_QUERY.how */
enum {
        FY_RQ_CHECKSUM = 1u << 0, /* compare contents: answer FY_RS_DIGEST for an
                                   * existing file of the same size */
};
#define FY_RQ_KNOWN FY_RQ_CHECKSUM

/* RESUME_STATE.verdict */
enum {
        FY_RS_SEND = 0,   /* nothing usable here: send the whole file */
        FY_RS_RESUME = 1, /* a verified partial file: offset, chunks, prefix digest */
        FY_RS_SKIP = 2,   /* the destination is complete (size, mtime, record) */
        FY_RS_DIGEST = 3, /* (FY_RQ_CHECKSUM) the destination's content digest */
};
#define FY_RS_MAX FY_RS_DIGEST

/* MKDIR flags */
enum {
        FY_MK_ATTRS = 1u << 0,   /* the directory is complete: apply mode and mtime */
        FY_MK_SCRATCH = 1u << 1, /* (FY_FEAT_BENCH) a new directory for this session
                                  * only: the receiver removes it, and all in it,
                                  * when the session ends.  The only flag */
};
#define FY_MK_KNOWN (FY_MK_ATTRS | FY_MK_SCRATCH | FY_ENTRY_REL)

/* Transfer ids: the initiator numbers its files and GETs from 1; the entries
 * of a tree the responder sends for a GET carry ids it chooses, with bit 31
 * set, except the tree's top directory, which carries the GET's id. */
#define FY_RESPONDER_ID 0x80000000u

/* GET flags */
enum {
        FY_GET_TREE = 1u << 0,     /* path may be a directory: send its tree (FY_FEAT_TREE) */
        FY_GET_RESUME = 1u << 1,   /* ask with RESUME_QUERY before sending (FY_FEAT_RESUME) */
        FY_GET_CHECKSUM = 1u << 2, /* ... with FY_RQ_CHECKSUM */
        FY_GET_BENCH = 1u << 3,    /* (FY_FEAT_BENCH) no file: bench_size bytes of
                                    * bench_pattern, made in memory and sent as a
                                    * FY_FB_BENCH file; path is a label.  The only flag */
};
#define FY_GET_KNOWN (FY_GET_TREE | FY_GET_RESUME | FY_GET_CHECKSUM | FY_GET_BENCH)

/* GET.bench_pattern: what the generated bytes look like (their exact bytes
 * are the sender's choice; only how well they compress is asked for). */
enum {
        FY_BENCH_RANDOM = 0, /* incompressible */
        FY_BENCH_TEXT = 1,   /* compresses like text (zstd -1: several times) */
};
#define FY_BENCH_PATTERN_MAX FY_BENCH_TEXT

/* Wire error codes: stable numbers, independent of the errno values of
 * either side's architecture.  0 means success. */
enum fy_code {
        FY_OK = 0,
        FY_EPERM = 1,
        FY_ENOENT = 2,
        FY_EIO = 3,
        FY_EACCES = 4,
        FY_EEXIST = 5,
        FY_ENOTDIR = 6,
        FY_EISDIR = 7,
        FY_EINVAL = 8,
        FY_EFBIG = 9,
        FY_ENOSPC = 10,
        FY_EROFS = 11,
        FY_ENAMETOOLONG = 12,
        FY_ELOOP = 13,
        FY_EXDEV = 14, /* path escapes the root */
        FY_EPROTO = 15,
        FY_EBADMSG = 16, /* digest mismatch */
        FY_EMSGSIZE = 17,
        FY_ENOTSUP = 18,
        FY_ECANCELED = 19,
        FY_EDQUOT = 20,
        FY_ENOMEM = 21,
        FY_EBUSY = 22,
        FY_ECONNRESET = 23,
        FY_ETIMEDOUT = 24,
        FY_ENOTEMPTY = 25,
        FY_EOTHER = 255, /* anything else; the text says what */
};

struct fy_header {
        uint8_t version;
        uint8_t type;
        uint16_t flags;  /* FY_HF_*: 0 unless FY_FEAT_CHECKED was agreed */
        uint32_t length; /* payload bytes, <= FY_MAX_PAYLOAD */
};

/* SYNC and SYNC_ACK carry the same fields. */
struct fy_hello {
        uint64_t nonce;
        uint16_t proto_min;   /* SYNC_ACK: both hold the chosen version */
        uint16_t proto_max;
        uint64_t features;    /* offered (SYNC) or accepted (SYNC_ACK) */
        uint32_t max_frame;   /* largest frame payload the sender of this accepts */
        uint32_t max_chunk;   /* largest DATA chunk it accepts */
        uint64_t recv_window; /* credit bytes (fy_data_credit) it lets the peer have in flight to it */
        char agent[FY_MAX_AGENT + 1];
};

struct fy_error {
        uint32_t code; /* enum fy_code */
        char text[FY_MAX_TEXT + 1];
};

struct fy_credit {
        /* Both in credit bytes, cumulative: what each DATA frame counts,
         * fy_data_credit (its payload; a kept chunk, codec 2, its raw_len). */
        uint64_t consumed; /* credit bytes fully handled */
        uint64_t limit;    /* credit bytes the peer may have sent */
        uint32_t reasons;  /* FY_PACE_*: why the limit is not consumed + window */
};

/* Why a receiver holds credit back (CREDIT.reasons), so the sender can say
 * what it waited for. */
enum {
        FY_PACE_RATE = 1u << 0,  /* the receiver's rate limit */
        FY_PACE_CPU = 1u << 1,   /* the receiver's CPU budget */
        FY_PACE_PSI = 1u << 2,   /* pressure on the receiver's system */
        FY_PACE_DIRTY = 1u << 3, /* waiting for its writeback (dirty budget) */
};
#define FY_PACE_KNOWN 0xfu

struct fy_file_begin {
        uint32_t xfer_id;
        uint32_t flags; /* FY_FB_* */
        uint64_t size;
        uint32_t mode; /* permission bits, & 07777 */
        uint32_t chunk_size;
        int64_t mtime_sec;
        uint32_t mtime_nsec;
        char dest[FY_MAX_PATH + 1];
        char name[FY_MAX_NAME + 1]; /* may be empty when no flag needs it */
        /* FY_FB_RESUME only: where DATA starts, and how many chunks the
         * receiver's verified prefix holds (FILE_END counts them too). */
        uint64_t resume_off, resume_chunks;
};

/* RESUME_QUERY: the FILE_BEGIN that would follow (no FY_FB_RESUME), and how
 * to compare. */
struct fy_resume_query {
        struct fy_file_begin file;
        uint32_t how; /* FY_RQ_* */
};

struct fy_resume_state {
        uint32_t xfer_id;
        uint32_t verdict;    /* FY_RS_* */
        uint64_t offset;     /* RESUME: verified prefix; DIGEST: the file's size */
        uint64_t chunks;     /* RESUME: data chunks in the prefix */
        uint64_t received;   /* RESUME: bytes the receiver had taken (>= offset):
                              * telemetry, what is sent again */
        uint32_t chunk_size; /* RESUME, DIGEST: the chunking the digest is over */
        uint8_t digest[16];  /* RESUME: the prefix's digest so far; SKIP: the
                              * recorded file digest (zero if none); DIGEST:
                              * the content digest */
};

struct fy_data {
        uint32_t xfer_id;
        uint8_t codec;
        uint64_t offset;
        uint32_t raw_len; /* uncompressed length */
        uint64_t digest;  /* XXH3-64 of the uncompressed bytes */
        uint32_t payload_len; /* bytes following the DATA head on the wire */
};

/* What a DATA frame counts against the window: its payload, or for a kept
 * chunk (no payload) its raw length - the receiver reads and writes those
 * bytes all the same, and the window is what paces it. */
static inline uint32_t fy_data_credit(const struct fy_data *d) {
        return d->codec == FY_CODEC_KEEP ? d->raw_len : d->payload_len;
}

struct fy_file_end {
        uint32_t xfer_id;
        uint64_t size;
        uint64_t chunks;
        uint8_t digest[16]; /* XXH3-128 canonical form, see PROTOCOL.md */
        /* The sender's chunk round trips (sent -> credited) in this file so
         * far, in microseconds: telemetry for a receiving host (pull), not
         * checked.  0 when not measured. */
        uint32_t rtt_count, rtt_p50_us, rtt_p99_us, rtt_max_us;
};

struct fy_file_status {
        uint32_t xfer_id;
        uint32_t code; /* enum fy_code */
        uint64_t bytes;
        uint8_t digest[16];
        /* The receiver's footprint while it took this file (telemetry, not
         * checked): most bytes written but not yet on disk, and its peak
         * resident memory.  0 when not measured. */
        uint64_t dirty_peak;
        uint64_t rss_peak;
        char text[FY_MAX_TEXT + 1];
};

struct fy_file_abort {
        uint32_t xfer_id;
        uint32_t code;
        char text[FY_MAX_TEXT + 1];
};

struct fy_mkdir {
        uint32_t xfer_id;
        uint32_t flags; /* FY_MK_*, FY_ENTRY_REL */
        uint32_t mode;  /* permission bits, & 07777 */
        int64_t mtime_sec;
        uint32_t mtime_nsec;
        char dest[FY_MAX_PATH + 1];
};

struct fy_symlink {
        uint32_t xfer_id;
        uint32_t flags; /* FY_ENTRY_REL */
        int64_t mtime_sec;
        uint32_t mtime_nsec;
        char dest[FY_MAX_PATH + 1];
        char target[FY_MAX_PATH + 1]; /* stored as is, never followed by the receiver */
};

struct fy_hole {
        uint32_t xfer_id;
        uint64_t offset;
        uint64_t length;
};

struct fy_chunk_nack {
        uint32_t xfer_id;
        uint32_t raw_len;  /* the chunk asked for again: its length ... */
        uint64_t offset;   /* ... and its file offset, as its DATA said */
        uint32_t code;     /* why (FY_EBADMSG: the digest, or the payload did not decompress) */
};

/* STATS_REQ has a u32 flags (none defined: 0) and nothing else to say. */
struct fy_stats_req {
        uint32_t flags;
};

/* STATS: the responder's whole daemon (all its sessions since it started,
 * this one included), for ferry stats. */
#define FY_STATS_SIZE 120
struct fy_stats {
        uint64_t sessions_total;   /* sessions begun */
        uint32_t sessions;         /* running now, <= sessions_total */
        uint32_t pacing;           /* FY_PACE_*: what holds some session's credit back now */
        uint64_t bytes_received;   /* file bytes received (pushes) */
        uint64_t bytes_sent;       /* file bytes sent (pulls) */
        uint64_t files_ok, files_failed, files_skipped;
        uint64_t paced_ns[4];      /* time held back, by FY_PACE_* bit: rate, cpu, psi, dirty */
        uint64_t dirty;            /* bytes written, not yet on disk, now */
        uint64_t window;           /* the credit window its budgets allow now */
        uint64_t rss;              /* its resident memory, bytes */
        uint32_t pressure_pct;     /* others' io/memory stall at the last sample, 0..100 */
};

struct fy_get {
        uint32_t xfer_id;
        uint32_t flags;      /* FY_GET_* */
        uint32_t chunk_size; /* 0: sender's choice */
        char path[FY_MAX_PATH + 1];
        /* FY_GET_BENCH only */
        uint64_t bench_size;    /* bytes to send, <= 2^63-1 */
        uint32_t bench_pattern; /* FY_BENCH_* */
};

/* A decoded control message.  DATA is decoded head-only (fy_data_decode),
 * its payload stays wherever the caller read it. */
struct fy_msg {
        uint8_t type;
        union {
                struct fy_hello hello;
                struct fy_error error;
                struct fy_credit credit;
                struct fy_file_begin begin;
                struct fy_data data;
                struct fy_file_end end;
                struct fy_file_status status;
                struct fy_file_abort abort;
                struct fy_get get;
                struct fy_mkdir mkdir;
                struct fy_symlink symlink;
                struct fy_hole hole;
                struct fy_chunk_nack nack;
                struct fy_resume_query query;
                struct fy_resume_state state;
                struct fy_stats_req stats_req;
                struct fy_stats stats;
        };
};
