#pragma once
// One path of a simulated host: its iSCSI session to one portal (libiscsi's async API, logged in
// without blocking so that the host's other paths keep running), named as ESXi names a software
// iSCSI path ("vmhba64:C0:T1:L0").

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "tools/libiscsi_handles.hpp"

namespace atsarray::sim {

using Clock = std::chrono::steady_clock;

struct SessionConfig {
    std::string portal;
    std::string target;
    std::string initiator;
    int lun = 0;
    std::chrono::milliseconds io_timeout{8000};
};

class PathSession {
  public:
    enum class Phase { offline, logging_in, logged_in };

    // `index` is the path's number on the host (its "T" and its ISID qualifier).
    PathSession(const SessionConfig& config, std::string portal, uint16_t tpgt, int index);
    PathSession(const PathSession&) = delete;
    PathSession& operator=(const PathSession&) = delete;

    const std::string& portal() const { return portal_; }
    uint16_t tpgt() const { return tpgt_; }
    const std::string& name() const { return name_; }
    int index() const { return index_; }
    Phase phase() const { return phase_; }
    iscsi_context* context() const { return ctx_.get(); }

    // Starts a login (connect, login, TEST UNIT READY) that must end by `deadline`; false with
    // `error` when it cannot start.
    bool start_login(Clock::time_point deadline, std::string& error);
    // The login ended: logged in, or failed with `error` (then the path is offline again).
    bool login_finished(std::string& error);
    Clock::time_point login_deadline() const { return login_deadline_; }

    // Fills `pfd` when the path has a socket to watch.
    bool poll_fd(pollfd& pfd) const;
    // False when the connection broke (the caller then drops the path).
    bool service(short revents);

    // The connection is gone (no logout): every command on it is lost.
    void drop();
    void logout();

  private:
    static void on_login(iscsi_context* ctx, int status, void* command_data, void* private_data);

    const SessionConfig& config_;
    std::string portal_;
    uint16_t tpgt_;
    int index_;
    std::string name_;
    initiator::Context ctx_;
    Phase phase_ = Phase::offline;
    Clock::time_point login_deadline_{};
    bool login_done_ = false;
    bool login_ok_ = false;
    std::string login_error_;
};

}  // namespace atsarray::sim
