#include <gtest/gtest.h>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using ReadWrite = LunFixture;

std::vector<uint8_t> write10(uint32_t lba, uint16_t blocks, uint8_t flags = 0) {
    return cdb16({0x2A, flags, static_cast<uint8_t>(lba >> 24), static_cast<uint8_t>(lba >> 16),
                  static_cast<uint8_t>(lba >> 8), static_cast<uint8_t>(lba), 0,
                  static_cast<uint8_t>(blocks >> 8), static_cast<uint8_t>(blocks), 0});
}

std::vector<uint8_t> read10(uint32_t lba, uint16_t blocks, uint8_t flags = 0) {
    auto c = write10(lba, blocks, flags);
    c[0] = 0x28;
    return c;
}

TEST_F(ReadWrite, Write10ThenReadBackWithEveryReadSize) {
    const auto data = pattern(1024, 3);
    auto w = exec(write10(10, 2), data);
    EXPECT_EQ(w.status, Status::good);
    EXPECT_EQ(w.data_out_wanted, 1024u);
    EXPECT_EQ(store->last_write_offset, 5120u);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), store->data().begin() + 5120));

    auto r10 = exec(read10(10, 2));
    EXPECT_EQ(r10.status, Status::good);
    EXPECT_EQ(r10.data, data);
    auto r6 = exec(cdb16({0x08, 0, 0, 10, 2, 0}));
    EXPECT_EQ(r6.data, data);
    auto r12 = exec(cdb16({0xA8, 0, 0, 0, 0, 10, 0, 0, 0, 2, 0, 0}));
    EXPECT_EQ(r12.data, data);
    auto r16 = exec(cdb16({0x88, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 2, 0, 0}));
    EXPECT_EQ(r16.data, data);
    auto half = exec(read10(11, 1));
    EXPECT_EQ(half.data, std::vector<uint8_t>(data.begin() + 512, data.end()));
}

TEST_F(ReadWrite, Write16AndWrite12) {
    const auto a = pattern(512, 1);
    EXPECT_EQ(exec(cdb16({0x8A, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xFF, 0, 0, 0, 1, 0, 0}), a).status,
              Status::good);
    EXPECT_EQ(store->last_write_offset, 1023u * 512);
    const auto b = pattern(512, 2);
    EXPECT_EQ(exec(cdb16({0xAA, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0}), b).status, Status::good);
    EXPECT_EQ(exec(read10(4, 1)).data, b);
}

TEST_F(ReadWrite, SixByteTransferLengthZeroMeans256) {
    auto r = exec(cdb16({0x08, 0, 0, 0, 0, 0}));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data.size(), 256u * 512);
    auto w = exec(cdb16({0x0A, 0, 0, 0, 0, 0}), pattern(256 * 512, 9));
    EXPECT_EQ(w.status, Status::good);
    EXPECT_EQ(w.data_out_wanted, 256u * 512);
}

TEST_F(ReadWrite, TransferLengthZeroIsANoOp) {
    auto w = exec(write10(5, 0), {}, 0);
    EXPECT_EQ(w.status, Status::good);
    EXPECT_EQ(w.data_out_wanted, 0u);
    EXPECT_EQ(store->writes, 0);
    auto r = exec(read10(1024, 0));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_TRUE(r.data.empty());
    EXPECT_EQ(store->reads, 0);
}

TEST_F(ReadWrite, LbaOutOfRange) {
    EXPECT_CHECK(exec(read10(1023, 2)), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(read10(1025, 0)), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(write10(1024, 1), pattern(512, 0)), 0x05, 0x21, 0x00);
    auto huge = exec(cdb16({0x88, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1}));
    EXPECT_CHECK(huge, 0x05, 0x21, 0x00);
    EXPECT_EQ(store->writes, 0);
}

TEST_F(ReadWrite, ProtectFieldsAreInvalid) {
    auto r = exec(read10(0, 1, 0x20));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 0x01}));
    EXPECT_CHECK(exec(write10(0, 1, 0x40), pattern(512, 0)), 0x05, 0x24, 0x00);
    EXPECT_EQ(store->writes, 0);
}

TEST_F(ReadWrite, TransferAboveMaximumIsInvalid) {
    auto r = exec(cdb16({0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x01, 0, 0}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 0x0A}));
}

