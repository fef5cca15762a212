/* SPDX-License-Identifier: MIT */
/* Wire error codes and this host's errno values; names for messages. */
#include <errno.h>

#include "codec.h"

static const struct {
        uint32_t code;
        int err;
} code_map[] = {
        { FY_EPERM, EPERM },           { FY_ENOENT, ENOENT },   { FY_EIO, EIO },
        { FY_EACCES, EACCES },         { FY_EEXIST, EEXIST },   { FY_ENOTDIR, ENOTDIR },
        { FY_EISDIR, EISDIR },         { FY_EINVAL, EINVAL },   { FY_EFBIG, EFBIG },
        { FY_ENOSPC, ENOSPC },         { FY_EROFS, EROFS },     { FY_ENAMETOOLONG, ENAMETOOLONG },
        { FY_ELOOP, ELOOP },           { FY_EXDEV, EXDEV },     { FY_EPROTO, EPROTO },
        { FY_EBADMSG, EBADMSG },       { FY_EMSGSIZE, EMSGSIZE }, { FY_ENOTSUP, EOPNOTSUPP },
        { FY_ECANCELED, ECANCELED },   { FY_EDQUOT, EDQUOT },   { FY_ENOMEM, ENOMEM },
        { FY_EBUSY, EBUSY },           { FY_ECONNRESET, ECONNRESET }, { FY_ETIMEDOUT, ETIMEDOUT },
        { FY_ENOTEMPTY, ENOTEMPTY },
};

uint32_t fy_code_from_errno(int err) {
        if (err == INT_MIN)
                return FY_EOTHER; /* -INT_MIN overflows */
        if (err < 0)
                err = -err;
        if (err == 0)
                return FY_OK;
        for (size_t i = 0; i < sizeof code_map / sizeof code_map[0]; i++)
                if (code_map[i].err == err)
                        return code_map[i].code;
        return FY_EOTHER;
}

int fy_code_to_errno(uint32_t code) {
        if (code == FY_OK)
                return 0;
        for (size_t i = 0; i < sizeof code_map / sizeof code_map[0]; i++)
                if (code_map[i].code == code)
                        return code_map[i].err;
        return EIO;
}

const char *fy_type_name(uint8_t type) {
        switch (type) {
        case FY_SYNC: return "SYNC";
        case FY_SYNC_ACK: return "SYNC_ACK";
        case FY_ERROR: return "ERROR";
        case FY_BYE: return "BYE";
        case FY_CREDIT: return "CREDIT";
        case FY_PAD: return "PAD";
        case FY_FILE_BEGIN: return "FILE_BEGIN";
        case FY_DATA: return "DATA";
        case FY_FILE_END: return "FILE_END";
        case FY_FILE_STATUS: return "FILE_STATUS";
        case FY_RESUME_QUERY: return "RESUME_QUERY";
        case FY_RESUME_STATE: return "RESUME_STATE";
        case FY_FILE_ABORT: return "FILE_ABORT";
        case FY_GET: return "GET";
        case FY_MKDIR: return "MKDIR";
        case FY_SYMLINK: return "SYMLINK";
        case FY_HOLE: return "HOLE";
        case FY_CHUNK_NACK: return "CHUNK_NACK";
        case FY_STATS_REQ: return "STATS_REQ";
        case FY_STATS: return "STATS";
        default: return "unknown";
        }
}

const char *fy_strerror_decode(int err) {
        switch (err) {
        case -EILSEQ: return "bad magic";
        case -EBADMSG: return "checksum or length mismatch";
        case -EPROTONOSUPPORT: return "unsupported protocol version";
        case -ENOMSG: return "unknown message type";
        case -EPROTO: return "reserved field or value out of range";
        case -EMSGSIZE: return "length over the cap";
        case -EINVAL: return "invalid string";
        case -EBADE: return "payload check mismatch (damaged in transit)";
        default: return "malformed frame";
        }
}
