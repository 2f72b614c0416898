// atsarray-replay's comparison (tools/replay/compare.hpp): sense parsed from raw fixed and
// descriptor bytes, a recorded outcome against a replayed one (status, key/ASC/ASCQ, the
// miscompare's offset, the Data-In's CRC32C), and which commands are replayed and compared.
#include <gtest/gtest.h>

#include "tests/unit/tools/replay_commands.hpp"
#include "tools/replay/compare.hpp"

namespace atsarray::replay {
namespace {

using namespace testing;

TEST(ReplaySense, FixedWithoutInformation) {
    const auto s = parse_sense(fixed_sense(0x05, 0x24, 0x00));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->key, 0x05);
    EXPECT_EQ(s->asc, 0x24);
    EXPECT_EQ(s->ascq, 0x00);
    EXPECT_FALSE(s->information);
}

TEST(ReplaySense, FixedMiscompareWithInformation) {
    const std::vector<uint8_t> raw = {0xf0, 0, 0x0e, 0,    0,    0x01, 0x03, 10, 0,
                                      0,    0, 0,    0x1d, 0x00, 0,    0,    0,  0};
    const auto s = parse_sense(raw);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->key, 0x0e);
    EXPECT_EQ(s->asc, 0x1d);
    ASSERT_TRUE(s->information);
    EXPECT_EQ(*s->information, 0x103U);
}

TEST(ReplaySense, FixedInformationOnlyWhenValid) {
    std::vector<uint8_t> raw = fixed_sense(0x0e, 0x1d, 0x00, 7);
    raw[0] = 0x70;  // VALID clear: bytes 3-6 mean nothing
    EXPECT_FALSE(parse_sense(raw)->information);
}

TEST(ReplaySense, DescriptorWithInformation) {
    const std::vector<uint8_t> raw = {0x72, 0x0e, 0x1d, 0x00, 0, 0, 0, 12, 0x00, 0x0a,
                                      0x80, 0,    0,    0,    0, 0, 0, 0,  0x02, 0x01};
    const auto s = parse_sense(raw);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->key, 0x0e);
    EXPECT_EQ(s->asc, 0x1d);
    ASSERT_TRUE(s->information);
    EXPECT_EQ(*s->information, 0x201U);
}

TEST(ReplaySense, DescriptorSkipsOtherDescriptors) {
    // A sense-key-specific descriptor (02h) first, then INFORMATION.
    std::vector<uint8_t> raw = {0x73, 0x0e, 0x1d, 0x00, 0, 0, 0, 20, 0x02, 0x06, 0, 0, 0, 0, 0, 0};
    const std::vector<uint8_t> information = descriptor_sense(0x0e, 0x1d, 0, 9);
    raw.insert(raw.end(), information.begin() + 8, information.end());
    const auto s = parse_sense(raw);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->information);
    EXPECT_EQ(*s->information, 9U);
}

TEST(ReplaySense, DescriptorInformationOnlyWhenValid) {
    std::vector<uint8_t> raw = descriptor_sense(0x0e, 0x1d, 0x00, 4);
    raw[10] = 0x00;
    EXPECT_FALSE(parse_sense(raw)->information);
}

TEST(ReplaySense, UnknownOrShortIsNone) {
    EXPECT_FALSE(parse_sense(std::vector<uint8_t>{}));
    EXPECT_FALSE(parse_sense(std::vector<uint8_t>{0x7f, 0, 5}));
    EXPECT_FALSE(parse_sense(std::vector<uint8_t>{0x72, 0x05, 0x24}));
}

TEST(ReplayDescribe, StatusesInWords) {
    EXPECT_EQ(describe_status(0x00, {}), "GOOD");
    EXPECT_EQ(describe_status(0x18, {}), "RESERVATION CONFLICT");
    EXPECT_EQ(describe_status(0x02, fixed_sense(0x05, 0x24, 0x00)),
              "CHECK CONDITION ILLEGAL REQUEST 24h/00h");
    EXPECT_EQ(describe_status(0x02, descriptor_sense(0x0e, 0x1d, 0x00, 3)),
              "MISCOMPARE at offset 3");
}

Outcome answered(uint8_t status, std::vector<uint8_t> sense = {}) {
    Outcome o;
    o.answered = true;
    o.status = status;
    o.sense = std::move(sense);
    return o;
}

