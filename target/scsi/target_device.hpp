#pragma once
// The SCSI target device (as SAM-5 models it): the logical units one iSCSI target exposes, the
// routing of commands to them, and the per-I_T-nexus state the SCSI layer keeps (unit attentions).
// The transport calls only this class; it never sees a Lun's internals or a block store.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "target/scsi/command.hpp"

namespace atsarray::scsi {

class Lun;
class CopyManager;
class IoExecutor;
class TargetPortGroups;

class TargetDevice {
  public:
    // `port_groups`: the target's ALUA target port groups (SPC-4 §5.16), which its LUNs share
    // (LunServices::port_groups); nullptr: the single implicit group.
    explicit TargetDevice(std::shared_ptr<TargetPortGroups> port_groups = nullptr);
    ~TargetDevice();
    TargetDevice(const TargetDevice&) = delete;
    TargetDevice& operator=(const TargetDevice&) = delete;

    // The logical unit inventory (SPC-4 §6.33) may change while commands run on other threads:
    // it is an immutable LunSet that add_lun/remove_lun replace (copy, change, publish) under
    // change_mutex_, and that each command reads with one atomic load of a shared_ptr, no lock
    // and no copy (changes are rare, commands are not). A command keeps the set it loaded, and
    // with it its Lun, until execute() returns; the Lun itself lives on in its own references.
    struct LunSet {
        std::map<uint64_t, std::shared_ptr<Lun>> luns;
        std::vector<uint64_t> ids;  // the keys of luns, for REPORT LUNS
    };

    // Adds a LUN; false when the id is taken. Every I_T nexus of the target then gets REPORTED
    // LUNS DATA HAS CHANGED on the LUNs it had (SPC-4 §6.33, SAM-5 §5.14; as LIO's
    // target_luns_data_has_changed) unless `announce` is false (start-up: no nexus exists yet);
    // the new LUN knows the nexuses without a unit attention of its own.
    bool add_lun(uint64_t lun_id, std::shared_ptr<Lun> lun, bool announce = true);
    // Takes a LUN out of the inventory: commands already given to it finish, later ones end in
    // LOGICAL UNIT NOT SUPPORTED; the other LUNs' nexuses get REPORTED LUNS DATA HAS CHANGED. The
    // Lun is retired (Lun::retire) and returned; nullptr when there is none.
    std::shared_ptr<Lun> remove_lun(uint64_t lun_id);
    bool has_lun(uint64_t lun_id) const;
    std::vector<uint64_t> lun_ids() const;
    std::shared_ptr<Lun> lun(uint64_t lun_id) const;
    // The current inventory, consistent with itself (ids and LUNs of one moment).
    std::shared_ptr<const LunSet> luns() const { return luns_.load(); }
    // I_T nexuses logged in to this target now.
    size_t nexus_count() const;

    // Runs one command. REPORT LUNS and INQUIRY answer for any LUN number (SPC-4 §6.33:
    // peripheral qualifier 011b for a LUN that does not exist); other commands to a missing LUN
    // end with LOGICAL UNIT NOT SUPPORTED. `done` is called exactly once, on any thread.
    void execute(Command& cmd, Completion done);

    // I_T nexus life cycle: a new nexus gets a POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
    // unit attention on every LUN (SAM-5 §5.14); a removed one loses its pending unit attentions.
    void nexus_added(const Nexus& nexus);
    void nexus_removed(const Nexus& nexus);
    // LOGICAL UNIT RESET / TARGET RESET side effects in the SCSI layer (unit attentions for every
    // nexus, the SPC-2 reservation released, persistent reservations kept). Aborting the tasks
    // themselves is the transport's job.
    void lun_reset(uint64_t lun_id);
    void target_reset();

    // Makes every LUN's data stable (shutdown).
    void flush_all();

    // The LUN of THIS target whose VPD 0x83 NAA designator (binary code set, logical unit
    // association, SPC-4 §7.8.6.6) is `designator`; nullptr for any other designator. EXTENDED
    // COPY resolves its copy targets only here, so an initiator cannot reach another target's
    // backstore (REFERENCES.md: LIO CVE-2020-28374).
    std::shared_ptr<Lun> lun_by_designator(uint8_t code_set, uint8_t association,
                                           uint8_t designator_type,
                                           std::span<const uint8_t> designator) const;

    TargetPortGroups& port_groups() { return *port_groups_; }
    const std::shared_ptr<TargetPortGroups>& shared_port_groups() const { return port_groups_; }

    // EXTENDED COPY held results (RECEIVE COPY RESULTS), per LUN and I_T nexus.
    CopyManager& copy_manager() { return *copy_manager_; }

    // PREVENT ALLOW MEDIUM REMOVAL state per LUN and I_T nexus (SBC-4 §5.13): cleared on I_T
    // nexus loss, LOGICAL UNIT RESET and TARGET RESET.
    void set_medium_removal_prevented(uint64_t lun_id, uint64_t nexus_id, bool prevent);
    bool medium_removal_prevented(uint64_t lun_id) const;

  private:
    std::atomic<std::shared_ptr<const LunSet>> luns_;
    // Serializes inventory changes with nexus arrivals and departures, so that a LUN added while
    // a nexus logs in learns of it exactly once (never on the command path).
    mutable std::mutex change_mutex_;
    std::map<uint64_t, Nexus> nexuses_;  // by Nexus::id, under change_mutex_
    std::unique_ptr<CopyManager> copy_manager_;
    std::shared_ptr<TargetPortGroups> port_groups_;
    mutable std::mutex prevent_mutex_;
    std::set<std::pair<uint64_t, uint64_t>> prevent_;  // (LUN, I_T nexus) with PREVENT=1
};

}  // namespace atsarray::scsi
