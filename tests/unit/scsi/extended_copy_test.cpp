// EXTENDED COPY(LID1) and RECEIVE COPY RESULTS (extended_copy.cpp) through a TargetDevice with
// two LUNs of different block sizes, and a second target whose LUN must stay unreachable.

#include <gtest/gtest.h>

#include "target/scsi/cdb.hpp"
#include "target/scsi/extended_copy.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

LunSettings settings(uint64_t id, uint32_t block_size, uint64_t blocks, std::string target) {
    LunSettings s = default_settings(id, blocks);
    s.block_size = block_size;
    s.target_name = std::move(target);
    return s;
}

std::array<uint8_t, 32> cscd(const LunSettings& s, uint8_t type = 0xE4, uint8_t byte1 = 0) {
    std::array<uint8_t, 32> d{};
    d[0] = type;
    d[1] = byte1;
    d[4] = 0x01;  // binary
    d[5] = 0x03;  // logical unit association, NAA
    d[7] = 16;
    const auto naa = derive_naa_designator(s.target_name, s.serial);
    std::copy(naa.begin(), naa.end(), d.begin() + 8);
    put_be24(d, 29, s.block_size);
    return d;
}

std::array<uint8_t, 28> segment(uint16_t src, uint16_t dst, uint16_t blocks, uint64_t src_lba,
                                uint64_t dst_lba, uint8_t type = 0x02) {
    std::array<uint8_t, 28> d{};
    d[0] = type;
    put_be16(d, 2, 0x18);
    put_be16(d, 4, src);
    put_be16(d, 6, dst);
    put_be16(d, 10, blocks);
    put_be64(d, 12, src_lba);
    put_be64(d, 20, dst_lba);
    return d;
}

struct ParameterList {
    uint8_t list_id = 1;
    uint8_t usage = 0;  // hold
    std::vector<std::array<uint8_t, 32>> cscds;
    std::vector<std::array<uint8_t, 28>> segments;

    std::vector<uint8_t> bytes() const {
        std::vector<uint8_t> p(16, 0);
        p[0] = list_id;
        p[1] = static_cast<uint8_t>(usage << 3);
        put_be16(p, 2, static_cast<uint16_t>(32 * cscds.size()));
        put_be32(p, 8, static_cast<uint32_t>(28 * segments.size()));
        for (const auto& c : cscds) {
            p.insert(p.end(), c.begin(), c.end());
        }
        for (const auto& s : segments) {
            p.insert(p.end(), s.begin(), s.end());
        }
        return p;
    }
};

std::vector<uint8_t> xcopy_cdb(size_t length) {
    auto c = cdb16({0x83, 0x00});
    put_be32(c, 10, static_cast<uint32_t>(length));
    return c;
}

std::vector<uint8_t> rcr_cdb(uint8_t action, uint8_t list_id) {
    auto c = cdb16({0x84, action, list_id});
    put_be32(c, 10, 1024);
    return c;
}

class ExtendedCopy : public ::testing::Test {
  protected:
    void SetUp() override {
        store0 = std::make_shared<FakeStore>(512 * 256);
        store1 = std::make_shared<FakeStore>(4096 * 64);
        other_store = std::make_shared<FakeStore>(512 * 256);
        device.add_lun(0, std::make_shared<Lun>(s0, store0));
        device.add_lun(1, std::make_shared<Lun>(s1, store1));
        other.add_lun(0, std::make_shared<Lun>(s_other, other_store));
    }

    Result exec(uint64_t lun, std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {}) {
        Request r{std::move(cdb), lun, &nexus, std::nullopt, std::move(data_out)};
        Result res = run(device, r);
        EXPECT_EQ(res.completions, 1);
        return res;
    }
    Result xcopy(const ParameterList& p, uint64_t lun = 0) {
        auto bytes = p.bytes();
        return exec(lun, xcopy_cdb(bytes.size()), bytes);
    }

    LunSettings s0 = settings(0, 512, 256, "iqn.test:a");
    LunSettings s1 = settings(1, 4096, 64, "iqn.test:a");
    LunSettings s_other = settings(0, 512, 256, "iqn.test:b");
    std::shared_ptr<FakeStore> store0, store1, other_store;
    TargetDevice device;
    TargetDevice other;
    Nexus nexus{9, "iqn.test:init", "iqn.test:init,i,0x1", "127.0.0.1:1", 1};
};

