#include "target/iscsi/connection.hpp"

#include "target/ats/event_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "target/iscsi/digest.hpp"
#include "target/iscsi/errors.hpp"
#include "target/iscsi/serial.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::iscsi {

namespace asio = boost::asio;

namespace {
constexpr size_t max_gather_pdus = 64;
}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, ServerState& state)
    : socket_(std::move(socket)),
      state_(state),
      nop_timer_(socket_.get_executor()),
      login_timer_(socket_.get_executor()) {
    boost::system::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    peer_ =
        ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port());
    const auto local = socket_.local_endpoint(ec);
    local_address_ =
        ec ? std::string() : local.address().to_string() + ":" + std::to_string(local.port());
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    frame_limits_.max_data_segment_length = login_max_data_segment_length;
}

Connection::~Connection() = default;

void Connection::start() {
    rx_.resize(64 * 1024);
    arm_login_timer();
    read_more();
}

// ---------------------------------------------------------------------------------------------
// Receiving

void Connection::read_more() {
    if (phase_ == Phase::closed) {
        return;
    }
    // Make room: move unparsed bytes to the front, grow to hold the largest acceptable PDU.
    if (rx_begin_ > 0) {
        std::memmove(rx_.data(), rx_.data() + rx_begin_, rx_end_ - rx_begin_);
        rx_end_ -= rx_begin_;
        rx_begin_ = 0;
    }
    const size_t largest = bhs_length + 1024 + 8 + pad4(frame_limits_.max_data_segment_length);
    if (rx_.size() < largest + 4096) {
        rx_.resize(largest + 4096);
    }
    socket_.async_read_some(asio::buffer(rx_.data() + rx_end_, rx_.size() - rx_end_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const boost::system::error_code& ec, size_t n) {
    if (phase_ == Phase::closed) {
        return;
    }
    if (ec) {
        close(ec == asio::error::eof ? "peer closed the connection" : ec.message());
        return;
    }
    rx_end_ += n;
    received_since_nop_ = true;
    while (phase_ != Phase::closed) {
        PduView pdu;
        std::error_code frame_ec;
        const size_t used =
            read_frame({rx_.data() + rx_begin_, rx_end_ - rx_begin_}, frame_limits_, pdu, frame_ec);
        if (frame_ec) {
            // The stream cannot be framed any more (RFC 7143 §7.8: header digest failure or a
            // length beyond what we declared): answer what we can and end the connection.
            if (frame_ec == Errc::pdu_data_too_long && phase_ == Phase::full_feature) {
                send_reject(Bhs(rx_.data() + rx_begin_), RejectReason::protocol_error);
                close_after_write_ = true;
                write_more();
            }
            close(frame_ec.message());
            return;
        }
        if (used == 0) {
            break;
        }
        rx_begin_ += used;
        if (!dispatch(pdu)) {
            return;
        }
    }
    read_more();
}

bool Connection::dispatch(const PduView& pdu) {
    if (phase_ == Phase::login) {
        handle_login(pdu);
    } else if (phase_ == Phase::full_feature || phase_ == Phase::logout) {
        handle_full_feature(pdu);
    }
    return phase_ != Phase::closed;
}

// RFC 7143 §4.2.2.1: a non-immediate command outside [ExpCmdSN, MaxCmdSN] is silently ignored;
// one at ExpCmdSN advances it. Returns false when the PDU must be dropped.
bool Connection::accept_cmd_sn(const Bhs& bhs) {
    if (bhs.immediate()) {
        return true;
    }
    const uint32_t sn = bhs.cmd_sn();
    if (!in_window(sn, exp_cmd_sn_, max_cmd_sn_)) {
        spdlog::debug("iscsi {}: CmdSN {} outside window [{}, {}], ignored", peer_, sn, exp_cmd_sn_,
                      max_cmd_sn_);
        return false;
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
        return false;  // the initiator already aborted it: it never executes
    }
    return true;
}

void Connection::handle_full_feature(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const Opcode op = bhs.opcode();
    if (!pdu.data_digest_ok) {
        // RFC 7143 §7.8: a data digest error on a command or Data-Out is answered with a Reject;
        // the initiator then fails the task. Our side of the task is dropped.
        spdlog::warn("iscsi {}: data digest error on opcode {:#x}", peer_, static_cast<int>(op));
        send_reject(bhs, RejectReason::data_digest_error);
        const auto it = tasks_.find(bhs.initiator_task_tag());
        if (op == Opcode::data_out && it != tasks_.end() &&
            it->second->state == Task::State::receiving) {
            drop_task(it->second);
        }
        write_more();
        return;
    }
    if (phase_ == Phase::logout && op != Opcode::nop_out && op != Opcode::data_out) {
        send_reject(bhs, RejectReason::waiting_for_logout);
        write_more();
        return;
    }
    switch (op) {
        case Opcode::scsi_command:
            if (session_type_ == SessionType::discovery) {
                send_reject(bhs, RejectReason::command_not_supported);
                break;
            }
            if (accept_cmd_sn(bhs)) {
                handle_scsi_command(pdu);
            }
            break;
        case Opcode::data_out:
            handle_data_out(pdu);
            break;
        case Opcode::nop_out:
            if (bhs.initiator_task_tag() == reserved_tag || accept_cmd_sn(bhs)) {
                handle_nop_out(pdu);
            }
            break;
        case Opcode::task_management_request:
            if (session_type_ == SessionType::discovery) {
                send_reject(bhs, RejectReason::command_not_supported);
                break;
            }
            if (accept_cmd_sn(bhs)) {
                handle_task_management(pdu);
            }
            break;
        case Opcode::text_request:
            if (accept_cmd_sn(bhs)) {
                handle_text(pdu);
            }
            break;
        case Opcode::logout_request:
            if (accept_cmd_sn(bhs)) {
                handle_logout(pdu);
            }
            break;
        case Opcode::snack_request:
            // ErrorRecoveryLevel 0 has no SNACK (RFC 7143 §11.16).
            send_reject(bhs, RejectReason::snack_reject);
            break;
        case Opcode::login_request:
            // RFC 7143 §6.? a Login Request in full feature phase is a protocol error.
            send_reject(bhs, RejectReason::protocol_error);
            break;
        default:
            spdlog::warn("iscsi {}: unknown opcode {:#x} rejected", peer_, static_cast<int>(op));
            send_reject(bhs, RejectReason::protocol_error);
            break;
    }
    write_more();
}

// ---------------------------------------------------------------------------------------------
// NOP, Text, Logout, Reject

void Connection::handle_nop_out(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const uint32_t itt = bhs.initiator_task_tag();
    const uint32_t ttt = bhs.field32(20);
    if (itt == reserved_tag) {
        // An answer to our NOP-In (RFC 7143 §11.18.3) or a ping that wants no answer.
        if (ttt != reserved_tag && ttt == nop_ttt_) {
            nop_outstanding_ = false;
        }
        return;
    }
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::nop_in);
    out.hdr.set_flags(0x80);
    out.hdr.set_lun_field(bhs.lun_field());
    out.hdr.set_itt(itt);
    out.hdr.set32(20, reserved_tag);
    if (!bhs.immediate()) {
        ++max_cmd_sn_;
    }
    fill_sequence(out.hdr, true);
    // Ping data is echoed, bounded by what the initiator can receive (RFC 7143 §11.18.5).
    const size_t n =
        std::min<size_t>(pdu.data.size(), params_.initiator_max_recv_data_segment_length);
    out.owned.assign(pdu.data.begin(), pdu.data.begin() + static_cast<std::ptrdiff_t>(n));
    finish_pdu(out);
}

std::vector<uint8_t> Connection::send_targets(std::string_view which) const {
    // RFC 7143 Appendix C: SendTargets=All lists every target this initiator may see;
    // SendTargets=<name> that one; an empty value in a normal session the session's target.
    std::vector<uint8_t> out;
    for (const auto& node : state_.targets.nodes()) {
        const TargetInfo& info = node->info;
        if (which == "All") {
            if (session_type_ != SessionType::discovery) {
                continue;
            }
        } else if (which.empty()) {
            if (node.get() != target_) {
                continue;
            }
        } else if (which != info.name) {
            continue;
        }
        const auto& allowed = info.allowed_initiators;
        if (!allowed.empty() &&
            std::find(allowed.begin(), allowed.end(), initiator_name_) == allowed.end()) {
            continue;
        }
        append_key(out, "TargetName", info.name);
        for (const std::string& address : state_.portal_addresses) {
            const bool wildcard =
                address.rfind("0.0.0.0:", 0) == 0 || address.rfind("[::]:", 0) == 0;
            const std::string shown = wildcard ? local_address_ : address;
            append_key(out, "TargetAddress", shown + "," + std::to_string(info.portal_group_tag));
        }
    }
    return out;
}

void Connection::handle_text(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const uint32_t itt = bhs.initiator_task_tag();
    const uint32_t ttt = bhs.field32(20);
    const bool continue_bit = (bhs.flags() & 0x40) != 0;
    if (!bhs.immediate()) {
        ++max_cmd_sn_;
    }
    if (ttt != reserved_tag) {
        // The initiator asks for the next part of a long response (RFC 7143 §11.11.4).
        if (ttt != text_ttt_ || text_response_sent_ >= text_response_.size()) {
            send_reject(bhs, RejectReason::invalid_pdu_field);
            return;
        }
        send_text_chunk(itt, bhs.lun_field());
        return;
    }
    text_response_.clear();
    text_response_sent_ = 0;
    if (auto ec = text_request_.append(pdu.data); ec) {
        spdlog::warn("iscsi {}: text request: {}", peer_, ec.message());
        text_request_.reset();
        send_reject(bhs, RejectReason::protocol_error);
        return;
    }
    if (continue_bit) {
        // More of the request follows: acknowledge with an empty response (RFC 7143 §11.10.2).
        send_text_chunk(itt, bhs.lun_field());
        return;
    }
    std::vector<TextKey> keys;
    const std::error_code parse_ec = parse_text(text_request_.data(), keys);
    text_request_.reset();
    if (parse_ec) {
        spdlog::warn("iscsi {}: text request: {}", peer_, parse_ec.message());
        send_reject(bhs, RejectReason::protocol_error);
        return;
    }
    std::vector<TextKey> negotiable;
    for (TextKey& key : keys) {
        if (key.key == "SendTargets") {
            const auto targets = send_targets(key.value);
            text_response_.insert(text_response_.end(), targets.begin(), targets.end());
        } else {
            negotiable.push_back(std::move(key));
        }
    }
    if (!negotiable.empty()) {
        std::vector<uint8_t> response;
        negotiate_ffp_keys(negotiable, params_, response);
        text_response_.insert(text_response_.end(), response.begin(), response.end());
    }
    send_text_chunk(itt, bhs.lun_field());
}

void Connection::send_text_chunk(uint32_t itt, uint64_t lun_field) {
    // Responses longer than the initiator's MaxRecvDataSegmentLength go out in parts, each but the
    // last with C=1, F=0 and a TTT the initiator echoes to ask for more (RFC 7143 §11.11.2).
    const size_t left = text_response_.size() - text_response_sent_;
    const size_t limit = params_.initiator_max_recv_data_segment_length;
    const size_t n = std::min(left, limit);
    const bool last = n == left;
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::text_response);
    out.hdr.set_flags(last ? 0x80 : 0x40);
    out.hdr.set_lun_field(lun_field);
    out.hdr.set_itt(itt);
    if (last) {
        text_ttt_ = reserved_tag;
    } else {
        text_ttt_ = next_ttt_++;
        if (next_ttt_ == reserved_tag) {
            next_ttt_ = 1;
        }
    }
    out.hdr.set32(20, text_ttt_);
    fill_sequence(out.hdr, true);
    out.owned.assign(text_response_.begin() + static_cast<std::ptrdiff_t>(text_response_sent_),
                     text_response_.begin() + static_cast<std::ptrdiff_t>(text_response_sent_ + n));
    text_response_sent_ += n;
    if (last) {
        text_response_.clear();
        text_response_sent_ = 0;
    }
    finish_pdu(out);
}

