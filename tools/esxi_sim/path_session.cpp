#include "tools/esxi_sim/path_session.hpp"

#include <utility>

namespace atsarray::sim {
namespace {

// ESXi's software iSCSI adapter number in the lab's logs, and the OUI-format ISID its sessions
// carry ("ISID: 00023d000001", VMware KB 321364): one qualifier per path, so two sessions of one
// host to two portals of the same portal group are two sessions, not a reinstatement.
constexpr const char* adapter = "vmhba64";
constexpr uint32_t isid_oui = 0x00023d;

std::string trimmed(const char* text) {
    std::string s = text == nullptr ? "" : text;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

}  // namespace

PathSession::PathSession(const SessionConfig& config, std::string portal, uint16_t tpgt, int index)
    : config_(config),
      portal_(std::move(portal)),
      tpgt_(tpgt),
      index_(index),
      name_(std::string(adapter) + ":C0:T" + std::to_string(index) + ":L" +
            std::to_string(config.lun)) {}

void PathSession::on_login(iscsi_context*, int status, void*, void* private_data) {
    auto* self = static_cast<PathSession*>(private_data);
    if (self->phase_ == Phase::logging_in && !self->login_done_) {
        self->login_done_ = true;
        self->login_ok_ = status == SCSI_STATUS_GOOD;
        if (!self->login_ok_) {
            self->login_error_ = trimmed(iscsi_get_error(self->ctx_.get()));
        }
        return;
    }
    // libiscsi calls again when an established connection fails.
    if (status != SCSI_STATUS_GOOD) {
        self->login_ok_ = false;
    }
}

bool PathSession::start_login(Clock::time_point deadline, std::string& error) {
    drop();
    initiator::Context ctx = initiator::create_context(config_.initiator);
    if (!ctx) {
        error = "cannot create an iSCSI context";
        return false;
    }
    iscsi_set_targetname(ctx.get(), config_.target.c_str());
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx.get(), ISCSI_HEADER_DIGEST_NONE_CRC32C);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    iscsi_set_isid_oui(ctx.get(), isid_oui, static_cast<uint32_t>(index_ + 1));
    iscsi_set_timeout(ctx.get(), 0);  // every deadline is the host's own
    login_done_ = false;
    login_ok_ = false;
    login_error_.clear();
    if (iscsi_full_connect_async(ctx.get(), portal_.c_str(), config_.lun, &on_login, this) != 0) {
        error = trimmed(iscsi_get_error(ctx.get()));
        return false;
    }
    ctx_ = std::move(ctx);
    phase_ = Phase::logging_in;
    login_deadline_ = deadline;
    return true;
}

bool PathSession::login_finished(std::string& error) {
    if (phase_ != Phase::logging_in) {
        return phase_ == Phase::logged_in;
    }
    if (!login_done_) {
        if (Clock::now() < login_deadline_) {
            return false;
        }
        login_error_ = "login timed out";
        login_done_ = true;
        login_ok_ = false;
    }
    if (!login_ok_) {
        error = login_error_.empty() ? std::string("login failed") : login_error_;
        drop();
        return false;
    }
    phase_ = Phase::logged_in;
    return true;
}

bool PathSession::poll_fd(pollfd& pfd) const {
    if (!ctx_ || phase_ == Phase::offline) {
        return false;
    }
    const int fd = iscsi_get_fd(ctx_.get());
    if (fd < 0) {
        return false;
    }
    pfd = pollfd{fd, static_cast<short>(iscsi_which_events(ctx_.get())), 0};
    return true;
}

bool PathSession::service(short revents) {
    if (!ctx_) {
        return false;
    }
    if (iscsi_service(ctx_.get(), revents) < 0) {
        if (phase_ == Phase::logging_in) {
            if (!login_done_) {
                login_done_ = true;
                login_ok_ = false;
                login_error_ = trimmed(iscsi_get_error(ctx_.get()));
            }
            return true;  // login_finished() reports it
        }
        return false;
    }
    return phase_ != Phase::logged_in || login_ok_;
}

void PathSession::drop() {
    if (ctx_) {
        // Every command still on the connection completes now, as cancelled.
        iscsi_scsi_cancel_all_tasks(ctx_.get());
    }
    ctx_.reset();
    phase_ = Phase::offline;
}

void PathSession::logout() {
    if (ctx_ && phase_ == Phase::logged_in) {
        iscsi_set_timeout(ctx_.get(), 2);
        iscsi_logout_sync(ctx_.get());
    }
    drop();
}

}  // namespace atsarray::sim
