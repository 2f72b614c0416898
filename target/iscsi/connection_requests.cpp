// Full feature phase requests of one connection: SCSI commands handed to the SCSI layer and back
// (the task manager does their PDUs), NOP-Out/NOP-In, Text (SendTargets and key negotiation),
// Logout (RFC 7143 §11.3-§11.11, §11.14, §11.18, §11.19).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "target/iscsi/bhs.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::iscsi {

namespace {

// The connection whose execute() is on this thread's stack: a completion called from inside it
// is the store answering at once (Connection::execute).
thread_local Connection* executing_here = nullptr;

}  // namespace

namespace asio = boost::asio;

// ---------------------------------------------------------------------------------------------
// SCSI commands

void Connection::handle_scsi_command(const PduView& pdu) {
    if (Task* task = tasks_.on_scsi_command(pdu); task != nullptr) {
        execute(task);
    }
}

void Connection::handle_data_out(const PduView& pdu) {
    if (Task* task = tasks_.on_data_out(pdu); task != nullptr) {
        execute(task);
    }
}

void Connection::execute(Task* task) {
    task->state = Task::State::executing;
    scsi::Command& cmd = task->cmd;
    cmd.cdb = {task->cdb.data(), task->cdb_length};
    cmd.lun = task->lun;
    cmd.nexus = &session_.nexus;
    cmd.itt = task->itt;
    cmd.cmd_sn = task->cmd_sn;
    cmd.expected_transfer_length = task->expected_length;
    cmd.direction = task->write  ? scsi::DataDirection::to_device
                    : task->read ? scsi::DataDirection::from_device
                                 : scsi::DataDirection::none;
    cmd.data_out = {task->data_out.data(), task->received};
    cmd.data_in = &task->data_in;
    Connection* const outer = executing_here;
    executing_here = this;
    session_.target->device->execute(cmd, [self = shared_from_this(), task](scsi::Command&) {
        // Completed inside execute() on this thread (a store that answered from memory): taken
        // up once execute() returns, which may still hold SCSI locks now. From any other thread,
        // or later: posted to the connection's thread.
        if (executing_here == self.get()) {
            self->done_inline_.push_back(task);
            return;
        }
        asio::post(self->socket_.get_executor(), [self, task] { self->on_command_done(task); });
    });
    executing_here = outer;
    if (!hold_writes_) {
        finish_inline();  // not inside process_received(), which does it once it is done
    }
}

void Connection::finish_inline() {
    if (done_inline_.empty()) {
        return;
    }
    // Their answers go out in one write, after all of them.
    const bool held = hold_writes_;
    hold_writes_ = true;
    while (!done_inline_.empty()) {
        std::vector<Task*> done;
        done.swap(done_inline_);
        for (Task* task : done) {
            on_command_done(task);
        }
    }
    hold_writes_ = held;
    write_more();
}

