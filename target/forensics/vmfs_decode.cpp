#include "target/forensics/vmfs_decode.hpp"

#include <cstdio>

#include "formats/vmfs_layout.hpp"

namespace atsarray::forensics {
namespace {

namespace hb = vmfs::hb;
namespace lk = vmfs::lock;

uint32_t le32(std::span<const uint8_t> p, size_t at) {
    return static_cast<uint32_t>(p[at]) | static_cast<uint32_t>(p[at + 1]) << 8 |
           static_cast<uint32_t>(p[at + 2]) << 16 | static_cast<uint32_t>(p[at + 3]) << 24;
}

uint64_t le64(std::span<const uint8_t> p, size_t at) {
    return static_cast<uint64_t>(le32(p, at)) | static_cast<uint64_t>(le32(p, at + 4)) << 32;
}

std::string uuid_at(std::span<const uint8_t> p, size_t at) {
    return vmfs_uuid_string(p.subspan(at).first<16>());
}

}  // namespace

std::string vmfs_uuid_string(std::span<const uint8_t, 16> u) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%08x-%04x-%02x%02x%02x%02x%02x%02x", le32(u, 0),
                  le32(u, 4), static_cast<unsigned>(u[8] | u[9] << 8), u[10], u[11], u[12], u[13],
                  u[14], u[15]);
    return buf;
}

std::optional<HeartbeatState> decode_heartbeat_slot(std::span<const uint8_t> image) {
    if (image.size() < vmfs::record_bytes) {
        return std::nullopt;
    }
    HeartbeatState slot;
    slot.state = le32(image, hb::state);
    if (slot.state != vmfs::heartbeat_free && slot.state != vmfs::heartbeat_in_use) {
        return std::nullopt;
    }
    slot.offset = le64(image, hb::addr);
    slot.gen = le64(image, hb::gen);
    slot.stamp_us = le64(image, hb::stamp);
    slot.uuid = uuid_at(image, hb::owner);
    slot.journal = le32(image, hb::journal);
    // "drv 24.82": the major version's word, then one byte of minor version.
    slot.driver = std::to_string(le32(image, hb::driver_major)) + "." +
                  std::to_string(image[hb::driver_minor]);
    return slot;
}

std::optional<VmfsLock> decode_lock_record(std::span<const uint8_t> image) {
    if (image.size() < vmfs::record_bytes) {
        return std::nullopt;
    }
    VmfsLock lock;
    LockState& s = lock.state;
    s.type = le32(image, lk::type);
    s.mode = le32(image, lk::mode);
    if (s.type < vmfs::lock_type_file_descriptor || s.type > vmfs::lock_type_last ||
        s.mode > vmfs::lock_mode_last) {
        return std::nullopt;
    }
    s.offset = le64(image, lk::addr);
    s.hb_offset = le64(image, lk::hb_addr);
    s.hb_gen = le64(image, lk::hb_gen);
    s.version = le64(image, lk::token);
    s.owner = uuid_at(image, lk::owner);
    s.mtime = le64(image, lk::mtime);
    lock.holders = le32(image, lk::holders);
    return lock;
}

std::string describe(const HeartbeatState& slot) {
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "[HB state %x offset %llu gen %llu stampUS %llu uuid %s jrnl <FB %u> drv %s]",
                  slot.state, static_cast<unsigned long long>(slot.offset),
                  static_cast<unsigned long long>(slot.gen),
                  static_cast<unsigned long long>(slot.stamp_us), slot.uuid.c_str(), slot.journal,
                  slot.driver.c_str());
    return buf;
}

std::string describe(const VmfsLock& lock) {
    const LockState& s = lock.state;
    char buf[260];
    std::snprintf(buf, sizeof buf,
                  "[type %x offset %llu v %llu, hb offset %llu gen %llu, mode %u, owner %s mtime "
                  "%llu num %u]",
                  s.type, static_cast<unsigned long long>(s.offset),
                  static_cast<unsigned long long>(s.version),
                  static_cast<unsigned long long>(s.hb_offset),
                  static_cast<unsigned long long>(s.hb_gen), s.mode, s.owner.c_str(),
                  static_cast<unsigned long long>(s.mtime), lock.holders);
    return buf;
}

std::optional<std::string> describe_vmfs_image(std::span<const uint8_t> image) {
    if (auto slot = decode_heartbeat_slot(image)) {
        return describe(*slot);
    }
    if (auto lock = decode_lock_record(image)) {
        return describe(*lock);
    }
    return std::nullopt;
}

}  // namespace atsarray::forensics
