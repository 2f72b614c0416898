// Persistent reservations (SPC-4 §5.13, §6.15, §6.16) and RESERVE/RELEASE (SPC-2) through a
// TargetDevice with one LUN and three I_T nexuses, by raw CDBs and parameter lists. Every test
// runs twice: with the state kept by the LUN alone, and kept in shared records (several
// gateways; shared_reservations_test.cpp has the cases across gateways).

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "target/scsi/cdb.hpp"
#include "tests/unit/scsi/fake_shared_records.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

constexpr uint8_t type_we = 0x1, type_ea = 0x3, type_wero = 0x5, type_earo = 0x6, type_wear = 0x7,
                  type_eaar = 0x8;
enum : uint8_t {
    action_register = 0,
    action_reserve = 1,
    action_release = 2,
    action_clear = 3,
    action_preempt = 4
};
constexpr uint8_t action_register_and_ignore = 6;

class Pr : public ::testing::TestWithParam<bool> {
  protected:
    void SetUp() override { make_device(default_settings(0, 64)); }

    bool shared() const { return GetParam(); }

    void make_device(const LunSettings& s) {
        device = std::make_unique<TargetDevice>();
        store = std::make_shared<FakeStore>(512 * 64);
        auto lun = std::make_shared<Lun>(s, store);
        if (shared()) {
            ASSERT_TRUE(share_reservations(*lun, records));
        }
        device->add_lun(0, lun);
        for (const Nexus* n : {&a, &b, &c}) {
            device->nexus_added(*n);
            exec(*n, cdb16({0x00, 0, 0, 0, 0, 0}));  // clears POWER ON RESET
        }
    }

    Result exec(const Nexus& n, std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {}) {
        Request r{std::move(cdb), 0, &n, std::nullopt, std::move(data_out)};
        Result res = run(*device, r);
        EXPECT_EQ(res.completions, 1);
        return res;
    }

    Result prout(const Nexus& n, uint8_t action, uint64_t key, uint64_t sa_key, uint8_t type = 0,
                 uint8_t flags = 0) {
        std::vector<uint8_t> p(24, 0);
        put_be64(p, 0, key);
        put_be64(p, 8, sa_key);
        p[20] = flags;
        return exec(n, cdb16({0x5F, action, type, 0, 0, 0, 0, 0, 24, 0}), p);
    }

    Result prin(const Nexus& n, uint8_t action, uint16_t alloc = 4096) {
        return exec(n, cdb16({0x5E, action, 0, 0, 0, 0, 0, static_cast<uint8_t>(alloc >> 8),
                              static_cast<uint8_t>(alloc), 0}));
    }

    Result read(const Nexus& n) { return exec(n, cdb16({0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0})); }
    Result write(const Nexus& n) {
        return exec(n, cdb16({0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0}), std::vector<uint8_t>(512, 0xAB));
    }

    FakeSharedRecords records;  // outlives the device
    std::unique_ptr<TargetDevice> device;
    std::shared_ptr<FakeStore> store;
    Nexus a{1, "iqn.test:a", "iqn.test:a,i,0x000000000001", "127.0.0.1:1", 1};
    Nexus b{2, "iqn.test:b", "iqn.test:b,i,0x000000000002", "127.0.0.1:2", 1};
    Nexus c{3, "iqn.test:c", "iqn.test:c,i,0x000000000003", "127.0.0.1:3", 1};
};

