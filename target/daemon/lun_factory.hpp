#pragma once
// Making a logical unit from its [[target.lun]] (config.hpp's LunConfig): the block store opened
// (or created) on its backend, behind a DelayStore for a slow medium, its identity settled with
// its data, its persistent reservations found, and the scsi::Lun built on them. The daemon uses it
// at start-up and the live configuration (live_config.hpp) when a LUN is added through the API.

#include <memory>
#include <mutex>
#include <vector>

#include "target/daemon/config.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::daemon {

class RbdConsole;

struct LunFactory {
    const DaemonConfig& config;  // source_path, for messages
    // What every LUN shares (the lock table, accounting, events, faults, fault delays); the
    // target's port groups are given to make().
    scsi::LunServices services;
    scsi::Lun::SubmitBlocking submit;
    // The console's view of rbd LUNs (nullptr: none): make() registers an rbd LUN there once it
    // is made, forget() takes it out.
    RbdConsole* rbd_console = nullptr;

    // Throws ConfigError naming the LUN's key when the store cannot be opened, its size does not
    // fit the block size, or its identity or reservations cannot be read.
    std::shared_ptr<scsi::Lun> make(const TargetConfig& target, const LunConfig& lun,
                                    std::shared_ptr<scsi::TargetPortGroups> port_groups) const;
    // A LUN made and then not served (a live change that failed after make()) or no longer
    // served (removed live): out of the rbd panel, its flight recorder histories kept with its
    // data ([ats] recorder_persist) and dropped from the recorder.
    void forget(const scsi::Lun& lun) const;
    // Writes the LUN's flight recorder histories next to its data ([ats] recorder_persist; make()
    // reads them back): at a live removal and at shutdown.
    void keep_forensics(const scsi::Lun& lun) const;
};

// Every LUN the daemon made and still serves (shutdown stops their sanitizes), changed by the
// live configuration on the console's thread while shutdown may read it.
class LunList {
  public:
    void add(std::shared_ptr<scsi::Lun> lun);
    void remove(const scsi::Lun* lun);
    std::vector<std::shared_ptr<scsi::Lun>> snapshot() const;

  private:
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<scsi::Lun>> luns_;
};

}  // namespace atsarray::daemon
