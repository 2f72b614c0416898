// WRITE ATOMIC(16) (SBC-4 §5.48): the write itself, the CDB checks with their exact sense, what
// VPD B0 and REPORT SUPPORTED OPERATION CODES advertise, and that concurrent reads see either
// all old or all new data.

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "target/scsi/cdb.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using WriteAtomic = LunFixture;

std::vector<uint8_t> write_atomic16(uint64_t lba, uint16_t blocks, uint8_t byte1 = 0,
                                    uint16_t boundary = 0) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x9C;
    c[1] = byte1;
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[10] = static_cast<uint8_t>(boundary >> 8);
    c[11] = static_cast<uint8_t>(boundary);
    c[12] = static_cast<uint8_t>(blocks >> 8);
    c[13] = static_cast<uint8_t>(blocks);
    return c;
}

std::vector<uint8_t> read16(uint64_t lba, uint8_t blocks) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x88;
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[13] = blocks;
    return c;
}

TEST_F(WriteAtomic, WritesTheBlocks) {
    const auto data = pattern(3 * 512, 9);
    const Result r = exec(write_atomic16(10, 3), data);
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data_out_wanted, 3u * 512);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), store->data().begin() + 10 * 512));
    EXPECT_EQ(store->writes, 1);
}

TEST_F(WriteAtomic, DpoAndFuaAreAcceptedAndFuaWritesThrough) {
    EXPECT_EQ(exec(write_atomic16(0, 1, 0x10), pattern(512, 1)).status, Status::good);
    EXPECT_EQ(exec(write_atomic16(0, 1, 0x18), pattern(512, 1)).status, Status::good);
    EXPECT_TRUE(store->last_fua);
}

TEST_F(WriteAtomic, ZeroBlocksIsGoodAndWritesNothing) {
    EXPECT_EQ(exec(write_atomic16(0, 0)).status, Status::good);
    EXPECT_EQ(exec(write_atomic16(1024, 0)).status, Status::good);
    EXPECT_EQ(store->writes, 0);
    EXPECT_CHECK(exec(write_atomic16(1025, 0)), 0x05, 0x21, 0x00);
}

TEST_F(WriteAtomic, WrprotectIsAnInvalidField) {
    for (uint8_t wp = 1; wp < 8; ++wp) {
        const Result r = exec(write_atomic16(0, 1, static_cast<uint8_t>(wp << 5)), pattern(512, 1));
        EXPECT_CHECK(r, 0x05, 0x24, 0x00);
        EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 0x01}));
    }
    EXPECT_EQ(store->writes, 0);
}

TEST_F(WriteAtomic, NonzeroAtomicBoundaryIsAnInvalidField) {
    const Result r = exec(write_atomic16(0, 1, 0, 1), pattern(512, 1));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 0x0A}));
}

TEST_F(WriteAtomic, AboveMaximumAtomicTransferLengthIsAnInvalidField) {
    // 8 MiB MAXIMUM TRANSFER LENGTH / 512 = 16384 blocks; a LUN large enough that the range fits.
    make_lun(default_settings(0, 32768));
    const Result r = exec(write_atomic16(0, 16385), {}, 0);
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 0x0C}));
    EXPECT_EQ(r.data_out_wanted, 16385u * 512);
}

TEST_F(WriteAtomic, BeyondTheEndIsLbaOutOfRange) {
    EXPECT_CHECK(exec(write_atomic16(1023, 2), pattern(1024, 1)), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(write_atomic16(0x8000000000000000ull, 1), pattern(512, 1)), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(write_atomic16(~0ull, 1), pattern(512, 1)), 0x05, 0x21, 0x00);
    EXPECT_EQ(store->writes, 0);
}

TEST_F(WriteAtomic, BlockLimitsAdvertiseTheAtomicFields) {
    const Result r = exec(cdb16({0x12, 0x01, 0xB0, 0x00, 0xFF, 0x00}));
    ASSERT_EQ(r.data.size(), 64u);
    EXPECT_EQ(get_be32(r.data, 44), 16384u);  // MAXIMUM ATOMIC TRANSFER LENGTH
    EXPECT_EQ(get_be32(r.data, 48), 0u);      // ATOMIC ALIGNMENT: none
    EXPECT_EQ(get_be32(r.data, 52), 0u);      // ATOMIC TRANSFER LENGTH GRANULARITY: none
    EXPECT_EQ(get_be32(r.data, 56), 0u);      // no ATOMIC BOUNDARY support
    EXPECT_EQ(get_be32(r.data, 60), 0u);
    EXPECT_LE(get_be32(r.data, 44), get_be32(r.data, 8));
}

TEST_F(WriteAtomic, ReportSupportedOpcodesShowsDpoFuaUsage) {
    const Result r = exec(cdb16({0xA3, 0x0C, 0x01, 0x9C, 0, 0, 0, 0, 0, 0xFF, 0, 0}));
    ASSERT_EQ(r.status, Status::good);
    ASSERT_EQ(r.data.size(), 20u);
    EXPECT_EQ(r.data[1], 0x03);  // SUPPORT 011b
    EXPECT_EQ(get_be16(r.data, 2), 16u);
    EXPECT_EQ(r.data[4], 0x9C);
    EXPECT_EQ(r.data[5], 0xF8);  // WRPROTECT, DPO, FUA
}

// A reader racing 64-block atomic writes of alternating patterns sees one pattern throughout.
TEST_F(WriteAtomic, ConcurrentReadsSeeAllOldOrAllNew) {
    constexpr uint8_t block_count = 64;
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int i = 0; i < 200; ++i) {
            const std::vector<uint8_t> fill(block_count * 512,
                                            static_cast<uint8_t>(i % 2 ? 0xAA : 0x55));
            Request req;
            req.cdb = write_atomic16(0, block_count);
            req.nexus = &nexus;
            req.data_out = fill;
            EXPECT_EQ(run(*lun, req).status, Status::good);
        }
        stop = true;
    });
    int torn = 0;
    while (!stop) {
        Request req;
        req.cdb = read16(0, block_count);
        req.nexus = &nexus;
        const Result r = run(*lun, req);
        ASSERT_EQ(r.status, Status::good);
        if (std::adjacent_find(r.data.begin(), r.data.end(), std::not_equal_to<>()) !=
            r.data.end()) {
            ++torn;
        }
    }
    writer.join();
    EXPECT_EQ(torn, 0);
}

}  // namespace
}  // namespace atsarray::scsi::test