TEST_F(ReadWrite, FuaPath) {
    EXPECT_EQ(exec(write10(0, 1), pattern(512, 0)).status, Status::good);
    EXPECT_FALSE(store->last_fua);
    EXPECT_EQ(exec(write10(0, 1, 0x08), pattern(512, 0)).status, Status::good);
    EXPECT_TRUE(store->last_fua);
    EXPECT_EQ(exec(read10(0, 1, 0x18)).status, Status::good);  // DPO + FUA accepted on reads
}

TEST_F(ReadWrite, WriteCacheDisabledMakesEveryWriteFua) {
    auto s = default_settings();
    s.write_cache = false;
    make_lun(s);
    EXPECT_EQ(exec(write10(0, 1), pattern(512, 0)).status, Status::good);
    EXPECT_TRUE(store->last_fua);
}

TEST_F(ReadWrite, ReadOnlyLun) {
    auto s = default_settings();
    s.read_only = true;
    make_lun(s);
    EXPECT_CHECK(exec(write10(0, 1), pattern(512, 0)), 0x07, 0x27, 0x00);
    EXPECT_CHECK(exec(cdb16({0x2E, 0, 0, 0, 0, 0, 0, 0, 1, 0}), pattern(512, 0)), 0x07, 0x27, 0x00);
    EXPECT_EQ(store->writes, 0);
    EXPECT_EQ(exec(read10(0, 1)).status, Status::good);
}

TEST_F(ReadWrite, ResidualEdtlShorterByWholeBlocks) {
    const auto data = pattern(512, 4);
    auto w = exec(write10(0, 2), data, 512);
    EXPECT_EQ(w.status, Status::good);
    EXPECT_EQ(w.data_out_wanted, 1024u);
    EXPECT_EQ(store->last_write_size, 512u);
}

TEST_F(ReadWrite, ResidualEdtlShorterByPartialBlock) {
    // Exactly the EDTL bytes are written (libiscsi iSCSIResiduals); the transport reports the
    // overflow from data_out_wanted.
    auto w = exec(write10(0, 2), pattern(700, 4), 700);
    EXPECT_EQ(w.status, Status::good);
    EXPECT_EQ(w.data_out_wanted, 1024u);
    EXPECT_EQ(store->writes, 1);
    EXPECT_EQ(store->last_write_size, 700u);
}

TEST_F(ReadWrite, ResidualEdtlLonger) {
    auto w = exec(write10(0, 2), pattern(2048, 4), 2048);
    EXPECT_EQ(w.status, Status::good);
    EXPECT_EQ(w.data_out_wanted, 1024u);
    EXPECT_EQ(store->last_write_size, 1024u);
}

TEST_F(ReadWrite, DataOutShorterThanEdtl) {
    auto w = exec(write10(0, 2), pattern(512, 4), 1024);
    EXPECT_CHECK(w, 0x05, 0x0E, 0x03);
    EXPECT_EQ(store->writes, 0);
}

TEST_F(ReadWrite, BackendErrorsMapToSense) {
    store->fail_next = backend::StoreErrc::io_error;
    auto r = exec(read10(77, 1));
    EXPECT_CHECK(r, 0x03, 0x11, 0x00);
    ASSERT_EQ(r.sense.size(), 18u);
    EXPECT_EQ(r.sense[0], 0xF0);  // VALID: INFORMATION = LBA
    EXPECT_EQ((std::vector<uint8_t>(r.sense.begin() + 3, r.sense.begin() + 7)),
              (std::vector<uint8_t>{0, 0, 0, 77}));
    EXPECT_TRUE(r.data.empty());

    store->fail_next = backend::StoreErrc::io_error;
    EXPECT_CHECK(exec(write10(0, 1), pattern(512, 0)), 0x03, 0x0C, 0x00);
    store->fail_next = backend::StoreErrc::no_space;
    EXPECT_CHECK(exec(write10(0, 1), pattern(512, 0)), 0x07, 0x27, 0x07);
    store->fail_next = backend::StoreErrc::read_only;
    EXPECT_CHECK(exec(write10(0, 1), pattern(512, 0)), 0x07, 0x27, 0x00);
}

