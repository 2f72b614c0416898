#include "target/scsi/target_device.hpp"

#include <algorithm>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "target/scsi/command_table.hpp"
#include "target/scsi/extended_copy.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {

TargetDevice::TargetDevice(std::shared_ptr<TargetPortGroups> port_groups)
    : luns_(std::make_shared<const LunSet>()),
      copy_manager_(std::make_unique<CopyManager>()),
      port_groups_(port_groups ? std::move(port_groups) : std::make_shared<TargetPortGroups>()) {}
TargetDevice::~TargetDevice() = default;

bool TargetDevice::add_lun(uint64_t lun_id, std::shared_ptr<Lun> lun, bool announce) {
    if (!lun || lun->id() != lun_id) {
        throw std::invalid_argument("TargetDevice::add_lun: LUN " + std::to_string(lun_id) +
                                    " missing or numbered differently");
    }
    std::lock_guard lock(change_mutex_);
    const auto current = luns_.load();
    if (current->luns.count(lun_id) != 0) {
        return false;
    }
    lun->attach_device(this);
    // SAM-5 §5.14: the new logical unit has no condition to report to the nexuses that exist; it
    // must know them (reservations, unit attentions to come) before a command can reach it.
    for (const auto& [id, nexus] : nexuses_) {
        lun->nexus_added(nexus);
        lun->unit_attentions().clear(id, SenseReason::power_on_reset);
    }
    auto next = std::make_shared<LunSet>(*current);
    next->luns[lun_id] = lun;
    next->ids.clear();
    for (const auto& [id, l] : next->luns) {
        next->ids.push_back(id);
    }
    luns_.store(std::move(next));
    if (announce) {
        // SPC-4 §6.33: the inventory changed; every I_T nexus hears it through the LUNs it knew.
        for (const auto& [id, l] : current->luns) {
            l->unit_attentions().queue_all(SenseReason::reported_luns_changed);
        }
    }
    return true;
}

std::shared_ptr<Lun> TargetDevice::remove_lun(uint64_t lun_id) {
    std::lock_guard lock(change_mutex_);
    const auto current = luns_.load();
    const auto it = current->luns.find(lun_id);
    if (it == current->luns.end()) {
        return nullptr;
    }
    std::shared_ptr<Lun> removed = it->second;
    auto next = std::make_shared<LunSet>(*current);
    next->luns.erase(lun_id);
    std::erase(next->ids, lun_id);
    luns_.store(next);
    removed->retire();
    for (const auto& [id, l] : next->luns) {
        l->unit_attentions().queue_all(SenseReason::reported_luns_changed);
    }
    copy_manager_->lun_reset(lun_id);
    {
        std::lock_guard prevent_lock(prevent_mutex_);
        std::erase_if(prevent_, [&](const auto& entry) { return entry.first == lun_id; });
    }
    return removed;
}

bool TargetDevice::has_lun(uint64_t lun_id) const {
    return luns_.load()->luns.count(lun_id) != 0;
}

std::vector<uint64_t> TargetDevice::lun_ids() const {
    return luns_.load()->ids;
}

std::shared_ptr<Lun> TargetDevice::lun(uint64_t lun_id) const {
    const auto set = luns_.load();
    auto it = set->luns.find(lun_id);
    return it == set->luns.end() ? nullptr : it->second;
}

size_t TargetDevice::nexus_count() const {
    std::lock_guard lock(change_mutex_);
    return nexuses_.size();
}

void TargetDevice::execute(Command& cmd, Completion done) {
    // One atomic load: the inventory of this moment, held (with its LUNs) until execute()
    // returns, whatever add_lun/remove_lun do meanwhile.
    const std::shared_ptr<const LunSet> set = luns_.load();
    const std::span<const uint64_t> inventory = set->ids;
    if (auto it = set->luns.find(cmd.lun); it != set->luns.end()) {
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
        const LunSettings* identity =
            set->luns.empty() ? nullptr : &set->luns.begin()->second->settings();
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
    std::lock_guard lock(change_mutex_);
    nexuses_.insert_or_assign(nexus.id, nexus);
    const auto set = luns_.load();  // held: the loop must not outlive the set
    for (auto& [id, lun] : set->luns) {
        lun->nexus_added(nexus);
    }
}

void TargetDevice::nexus_removed(const Nexus& nexus) {
    // SPC-2 §5.5.1: I_T nexus loss releases its RESERVE(6/10) reservation; persistent
    // registrations belong to the initiator port and stay (SPC-4 §5.13.1).
    {
        std::lock_guard lock(change_mutex_);
        nexuses_.erase(nexus.id);
        const auto set = luns_.load();
        for (auto& [id, lun] : set->luns) {
            lun->nexus_removed(nexus);
        }
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
    const auto set = luns_.load();  // held: the loop must not outlive the set
    for (auto& [id, lun] : set->luns) {
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
    const auto set = luns_.load();
    for (const auto& [id, lun] : set->luns) {
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
    const auto set = luns_.load();  // held: the loop must not outlive the set
    for (auto& [id, lun] : set->luns) {
        const backend::Status st = lun->flush();
        if (!st.ok()) {
            spdlog::error("scsi: flushing LUN {} failed: errc {} errno {}", id,
                          static_cast<int>(st.code), st.sys_errno);
        }
    }
}

}  // namespace atsarray::scsi
