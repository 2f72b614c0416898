// Persistent reservations kept in shared records (several gateways exporting one image): two
// TargetDevices, each the LUN of one gateway, over one FakeSharedRecords. The gateways are
// target port groups 1 and 2, so each I_T nexus has its gateway's relative target port.

#include <sstream>

#include <gtest/gtest.h>

#include "target/scsi/cdb.hpp"
#include "tests/unit/scsi/fake_shared_records.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

constexpr uint8_t type_we = 0x1, type_ea = 0x3, type_wero = 0x5;
enum : uint8_t {
    action_register = 0,
    action_reserve = 1,
    action_release = 2,
    action_clear = 3,
    action_preempt = 4
};

struct Gateway {
    std::shared_ptr<Lun> lun;
    std::unique_ptr<TargetDevice> device;
};

class SharedPr : public ::testing::Test {
  protected:
    void SetUp() override {
        gw1 = make_gateway({&a1, &shared1});
        gw2 = make_gateway({&b2, &shared2});
    }

    Gateway make_gateway(std::initializer_list<const Nexus*> nexuses) {
        Gateway g;
        g.device = std::make_unique<TargetDevice>();
        g.lun =
            std::make_shared<Lun>(default_settings(0, 64), std::make_shared<FakeStore>(512 * 64));
        EXPECT_TRUE(share_reservations(*g.lun, records));
        g.device->add_lun(0, g.lun);
        for (const Nexus* n : nexuses) {
            g.device->nexus_added(*n);
            exec(g, *n, cdb16({0x00, 0, 0, 0, 0, 0}));  // clears POWER ON RESET
        }
        return g;
    }

    Result exec(Gateway& g, const Nexus& n, std::vector<uint8_t> cdb,
                std::vector<uint8_t> data_out = {}) {
        Request r{std::move(cdb), 0, &n, std::nullopt, std::move(data_out)};
        Result res = run(*g.device, r);
        EXPECT_EQ(res.completions, 1);
        return res;
    }

    Result prout(Gateway& g, const Nexus& n, uint8_t action, uint64_t key, uint64_t sa_key,
                 uint8_t type = 0, uint8_t flags = 0) {
        std::vector<uint8_t> p(24, 0);
        put_be64(p, 0, key);
        put_be64(p, 8, sa_key);
        p[20] = flags;
        return exec(g, n, cdb16({0x5F, action, type, 0, 0, 0, 0, 0, 24, 0}), p);
    }

    Result prin(Gateway& g, const Nexus& n, uint8_t action) {
        return exec(g, n, cdb16({0x5E, action, 0, 0, 0, 0, 0, 0x10, 0x00, 0}));
    }

    Result tur(Gateway& g, const Nexus& n) { return exec(g, n, cdb16({0x00, 0, 0, 0, 0, 0})); }
    Result read(Gateway& g, const Nexus& n) {
        return exec(g, n, cdb16({0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0}));
    }
    Result write(Gateway& g, const Nexus& n) {
        return exec(g, n, cdb16({0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0}),
                    std::vector<uint8_t>(512, 0xAB));
    }

    FakeSharedRecords records;  // outlives the gateways
    Gateway gw1;
    Gateway gw2;
    // Host A's port through gateway 1, host B's through gateway 2, and one initiator port that
    // logged in to both gateways: two I_T nexuses (relative target ports 1 and 2).
    Nexus a1{1, "iqn.test:a", "iqn.test:a,i,0x000000000001", "127.0.0.1:1", 1};
    Nexus b2{2, "iqn.test:b", "iqn.test:b,i,0x000000000002", "127.0.0.1:2", 2};
    Nexus shared1{3, "iqn.test:s", "iqn.test:s,i,0x000000000003", "127.0.0.1:3", 1};
    Nexus shared2{4, "iqn.test:s", "iqn.test:s,i,0x000000000003", "127.0.0.1:4", 2};
};

