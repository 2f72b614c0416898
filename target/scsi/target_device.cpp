#include "target/scsi/target_device.hpp"

#include <algorithm>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "target/scsi/command_table.hpp"
#include "target/scsi/extended_copy.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {

TargetDevice::TargetDevice(std::shared_ptr<TargetPortGroups> port_groups)
    : copy_manager_(std::make_unique<CopyManager>()),
      port_groups_(port_groups ? std::move(port_groups) : std::make_shared<TargetPortGroups>()) {}
TargetDevice::~TargetDevice() = default;

void TargetDevice::add_lun(uint64_t lun_id, std::shared_ptr<Lun> lun) {
    if (!lun || lun->id() != lun_id) {
        throw std::invalid_argument("TargetDevice::add_lun: LUN " + std::to_string(lun_id) +
                                    " missing or numbered differently");
    }
    // Start-up only: LUNs are not added while commands run (no REPORTED LUNS DATA HAS CHANGED).
    lun->attach_device(this);
    luns_[lun_id] = std::move(lun);
    lun_ids_ = lun_ids();
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
    // luns_ and lun_ids_ are fixed once commands flow (add_lun is start-up only), so reading
    // them here needs no lock and no copy per command.
    const std::span<const uint64_t> inventory = lun_ids_;
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
        CommandContext ctx{cmd, *descriptor, nullptr, inventory, identity, {}, this};
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
        lun->nexus_added(nexus);
    }
}

void TargetDevice::nexus_removed(const Nexus& nexus) {
    // SPC-2 §5.5.1: I_T nexus loss releases its RESERVE(6/10) reservation; persistent
    // registrations belong to the initiator port and stay (SPC-4 §5.13.1).
    for (auto& [id, lun] : luns_) {
        lun->nexus_removed(nexus);
    }
    copy_manager_->nexus_removed(nexus.id);
    std::lock_guard lock(prevent_mutex_);
    std::erase_if(prevent_, [&](const auto& entry) { return entry.second == nexus.id; });
}

void TargetDevice::lun_reset(uint64_t lun_id) {
    if (auto l = lun(lun_id)) {
        l->reset();
    }
    copy_manager_->lun_reset(lun_id);
    std::lock_guard lock(prevent_mutex_);
    std::erase_if(prevent_, [&](const auto& entry) { return entry.first == lun_id; });
}

void TargetDevice::target_reset() {
    for (auto& [id, lun] : luns_) {
        lun->reset();
    }
    copy_manager_->clear();
    std::lock_guard lock(prevent_mutex_);
    prevent_.clear();
}

std::shared_ptr<Lun> TargetDevice::lun_by_designator(uint8_t code_set, uint8_t association,
                                                     uint8_t designator_type,
                                                     std::span<const uint8_t> designator) const {
    // Binary code set (1h), logical unit association (00b), NAA (3h), 16 bytes: the only
    // designator EXTENDED COPY resolves (extended_copy.cpp).
    if (code_set != 0x1 || association != 0x0 || designator_type != 0x3 ||
        designator.size() != 16) {
        return nullptr;
    }
    for (const auto& [id, lun] : luns_) {
        const auto naa = naa_designator(lun->settings());
        if (std::equal(naa.begin(), naa.end(), designator.begin(), designator.end())) {
            return lun;
        }
    }
    return nullptr;
}

void TargetDevice::set_medium_removal_prevented(uint64_t lun_id, uint64_t nexus_id, bool prevent) {
    std::lock_guard lock(prevent_mutex_);
    if (prevent) {
        prevent_.emplace(lun_id, nexus_id);
    } else {
        prevent_.erase({lun_id, nexus_id});
    }
}

bool TargetDevice::medium_removal_prevented(uint64_t lun_id) const {
    std::lock_guard lock(prevent_mutex_);
    auto it = prevent_.lower_bound({lun_id, 0});
    return it != prevent_.end() && it->first == lun_id;
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
