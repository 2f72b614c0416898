// SCSI Command, Data-Out, R2T, Data-In and SCSI Response (RFC 7143 §11.3-§11.8, §10.7).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::iscsi {

namespace asio = boost::asio;

namespace {
constexpr uint8_t scsi_flag_read = 0x40;
constexpr uint8_t scsi_flag_write = 0x20;
constexpr uint8_t ahs_type_extended_cdb = 1;
constexpr uint8_t ahs_type_bidi_read_length = 2;
}  // namespace

Task* Connection::acquire_task() {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    if (free_tasks_.empty()) {
        task_pool_.push_back(std::make_unique<Task>());
        return task_pool_.back().get();
    }
    Task* task = free_tasks_.back();
    free_tasks_.pop_back();
    return task;
}

void Connection::release_task(Task* task) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    task->reset();
    free_tasks_.push_back(task);
}

// A task that ends without an answer (aborted, data sequence error, connection gone): it leaves the
// task table and, if it consumed a CmdSN, opens the window again.
void Connection::drop_task(Task* task) {
    tasks_.erase(task->itt);
    if (!task->immediate) {
        ++max_cmd_sn_;
    }
    release_task(task);
}

void Connection::handle_scsi_command(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const uint32_t itt = bhs.initiator_task_tag();
    const uint8_t flags = bhs.flags();
    if (tasks_.count(itt) != 0) {
        // RFC 7143 §11.17.1: the ITT names a task still in progress.
        send_reject(bhs, RejectReason::task_in_progress);
        if (!bhs.immediate()) {
            ++max_cmd_sn_;
        }
        return;
    }
    Task* task = acquire_task();
    task->itt = itt;
    task->cmd_sn = bhs.cmd_sn();
    task->immediate = bhs.immediate();
    task->lun_field = bhs.lun_field();
    task->read = (flags & scsi_flag_read) != 0;
    task->write = (flags & scsi_flag_write) != 0;
    task->expected_length = bhs.field32(20);

    // CDB: 16 bytes in the BHS plus an Extended CDB AHS for longer ones (RFC 7143 §11.3.5).
    std::copy_n(bhs.data() + 32, 16, task->cdb.begin());
    task->cdb_length = 16;
    bool bad_ahs = false;
    for (size_t pos = 0; pos + 4 <= pdu.ahs.size();) {
        const uint16_t length = load16(&pdu.ahs[pos]);
        const uint8_t type = pdu.ahs[pos + 2];
        const size_t total = pad4(3U + length);
        if (pos + total > pdu.ahs.size() || length == 0) {
            bad_ahs = true;
            break;
        }
        if (type == ahs_type_extended_cdb) {
            const size_t extra = length - 1U;
            if (16 + extra > task->cdb.size()) {
                bad_ahs = true;
                break;
            }
            std::copy_n(&pdu.ahs[pos + 4], extra, task->cdb.begin() + 16);
            task->cdb_length = static_cast<uint16_t>(16 + extra);
        } else if (type != ahs_type_bidi_read_length) {
            bad_ahs = true;
            break;
        }
        pos += total;
    }
    if (bad_ahs) {
        spdlog::warn("iscsi {}: malformed AHS in SCSI command ITT {:#x}", peer_, itt);
        send_reject(bhs, RejectReason::invalid_pdu_field);
        release_task(task);
        if (!bhs.immediate()) {
            ++max_cmd_sn_;
        }
        return;
    }
    if (!decode_lun(task->lun_field, task->lun)) {
        task->lun = UINT64_MAX;  // answered by the SCSI layer as LOGICAL UNIT NOT SUPPORTED
    }
    tasks_.emplace(itt, task);

    // Immediate data (RFC 7143 §10.7.? ImmediateData, FirstBurstLength).
    const uint32_t immediate_length = static_cast<uint32_t>(pdu.data.size());
    const uint32_t first_burst = std::min(params_.first_burst_length, task->expected_length);
    const bool protocol_error =
        (immediate_length > 0 && (!task->write || !params_.immediate_data)) ||
        immediate_length > first_burst || (task->read && task->write);
    if (protocol_error) {
        spdlog::warn("iscsi {}: SCSI command ITT {:#x}: immediate data of {} bytes not allowed",
                     peer_, itt, immediate_length);
        send_reject(bhs, RejectReason::protocol_error);
        drop_task(task);
        return;
    }
    if (task->write && task->expected_length > state_.settings.max_data_out_length) {
        // Never allocate what an Expected Data Transfer Length from the wire asks for beyond the
        // largest write any LUN accepts: the SCSI layer sees the immediate data only and answers
        // (INVALID FIELD IN CDB or INVALID FIELD IN COMMAND INFORMATION UNIT) without waiting.
        spdlog::warn("iscsi {}: write ITT {:#x} expects {} bytes, more than the {} accepted", peer_,
                     itt, task->expected_length, state_.settings.max_data_out_length);
        task->data_out.assign(pdu.data.begin(), pdu.data.end());
        task->received = immediate_length;
        execute(task);
        return;
    }
    if (task->write) {
        task->data_out.resize(task->expected_length);
        std::copy(pdu.data.begin(), pdu.data.end(), task->data_out.begin());
        task->received = immediate_length;
        // Unsolicited Data-Out follows only with InitialR2T=No and F=0 (RFC 7143 §11.3.? F bit).
        const bool unsolicited = !params_.initial_r2t && !bhs.final_bit();
        task->unsolicited_end = unsolicited ? first_burst : immediate_length;
        task->unsolicited_next = immediate_length;
        task->solicit_next = task->unsolicited_end;
    }
    if (task->received < task->expected_length && task->write) {
        solicit_data(task);
        return;
    }
    execute(task);
}