void Connection::handle_logout(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const uint8_t reason = bhs.flags() & 0x7f;
    const uint16_t cid = bhs.field16(20);
    uint8_t response = 0;  // connection or session closed successfully
    if (reason == 2) {
        response = 2;  // connection recovery is not supported (ErrorRecoveryLevel 0)
    } else if (reason == 1 && cid != cid_) {
        response = 1;  // CID not found
    } else if (reason > 2) {
        send_reject(bhs, RejectReason::protocol_error);
        return;
    }
    if (!bhs.immediate()) {
        ++max_cmd_sn_;
    }
    // Tasks still receiving data end now; the response waits for nothing else: at ERL 0 the tasks
    // in execution finish on their own and their answers are discarded (RFC 7143 §11.14).
    std::vector<Task*> receiving;
    for (auto& [itt, task] : tasks_) {
        if (task->state == Task::State::receiving) {
            receiving.push_back(task);
        } else {
            task->aborted = true;
        }
    }
    for (Task* task : receiving) {
        drop_task(task);
    }
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::logout_response);
    out.hdr.set_flags(0x80);
    out.hdr.b[2] = response;
    out.hdr.set_itt(bhs.initiator_task_tag());
    fill_sequence(out.hdr, true);
    out.hdr.set16(40, 0);  // Time2Wait
    out.hdr.set16(42, 0);  // Time2Retain
    finish_pdu(out);
    if (response == 0) {
        spdlog::info("iscsi {}: {} logged out of {}", peer_, initiator_name_,
                     target_ ? target_->info.name : std::string("discovery"));
        phase_ = Phase::logout;
        close_after_write_ = true;
        // The session ends with this Logout (RFC 7143 §11.14), not when its response has been
        // written: a RESERVE held by the nexus is released before any later command of another
        // session can run into it.
        end_nexus();
    }
}