TEST_F(SharedPr, ReservationThroughOneGatewayIsEnforcedByTheOther) {
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_we).status, Status::good);
    EXPECT_EQ(write(gw2, b2).status, Status::reservation_conflict);
    EXPECT_EQ(read(gw2, b2).status, Status::good);  // Write Exclusive: reads pass
    EXPECT_EQ(write(gw1, a1).status, Status::good);
    auto keys = prin(gw2, b2, 0);
    ASSERT_EQ(keys.data.size(), 16u);
    EXPECT_EQ(get_be32(keys.data, 0), 1u);  // one generation, the same on every gateway
    EXPECT_EQ(get_be64(keys.data, 8), 0xAu);
    auto reservation = prin(gw2, b2, 1);
    ASSERT_EQ(reservation.data.size(), 24u);
    EXPECT_EQ(get_be64(reservation.data, 8), 0xAu);
    EXPECT_EQ(reservation.data[21], type_we);
    // B cannot take a reservation gateway 1's nexus holds.
    ASSERT_EQ(prout(gw2, b2, action_register, 0, 0xB).status, Status::good);
    EXPECT_EQ(prout(gw2, b2, action_reserve, 0xB, 0, type_ea).status, Status::reservation_conflict);
    // Released through gateway 1: gateway 2 lets B write again.
    ASSERT_EQ(prout(gw1, a1, action_release, 0xA, 0, type_we).status, Status::good);
    EXPECT_EQ(write(gw2, b2).status, Status::good);
}

// SPC-4 §5.13.1: the I_T nexus is the initiator port and the target port; the same initiator
// port through two gateways is two nexuses, registered and holding apart.
TEST_F(SharedPr, OneInitiatorPortThroughTwoGatewaysIsTwoNexuses) {
    ASSERT_EQ(prout(gw1, shared1, action_register, 0, 0x5).status, Status::good);
    ASSERT_EQ(prout(gw1, shared1, action_reserve, 0x5, 0, type_ea).status, Status::good);
    EXPECT_EQ(read(gw1, shared1).status, Status::good);
    EXPECT_EQ(read(gw2, shared2).status, Status::reservation_conflict);
    // Not registered through gateway 2: its key is unknown there.
    EXPECT_EQ(prout(gw2, shared2, action_release, 0x5, 0, type_ea).status,
              Status::reservation_conflict);
    auto full = prin(gw2, shared2, 3);
    ASSERT_EQ(full.status, Status::good);
    EXPECT_EQ(get_be16(full.data, 8 + 18), 1u);  // RELATIVE TARGET PORT IDENTIFIER: gateway 1
    // Registered through gateway 2 as well, under exclusive access registrants only it has
    // access there too.
    ASSERT_EQ(prout(gw2, shared2, action_register, 0, 0x6).status, Status::good);
    ASSERT_EQ(prout(gw1, shared1, action_preempt, 0x5, 0x5, 0x6).status, Status::good);
    EXPECT_CHECK(tur(gw2, shared2), 0x06, 0x2A, 0x04);  // the type changed: RESERVATIONS RELEASED
    EXPECT_EQ(read(gw2, shared2).status, Status::good);
    EXPECT_EQ(read(gw2, b2).status, Status::reservation_conflict);
}

// A PREEMPT through gateway 2 removes a registration made through gateway 1: the preempted
// I_T nexus learns it on gateway 1 (SPC-4 §5.13.11.4), once.
TEST_F(SharedPr, UnitAttentionsReachTheOtherGateway) {
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_we).status, Status::good);
    ASSERT_EQ(prout(gw2, b2, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(gw2, b2, action_preempt, 0xB, 0xA, type_we).status, Status::good);
    EXPECT_CHECK(tur(gw1, a1), 0x06, 0x2A, 0x05);  // REGISTRATIONS PREEMPTED
    EXPECT_EQ(tur(gw1, a1).status, Status::good);
    EXPECT_EQ(tur(gw2, b2).status, Status::good);  // none for the preempting nexus
    EXPECT_EQ(write(gw1, a1).status, Status::reservation_conflict);
    EXPECT_EQ(write(gw2, b2).status, Status::good);
    // CLEAR through gateway 1 by a new registrant: B learns RESERVATIONS PREEMPTED on gateway 2.
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xAA).status, Status::good);
    ASSERT_EQ(prout(gw1, a1, action_clear, 0xAA, 0).status, Status::good);
    EXPECT_CHECK(tur(gw2, b2), 0x06, 0x2A, 0x03);
    EXPECT_EQ(tur(gw2, b2).status, Status::good);
    EXPECT_EQ(tur(gw1, a1).status, Status::good);
}

