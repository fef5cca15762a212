/* SPDX-License-Identifier: MIT */
/* Internals shared by session.c (loop, stream I/O, handshake), tx.c
 * (sending files) and rx.c (receiving files).  Not for the agents. */
#pragma once

#include "codec.h"
#include "fs/fio.h"
#include "budget/pacer.h"
#include "session/session.h"
#include <sys/stat.h>

#include "fs/walk.h"

#define INBUF_SIZE (256u << 10) /* stream read buffer; >= FY_MAX_CTRL_FRAME */
#define OUTQ_LEN 64             /* frames queued for the stream */
#define OUT_CTRL_RESERVE 8      /* queue slots DATA leaves for control frames */
#define RTT_RING 4096           /* chunks awaiting credit, for latency */
#define GET_QUEUE_MAX 4096      /* GETs a responder queues before refusing */
#define TREE_MAKE_PARENT 1u     /* tx_item.flags of a tree: MKDIR dest's parent first */
#define COMMIT_SMALL (1u << 20) /* files up to this size are committed in batches */
#define COMMIT_MAX 32           /* files per batch (each needs an output slot) */
#define CREDIT_KEEPALIVE_NS 1000000000ull /* pacing: a CREDIT at least this often */
#define JNL_CHECKPOINT (64ull << 20) /* resume: fdatasync a partial file this often */
#define RESUME_AHEAD 32         /* files queried (RESUME_QUERY) ahead of sending */

/* One frame waiting to be written: a head (control frames are encoded into
 * it whole) and, for DATA, a payload in a pool buffer. */
struct outseg {
        uint8_t head[FY_MAX_CTRL_FRAME];
        uint32_t head_len;
        uint32_t payload_len;
        int buf;      /* pool buffer of the payload, -1 for none */
        const uint8_t *ext; /* or a payload owned elsewhere (buf < 0) */
        uint32_t off; /* bytes of head+payload already written */
};

/* A file this side sends: a host push, or a GET the responder answers. */
struct tx_item {
        struct tx_item *next;
        uint32_t xfer_id;
        enum entry_kind kind;
        bool is_get; /* answers a GET: path is under our root */
        uint32_t mode;      /* MKDIR, attributes */
        struct timespec mtime;
        char *target;       /* SYMLINK, owned */
        char path[FY_MAX_PATH + 1];
        char dest[FY_MAX_PATH + 1];
        char name[FY_MAX_NAME + 1];
        uint32_t flags;
        uint32_t chunk; /* GET: the largest chunk the host wants, 0: any */
        uint32_t query; /* ENTRY_FILE: 0, or ask first: QUERY_* */
        int unreadable; /* -errno: an entry the walk could not read (pulled tree) */
        bool answered;  /* the RESUME_STATE arrived */
        struct fy_resume_state state;
        struct stat st;  /* what the query said of the file */
        struct file_result res;
};
#define QUERY_ASK 1u      /* send RESUME_QUERY before the file */
#define QUERY_CHECKSUM 2u /* ... with FY_RQ_CHECKSUM */

/* A chunk read (or being read) for the active sent file, in order. */
struct tx_slot {
        int buf;      /* -1: a hole, nothing to read */
        bool ready;
        uint32_t len;
        uint64_t off;
        uint64_t hole; /* buf < 0: the hole's length */
};

struct tx_state {
        struct tx_item *queue, *queue_tail; /* not started */
        unsigned queued;
        struct tx_item *ahead, *ahead_tail; /* taken from the queue or a tree, maybe queried */
        unsigned nahead;
        struct tx_item *barrier;            /* in ahead, unsent: take nothing after it yet */
        struct tx_item *active;             /* being sent */
        /* the tree being walked (one at a time) and its entries to send */
        struct tx_item *tree;
        struct walk *walk;
        struct tx_item *entries, *entries_tail;
        unsigned nentries, tree_pending;
        bool sparse;        /* the active file is sent with holes */
        uint64_t data_end;  /* sparse: end of the data extent being read */
        struct tx_item *waiting, *waiting_tail; /* FILE_END sent, no status yet */
        int fd;
        uint64_t size;
        uint32_t chunk;
        uint64_t read_off;  /* next offset to read */
        uint64_t sent_off;  /* next offset to send */
        bool abandoning;    /* draining the reads of a file given up on */
        /* Resume: [0, verify_end) is read and hashed, not sent, then its
         * digest must equal verify_digest (the receiver's prefix, or with
         * --checksum its whole file) */
        uint64_t verify_end;
        uint32_t verify_verdict; /* FY_RS_RESUME or FY_RS_DIGEST; 0: none */
        uint8_t verify_digest[16];
        uint64_t chunks;         /* data chunks of the active file so far */
        uint64_t alive_ns;       /* the last frame sent while checking (keepalive) */
        struct fy_msg begin;     /* the FILE_BEGIN, sent once the check is done */
        struct fy_file_digest digest;
        struct tx_slot *slots; /* ring of depth entries, by chunk sequence */
        uint64_t seq_head, seq_tail;
        /* credit */
        uint64_t sent_total, limit;
        uint32_t peer_reasons;  /* from the latest CREDIT */
        uint64_t blocked_since; /* data ready but not sent, since (ns) */
        int blocked_kind;       /* enum wait_kind of that wait */
        struct bucket rate;     /* our own --max-rate */
        /* latency: chunks sent and not yet credited */
        struct { uint64_t end; uint64_t t; uint32_t xfer_id; } rtt[RTT_RING];
        unsigned rtt_head, rtt_len;
};