TEST_P(Pr, ReadKeysAndGeneration) {
    auto empty = prin(a, 0);
    EXPECT_EQ(empty.status, Status::good);
    EXPECT_EQ(empty.data, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(prout(a, action_register, 0, 0x1111).status, Status::good);
    EXPECT_EQ(prout(b, action_register_and_ignore, 0, 0x2222).status, Status::good);
    auto keys = prin(c, 0);
    ASSERT_EQ(keys.data.size(), 24u);
    EXPECT_EQ(get_be32(keys.data, 0), 2u);
    EXPECT_EQ(get_be32(keys.data, 4), 16u);
    EXPECT_EQ(get_be64(keys.data, 8), 0x1111u);
    EXPECT_EQ(get_be64(keys.data, 16), 0x2222u);
    // Allocation length truncates (SPC-4 §4.2.5.6).
    EXPECT_EQ(prin(c, 0, 12).data.size(), 12u);
    // A wrong key when registered, or a key when not registered: RESERVATION CONFLICT; no
    // generation change.
    EXPECT_EQ(prout(a, action_register, 0x9999, 0x3333).status, Status::reservation_conflict);
    EXPECT_EQ(prout(c, action_register, 0x1111, 0x3333).status, Status::reservation_conflict);
    EXPECT_EQ(get_be32(prin(c, 0).data, 0), 2u);
    // Re-registering with the right key changes it; key 0 unregisters.
    EXPECT_EQ(prout(a, action_register, 0x1111, 0x4444).status, Status::good);
    EXPECT_EQ(prout(b, action_register, 0x2222, 0).status, Status::good);
    keys = prin(c, 0);
    EXPECT_EQ(get_be32(keys.data, 0), 4u);
    ASSERT_EQ(keys.data.size(), 16u);
    EXPECT_EQ(get_be64(keys.data, 8), 0x4444u);
}

TEST_P(Pr, ServiceActionAndParameterChecks) {
    EXPECT_CHECK(prin(a, 4), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(a, cdb16({0x5F, 0x08, 0, 0, 0, 0, 0, 0, 24, 0}), std::vector<uint8_t>(24)),
                 0x05, 0x24, 0x00);
    // REGISTER AND MOVE is not implemented.
    EXPECT_CHECK(exec(a, cdb16({0x5F, 0x07, 0, 0, 0, 0, 0, 0, 24, 0}), std::vector<uint8_t>(24)),
                 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(a, cdb16({0x5F, 0, 0, 0, 0, 0, 0, 0, 20, 0}), std::vector<uint8_t>(20)), 0x05,
                 0x1A, 0x00);
    EXPECT_CHECK(prout(a, action_register, 0, 1, 0, 0x08), 0x05, 0x26, 0x00);  // SPEC_I_PT
    EXPECT_CHECK(prout(a, action_register, 0, 1, 0, 0x04), 0x05, 0x26, 0x00);  // ALL_TG_PT
    if (shared()) {
        // Shared records keep the state whatever APTPL says (PTPL_C=1): APTPL is accepted.
        ASSERT_EQ(prout(a, action_register, 0, 1, 0, 0x01).status, Status::good);
    } else {
        EXPECT_CHECK(prout(a, action_register, 0, 1, 0, 0x01), 0x05, 0x26, 0x00);  // PTPL_C=0
        ASSERT_EQ(prout(a, action_register, 0, 1).status, Status::good);
    }
    EXPECT_CHECK(prout(a, action_reserve, 1, 0, 0x02), 0x05, 0x24, 0x00);  // TYPE 2 does not exist
    EXPECT_CHECK(prout(a, action_reserve, 1, 0, 0x11), 0x05, 0x24, 0x00);  // SCOPE 1
}

TEST_P(Pr, ReportCapabilities) {
    auto r = prin(a, 2);
    const uint8_t ptpl_c = shared() ? 0x01 : 0x00;
    EXPECT_EQ(r.data, (std::vector<uint8_t>{0, 8, static_cast<uint8_t>(0x10 | ptpl_c), 0x80, 0xEA,
                                            0x01, 0, 0}));
}

TEST_P(Pr, ReserveReadReservationAndRelease) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    // Not registered, or the wrong key: RESERVATION CONFLICT.
    EXPECT_EQ(prout(b, action_reserve, 0, 0, type_we).status, Status::reservation_conflict);
    EXPECT_EQ(prout(a, action_reserve, 0xB, 0, type_we).status, Status::reservation_conflict);
    EXPECT_EQ(prout(a, action_reserve, 0xA, 0, type_we).status, Status::good);
    EXPECT_EQ(prout(a, action_reserve, 0xA, 0, type_we).status, Status::good);  // again: no change
    EXPECT_EQ(prout(a, action_reserve, 0xA, 0, type_ea).status, Status::reservation_conflict);
    auto rr = prin(b, 1);
    ASSERT_EQ(rr.data.size(), 24u);
    EXPECT_EQ(get_be32(rr.data, 0), 1u);  // RESERVE does not bump the generation
    EXPECT_EQ(get_be32(rr.data, 4), 16u);
    EXPECT_EQ(get_be64(rr.data, 8), 0xAu);
    EXPECT_EQ(rr.data[21], type_we);
    // Releasing with another type: INVALID RELEASE OF PERSISTENT RESERVATION.
    EXPECT_CHECK(prout(a, action_release, 0xA, 0, type_ea), 0x05, 0x26, 0x04);
    ASSERT_EQ(prout(b, action_register, 0, 0xB).status, Status::good);
    // A registrant that does not hold it: GOOD, nothing released.
    EXPECT_EQ(prout(b, action_release, 0xB, 0, type_we).status, Status::good);
    EXPECT_EQ(prin(a, 1).data.size(), 24u);
    EXPECT_EQ(prout(a, action_release, 0xA, 0, type_we).status, Status::good);
    EXPECT_EQ(prin(a, 1).data.size(), 8u);
}

