#pragma once
// Owning handles for libiscsi's context and task, and the little-endian counter helpers of the
// ATS workloads; shared by tools/, bench/ and the tests.

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <cstdint>
#include <memory>

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
