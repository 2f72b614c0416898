#include "target/scsi/target_device.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "target/scsi/command_table.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {

TargetDevice::TargetDevice() = default;
TargetDevice::~TargetDevice() = default;

void TargetDevice::add_lun(uint64_t lun_id, std::shared_ptr<Lun> lun) {
    if (!lun || lun->id() != lun_id) {
        throw std::invalid_argument("TargetDevice::add_lun: LUN " + std::to_string(lun_id) +
                                    " missing or numbered differently");
    }
    // Start-up only: LUNs are not added while commands run (no REPORTED LUNS DATA HAS CHANGED).
    luns_[lun_id] = std::move(lun);
}

bool TargetDevice::has_lun(uint64_t lun_id) const {
    return luns_.count(lun_id) != 0;
}

std::vector<uint64_t> TargetDevice::lun_ids() const {
    std::vector<uint64_t> ids;
    ids.reserve(luns_.size());
    for (const auto& [id, lun] : luns_) {
        ids.push_back(id);
    }
    return ids;
}

std::shared_ptr<Lun> TargetDevice::lun(uint64_t lun_id) const {
    auto it = luns_.find(lun_id);
    return it == luns_.end() ? nullptr : it->second;
}

void TargetDevice::execute(Command& cmd, Completion done) {
    // luns_ is fixed once commands flow (add_lun is start-up only), so reading it here needs
    // no lock.
    const std::vector<uint64_t> inventory = lun_ids();
    if (auto it = luns_.find(cmd.lun); it != luns_.end()) {
        it->second->execute(cmd, std::move(done), inventory);
        return;
    }

    // SAM-5 (incorrect logical unit selection) / SPC-4 §6.6.2: a LUN that does not exist answers
    // INQUIRY (peripheral qualifier 011b), REPORT LUNS and REQUEST SENSE; everything else is
    // LOGICAL UNIT NOT SUPPORTED. No unit attentions exist for it.
    cmd.status = Status::good;
    cmd.sense = SenseData{};
    cmd.data_out_wanted = 0;
    CommandResult result;
    const CommandDescriptor* descriptor = find_command(cmd.cdb, result);
    if (descriptor == nullptr || !descriptor->has(flag_answers_without_lun)) {
        result = CommandResult::fail(SenseReason::logical_unit_not_supported);
    } else {
        const LunSettings* identity = luns_.empty() ? nullptr : &luns_.begin()->second->settings();
        CommandContext ctx{cmd, *descriptor, nullptr, inventory, identity, {}};
        result = prepare_command(ctx);
        if (result.ok()) {
            result = execute_command(ctx);
        }
    }
    apply_result(cmd, result, SenseFormat::fixed);
    done(cmd);
}

void TargetDevice::nexus_added(const Nexus& nexus) {
    for (auto& [id, lun] : luns_) {
        lun->unit_attentions().add_nexus(nexus.id);
    }
}

void TargetDevice::nexus_removed(const Nexus& nexus) {
    for (auto& [id, lun] : luns_) {
        lun->unit_attentions().remove_nexus(nexus.id);
    }
}

void TargetDevice::lun_reset(uint64_t lun_id) {
    // SAM-5 LOGICAL UNIT RESET: establishes BUS DEVICE RESET FUNCTION OCCURRED for
    // every I_T nexus of the logical unit.
    if (auto l = lun(lun_id)) {
        l->unit_attentions().queue_all(SenseReason::bus_device_reset);
    }
}

void TargetDevice::target_reset() {
    for (auto& [id, lun] : luns_) {
        lun->unit_attentions().queue_all(SenseReason::bus_device_reset);
    }
}

void TargetDevice::flush_all() {
    for (auto& [id, lun] : luns_) {
        const backend::Status st = lun->flush();
        if (!st.ok()) {
            spdlog::error("scsi: flushing LUN {} failed: errc {} errno {}", id,
                          static_cast<int>(st.code), st.sys_errno);
        }
    }
}

}  // namespace atsarray::scsi
