// What a LUN tells the flight recorder (target/forensics/flight_recorder.hpp) of each finished
// command: every COMPARE AND WRITE, and every read or write of a block an ATS touched. Runs at
// status time on the command's thread; the copies are made only for the commands the recorder
// keeps, so a LUN no ATS ever touched pays one lock-free lookup per medium command.
// And what it tells a running capture (target/forensics/capture.hpp): every command, whole.

#include <algorithm>
#include <chrono>

#include "target/forensics/capture.hpp"
#include "target/forensics/flight_recorder.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/lun_run.hpp"

namespace atsarray::scsi {

namespace {

// A read tells the recorder which image it returned for at most this many tracked blocks.
constexpr uint64_t max_read_notes = 8;

forensics::SystemTime system_time_of(Clock::time_point t) {
    const auto ago = Clock::now() - t;
    return std::chrono::system_clock::now() -
           std::chrono::duration_cast<std::chrono::system_clock::duration>(ago);
}

forensics::CommandKind kind_of(const Command& cmd, const CommandDescriptor& d) {
    if (d.has(flag_compare_and_write)) {
        return forensics::CommandKind::ats;
    }
    if (!d.has(flag_writes_medium)) {
        return forensics::CommandKind::read;
    }
    switch (cmd.cdb.empty() ? 0 : cmd.cdb[0]) {
        case 0x0A:  // WRITE(6)
        case 0x2A:  // WRITE(10)
        case 0xAA:  // WRITE(12)
        case 0x8A:  // WRITE(16)
        case 0x2E:  // WRITE AND VERIFY(10)
        case 0xAE:  // WRITE AND VERIFY(12)
        case 0x8E:  // WRITE AND VERIFY(16)
            return forensics::CommandKind::write;
        case 0x41:  // WRITE SAME(10)
        case 0x93:  // WRITE SAME(16)
            return forensics::CommandKind::write_same;
        case 0x42:  // UNMAP
            return forensics::CommandKind::unmap;
        case 0x83:  // EXTENDED COPY
            return forensics::CommandKind::xcopy;
        default:
            return forensics::CommandKind::other_write;
    }
}

forensics::Outcome outcome_of(bool aborted, bool injected, Status s, const CommandResult& result) {
    if (aborted || result.reason == SenseReason::task_aborted) {
        return forensics::Outcome::aborted;
    }
    if (result.reason == SenseReason::miscompare) {
        return injected ? forensics::Outcome::injected_miscompare : forensics::Outcome::miscompare;
    }
    return s == Status::good || s == Status::condition_met ? forensics::Outcome::good
                                                           : forensics::Outcome::error;
}

std::vector<uint8_t> slice(std::span<const uint8_t> bytes, size_t offset, size_t length) {
    if (offset >= bytes.size()) {
        return {};
    }
    const auto from = bytes.subspan(offset, std::min(length, bytes.size() - offset));
    return {from.begin(), from.end()};
}

// A trace's outcome: the flight recorder's, with an error named by its status.
std::string_view capture_outcome(forensics::Outcome outcome, Status s) {
    if (outcome != forensics::Outcome::error) {
        return forensics::to_string(outcome);
    }
    switch (s) {
        case Status::check_condition:
            return "check_condition";
        case Status::busy:
            return "busy";
        case Status::reservation_conflict:
            return "reservation_conflict";
        case Status::task_set_full:
            return "task_set_full";
        default:
            return "error";
    }
}

}  // namespace

void Lun::note_forensics(const Run& run, const CommandResult& result) {
    const CommandDescriptor* d = run.descriptor;
    if (d == nullptr || !run.ctx ||
        !(d->has(flag_compare_and_write) || d->has(flag_writes_medium) ||
          d->has(flag_reads_medium))) {
        return;  // never parsed, or touches no block
    }
    const Command& cmd = run.cmd;
    const CommandContext& ctx = *run.ctx;
    const forensics::CommandKind kind = kind_of(cmd, *d);
    const uint32_t bs = settings_.block_size;

    // The ranges of this LUN the command touched: the CDB's, or its parameter list's (UNMAP,
    // EXTENDED COPY), and whether one holds a tracked block.
    std::vector<ats::LockRange> ranges;
    if (kind != forensics::CommandKind::ats && d->lock_ranges != nullptr) {
        for (const ats::LockRange& r : d->lock_ranges(ctx)) {
            if (r.lun_key == lock_key_) {
                ranges.push_back(r);
            }
        }
    } else {
        ranges.push_back({lock_key_, ctx.cdb.lba, std::max<uint64_t>(ctx.cdb.blocks, 1)});
    }
    if (kind != forensics::CommandKind::ats &&
        std::none_of(ranges.begin(), ranges.end(), [&](const ats::LockRange& r) {
            return recorder_->tracks(lock_key_, r.lba, r.blocks);
        })) {
        return;
    }

    forensics::CommandNote note;
    note.lun_key = lock_key_;
    note.target = settings_.target_name;
    note.lun = settings_.id;
    note.block_size = bs;
    if (cmd.nexus != nullptr) {
        note.origin.initiator_name = cmd.nexus->initiator_name;
        note.origin.initiator_port = cmd.nexus->initiator_port;
        note.origin.address = cmd.nexus->peer_address;
        note.origin.nexus_id = cmd.nexus->id;
        note.origin.relative_target_port = cmd.nexus->relative_target_port;
    }
    note.itt = cmd.itt;
    note.cmd_sn = cmd.cmd_sn;
    note.kind = kind;
    note.arrived = system_time_of(run.started);
    note.started =
        run.lock_requested != Clock::time_point{}
            ? system_time_of(run.lock_requested) + std::chrono::microseconds(run.lock_wait_us)
            : note.arrived;
    note.answered = std::chrono::system_clock::now();
    note.outcome = outcome_of(run.aborted.load(), run.faults.injected(), cmd.status, result);
    if (run.faults.decision()) {
        note.fault_rule = run.faults.decision().rule_name;
    }
    note.lock_wait_us = run.lock_wait_us;
    note.order = run.medium_order;
    note.status_seen =
        !cmd.drop_status && !cmd.drop_connection && note.outcome != forensics::Outcome::aborted;

    switch (kind) {
        case forensics::CommandKind::ats: {
            note.lba = ctx.cdb.lba;
            note.blocks = ctx.cdb.blocks;
            // The Data-Out holds the compare blocks, then the set blocks (SBC-4 §5.3).
            const size_t half = cmd.data_out.size() / 2;
            note.compare = slice(cmd.data_out, 0, bs);
            note.set = slice(cmd.data_out, half, bs);
            if (note.outcome == forensics::Outcome::miscompare) {
                note.miscompare_offset = static_cast<uint32_t>(result.information.value_or(0));
                note.on_disk = slice(run.miscompare_image, 0, bs);
            } else if (note.outcome == forensics::Outcome::good) {
                note.on_disk = note.compare;
            }
            recorder_->note(std::move(note));
            return;
        }
        case forensics::CommandKind::read: {
            // One note per tracked block read, with the image it returned (a stale read shows).
            if (cmd.data_in == nullptr || note.outcome != forensics::Outcome::good) {
                return;
            }
            uint64_t notes = 0;
            for (uint64_t i = 0; i < ctx.cdb.blocks && notes < max_read_notes; ++i) {
                const uint64_t lba = ctx.cdb.lba + i;
                if (!recorder_->tracks(lock_key_, lba, 1)) {
                    continue;
                }
                forensics::CommandNote one = note;
                one.lba = lba;
                one.blocks = 1;
                one.on_disk = slice(*cmd.data_in, i * bs, bs);
                recorder_->note(std::move(one));
                ++notes;
            }
            return;
        }
        default: {
            // Writes: the blocks' new images (WRITE SAME: its one block; UNMAP, EXTENDED COPY:
            // none), one note per range of this LUN.
            if (kind != forensics::CommandKind::unmap && kind != forensics::CommandKind::xcopy) {
                note.data.assign(cmd.data_out.begin(), cmd.data_out.end());
            }
            for (const ats::LockRange& r : ranges) {
                if (!recorder_->tracks(lock_key_, r.lba, r.blocks)) {
                    continue;
                }
                forensics::CommandNote one = note;
                one.lba = r.lba;
                one.blocks = static_cast<uint32_t>(std::min<uint64_t>(r.blocks, UINT32_MAX));
                recorder_->note(std::move(one));
            }
            return;
        }
    }
}

void Lun::note_capture(const Run& run, const CommandResult& result) {
    const Command& cmd = run.cmd;
    forensics::CaptureNote note;
    note.target = settings_.target_name;
    note.lun = settings_.id;
    note.block_size = settings_.block_size;
    note.capacity_blocks = settings_.block_count;
    if (cmd.nexus != nullptr) {
        note.nexus_id = cmd.nexus->id;
        note.initiator_name = cmd.nexus->initiator_name;
        note.isid = cmd.nexus->isid;
        note.address = cmd.nexus->peer_address;
        note.portal = cmd.nexus->local_address;
        note.relative_target_port = cmd.nexus->relative_target_port;
    }
    note.itt = cmd.itt;
    note.cmd_sn = cmd.cmd_sn;
    note.cdb = cmd.cdb;
    note.direction = cmd.direction == DataDirection::to_device     ? trace::Direction::write
                     : cmd.direction == DataDirection::from_device ? trace::Direction::read
                                                                   : trace::Direction::none;
    note.expected_transfer_length = cmd.expected_transfer_length;
    note.arrived = system_time_of(run.started);
    note.answered = std::chrono::system_clock::now();
    note.medium_order = run.medium_order;
    note.status = static_cast<uint8_t>(cmd.status);
    note.sense = cmd.sense.view();
    note.data_out = cmd.data_out;
    if (cmd.data_in != nullptr && cmd.status == Status::good) {
        note.data_in = *cmd.data_in;
    }
    if (result.reason == SenseReason::miscompare && !run.miscompare_image.empty()) {
        note.medium_image =
            std::span<const uint8_t>(run.miscompare_image)
                .first(std::min<size_t>(run.miscompare_image.size(), settings_.block_size));
    }
    const forensics::Outcome outcome =
        outcome_of(run.aborted.load(), run.faults.injected(), cmd.status, result);
    note.outcome = capture_outcome(outcome, cmd.status);
    if (run.faults.decision()) {
        note.fault_rule = run.faults.decision().rule_name;
    }
    note.status_seen =
        !cmd.drop_status && !cmd.drop_connection && outcome != forensics::Outcome::aborted;
    captures_->record(note);
}

}  // namespace atsarray::scsi