// The unit attentions of a command whose notice was lost arrive with the next refresh.
TEST_F(SharedPr, UnitAttentionsOfMissedNoticesArriveLater) {
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(gw2, b2, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(gw2, b2, action_reserve, 0xB, 0, type_wero).status, Status::good);
    records.delivers_notices = false;
    ASSERT_EQ(prout(gw2, b2, action_release, 0xB, 0, type_wero).status, Status::good);
    EXPECT_EQ(tur(gw1, a1).status, Status::good);  // not known on gateway 1 yet
    records.notify("persistent-reservations");     // the notice, late
    EXPECT_CHECK(tur(gw1, a1), 0x06, 0x2A, 0x04);  // RESERVATIONS RELEASED
    EXPECT_EQ(tur(gw1, a1).status, Status::good);
    records.notify("persistent-reservations");  // again: nothing new
    EXPECT_EQ(tur(gw1, a1).status, Status::good);
}

// The documented window: a gateway whose notice did not arrive checks regular commands against
// its previous copy; PERSISTENT RESERVE IN reads the record and brings the copy up to date.
TEST_F(SharedPr, PersistentReserveInReadsTheRecord) {
    records.delivers_notices = false;
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_ea).status, Status::good);
    EXPECT_EQ(read(gw2, b2).status, Status::good);  // gateway 2 has not heard of it
    auto keys = prin(gw2, b2, 0);
    ASSERT_EQ(keys.data.size(), 16u);
    EXPECT_EQ(get_be64(keys.data, 8), 0xAu);
    EXPECT_EQ(read(gw2, b2).status, Status::reservation_conflict);
}

// Every PERSISTENT RESERVE OUT decides on the record, not on the local copy: a gateway that
// missed a notice still cannot take a reservation another gateway holds.
TEST_F(SharedPr, OutDecidesOnTheRecordNotTheLocalCopy) {
    records.delivers_notices = false;
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(gw2, b2, action_register, 0, 0xB).status, Status::good);
    ASSERT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_we).status, Status::good);
    EXPECT_EQ(prout(gw2, b2, action_reserve, 0xB, 0, type_we).status, Status::reservation_conflict);
    auto keys = prin(gw1, a1, 0);
    EXPECT_EQ(keys.data.size(), 8u + 16u);  // both registrations, neither lost
}

// Another gateway's write between this gateway's read and its write_if: read again, decide
// again, write again.
TEST_F(SharedPr, ConflictingWriteIsRetried) {
    records.before_next_write = [this] {
        ASSERT_EQ(prout(gw2, b2, action_register, 0, 0xB).status, Status::good);
    };
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    EXPECT_EQ(records.conflicts, 1);
    auto keys = prin(gw1, a1, 0);
    ASSERT_EQ(keys.data.size(), 8u + 16u);
    EXPECT_EQ(get_be32(keys.data, 0), 2u);
    // The retry decides on the new state: B's reservation, taken in between, makes A's
    // RESERVE a conflict.
    records.before_next_write = [this] {
        ASSERT_EQ(prout(gw2, b2, action_reserve, 0xB, 0, type_ea).status, Status::good);
    };
    EXPECT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_ea).status, Status::reservation_conflict);
    EXPECT_EQ(read(gw1, a1).status, Status::reservation_conflict);
}

// A cluster that does not answer in time: BUSY, so the host retries (SAM-5 §5.3.1).
TEST_F(SharedPr, ClusterTimeoutAnswersBusy) {
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    records.timing_out = true;
    EXPECT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_we).status, Status::busy);
    EXPECT_EQ(prin(gw2, b2, 0).status, Status::busy);
    // Regular commands go on against the local copy.
    EXPECT_EQ(write(gw2, b2).status, Status::good);
    records.timing_out = false;
    EXPECT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_we).status, Status::good);
    EXPECT_EQ(write(gw2, b2).status, Status::reservation_conflict);
}

