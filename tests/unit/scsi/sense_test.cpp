#include <gtest/gtest.h>

#include <vector>

#include "target/scsi/sense.hpp"

namespace atsarray::scsi {
namespace {

std::vector<uint8_t> bytes(const SenseData& s) {
    return {s.view().begin(), s.view().end()};
}

TEST(Sense, FixedFormatWithFieldPointer) {
    const auto s = build_sense(CommandResult::invalid_cdb_field(1, 0), SenseFormat::fixed);
    const std::vector<uint8_t> expected{0x70, 0, 0x05, 0,    0, 0, 0,    0x0A, 0,
                                        0,    0, 0,    0x24, 0, 0, 0xC8, 0x00, 0x01};
    EXPECT_EQ(bytes(s), expected);
}

TEST(Sense, FixedFormatFieldPointerWithoutBit) {
    const auto s = build_sense(CommandResult::invalid_parameter_field(0x0102), SenseFormat::fixed);
    ASSERT_EQ(s.length, 18);
    EXPECT_EQ(s.bytes[15], 0x80);  // SKSV, C/D 0 (parameter list), BPV 0
    EXPECT_EQ(s.bytes[16], 0x01);
    EXPECT_EQ(s.bytes[17], 0x02);
}

TEST(Sense, FixedFormatWithInformation) {
    const auto s = build_sense(CommandResult::with_information(SenseReason::miscompare, 0x1234),
                               SenseFormat::fixed);
    const std::vector<uint8_t> expected{0xF0, 0, 0x0E, 0x00, 0x00, 0x12, 0x34, 0x0A, 0,
                                        0,    0, 0,    0x1D, 0x00, 0,    0,    0,    0};
    EXPECT_EQ(bytes(s), expected);
}

TEST(Sense, DescriptorFormatWithInformation) {
    const auto s = build_sense(CommandResult::with_information(SenseReason::miscompare, 5),
                               SenseFormat::descriptor);
    const std::vector<uint8_t> expected{0x72, 0x0E, 0x1D, 0, 0, 0, 0, 0x0C, 0x00, 0x0A,
                                        0x80, 0x00, 0,    0, 0, 0, 0, 0,    0,    5};
    EXPECT_EQ(bytes(s), expected);
}

TEST(Sense, DescriptorFormatWithFieldPointer) {
    const auto s = build_sense(CommandResult::invalid_cdb_field(6, 5), SenseFormat::descriptor);
    const std::vector<uint8_t> expected{0x72, 0x05, 0x24, 0x00, 0,    0,    0,    0x08,
                                        0x02, 0x06, 0,    0,    0xCD, 0x00, 0x06, 0};
    EXPECT_EQ(bytes(s), expected);
}

TEST(Sense, TableEntries) {
    const auto& ua = sense_entry(SenseReason::bus_device_reset);
    EXPECT_EQ(ua.status, Status::check_condition);
    EXPECT_EQ(ua.key, SenseKey::unit_attention);
    EXPECT_EQ(ua.asc, 0x29);
    EXPECT_EQ(ua.ascq, 0x03);
    const auto& iu = sense_entry(SenseReason::invalid_field_in_command_information_unit);
    EXPECT_EQ(iu.key, SenseKey::illegal_request);
    EXPECT_EQ(iu.asc, 0x0E);
    EXPECT_EQ(iu.ascq, 0x03);
    EXPECT_EQ(sense_entry(SenseReason::no_space).asc, 0x27);
    EXPECT_EQ(sense_entry(SenseReason::no_space).ascq, 0x07);
    EXPECT_EQ(sense_entry(SenseReason::reported_luns_changed).asc, 0x3F);
    EXPECT_EQ(sense_entry(SenseReason::reported_luns_changed).ascq, 0x0E);
}

TEST(Sense, StatusOnlyReasonsCarryNoSense) {
    Command cmd;
    std::vector<uint8_t> data{1, 2, 3};
    cmd.data_in = &data;
    apply_result(cmd, CommandResult::fail(SenseReason::reservation_conflict), SenseFormat::fixed);
    EXPECT_EQ(cmd.status, Status::reservation_conflict);
    EXPECT_EQ(cmd.sense.length, 0);
    EXPECT_TRUE(data.empty());
    apply_result(cmd, CommandResult::good(), SenseFormat::fixed);
    EXPECT_EQ(cmd.status, Status::good);
}

TEST(Sense, UnitAttentionFixed) {
    const auto s = build_sense(SenseReason::power_on_reset, SenseFormat::fixed);
    ASSERT_EQ(s.length, 18);
    EXPECT_EQ(s.bytes[0], 0x70);
    EXPECT_EQ(s.bytes[2], 0x06);
    EXPECT_EQ(s.bytes[12], 0x29);
    EXPECT_EQ(s.bytes[13], 0x00);
}

}  // namespace
}  // namespace atsarray::scsi