TEST_F(ExtendedCopy, CopiesBetweenLunsOfTheTargetWithDifferentBlockSizes) {
    const auto data = pattern(512 * 16, 3);
    std::copy(data.begin(), data.end(), store0->data().begin() + 512 * 8);
    ParameterList p;
    p.cscds = {cscd(s0), cscd(s1)};
    p.segments = {segment(0, 1, 16, 8, 2)};  // 16 source blocks = 2 destination blocks
    auto r = xcopy(p);
    ASSERT_EQ(r.status, Status::good);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), store1->data().begin() + 4096 * 2));

    auto status = exec(0, rcr_cdb(0x00, 1));
    ASSERT_EQ(status.status, Status::good);
    ASSERT_EQ(status.data.size(), 12u);
    EXPECT_EQ(status.data[4], 0x01);  // completed without error
    EXPECT_EQ(get_be16(status.data, 5), 1);
    EXPECT_EQ(get_be32(status.data, 8), 512u * 16);
    EXPECT_EQ(exec(0, rcr_cdb(0x01, 1)).data, (std::vector<uint8_t>{0, 0, 0, 0}));
    EXPECT_EQ(exec(0, rcr_cdb(0x04, 1)).data.size(), 60u);
    // Held per LUN and I_T nexus: another LUN knows nothing of list 1.
    EXPECT_CHECK(exec(1, rcr_cdb(0x00, 1)), 0x05, 0x24, 0x00);
}

TEST_F(ExtendedCopy, OverlappingCopyOnOneLunIsAMemmove) {
    const auto data = pattern(512 * 8, 1);
    std::copy(data.begin(), data.end(), store0->data().begin());
    ParameterList p;
    p.cscds = {cscd(s0)};
    p.segments = {segment(0, 0, 8, 0, 4)};
    ASSERT_EQ(xcopy(p).status, Status::good);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), store0->data().begin() + 512 * 4));
}

TEST_F(ExtendedCopy, AnotherTargetsLunIsUnreachable) {
    // REFERENCES.md, LIO CVE-2020-28374: the copy manager resolves only its own target's LUNs.
    ParameterList p;
    p.cscds = {cscd(s0), cscd(s_other)};
    p.segments = {segment(0, 1, 1, 0, 0)};
    EXPECT_CHECK(xcopy(p), 0x0A, 0x08, 0x04);
    EXPECT_EQ(other_store->writes, 0);
    p.segments = {segment(1, 0, 1, 0, 0)};
    EXPECT_CHECK(xcopy(p), 0x0A, 0x08, 0x04);
    EXPECT_EQ(other_store->reads, 0);
}

TEST_F(ExtendedCopy, ParameterListChecks) {
    ParameterList p;
    p.cscds = {cscd(s0)};
    p.segments = {segment(0, 0, 1, 0, 1)};
    auto bytes = p.bytes();
    // PARAMETER LIST LENGTH 0 is not an error.
    EXPECT_EQ(exec(0, xcopy_cdb(0)).status, Status::good);
    // Truncated in the CSCD and in the segment descriptor list.
    for (size_t n : {16u + 31u, 16u + 32u + 27u, 8u}) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_CHECK(exec(0, xcopy_cdb(n), cut), 0x05, 0x1A, 0x00);
    }
    ParameterList many = p;
    many.cscds.assign(xcopy::max_cscd_descriptors + 1, cscd(s0));
    EXPECT_CHECK(xcopy(many), 0x05, 0x26, 0x06);
    many = p;
    many.segments.assign(xcopy::max_segment_descriptors + 1, segment(0, 0, 1, 0, 1));
    EXPECT_CHECK(xcopy(many), 0x05, 0x26, 0x08);
    many.cscds.assign(xcopy::max_cscd_descriptors + 1, cscd(s0));
    EXPECT_CHECK(xcopy(many), 0x05, 0x1A, 0x00);  // above MAXIMUM DESCRIPTOR LIST LENGTH

    ParameterList fc = p;
    fc.cscds = {cscd(s0, 0xE0)};
    EXPECT_CHECK(xcopy(fc), 0x05, 0x26, 0x07);
    ParameterList stream = p;
    stream.segments = {segment(0, 0, 1, 0, 1, 0x03)};
    EXPECT_CHECK(xcopy(stream), 0x05, 0x26, 0x09);
    ParameterList reserved_usage = p;
    reserved_usage.usage = 1;
    EXPECT_CHECK(xcopy(reserved_usage), 0x05, 0x26, 0x00);
    // SPC-4: LU ID TYPE and NUL are obsolete and ignored.
    ParameterList lu_id = p;
    lu_id.cscds = {cscd(s0, 0xE4, 0x80 | 0x20)};
    EXPECT_EQ(xcopy(lu_id).status, Status::good);
}

TEST_F(ExtendedCopy, SegmentChecksAbortTheCopy) {
    ParameterList p;
    p.cscds = {cscd(s0)};
    p.segments = {segment(0, 1, 1, 0, 0)};  // no CSCD descriptor 1
    EXPECT_CHECK(xcopy(p), 0x0A, 0x08, 0x04);
    p.segments = {segment(0, 0, 2, 0, 255)};  // past the end of the destination
    EXPECT_CHECK(xcopy(p), 0x0A, 0x00, 0x00);
    p.cscds = {cscd(s0), cscd(s1)};
    p.segments = {segment(0, 1, 1, 0, 0)};  // 512 bytes are not a whole 4096-byte block
    EXPECT_CHECK(xcopy(p), 0x0A, 0x00, 0x00);
    EXPECT_EQ(store1->writes, 0);
}

