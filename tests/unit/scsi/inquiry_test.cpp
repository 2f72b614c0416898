#include <gtest/gtest.h>

#include <string>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using Inquiry = LunFixture;

std::vector<uint8_t> ascii(const std::string& s) {
    return {s.begin(), s.end()};
}

std::vector<uint8_t> expected_standard(uint8_t peripheral) {
    std::vector<uint8_t> d(74, 0);
    d[0] = peripheral;
    d[2] = 0x06;
    d[3] = 0x12;
    d[4] = 69;
    d[5] = 0x18;  // TPGS 01b (implicit ALUA), 3PC
    d[7] = 0x02;
    const auto id = ascii("ATSARRAYVIRTUAL-DISK    0001");
    std::copy(id.begin(), id.end(), d.begin() + 8);
    const std::vector<uint8_t> versions{0x00, 0xA0, 0x09, 0x60, 0x04, 0x60, 0x04, 0xC0};
    std::copy(versions.begin(), versions.end(), d.begin() + 58);
    return d;
}

TEST_F(Inquiry, StandardData) {
    auto r = exec(cdb16({0x12, 0, 0, 0, 0xFF, 0}));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data, expected_standard(0x00));
}

TEST_F(Inquiry, AllocationLengthTruncates) {
    auto r = exec(cdb16({0x12, 0, 0, 0, 36, 0}));
    EXPECT_EQ(r.status, Status::good);
    auto full = expected_standard(0x00);
    EXPECT_EQ(r.data, std::vector<uint8_t>(full.begin(), full.begin() + 36));
    r = exec(cdb16({0x12, 0, 0, 0, 0, 0}));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_TRUE(r.data.empty());
}

TEST_F(Inquiry, PageCodeWithoutEvpdIsInvalid) {
    auto r = exec(cdb16({0x12, 0, 0x80, 0, 0xFF, 0}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 0x02}));
}

TEST_F(Inquiry, CmdDtBitIsReserved) {
    auto r = exec(cdb16({0x12, 0x02, 0, 0, 0xFF, 0}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xC9, 0x00, 0x01}));
}

TEST_F(Inquiry, SupportedVpdPages) {
    auto r = exec(cdb16({0x12, 1, 0x00, 0, 0xFF, 0}));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data,
              (std::vector<uint8_t>{0, 0, 0, 8, 0x00, 0x80, 0x83, 0x86, 0x8F, 0xB0, 0xB1, 0xB2}));
}

TEST_F(Inquiry, UnitSerialNumber) {
    auto r = exec(cdb16({0x12, 1, 0x80, 0, 0xFF, 0}));
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0, 0x80, 0, 4, 'S', 'E', 'R', '0'}));
}

TEST_F(Inquiry, UnsupportedVpdPage) {
    auto r = exec(cdb16({0x12, 1, 0x99, 0, 0xFF, 0}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 0x02}));
}

TEST_F(Inquiry, DeviceIdentification) {
    auto r = exec(cdb16({0x12, 1, 0x83, 0, 0xFF, 0}));
    ASSERT_EQ(r.status, Status::good);
    ASSERT_EQ(r.data.size(), 56u);
    EXPECT_EQ((std::vector<uint8_t>(r.data.begin(), r.data.begin() + 4)),
              (std::vector<uint8_t>{0x00, 0x83, 0x00, 0x34}));
    // NAA designator: binary, LU association, type 3, 16 bytes, NAA 6 + company ID 001405h.
    EXPECT_EQ((std::vector<uint8_t>(r.data.begin() + 4, r.data.begin() + 11)),
              (std::vector<uint8_t>{0x01, 0x03, 0x00, 0x10, 0x60, 0x01, 0x40}));
    EXPECT_EQ(r.data[11] & 0xF0, 0x50);
    const auto naa = derive_naa_designator("iqn.2024-01.org.atsarray:test", "SER0");
    EXPECT_TRUE(std::equal(naa.begin(), naa.end(), r.data.begin() + 8));
    // T10 vendor ID designator.
    std::vector<uint8_t> t10{0x02, 0x01, 0x00, 0x0C};
    auto text = ascii("ATSARRAYSER0");
    t10.insert(t10.end(), text.begin(), text.end());
    EXPECT_EQ((std::vector<uint8_t>(r.data.begin() + 24, r.data.begin() + 40)), t10);
    // Relative target port and target port group.
    EXPECT_EQ((std::vector<uint8_t>(r.data.begin() + 40, r.data.end())),
              (std::vector<uint8_t>{0x51, 0x94, 0, 4, 0, 0, 0, 1, 0x51, 0x95, 0, 4, 0, 0, 0, 1}));
}

TEST(NaaDesignator, StableForTheSameInputs) {
    const auto a = derive_naa_designator("iqn.a", "S1");
    const auto b = derive_naa_designator("iqn.a", "S1");
    EXPECT_EQ(a, b);
    EXPECT_NE(a, derive_naa_designator("iqn.a", "S2"));
    EXPECT_NE(a, derive_naa_designator("iqn.b", "S1"));
    // The separator keeps ("ab","c") and ("a","bc") apart.
    EXPECT_NE(derive_naa_designator("ab", "c"), derive_naa_designator("a", "bc"));
    EXPECT_EQ(a[0] >> 4, 6);
}

TEST_F(Inquiry, NaaIsTheSameAcrossLunInstances) {
    auto first = exec(cdb16({0x12, 1, 0x83, 0, 0xFF, 0}));
    make_lun(default_settings());
    auto second = exec(cdb16({0x12, 1, 0x83, 0, 0xFF, 0}));
    EXPECT_EQ(first.data, second.data);
}

TEST_F(Inquiry, BlockLimits) {
    auto r = exec(cdb16({0x12, 1, 0xB0, 0, 0xFF, 0}));
    ASSERT_EQ(r.data.size(), 64u);
    std::vector<uint8_t> expected(64, 0);
    expected[1] = 0xB0;
    expected[3] = 0x3C;
    expected[4] = 0x01;  // WSNZ
    expected[5] = 1;     // MAXIMUM COMPARE AND WRITE LENGTH (ATS)
    expected[7] = 1;
    expected[10] = 0x40;  // 16384 blocks = 8 MiB
    expected[14] = 0x08;  // 2048 blocks = 1 MiB
    expected[21] = 0x10;  // MAXIMUM UNMAP LBA COUNT 2^20
    expected[26] = 0x01;  // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT 256
    expected[31] = 0x01;  // OPTIMAL UNMAP GRANULARITY: the FakeStore has no allocation unit
    expected[42] = 0xFF;  // MAXIMUM WRITE SAME LENGTH 0xFFFF blocks
    expected[43] = 0xFF;
    expected[46] = 0x40;  // MAXIMUM ATOMIC TRANSFER LENGTH 16384 blocks = MAXIMUM TRANSFER LENGTH
    EXPECT_EQ(r.data, expected);
}

TEST_F(Inquiry, BlockDeviceCharacteristics) {
    auto r = exec(cdb16({0x12, 1, 0xB1, 0, 0xFF, 0}));
    ASSERT_EQ(r.data.size(), 64u);
    EXPECT_EQ(r.data[1], 0xB1);
    EXPECT_EQ(r.data[3], 0x3C);
    EXPECT_EQ(r.data[4], 0x00);
    EXPECT_EQ(r.data[5], 0x01);
}

}  // namespace
}  // namespace atsarray::scsi::test