// SPC-4 Table 53 / SBC-3 Table 13, as libiscsi's ProutReserve.Access* tests read them: the
// holder reads and writes; a registrant and a non-registrant get what the type allows.
struct AccessCase {
    uint8_t type;
    bool reg_read, reg_write, unreg_read, unreg_write;
};

TEST_P(Pr, AccessByType) {
    const AccessCase cases[] = {
        {type_ea, false, false, false, false}, {type_we, true, false, true, false},
        {type_earo, true, true, false, false}, {type_wero, true, true, true, false},
        {type_eaar, true, true, false, false}, {type_wear, true, true, true, false},
    };
    for (const AccessCase& t : cases) {
        SCOPED_TRACE(static_cast<int>(t.type));
        ASSERT_EQ(prout(a, action_register_and_ignore, 0, 0xA).status, Status::good);
        ASSERT_EQ(prout(b, action_register_and_ignore, 0, 0xB).status, Status::good);
        ASSERT_EQ(prout(a, action_reserve, 0xA, 0, t.type).status, Status::good);
        EXPECT_EQ(read(a).status, Status::good);
        EXPECT_EQ(write(a).status, Status::good);
        auto expect = [](bool allowed) {
            return allowed ? Status::good : Status::reservation_conflict;
        };
        EXPECT_EQ(read(b).status, expect(t.reg_read));
        EXPECT_EQ(write(b).status, expect(t.reg_write));
        EXPECT_EQ(read(c).status, expect(t.unreg_read));
        EXPECT_EQ(write(c).status, expect(t.unreg_write));
        // INQUIRY, TEST UNIT READY, READ CAPACITY and PERSISTENT RESERVE IN always pass.
        EXPECT_EQ(exec(c, cdb16({0x12, 0, 0, 0, 36, 0})).status, Status::good);
        EXPECT_EQ(exec(c, cdb16({0x00, 0, 0, 0, 0, 0})).status, Status::good);
        EXPECT_EQ(exec(c, cdb16({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0})).status, Status::good);
        EXPECT_EQ(prin(c, 0).status, Status::good);
        // MODE SENSE conflicts for an I_T nexus without access.
        EXPECT_EQ(exec(c, cdb16({0x1A, 0, 0x3F, 0, 255, 0})).status, Status::reservation_conflict);
        ASSERT_EQ(prout(a, action_clear, 0xA, 0).status, Status::good);
        exec(b, cdb16({0x00, 0, 0, 0, 0, 0}));  // RESERVATIONS PREEMPTED
    }
}

