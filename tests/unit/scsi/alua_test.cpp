// ALUA (SPC-4 §5.16): per-state sense, REPORT and SET TARGET PORT GROUPS, the unit attention after
// a change, transitions on an injected clock, INQUIRY's TPGS and VPD 0x83 designators.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "target/scsi/alua.hpp"
#include "target/scsi/cdb.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using namespace std::chrono_literals;

std::vector<uint8_t> read10() {
    return cdb16({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0});
}
std::vector<uint8_t> test_unit_ready() {
    return cdb16({0x00, 0, 0, 0, 0, 0});
}
std::vector<uint8_t> inquiry(uint8_t evpd = 0, uint8_t page = 0) {
    return cdb16({0x12, evpd, page, 0, 0xFF, 0});
}
std::vector<uint8_t> mode_sense6() {
    return cdb16({0x1A, 0, 0x3F, 0, 0xFF, 0});
}
std::vector<uint8_t> request_sense() {
    return cdb16({0x03, 0, 0, 0, 0xFF, 0});
}
std::vector<uint8_t> rtpg(bool extended, uint32_t allocation_length = 0xFFFF) {
    std::vector<uint8_t> c = cdb16({0xA3, static_cast<uint8_t>(extended ? 0x2A : 0x0A)});
    put_be32(c, 6, allocation_length);
    return c;
}
std::vector<uint8_t> stpg(uint32_t parameter_list_length) {
    std::vector<uint8_t> c = cdb16({0xA4, 0x0A});
    put_be32(c, 6, parameter_list_length);
    return c;
}
// A SET TARGET PORT GROUPS parameter list: the reserved header, then (state, group) descriptors.
std::vector<uint8_t> stpg_list(std::initializer_list<std::pair<uint8_t, uint16_t>> descriptors) {
    std::vector<uint8_t> p(4, 0);
    for (const auto& [state, group] : descriptors) {
        p.push_back(state);
        p.push_back(0);
        p.push_back(static_cast<uint8_t>(group >> 8));
        p.push_back(static_cast<uint8_t>(group));
    }
    return p;
}

// Two controllers: group 1 (port 1) active/optimized and preferred, group 2 (port 2)
// active/non-optimized. Nexus `a` logs in on port 1, `b` on port 2. The clock is the test's.
class Alua : public ::testing::Test {
  protected:
    void SetUp() override { make(config()); }

    static AluaConfig config() {
        AluaConfig c;
        TargetPortGroupConfig a;
        a.id = 1;
        a.relative_target_ports = {1};
        a.state = AluaState::active_optimized;
        a.preferred = true;
        TargetPortGroupConfig b;
        b.id = 2;
        b.relative_target_ports = {2};
        b.state = AluaState::active_non_optimized;
        c.groups = {a, b};
        c.explicit_supported = true;
        c.implicit_transition_time = 2500ms;
        return c;
    }

    void make(AluaConfig c) {
        groups = std::make_shared<TargetPortGroups>(std::move(c), [this] { return now; });
        LunServices services;
        services.port_groups = groups;
        const LunSettings s = default_settings();
        store = std::make_shared<FakeStore>(s.block_count * s.block_size);
        lun = std::make_shared<Lun>(s, store, Lun::SubmitBlocking{}, services);
        lun->nexus_added(a);
        lun->nexus_added(b);
        clear_unit_attentions();
    }

    void clear_unit_attentions() {
        while (lun->unit_attentions().take(a.id)) {
        }
        while (lun->unit_attentions().take(b.id)) {
        }
    }

    Result exec(const Nexus& n, std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {}) {
        Request r;
        r.cdb = std::move(cdb);
        r.nexus = &n;
        r.data_out = std::move(data_out);
        Result res = run(*lun, r);
        EXPECT_EQ(res.completions, 1);
        return res;
    }

