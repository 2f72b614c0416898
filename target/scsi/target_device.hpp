#pragma once
// The SCSI target device (SAM-5 §4.?): the logical units one iSCSI target exposes, the routing
// of commands to them, and the per-I_T-nexus state the SCSI layer keeps (unit attentions).
// The transport calls only this class; it never sees a Lun's internals or a block store.

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "target/scsi/command.hpp"

namespace atsarray::scsi {

class Lun;
class IoExecutor;

class TargetDevice {
  public:
    TargetDevice();
    ~TargetDevice();
    TargetDevice(const TargetDevice&) = delete;
    TargetDevice& operator=(const TargetDevice&) = delete;

    void add_lun(uint64_t lun_id, std::shared_ptr<Lun> lun);
    bool has_lun(uint64_t lun_id) const;
    std::vector<uint64_t> lun_ids() const;
    std::shared_ptr<Lun> lun(uint64_t lun_id) const;

    // Runs one command. REPORT LUNS and INQUIRY answer for any LUN number (SPC-4 §6.33:
    // peripheral qualifier 011b for a LUN that does not exist); other commands to a missing LUN
    // end with LOGICAL UNIT NOT SUPPORTED. `done` is called exactly once, on any thread.
    void execute(Command& cmd, Completion done);

    // I_T nexus life cycle: a new nexus gets a POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
    // unit attention on every LUN (SAM-5 §5.14); a removed one loses its pending unit attentions.
    void nexus_added(const Nexus& nexus);
    void nexus_removed(const Nexus& nexus);
    // LOGICAL UNIT RESET / TARGET RESET side effects in the SCSI layer (unit attentions for every
    // nexus). Aborting the tasks themselves is the transport's job.
    void lun_reset(uint64_t lun_id);
    void target_reset();

    // Makes every LUN's data stable (shutdown).
    void flush_all();

  private:
    std::map<uint64_t, std::shared_ptr<Lun>> luns_;
};

}  // namespace atsarray::scsi
