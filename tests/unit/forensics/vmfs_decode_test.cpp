// A block image read as the VMFS record it holds (../shared/VMFS-ATS.md layouts), printed in the
// tuple ESXi's logs use, which the host-log parser reads back field for field.
#include "target/forensics/vmfs_decode.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace atsarray::forensics {
namespace {

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (size_t i = 0; i < 4; ++i) {
        b[at + i] = static_cast<uint8_t>(v >> (8 * i));
    }
}
void put64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
    put32(b, at, static_cast<uint32_t>(v));
    put32(b, at + 4, static_cast<uint32_t>(v >> 32));
}
// 5e8f4e64-3b5ad1e0-8d7e-005056aabb01 as VMFS stores it.
void put_uuid(std::vector<uint8_t>& b, size_t at) {
    put32(b, at, 0x5e8f4e64);
    put32(b, at + 4, 0x3b5ad1e0);
    b[at + 8] = 0x7e;
    b[at + 9] = 0x8d;
    const std::array<uint8_t, 6> mac{0x00, 0x50, 0x56, 0xaa, 0xbb, 0x01};
    std::copy(mac.begin(), mac.end(), b.begin() + static_cast<ptrdiff_t>(at + 10));
}

std::vector<uint8_t> heartbeat_slot(size_t block_size = 512) {
    std::vector<uint8_t> b(block_size, 0);
    put32(b, 0x00, 0xabcdef02);
    put64(b, 0x04, 3866624);
    put64(b, 0x0c, 4923);
    put64(b, 0x14, 2893928361);
    put_uuid(b, 0x1c);
    put32(b, 0x2c, 41943053);
    put32(b, 0x30, 24);
    b[0x34] = 82;
    return b;
}

std::vector<uint8_t> lock_record() {
    std::vector<uint8_t> b(512, 0);
    put32(b, 0x00, 0x10c00001);
    put64(b, 0x04, 6430720);
    put64(b, 0x0c, 3866624);
    put64(b, 0x14, 4923);
    put64(b, 0x1c, 41);
    put32(b, 0x24, 1);
    put_uuid(b, 0x28);
    put64(b, 0x38, 1270887);
    return b;
}

TEST(VmfsDecode, HeartbeatSlotPrintedAsEsxiLogsIt) {
    const auto image = heartbeat_slot();
    const auto slot = decode_heartbeat_slot(image);
    ASSERT_TRUE(slot.has_value());
    EXPECT_EQ(slot->state, 0xabcdef02u);
    EXPECT_EQ(slot->offset, 3866624u);
    EXPECT_EQ(slot->gen, 4923u);
    EXPECT_EQ(slot->uuid, "5e8f4e64-3b5ad1e0-8d7e-005056aabb01");
    EXPECT_EQ(describe_vmfs_image(image),
              "[HB state abcdef02 offset 3866624 gen 4923 stampUS 2893928361 uuid "
              "5e8f4e64-3b5ad1e0-8d7e-005056aabb01 jrnl <FB 41943053> drv 24.82]");
    EXPECT_FALSE(decode_lock_record(image).has_value());
}

TEST(VmfsDecode, LockRecordPrintedAsEsxiLogsIt) {
    const auto image = lock_record();
    const auto lock = decode_lock_record(image);
    ASSERT_TRUE(lock.has_value());
    EXPECT_EQ(lock->state.version, 41u);
    EXPECT_EQ(lock->state.mode, 1u);
    EXPECT_EQ(describe_vmfs_image(image),
              "[type 10c00001 offset 6430720 v 41, hb offset 3866624 gen 4923, mode 1, owner "
              "5e8f4e64-3b5ad1e0-8d7e-005056aabb01 mtime 1270887 num 0]");
    EXPECT_FALSE(decode_heartbeat_slot(image).has_value());
}

// What the recorder prints, the host-log parser reads back: a miscompare's images and the host's
// own "[HB state ...]" lines join on the same fields.
TEST(VmfsDecode, HostLogParserReadsTheTuplesBack) {
    const std::string hb = *describe_vmfs_image(heartbeat_slot());
    const ParseResult parsed = parse_host_log(
        "2026-12-07T10:00:00.000Z: [vmfsCorrelator] 3289598433us: [vob.vmfs.heartbeat.recovered] "
        "Reclaimed heartbeat for volume 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 (datastore1): "
        "[Timeout] " +
        hb + "\n");
    ASSERT_EQ(parsed.events.size(), 1u);
    ASSERT_TRUE(parsed.events[0].heartbeat.has_value());
    const HeartbeatState& back = *parsed.events[0].heartbeat;
    const HeartbeatState decoded = *decode_heartbeat_slot(heartbeat_slot());
    EXPECT_EQ(back.state, decoded.state);
    EXPECT_EQ(back.offset, decoded.offset);
    EXPECT_EQ(back.gen, decoded.gen);
    EXPECT_EQ(back.stamp_us, decoded.stamp_us);
    EXPECT_EQ(back.uuid, decoded.uuid);
    EXPECT_EQ(back.journal, decoded.journal);
    EXPECT_EQ(back.driver, decoded.driver);
}

TEST(VmfsDecode, RecordAtTheStartOfA4KiBBlock) {
    EXPECT_TRUE(decode_heartbeat_slot(heartbeat_slot(4096)).has_value());
}

TEST(VmfsDecode, NeitherRecordIsNullopt) {
    EXPECT_FALSE(describe_vmfs_image(std::vector<uint8_t>(512, 0)).has_value());
    // Too short to hold a record, whatever its first bytes say.
    auto short_slot = heartbeat_slot();
    short_slot.resize(100);
    EXPECT_FALSE(describe_vmfs_image(short_slot).has_value());
    // A lock type with a mode VMFS does not have.
    auto bad_mode = lock_record();
    put32(bad_mode, 0x24, 7);
    EXPECT_FALSE(describe_vmfs_image(bad_mode).has_value());
    // A state one off the free value.
    auto bad_state = heartbeat_slot();
    put32(bad_state, 0x00, 0xabcdef03);
    EXPECT_FALSE(describe_vmfs_image(bad_state).has_value());
}

}  // namespace
}  // namespace atsarray::forensics
