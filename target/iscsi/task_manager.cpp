// SCSI Command, Data-Out, R2T, Data-In and SCSI Response (RFC 7143 §11.3-§11.8, §10.7).
#include "target/iscsi/task_manager.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "target/iscsi/bhs.hpp"
#include "target/iscsi/server_state.hpp"

namespace atsarray::iscsi {

namespace {
// RFC 7143 §11.3.5 AHS types.
constexpr uint8_t ahs_type_extended_cdb = 1;
constexpr uint8_t ahs_type_bidi_read_length = 2;
}  // namespace

OutPdu& queue_reject(SendQueue& tx, CommandWindow& window, const Bhs& rejected,
                     RejectReason reason) {
    OutPdu& out = tx.push();
    RejectBhs(out.hdr, reason);
    window.fill(out.hdr, true);
    out.owned.assign(rejected.data(), rejected.data() + bhs_length);
    tx.seal(out);
    return out;
}

TaskManager::TaskManager(SendQueue& tx, CommandWindow& window, TransferTags& tags,
                         const SessionParams& params, const TaskLimits& limits,
                         BufferBudget& budget, const std::string& peer)
    : tx_(tx),
      window_(window),
      tags_(tags),
      params_(params),
      limits_(limits),
      budget_(budget),
      peer_(peer) {}

// Tasks whose last PDU was never written (the connection closed first) still hold bytes of the
// daemon's budget: give them back.
TaskManager::~TaskManager() {
    budget_.sub(held_bytes_);
}

void TaskManager::hold(Task& task, uint64_t bytes) {
    task.held += bytes;
    held_bytes_ += bytes;
    budget_.add(bytes);
}

void TaskManager::unhold(Task& task, uint64_t bytes) {
    task.held -= bytes;
    held_bytes_ -= bytes;
    budget_.sub(bytes);
}

uint64_t TaskManager::admission_bytes(const Task& task) {
    if (task.read) {
        return task.expected_length;
    }
    return task.expected_length - std::min(task.received, task.expected_length);
}

bool TaskManager::can_admit(const Task& task) const {
    const uint64_t bytes = admission_bytes(task);
    // Room in the daemon's budget; a command larger than all of it runs when nothing else does.
    // Two connections admitting at the same moment may pass it by one command each.
    const bool daemon_room = budget_.used() + bytes <= budget_.limit() || budget_.used() == 0;
    if (admitted_ == 0) {
        return daemon_room || bytes <= limits_.lone_command_bytes;
    }
    return held_bytes_ + bytes <= limits_.buffer_bytes && daemon_room;
}

bool TaskManager::blocked_by_daemon_budget() const {
    if (waiting_.empty()) {
        return false;
    }
    const Task& next = *waiting_.front();
    const bool connection_room =
        admitted_ == 0 || held_bytes_ + admission_bytes(next) <= limits_.buffer_bytes;
    return connection_room && !can_admit(next);
}

Task* TaskManager::admit(Task* task) {
    task->admitted = true;
    ++admitted_;
    if (task->read) {
        hold(*task, task->expected_length);  // the Data-In to come
        return task;
    }
    if (task->write && task->received < task->expected_length) {
        solicit_data(task);
        return nullptr;
    }
    return task;
}

std::vector<Task*> TaskManager::admit_waiting() {
    std::vector<Task*> ready;
    while (!waiting_.empty() && can_admit(*waiting_.front())) {
        Task* task = waiting_.front();
        waiting_.erase(waiting_.begin());
        if (Task* now = admit(task); now != nullptr) {
            ready.push_back(now);
        }
    }
    return ready;
}

Task* TaskManager::acquire() {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    if (free_.empty()) {
        pool_.push_back(std::make_unique<Task>());
        return pool_.back().get();
    }
    Task* task = free_.back();
    free_.pop_back();
    return task;
}

void TaskManager::release(Task* task) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    unhold(*task, task->held);
    if (task->admitted) {
        --admitted_;
    }
    if (task->immediate) {
        --immediate_;
    }
    if (!task->admitted && task->state == Task::State::receiving) {
        std::erase(waiting_, task);
    }
    task->reset();
    free_.push_back(task);
}