TEST_P(Pr, ReleaseOfRegistrantsOnlyTellsRegistrants) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(b, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_wero).status, Status::good);
    ASSERT_EQ(prout(a, action_release, 0xA, 0, type_wero).status, Status::good);
    EXPECT_CHECK(exec(b, cdb16({0x00, 0, 0, 0, 0, 0})), 0x06, 0x2A, 0x04);
    EXPECT_EQ(exec(c, cdb16({0x00, 0, 0, 0, 0, 0})).status, Status::good);
    EXPECT_EQ(exec(a, cdb16({0x00, 0, 0, 0, 0, 0})).status, Status::good);
    // WE / EA releases establish no unit attention.
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_we).status, Status::good);
    ASSERT_EQ(prout(a, action_release, 0xA, 0, type_we).status, Status::good);
    EXPECT_EQ(exec(b, cdb16({0x00, 0, 0, 0, 0, 0})).status, Status::good);
}

TEST_P(Pr, ClearRemovesEverything) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(b, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_ea).status, Status::good);
    EXPECT_EQ(prout(c, action_clear, 0, 0).status, Status::reservation_conflict);
    ASSERT_EQ(prout(b, action_clear, 0xB, 0).status, Status::good);
    auto keys = prin(b, 0);
    EXPECT_EQ(get_be32(keys.data, 0), 3u);
    EXPECT_EQ(get_be32(keys.data, 4), 0u);
    EXPECT_EQ(prin(b, 1).data.size(), 8u);
    EXPECT_CHECK(exec(a, cdb16({0x00, 0, 0, 0, 0, 0})), 0x06, 0x2A, 0x03);
    EXPECT_EQ(exec(b, cdb16({0x00, 0, 0, 0, 0, 0})).status, Status::good);
}

TEST_P(Pr, PreemptHolderAndRemoveRegistration) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(b, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(c, action_register, 0, 0xC).status, Status::good);
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_we).status, Status::good);
    // An unknown key: RESERVATION CONFLICT; key 0 under a WE reservation: invalid.
    EXPECT_EQ(prout(b, action_preempt, 0xB, 0x77, type_ea).status, Status::reservation_conflict);
    EXPECT_CHECK(prout(b, action_preempt, 0xB, 0, type_ea), 0x05, 0x26, 0x00);
    // Removing a registration that does not hold the reservation.
    ASSERT_EQ(prout(b, action_preempt, 0xB, 0xC, type_ea).status, Status::good);
    EXPECT_CHECK(exec(c, cdb16({0x00, 0, 0, 0, 0, 0})), 0x06, 0x2A, 0x05);
    EXPECT_EQ(prin(a, 1).data[21], type_we);
    // Preempting the holder: b holds an EA reservation now, a lost its registration.
    ASSERT_EQ(prout(b, action_preempt, 0xB, 0xA, type_ea).status, Status::good);
    EXPECT_CHECK(exec(a, cdb16({0x00, 0, 0, 0, 0, 0})), 0x06, 0x2A, 0x05);
    auto rr = prin(b, 1);
    EXPECT_EQ(get_be64(rr.data, 8), 0xBu);
    EXPECT_EQ(rr.data[21], type_ea);
    EXPECT_EQ(read(a).status, Status::reservation_conflict);
    auto keys = prin(b, 0);
    ASSERT_EQ(keys.data.size(), 16u);
    EXPECT_EQ(get_be64(keys.data, 8), 0xBu);
}

