#pragma once
// The on-disk records ESXi guards with ATS on VMFS5 (../shared/VMFS-ATS.md): heartbeat slots and
// on-disk locks, one record in the first 512 bytes of a block, every field little-endian.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/vmfs_layout.hpp"

namespace atsarray::sim {

using vmfs::heartbeat_free;
using vmfs::heartbeat_in_use;
using vmfs::lock_type_file_descriptor;
// VMFS5 driver version written in a heartbeat (14.x is VMFS5).
constexpr uint32_t vmfs_driver_major = 14;
constexpr uint8_t vmfs_driver_minor = 60;

enum class LockMode : uint32_t { free = 0, exclusive = 1, read_only = 2, multi_writer = 3 };

using Uuid = std::array<uint8_t, 16>;
// One block as read from or written to the LUN (the record, then zeros).
using Sector = std::vector<uint8_t>;

struct HeartbeatSlot {
    uint32_t state = heartbeat_free;
    uint64_t addr = 0;      // the slot's own byte offset on the LUN
    uint64_t gen = 0;       // +1 on every state change (acquire, clear)
    uint64_t stamp_us = 0;  // the owner's uptime; the only field a refresh changes
    Uuid owner{};
    uint32_t journal = 0;  // "jrnl <FB n>"
    uint32_t driver_major = 0;
    uint8_t driver_minor = 0;

    bool in_use() const { return state == heartbeat_in_use; }
};

struct LockRecord {
    uint32_t type = lock_type_file_descriptor;
    uint64_t addr = 0;     // the lock's own byte offset on the LUN
    uint64_t hb_addr = 0;  // the owner's heartbeat slot
    uint64_t hb_gen = 0;   // the owner's heartbeat generation when it took the lock
    uint64_t token = 0;    // +1 on every acquire
    uint32_t mode = 0;     // LockMode
    Uuid owner{};          // zeroed on release
    uint64_t mtime = 0;    // seconds since the epoch
    uint32_t holders = 0;

    bool is_free() const { return mode == static_cast<uint32_t>(LockMode::free); }
};

Sector encode(const HeartbeatSlot& slot, size_t block_size);
Sector encode(const LockRecord& lock, size_t block_size);
HeartbeatSlot decode_heartbeat(const uint8_t* p);
LockRecord decode_lock(const uint8_t* p);

// A heartbeat slot or lock this simulator (or VMFS) formatted: known state/type and its own addr.
bool is_heartbeat_slot(const uint8_t* p, uint64_t addr);
bool is_lock_record(const uint8_t* p, uint64_t addr);
bool all_zero(const uint8_t* p, size_t n);

// A host UUID as ESXi makes one: boot time, random bits, then the host's MAC address; here
// 00:50:56:a7:hh:ll where hhll is the simulated host's number.
Uuid make_uuid(int host_number, uint32_t boot_seconds, uint64_t random_bits);
bool is_zero(const Uuid& u);
// ESXi's spelling: 5f1e3c2a-1b2c3d4e-5f60-005056a70001.
std::string uuid_string(const Uuid& u);
// The node number logs use for an owner: 1000 + the MAC's last two bytes, 0 for nobody.
uint32_t node_id(const Uuid& u);

// Log forms: "[HB state abcdef02 offset 1048576 gen 3 stampUS 123 uuid ... jrnl <FB 4104> drv
// 14.60]" and "[type 10c00001 offset 2097152 v 7, hb offset 1048576 gen 3, mode 1, owner ...
// mtime 1730000000]".
std::string describe(const HeartbeatSlot& slot);
std::string describe(const LockRecord& lock);

}  // namespace atsarray::sim
