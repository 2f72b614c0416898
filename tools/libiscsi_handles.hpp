#pragma once
// Owning handles for libiscsi's context and task, and the little-endian counter helpers of the
// ATS workloads; shared by tools/, bench/ and the tests.

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

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

// A normal session to LUN `lun` of `target` at `portal` as initiator `name`, no automatic
// reconnect, each command given `timeout_s` (0: forever); nullptr and `error` when the login
// fails.
inline Context login(const std::string& portal, const std::string& target, const std::string& name,
                     int lun, int timeout_s, std::string& error) {
    Context ctx(iscsi_create_context(name.c_str()));
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