TEST_P(Pr, AllRegistrantsPreemptWithKeyZero) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(b, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_wear).status, Status::good);
    auto rr = prin(c, 1);
    EXPECT_EQ(get_be64(rr.data, 8), 0u);  // all-registrants: key 0
    // b holds too: it may reserve the same type again, and its leaving keeps the reservation.
    EXPECT_EQ(prout(b, action_reserve, 0xB, 0, type_wear).status, Status::good);
    ASSERT_EQ(prout(b, action_preempt, 0xB, 0, type_ea).status, Status::good);
    EXPECT_CHECK(exec(a, cdb16({0x00, 0, 0, 0, 0, 0})), 0x06, 0x2A, 0x05);
    rr = prin(c, 1);
    EXPECT_EQ(rr.data[21], type_ea);
    EXPECT_EQ(get_be64(rr.data, 8), 0xBu);
}

TEST_P(Pr, UnregisteringHolderReleases) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(b, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_earo).status, Status::good);
    ASSERT_EQ(prout(a, action_register, 0xA, 0).status, Status::good);
    EXPECT_CHECK(exec(b, cdb16({0x00, 0, 0, 0, 0, 0})), 0x06, 0x2A, 0x04);
    EXPECT_EQ(prin(b, 1).data.size(), 8u);
}

TEST_P(Pr, ReadFullStatusTransportIds) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(b, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(b, action_reserve, 0xB, 0, type_we).status, Status::good);
    auto fs = prin(c, 3);
    ASSERT_EQ(fs.status, Status::good);
    // "iqn.test:a,i,0x000000000001" is 27 bytes: with its NUL, 28 = 7 x 4.
    const size_t desc = 24 + 4 + 28;
    ASSERT_EQ(fs.data.size(), 8 + 2 * desc);
    EXPECT_EQ(get_be32(fs.data, 4), 2 * desc);
    EXPECT_EQ(get_be64(fs.data, 8), 0xAu);
    EXPECT_EQ(fs.data[8 + 12], 0);  // not the holder
    EXPECT_EQ(get_be16(fs.data, 8 + 18), 1u);
    EXPECT_EQ(get_be32(fs.data, 8 + 20), 32u);
    EXPECT_EQ(fs.data[8 + 24], 0x45);
    EXPECT_EQ(get_be16(fs.data, 8 + 26), 28u);
    const std::string name(fs.data.begin() + 8 + 28, fs.data.begin() + 8 + 28 + 27);
    EXPECT_EQ(name, a.initiator_port);
    EXPECT_EQ(fs.data[8 + 28 + 27], 0);
    EXPECT_EQ(fs.data[8 + desc + 12], 0x01);  // b holds
    EXPECT_EQ(fs.data[8 + desc + 13], type_we);
}

TEST_P(Pr, RegistrationsSurviveNexusLoss) {
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_ea).status, Status::good);
    device->nexus_removed(a);
    // A new session of the same initiator port: a new Nexus::id, the same I_T nexus.
    Nexus again = a;
    again.id = 42;
    device->nexus_added(again);
    exec(again, cdb16({0x00, 0, 0, 0, 0, 0}));
    EXPECT_EQ(read(again).status, Status::good);
    EXPECT_EQ(read(b).status, Status::reservation_conflict);
    device->target_reset();
    exec(again, cdb16({0x00, 0, 0, 0, 0, 0}));
    exec(b, cdb16({0x00, 0, 0, 0, 0, 0}));
    EXPECT_EQ(read(b).status, Status::reservation_conflict);
}