// The state lives in the cluster: a gateway started later (or again) finds it, whatever APTPL
// was (PTPL_C=1; APTPL is only reported back in PTPL_A).
TEST_F(SharedPr, StateOutlivesTheGatewayWhateverAptpl) {
    ASSERT_EQ(prout(gw1, a1, action_register, 0, 0xA).status, Status::good);
    ASSERT_EQ(prout(gw1, a1, action_reserve, 0xA, 0, type_ea).status, Status::good);
    gw1 = {};
    Gateway gw3 = make_gateway({&a1});
    EXPECT_EQ(read(gw3, a1).status, Status::good);
    EXPECT_EQ(write(gw2, b2).status, Status::reservation_conflict);
    auto caps = prin(gw3, a1, 2);
    EXPECT_EQ(caps.data[2], 0x11);  // CRH, PTPL_C
    EXPECT_EQ(caps.data[3], 0x80);  // PTPL_A 0: the last REGISTER said APTPL 0
    ASSERT_EQ(prout(gw3, a1, action_register, 0xA, 0xA, 0, 0x01).status, Status::good);
    EXPECT_EQ(prin(gw2, b2, 2).data[3], 0x81);
}

TEST(PrState, TextRoundTrip) {
    PrState s;
    s.generation = 7;
    s.aptpl = true;
    s.registrations = {{{"iqn.test:a,i,0x01", 1}, 0xA}, {{"iqn.test:b,i,0x02", 2}, 0xFFFF}};
    s.reservation =
        PersistentReservation{PrType::write_exclusive_registrants_only, {"iqn.test:b,i,0x02", 2}};
    s.ua_sequence = 3;
    s.unit_attentions = {{3, SenseReason::registrations_preempted, {"iqn.test:c,i,0x03", 1}},
                         {3, SenseReason::reservations_released, {"iqn.test:a,i,0x01", 1}}};
    std::istringstream in(serialize_pr_state(s, true));
    std::string error;
    std::optional<PrState> back = parse_pr_state(in, error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->generation, 7u);
    EXPECT_TRUE(back->aptpl);
    ASSERT_EQ(back->registrations.size(), 2u);
    EXPECT_EQ(back->registrations[1].key, 0xFFFFu);
    EXPECT_EQ(back->registrations[1].nexus, (PrNexus{"iqn.test:b,i,0x02", 2}));
    ASSERT_TRUE(back->reservation);
    EXPECT_EQ(back->reservation->type, PrType::write_exclusive_registrants_only);
    EXPECT_EQ(back->reservation->holder, (PrNexus{"iqn.test:b,i,0x02", 2}));
    EXPECT_EQ(back->ua_sequence, 3u);
    ASSERT_EQ(back->unit_attentions.size(), 2u);
    EXPECT_EQ(back->unit_attentions[0].reason, SenseReason::registrations_preempted);
    EXPECT_EQ(back->unit_attentions[1].nexus, (PrNexus{"iqn.test:a,i,0x01", 1}));

    for (const std::string bad :
         {"something else\n", "atsarray-persistent-reservations 1\nregistration zz 1 x\n",
          "atsarray-persistent-reservations 1\nreservation 2 1 x\n",
          "atsarray-persistent-reservations 1\nunit-attention 1 power-on 1 x\n",
          "atsarray-persistent-reservations 1\nwhatever 1\n"}) {
        std::istringstream damaged(bad);
        EXPECT_FALSE(parse_pr_state(damaged, error)) << bad;
    }
}

// A damaged record is refused, not taken for an empty state.
TEST_F(SharedPr, DamagedRecordFailsTheCommand) {
    bool written = false;
    uint64_t version = 0;
    ASSERT_TRUE(records.write_if("persistent-reservations", "garbage", 0, written, version).ok());
    ASSERT_TRUE(written);
    EXPECT_CHECK(prout(gw1, a1, action_register, 0, 0xA), 0x04, 0x44, 0x00);
}

}  // namespace
}  // namespace atsarray::scsi::test