void Connection::solicit_data(Task* task) {
    // R2Ts for what the unsolicited burst did not cover, at most MaxBurstLength each and at most
    // MaxOutstandingR2T at once (RFC 7143 §11.8).
    while (task->solicit_next < task->expected_length &&
           task->r2ts.size() < params_.max_outstanding_r2t) {
        R2tState r2t;
        r2t.ttt = next_ttt_++;
        if (next_ttt_ == reserved_tag) {
            next_ttt_ = 1;
        }
        r2t.offset = task->solicit_next;
        r2t.length = std::min(params_.max_burst_length, task->expected_length - task->solicit_next);
        r2t.next = r2t.offset;
        task->solicit_next += r2t.length;
        task->r2ts.push_back(r2t);

        OutPdu& out = queue_pdu();
        out.hdr.set_opcode(Opcode::r2t);
        out.hdr.set_flags(0x80);
        out.hdr.set_lun_field(task->lun_field);
        out.hdr.set_itt(task->itt);
        out.hdr.set32(20, r2t.ttt);
        fill_sequence(out.hdr, false);
        out.hdr.set32(36, task->r2t_sn++);
        out.hdr.set32(40, r2t.offset);
        out.hdr.set32(44, r2t.length);
        finish_pdu(out);
    }
}

void Connection::handle_data_out(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const auto it = tasks_.find(bhs.initiator_task_tag());
    if (it == tasks_.end() || it->second->state != Task::State::receiving) {
        // RFC 7143 §11.7: Data-Out for no task awaiting data.
        spdlog::warn("iscsi {}: Data-Out for unknown ITT {:#x}", peer_, bhs.initiator_task_tag());
        send_reject(bhs, RejectReason::invalid_pdu_field);
        return;
    }
    Task* task = it->second;
    const uint32_t ttt = bhs.field32(20);
    const uint32_t data_sn = bhs.field32(36);
    const uint32_t offset = bhs.field32(40);
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
            send_reject(bhs, RejectReason::invalid_pdu_field);
            return;
        }
        next = &r2t->next;
        expected_sn = &r2t->data_sn;
        sequence_end = static_cast<uint64_t>(r2t->offset) + r2t->length;
    }
    const bool in_order = data_sn == *expected_sn && offset == *next && end <= sequence_end;
    const bool early_final = bhs.final_bit() && end != sequence_end;
    if (!in_order || early_final) {
        // A sequence error at ErrorRecoveryLevel 0 (RFC 7143 §7.1.4.?): reject the PDU; the
        // initiator fails the command, and our side of it ends without executing.
        spdlog::warn(
            "iscsi {}: Data-Out ITT {:#x} out of sequence (DataSN {} want {}, offset {} "
            "want {})",
            peer_, task->itt, data_sn, *expected_sn, offset, *next);
        send_reject(bhs, RejectReason::protocol_error);
        drop_task(task);
        return;
    }
    std::copy(pdu.data.begin(), pdu.data.end(), task->data_out.begin() + offset);
    *next += length;
    ++*expected_sn;
    task->received += length;
    if (r2t != task->r2ts.end() && r2t->next == sequence_end) {
        task->r2ts.erase(r2t);
        solicit_data(task);
    }
    if (task->received == task->expected_length) {
        execute(task);
    }
}

