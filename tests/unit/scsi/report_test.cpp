// REPORT SUPPORTED OPERATION CODES, REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS and REPORT TARGET
// PORT GROUPS (report.cpp), fed raw CDBs.

#include <gtest/gtest.h>

#include "target/scsi/cdb.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using Report = LunFixture;

std::vector<uint8_t> rsoc(uint8_t options, uint8_t opcode = 0, uint16_t sa = 0, bool rctd = false) {
    return cdb16({0xA3, 0x0C, static_cast<uint8_t>((rctd ? 0x80 : 0) | options), opcode,
                  static_cast<uint8_t>(sa >> 8), static_cast<uint8_t>(sa), 0, 0, 0xFF, 0xFF, 0, 0});
}

TEST_F(Report, AllCommandsWalkTheCommandTable) {
    auto r = exec(rsoc(0));
    ASSERT_EQ(r.status, Status::good);
    const auto table = all_commands();
    ASSERT_EQ(r.data.size(), 4 + 8 * table.size());
    EXPECT_EQ(get_be32(r.data, 0), 8 * table.size());
    for (size_t i = 0; i < table.size(); ++i) {
        std::span<const uint8_t> d = std::span<const uint8_t>(r.data).subspan(4 + 8 * i, 8);
        EXPECT_EQ(d[0], table[i].opcode);
        EXPECT_EQ(get_be16(d, 2), table[i].service_action.value_or(0));
        EXPECT_EQ(d[5], table[i].service_action ? 0x01 : 0x00);  // SERVACTV, CTDP 0
        EXPECT_EQ(get_be16(d, 6), table[i].cdb_length);
    }
}

TEST_F(Report, AllCommandsWithTimeoutsDescriptors) {
    auto r = exec(rsoc(0, 0, 0, true));
    ASSERT_EQ(r.status, Status::good);
    ASSERT_EQ(r.data.size(), 4 + 20 * all_commands().size());
    for (size_t at = 4; at < r.data.size(); at += 20) {
        EXPECT_EQ(r.data[at + 5] & 0x02, 0x02);       // CTDP
        EXPECT_EQ(get_be16(r.data, at + 8), 0x000A);  // timeouts DESCRIPTOR LENGTH
    }
}

TEST_F(Report, OneCommandUsageDataComesFromTheTable) {
    auto r = exec(rsoc(1, 0x28));
    ASSERT_EQ(r.status, Status::good);
    ASSERT_EQ(r.data.size(), 14u);
    EXPECT_EQ(r.data[1], 0x03);  // SUPPORT 011b
    EXPECT_EQ(get_be16(r.data, 2), 10);
    EXPECT_EQ(r.data[4], 0x28);
    EXPECT_EQ(r.data[5] & 0x18, 0x18);  // DPO and FUA (libiscsi DpoFua tests)

    auto sa = exec(rsoc(2, 0xA3, 0x0C, true));
    ASSERT_EQ(sa.status, Status::good);
    EXPECT_EQ(sa.data[1], 0x83);  // CTDP, SUPPORT 011b
    EXPECT_EQ(sa.data.size(), 4u + 12u + 12u);

    auto either = exec(rsoc(3, 0x9E, 0x10));
    EXPECT_EQ(either.data[1], 0x03);
    EXPECT_EQ(exec(rsoc(3, 0x28, 0x55)).data[1], 0x03);  // no service actions: SA ignored
}

TEST_F(Report, OneCommandErrorsAndUnsupported) {
    auto with_actions = exec(rsoc(1, 0xA3));
    EXPECT_CHECK(with_actions, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(with_actions), (std::vector<uint8_t>{0xCA, 0x00, 0x02}));
    EXPECT_CHECK(exec(rsoc(2, 0x28)), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(rsoc(4)), 0x05, 0x24, 0x00);

    auto unknown = exec(rsoc(1, 0xFF));
    ASSERT_EQ(unknown.status, Status::good);
    EXPECT_EQ(unknown.data, (std::vector<uint8_t>{0, 0x01, 0, 0}));  // SUPPORT 001b
    EXPECT_EQ(exec(rsoc(2, 0x9E, 0x1F)).data, (std::vector<uint8_t>{0, 0x01, 0, 0}));
}

TEST_F(Report, AllocationLengthTruncates) {
    auto cdb = rsoc(0);
    cdb[8] = 0;
    cdb[9] = 6;
    EXPECT_EQ(exec(cdb).data.size(), 6u);
}

TEST_F(Report, SupportedTaskManagementFunctions) {
    auto r = exec(cdb16({0xA3, 0x0D, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0}));
    ASSERT_EQ(r.status, Status::good);
    // ATS, ATSS, CTSS, LURS, TRS; not CLEAR ACA, QUERY TASK or WAKES.
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0xDA, 0, 0, 0}));
    auto extended = exec(cdb16({0xA3, 0x0D, 0x80, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0}));
    ASSERT_EQ(extended.data.size(), 16u);
    EXPECT_EQ(extended.data[3], 0x0C);
}

TEST_F(Report, TargetPortGroups) {
    nexus.relative_target_port = 3;
    auto r = exec(cdb16({0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0}));
    ASSERT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data,
              (std::vector<uint8_t>{0, 0, 0, 12, 0x80, 0x01, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3}));
    auto extended = exec(cdb16({0xA3, 0x2A, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0}));
    ASSERT_EQ(extended.data.size(), 20u);
    EXPECT_EQ(get_be32(extended.data, 0), 16u);
    EXPECT_EQ(extended.data[4], 0x10);  // FORMAT TYPE 001b
    EXPECT_CHECK(exec(cdb16({0xA3, 0x4A, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0})), 0x05, 0x24, 0x00);
}

TEST_F(Report, StandardInquiryAdvertisesThirdPartyCopyAndImplicitAlua) {
    auto r = exec(cdb16({0x12, 0, 0, 0, 0xFF, 0}));
    ASSERT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data[5] & 0x30, 0x10);  // TPGS 01b
    EXPECT_EQ(r.data[5] & 0x08, 0x08);  // 3PC
    auto pages = exec(cdb16({0x12, 0x01, 0x00, 0, 0xFF, 0}));
    const std::vector<uint8_t> listed(pages.data.begin() + 4, pages.data.end());
    EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
    for (uint8_t page : listed) {
        auto p = exec(cdb16({0x12, 0x01, page, 0, 0xFF, 0}));
        EXPECT_EQ(p.status, Status::good) << int(page);
        EXPECT_EQ(p.data[1], page);
        EXPECT_EQ(get_be16(p.data, 2) + 4u, p.data.size()) << int(page);
    }
    auto extended = exec(cdb16({0x12, 0x01, 0x86, 0, 0xFF, 0}));
    EXPECT_EQ(extended.data.size(), 64u);
}

}  // namespace
}  // namespace atsarray::scsi::test