void TaskManager::drop(Task* task) {
    tasks_.erase(task->itt);
    window_.release_slot(task->immediate);
    release(task);
}

void TaskManager::forget(Task* task) {
    tasks_.erase(task->itt);
    release(task);
}

Task* TaskManager::find(uint32_t itt) const {
    const auto it = tasks_.find(itt);
    return it == tasks_.end() ? nullptr : it->second;
}

bool TaskManager::read_cdb(const PduView& pdu, Task& task) {
    // 16 bytes in the BHS plus an Extended CDB AHS for longer ones (RFC 7143 §11.3.5).
    const auto cdb = ScsiCommandBhs(pdu.bhs).cdb();
    std::copy(cdb.begin(), cdb.end(), task.cdb.begin());
    task.cdb_length = ScsiCommandBhs::cdb_in_bhs;
    for (size_t pos = 0; pos + 4 <= pdu.ahs.size();) {
        // AHSLength counts the bytes after the type byte, without padding (§11.2.1.5).
        const uint16_t length = load16(&pdu.ahs[pos]);
        const uint8_t type = pdu.ahs[pos + 2];
        const size_t total = pad4(3U + length);
        if (pos + total > pdu.ahs.size() || length == 0) {
            return false;
        }
        if (type == ahs_type_extended_cdb) {
            const size_t extra = length - 1U;
            if (ScsiCommandBhs::cdb_in_bhs + extra > task.cdb.size()) {
                return false;
            }
            std::copy_n(&pdu.ahs[pos + 4], extra, task.cdb.begin() + ScsiCommandBhs::cdb_in_bhs);
            task.cdb_length = static_cast<uint16_t>(ScsiCommandBhs::cdb_in_bhs + extra);
        } else if (type != ahs_type_bidi_read_length) {
            return false;
        }
        pos += total;
    }
    return true;
}

