#pragma once
// One simulated host's iSCSI session (libiscsi's async API under the host's own timer): READ(16)
// and COMPARE AND WRITE of one block, each given --io-timeout. A command that outlives it is
// aborted as ESXi does (ABORT TASK; the session is dropped and logged in again when the abort
// is not answered in time either) and reported as a timeout, so the caller can reissue it.

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "tools/esxi_sim/log.hpp"
#include "tools/esxi_sim/records.hpp"
#include "tools/esxi_sim/report.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::sim {

using Clock = std::chrono::steady_clock;

enum class IoStatus { good, miscompare, timeout, error };

struct IoResult {
    IoStatus status = IoStatus::error;
    Sector data;                 // the data-in (READ: the blocks read)
    int64_t miscompare_at = -1;  // MISCOMPARE: sense INFORMATION, the first differing byte
    Clock::time_point issued{};  // when the command was sent
    std::string error;
};

struct SessionConfig {
    std::string portal;
    std::string target;
    std::string initiator;
    int lun = 0;
    std::chrono::milliseconds io_timeout{8000};
};

class IoChannel {
  public:
    // `tick` runs every few tens of milliseconds while a command is outstanding (the host's
    // heartbeat watchdog); it must not issue I/O.
    IoChannel(SessionConfig config, HostStats& stats, Log& log, std::string host_name,
              std::function<void()> tick);

    // Logs in and takes the unit attention of the new I_T nexus; false with `error` set.
    bool connect(std::string& error);
    IoResult read(uint64_t lba, uint32_t blocks, uint32_t block_size);
    // WRITE(16) of whole blocks (formatting the regions).
    IoResult write(uint64_t lba, const Sector& data, uint32_t block_size);
    // READ CAPACITY(16) parameter data.
    IoResult read_capacity();
    IoResult compare_and_write(uint64_t lba, const Sector& test, const Sector& set);
    // Power loss: the socket closes, no logout, nothing more is sent.
    void drop();
    // Clean end: logout.
    void logout();

  private:
    using Issue = std::function<scsi_task*(iscsi_context*, iscsi_command_cb, void*)>;
    struct Pending {
        bool done = false;
        int status = 0;
    };
    enum class Wait { done, timed_out, broken };

    IoResult execute(const Issue& issue, bool is_ats);
    Wait wait_for(const Pending& pending, Clock::time_point deadline);
    void abort(scsi_task* task);
    bool reconnect();
    static void on_done(iscsi_context* ctx, int status, void* command_data, void* private_data);

    SessionConfig config_;
    HostStats& stats_;
    Log& log_;
    std::string host_name_;
    std::function<void()> tick_;
    initiator::Context ctx_;
    Clock::time_point next_login_{};
};

}  // namespace atsarray::sim
