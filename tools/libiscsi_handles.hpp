#pragma once
// Owning handles for libiscsi's context and task, shared by tools/ and the tests.

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

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

}  // namespace atsarray::initiator
