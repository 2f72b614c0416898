#pragma once
// The old block images a stale_read rule serves (fault.hpp): per LUN, kept from the moment a write
// in the rule's range replaced them until the rule's stale time has passed. Bounded: at most
// `max_blocks` images are kept; when full, the one that would expire first makes room.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <vector>

namespace atsarray::fault {

class StaleImages {
  public:
    using Clock = std::chrono::steady_clock;

    explicit StaleImages(size_t max_blocks = 16384) : max_blocks_(max_blocks) {}

    // Keeps `images` (consecutive blocks of `block_size` bytes from `lba`, as they were before a
    // write at `now`) for reads until `until`. A block that already has an unexpired image keeps
    // it: the stale cache still holds what it held before the first write it missed.
    void remember(uint64_t rule, uint64_t lba, std::span<const uint8_t> images, uint32_t block_size,
                  Clock::time_point now, Clock::time_point until);

    // True when some block of [lba, lba + blocks) has an unexpired image.
    bool any(uint64_t lba, uint64_t blocks, Clock::time_point now) const;

    // Writes the unexpired images that rule `rule` kept over the read's data (consecutive blocks
    // from `lba`); returns how many blocks were replaced.
    uint64_t overlay(uint64_t rule, uint64_t lba, std::span<uint8_t> data, uint32_t block_size,
                     Clock::time_point now) const;

    size_t size() const;
    size_t max_blocks() const { return max_blocks_; }

  private:
    struct Entry {
        uint64_t rule = 0;
        Clock::time_point until{};
        std::vector<uint8_t> image;
    };
    void make_room(Clock::time_point now);

    const size_t max_blocks_;
    mutable std::mutex mutex_;
    std::map<uint64_t, Entry> entries_;  // by LBA
};

}  // namespace atsarray::fault