TEST_P(Pr, Spc2ReserveRelease) {
    const auto reserve6 = cdb16({0x16, 0, 0, 0, 0, 0});
    const auto release6 = cdb16({0x17, 0, 0, 0, 0, 0});
    const auto reserve10 = cdb16({0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    ASSERT_EQ(exec(a, reserve6).status, Status::good);
    EXPECT_EQ(exec(a, reserve6).status, Status::good);
    EXPECT_EQ(exec(b, reserve10).status, Status::reservation_conflict);
    EXPECT_EQ(exec(b, release6).status, Status::good);  // no effect
    EXPECT_EQ(read(b).status, Status::reservation_conflict);
    EXPECT_EQ(exec(b, cdb16({0x1A, 0, 0x3F, 0, 255, 0})).status, Status::reservation_conflict);
    EXPECT_EQ(exec(b, cdb16({0x12, 0, 0, 0, 36, 0})).status, Status::good);
    EXPECT_EQ(exec(b, cdb16({0x03, 0, 0, 0, 18, 0})).status, Status::good);
    EXPECT_EQ(read(a).status, Status::good);
    EXPECT_EQ(write(a).status, Status::good);
    // SPC-3 §5.6.3: PERSISTENT RESERVE IN/OUT conflict while an SPC-2 reservation exists.
    EXPECT_EQ(prin(a, 0).status, Status::reservation_conflict);
    EXPECT_EQ(prout(b, action_register, 0, 1).status, Status::reservation_conflict);
    // 3RDPTY is not supported.
    EXPECT_CHECK(exec(a, cdb16({0x16, 0x10, 0, 0, 0, 0})), 0x05, 0x24, 0x00);
    ASSERT_EQ(exec(a, release6).status, Status::good);
    EXPECT_EQ(exec(b, reserve10).status, Status::good);
    // I_T nexus loss releases it.
    device->nexus_removed(b);
    EXPECT_EQ(exec(a, reserve6).status, Status::good);
    // A LUN reset releases it too.
    device->lun_reset(0);
    exec(a, cdb16({0x00, 0, 0, 0, 0, 0}));  // BUS DEVICE RESET FUNCTION OCCURRED
    exec(c, cdb16({0x00, 0, 0, 0, 0, 0}));
    EXPECT_EQ(exec(c, reserve6).status, Status::good);
    ASSERT_EQ(exec(c, release6).status, Status::good);
    // With a registration in place, RESERVE and RELEASE conflict from everyone.
    ASSERT_EQ(prout(a, action_register, 0, 0xA).status, Status::good);
    EXPECT_EQ(exec(a, reserve6).status, Status::reservation_conflict);
    EXPECT_EQ(exec(c, release6).status, Status::reservation_conflict);
}

TEST_P(Pr, AptplPersistsAcrossRestart) {
    if (shared()) {
        GTEST_SKIP() << "the state file only; SharedPr.StateOutlivesTheGatewayWhateverAptpl has "
                        "shared records";
    }
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("atsarray-pr-test-" + std::to_string(::getpid())))
                                 .string();
    std::filesystem::remove(path);
    LunSettings s = default_settings(0, 64);
    s.state_path = path;
    make_device(s);
    EXPECT_EQ(prin(a, 2).data[2], 0x11);  // PTPL_C
    ASSERT_EQ(prout(a, action_register, 0, 0xA, 0, 0x01).status, Status::good);
    ASSERT_EQ(prout(b, action_register, 0, 0xB, 0, 0x01).status, Status::good);
    ASSERT_EQ(prout(a, action_reserve, 0xA, 0, type_wero).status, Status::good);
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(prin(a, 2).data[3], 0x81);  // PTPL_A

    make_device(s);  // "power loss": a new LUN over the same state file
    auto keys = prin(c, 0);
    EXPECT_EQ(get_be32(keys.data, 0), 2u);
    ASSERT_EQ(keys.data.size(), 24u);
    EXPECT_EQ(get_be64(keys.data, 16), 0xBu);
    auto rr = prin(c, 1);
    ASSERT_EQ(rr.data.size(), 24u);
    EXPECT_EQ(rr.data[21], type_wero);
    EXPECT_EQ(write(c).status, Status::reservation_conflict);

    // APTPL=0 in the last REGISTER: nothing persists any more.
    ASSERT_EQ(prout(b, action_register, 0xB, 0xB).status, Status::good);
    EXPECT_FALSE(std::filesystem::exists(path));
    make_device(s);
    EXPECT_EQ(prin(c, 0).data.size(), 8u);
    std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(StateFileOrSharedRecords, Pr, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                             return info.param ? "shared_records" : "local";
                         });

}  // namespace
}  // namespace atsarray::scsi::test
