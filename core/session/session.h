/* SPDX-License-Identifier: MIT */
/*
 * One ferry session over one byte stream: handshake, credit flow control,
 * sending and receiving files.  Both agents run the same engine; the host
 * is the initiator and queues work (push: files to send; pull: GETs), the
 * guest is the responder and answers.
 *
 * Single-threaded and event driven: one poll() over the stream and the
 * io_uring completion queue keeps file reads, hashing, socket writes and
 * file writes overlapped without a hand-off between threads (a cross-core
 * wake-up costs ~70 us here).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "fs/pathsafe.h"
#include "session/telemetry.h"
#include "wire.h"

struct fio; /* fs/fio.h */

#define SESSION_DEFAULT_CHUNK (1u << 20)
#define SESSION_DEFAULT_WINDOW (8u << 20)
#define SESSION_DEFAULT_DEPTH 8
#define SESSION_MAX_DEPTH 256
#define SESSION_THREADS_AUTO (-1)

struct file_result {
        uint32_t xfer_id;
        uint32_t group; /* an entry of the tree with this id (0: none) */
        enum entry_kind { ENTRY_FILE, ENTRY_TREE, ENTRY_DIR, ENTRY_DIR_ATTRS, ENTRY_SYMLINK } kind;
        bool sent;      /* this side was the sender */
        int err;        /* 0 or -errno */
        bool remote;    /* err came from the peer (its text is in text) */
        char text[FY_MAX_TEXT + 1];
        uint64_t size;
        uint8_t digest[16];
        struct xfer_stats stats;
        bool aux;       /* an entry made for the tree, not from it (DEST) */
        bool skipped;   /* resume: the receiver had it already, nothing was sent */
        /* the entry's paths, valid during the file_done callback only */
        const char *src, *dest;
        /* ENTRY_TREE: what the tree's entries came to */
        uint64_t files, dirs, symlinks, failed;
        uint64_t skipped_files; /* of files: skipped (resume) */
};

/* Whole-session counters. */
#define SESSION_PACE_REASONS 4 /* FY_PACE_* bits, in order: rate, cpu, psi, dirty */
struct session_totals {
        uint64_t bytes_sent, bytes_received;
        uint64_t files_sent, files_received, files_failed;
        struct lat_hist rtt;
        /* receiving: a chunk's write submitted -> completed */
        struct lat_hist write_lat;
        /* receiving: time credit was held back, by FY_PACE_* bit (a time
         * with two reasons counts for both) */
        uint64_t paced_ns[SESSION_PACE_REASONS];
};

/* What a session's receiving budgets stand at now. */
struct session_gauges {
        uint64_t dirty;        /* bytes written and not yet on disk */
        uint64_t window;       /* the credit window the budgets allow (0: not receiving yet) */
        uint32_t pacing;       /* FY_PACE_*: what holds credit back now */
        unsigned pressure_pct; /* the highest stall share of others at the last sample */
};

struct session_ops {
        /* A file finished, in either direction. */
        void (*file_done)(void *ud, const struct file_result *res);
        /* Bytes of file xfer_id moved so far (at most every chunk). */
        void (*progress)(void *ud, uint32_t xfer_id, uint64_t bytes, uint64_t total);
        /* Receiving: where FILE_BEGIN's file goes.  NULL: take dest, name and
         * flags from the frame (the guest).  The host answers for its GETs. */
        int (*recv_target)(void *ud, const struct fy_file_begin *b, const char **ret_dest,
                           const char **ret_name, uint32_t *ret_flags);
        /* The counters so far and the budgets now, every SESSION_SAMPLE_NS
         * at most while the session's loop turns (ferryd's metrics).  Not
         * called at the end: session_totals() has the last word. */
        void (*sample)(void *ud, const struct session_totals *t, const struct session_gauges *g);
        /* Stats (FY_FEAT_STATS, PROTOCOL.md 9.12), offered when set.
         * Responder: the daemon's figures for a STATS_REQ, into *ret. */
        void (*stats)(void *ud, struct fy_stats *ret);
        /* Initiator: the answer to a session_stats() request. */
        void (*stats_done)(void *ud, const struct fy_stats *st);
};
#define SESSION_SAMPLE_NS 250000000ull

