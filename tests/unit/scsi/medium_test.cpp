// START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL (medium.cpp) and the control page SWP bit.

#include <gtest/gtest.h>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using Medium = LunFixture;

std::vector<uint8_t> start_stop(uint8_t byte4, uint8_t byte3 = 0, uint8_t byte1 = 0) {
    return {0x1B, byte1, 0, byte3, byte4, 0};
}

TEST_F(Medium, StartAndStop) {
    EXPECT_EQ(exec(start_stop(0x01)).status, Status::good);
    EXPECT_EQ(store->flushes, 0);
    EXPECT_EQ(exec(start_stop(0x00, 0, 0x01)).status, Status::good);  // stop, IMMED
    EXPECT_EQ(store->flushes, 1);  // SBC-4: stopping synchronizes the cache
    EXPECT_EQ(exec(start_stop(0x04)).status, Status::good);  // NO_FLUSH
    EXPECT_EQ(store->flushes, 1);
    EXPECT_EQ(exec({0x00, 0, 0, 0, 0, 0}).status, Status::good);  // still ready
}

TEST_F(Medium, LoadEjectOnANonRemovableMedium) {
    auto eject = exec(start_stop(0x02));
    EXPECT_CHECK(eject, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(eject), (std::vector<uint8_t>{0xC9, 0x00, 0x04}));
    EXPECT_CHECK(exec(start_stop(0x03)), 0x05, 0x24, 0x00);
    // With a POWER CONDITION other than 0h, LOEJ and START are ignored.
    EXPECT_EQ(exec(start_stop(0x32)).status, Status::good);
}

TEST_F(Medium, PowerConditions) {
    for (uint8_t pc : {0x1, 0x2, 0x3, 0x7, 0xA, 0xB}) {
        EXPECT_EQ(exec(start_stop(static_cast<uint8_t>(pc << 4))).status, Status::good) << int(pc);
    }
    for (uint8_t pc : {0x4, 0x5, 0x6, 0x8, 0x9, 0xC, 0xF}) {
        EXPECT_CHECK(exec(start_stop(static_cast<uint8_t>(pc << 4))), 0x05, 0x24, 0x00);
    }
    EXPECT_EQ(exec(start_stop(0x20, 0x02)).status, Status::good);  // IDLE_C
    EXPECT_CHECK(exec(start_stop(0x20, 0x03)), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(start_stop(0x10, 0x01)), 0x05, 0x24, 0x00);
}

TEST_F(Medium, PreventAllowFieldChecks) {
    EXPECT_EQ(exec({0x1E, 0, 0, 0, 0x01, 0}).status, Status::good);
    EXPECT_EQ(exec({0x1E, 0, 0, 0, 0x00, 0}).status, Status::good);
    EXPECT_CHECK(exec({0x1E, 0, 0, 0, 0x02, 0}), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec({0x1E, 0x01, 0, 0, 0x00, 0}), 0x05, 0x24, 0x00);
}

