#pragma once
// A block image read as the VMFS record ESXi guards with ATS (../shared/VMFS-ATS.md): a heartbeat
// slot or an on-disk lock, printed in the tuple ESXi's own logs use (REFERENCES.md, "ESXi host
// logs"), so that a miscompare's images read like the host's log lines they are joined with.
//
// The records are VMFS5's 512-byte ones, little-endian, at the start of the block (a 4 KiB block
// carries zeros after them). An image is one of them when its magic says so: a heartbeat's state
// is 0xabcdef01 (free) or 0xabcdef02 (in use); a lock's type is 0x10c00001 (file descriptor) to
// 0x10c00005 (bitmap clusters) with a mode of 0-3.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "formats/vmfs_layout.hpp"
#include "target/forensics/host_log.hpp"

namespace atsarray::forensics {

// An on-disk lock with what the log tuple prints past LockState: "num", its holder count.
struct VmfsLock {
    LockState state;
    uint32_t holders = 0;
};

// nullopt when the image is shorter than a record or its state is not a heartbeat's.
std::optional<HeartbeatState> decode_heartbeat_slot(std::span<const uint8_t> image);
// nullopt when the image is shorter than a record or its type or mode is not a lock's.
std::optional<VmfsLock> decode_lock_record(std::span<const uint8_t> image);

// "[HB state abcdef02 offset 3866624 gen 4923 stampUS 2893928361 uuid 5e8f4e64-... jrnl <FB
// 41943053> drv 24.82]".
std::string describe(const HeartbeatState& slot);
// "[type 10c00001 offset 6430720 v 41, hb offset 3866624 gen 4923, mode 1, owner 5e8f4e64-...
// mtime 1270887 num 0]".
std::string describe(const VmfsLock& lock);

// The image's tuple when it is a heartbeat slot or a lock record, else nullopt.
std::optional<std::string> describe_vmfs_image(std::span<const uint8_t> image);

// ESXi's spelling of a host UUID's 16 bytes: 5e8f4e64-3b5ad1e0-8d7e-005056aabb01 (two
// little-endian words, a little-endian half word, then the MAC address byte by byte).
std::string vmfs_uuid_string(std::span<const uint8_t, 16> bytes);

}  // namespace atsarray::forensics