struct session_config {
        bool initiator;
        const char *agent;    /* e.g. "ferry/0.1.0" */
        uint32_t chunk_size;  /* chunk we send, clamped to the peer's max */
        uint32_t max_chunk;   /* largest chunk we accept */
        uint64_t recv_window; /* DATA bytes the peer may have in flight to us */
        unsigned depth;       /* buffers in the pool (file ops in flight) */
        bool force_psync;     /* no io_uring */
        /* A spare pool of file buffers, for sessions that follow each other
         * (ferryd on one port): a session takes it if it fits and leaves its
         * own there at the end, or frees it if one is there already.  A pool
         * is depth x the largest chunk, whose pages a new one faults in and
         * zeroes as they are first used: ~1800 faults and 8 MiB zeroed per
         * pull of 1 MiB chunks, each session, in the TCG guest (the bench/vm
         * job's runtime command).  NULL: each session its own. */
        struct fio **pool;
        /* <0: none.  Initiator: the handshake, and a peer silent this long.
         * Responder: a peer that sends nothing this long (the initiator says
         * PAD at least every second while it waits), or does not read what
         * we send, is dropped (-ETIMEDOUT); so is one that has not
         * completed the handshake this long after the session began, unless
         * connectionless (a port with no connections idles unsynced). */
        int timeout_ms;
        bool connectionless;  /* responder on virtio-serial (see above) */
        int stop_fd;          /* readable: end the session (-ECANCELED); -1: none */
        /* Responder: what the host may do with the root (ferryd --read-only,
         * --write-only); what it may not is refused transfer by transfer */
        enum session_access {
                ACCESS_READ_WRITE,
                ACCESS_READ_ONLY,  /* GETs only: nothing is made, written or removed */
                ACCESS_WRITE_ONLY, /* pushes only: no GET, no content digest told */
        } access;
        /* Initiator on a connectionless stream (virtio-serial): when the
         * first SYNC goes unanswered, send a maximal frame's worth of PAD
         * frames before the next, so a responder still inside a frame of a
         * dead session (it cannot know the host went away: the next host
         * attached before it read EOF) reaches its end and resyncs.  A
         * responder already in our session just ignores them. */
        bool resync_padding;
        /* budgets (pacer.h); zero values turn each off */
        uint64_t max_rate;      /* bytes/s, sending and (as credit) receiving */
        /* a rate shared with other sessions (budget/share.h: one host-wide
         * --max-rate over several guests); NULL: none.  Sending, each chunk
         * is taken from it; receiving, each chunk's worth of credit.  Asked
         * after max_rate's bucket, which has paid for a chunk the share
         * then refuses: use one or the other */
        struct share_member *share;
        /* sending: at most this many DATA bytes in flight, whatever the
         * receiver grants (0: its grant alone) - ferry bench's window on
         * push, where the window is otherwise the receiver's */
        uint64_t send_window;
        /* ferryd serving several hosts at once (threads of one process):
         * max_rate and dirty_limit are the daemon's, divided evenly among
         * its sessions that move files, *movers of them, re-read as it
         * changes (a dirty share stays at least four chunks).  A session
         * counts itself in from the first file its host pushes or pulls
         * (FILE_BEGIN, GET) to its end: one that only asks for STATS (ferry
         * stats --watch) takes no share.  NULL: this session alone.
         * (cpu_limit is on the process's clock: shared as it is.) */
        _Atomic unsigned *movers;
        unsigned cpu_limit;     /* receiving: percent of one CPU */
        const char *psi_dir;    /* receiving: NULL /proc/pressure, "off" none */
        unsigned psi_threshold; /* percent stalled; 0: default */
        uint64_t dirty_limit;   /* receiving: bytes written but not on disk */
        bool keep_cache;        /* receiving: keep written pages cached */
        /* resume (FY_FEAT_RESUME): ask the receiver before each file we push,
         * skip what it has complete, continue what it has in part; with
         * checksum, compare contents instead of size and mtime */
        bool resume, checksum;
        uint64_t stale_age_s;   /* receiving: remove .ferry-*.tmp older than this
                                 * from directories written to; 0: never */
        enum write_mode {
                WRITE_AUTO,     /* uncached (RWF_DONTCACHE) where the kernel has it */
                WRITE_BUFFERED, /* page cache, writeback driven by dirty_limit */
                WRITE_DIRECT,   /* O_DIRECT through io_uring, buffered tail */
        } write_mode;
        /* Chunks we send: compressed when that pays (auto), whenever they
         * shrink (zstd), never (off: FY_FEAT_ZSTD is not offered, so the
         * peer does not compress either).  compress.h says how. */
        enum compress_mode { COMPRESS_AUTO, COMPRESS_ZSTD, COMPRESS_OFF } compress;
        int compress_level;   /* zstd level; 0: COMPRESS_DEFAULT_LEVEL (1) */
        /* auto takes compressed chunks but sends ours raw: a guest, whose
         * CPU is its workload's (under TCG compressing a pull cost the guest
         * 2.7x the user time and ran 0.54-0.75x as fast as raw) */
        bool auto_sends_raw;
        /* Threads that compress chunks we send beside the session's own
         * (zstd -1 is slower than a fast socket on one core): 0 none,
         * SESSION_THREADS_AUTO the cores we may run on less one (at most 8).
         * A guest leaves it 0: its vCPUs are its workload's. */
        int compress_threads;
        struct fsroot *root;  /* received files go, and GETs are read, here */
        const struct session_ops *ops;
        void *userdata;
};