Task* TaskManager::on_scsi_command(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const ScsiCommandBhs command(bhs);
    const uint32_t itt = bhs.initiator_task_tag();
    if (itt == reserved_tag) {
        // RFC 7143 §11.2.1.8: 0xffffffff is never assigned to a task; its answers could not be
        // told from a target-initiated NOP-In's.
        queue_reject(tx_, window_, bhs, RejectReason::invalid_pdu_field).frees_slot =
            !bhs.immediate();
        return nullptr;
    }
    if (tasks_.count(itt) != 0) {
        // RFC 7143 §11.17.1: the ITT names a task still in progress.
        queue_reject(tx_, window_, bhs, RejectReason::task_in_progress).frees_slot =
            !bhs.immediate();
        return nullptr;
    }
    if (bhs.immediate() && immediate_ >= limits_.max_immediate_commands) {
        // Immediate commands bypass the CmdSN window; the target may refuse them past what it
        // can hold (RFC 7143 §3.2.2.1, Reject reason 0x06).
        spdlog::warn("iscsi {}: immediate SCSI command ITT {:#x} refused: {} outstanding", peer_,
                     itt, immediate_);
        reject(bhs, RejectReason::immediate_command_reject);
        return nullptr;
    }
    Task* task = acquire();
    task->itt = itt;
    task->cmd_sn = bhs.cmd_sn();
    task->immediate = bhs.immediate();
    if (task->immediate) {
        ++immediate_;
    }
    task->lun_field = bhs.lun_field();
    task->read = command.read();
    task->write = command.write();
    task->expected_length = command.expected_data_transfer_length();
    if (!read_cdb(pdu, *task)) {
        spdlog::warn("iscsi {}: malformed AHS in SCSI command ITT {:#x}", peer_, itt);
        queue_reject(tx_, window_, bhs, RejectReason::invalid_pdu_field).frees_slot =
            !bhs.immediate();
        release(task);
        return nullptr;
    }
    if (!decode_lun(task->lun_field, task->lun)) {
        task->lun = UINT64_MAX;  // answered by the SCSI layer as LOGICAL UNIT NOT SUPPORTED
    }
    tasks_.emplace(itt, task);

    // Immediate data (RFC 7143 §13.11 ImmediateData, §13.14 FirstBurstLength).
    const auto immediate_length = static_cast<uint32_t>(pdu.data.size());
    const uint32_t first_burst = std::min(params_.first_burst_length, task->expected_length);
    const bool protocol_error =
        (immediate_length > 0 && (!task->write || !params_.immediate_data)) ||
        immediate_length > first_burst || (task->read && task->write);
    if (protocol_error) {
        spdlog::warn("iscsi {}: SCSI command ITT {:#x}: immediate data of {} bytes not allowed",
                     peer_, itt, immediate_length);
        reject(bhs, RejectReason::protocol_error);
        drop(task);
        return nullptr;
    }
    if (task->write && task->expected_length > limits_.max_data_out) {
        // Never allocate what an Expected Data Transfer Length from the wire asks for beyond the
        // largest write any LUN accepts: the SCSI layer sees the immediate data only and answers
        // (INVALID FIELD IN CDB or INVALID FIELD IN COMMAND INFORMATION UNIT) without waiting.
        spdlog::warn("iscsi {}: write ITT {:#x} expects {} bytes, more than the {} accepted", peer_,
                     itt, task->expected_length, limits_.max_data_out);
        task->data_out.assign(pdu.data.begin(), pdu.data.end());
        task->received = immediate_length;
        hold(*task, task->data_out.size());
        return task;
    }
    if (task->write) {
        // The buffer covers the immediate and unsolicited data now (at most FirstBurstLength,
        // RFC 7143 §13.14) and grows with each R2T.
        const bool unsolicited = !params_.initial_r2t && !command.final_bit();
        task->unsolicited_end = unsolicited ? first_burst : immediate_length;
        task->data_out.resize(task->unsolicited_end);
        hold(*task, task->unsolicited_end);
        std::copy(pdu.data.begin(), pdu.data.end(), task->data_out.begin());
        task->received = immediate_length;
        // Unsolicited Data-Out follows only with InitialR2T=No and F=0 (RFC 7143 §11.3.1, §13.10).
        task->unsolicited_next = immediate_length;
        task->solicit_next = task->unsolicited_end;
        if (task->received == task->expected_length) {
            return task;  // all its data came with it: nothing more to hold
        }
    }
    if (!waiting_.empty() || !can_admit(*task)) {
        waiting_.push_back(task);  // in order, behind those already waiting
        return nullptr;
    }
    return admit(task);
}

void TaskManager::solicit_data(Task* task) {
    // R2Ts for what the unsolicited burst did not cover, at most MaxBurstLength each and at most
    // MaxOutstandingR2T at once (RFC 7143 §11.8).
    while (task->solicit_next < task->expected_length &&
           task->r2ts.size() < params_.max_outstanding_r2t) {
        R2tState r2t;
        r2t.ttt = tags_.next();
        r2t.offset = task->solicit_next;
        r2t.length = std::min(params_.max_burst_length, task->expected_length - task->solicit_next);
        r2t.next = r2t.offset;
        task->solicit_next += r2t.length;
        task->r2ts.push_back(r2t);
        task->data_out.resize(task->solicit_next);
        hold(*task, r2t.length);

        OutPdu& out = tx_.push();
        R2tBhs header(out.hdr);
        out.hdr.set_lun_field(task->lun_field);
        out.hdr.set_itt(task->itt);
        header.set_target_transfer_tag(r2t.ttt);
        window_.fill(out.hdr, false);
        header.set_r2t_sn(task->r2t_sn++);
        header.set_buffer_offset(r2t.offset);
        header.set_desired_data_transfer_length(r2t.length);
        tx_.seal(out);
    }
}

