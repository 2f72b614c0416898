#include "tools/esxi_sim/records.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "formats/vmfs_layout.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::sim {
namespace {

using initiator::load_le64;
using initiator::store_le64;

namespace hb = vmfs::hb;
namespace lk = vmfs::lock;

uint32_t load_le32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
void store_le32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        p[i] = static_cast<uint8_t>(v >> (8 * i));
    }
}

// The records fit in 512 bytes; a 4096-byte block carries zeros after them.
constexpr size_t record_bytes = vmfs::record_bytes;

}  // namespace

Sector encode(const HeartbeatSlot& slot, size_t block_size) {
    Sector s(std::max(block_size, record_bytes), 0);
    uint8_t* p = s.data();
    store_le32(p + hb::state, slot.state);
    store_le64(p + hb::addr, slot.addr);
    store_le64(p + hb::gen, slot.gen);
    store_le64(p + hb::stamp, slot.stamp_us);
    std::memcpy(p + hb::owner, slot.owner.data(), slot.owner.size());
    store_le32(p + hb::journal, slot.journal);
    store_le32(p + hb::driver_major, slot.driver_major);
    p[hb::driver_minor] = slot.driver_minor;
    s.resize(block_size);
    return s;
}

Sector encode(const LockRecord& lock, size_t block_size) {
    Sector s(std::max(block_size, record_bytes), 0);
    uint8_t* p = s.data();
    store_le32(p + lk::type, lock.type);
    store_le64(p + lk::addr, lock.addr);
    store_le64(p + lk::hb_addr, lock.hb_addr);
    store_le64(p + lk::hb_gen, lock.hb_gen);
    store_le64(p + lk::token, lock.token);
    store_le32(p + lk::mode, lock.mode);
    std::memcpy(p + lk::owner, lock.owner.data(), lock.owner.size());
    store_le64(p + lk::mtime, lock.mtime);
    store_le32(p + lk::holders, lock.holders);
    s.resize(block_size);
    return s;
}

HeartbeatSlot decode_heartbeat(const uint8_t* p) {
    HeartbeatSlot slot;
    slot.state = load_le32(p + hb::state);
    slot.addr = load_le64(p + hb::addr);
    slot.gen = load_le64(p + hb::gen);
    slot.stamp_us = load_le64(p + hb::stamp);
    std::memcpy(slot.owner.data(), p + hb::owner, slot.owner.size());
    slot.journal = load_le32(p + hb::journal);
    slot.driver_major = load_le32(p + hb::driver_major);
    slot.driver_minor = p[hb::driver_minor];
    return slot;
}

LockRecord decode_lock(const uint8_t* p) {
    LockRecord lock;
    lock.type = load_le32(p + lk::type);
    lock.addr = load_le64(p + lk::addr);
    lock.hb_addr = load_le64(p + lk::hb_addr);
    lock.hb_gen = load_le64(p + lk::hb_gen);
    lock.token = load_le64(p + lk::token);
    lock.mode = load_le32(p + lk::mode);
    std::memcpy(lock.owner.data(), p + lk::owner, lock.owner.size());
    lock.mtime = load_le64(p + lk::mtime);
    lock.holders = load_le32(p + lk::holders);
    return lock;
}

bool is_heartbeat_slot(const uint8_t* p, uint64_t addr) {
    const HeartbeatSlot slot = decode_heartbeat(p);
    return (slot.state == heartbeat_free || slot.state == heartbeat_in_use) && slot.addr == addr;
}

bool is_lock_record(const uint8_t* p, uint64_t addr) {
    const LockRecord lock = decode_lock(p);
    return lock.type >= lock_type_file_descriptor && lock.type <= lock_type_file_descriptor + 4 &&
           lock.addr == addr && lock.mode <= static_cast<uint32_t>(LockMode::multi_writer);
}

bool all_zero(const uint8_t* p, size_t n) {
    return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

Uuid make_uuid(int host_number, uint32_t boot_seconds, uint64_t random_bits) {
    Uuid u{};
    store_le32(u.data(), boot_seconds);
    store_le32(u.data() + 4, static_cast<uint32_t>(random_bits));
    u[8] = static_cast<uint8_t>(random_bits >> 32);
    u[9] = static_cast<uint8_t>(random_bits >> 40);
    const uint8_t mac[6] = {0x00,
                            0x50,
                            0x56,
                            0xa7,
                            static_cast<uint8_t>(host_number >> 8),
                            static_cast<uint8_t>(host_number)};
    std::memcpy(u.data() + 10, mac, sizeof mac);
    return u;
}

bool is_zero(const Uuid& u) {
    return all_zero(u.data(), u.size());
}

std::string uuid_string(const Uuid& u) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%08x-%04x-%02x%02x%02x%02x%02x%02x", load_le32(u.data()),
                  load_le32(u.data() + 4), static_cast<unsigned>(u[8] | u[9] << 8), u[10], u[11],
                  u[12], u[13], u[14], u[15]);
    return buf;
}

uint32_t node_id(const Uuid& u) {
    if (is_zero(u)) {
        return 0;
    }
    return 1000 + (static_cast<uint32_t>(u[14]) << 8 | u[15]);
}

std::string describe(const HeartbeatSlot& slot) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "[HB state %x offset %llu gen %llu stampUS %llu uuid %s jrnl <FB %u> drv %u.%u]",
                  slot.state, static_cast<unsigned long long>(slot.addr),
                  static_cast<unsigned long long>(slot.gen),
                  static_cast<unsigned long long>(slot.stamp_us), uuid_string(slot.owner).c_str(),
                  slot.journal, slot.driver_major, slot.driver_minor);
    return buf;
}

std::string describe(const LockRecord& lock) {
    char buf[220];
    std::snprintf(buf, sizeof buf,
                  "[type %x offset %llu v %llu, hb offset %llu gen %llu, mode %u, owner %s mtime "
                  "%llu]",
                  lock.type, static_cast<unsigned long long>(lock.addr),
                  static_cast<unsigned long long>(lock.token),
                  static_cast<unsigned long long>(lock.hb_addr),
                  static_cast<unsigned long long>(lock.hb_gen), lock.mode,
                  uuid_string(lock.owner).c_str(), static_cast<unsigned long long>(lock.mtime));
    return buf;
}

}  // namespace atsarray::sim