struct session;

int session_new(const struct session_config *cfg, int fd, struct session **ret);
struct session *session_free(struct session *s);

/* Initiator: SYNC until our nonce comes back, or timeout. */
int session_handshake(struct session *s);
/* What the peer said of itself (valid after the handshake). */
const struct fy_hello *session_peer(const struct session *s);
/* Whether file I/O runs through io_uring (valid after the handshake), and
 * if not, why (negative errno, 0 when it was turned off on purpose). */
bool session_uses_uring(const struct session *s, int *ret_why);

/* Host: queue a local file to send as (dest, name, flags); queue a GET of a
 * remote path.  Returns the transfer id through ret_id. */
int session_push(struct session *s, const char *local, const char *dest, const char *name,
                 uint32_t flags, uint32_t *ret_id);
int session_pull(struct session *s, const char *remote, uint32_t *ret_id);
/* Host: queue a directory tree: src's entries go to dest/... (dest is the
 * tree's top directory on the receiver, created if missing).  Each entry is
 * reported with group = the returned id, then the tree itself. */
int session_push_tree(struct session *s, const char *src, const char *dest, bool make_parent, uint32_t *ret_id);
/* Host, bench mode (FY_FEAT_BENCH, PROTOCOL.md 9.11: see that the peer
 * offered it first): size bytes of pattern (FY_BENCH_*) made in memory and
 * sent for the guest to check and discard (push), or made by the guest and
 * checked and discarded here (pull) - the path's ceiling, no disk on either
 * side; and dir made new as the session's scratch directory, which the
 * guest removes with all in it when the session ends. */
int session_bench_push(struct session *s, uint64_t size, uint32_t pattern, uint32_t *ret_id);
int session_bench_pull(struct session *s, uint64_t size, uint32_t pattern, uint32_t *ret_id);
int session_scratch(struct session *s, const char *dir, uint32_t *ret_id);

/* Initiator (ops.stats_done set): ask the responder for its figures at
 * at_ns (CLOCK_MONOTONIC; 0: now); the answer comes to ops.stats_done,
 * and the session does not end before it.  -EOPNOTSUPP once the
 * handshake shows the peer did not agree FY_FEAT_STATS. */
int session_stats(struct session *s, uint64_t at_ns);

/* Run until the queued work is done (initiator) or the peer ends the
 * session (responder).  0 on a clean end; -errno when the session failed,
 * with a description in session_error(). */
int session_run(struct session *s);
const char *session_error(const struct session *s);

/* What the session had to fall back from (said once by the caller):
 * RWF_DONTCACHE or O_DIRECT refused by the kernel or filesystem. */
bool session_dontcache_refused(const struct session *s);
bool session_direct_refused(const struct session *s);

const struct session_totals *session_totals(const struct session *s);