void TaskManager::on_data_digest_error(const Bhs& bhs) {
    Task* task = find(bhs.initiator_task_tag());
    if (bhs.opcode() == Opcode::data_out && task != nullptr &&
        task->state == Task::State::receiving) {
        drop(task);
    }
}

Task* TaskManager::on_data_out(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const DataOutBhs data_out(bhs);
    Task* task = find(bhs.initiator_task_tag());
    if (task == nullptr || task->state != Task::State::receiving) {
        // RFC 7143 §11.7: Data-Out for no task awaiting data.
        spdlog::warn("iscsi {}: Data-Out for unknown ITT {:#x}", peer_, bhs.initiator_task_tag());
        reject(bhs, RejectReason::invalid_pdu_field);
        return nullptr;
    }
    const uint32_t ttt = data_out.target_transfer_tag();
    const uint32_t data_sn = data_out.data_sn();
    const uint32_t offset = data_out.buffer_offset();
    const auto length = static_cast<uint32_t>(pdu.data.size());
    const uint64_t end = static_cast<uint64_t>(offset) + length;

    // Find the sequence this PDU belongs to and check it arrives in order (DataPDUInOrder=Yes,
    // DataSequenceInOrder=Yes are the only values we accept).
    uint32_t* next = nullptr;
    uint32_t* expected_sn = nullptr;
    uint64_t sequence_end = 0;
    auto r2t = task->r2ts.end();
    if (ttt == reserved_tag) {
        next = &task->unsolicited_next;
        expected_sn = &task->unsolicited_data_sn;
        sequence_end = task->unsolicited_end;
    } else {
        r2t = std::find_if(task->r2ts.begin(), task->r2ts.end(),
                           [ttt](const R2tState& r) { return r.ttt == ttt; });
        if (r2t == task->r2ts.end()) {
            spdlog::warn("iscsi {}: Data-Out with unknown TTT {:#x}", peer_, ttt);
            reject(bhs, RejectReason::invalid_pdu_field);
            return nullptr;
        }
        next = &r2t->next;
        expected_sn = &r2t->data_sn;
        sequence_end = static_cast<uint64_t>(r2t->offset) + r2t->length;
    }
    const bool in_order = data_sn == *expected_sn && offset == *next && end <= sequence_end;
    const bool early_final = bhs.final_bit() && end != sequence_end;
    if (!in_order || early_final) {
        // A sequence error at ErrorRecoveryLevel 0 (RFC 7143 §7.9): reject the PDU; the
        // initiator fails the command, and our side of it ends without executing.
        spdlog::warn(
            "iscsi {}: Data-Out ITT {:#x} out of sequence (DataSN {} want {}, offset {} "
            "want {})",
            peer_, task->itt, data_sn, *expected_sn, offset, *next);
        reject(bhs, RejectReason::protocol_error);
        drop(task);
        return nullptr;
    }
    std::copy(pdu.data.begin(), pdu.data.end(), task->data_out.begin() + offset);
    *next += length;
    ++*expected_sn;
    task->received += length;
    if (r2t != task->r2ts.end() && r2t->next == sequence_end) {
        task->r2ts.erase(r2t);
        solicit_data(task);
    }
    if (task->received != task->expected_length) {
        return nullptr;
    }
    if (!task->admitted) {
        std::erase(waiting_, task);  // its unsolicited data was all it needed
    }
    return task;
}