    // SET TARGET PORT GROUPS with `list` as its whole parameter list.
    Result set_groups(const Nexus& n, const std::vector<uint8_t>& list) {
        return exec(n, stpg(static_cast<uint32_t>(list.size())), list);
    }

    void put_group_in(uint16_t group, AluaState state, std::chrono::milliseconds transition = 0ms) {
        ASSERT_TRUE(groups->change_state(group, state, AluaStatus::altered_by_implicit_behavior,
                                         transition));
        clear_unit_attentions();
    }

    std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
    Nexus a{7, "iqn.test:host-a", "iqn.test:host-a,i,0x1", "127.0.0.1:1", 1};
    Nexus b{8, "iqn.test:host-b", "iqn.test:host-b,i,0x1", "127.0.0.1:2", 2};
    std::shared_ptr<TargetPortGroups> groups;
    std::shared_ptr<FakeStore> store;
    std::shared_ptr<Lun> lun;
};

// The two descriptors of the fixture's model as REPORT TARGET PORT GROUPS lists them.
std::vector<uint8_t> two_group_descriptors(uint8_t state1, uint8_t status1, uint8_t state2,
                                           uint8_t status2) {
    return {static_cast<uint8_t>(0x80 | state1),
            0x8F,
            0,
            1,
            0,
            status1,
            0,
            1,
            0,
            0,
            0,
            1,
            state2,
            0x8F,
            0,
            2,
            0,
            status2,
            0,
            1,
            0,
            0,
            0,
            2};
}

TEST_F(Alua, ActiveNonOptimizedServesEveryCommand) {
    EXPECT_EQ(exec(b, read10()).status, Status::good);
    EXPECT_EQ(exec(b, test_unit_ready()).status, Status::good);
    EXPECT_EQ(exec(b, cdb16({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}), pattern(512, 3)).status,
              Status::good);
}

TEST_F(Alua, StandbyRefusesMediumAccessWithNotReady040BAndAllowsWhatSpc4Lists) {
    put_group_in(2, AluaState::standby);
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0B);
    EXPECT_CHECK(exec(b, test_unit_ready()), 0x02, 0x04, 0x0B);
    EXPECT_CHECK(exec(b, cdb16({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0})), 0x02, 0x04, 0x0B);
    EXPECT_EQ(exec(b, inquiry()).status, Status::good);
    EXPECT_EQ(exec(b, mode_sense6()).status, Status::good);
    EXPECT_EQ(exec(b, rtpg(false)).status, Status::good);
    EXPECT_EQ(exec(b, request_sense()).status, Status::good);
    EXPECT_EQ(exec(b, cdb16({0x5E, 0x00, 0, 0, 0, 0, 0, 0, 0xFF, 0})).status, Status::good);
    EXPECT_EQ(exec(b, cdb16({0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0})).status, Status::good);
    // The other group's port is not affected.
    EXPECT_EQ(exec(a, read10()).status, Status::good);
}

TEST_F(Alua, RequestSenseReportsTheStateOfThePortAsPollableSense) {
    put_group_in(2, AluaState::standby);
    auto r = exec(b, request_sense());
    ASSERT_EQ(r.status, Status::good);
    ASSERT_GE(r.data.size(), 14u);
    EXPECT_EQ(r.data[2] & 0x0F, 0x02);
    EXPECT_EQ(r.data[12], 0x04);
    EXPECT_EQ(r.data[13], 0x0B);
    EXPECT_EQ(exec(a, request_sense()).data[2] & 0x0F, 0x00);  // NO SENSE on the active port
}

TEST_F(Alua, UnavailableRefusesModeSenseWithNotReady040CAndAllowsSetTargetPortGroups) {
    put_group_in(2, AluaState::unavailable);
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0C);
    EXPECT_CHECK(exec(b, mode_sense6()), 0x02, 0x04,
                 0x0C);  // standby would allow it
    EXPECT_EQ(exec(b, inquiry()).status, Status::good);
    EXPECT_EQ(exec(b, rtpg(true)).status, Status::good);
    EXPECT_EQ(set_groups(b, stpg_list({{0x1, 2}})).status, Status::good);
    EXPECT_EQ(exec(b, read10()).status, Status::good);
}

