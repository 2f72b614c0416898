#pragma once
// What a LUN's settings must meet, stated once: Lun's constructor checks them for callers that
// build a Lun directly (tests, tools), and the daemon's config checks them with the file, the key
// and a message (target/daemon/config_schema.cpp). Header-only, so the config needs no link to the
// SCSI layer.

#include <algorithm>
#include <array>
#include <cstdint>

namespace atsarray::scsi {

// SAM-5 §4.7.3: peripheral and flat space LUN addressing carry a 14-bit LUN.
inline constexpr uint64_t max_lun_id = 16383;

// SBC-4 §4.5 (logical blocks): the logical block lengths a LUN offers, those of 512n/512e and 4Kn
// disks; ESXi takes no other.
inline constexpr std::array<uint32_t, 2> block_sizes = {512, 4096};

constexpr bool valid_block_size(uint64_t bytes) {
    return std::find(block_sizes.begin(), block_sizes.end(), bytes) != block_sizes.end();
}

}  // namespace atsarray::scsi
