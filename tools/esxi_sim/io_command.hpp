#pragma once
// Private to io_channel.cpp and io_channel_paths.cpp: one command of a host's device (VMFS's,
// the VMs', or the multipath layer's own) and the helpers both files use.

#include <algorithm>
#include <chrono>
#include <functional>

#include "tools/esxi_sim/io_channel.hpp"

namespace atsarray::sim {

struct IoChannel::Command {
    IoChannel* owner = nullptr;
    Kind kind = Kind::host;
    bool ats = false;
    Issue issue;
    size_t path = 0;
    bool in_flight = false;
    bool done = false;
    int status = 0;
    Clock::time_point enqueued{};
    Clock::time_point issued{};
    Clock::time_point completed{};
    initiator::Task task;
    std::function<void(Command&)> on_done;  // internal commands: run from pump()

    int key() const { return task ? static_cast<int>(task->sense.key) : 0; }
    int asc() const { return task ? (task->sense.ascq >> 8) & 0xff : 0; }
    int ascq() const { return task ? task->sense.ascq & 0xff : 0; }
};

namespace io_detail {

constexpr auto poll_slice = std::chrono::milliseconds(20);

inline uint64_t us_between(Clock::time_point a, Clock::time_point b) {
    return static_cast<uint64_t>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(b - a).count()));
}

// The command never got an answer: its connection was lost (or it was cancelled with it).
inline bool lost_status(int status) {
    return status == SCSI_STATUS_CANCELLED || status == SCSI_STATUS_ERROR ||
           status == SCSI_STATUS_TIMEOUT;
}

// The state a NOT READY answer names for the path's group.
inline AluaState state_of(Verdict v) {
    switch (v) {
        case Verdict::standby:
            return AluaState::standby;
        case Verdict::unavailable:
            return AluaState::unavailable;
        case Verdict::transitioning:
            return AluaState::transitioning;
        default:
            return AluaState::unknown;
    }
}

}  // namespace io_detail
}  // namespace atsarray::sim