TEST_F(Alua, TransitioningRefusesWithNotReady040AThenTheNewStateApplies) {
    put_group_in(2, AluaState::standby, 5000ms);
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0A);
    EXPECT_CHECK(exec(b, mode_sense6()), 0x02, 0x04, 0x0A);
    EXPECT_CHECK(set_groups(b, stpg_list({{0x0, 2}})), 0x02, 0x04, 0x0A);
    EXPECT_EQ(exec(b, inquiry()).status, Status::good);
    EXPECT_EQ(exec(b, request_sense()).status, Status::good);
    auto during = exec(b, rtpg(false));
    ASSERT_EQ(during.status, Status::good);
    EXPECT_EQ(during.data[4 + 12] & 0x0F, 0x0F);  // group 2: transitioning
    EXPECT_EQ(lun->unit_attentions().pending(a.id), 0u);

    now += 4999ms;
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0A);
    now += 1ms;
    // The implicit change ends: every I_T nexus hears of it first, then the new state applies.
    EXPECT_CHECK(exec(b, read10()), 0x06, 0x2A, 0x06);
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0B);
    EXPECT_CHECK(exec(a, read10()), 0x06, 0x2A, 0x06);
    EXPECT_EQ(exec(a, read10()).status, Status::good);
    auto after = exec(b, rtpg(false));
    EXPECT_EQ(after.data[4 + 12], 0x02);  // standby
    EXPECT_EQ(after.data[4 + 12 + 5],
              0x02);  // STATUS CODE: altered by implicit behaviour
}

TEST_F(Alua, ReportTargetPortGroupsLengthOnlyFormat) {
    auto r = exec(a, rtpg(false));
    ASSERT_EQ(r.status, Status::good);
    std::vector<uint8_t> expected{0, 0, 0, 24};
    const auto groups_bytes = two_group_descriptors(0x0, 0x00, 0x1, 0x00);
    expected.insert(expected.end(), groups_bytes.begin(), groups_bytes.end());
    EXPECT_EQ(r.data, expected);
}

TEST_F(Alua, ReportTargetPortGroupsExtendedHeaderHasImplicitTransitionTime) {
    auto r = exec(a, rtpg(true));
    ASSERT_EQ(r.status, Status::good);
    // RETURN DATA LENGTH counts the rest of the extended header; 2.5 s rounds up to 3.
    std::vector<uint8_t> expected{0, 0, 0, 28, 0x10, 3, 0, 0};
    const auto groups_bytes = two_group_descriptors(0x0, 0x00, 0x1, 0x00);
    expected.insert(expected.end(), groups_bytes.begin(), groups_bytes.end());
    EXPECT_EQ(r.data, expected);
}

TEST_F(Alua, ReportTargetPortGroupsIsTheSameOnEveryPort) {
    put_group_in(1, AluaState::standby);
    for (bool extended : {false, true}) {
        const auto on_a = exec(a, rtpg(extended));
        const auto on_b = exec(b, rtpg(extended));
        ASSERT_EQ(on_a.status, Status::good);
        EXPECT_EQ(on_a.data, on_b.data);
    }
}

TEST_F(Alua, ReportTargetPortGroupsHonoursAllocationLength) {
    const auto full = exec(a, rtpg(false)).data;
    for (uint32_t length : {0u, 3u, 6u, 17u, 27u}) {
        const auto r = exec(a, rtpg(false, length));
        ASSERT_EQ(r.status, Status::good) << length;
        EXPECT_EQ(r.data, std::vector<uint8_t>(full.begin(), full.begin() + length)) << length;
    }
    EXPECT_EQ(exec(a, rtpg(false, 1000)).data, full);
    const auto extended = exec(a, rtpg(true, 5));
    EXPECT_EQ(extended.data, (std::vector<uint8_t>{0, 0, 0, 28, 0x10}));
}

