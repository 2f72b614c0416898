// The login phase on the wire (RFC 7143 §6, §11.12, §11.13): PDU fields, continuation, ISID/TSIH
// and session reinstatement. What the keys mean is LoginNegotiation's business.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::iscsi {

namespace {
constexpr uint8_t login_flag_transit = 0x80;
constexpr uint8_t login_flag_continue = 0x40;
// RFC 7143 §11.13.5 status classes and details.
constexpr uint8_t status_initiator_error = 0x02;
constexpr uint8_t detail_misc = 0x00;
constexpr uint8_t detail_session_does_not_exist = 0x0a;
constexpr uint8_t detail_invalid_during_login = 0x0b;
constexpr uint8_t detail_too_many_connections = 0x06;

uint64_t load48(const uint8_t* p) {
    return (static_cast<uint64_t>(load16(p)) << 32) | load32(p + 2);
}

std::string isid_hex(uint64_t isid) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%012llx", static_cast<unsigned long long>(isid));
    return buf;
}
}  // namespace

void Connection::send_login_reject(const Bhs& request, uint8_t status_class,
                                   uint8_t status_detail) {
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::login_response);
    out.hdr.set_flags(static_cast<uint8_t>((login_csg_ << 2) | login_nsg_));
    std::copy_n(request.data() + 8, 6, out.hdr.b.begin() + 8);  // ISID
    out.hdr.set_itt(request.initiator_task_tag());
    fill_sequence(out.hdr, true);
    out.hdr.b[36] = status_class;
    out.hdr.b[37] = status_detail;
    finish_pdu(out);
    close_after_write_ = true;
    write_more();
}

void Connection::handle_login(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    if (bhs.opcode() != Opcode::login_request) {
        // RFC 7143 §6.? only Login Requests are valid before the login completes (SPDK crashed
        // dereferencing a session here).
        spdlog::warn("iscsi {}: opcode {:#x} during login", peer_, static_cast<int>(bhs.opcode()));
        send_login_reject(bhs, status_initiator_error, detail_invalid_during_login);
        return;
    }
    const uint8_t flags = bhs.flags();
    const bool transit = (flags & login_flag_transit) != 0;
    const bool more = (flags & login_flag_continue) != 0;
    const auto csg = static_cast<uint8_t>((flags >> 2) & 3);
    const auto nsg = static_cast<uint8_t>(flags & 3);
    const uint64_t isid = load48(bhs.data() + 8);
    const uint16_t tsih = bhs.field16(14);
    const uint16_t cid = bhs.field16(20);

    if (!login_started_) {
        login_started_ = true;
        isid_ = isid;
        tsih_ = tsih;
        cid_ = cid;
        // Login requests are immediate: the first CmdSN is the session's ExpCmdSN
        // (RFC 7143 §11.12.7).
        exp_cmd_sn_ = bhs.cmd_sn();
        max_cmd_sn_ = exp_cmd_sn_ + state_.settings.queue_depth - 1;
        stat_sn_ = 1;
        login_ = std::make_unique<LoginNegotiation>(state_.targets, state_.settings.limits,
                                                    state_.settings.discovery_chap);
    } else if (isid != isid_ || tsih != tsih_ || cid != cid_) {
        spdlog::warn("iscsi {}: ISID/TSIH/CID changed during login", peer_);
        send_login_reject(bhs, status_initiator_error, detail_misc);
        return;
    }
    login_itt_ = bhs.initiator_task_tag();
    login_csg_ = csg;
    login_nsg_ = nsg;
    if (transit && more) {
        // RFC 7143 §11.12.2: T and C must not both be set.
        send_login_reject(bhs, status_initiator_error, detail_misc);
        return;
    }
    if (auto ec = login_text_.append(pdu.data); ec) {
        spdlog::warn("iscsi {}: login text: {}", peer_, ec.message());
        send_login_reject(bhs, status_initiator_error, detail_misc);
        return;
    }
    if (more) {
        // Ask for the rest of the keys with an empty response (RFC 7143 §11.12.2).
        OutPdu& out = queue_pdu();
        out.hdr.set_opcode(Opcode::login_response);
        out.hdr.set_flags(static_cast<uint8_t>(csg << 2 | nsg));
        std::copy_n(bhs.data() + 8, 6, out.hdr.b.begin() + 8);
        out.hdr.set_itt(login_itt_);
        fill_sequence(out.hdr, true);
        finish_pdu(out);
        write_more();
        return;
    }

    LoginRequestView request;
    request.csg = csg;
    request.nsg = nsg;
    request.transit = transit;
    request.version_max = bhs.byte(2);
    request.version_min = bhs.byte(3);
    const std::error_code parse_ec = parse_text(login_text_.data(), request.keys);
    login_text_.reset();
    if (parse_ec) {
        spdlog::warn("iscsi {}: login text: {}", peer_, parse_ec.message());
        send_login_reject(bhs, status_initiator_error, detail_misc);
        return;
    }

    // A non-zero TSIH names an existing session this connection wants to join (RFC 7143 §6.3).
    if (tsih_ != 0 && !state_.sessions.find(tsih_)) {
        send_login_reject(bhs, status_initiator_error, detail_session_does_not_exist);
        return;
    }

    LoginStep step = login_->step(request);
    if (!step.failed() && step.text.size() > login_max_data_segment_length) {
        // During login the initiator accepts 8192 bytes per PDU (RFC 7143 §13.12); only a flood of
        // keys (each answered NotUnderstood) gets here, and it ends the login.
        spdlog::warn("iscsi {}: login response of {} bytes: too many keys", peer_,
                     step.text.size());
        send_login_reject(bhs, status_initiator_error, detail_misc);
        return;
    }
    if (!step.failed() && step.complete && tsih_ != 0) {
        auto existing = state_.sessions.find(tsih_);
        // MaxConnections is 1: a second connection may only replace the one it names by CID
        // (connection reinstatement, RFC 7143 §6.3.4).
        if (existing && existing->cid_ != cid_) {
            step.status_class = status_initiator_error;
            step.status_detail = detail_too_many_connections;
            step.complete = false;
        }
    }
    OutPdu& out = queue_pdu();
    out.hdr.set_opcode(Opcode::login_response);
    uint8_t out_flags = static_cast<uint8_t>(step.csg << 2 | step.nsg);
    if (step.transit) {
        out_flags |= login_flag_transit;
    }
    out.hdr.set_flags(out_flags);
    out.hdr.b[2] = 0x00;  // Version-max
    out.hdr.b[3] = 0x00;  // Version-active
    std::copy_n(bhs.data() + 8, 6, out.hdr.b.begin() + 8);
    out.hdr.set_itt(login_itt_);
    fill_sequence(out.hdr, true);
    out.hdr.b[36] = step.status_class;
    out.hdr.b[37] = step.status_detail;
    out.owned = std::move(step.text);
    if (step.failed()) {
        spdlog::warn("iscsi {}: login of {} refused: status {:#04x}{:02x}", peer_,
                     login_->initiator_name(), step.status_class, step.status_detail);
        finish_pdu(out);
        close_after_write_ = true;
        write_more();
        return;
    }
    if (step.complete) {
        if (tsih_ == 0) {
            tsih_ = state_.sessions.allocate_tsih();
        }
        out.hdr.set16(14, tsih_);
        // Digests start with the first PDU after this response (RFC 7143 §13.1): queue it with
        // the login settings, then switch.
        finish_pdu(out);
        finish_login();
    } else {
        finish_pdu(out);
    }
    write_more();
}