struct rx_state {
        bool active;
        bool dead;     /* a status with an error went out: drop its frames */
        uint32_t xfer_id;
        int fd, dirfd;
        char tmpname[FY_MAX_NAME + 1];
        char name[FY_MAX_NAME + 1];
        /* a journaled (resumable) file: its journal; tmpname is the .part */
        int jfd;
        char jname[FY_MAX_NAME + 1];
        uint64_t ckpt_off; /* the journal's last DURABLE mark */
        bool keep_partial; /* a failure now is the stream's: keep the partial */
        struct fy_file_begin begin;
        uint64_t next_off;
        uint64_t chunks;
        unsigned writes; /* in flight for this file */
        struct fy_file_digest digest;
        struct file_result res;
        /* credit */
        uint64_t consumed, credit_sent;
        uint64_t received; /* DATA bytes taken off the stream, cumulative */
        uint64_t granted;  /* the highest limit we announced */
        uint32_t reasons_sent; /* pacing reasons in the last CREDIT */
        uint64_t credit_ns;    /* when the last CREDIT went out */
        bool dirty_waited;     /* waited for writeback since the last CREDIT */
        /* writeback control (dirty budget), offsets in this file:
         * [synced_off, flush_off) writeback started, [flush_off, next_off)
         * written only; everything before synced_off is on disk */
        uint64_t synced_off, flush_off;
        uint64_t dirty_prev, dirty_cur; /* data bytes in those two ranges */
        uint64_t dirty_peak;
        bool direct;      /* the temporary file is open with O_DIRECT */
        struct commit *commits; /* verified small files awaiting a batch commit */
        unsigned ncommit;
        uint64_t commit_bytes;  /* their data, dirty until the batch commits */
};

enum in_state {
        IN_FRAMES,  /* parsing frames out of inbuf */
        IN_PAYLOAD, /* reading a DATA payload straight into a pool buffer */
        IN_DISCARD, /* dropping a DATA payload nobody wants */
};

/* A GET the initiator has yet to send. */
struct get_req {
        struct get_req *next;
        uint32_t xfer_id;
        char path[FY_MAX_PATH + 1];
};
#define GETS_IN_FLIGHT 32 /* GETs sent and not yet answered */

struct session {
        struct session_config cfg;
        int fd;
        bool synced;
        bool framing_error; /* the input lost its frame boundaries */
        uint8_t *filler;    /* resync padding (serial), allocated on use */
        bool eof;
        bool bye_sent, bye_received;
        uint64_t nonce;
        struct fy_hello mine, peer;
        struct fio *fio;
        int uring_err;
        bool uring; /* the pool uses io_uring (kept after the pool is gone) */
        char err[512];

        uint8_t *in; /* INBUF_SIZE, owned */
        size_t in_start, in_end;
        enum in_state in_state;
        struct fy_data in_data; /* the DATA head being read */
        int in_buf;             /* its pool buffer */
        uint32_t in_got;        /* payload bytes so far */
        uint32_t discard_left;

        struct outseg *out; /* OUTQ_LEN, owned, a FIFO */
        unsigned out_head, out_len;

        struct tx_state tx;
        struct rx_state rx;
        /* rx: what each pool buffer's write in flight holds, for its journal
         * record (per session: rx_state is rebuilt for every file) */
        struct { uint64_t off, digest; uint32_t len; } rx_wr[SESSION_MAX_DEPTH];
        struct pacer pacer;   /* receiving side budgets */
        bool pacer_on;
        uint64_t wake_ns;     /* a budget wants a look at this time (0: none) */
        bool direct_refused;
        bool xattr_refused;   /* the destination keeps no user xattrs (resume.c) */
        uint64_t tmp_seq;     /* temporary names: a random start, then counted */
        uint32_t swept_ids[64]; /* files a RESUME_QUERY swept the directory of */
        unsigned nswept_ids;
        struct { dev_t dev; ino_t ino; } swept[256]; /* directories stale_sweep saw */
        unsigned nswept;
        struct get_req *gets, *gets_tail;
        unsigned gets_in_flight;
        /* initiator: the GET whose tree is arriving (0: none), its counts,
         * and the sizes the guest announced in its last queries (a file
         * it then skips has no FILE_BEGIN to say it) */
        uint32_t pull_tree_id;
        struct file_result pull_tree;
        struct fsroot pull_root; /* its top directory, once made: entries resolve beneath */
        bool pull_root_open;
        struct { uint32_t id; uint64_t size; } queried[64];
        unsigned nqueried;
        uint32_t next_id;
        unsigned pending; /* initiator: queued items without a result */
        struct session_totals totals;
};