TEST_F(ExtendedCopy, WriteProtectedDestination) {
    auto lun = device.lun(1);
    ModeState m = lun->mode();
    m.software_write_protect = true;
    lun->set_mode(m, nexus.id);
    ParameterList p;
    p.cscds = {cscd(s0), cscd(s1)};
    p.segments = {segment(0, 1, 8, 0, 0)};
    EXPECT_CHECK(xcopy(p), 0x07, 0x27, 0x00);
    EXPECT_EQ(store1->writes, 0);
    // A write-protected LUN may still receive the command and be copied from.
    p.segments = {segment(1, 0, 1, 0, 0)};
    EXPECT_EQ(xcopy(p, 1).status, Status::good);
    // DC=1: NUMBER OF BLOCKS counts destination (512-byte) blocks, not a whole source block.
    p.segments[0][1] = 0x02;
    EXPECT_CHECK(xcopy(p, 1), 0x0A, 0x00, 0x00);
}

TEST_F(ExtendedCopy, CopyResultsAndOperatingParameters) {
    EXPECT_CHECK(exec(0, rcr_cdb(0x00, 7)), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(0, rcr_cdb(0x02, 0)), 0x05, 0x24, 0x00);  // no such service action
    auto op = exec(0, rcr_cdb(0x03, 0));
    ASSERT_EQ(op.status, Status::good);
    ASSERT_EQ(op.data.size(), 46u);
    EXPECT_EQ(get_be32(op.data, 0), 42u);
    EXPECT_EQ(get_be16(op.data, 8), xcopy::max_cscd_descriptors);
    EXPECT_EQ(get_be16(op.data, 10), xcopy::max_segment_descriptors);
    EXPECT_EQ(get_be32(op.data, 12), xcopy::max_descriptor_list_length);
    EXPECT_EQ(get_be32(op.data, 16), xcopy::max_segment_length);
    EXPECT_EQ(op.data[43], 2);
    EXPECT_EQ(op.data[44], 0x02);
    EXPECT_EQ(op.data[45], 0xE4);

    // A failed held copy reports COPY ABORTED in FAILED SEGMENT DETAILS; a discarded one is gone.
    ParameterList p;
    p.list_id = 5;
    p.cscds = {cscd(s0)};
    p.segments = {segment(0, 0, 1, 0, 1)};
    store0->fail_next = backend::StoreErrc::io_error;
    EXPECT_CHECK(xcopy(p), 0x0A, 0x00, 0x00);
    auto status = exec(0, rcr_cdb(0x00, 5));
    EXPECT_EQ(status.data[4], 0x02);
    auto failed = exec(0, rcr_cdb(0x04, 5));
    ASSERT_EQ(failed.data.size(), 60u + 18u);
    EXPECT_EQ(failed.data[56], 0x02);  // CHECK CONDITION
    EXPECT_EQ(failed.data[60 + 2] & 0x0F, 0x0A);
    p.usage = 2;  // discard
    EXPECT_EQ(xcopy(p).status, Status::good);
    EXPECT_CHECK(exec(0, rcr_cdb(0x00, 5)), 0x05, 0x24, 0x00);
    // I_T nexus loss drops what was held for it.
    p.usage = 0;
    ASSERT_EQ(xcopy(p).status, Status::good);
    device.nexus_removed(nexus);
    EXPECT_CHECK(exec(0, rcr_cdb(0x00, 5)), 0x05, 0x24, 0x00);
}

TEST_F(ExtendedCopy, ThirdPartyCopyVpdPage) {
    auto r = exec(0, cdb16({0x12, 0x01, 0x8F, 0x04, 0x00, 0}));
    ASSERT_EQ(r.status, Status::good);
    ASSERT_GE(r.data.size(), 8u);
    EXPECT_EQ(get_be16(r.data, 2) + 4u, r.data.size());
    // Walk the descriptors: each a multiple of 4 bytes; the first is Supported Commands naming
    // EXTENDED COPY and RECEIVE COPY RESULTS with COPY STATUS.
    std::vector<uint16_t> types;
    for (size_t at = 4; at < r.data.size();) {
        types.push_back(get_be16(r.data, at));
        const size_t length = 4 + get_be16(r.data, at + 2);
        EXPECT_EQ(length % 4, 0u);
        at += length;
    }
    EXPECT_EQ(types, (std::vector<uint16_t>{0x0001, 0x0004, 0x0008, 0x000C, 0x8001}));
    EXPECT_EQ(r.data[8], 9);
    EXPECT_EQ(r.data[9], 0x83);
    EXPECT_EQ(r.data[12], 0x84);
}

}  // namespace
}  // namespace atsarray::scsi::test