void Connection::execute(Task* task) {
    task->state = Task::State::executing;
    scsi::Command& cmd = task->cmd;
    cmd.cdb = {task->cdb.data(), task->cdb_length};
    cmd.lun = task->lun;
    cmd.nexus = &nexus_;
    cmd.expected_transfer_length = task->expected_length;
    cmd.direction = task->write  ? scsi::DataDirection::to_device
                    : task->read ? scsi::DataDirection::from_device
                                 : scsi::DataDirection::none;
    cmd.data_out = {task->data_out.data(), task->received};
    cmd.data_in = &task->data_in;
    target_->device->execute(cmd, [self = shared_from_this(), task](scsi::Command&) {
        asio::post(self->socket_.get_executor(), [self, task] { self->on_command_done(task); });
    });
}

void Connection::on_command_done(Task* task) {
    if (task->aborted || phase_ == Phase::closed) {
        const bool tmf_waits = !task->waiting_tmfs.empty();
        if (tmf_waits) {
            tmf_task_finished(task);
        }
        if (phase_ != Phase::closed) {
            drop_task(task);
            write_more();
        } else {
            tasks_.erase(task->itt);
            release_task(task);
        }
        return;
    }
    if (task->cmd.drop_connection) {
        close("fault injection: drop_connection");
        tasks_.erase(task->itt);
        release_task(task);
        return;
    }
    if (task->cmd.drop_status) {
        // Fault injection: executed, never answered. The CmdSN window still moves on.
        drop_task(task);
        return;
    }
    send_command_result(task);
    write_more();
}

void Connection::send_command_result(Task* task) {
    tasks_.erase(task->itt);
    if (!task->immediate) {
        ++max_cmd_sn_;
    }
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
        residual_flags = 0x04;  // O: overflow
        residual = moved - task->expected_length;
    } else if (moved < task->expected_length) {
        residual_flags = 0x02;  // U: underflow
        residual = task->expected_length - moved;
    }
    const bool good = cmd.status == scsi::Status::good;
    const uint32_t data_length = task->read ? std::min<uint32_t>(moved, task->expected_length) : 0;

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
        OutPdu& out = queue_pdu();
        out.hdr.set_opcode(Opcode::data_in);
        uint8_t flags = 0;
        if (last || sequence_left == 0) {
            flags |= 0x80;
        }
        out.hdr.set_itt(task->itt);
        out.hdr.set32(20, reserved_tag);
        if (last && collapse) {
            flags |= 0x01 | residual_flags;
            out.hdr.b[3] = static_cast<uint8_t>(cmd.status);
            fill_sequence(out.hdr, true);
            out.hdr.set32(44, residual);
            out.release_task = task;
        } else {
            fill_sequence(out.hdr, false);
            out.hdr.set32(24, 0);  // StatSN is reserved without the S bit
        }
        out.hdr.set_flags(flags);
        out.hdr.set32(36, task->data_in_pdus++);
        out.hdr.set32(40, offset);
        out.data = {task->data_in.data() + offset, n};
        finish_pdu(out);
        if (sequence_left == 0) {
            sequence_left = params_.max_burst_length;
        }
        offset += n;
    }
    if (collapse) {
        return;
    }
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::scsi_response);
    out.hdr.set_flags(static_cast<uint8_t>(0x80 | residual_flags));
    out.hdr.b[2] = 0x00;  // command completed at target
    out.hdr.b[3] = static_cast<uint8_t>(cmd.status);
    out.hdr.set_itt(task->itt);
    fill_sequence(out.hdr, true);
    out.hdr.set32(36, task->read ? task->data_in_pdus : task->r2t_sn);  // ExpDataSN
    out.hdr.set32(44, residual);
    if (cmd.sense.length > 0) {
        // Sense data segment: SenseLength then the sense bytes (RFC 7143 §11.4.7.2).
        out.owned.resize(2U + cmd.sense.length);
        store16(out.owned.data(), cmd.sense.length);
        std::copy_n(cmd.sense.bytes.begin(), cmd.sense.length, out.owned.begin() + 2);
    }
    out.release_task = task;
    finish_pdu(out);
}

}  // namespace atsarray::iscsi
