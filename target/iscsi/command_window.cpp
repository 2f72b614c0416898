#include "target/iscsi/command_window.hpp"

#include <algorithm>

#include "target/iscsi/serial.hpp"

namespace atsarray::iscsi {

void CommandWindow::open(uint32_t first_cmd_sn, uint32_t queue_depth, uint32_t first_stat_sn) {
    exp_cmd_sn_ = first_cmd_sn;
    max_cmd_sn_ = first_cmd_sn + queue_depth - 1;
    stat_sn_ = first_stat_sn;
    aborted_cmd_sns_.clear();
}

CommandWindow::Verdict CommandWindow::accept(const Bhs& bhs) {
    if (bhs.immediate()) {
        return Verdict::accepted;
    }
    const uint32_t sn = bhs.cmd_sn();
    if (!in_window(sn, exp_cmd_sn_, max_cmd_sn_)) {
        return Verdict::outside_window;
    }
    const auto it = std::find(aborted_cmd_sns_.begin(), aborted_cmd_sns_.end(), sn);
    const bool was_aborted = it != aborted_cmd_sns_.end();
    if (was_aborted) {
        aborted_cmd_sns_.erase(it);
    }
    if (sn == exp_cmd_sn_) {
        ++exp_cmd_sn_;
        // Skip CmdSNs already consumed by an ABORT TASK for a command that never came.
        for (auto skip = std::find(aborted_cmd_sns_.begin(), aborted_cmd_sns_.end(), exp_cmd_sn_);
             skip != aborted_cmd_sns_.end();
             skip = std::find(aborted_cmd_sns_.begin(), aborted_cmd_sns_.end(), exp_cmd_sn_)) {
            aborted_cmd_sns_.erase(skip);
            ++exp_cmd_sn_;
            ++max_cmd_sn_;
        }
    }
    if (was_aborted) {
        ++max_cmd_sn_;
        return Verdict::aborted_earlier;
    }
    return Verdict::accepted;
}

bool CommandWindow::received(uint32_t cmd_sn) const {
    return serial_lt(cmd_sn, exp_cmd_sn_);
}

bool CommandWindow::contains(uint32_t cmd_sn) const {
    return in_window(cmd_sn, exp_cmd_sn_, max_cmd_sn_);
}

void CommandWindow::fill(TargetBhs& hdr, bool advance_stat_sn) {
    hdr.set_sequence(advance_stat_sn ? stat_sn_++ : stat_sn_, exp_cmd_sn_, max_cmd_sn_);
}

}  // namespace atsarray::iscsi
