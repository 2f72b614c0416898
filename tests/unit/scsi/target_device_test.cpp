#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

class Device : public ::testing::Test {
  protected:
    void SetUp() override {
        for (uint64_t id : {0u, 5u, 300u}) {
            auto store = std::make_shared<FakeStore>(512 * 64);
            stores[id] = store;
            device.add_lun(id, std::make_shared<Lun>(default_settings(id, 64), store));
        }
    }

    Result exec(uint64_t lun, std::vector<uint8_t> cdb) {
        Request r{std::move(cdb), lun, &nexus, std::nullopt, {}};
        Result res = run(device, r);
        EXPECT_EQ(res.completions, 1);
        return res;
    }

    TargetDevice device;
    std::map<uint64_t, std::shared_ptr<FakeStore>> stores;
    Nexus nexus{11, "iqn.test:init", "iqn.test:init,i,0x1", "127.0.0.1:1", 1};
};

TEST_F(Device, ReportLunsEncoding) {
    const std::vector<uint8_t> expected{0,    0,    0, 24, 0, 0, 0, 0,   //
                                        0x00, 0x00, 0, 0,  0, 0, 0, 0,   // LUN 0
                                        0x00, 0x05, 0, 0,  0, 0, 0, 0,   // LUN 5
                                        0x41, 0x2C, 0, 0,  0, 0, 0, 0};  // LUN 300
    auto r = exec(0, cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data, expected);
    // Any LUN number answers REPORT LUNS, even one that does not exist.
    EXPECT_EQ(exec(42, cdb16({0xA0, 0, 0x02, 0, 0, 0, 0, 0, 0x10, 0, 0, 0})).data, expected);
    auto truncated = exec(5, cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}));
    EXPECT_EQ(truncated.data, std::vector<uint8_t>(expected.begin(), expected.begin() + 16));
    auto well_known = exec(0, cdb16({0xA0, 0, 0x01, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}));
    EXPECT_EQ(well_known.data, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_F(Device, ReportLunsInvalidFields) {
    auto small = exec(0, cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0}));
    EXPECT_CHECK(small, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(small), (std::vector<uint8_t>{0xCF, 0x00, 0x06}));
    auto select = exec(0, cdb16({0xA0, 0, 0x03, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}));
    EXPECT_CHECK(select, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(select), (std::vector<uint8_t>{0xCF, 0x00, 0x02}));
}

TEST_F(Device, InquiryToMissingLun) {
    auto r = exec(7, cdb16({0x12, 0, 0, 0, 0xFF, 0}));
    EXPECT_EQ(r.status, Status::good);
    ASSERT_EQ(r.data.size(), 74u);
    EXPECT_EQ(r.data[0], 0x7F);
    EXPECT_EQ(r.data[2], 0x06);
    EXPECT_EQ(std::string(r.data.begin() + 8, r.data.begin() + 16), "ATSARRAY");
    EXPECT_CHECK(exec(7, cdb16({0x12, 1, 0x83, 0, 0xFF, 0})), 0x05, 0x25, 0x00);
    // Reserved bits are still checked.
    EXPECT_CHECK(exec(7, cdb16({0x12, 0x04, 0, 0, 0xFF, 0})), 0x05, 0x24, 0x00);
}

TEST_F(Device, RequestSenseToMissingLun) {
    auto r = exec(7, cdb16({0x03, 0, 0, 0, 0xFC, 0}));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0x70, 0, 0x05, 0, 0, 0, 0, 0x0A, 0, 0, 0, 0, 0x25, 0x00,
                                            0, 0, 0, 0}));
}

TEST_F(Device, OtherCommandsToMissingLun) {
    EXPECT_CHECK(exec(7, cdb16({0x00})), 0x05, 0x25, 0x00);
    EXPECT_CHECK(exec(7, cdb16({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})), 0x05, 0x25, 0x00);
    EXPECT_CHECK(exec(7, cdb16({0xFF})), 0x05, 0x25, 0x00);
}

TEST_F(Device, RoutesByLun) {
    auto r = exec(300, cdb16({0x12, 1, 0x80, 0, 0xFF, 0}));
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0, 0x80, 0, 6, 'S', 'E', 'R', '3', '0', '0'}));
    EXPECT_TRUE(device.has_lun(5));
    EXPECT_FALSE(device.has_lun(6));
    EXPECT_EQ(device.lun_ids(), (std::vector<uint64_t>{0, 5, 300}));
    EXPECT_EQ(device.lun(5)->id(), 5u);
    EXPECT_EQ(device.lun(6), nullptr);
}

TEST_F(Device, NexusAddedGivesPowerOnResetOnEveryLun) {
    device.nexus_added(nexus);
    for (uint64_t id : {0u, 5u, 300u}) {
        EXPECT_CHECK(exec(id, cdb16({0x00})), 0x06, 0x29, 0x00);
        EXPECT_EQ(exec(id, cdb16({0x00})).status, Status::good);
    }
    device.nexus_added(nexus);
    device.nexus_removed(nexus);
    EXPECT_EQ(exec(0, cdb16({0x00})).status, Status::good);
}