void Connection::on_command_done(Task* task) {
    commands_done_.fetch_add(1, std::memory_order_relaxed);
    if (task->aborted || task->cmd.status != scsi::Status::good || task->cmd.drop_status ||
        task->cmd.drop_connection) {
        command_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    if (task->aborted || phase_ == Phase::closed) {
        if (!task->waiting_tmfs.empty()) {
            tmf_task_finished(task);
        }
        if (phase_ != Phase::closed) {
            tasks_.drop(task);
            admit_waiting();
            write_more();
        } else {
            tasks_.forget(task);
            end_if_idle();
        }
        return;
    }
    if (task->cmd.drop_connection) {
        close("fault injection: drop_connection");
        tasks_.forget(task);
        end_if_idle();
        return;
    }
    if (task->cmd.drop_status) {
        // Fault injection: executed, never answered. The CmdSN window still moves on.
        tasks_.drop(task);
        admit_waiting();
        write_more();
        return;
    }
    tasks_.queue_result(task);
    write_more();
}

// ---------------------------------------------------------------------------------------------
// NOP

void Connection::handle_nop_out(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const uint32_t itt = bhs.initiator_task_tag();
    const uint32_t ttt = NopOutBhs(bhs).target_transfer_tag();
    if (itt == reserved_tag) {
        // An answer to our NOP-In (RFC 7143 §11.18.3) or a ping that wants no answer.
        if (ttt != reserved_tag && ttt == keepalive_.ttt) {
            keepalive_.outstanding = false;
        }
        return;
    }
    OutPdu& out = tx_.push();
    NopInBhs header(out.hdr);
    out.hdr.set_lun_field(bhs.lun_field());
    out.hdr.set_itt(itt);
    header.set_target_transfer_tag(reserved_tag);
    window_.fill(out.hdr, true);
    out.frees_slot = !bhs.immediate();
    // Ping data is echoed, bounded by what the initiator can receive (RFC 7143 §11.18.5).
    const size_t n =
        std::min<size_t>(pdu.data.size(), params_.initiator_max_recv_data_segment_length);
    out.owned.assign(pdu.data.begin(), pdu.data.begin() + static_cast<std::ptrdiff_t>(n));
    tx_.seal(out);
}

void Connection::send_nop_in_ping() {
    // Target-initiated NOP-In (RFC 7143 §11.19): ITT 0xffffffff, a TTT the initiator echoes, and
    // StatSN not advanced.
    keepalive_.ttt = tags_.next();
    keepalive_.outstanding = true;
    OutPdu& out = tx_.push();
    NopInBhs header(out.hdr);
    out.hdr.set_itt(reserved_tag);
    header.set_target_transfer_tag(keepalive_.ttt);
    window_.fill(out.hdr, false);
    tx_.seal(out);
    write_more();
}

// ---------------------------------------------------------------------------------------------
// Text

std::vector<uint8_t> Connection::send_targets(std::string_view which) const {
    // RFC 7143 Appendix C: SendTargets=All lists every target this initiator may see;
    // SendTargets=<name> that one; an empty value in a normal session the session's target.
    std::vector<uint8_t> out;
    const auto portals = state_.portals.snapshot();
    for (const auto& node : state_.targets.nodes()) {
        // The ACL as of now (the live configuration may change it while sessions run).
        const auto access = state_.targets.access(*node);
        const TargetInfo& info = *access;
        if (which == "All") {
            if (session_.type != SessionType::discovery) {
                continue;
            }
        } else if (which.empty()) {
            if (node.get() != session_.target.get()) {
                continue;
            }
        } else if (which != info.name) {
            continue;
        }
        const auto& allowed = info.allowed_initiators;
        if (!allowed.empty() &&
            std::find(allowed.begin(), allowed.end(), session_.initiator_name) == allowed.end()) {
            continue;
        }
        append_key(out, "TargetName", info.name);
        // RFC 7143 §13.8, Appendix C: every portal with its portal group tag (with target port
        // groups, its group's id: a path of each controller).
        for (const PortalInfo& portal : *portals) {
            const std::string& address = portal.address;
            const bool wildcard =
                address.rfind("0.0.0.0:", 0) == 0 || address.rfind("[::]:", 0) == 0;
            const std::string shown =
                wildcard ? local_ip_ + address.substr(address.rfind(':')) : address;
            append_key(
                out, "TargetAddress",
                shown + "," + std::to_string(portal.portal_group_tag(info.portal_group_tag)));
        }
    }
    return out;
}

void Connection::handle_text(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const uint32_t itt = bhs.initiator_task_tag();
    const TextRequestBhs text(bhs);
    const uint32_t ttt = text.target_transfer_tag();
    const bool continue_bit = text.continue_bit();
    window_.release_slot(bhs.immediate());
    if (itt == reserved_tag) {
        // RFC 7143 §11.2.1.8: the reserved tag names no Text Request either.
        send_reject(bhs, RejectReason::invalid_pdu_field);
        return;
    }
    if (continue_bit && bhs.final_bit()) {
        // RFC 7143 §11.10.2: a Text Request with C=1 must have F=0; both set says neither "this
        // is all" nor "more follows".
        send_reject(bhs, RejectReason::protocol_error);
        return;
    }
    if (ttt != reserved_tag) {
        // The initiator asks for the next part of a long response (RFC 7143 §11.11.4).
        if (ttt != text_.ttt || text_.sent >= text_.response.size()) {
            send_reject(bhs, RejectReason::invalid_pdu_field);
            return;
        }
        send_text_chunk(itt, bhs.lun_field());
        return;
    }
    text_.response.clear();
    text_.sent = 0;
    if (auto ec = text_.request.append(pdu.data); ec) {
        spdlog::warn("iscsi {}: text request: {}", peer_, ec.message());
        text_.request.reset();
        send_reject(bhs, RejectReason::protocol_error);
        return;
    }
    if (continue_bit) {
        // More of the request follows: acknowledge with an empty response (RFC 7143 §11.10.2).
        send_text_chunk(itt, bhs.lun_field());
        return;
    }
    std::vector<TextKey> keys;
    const std::error_code parse_ec = parse_text(text_.request.data(), keys);
    text_.request.reset();
    if (parse_ec) {
        spdlog::warn("iscsi {}: text request: {}", peer_, parse_ec.message());
        send_reject(bhs, RejectReason::protocol_error);
        return;
    }
    std::vector<TextKey> negotiable;
    for (TextKey& key : keys) {
        if (key.key == "SendTargets") {
            const auto targets = send_targets(key.value);
            text_.response.insert(text_.response.end(), targets.begin(), targets.end());
        } else {
            negotiable.push_back(std::move(key));
        }
    }
    if (!negotiable.empty()) {
        std::vector<uint8_t> response;
        negotiate_ffp_keys(negotiable, params_, response);
        text_.response.insert(text_.response.end(), response.begin(), response.end());
    }
    send_text_chunk(itt, bhs.lun_field());
}

void Connection::send_text_chunk(uint32_t itt, uint64_t lun_field) {
    // Responses longer than the initiator's MaxRecvDataSegmentLength go out in parts, each but the
    // last with C=1, F=0 and a TTT the initiator echoes to ask for more (RFC 7143 §11.11.2).
    const size_t left = text_.response.size() - text_.sent;
    const size_t limit = params_.initiator_max_recv_data_segment_length;
    const size_t n = std::min(left, limit);
    const bool last = n == left;
    OutPdu& out = tx_.push();
    TextResponseBhs header(out.hdr, last);
    out.hdr.set_lun_field(lun_field);
    out.hdr.set_itt(itt);
    text_.ttt = last ? reserved_tag : tags_.next();
    header.set_target_transfer_tag(text_.ttt);
    window_.fill(out.hdr, true);
    out.owned.assign(text_.response.begin() + static_cast<std::ptrdiff_t>(text_.sent),
                     text_.response.begin() + static_cast<std::ptrdiff_t>(text_.sent + n));
    text_.sent += n;
    if (last) {
        text_.response.clear();
        text_.sent = 0;
    }
    tx_.seal(out);
}

// ---------------------------------------------------------------------------------------------
// Logout

void Connection::handle_logout(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const LogoutRequestBhs logout(bhs);
    const uint8_t reason = logout.reason_code();
    LogoutResponse response = LogoutResponse::closed;
    if (bhs.initiator_task_tag() == reserved_tag) {
        // RFC 7143 §11.2.1.8: the reserved tag names no Logout Request either.
        window_.release_slot(bhs.immediate());
        send_reject(bhs, RejectReason::invalid_pdu_field);
        return;
    }
    if (reason == static_cast<uint8_t>(LogoutReason::remove_connection_for_recovery)) {
        // Connection recovery needs ErrorRecoveryLevel 2 (RFC 7143 §11.15.1).
        response = LogoutResponse::recovery_not_supported;
    } else if (reason == static_cast<uint8_t>(LogoutReason::close_connection) &&
               logout.cid() != session_.cid) {
        response = LogoutResponse::cid_not_found;
    } else if (reason > static_cast<uint8_t>(LogoutReason::remove_connection_for_recovery)) {
        send_reject(bhs, RejectReason::protocol_error);
        return;
    }
    window_.release_slot(bhs.immediate());
    // Tasks still receiving data end now; the response waits for nothing else: at ERL 0 the tasks
    // in execution finish on their own and their answers are discarded (RFC 7143 §11.14).
    for (Task* task : tasks_.select([](const Task&) { return true; })) {
        if (task->state == Task::State::receiving) {
            tasks_.drop(task);
        } else {
            task->aborted = true;
        }
    }
    OutPdu& out = tx_.push();
    LogoutResponseBhs header(out.hdr, response);
    out.hdr.set_itt(bhs.initiator_task_tag());
    window_.fill(out.hdr, true);
    header.set_time2wait(0);
    header.set_time2retain(0);
    tx_.seal(out);
    if (response == LogoutResponse::closed) {
        spdlog::info("iscsi {}: {} logged out of {}", peer_, session_.initiator_name,
                     session_.target ? session_.target->info.name : std::string("discovery"));
        phase_ = Phase::logout;
        close_after_write_ = true;
        // The session ends with this Logout (RFC 7143 §11.14), not when its response has been
        // written: a RESERVE held by the nexus is released before any later command of another
        // session can run into it.
        end_nexus();
    }
}

}  // namespace atsarray::iscsi