void TaskManager::queue_result(Task* task) {
    tasks_.erase(task->itt);
    const scsi::Command& cmd = task->cmd;
    // Residuals (RFC 7143 §11.4.5): compare what the command moves with the Expected Data
    // Transfer Length.
    uint32_t moved = 0;
    if (task->read) {
        moved = static_cast<uint32_t>(std::min<size_t>(task->data_in.size(), UINT32_MAX));
    } else if (task->write) {
        moved = cmd.data_out_wanted;
    }
    uint8_t residual_flags = 0;
    uint32_t residual = 0;
    if (moved > task->expected_length) {
        residual_flags = flag::residual_overflow;
        residual = moved - task->expected_length;
    } else if (moved < task->expected_length) {
        residual_flags = flag::residual_underflow;
        residual = task->expected_length - moved;
    }
    const bool good = cmd.status == scsi::Status::good;
    const uint32_t data_length = task->read ? std::min<uint32_t>(moved, task->expected_length) : 0;
    const auto status = static_cast<uint8_t>(cmd.status);
    // From here the task holds what it sends: its Data-In, never more than the initiator asked
    // for (a READ whose CDB asks beyond the Expected Data Transfer Length is an overflow,
    // §11.4.5.2, and the surplus is not sent), and no Data-Out.
    Task::shrink(task->data_out);
    if (task->data_in.size() > data_length) {
        if (task->data_in.capacity() > Task::kept_buffer_capacity) {
            task->data_in = std::vector<uint8_t>(
                task->data_in.begin(),
                task->data_in.begin() + static_cast<std::ptrdiff_t>(data_length));
        } else {
            task->data_in.resize(data_length);
        }
    }
    if (task->held > data_length) {
        unhold(*task, task->held - data_length);
    } else {
        hold(*task, data_length - task->held);
    }

    // Data-In, at most the initiator's MaxRecvDataSegmentLength per PDU, F at the end of each
    // MaxBurstLength sequence, status collapsed into the last PDU when there is no sense data
    // (RFC 7143 §11.7.4).
    const uint32_t segment = params_.initiator_max_recv_data_segment_length;
    const bool collapse = good && data_length > 0;
    uint32_t sequence_left = params_.max_burst_length;
    for (uint32_t offset = 0; offset < data_length;) {
        const uint32_t n = std::min({segment, data_length - offset, sequence_left});
        const bool last = offset + n == data_length;
        sequence_left -= n;
        OutPdu& out = tx_.push();
        DataInBhs header(out.hdr);
        uint8_t flags = 0;
        if (last || sequence_left == 0) {
            flags |= flag::final_bit;
        }
        out.hdr.set_itt(task->itt);
        if (last && collapse) {
            flags |= flag::data_in_status | residual_flags;
            header.set_status(status);
            window_.fill(out.hdr, true);
            header.set_residual_count(residual);
            out.release_task = task;
            out.frees_slot = !task->immediate;
        } else {
            window_.fill(out.hdr, false);
            header.clear_stat_sn();
        }
        header.set_flags(flags);
        header.set_data_sn(task->data_in_pdus++);
        header.set_buffer_offset(offset);
        out.data = {task->data_in.data() + offset, n};
        tx_.seal(out);
        if (sequence_left == 0) {
            sequence_left = params_.max_burst_length;
        }
        offset += n;
    }
    if (collapse) {
        return;
    }
    OutPdu& out = tx_.push();
    ScsiResponseBhs header(out.hdr);
    header.set_residual_flags(residual_flags);
    header.set_status(status);
    out.hdr.set_itt(task->itt);
    window_.fill(out.hdr, true);
    header.set_exp_data_sn(task->read ? task->data_in_pdus : task->r2t_sn);
    header.set_residual_count(residual);
    if (cmd.sense.length > 0) {
        // Sense data segment: SenseLength then the sense bytes (RFC 7143 §11.4.7.2).
        out.owned.resize(2U + cmd.sense.length);
        store16(out.owned.data(), cmd.sense.length);
        std::copy_n(cmd.sense.bytes.begin(), cmd.sense.length, out.owned.begin() + 2);
    }
    out.release_task = task;
    out.frees_slot = !task->immediate;
    tx_.seal(out);
}

}  // namespace atsarray::iscsi