TEST_F(Medium, SoftwareWriteProtect) {
    // MODE SELECT(6) of the control page with SWP set.
    std::vector<uint8_t> page{0, 0, 0, 0, 0x0A, 0x0A, 0, 0x10, 0x08, 0, 0, 0, 0, 0, 0, 0};
    ASSERT_EQ(exec({0x15, 0x10, 0, 0, 16, 0}, page).status, Status::good);
    auto sense = exec({0x1A, 0x08, 0x0A, 0, 0xFF, 0});
    EXPECT_EQ(sense.data[2] & 0x80, 0x80);  // WP in the device-specific parameter
    EXPECT_EQ(sense.data[4 + 4] & 0x08, 0x08);
    auto changeable = exec({0x1A, 0x08, 0x4A, 0, 0xFF, 0});
    EXPECT_EQ(changeable.data[4 + 4] & 0x08, 0x08);
    EXPECT_CHECK(exec({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, std::vector<uint8_t>(512)), 0x07, 0x27,
                 0x00);
    EXPECT_EQ(exec({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}).status, Status::good);
    page[8] = 0;
    ASSERT_EQ(exec({0x15, 0x10, 0, 0, 16, 0}, page).status, Status::good);
    EXPECT_EQ(exec({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, std::vector<uint8_t>(512)).status,
              Status::good);
}

TEST(MediumDevice, PreventStateEndsWithNexusAndResets) {
    TargetDevice device;
    device.add_lun(
        0, std::make_shared<Lun>(default_settings(0, 64), std::make_shared<FakeStore>(512 * 64)));
    device.add_lun(
        1, std::make_shared<Lun>(default_settings(1, 64), std::make_shared<FakeStore>(512 * 64)));
    Nexus a{1, "iqn.test:a", "iqn.test:a,i,0x1", "127.0.0.1:1", 1};
    Nexus b{2, "iqn.test:b", "iqn.test:b,i,0x1", "127.0.0.1:2", 1};
    device.nexus_added(a);
    device.nexus_added(b);
    auto prevent = [&](const Nexus& n, uint64_t lun, uint8_t value) {
        Request r{{0x1E, 0, 0, 0, value, 0}, lun, &n, std::nullopt, {}};
        for (int i = 0; i < 2; ++i) {  // the first answer may be the power-on unit attention
            if (run(device, r).status == Status::good) {
                return;
            }
        }
        ADD_FAILURE() << "PREVENT ALLOW MEDIUM REMOVAL failed";
    };
    prevent(a, 0, 1);
    prevent(b, 0, 1);
    EXPECT_TRUE(device.medium_removal_prevented(0));
    EXPECT_FALSE(device.medium_removal_prevented(1));
    prevent(a, 0, 0);
    EXPECT_TRUE(device.medium_removal_prevented(0));  // b still prevents
    device.nexus_removed(b);
    EXPECT_FALSE(device.medium_removal_prevented(0));

    prevent(a, 1, 1);
    device.lun_reset(0);
    EXPECT_TRUE(device.medium_removal_prevented(1));
    device.lun_reset(1);
    EXPECT_FALSE(device.medium_removal_prevented(1));

    prevent(a, 0, 1);
    device.target_reset();
    EXPECT_FALSE(device.medium_removal_prevented(0));
}

// LunSettings::removable: RMB, LOEJ ejecting and loading, NOT READY while ejected.
class RemovableMedium : public LunFixture {
  protected:
    void SetUp() override {
        LunSettings s = default_settings();
        s.removable = true;
        make_lun(s);
    }
};

const std::vector<uint8_t> medium_not_present_sense{0x70, 0, 0x02, 0,    0,    0, 0, 0x0A, 0,
                                                    0,    0, 0,    0x3A, 0x00, 0, 0, 0,    0};
const std::vector<uint8_t> removal_prevented_sense{0x70, 0, 0x05, 0,    0,    0, 0, 0x0A, 0,
                                                   0,    0, 0,    0x53, 0x02, 0, 0, 0,    0};

TEST_F(Medium, NotRemovableByDefault) {
    EXPECT_EQ(exec({0x12, 0, 0, 0, 36, 0}).data.at(1), 0x00);
}

TEST_F(RemovableMedium, InquiryReportsRmb) {
    EXPECT_EQ(exec({0x12, 0, 0, 0, 36, 0}).data.at(1), 0x80);
}

TEST_F(RemovableMedium, EjectAndLoad) {
    EXPECT_EQ(exec(start_stop(0x02)).status, Status::good);  // LOEJ, START 0: eject
    EXPECT_EQ(store->flushes, 1);  // stopping synchronizes the cache first
    auto tur = exec({0x00, 0, 0, 0, 0, 0});
    EXPECT_EQ(tur.status, Status::check_condition);
    EXPECT_EQ(tur.sense, medium_not_present_sense);
    // Medium access, whatever the opcode.
    EXPECT_EQ(exec({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}).sense, medium_not_present_sense);
    EXPECT_EQ(exec({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, std::vector<uint8_t>(512)).sense,
              medium_not_present_sense);
    EXPECT_EQ(exec({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}).sense, medium_not_present_sense);
    EXPECT_EQ(exec(cdb16({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0})).sense,
              medium_not_present_sense);
    EXPECT_EQ(exec({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}).sense, medium_not_present_sense);
    EXPECT_EQ(exec({0x34, 0, 0, 0, 0, 0, 0, 0, 1, 0}).sense, medium_not_present_sense);
    EXPECT_EQ(exec({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, std::vector<uint8_t>(24)).sense,
              medium_not_present_sense);
    // Still answered without a medium.
    EXPECT_EQ(exec({0x12, 0, 0, 0, 36, 0}).status, Status::good);
    EXPECT_EQ(exec({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}).status, Status::good);
    EXPECT_EQ(exec({0x03, 0, 0, 0, 18, 0}).status, Status::good);
    EXPECT_EQ(exec({0x1A, 0x08, 0x3F, 0, 0xFF, 0}).status, Status::good);
    EXPECT_EQ(exec({0x1E, 0, 0, 0, 0x00, 0}).status, Status::good);
    EXPECT_EQ(exec(start_stop(0x02)).status, Status::good);  // ejecting again is harmless
    EXPECT_EQ(store->flushes, 1);                            // nothing to write back
    EXPECT_EQ(exec(start_stop(0x01)).status, Status::good);  // START alone does not load
    EXPECT_EQ(exec({0x00, 0, 0, 0, 0, 0}).sense, medium_not_present_sense);

    EXPECT_EQ(exec(start_stop(0x03)).status, Status::good);  // LOEJ, START 1: load
    EXPECT_EQ(exec({0x00, 0, 0, 0, 0, 0}).status, Status::good);
    EXPECT_EQ(exec({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}).status, Status::good);
}

TEST_F(RemovableMedium, LoadEjectOnlyWithPowerConditionZero) {
    EXPECT_EQ(exec(start_stop(0x32)).status, Status::good);  // ACTIVE: LOEJ ignored
    EXPECT_EQ(exec(start_stop(0x00)).status, Status::good);  // LOEJ 0: stop, no eject
    EXPECT_EQ(exec({0x00, 0, 0, 0, 0, 0}).status, Status::good);
}

TEST(RemovableMediumDevice, PreventKeepsTheMediumIn) {
    TargetDevice device;
    LunSettings s = default_settings(0, 64);
    s.removable = true;
    device.add_lun(0, std::make_shared<Lun>(s, std::make_shared<FakeStore>(512 * 64)));
    Nexus a{1, "iqn.test:a", "iqn.test:a,i,0x1", "127.0.0.1:1", 1};
    Nexus b{2, "iqn.test:b", "iqn.test:b,i,0x1", "127.0.0.1:2", 1};
    device.nexus_added(a);
    device.nexus_added(b);
    auto send = [&](const Nexus& n, std::vector<uint8_t> cdb) {
        Request r{std::move(cdb), 0, &n, std::nullopt, {}};
        Result res = run(device, r);
        if (res.status == Status::check_condition && res.key() == 0x06) {
            res = run(device, r);  // the power-on unit attention came first
        }
        return res;
    };
    ASSERT_EQ(send(a, {0x1E, 0, 0, 0, 0x01, 0}).status, Status::good);
    auto eject = send(a, start_stop(0x02));
    EXPECT_EQ(eject.status, Status::check_condition);
    EXPECT_EQ(eject.sense, removal_prevented_sense);
    EXPECT_EQ(send(b, start_stop(0x02)).sense, removal_prevented_sense);  // any nexus's PREVENT
    EXPECT_EQ(send(a, {0x00, 0, 0, 0, 0, 0}).status, Status::good);       // still loaded
    ASSERT_EQ(send(a, {0x1E, 0, 0, 0, 0x00, 0}).status, Status::good);
    EXPECT_EQ(send(b, start_stop(0x02)).status, Status::good);
    EXPECT_EQ(send(a, {0x00, 0, 0, 0, 0, 0}).sense, medium_not_present_sense);
    // A load is refused too while removal is prevented (libiscsi PreventAllow.Eject).
    ASSERT_EQ(send(b, {0x1E, 0, 0, 0, 0x01, 0}).status, Status::good);
    EXPECT_EQ(send(a, start_stop(0x03)).sense, removal_prevented_sense);
    device.nexus_removed(b);  // PREVENT ends with the I_T nexus
    EXPECT_EQ(send(a, start_stop(0x03)).status, Status::good);
    EXPECT_EQ(send(a, {0x00, 0, 0, 0, 0, 0}).status, Status::good);
}

}  // namespace
}  // namespace atsarray::scsi::test