TEST_F(Alua, SetTargetPortGroupsChangesStatesAndStatusCodes) {
    // Fail over: controller B takes the optimized path, controller A goes to standby.
    ASSERT_EQ(set_groups(a, stpg_list({{0x0, 2}, {0x2, 1}})).status, Status::good);
    auto r = exec(a, rtpg(false));
    std::vector<uint8_t> expected{0, 0, 0, 24};
    const auto groups_bytes = two_group_descriptors(0x2, 0x01, 0x0, 0x01);
    expected.insert(expected.end(), groups_bytes.begin(), groups_bytes.end());
    EXPECT_EQ(r.data, expected);
    EXPECT_CHECK(exec(a, read10()), 0x02, 0x04, 0x0B);
}

TEST_F(Alua, UnitAttentionGoesToEveryOtherNexusOnly) {
    ASSERT_EQ(set_groups(a, stpg_list({{0x3, 2}})).status, Status::good);
    EXPECT_EQ(lun->unit_attentions().pending(a.id), 0u);
    EXPECT_EQ(exec(a, read10()).status, Status::good);
    // Nexus b hears of it once, then sees the new state.
    EXPECT_CHECK(exec(b, read10()), 0x06, 0x2A, 0x06);
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0C);
    // REQUEST SENSE returns it as data too (SPC-4 §5.14).
    ASSERT_EQ(set_groups(a, stpg_list({{0x1, 2}})).status, Status::good);
    auto sense = exec(b, request_sense());
    ASSERT_EQ(sense.status, Status::good);
    ASSERT_GE(sense.data.size(), 14u);
    EXPECT_EQ(sense.data[2] & 0x0F, 0x06);
    EXPECT_EQ(sense.data[12], 0x2A);
    EXPECT_EQ(sense.data[13], 0x06);
}

TEST_F(Alua, SetTargetPortGroupsToTheCurrentStateChangesNothing) {
    ASSERT_EQ(set_groups(a, stpg_list({{0x0, 1}})).status, Status::good);
    EXPECT_EQ(lun->unit_attentions().pending(b.id), 0u);
    EXPECT_EQ(exec(a, rtpg(false)).data[4 + 5], 0x00);  // STATUS CODE unchanged
}

TEST_F(Alua, SetTargetPortGroupsWithTransitionTimeGoesThroughTransitioning) {
    AluaConfig c = config();
    c.explicit_transition_time = 2000ms;
    make(c);
    ASSERT_EQ(set_groups(a, stpg_list({{0x2, 2}})).status, Status::good);
    auto during = exec(a, rtpg(false));
    EXPECT_EQ(during.data[4 + 12], 0x0F);
    EXPECT_EQ(during.data[4 + 12 + 5], 0x01);
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0A);
    EXPECT_EQ(lun->unit_attentions().pending(b.id), 0u);
    now += 2s;
    EXPECT_EQ(exec(a, rtpg(false)).data[4 + 12], 0x02);
    EXPECT_EQ(lun->unit_attentions().pending(a.id), 0u);
    EXPECT_CHECK(exec(b, read10()), 0x06, 0x2A, 0x06);
    EXPECT_CHECK(exec(b, read10()), 0x02, 0x04, 0x0B);
}

TEST_F(Alua, SetTargetPortGroupsUnknownGroupIsAnInvalidFieldInParameterList) {
    const auto r = set_groups(a, stpg_list({{0x0, 9}}));
    EXPECT_CHECK(r, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0x8F, 0x00, 0x06}));  // byte 6, bit 7
}