/* session.c */
/* Long local work (hashing a file for resume) sends nothing for a while:
 * a PAD frame at least once a second keeps the peer from taking the
 * silence for a dead session.  *last_ns: when the last one went out. */
void keepalive(struct session *s, uint64_t *last_ns);
int session_fail(struct session *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool out_room(const struct session *s, unsigned n);
int out_ctrl(struct session *s, const struct fy_msg *m);
int out_data(struct session *s, const uint8_t *head, int buf, uint32_t len);
void report(struct session *s, const struct file_result *res);
int session_fio_wait(struct session *s);
/* A budget wants the loop to look again at t (ns, CLOCK_MONOTONIC). */
void session_wake_at(struct session *s, uint64_t t);

/* session.c, for input.c */
int session_on_sync(struct session *s, const struct fy_hello *h);
int session_start(struct session *s, const struct fy_hello *peer);
void tell_peer(struct session *s, int err);

/* outq.c */
int out_flush(struct session *s);
int out_bytes(struct session *s, const uint8_t *p, uint32_t len);

/* input.c */
int in_pump(struct session *s, bool *ret_blocked);

/* get.c */
int gets_pump(struct session *s);
void gets_free(struct session *s);

/* tx.c, tree.c */
struct tx_item *tx_item_new(uint32_t id);
void tx_item_free(struct tx_item *it);
void tx_item_append(struct tx_item **head, struct tx_item **tail, struct tx_item *it);
struct tx_item *tree_take_next(struct session *s, int *ret_err);
void tree_entry_done(struct session *s, const struct file_result *res);
void tree_reset(struct session *s);
void tree_account(struct file_result *tree, const struct file_result *entry);
int tx_pump(struct session *s);
int tx_on_credit(struct session *s, const struct fy_credit *c);
int tx_on_status(struct session *s, const struct fy_file_status *st);
int tx_on_get(struct session *s, const struct fy_get *g);
/* tx.c, for tx-resume.c */
void tx_item_done(struct session *s, struct tx_item *it);
int tx_open_source(struct session *s, const struct tx_item *it, int *ret_fd, struct stat *ret_st);
void tx_describe(struct session *s, const struct tx_item *it, const struct stat *st, struct fy_file_begin *b);
int tx_drop_reads(struct session *s);
/* tx-resume.c */
int tx_on_state(struct session *s, const struct fy_resume_state *st);
int tx_fill_ahead(struct session *s);
int tx_verify_done(struct session *s);
int tx_skip_item(struct session *s, struct tx_item *it, const uint8_t digest[16]);
bool tx_same_version(const struct stat *a, const struct stat *b);
int tx_on_write_done(struct session *s, int buf); /* a payload left the outq */
int tx_on_read(struct session *s, const struct fio_cqe *c);
bool tx_idle(const struct session *s);
void tx_reset(struct session *s);

/* rx.c */
int rx_on_begin(struct session *s, const struct fy_file_begin *b);
int rx_on_data_head(struct session *s, const struct fy_data *d, bool *ret_want);
int rx_on_data(struct session *s, int buf);
int rx_on_end(struct session *s, const struct fy_file_end *e);
int rx_on_abort(struct session *s, const struct fy_file_abort *a);
/* Where a file of FILE_BEGIN (or its RESUME_QUERY) goes: from the frame
 * (guest), or the host's answer for its GETs and the entries of a pulled
 * tree.  ret_group: the tree it belongs to (0: none). */
int rx_target(struct session *s, const struct fy_file_begin *b, const char **ret_dest, const char **ret_name,
              uint32_t *ret_flags, uint32_t *ret_group, struct fsroot **ret_root);
int rx_on_hole(struct session *s, const struct fy_hole *h);
uint64_t rx_rss_peak(void);

/* resume.c */
int rx_on_query(struct session *s, const struct fy_resume_query *q);
void record_set(struct session *s, int fd, const struct fy_file_begin *b, const uint8_t digest[16]);

/* stale.c */
void stale_sweep(struct session *s, int dirfd);
/* A temporary file name's random part: unique in a session, and across
 * sessions as unlikely to repeat as a random 32-bit value. */
uint32_t tmp_suffix(struct session *s);

/* commit.c */
bool commit_wants(const struct session *s, uint64_t size);
bool commit_pending(const struct session *s);
int commit_add(struct session *s);
int commit_flush(struct session *s);
void commit_abort(struct session *s);
void commit_free(struct session *s);
int rx_on_mkdir(struct session *s, const struct fy_mkdir *m);     /* rx-entry.c */
int rx_on_symlink(struct session *s, const struct fy_symlink *l); /* rx-entry.c */
void pull_tree_close(struct session *s);                           /* rx-entry.c */
int rx_on_write(struct session *s, const struct fio_cqe *c);
void rx_discarded(struct session *s, uint32_t len);
int rx_flush_credit(struct session *s);
void rx_reset(struct session *s);
