#include "target/fault/stale_images.hpp"

#include <algorithm>

namespace atsarray::fault {

void StaleImages::remember(uint64_t rule, uint64_t lba, std::span<const uint8_t> images,
                           uint32_t block_size, Clock::time_point now, Clock::time_point until) {
    const uint64_t blocks = block_size == 0 ? 0 : images.size() / block_size;
    std::lock_guard lock(mutex_);
    for (uint64_t i = 0; i < blocks; ++i) {
        const auto it = entries_.find(lba + i);
        if (it != entries_.end() && it->second.until > now) {
            continue;
        }
        if (it == entries_.end() && entries_.size() >= max_blocks_) {
            make_room(now);
        }
        Entry& e = entries_[lba + i];
        e.rule = rule;
        e.until = until;
        const auto from = images.begin() + static_cast<std::ptrdiff_t>(i * block_size);
        e.image.assign(from, from + block_size);
    }
}

// Drops every expired image; when none had expired, the one that expires first.
void StaleImages::make_room(Clock::time_point now) {
    const size_t before = entries_.size();
    std::erase_if(entries_, [now](const auto& kv) { return kv.second.until <= now; });
    if (entries_.size() == before && !entries_.empty()) {
        entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
            return a.second.until < b.second.until;
        }));
    }
}

bool StaleImages::any(uint64_t lba, uint64_t blocks, Clock::time_point now) const {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.lower_bound(lba); it != entries_.end() && it->first < lba + blocks;
         ++it) {
        if (it->second.until > now) {
            return true;
        }
    }
    return false;
}

uint64_t StaleImages::overlay(uint64_t rule, uint64_t lba, std::span<uint8_t> data,
                              uint32_t block_size, Clock::time_point now) const {
    const uint64_t blocks = block_size == 0 ? 0 : data.size() / block_size;
    uint64_t replaced = 0;
    std::lock_guard lock(mutex_);
    for (auto it = entries_.lower_bound(lba); it != entries_.end() && it->first < lba + blocks;
         ++it) {
        const Entry& e = it->second;
        if (e.rule != rule || e.until <= now || e.image.size() != block_size) {
            continue;
        }
        std::copy(e.image.begin(), e.image.end(),
                  data.begin() + static_cast<std::ptrdiff_t>((it->first - lba) * block_size));
        ++replaced;
    }
    return replaced;
}

size_t StaleImages::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace atsarray::fault