void Connection::send_reject(const Bhs& rejected, RejectReason reason) {
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::reject);
    out.hdr.set_flags(0x80);
    out.hdr.b[2] = static_cast<uint8_t>(reason);
    out.hdr.set_itt(reserved_tag);
    fill_sequence(out.hdr, true);
    out.owned.assign(rejected.data(), rejected.data() + bhs_length);
    finish_pdu(out);
}

// ---------------------------------------------------------------------------------------------
// Keepalive and timeouts

void Connection::arm_login_timer() {
    login_timer_.expires_after(std::chrono::seconds(state_.settings.login_timeout_s));
    login_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->phase_ == Phase::login) {
            self->close("login did not complete in time");
        }
    });
}

void Connection::arm_nop_timer() {
    if (state_.settings.nop_in_interval_s == 0 || phase_ == Phase::closed) {
        return;
    }
    const uint32_t wait =
        nop_outstanding_ ? state_.settings.nop_in_timeout_s : state_.settings.nop_in_interval_s;
    nop_timer_.expires_after(std::chrono::seconds(wait));
    nop_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->phase_ == Phase::closed) {
            return;
        }
        if (self->nop_outstanding_) {
            self->close("no answer to NOP-In keepalive");
            return;
        }
        if (!self->received_since_nop_) {
            self->send_nop_in_ping();
        }
        self->received_since_nop_ = false;
        self->arm_nop_timer();
    });
}