TEST_F(Alua, SetTargetPortGroupsRefusesStatesThatCannotBeSet) {
    // Transitioning is the device server's own; offline and LBA dependent are not supported.
    for (uint8_t state : {uint8_t{0xF}, uint8_t{0xE}, uint8_t{0x4}, uint8_t{0x7}}) {
        const auto r = set_groups(a, stpg_list({{state, 2}}));
        EXPECT_CHECK(r, 0x05, 0x26, 0x00);
        EXPECT_EQ(sks(r), (std::vector<uint8_t>{0x8B, 0x00, 0x04})) << int{state};  // byte 4
    }
    // A group that does not support unavailable refuses it.
    AluaConfig c = config();
    c.groups[1].supported_states = alua_supported::active_optimized |
                                   alua_supported::active_non_optimized | alua_supported::standby;
    make(c);
    EXPECT_CHECK(set_groups(a, stpg_list({{0x3, 2}})), 0x05, 0x26, 0x00);
    EXPECT_EQ(set_groups(a, stpg_list({{0x2, 2}})).status, Status::good);
}

TEST_F(Alua, SetTargetPortGroupsRefusedListChangesNothing) {
    EXPECT_CHECK(set_groups(a, stpg_list({{0x2, 2}, {0x0, 9}})), 0x05, 0x26, 0x00);
    EXPECT_EQ(exec(b, read10()).status, Status::good);
    EXPECT_EQ(lun->unit_attentions().pending(b.id), 0u);
}

TEST_F(Alua, SetTargetPortGroupsParameterListLengthErrors) {
    // Inside the header, and ending inside a descriptor.
    EXPECT_CHECK(set_groups(a, {0, 0}), 0x05, 0x1A, 0x00);
    auto list = stpg_list({{0x2, 2}});
    list.resize(7);
    EXPECT_CHECK(set_groups(a, list), 0x05, 0x1A, 0x00);
    EXPECT_EQ(exec(b, read10()).status, Status::good);
    // PARAMETER LIST LENGTH 0 transfers nothing and is no error (SPC-4 §6.39).
    EXPECT_EQ(set_groups(a, {}).status, Status::good);
    // Less Data-Out than the length announced: the transport's error, as for MODE SELECT.
    EXPECT_CHECK(exec(a, stpg(8), {0, 0, 0, 0}), 0x05, 0x0E, 0x03);
}

TEST_F(Alua, ModelChangesReachEveryLunOfTheTarget) {
    LunServices services;
    services.port_groups = groups;
    auto other = std::make_shared<Lun>(default_settings(1), std::make_shared<FakeStore>(512 * 1024),
                                       Lun::SubmitBlocking{}, services);
    other->nexus_added(b);
    while (other->unit_attentions().take(b.id)) {
    }
    ASSERT_EQ(set_groups(a, stpg_list({{0x2, 2}})).status, Status::good);
    EXPECT_EQ(other->unit_attentions().take(b.id), SenseReason::asymmetric_access_state_changed);
    Request r;
    r.cdb = read10();
    r.lun = 1;
    r.nexus = &b;
    EXPECT_CHECK(run(*other, r), 0x02, 0x04, 0x0B);
}

TEST_F(Alua, InquiryReportsExplicitAluaAndThePortsDesignators) {
    auto standard = exec(b, inquiry());
    ASSERT_EQ(standard.status, Status::good);
    EXPECT_EQ(standard.data[5] & 0x30, 0x30);  // TPGS 11b
    for (const auto& [nexus, port] : {std::pair{&a, 1}, std::pair{&b, 2}}) {
        auto page = exec(*nexus, inquiry(1, 0x83));
        ASSERT_EQ(page.status, Status::good);
        const std::vector<uint8_t> tail(page.data.end() - 16, page.data.end());
        const auto p = static_cast<uint8_t>(port);
        EXPECT_EQ(tail, (std::vector<uint8_t>{0x51, 0x94, 0, 4, 0, 0, 0, p, 0x51, 0x95, 0, 4, 0, 0,
                                              0, p}));
    }
}

