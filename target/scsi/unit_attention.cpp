#include "target/scsi/unit_attention.hpp"

#include <algorithm>

namespace atsarray::scsi {

namespace {

bool is_reset(SenseReason r) {
    return r == SenseReason::power_on_reset || r == SenseReason::bus_device_reset;
}

}  // namespace

void UnitAttentions::queue_locked(std::deque<SenseReason>& q, SenseReason reason) {
    if (is_reset(reason)) {
        // SAM-5 §6.3.1: a reset ends every condition established before it; the reset itself is
        // the one worth reporting.
        q.clear();
        q.push_back(reason);
        return;
    }
    if (std::find(q.begin(), q.end(), reason) != q.end() || q.size() >= max_pending) {
        return;
    }
    q.push_back(reason);
}

void UnitAttentions::add_nexus(uint64_t nexus_id) {
    std::lock_guard lock(mutex_);
    queue_locked(pending_[nexus_id], SenseReason::power_on_reset);
}

void UnitAttentions::remove_nexus(uint64_t nexus_id) {
    std::lock_guard lock(mutex_);
    pending_.erase(nexus_id);
}

void UnitAttentions::queue(uint64_t nexus_id, SenseReason reason) {
    std::lock_guard lock(mutex_);
    queue_locked(pending_[nexus_id], reason);
}

void UnitAttentions::queue_all(SenseReason reason) {
    std::lock_guard lock(mutex_);
    for (auto& [id, q] : pending_) {
        queue_locked(q, reason);
    }
}

void UnitAttentions::queue_all_except(uint64_t nexus_id, SenseReason reason) {
    std::lock_guard lock(mutex_);
    for (auto& [id, q] : pending_) {
        if (id != nexus_id) {
            queue_locked(q, reason);
        }
    }
}

std::optional<SenseReason> UnitAttentions::take(uint64_t nexus_id) {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(nexus_id);
    if (it == pending_.end() || it->second.empty()) {
        return std::nullopt;
    }
    SenseReason r = it->second.front();
    it->second.pop_front();
    return r;
}

void UnitAttentions::clear(uint64_t nexus_id, SenseReason reason) {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(nexus_id);
    if (it != pending_.end()) {
        std::erase(it->second, reason);
    }
}

size_t UnitAttentions::pending(uint64_t nexus_id) const {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(nexus_id);
    return it == pending_.end() ? 0 : it->second.size();
}

}  // namespace atsarray::scsi