void Connection::send_nop_in_ping() {
    // Target-initiated NOP-In (RFC 7143 §11.19): ITT 0xffffffff, a TTT the initiator echoes, and
    // StatSN not advanced.
    nop_ttt_ = next_ttt_++;
    if (next_ttt_ == reserved_tag) {
        next_ttt_ = 1;
    }
    nop_outstanding_ = true;
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::nop_in);
    out.hdr.set_flags(0x80);
    out.hdr.set_itt(reserved_tag);
    out.hdr.set32(20, nop_ttt_);
    fill_sequence(out.hdr, false);
    finish_pdu(out);
    write_more();
}

// ---------------------------------------------------------------------------------------------
// Cross-thread entry points

void Connection::post_close(std::string reason) {
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), reason = std::move(reason)] { self->close(reason); });
}

void Connection::post_request_logout(uint16_t seconds) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), seconds] {
        if (self->phase_ != Phase::full_feature) {
            self->close("shutting down");
            return;
        }
        // Async Message, AsyncEvent 1: the target requests a logout within Parameter3 seconds
        // (RFC 7143 §11.9.1).
        OutPdu& out = self->queue_pdu();
        out.hdr.set_opcode(Opcode::async_message);
        out.hdr.set_flags(0x80);
        out.hdr.set_itt(reserved_tag);
        out.hdr.set32(20, reserved_tag);
        self->fill_sequence(out.hdr, true);
        out.hdr.b[36] = 1;
        out.hdr.set16(42, seconds);
        self->finish_pdu(out);
        self->write_more();
    });
}