TEST_F(Alua, SingleImplicitGroupKeepsTodaysAnswers) {
    make(single_group_config());
    EXPECT_EQ(exec(b, inquiry()).data[5] & 0x30, 0x10);  // TPGS 01b
    // Explicit ALUA is not supported: SET TARGET PORT GROUPS is not a command here (as in LIO).
    EXPECT_CHECK(set_groups(a, stpg_list({{0x0, 1}})), 0x05, 0x20, 0x00);
    EXPECT_EQ(exec(b, rtpg(false)).data,
              (std::vector<uint8_t>{0, 0, 0, 12, 0x80, 0x01, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2}));
}

TEST_F(Alua, ReportSupportedOperationCodesListsSetTargetPortGroups) {
    auto r = exec(a, cdb16({0xA3, 0x0C, 0x02, 0xA4, 0x00, 0x0A, 0, 0, 0, 0xFF, 0, 0}));
    ASSERT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data[1] & 0x07, 0x03);  // SUPPORT: as the standard says
    EXPECT_EQ(get_be16(r.data, 2), 12u);
}

TEST(AluaModel, TransitionEndsOnTheInjectedClockAndTellsListenersWhoAsked) {
    auto now = std::chrono::steady_clock::time_point(std::chrono::seconds(50));
    AluaConfig c;
    c.groups.resize(2);
    c.groups[0].id = 10;
    c.groups[0].relative_target_ports = {1, 3};
    c.groups[1].id = 20;
    c.groups[1].relative_target_ports = {2};
    c.groups[1].state = AluaState::active_non_optimized;
    TargetPortGroups groups(c, [&now] { return now; });
    std::vector<std::optional<uint64_t>> heard;
    const uint64_t token = groups.subscribe([&heard](auto by) { heard.push_back(by); });

    EXPECT_EQ(groups.group_of_port(3), std::optional<uint16_t>(10));
    EXPECT_EQ(groups.group_of_port(4), std::nullopt);
    ASSERT_TRUE(groups.change_state(10, AluaState::standby,
                                    AluaStatus::altered_by_implicit_behavior, 3000ms));
    EXPECT_EQ(groups.state_of_port(3), AluaState::transitioning);
    EXPECT_TRUE(heard.empty());
    now += 2999ms;
    groups.poll();
    EXPECT_EQ(groups.state_of_port(1), AluaState::transitioning);
    now += 1ms;
    EXPECT_EQ(groups.state_of_port(1), AluaState::standby);
    ASSERT_EQ(heard.size(), 1u);
    EXPECT_EQ(heard[0], std::nullopt);  // implicit: every I_T nexus

    // Explicit, at once: the listener hears who asked.
    const auto list = std::vector<uint8_t>{0, 0, 0, 0, 0x00, 0, 0, 20};
    EXPECT_TRUE(groups.set_target_port_groups(list, 42).ok());
    ASSERT_EQ(heard.size(), 2u);
    EXPECT_EQ(heard[1], std::optional<uint64_t>(42));
    EXPECT_FALSE(groups.change_state(99, AluaState::standby, AluaStatus::none, 0ms));
    groups.unsubscribe(token);
    EXPECT_TRUE(groups.change_state(20, AluaState::standby, AluaStatus::none, 0ms));
    EXPECT_EQ(heard.size(), 2u);

    // RTPG data: one snapshot, the same bytes whichever port asks.
    const auto snapshot = groups.snapshot();
    EXPECT_EQ(report_target_port_groups_data(*snapshot, false, 1),
              report_target_port_groups_data(*snapshot, false, 2));
    EXPECT_EQ(report_target_port_groups_data(*snapshot, false, 1),
              (std::vector<uint8_t>{0, 0, 0, 28, 0x02, 0x8F, 0, 10, 0, 0x02, 0, 2, 0, 0, 0, 1,
                                    0, 0, 0, 3,  0x02, 0x8F, 0, 20, 0, 0x00, 0, 1, 0, 0, 0, 2}));
}

