#pragma once
// The VMFS on-disk records that ESXi drives with ATS (../shared/VMFS-ATS.md, "Slot layout" and
// "On-disk lock"): one definition for the side that writes them (tools/esxi_sim) and the side that
// reads them back out of the array's block images (target/forensics). Fields are little-endian.

#include <cstddef>
#include <cstdint>

namespace atsarray::vmfs {

// A record: one 512-byte sector (a heartbeat slot or a lock), at the start of its block.
inline constexpr size_t record_bytes = 512;

// Heartbeat slot states.
inline constexpr uint32_t heartbeat_free = 0xabcdef01;
inline constexpr uint32_t heartbeat_in_use = 0xabcdef02;
// On-disk lock types: a file descriptor's lock; 0x10c00002-05 are bitmap clusters.
inline constexpr uint32_t lock_type_file_descriptor = 0x10c00001;
inline constexpr uint32_t lock_type_last = 0x10c00005;
// Lock modes: 0 free, 1 exclusive, 2 read-only, 3 multi-writer.
inline constexpr uint32_t lock_mode_last = 3;

// Heartbeat slot fields' byte offsets.
namespace hb {
inline constexpr size_t state = 0x00;
inline constexpr size_t addr = 0x04;
inline constexpr size_t gen = 0x0c;
inline constexpr size_t stamp = 0x14;
inline constexpr size_t owner = 0x1c;
inline constexpr size_t journal = 0x2c;
inline constexpr size_t driver_major = 0x30;
inline constexpr size_t driver_minor = 0x34;
}  // namespace hb

// Lock record fields' byte offsets.
namespace lock {
inline constexpr size_t type = 0x00;
inline constexpr size_t addr = 0x04;
inline constexpr size_t hb_addr = 0x0c;
inline constexpr size_t hb_gen = 0x14;
inline constexpr size_t token = 0x1c;
inline constexpr size_t mode = 0x24;
inline constexpr size_t owner = 0x28;
inline constexpr size_t mtime = 0x38;
inline constexpr size_t holders = 0x40;
}  // namespace lock

}  // namespace atsarray::vmfs