TEST_F(ReadWrite, VerifyWithoutCompare) {
    EXPECT_EQ(exec(cdb16({0x2F, 0, 0, 0, 0, 0, 0, 0, 4, 0})).status, Status::good);
    EXPECT_CHECK(exec(cdb16({0x2F, 0, 0, 0, 0x03, 0xFF, 0, 0, 2, 0})), 0x05, 0x21, 0x00);
}

TEST_F(ReadWrite, VerifyWithCompare) {
    const auto data = pattern(1024, 5);
    ASSERT_EQ(exec(write10(8, 2), data).status, Status::good);
    auto same = exec(cdb16({0x2F, 0x02, 0, 0, 0, 8, 0, 0, 2, 0}), data);
    EXPECT_EQ(same.status, Status::good);
    EXPECT_EQ(same.data_out_wanted, 1024u);

    auto other = data;
    other[700] ^= 0xFF;
    auto diff = exec(cdb16({0x2F, 0x02, 0, 0, 0, 8, 0, 0, 2, 0}), other);
    EXPECT_CHECK(diff, 0x0E, 0x1D, 0x00);
    ASSERT_EQ(diff.sense.size(), 18u);
    EXPECT_EQ(diff.sense[0], 0xF0);
    EXPECT_EQ((std::vector<uint8_t>(diff.sense.begin() + 3, diff.sense.begin() + 7)),
              (std::vector<uint8_t>{0, 0, 0x02, 0xBC}));

    auto v16 = exec(cdb16({0x8F, 0x02, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 2, 0, 0}), data);
    EXPECT_EQ(v16.status, Status::good);
}

TEST_F(ReadWrite, WriteAndVerifyWritesThrough) {
    const auto data = pattern(512, 6);
    auto r = exec(cdb16({0x2E, 0, 0, 0, 0, 3, 0, 0, 1, 0}), data);
    EXPECT_EQ(r.status, Status::good);
    EXPECT_TRUE(store->last_fua);
    EXPECT_EQ(exec(read10(3, 1)).data, data);
    auto bytchk = exec(cdb16({0x8E, 0x02, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0}), data);
    EXPECT_EQ(bytchk.status, Status::good);
}

TEST_F(ReadWrite, SynchronizeCache) {
    EXPECT_EQ(exec(cdb16({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0})).status, Status::good);
    EXPECT_EQ(store->flushes, 1);
    EXPECT_EQ(exec(cdb16({0x91, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0})).status,
              Status::good);
    EXPECT_EQ(store->flushes, 2);
    EXPECT_CHECK(exec(cdb16({0x35, 0, 0, 0, 0x04, 0x01, 0, 0, 0, 0})), 0x05, 0x21, 0x00);
    EXPECT_EQ(store->flushes, 2);
}

TEST_F(ReadWrite, ReadCapacity10) {
    auto r = exec(cdb16({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0, 0, 0x03, 0xFF, 0, 0, 0x02, 0}));
    auto bad = exec(cdb16({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}));
    EXPECT_CHECK(bad, 0x05, 0x24, 0x00);
}

TEST_F(ReadWrite, ReadCapacity10TooLarge) {
    auto s = default_settings(0, 0x100000001ull);
    store = std::make_shared<FakeStore>(4096, false, s.block_count * 512);
    lun = std::make_shared<Lun>(s, store);
    auto r = exec(cdb16({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x02, 0}));
    auto r16 = exec(cdb16({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}));
    EXPECT_EQ((std::vector<uint8_t>(r16.data.begin(), r16.data.begin() + 8)),
              (std::vector<uint8_t>{0, 0, 0, 0x01, 0, 0, 0, 0}));
}

TEST_F(ReadWrite, ReadCapacity16) {
    auto r = exec(cdb16({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}));
    std::vector<uint8_t> expected(32, 0);
    expected[6] = 0x03;
    expected[7] = 0xFF;
    expected[10] = 0x02;
    expected[14] = 0xC0;  // LBPME, LBPRZ
    EXPECT_EQ(r.data, expected);
    auto short_alloc = exec(cdb16({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0}));
    EXPECT_EQ(short_alloc.data, std::vector<uint8_t>(expected.begin(), expected.begin() + 12));
}

}  // namespace
}  // namespace atsarray::scsi::test
