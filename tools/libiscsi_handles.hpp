#pragma once
// Owning handles for libiscsi's context and task, and the little-endian counter helpers of the
// ATS workloads; shared by tools/, bench/ and the tests.

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <csignal>
#include <cstdint>
#include <memory>
#include <string>

namespace atsarray::initiator {

struct ContextDeleter {
    void operator()(iscsi_context* c) const {
        if (c != nullptr) {
            iscsi_destroy_context(c);
        }
    }
};
using Context = std::unique_ptr<iscsi_context, ContextDeleter>;

struct TaskDeleter {
    void operator()(scsi_task* t) const {
        if (t != nullptr) {
            scsi_free_scsi_task(t);
        }
    }
};
using Task = std::unique_ptr<scsi_task, TaskDeleter>;

// A new libiscsi context for initiator `name`. libiscsi writes PDUs with plain writev() on some
// paths, which raises SIGPIPE when the target has gone (killed, or it dropped the connection):
// from the first context on the process ignores SIGPIPE, so such a write fails with EPIPE and the
// command with an error the caller reports, instead of the process dying.
inline Context create_context(const std::string& name) {
    static const bool sigpipe_ignored = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)sigpipe_ignored;
    return Context(iscsi_create_context(name.c_str()));
}

// A normal session to LUN `lun` of `target` at `portal` as initiator `name`, no automatic
// reconnect, each command given `timeout_s` (0: forever); nullptr and `error` when the login
// fails.
inline Context login(const std::string& portal, const std::string& target, const std::string& name,
                     int lun, int timeout_s, std::string& error) {
    Context ctx = create_context(name);
    iscsi_set_targetname(ctx.get(), target.c_str());
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    iscsi_set_timeout(ctx.get(), timeout_s);
    if (iscsi_full_connect_sync(ctx.get(), portal.c_str(), lun) != 0) {
        error = iscsi_get_error(ctx.get());
        return nullptr;
    }
    return ctx;
}

// INFORMATION of the sense libiscsi keeps after the 2-byte length in datain (fixed 70h/71h or
// descriptor 72h/73h); -1 when not valid. SBC-4 §5.3: the offset of the first differing byte.
inline int64_t sense_information(const scsi_task* t) {
    if (t->datain.data == nullptr || t->datain.size < 2 + 8) {
        return -1;
    }
    const uint8_t* s = t->datain.data + 2;
    const int length = t->datain.size - 2;
    const uint8_t code = s[0] & 0x7f;
    if ((code == 0x70 || code == 0x71) && length >= 7 && (s[0] & 0x80) != 0) {
        return (int64_t{s[3]} << 24) | (s[4] << 16) | (s[5] << 8) | s[6];
    }
    if (code == 0x72 || code == 0x73) {
        for (int at = 8; at + 2 <= length;) {
            const int len = s[at + 1];
            if (s[at] == 0x00 && len >= 0x0a && at + 12 <= length && (s[at + 2] & 0x80) != 0) {
                int64_t v = 0;
                for (int i = 0; i < 8; ++i) {
                    v = v << 8 | s[at + 4 + i];
                }
                return v;
            }
            at += 2 + len;
        }
    }
    return -1;
}

// The 8-byte little-endian counters the ATS workloads keep in a block (as VMFS keeps its fields).
inline uint64_t load_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = v << 8 | p[i];
    }
    return v;
}
inline void store_le64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        p[i] = static_cast<uint8_t>(v >> (8 * i));
    }
}

}  // namespace atsarray::initiator