TEST_F(Device, LunResetAndTargetReset) {
    Nexus other{12, "iqn.test:other", "iqn.test:other,i,0x2", "127.0.0.1:2", 1};
    device.nexus_added(nexus);
    device.nexus_added(other);
    for (uint64_t id : {0u, 5u, 300u}) {
        exec(id, cdb16({0x00}));
        run(device, Request{cdb16({0x00}), id, &other, std::nullopt, {}});
    }
    device.lun_reset(5);
    EXPECT_EQ(exec(0, cdb16({0x00})).status, Status::good);
    EXPECT_CHECK(exec(5, cdb16({0x00})), 0x06, 0x29, 0x03);
    EXPECT_CHECK(run(device, Request{cdb16({0x00}), 5, &other, std::nullopt, {}}), 0x06, 0x29,
                 0x03);
    device.target_reset();
    for (uint64_t id : {0u, 5u, 300u}) {
        EXPECT_CHECK(exec(id, cdb16({0x00})), 0x06, 0x29, 0x03);
    }
}

TEST_F(Device, FlushAll) {
    device.flush_all();
    for (auto& [id, store] : stores) {
        EXPECT_EQ(store->flushes, 1) << id;
    }
}

}  // namespace
}  // namespace atsarray::scsi::test

namespace atsarray::scsi::test {
namespace {

// The live configuration (issue 19): LUNs added and removed while nexuses exist.
class LiveDevice : public Device {
  protected:
    void SetUp() override {
        Device::SetUp();
        device.nexus_added(nexus);
        for (uint64_t id : {0u, 5u, 300u}) {
            exec(id, cdb16({0x00}));  // POWER ON, RESET reported and gone
        }
    }
};

TEST_F(LiveDevice, AddedLunAnnouncedOnceOnEveryOtherLun) {
    auto store = std::make_shared<FakeStore>(512 * 64);
    ASSERT_TRUE(device.add_lun(7, std::make_shared<Lun>(default_settings(7, 64), store)));
    // SPC-4 §6.33: REPORTED LUNS DATA HAS CHANGED, once, through every LUN the nexus had.
    for (uint64_t id : {0u, 5u, 300u}) {
        EXPECT_CHECK(exec(id, cdb16({0x00})), 0x06, 0x3F, 0x0E);
        EXPECT_EQ(exec(id, cdb16({0x00})).status, Status::good);
    }
    // The new LUN knows the nexus and has nothing to report to it.
    EXPECT_EQ(exec(7, cdb16({0x00})).status, Status::good);
    const auto r = exec(0, cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}));
    ASSERT_EQ(r.data.size(), 40u);
    EXPECT_EQ(r.data[25], 0x07);  // the third entry: LUN 7, between 5 and 300
    EXPECT_EQ(device.lun_ids(), (std::vector<uint64_t>{0, 5, 7, 300}));
}

TEST_F(LiveDevice, ReportLunsClearsTheAnnouncement) {
    ASSERT_TRUE(device.add_lun(
        7, std::make_shared<Lun>(default_settings(7, 64), std::make_shared<FakeStore>(512 * 64))));
    EXPECT_EQ(exec(5, cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0})).status, Status::good);
    EXPECT_EQ(exec(5, cdb16({0x00})).status, Status::good);
}

TEST_F(LiveDevice, DuplicateIdRefusedAndChangesNothing) {
    EXPECT_FALSE(device.add_lun(
        5, std::make_shared<Lun>(default_settings(5, 64), std::make_shared<FakeStore>(512 * 64))));
    EXPECT_EQ(device.lun(5)->store().size_bytes(), stores[5]->size_bytes());
    EXPECT_EQ(exec(0, cdb16({0x00})).status, Status::good);  // nothing announced
}

TEST_F(LiveDevice, RemovedLunFinishesAndIsFlushedWhenReleased) {
    std::shared_ptr<Lun> held = device.lun(5);
    ASSERT_EQ(device.remove_lun(5), held);
    EXPECT_TRUE(held->retired());
    EXPECT_EQ(device.remove_lun(5), nullptr);
    EXPECT_FALSE(device.has_lun(5));
    // Later commands to it: LOGICAL UNIT NOT SUPPORTED; the others hear of the change.
    EXPECT_CHECK(exec(5, cdb16({0x00})), 0x05, 0x25, 0x00);
    EXPECT_CHECK(exec(0, cdb16({0x00})), 0x06, 0x3F, 0x0E);
    EXPECT_CHECK(exec(300, cdb16({0x00})), 0x06, 0x3F, 0x0E);
    // A command that holds it (here: the test) keeps it usable; the store is flushed once the
    // last reference goes, and only then.
    const int flushes = stores[5]->flushes;
    EXPECT_EQ(stores[5]->flushes, flushes);
    held.reset();
    EXPECT_EQ(stores[5]->flushes, flushes + 1);
}

TEST_F(LiveDevice, ChangesWhileCommandsRun) {
    // Readers on two threads while the inventory changes under them: every command completes
    // once, with GOOD, a unit attention or LOGICAL UNIT NOT SUPPORTED (TSan: no race).
    std::atomic<bool> stop{false};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
        readers.emplace_back([&, t] {
            Nexus n{static_cast<uint64_t>(100 + t), "iqn.test:r", "iqn.test:r,i,0x2", "x", 1};
            while (!stop.load()) {
                for (uint64_t id : {0u, 9u}) {
                    Request r{cdb16({0x00}), id, &n, std::nullopt, {}};
                    EXPECT_EQ(run(device, r).completions, 1);
                }
            }
        });
    }
    for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(device.add_lun(9, std::make_shared<Lun>(default_settings(9, 8),
                                                            std::make_shared<FakeStore>(512 * 8))));
        ASSERT_NE(device.remove_lun(9), nullptr);
    }
    stop.store(true);
    for (auto& t : readers) {
        t.join();
    }
}

}  // namespace
}  // namespace atsarray::scsi::test