TEST(ReplayCompare, MiscompareAgainstGood) {
    const trace::Command recorded = ats_miscompared(100, 1, 2, 9, 1);
    const Comparison c = compare(recorded, answered(0x00));
    EXPECT_EQ(c.verdict, Verdict::diverged);
    EXPECT_EQ(c.recorded, "MISCOMPARE at offset 0");
    EXPECT_EQ(c.replayed, "GOOD");
}

TEST(ReplayCompare, MiscompareOffsetMatters) {
    const trace::Command recorded = ats_miscompared(100, 1, 2, 9, 1);
    EXPECT_EQ(compare(recorded, answered(0x02, fixed_sense(0x0e, 0x1d, 0, 0))).verdict,
              Verdict::identical);
    const Comparison c = compare(recorded, answered(0x02, fixed_sense(0x0e, 0x1d, 0, 5)));
    EXPECT_EQ(c.verdict, Verdict::diverged);
    EXPECT_EQ(c.replayed, "MISCOMPARE at offset 5");
}

TEST(ReplayCompare, SenseFormatDoesNotMatterItsFieldsDo) {
    trace::Command recorded = command(std::vector<uint8_t>(16, 0xff));
    recorded.status = 0x02;
    recorded.sense = fixed_sense(0x05, 0x20, 0x00);
    EXPECT_EQ(compare(recorded, answered(0x02, descriptor_sense(0x05, 0x20, 0x00))).verdict,
              Verdict::identical);
    EXPECT_EQ(compare(recorded, answered(0x02, descriptor_sense(0x05, 0x24, 0x00))).verdict,
              Verdict::diverged);
    EXPECT_EQ(compare(recorded, answered(0x02, descriptor_sense(0x06, 0x20, 0x00))).verdict,
              Verdict::diverged);
    EXPECT_EQ(compare(recorded, answered(0x02, fixed_sense(0x05, 0x20, 0x01))).verdict,
              Verdict::diverged);
}

TEST(ReplayCompare, DataInByCrc) {
    trace::Command recorded = read16(8, filled(0x5a), 1);
    recorded.data_in_crc32c = 0x12345678;
    Outcome same = answered(0x00);
    same.data_in_length = block;
    same.data_in_crc32c = 0x12345678;
    EXPECT_EQ(compare(recorded, same).verdict, Verdict::identical);
    Outcome other = same;
    other.data_in_crc32c = 0x9abcdef0;
    const Comparison c = compare(recorded, other);
    EXPECT_EQ(c.verdict, Verdict::diverged);
    EXPECT_EQ(c.recorded, "GOOD with 512 bytes of Data-In, CRC32C 0x12345678");
    EXPECT_EQ(c.replayed, "GOOD with 512 bytes of Data-In, CRC32C 0x9ABCDEF0");
    Outcome shorter = same;
    shorter.data_in_length = 256;
    EXPECT_EQ(compare(recorded, shorter).verdict, Verdict::diverged);
}

TEST(ReplayCompare, NoStatusDiverges) {
    Outcome lost;
    lost.error = "session lost: connection reset";
    const Comparison c = compare(command(rw16(0x88, 0, 1)), lost);
    EXPECT_EQ(c.verdict, Verdict::diverged);
    EXPECT_EQ(c.replayed, "no status (session lost: connection reset)");
}

TEST(ReplayCompare, WhatIsReplayedAndCompared) {
    trace::Command w = write16(0, filled(1), 1);
    EXPECT_TRUE(replayable(w));
    w.data_out_kept = false;
    w.data_out.clear();
    EXPECT_FALSE(replayable(w));
    EXPECT_FALSE(replayable(command(std::vector<uint8_t>(32, 0x7f))));  // a variable-length CDB
    EXPECT_TRUE(replayable(command(rw16(0x88, 0, 1))));

    trace::Command c = command(rw16(0x88, 0, 1));
    EXPECT_TRUE(comparable(c));
    c.status_seen = false;
    EXPECT_FALSE(comparable(c));
    c.status_seen = true;
    c.outcome = "aborted";
    EXPECT_FALSE(comparable(c));
    // A UNIT ATTENTION (power on, reset: 29h/00h) is the recorded session's news, not the
    // command's outcome.
    trace::Command ua = command(rw16(0x88, 0, 1));
    ua.status = status_check_condition;
    ua.outcome = "check_condition";
    ua.sense = {0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0x00, 0, 0, 0, 0};
    EXPECT_FALSE(comparable(ua));
    ua.sense[2] = 0x05;  // ILLEGAL REQUEST is the command's own
    EXPECT_TRUE(comparable(ua));
}

}  // namespace
}  // namespace atsarray::replay