TEST(AluaConfigTest, BadConfigurationsAreRefusedAtStartUp) {
    auto two = [] {
        AluaConfig c;
        c.groups.resize(2);
        c.groups[0].id = 1;
        c.groups[0].relative_target_ports = {1};
        c.groups[1].id = 2;
        c.groups[1].relative_target_ports = {2};
        return c;
    };
    EXPECT_NO_THROW(TargetPortGroups{two()});
    AluaConfig port_twice = two();
    port_twice.groups[1].relative_target_ports = {2, 1};
    EXPECT_THROW(TargetPortGroups{port_twice}, std::invalid_argument);
    AluaConfig id_twice = two();
    id_twice.groups[1].id = 1;
    EXPECT_THROW(TargetPortGroups{id_twice}, std::invalid_argument);
    AluaConfig no_ports = two();
    no_ports.groups[1].relative_target_ports.clear();
    EXPECT_THROW(TargetPortGroups{no_ports}, std::invalid_argument);
    AluaConfig unsupported = two();
    unsupported.groups[1].state = AluaState::standby;
    unsupported.groups[1].supported_states = alua_supported::active_optimized;
    EXPECT_THROW(TargetPortGroups{unsupported}, std::invalid_argument);
    EXPECT_THROW(TargetPortGroups{AluaConfig{}}, std::invalid_argument);
}

TEST(AluaStateRules, EachStateHasItsOwnFunction) {
    const std::vector<uint8_t> tur{0x00, 0, 0, 0, 0, 0};
    const std::vector<uint8_t> echo_read_buffer{0x3C, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0};
    const std::vector<uint8_t> data_read_buffer{0x3C, 0x02, 0, 0, 0, 0, 0, 0, 0, 0};
    const std::vector<uint8_t> log_sense{0x4D, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ(alua_check_standby(tur).reason, SenseReason::alua_standby);
    EXPECT_TRUE(alua_check_standby(log_sense).ok());
    EXPECT_TRUE(alua_check_standby(echo_read_buffer).ok());
    EXPECT_EQ(alua_check_standby(data_read_buffer).reason, SenseReason::alua_standby);
    EXPECT_EQ(alua_check_unavailable(log_sense).reason, SenseReason::alua_unavailable);
    EXPECT_TRUE(alua_check_unavailable(echo_read_buffer).ok());
    EXPECT_EQ(alua_check_transitioning(tur).reason, SenseReason::alua_transitioning);
    EXPECT_TRUE(alua_check_transitioning(echo_read_buffer).ok());
    EXPECT_EQ(alua_check_transitioning({}).reason, SenseReason::alua_transitioning);
    EXPECT_TRUE(alua_check(AluaState::active_non_optimized, tur).ok());
}

// Readers on several threads while the state flips: each sees a whole state (run under TSan in CI's
// sanitizer build).
TEST(AluaThreads, ReadersSeeWholeStatesWhileItChanges) {
    AluaConfig c;
    c.groups.resize(1);
    c.groups[0].relative_target_ports = {1};
    TargetPortGroups groups(c);
    std::atomic<bool> stop{false};
    std::atomic<int> odd{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 2; ++i) {
        readers.emplace_back([&] {
            while (!stop.load()) {
                const AluaState s = groups.state_of_port(1);
                if (s != AluaState::active_optimized && s != AluaState::standby) {
                    ++odd;
                }
            }
        });
    }
    for (int i = 0; i < 2000; ++i) {
        groups.change_state(1, i % 2 == 0 ? AluaState::standby : AluaState::active_optimized,
                            AluaStatus::altered_by_implicit_behavior, 0ms);
    }
    stop.store(true);
    for (auto& t : readers) {
        t.join();
    }
    EXPECT_EQ(odd.load(), 0);
}

}  // namespace
}  // namespace atsarray::scsi::test
