#include <gtest/gtest.h>

#include <deque>
#include <stdexcept>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using UnitAttention = LunFixture;

TEST_F(UnitAttention, DeliveredOnceThenCleared) {
    lun->unit_attentions().add_nexus(nexus.id);
    auto first = exec(cdb16({0x00}));
    EXPECT_CHECK(first, 0x06, 0x29, 0x00);
    ASSERT_EQ(first.sense.size(), 18u);
    EXPECT_EQ(first.sense[0], 0x70);
    EXPECT_EQ(exec(cdb16({0x00})).status, Status::good);
}

TEST_F(UnitAttention, OnlyTheNexusItBelongsTo) {
    lun->unit_attentions().add_nexus(99);
    EXPECT_EQ(exec(cdb16({0x00})).status, Status::good);
    EXPECT_EQ(lun->unit_attentions().pending(99), 1u);
}

TEST_F(UnitAttention, InquiryAndReportLunsNeitherReportNorClear) {
    lun->unit_attentions().add_nexus(nexus.id);
    EXPECT_EQ(exec(cdb16({0x12, 0, 0, 0, 0xFF, 0})).status, Status::good);
    EXPECT_EQ(exec(cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})).status, Status::good);
    EXPECT_CHECK(exec(cdb16({0x25})), 0x06, 0x29, 0x00);
}

TEST_F(UnitAttention, ReportLunsClearsReportedLunsDataChanged) {
    lun->unit_attentions().queue(nexus.id, SenseReason::reported_luns_changed);
    auto r = exec(cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}));
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(exec(cdb16({0x00})).status, Status::good);
}

TEST_F(UnitAttention, RequestSenseReturnsAndClears) {
    lun->unit_attentions().add_nexus(nexus.id);
    auto r = exec(cdb16({0x03, 0, 0, 0, 0xFC, 0}));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0x70, 0, 0x06, 0, 0, 0, 0, 0x0A, 0, 0, 0, 0, 0x29, 0x00,
                                            0, 0, 0, 0}));
    auto none = exec(cdb16({0x03, 0, 0, 0, 0xFC, 0}));
    EXPECT_EQ(none.data, (std::vector<uint8_t>{0x70, 0, 0x00, 0, 0, 0, 0, 0x0A, 0, 0, 0, 0, 0x00,
                                               0x00, 0, 0, 0, 0}));
    EXPECT_EQ(exec(cdb16({0x00})).status, Status::good);
}

TEST_F(UnitAttention, RequestSenseDescriptorFormatAndTruncation) {
    lun->unit_attentions().queue(nexus.id, SenseReason::bus_device_reset);
    auto r = exec(cdb16({0x03, 0x01, 0, 0, 0xFC, 0}));
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0x72, 0x06, 0x29, 0x03, 0, 0, 0, 0}));
    lun->unit_attentions().queue(nexus.id, SenseReason::capacity_changed);
    auto t = exec(cdb16({0x03, 0, 0, 0, 8, 0}));
    EXPECT_EQ(t.data, (std::vector<uint8_t>{0x70, 0, 0x06, 0, 0, 0, 0, 0x0A}));
    EXPECT_EQ(lun->unit_attentions().pending(nexus.id), 0u);
}

TEST_F(UnitAttention, ResetReplacesEarlierConditions) {
    auto& ua = lun->unit_attentions();
    ua.queue(nexus.id, SenseReason::capacity_changed);
    ua.queue(nexus.id, SenseReason::capacity_changed);
    EXPECT_EQ(ua.pending(nexus.id), 1u);
    ua.queue(nexus.id, SenseReason::bus_device_reset);
    EXPECT_EQ(ua.pending(nexus.id), 1u);
    EXPECT_CHECK(exec(cdb16({0x00})), 0x06, 0x29, 0x03);
    ua.add_nexus(nexus.id);
    ua.remove_nexus(nexus.id);
    EXPECT_EQ(exec(cdb16({0x00})).status, Status::good);
}

TEST(LunSettingsCheck, RejectsSettingsThatDoNotFit) {
    auto store = std::make_shared<FakeStore>(512 * 100);
    auto s = default_settings(0, 101);
    EXPECT_THROW(Lun(s, store), std::invalid_argument);
    s.block_count = 100;
    s.block_size = 1000;
    EXPECT_THROW(Lun(s, store), std::invalid_argument);
    s.block_size = 512;
    s.id = 16384;
    EXPECT_THROW(Lun(s, store), std::invalid_argument);
    s.id = 3;
    EXPECT_NO_THROW(Lun(s, store));
    EXPECT_THROW(Lun(s, nullptr), std::invalid_argument);
}

TEST(LunBlocking, MediumAccessRunsOnTheSubmitHook) {
    auto store = std::make_shared<FakeStore>(512 * 64, /*blocking=*/true);
    std::deque<std::function<void()>> queued;
    auto lun = std::make_shared<Lun>(
        default_settings(0, 64), store,
        [&queued](std::function<void()> work) { queued.push_back(std::move(work)); });
    const auto data = pattern(512, 1);
    Command cmd;
    const auto cdb = cdb16({0x2A, 0, 0, 0, 0, 2, 0, 0, 1, 0});
    std::vector<uint8_t> data_in;
    cmd.cdb = cdb;
    cmd.data_out = data;
    cmd.expected_transfer_length = 512;
    cmd.data_in = &data_in;
    int completions = 0;
    lun->execute(cmd, [&completions](Command&) { ++completions; });
    EXPECT_EQ(completions, 0);
    EXPECT_EQ(store->writes, 0);
    ASSERT_EQ(queued.size(), 1u);
    queued.front()();
    EXPECT_EQ(completions, 1);
    EXPECT_EQ(cmd.status, Status::good);
    EXPECT_EQ(store->writes, 1);

    // Commands that do not touch the medium complete inline.
    Command inq;
    const auto inq_cdb = cdb16({0x12, 0, 0, 0, 36, 0});
    inq.cdb = inq_cdb;
    inq.data_in = &data_in;
    lun->execute(inq, [&completions](Command&) { ++completions; });
    EXPECT_EQ(completions, 2);
    EXPECT_EQ(data_in.size(), 36u);
}

}  // namespace
}  // namespace atsarray::scsi::test