void Connection::post_abort_lun_tasks(const TargetNode* target, uint64_t lun) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), target, lun] {
        if (self->target_ == target) {
            self->abort_lun_tasks(lun);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Sending

OutPdu& Connection::queue_pdu() {
    tx_.emplace_back();
    return tx_.back();
}

void Connection::fill_sequence(TargetBhs& hdr, bool advance_stat_sn) {
    hdr.set_sequence(advance_stat_sn ? next_stat_sn() : stat_sn_, exp_cmd_sn_, max_cmd_sn_);
}

void Connection::finish_pdu(OutPdu& pdu) {
    if (!pdu.owned.empty()) {
        pdu.data = pdu.owned;
    }
    const auto length = static_cast<uint32_t>(pdu.data.size());
    pdu.hdr.set_data_segment_length(length);
    pdu.has_header_digest = frame_limits_.header_digest;
    if (pdu.has_header_digest) {
        store_digest(pdu.header_digest.data(), crc32c(pdu.hdr.b));
    }
    const uint32_t padding = pad4(length) - length;
    pdu.trailer_length = static_cast<uint8_t>(padding);
    if (frame_limits_.data_digest && length > 0) {
        Crc32c crc;
        crc.update(pdu.data);
        crc.update(std::span<const uint8_t>(pdu.trailer.data(), padding));  // zero padding
        store_digest(pdu.trailer.data() + padding, crc.value());
        pdu.trailer_length = static_cast<uint8_t>(padding + 4);
    }
}

void Connection::write_more() {
    if (writing_ > 0 || tx_.empty() || phase_ == Phase::closed) {
        if (tx_.empty() && writing_ == 0 && close_after_write_ && phase_ != Phase::closed) {
            close("logged out");
        }
        return;
    }
    gather_.clear();
    size_t count = 0;
    for (auto it = tx_.begin(); it != tx_.end() && count < max_gather_pdus; ++it, ++count) {
        gather_.emplace_back(it->hdr.b.data(), it->hdr.b.size());
        if (it->has_header_digest) {
            gather_.emplace_back(it->header_digest.data(), 4);
        }
        if (!it->data.empty()) {
            gather_.emplace_back(it->data.data(), it->data.size());
        }
        if (it->trailer_length > 0) {
            gather_.emplace_back(it->trailer.data(), it->trailer_length);
        }
    }
    writing_ = count;
    asio::async_write(socket_, gather_,
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                          const size_t done = self->writing_;
                          self->writing_ = 0;
                          for (size_t i = 0; i < done && !self->tx_.empty(); ++i) {
                              if (Task* task = self->tx_.front().release_task; task != nullptr) {
                                  self->release_task(task);
                              }
                              self->tx_.pop_front();
                          }
                          if (ec) {
                              self->close(ec.message());
                              return;
                          }
                          self->write_more();
                      });
}

void Connection::close(const std::string& reason) {
    if (phase_ == Phase::closed) {
        return;
    }
    const bool was_logged_in = phase_ == Phase::full_feature || phase_ == Phase::logout;
    phase_ = Phase::closed;
    if (was_logged_in) {
        spdlog::info("iscsi {}: connection of {} closed: {}", peer_, initiator_name_, reason);
        if (registered_) {
            event("logout", fmt::format("{} from {}: {}", nexus_.initiator_port, peer_, reason));
        }
    } else {
        spdlog::info("iscsi {}: connection closed during login: {}", peer_, reason);
    }
    boost::system::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    nop_timer_.cancel();
    login_timer_.cancel();
    // Tasks still receiving data end here; executing ones are aborted in the SCSI layer (SAM-5
    // I_T nexus loss: one still waiting for its LBA locks or a worker never executes), finish
    // there and are released by on_command_done.
    std::vector<Task*> receiving;
    for (auto& [itt, task] : tasks_) {
        task->aborted = true;
        if (task->state == Task::State::receiving) {
            receiving.push_back(task);
        } else if (task->cmd.abort) {
            task->cmd.abort();
        }
    }
    for (Task* task : receiving) {
        tasks_.erase(task->itt);
        release_task(task);
    }
    end_nexus();
}

SessionInfo Connection::session_info() const {
    SessionInfo info;
    info.tsih = tsih_;
    info.target = target_ != nullptr ? target_->info.name : std::string();
    info.initiator_name = initiator_name_;
    info.isid = isid_;
    info.initiator_port = nexus_.initiator_port;
    info.address = peer_;
    info.login_time = login_time_;
    info.params = params_;
    info.commands_in_flight = in_flight_.load(std::memory_order_relaxed);
    return info;
}

void Connection::event(const char* kind, std::string message, std::optional<uint64_t> lun) const {
    if (state_.events) {
        state_.events->add(kind, std::move(message),
                           target_ != nullptr ? target_->info.name : std::string(), lun,
                           nexus_.initiator_port.empty() ? initiator_name_ : nexus_.initiator_port);
    }
}

void Connection::end_nexus() {
    if (registered_) {
        state_.sessions.remove(tsih_, this);
        registered_ = false;
        if (target_ != nullptr && target_->device) {
            target_->device->nexus_removed(nexus_);
        }
    }
}

}  // namespace atsarray::iscsi