void Connection::finish_login() {
    session_type_ = login_->session_type();
    initiator_name_ = login_->initiator_name();
    params_ = login_->params();
    if (session_type_ == SessionType::normal) {
        target_ = state_.targets.node(login_->target()->name);
    }
    login_.reset();
    login_timer_.cancel();
    frame_limits_.header_digest = params_.header_digest;
    frame_limits_.data_digest = params_.data_digest;
    frame_limits_.max_data_segment_length = params_.target_max_recv_data_segment_length;
    phase_ = Phase::full_feature;

    if (target_ != nullptr) {
        static std::atomic<uint64_t> next_nexus_id{1};
        nexus_.id = next_nexus_id.fetch_add(1);
        nexus_.initiator_name = initiator_name_;
        nexus_.initiator_port = initiator_name_ + ",i,0x" + isid_hex(isid_);
        nexus_.peer_address = peer_;
        login_time_ = std::chrono::system_clock::now();
        auto previous = state_.sessions.add(initiator_name_, isid_, target_->info.name, tsih_,
                                            shared_from_this());
        registered_ = true;
        if (previous) {
            // Session reinstatement (RFC 7143 §6.3.5): the old session ends, its tasks with it.
            spdlog::info("iscsi {}: session of {} ISID {} reinstated", peer_, initiator_name_,
                         isid_hex(isid_));
            previous->post_close("session reinstated by a new login");
        }
        target_->device->nexus_added(nexus_);
        event("login", fmt::format("{} logged in to {} from {} (TSIH {}, digests {}/{})",
                                   nexus_.initiator_port, target_->info.name, peer_, tsih_,
                                   params_.header_digest ? "CRC32C" : "None",
                                   params_.data_digest ? "CRC32C" : "None"));
        spdlog::info("iscsi {}: {} logged in to {} (TSIH {}, digests {}/{})", peer_,
                     initiator_name_, target_->info.name, tsih_,
                     params_.header_digest ? "CRC32C" : "None",
                     params_.data_digest ? "CRC32C" : "None");
    } else {
        spdlog::info("iscsi {}: discovery session of {}", peer_, initiator_name_);
    }
    arm_nop_timer();
}

}  // namespace atsarray::iscsi
