// esxi-sim's multipath decisions (tools/esxi_sim/paths.hpp) from raw parameter data and made-up
// path states: RTPG and VPD 0x83 parsing, what each answer means, PSP_MRU's choice and each
// failover trigger.
#include <gtest/gtest.h>

#include <vector>

#include "tools/esxi_sim/paths.hpp"

namespace atsarray::sim {
namespace {

// One RTPG descriptor (SPC-4 §6.36 Table 262) with its relative target port ids.
void add_group(std::vector<uint8_t>& d, uint16_t id, uint8_t state, bool pref,
               std::vector<uint16_t> ports, uint8_t status = 0) {
    d.push_back(static_cast<uint8_t>((pref ? 0x80 : 0) | state));
    d.push_back(0x8f);  // T_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP
    d.push_back(static_cast<uint8_t>(id >> 8));
    d.push_back(static_cast<uint8_t>(id));
    d.push_back(0);
    d.push_back(status);
    d.push_back(0);
    d.push_back(static_cast<uint8_t>(ports.size()));
    for (uint16_t p : ports) {
        d.insert(d.end(), {0, 0, static_cast<uint8_t>(p >> 8), static_cast<uint8_t>(p)});
    }
}

std::vector<uint8_t> rtpg(bool extended, const std::vector<uint8_t>& descriptors) {
    std::vector<uint8_t> d;
    const uint32_t length = static_cast<uint32_t>(descriptors.size() + (extended ? 4 : 0));
    d = {static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
         static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
    if (extended) {
        d.insert(d.end(), {0x10, 5, 0, 0});  // FORMAT TYPE 1h, IMPLICIT TRANSITION TIME 5 s
    }
    d.insert(d.end(), descriptors.begin(), descriptors.end());
    return d;
}

std::vector<PortGroup> two_groups(AluaState a, AluaState b) {
    PortGroup ga;
    ga.id = 1;
    ga.state = a;
    ga.relative_target_ports = {1};
    PortGroup gb;
    gb.id = 2;
    gb.state = b;
    gb.relative_target_ports = {2};
    return {ga, gb};
}

// Paths 0 and 1 in group 1 (controller A), path 2 in group 2 (controller B), all on.
PathSelector dual_controller(AluaState a, AluaState b) {
    PathSelector s(3);
    s.set_group(0, 1);
    s.set_group(1, 1);
    s.set_group(2, 2);
    s.update_groups(two_groups(a, b));
    return s;
}

TEST(EsxiSimRtpg, ParsesTheLengthHeader) {
    std::vector<uint8_t> desc;
    add_group(desc, 1, 0x0, true, {1});
    add_group(desc, 2, 0x1, false, {2, 3}, 0x02);
    const auto groups = parse_report_target_port_groups(rtpg(false, desc));
    ASSERT_TRUE(groups);
    ASSERT_EQ(groups->size(), 2u);
    EXPECT_EQ((*groups)[0].id, 1);
    EXPECT_EQ((*groups)[0].state, AluaState::active_optimized);
    EXPECT_TRUE((*groups)[0].preferred);
    EXPECT_EQ((*groups)[0].relative_target_ports, std::vector<uint16_t>{1});
    EXPECT_EQ((*groups)[1].id, 2);
    EXPECT_EQ((*groups)[1].state, AluaState::active_non_optimized);
    EXPECT_FALSE((*groups)[1].preferred);
    EXPECT_EQ((*groups)[1].status_code, 0x02);
    EXPECT_EQ((*groups)[1].relative_target_ports, (std::vector<uint16_t>{2, 3}));
}

TEST(EsxiSimRtpg, ParsesTheExtendedHeaderAndEveryState) {
    std::vector<uint8_t> desc;
    add_group(desc, 1, 0x2, false, {1});
    add_group(desc, 2, 0x3, false, {2});
    add_group(desc, 3, 0xF, false, {3});
    const auto groups = parse_report_target_port_groups(rtpg(true, desc));
    ASSERT_TRUE(groups);
    ASSERT_EQ(groups->size(), 3u);
    EXPECT_EQ((*groups)[0].state, AluaState::standby);
    EXPECT_EQ((*groups)[1].state, AluaState::unavailable);
    EXPECT_EQ((*groups)[2].state, AluaState::transitioning);
    EXPECT_STREQ(tpg_state_name((*groups)[0].state), "STBY");
    EXPECT_STREQ(tpg_state_name((*groups)[2].state), "TRANS");
}

TEST(EsxiSimRtpg, RejectsTruncatedData) {
    std::vector<uint8_t> desc;
    add_group(desc, 1, 0x0, false, {1, 2});
    std::vector<uint8_t> d = rtpg(false, desc);
    d.resize(d.size() - 2);  // the header says more than there is
    EXPECT_FALSE(parse_report_target_port_groups(d));
    EXPECT_FALSE(parse_report_target_port_groups(std::vector<uint8_t>{0, 0}));
    // A descriptor whose port count runs past the returned length.
    std::vector<uint8_t> bad = rtpg(false, desc);
    bad[3] = 8;
    EXPECT_FALSE(parse_report_target_port_groups(bad));
    // No groups at all is a valid (if useless) answer.
    const auto empty = parse_report_target_port_groups(rtpg(false, {}));
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
}

TEST(EsxiSimRtpg, CdbAsksForTheExtendedHeader) {
    const std::vector<uint8_t> cdb = report_target_port_groups_cdb(0x1234);
    ASSERT_EQ(cdb.size(), 12u);
    EXPECT_EQ(cdb[0], 0xA3);
    EXPECT_EQ(cdb[1], 0x2A);
    EXPECT_EQ(cdb[8], 0x12);
    EXPECT_EQ(cdb[9], 0x34);
}

TEST(EsxiSimVpd, ReadsThePathsPortAndGroupAndTheNaa) {
    const std::vector<uint8_t> page = {0x00, 0x83, 0x00, 0x1c,
                                       // NAA (type 3, association LUN), 8 bytes
                                       0x01, 0x03, 0x00, 0x08, 0x60, 0x01, 0x40, 0x5a, 0xbc, 0xde,
                                       0xf0, 0x12,
                                       // relative target port (type 4, association target port)
                                       0x61, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02,
                                       // target port group (type 5, association target port)
                                       0x01, 0x15, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02};
    const PortIdentity id = parse_device_identification(page);
    EXPECT_EQ(id.relative_target_port, 2);
    EXPECT_EQ(id.target_port_group, 2);
    EXPECT_EQ(id.naa, "naa.6001405abcdef012");
    // A truncated page yields what was whole.
    const std::vector<uint8_t> cut(page.begin(), page.begin() + 20);
    const PortIdentity part = parse_device_identification(cut);
    EXPECT_EQ(part.naa, "naa.6001405abcdef012");
    EXPECT_FALSE(part.target_port_group);
}

TEST(EsxiSimVerdict, EachAnswerMeansWhatSatpAluaMakesOfIt) {
    EXPECT_EQ(classify(0x00, 0, 0, 0), Verdict::good);
    EXPECT_EQ(classify(0x02, 0x0E, 0x1D, 0x00), Verdict::miscompare);
    EXPECT_EQ(classify(0x02, 0x06, 0x2A, 0x06), Verdict::state_changed);
    EXPECT_EQ(classify(0x02, 0x06, 0x29, 0x00), Verdict::reissue);
    EXPECT_EQ(classify(0x02, 0x02, 0x04, 0x0A), Verdict::transitioning);
    EXPECT_EQ(classify(0x02, 0x02, 0x04, 0x0B), Verdict::standby);
    EXPECT_EQ(classify(0x02, 0x02, 0x04, 0x0C), Verdict::unavailable);
    EXPECT_EQ(classify(0x02, 0x02, 0x04, 0x03), Verdict::failed);
    EXPECT_EQ(classify(0x08, 0, 0, 0), Verdict::queue_full);
    EXPECT_EQ(classify(0x28, 0, 0, 0), Verdict::queue_full);
    EXPECT_EQ(classify(0x18, 0, 0, 0), Verdict::failed);
    EXPECT_TRUE(is_alua_failover(Verdict::state_changed));
    EXPECT_TRUE(is_alua_failover(Verdict::standby));
    EXPECT_FALSE(is_alua_failover(Verdict::reissue));
}

TEST(EsxiSimMru, UsesAnOptimizedPathFirst) {
    PathSelector s = dual_controller(AluaState::active_non_optimized, AluaState::active_optimized);
    EXPECT_EQ(s.select(false), 2u);
    PathSelector t = dual_controller(AluaState::active_optimized, AluaState::active_non_optimized);
    EXPECT_EQ(t.select(false), 0u);
}

TEST(EsxiSimMru, NonOptimizedWhenNoOptimizedPathIsLeft) {
    PathSelector s = dual_controller(AluaState::active_optimized, AluaState::active_non_optimized);
    ASSERT_EQ(s.select(false), 0u);
    s.set_state(0, PathState::dead);
    s.set_state(1, PathState::dead);
    EXPECT_EQ(s.select(false), 2u);
}

TEST(EsxiSimMru, StaysOnTheMostRecentlyUsedPath) {
    PathSelector s = dual_controller(AluaState::active_optimized, AluaState::active_optimized);
    ASSERT_EQ(s.select(false), 0u);
    s.set_state(0, PathState::dead);
    EXPECT_EQ(s.select(false), 1u);
    // Path 0 comes back: MRU does not move back to it, not even on a re-evaluation among equals.
    s.set_state(0, PathState::on);
    EXPECT_EQ(s.select(false), 1u);
    EXPECT_EQ(s.select(true), 1u);
}

TEST(EsxiSimMru, PrefersThePreferredGroupAmongEquals) {
    PathSelector s(2);
    s.set_group(0, 1);
    s.set_group(1, 2);
    std::vector<PortGroup> g = two_groups(AluaState::active_optimized, AluaState::active_optimized);
    g[1].preferred = true;
    s.update_groups(g);
    EXPECT_EQ(s.select(false), 1u);
}

TEST(EsxiSimFailover, DeadPathMovesToTheNextUsableOne) {
    PathSelector s = dual_controller(AluaState::active_optimized, AluaState::active_non_optimized);
    ASSERT_EQ(s.select(false), 0u);
    s.set_state(0, PathState::dead);  // connection lost or login refused
    EXPECT_EQ(s.select(false), 1u);   // the other path of the optimized group
    s.set_state(1, PathState::dead);
    EXPECT_EQ(s.select(false), 2u);
    s.set_state(2, PathState::dead);
    EXPECT_FALSE(s.select(false));  // all paths down
    EXPECT_FALSE(s.only_transitioning());
}

TEST(EsxiSimFailover, CommandTimeoutMovesToTheNextPathEvenIfItStillWorks) {
    PathSelector s = dual_controller(AluaState::active_optimized, AluaState::active_optimized);
    ASSERT_EQ(s.select(false), 0u);
    EXPECT_EQ(s.fail_over(0), 1u);
    EXPECT_EQ(s.select(false), 1u);  // and stays there
    PathSelector one(1);
    ASSERT_EQ(one.select(false), 0u);
    EXPECT_EQ(one.fail_over(0), 0u);  // a single path is retried where it is
}

TEST(EsxiSimFailover, StateChangeReReadFromRtpgMovesToTheOtherGroup) {
    PathSelector s = dual_controller(AluaState::active_optimized, AluaState::active_non_optimized);
    ASSERT_EQ(s.select(false), 0u);
    // UNIT ATTENTION 2A/06, then RTPG: A standby, B optimized.
    EXPECT_TRUE(s.update_groups(two_groups(AluaState::standby, AluaState::active_optimized)));
    EXPECT_EQ(s.select(true), 2u);
    EXPECT_EQ(s.group_state(0), AluaState::standby);
    // The same answer again is no change.
    EXPECT_FALSE(s.update_groups(two_groups(AluaState::standby, AluaState::active_optimized)));
}

TEST(EsxiSimFailover, ReevaluationMovesToABetterStateOnly) {
    PathSelector s = dual_controller(AluaState::active_optimized, AluaState::active_non_optimized);
    s.set_state(0, PathState::dead);
    s.set_state(1, PathState::dead);
    ASSERT_EQ(s.select(false), 2u);  // B, non-optimized
    s.set_state(0, PathState::on);
    EXPECT_EQ(s.select(false), 2u);  // MRU without a state change
    EXPECT_EQ(s.select(true), 0u);   // KB 334611: fails back to a path with a better state
}

TEST(EsxiSimFailover, NotReadyStandbyOrUnavailableMakesThePathUnusable) {
    for (const AluaState state : {AluaState::standby, AluaState::unavailable}) {
        PathSelector s =
            dual_controller(AluaState::active_optimized, AluaState::active_non_optimized);
        ASSERT_EQ(s.select(false), 0u);
        s.set_group_state_of(0, state);  // NOT READY 04/0B or 04/0C on path 0, before RTPG
        EXPECT_FALSE(s.usable(0));
        EXPECT_FALSE(s.usable(1));  // the same group
        EXPECT_EQ(s.select(false), 2u);
    }
}

TEST(EsxiSimFailover, TransitioningIsRetriedLater) {
    PathSelector s = dual_controller(AluaState::active_optimized, AluaState::standby);
    ASSERT_EQ(s.select(false), 0u);
    s.set_group_state_of(0, AluaState::transitioning);  // NOT READY 04/0A
    EXPECT_FALSE(s.select(false));
    EXPECT_TRUE(s.only_transitioning());
    // The retry's RTPG: A standby, B optimized (controller-failover's end state).
    s.update_groups(two_groups(AluaState::standby, AluaState::active_optimized));
    EXPECT_FALSE(s.only_transitioning());
    EXPECT_EQ(s.select(true), 2u);
}

TEST(EsxiSimFailover, PathsWithoutRtpgAnswerCountAsActive) {
    PathSelector s(2);
    EXPECT_EQ(s.group_state(0), AluaState::unknown);
    EXPECT_EQ(s.select(false), 0u);
    s.set_state(0, PathState::dead);
    EXPECT_EQ(s.select(false), 1u);
}

TEST(EsxiSimSendTargets, ParsesPortalsAndTags) {
    const auto a = parse_send_targets_portal("127.0.0.1:3261,2", "10.0.0.1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->portal, "127.0.0.1:3261");
    EXPECT_EQ(a->tpgt, 2);
    const auto wildcard = parse_send_targets_portal("0.0.0.0:3260,1", "127.0.0.1");
    ASSERT_TRUE(wildcard);
    EXPECT_EQ(wildcard->portal, "127.0.0.1:3260");
    const auto v6 = parse_send_targets_portal("[::1]:3262,3", "x");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->portal, "[::1]:3262");
    EXPECT_EQ(v6->tpgt, 3);
    const auto no_tag = parse_send_targets_portal("host.example", "x");
    ASSERT_TRUE(no_tag);
    EXPECT_EQ(no_tag->portal, "host.example:3260");
    EXPECT_EQ(no_tag->tpgt, 0);
    EXPECT_FALSE(parse_send_targets_portal("127.0.0.1:3260,x", "x"));
    EXPECT_FALSE(parse_send_targets_portal("127.0.0.1:3260,70000", "x"));
    EXPECT_FALSE(parse_send_targets_portal("[::1", "x"));
}

}  // namespace
}  // namespace atsarray::sim
