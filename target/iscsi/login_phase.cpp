#include "target/iscsi/login_phase.hpp"

#include <spdlog/spdlog.h>

#include "target/iscsi/bhs.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"

namespace atsarray::iscsi {

LoginPhase::LoginPhase(ServerState& state, SendQueue& tx, CommandWindow& window,
                       const std::string& peer, PortalInfo portal)
    : state_(state), tx_(tx), window_(window), peer_(peer), portal_(std::move(portal)) {}

LoginPhase::Outcome LoginPhase::refuse(const Bhs& request, LoginStatus status) {
    OutPdu& out = tx_.push();
    LoginResponseBhs header(out.hdr, csg_, nsg_, false);
    header.set_isid(LoginRequestBhs(request).isid_bytes());
    out.hdr.set_itt(request.initiator_task_tag());
    window_.fill(out.hdr, true);
    header.set_status(status.status_class, status.status_detail);
    tx_.seal(out);
    return Outcome::refused;
}

LoginPhase::Outcome LoginPhase::on_pdu(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    if (bhs.opcode() != Opcode::login_request) {
        // RFC 7143 §6.3: only Login Requests are valid until the login completes (SPDK crashed
        // dereferencing a session here).
        spdlog::warn("iscsi {}: opcode {:#x} during login", peer_, static_cast<int>(bhs.opcode()));
        return refuse(bhs, login_status::invalid_during_login);
    }
    const LoginRequestBhs login(bhs);
    if (!started_) {
        started_ = true;
        isid_ = login.isid();
        tsih_ = login.tsih();
        cid_ = login.cid();
        // Login requests are immediate: the first CmdSN is the session's ExpCmdSN
        // (RFC 7143 §11.12.7); StatSN starts at 1.
        window_.open(bhs.cmd_sn(), state_.settings.queue_depth);
        negotiation_ = std::make_unique<LoginNegotiation>(state_.targets, state_.settings.limits,
                                                          state_.settings.discovery_chap);
        negotiation_->set_portal_group(portal_.group);
    } else if (login.isid() != isid_ || login.tsih() != tsih_ || login.cid() != cid_) {
        spdlog::warn("iscsi {}: ISID/TSIH/CID changed during login", peer_);
        return refuse(bhs, login_status::initiator_error);
    }
    itt_ = bhs.initiator_task_tag();
    csg_ = login.csg();
    nsg_ = login.nsg();
    if (login.transit() && login.continue_bit()) {
        // RFC 7143 §11.12.2: T and C must not both be set.
        return refuse(bhs, login_status::initiator_error);
    }
    if (auto ec = text_.append(pdu.data); ec) {
        spdlog::warn("iscsi {}: login text: {}", peer_, ec.message());
        return refuse(bhs, login_status::initiator_error);
    }
    if (login.continue_bit()) {
        // Ask for the rest of the keys with an empty response (RFC 7143 §11.12.2).
        OutPdu& out = tx_.push();
        LoginResponseBhs header(out.hdr, csg_, nsg_, false);
        header.set_isid(login.isid_bytes());
        out.hdr.set_itt(itt_);
        window_.fill(out.hdr, true);
        tx_.seal(out);
        return Outcome::in_progress;
    }

    LoginRequestView request;
    request.csg = csg_;
    request.nsg = nsg_;
    request.transit = login.transit();
    request.version_max = login.version_max();
    request.version_min = login.version_min();
    const std::error_code parse_ec = parse_text(text_.data(), request.keys);
    text_.reset();
    if (parse_ec) {
        spdlog::warn("iscsi {}: login text: {}", peer_, parse_ec.message());
        return refuse(bhs, login_status::initiator_error);
    }

    // A non-zero TSIH names an existing session this connection wants to join (RFC 7143 §6.3).
    if (tsih_ != 0 && !state_.sessions.find(tsih_)) {
        return refuse(bhs, login_status::session_does_not_exist);
    }

    LoginStep step = negotiation_->step(request);
    if (!step.failed() && step.text.size() > login_max_data_segment_length) {
        // During login the initiator accepts 8192 bytes per PDU (RFC 7143 §13.12); only a flood of
        // keys (each answered NotUnderstood) gets here, and it ends the login.
        spdlog::warn("iscsi {}: login response of {} bytes: too many keys", peer_,
                     step.text.size());
        return refuse(bhs, login_status::initiator_error);
    }
    if (!step.failed() && step.complete && tsih_ != 0) {
        auto existing = state_.sessions.find(tsih_);
        // MaxConnections is 1: a second connection may only replace the one it names by CID
        // (connection reinstatement, RFC 7143 §6.3.4).
        if (existing && existing->cid() != cid_) {
            step.status_class = login_status::too_many_connections.status_class;
            step.status_detail = login_status::too_many_connections.status_detail;
            step.complete = false;
        }
    }
    OutPdu& out = tx_.push();
    LoginResponseBhs header(out.hdr, step.csg, step.nsg, step.transit);
    header.set_isid(login.isid_bytes());
    out.hdr.set_itt(itt_);
    window_.fill(out.hdr, true);
    header.set_status(step.status_class, step.status_detail);
    out.owned = std::move(step.text);
    if (step.failed()) {
        spdlog::warn("iscsi {}: login of {} refused: status {:#04x}{:02x}{}{}", peer_,
                     negotiation_->initiator_name(), step.status_class, step.status_detail,
                     step.error ? ": " : "", step.error ? step.error.message() : "");
        tx_.seal(out);
        return Outcome::refused;
    }
    if (!step.complete) {
        tx_.seal(out);
        return Outcome::in_progress;
    }
    if (tsih_ == 0) {
        tsih_ = state_.sessions.allocate_tsih();
    }
    header.set_tsih(tsih_);
    // Digests start with the first PDU after this response (RFC 7143 §13.1): it is sealed with
    // the login's settings before the connection switches.
    tx_.seal(out);
    return Outcome::complete;
}

}  // namespace atsarray::iscsi
