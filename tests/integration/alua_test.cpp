// A dual-controller array over loopback (issue 14): two target port groups, one portal each, and
// real libiscsi sessions on both paths. What ESXi's VMW_SATP_ALUA and Linux's scsi_dh_alua rely
// on: SendTargets lists both portals with their groups' tags, each path reports its own target
// port and group (VPD 0x83) but the same LUN, REPORT TARGET PORT GROUPS is byte-identical on
// every path, a state change reaches the other nexuses as a unit attention, the per-state sense
// codes, and ATS stays atomic whichever path a command takes.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/dual_controller.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;

TEST(Alua, DiscoveryListsEveryPortalWithItsGroupsTag) {
    DualController array;
    Context ctx = initiator::create_context(host1);
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_DISCOVERY);
    ASSERT_EQ(iscsi_connect_sync(ctx.get(), array.path_a().c_str()), 0);
    ASSERT_EQ(iscsi_login_sync(ctx.get()), 0) << iscsi_get_error(ctx.get());
    iscsi_discovery_address* found = iscsi_discovery_sync(ctx.get());
    ASSERT_NE(found, nullptr);
    std::vector<std::string> portals;
    for (auto* a = found; a != nullptr; a = a->next) {
        EXPECT_STREQ(a->target_name, alua_target);
        for (auto* p = a->portals; p != nullptr; p = p->next) {
            portals.emplace_back(p->portal);
        }
    }
    iscsi_free_discovery_data(ctx.get(), found);
    EXPECT_EQ(portals, (std::vector<std::string>{array.path_a() + ",1", array.path_b() + ",2"}));
}

TEST(Alua, EachPathNamesItsPortAndGroupAndTheSameLogicalUnit) {
    DualController array;
    std::vector<uint8_t> naa[2];
    for (int path = 0; path < 2; ++path) {
        Context ctx = login(path == 0 ? array.path_a() : array.path_b(), host1);
        ASSERT_TRUE(ctx);
        Task standard(iscsi_inquiry_sync(ctx.get(), 0, 0, 0, 255));
        ASSERT_TRUE(standard && standard->status == SCSI_STATUS_GOOD);
        EXPECT_EQ((standard->datain.data[5] >> 4) & 0x3, 0x3) << "TPGS: implicit and explicit";
        Task ids(iscsi_inquiry_sync(ctx.get(), 0, 1, 0x83, 255));
        ASSERT_TRUE(ids && ids->status == SCSI_STATUS_GOOD);
        const uint8_t* p = ids->datain.data;
        const size_t end = std::min<size_t>(4 + (p[2] << 8 | p[3]), ids->datain.size);
        int relative_port = -1;
        int group = -1;
        for (size_t at = 4; at + 4 <= end; at += 4 + p[at + 3]) {
            const uint8_t type = p[at + 1] & 0x0F;
            if (type == 0x3) {
                naa[path].assign(p + at + 4, p + at + 4 + p[at + 3]);
            } else if (type == 0x4) {
                relative_port = p[at + 6] << 8 | p[at + 7];
            } else if (type == 0x5) {
                group = p[at + 6] << 8 | p[at + 7];
            }
        }
        EXPECT_EQ(relative_port, path + 1);
        EXPECT_EQ(group, path + 1);
    }
    EXPECT_FALSE(naa[0].empty());
    EXPECT_EQ(naa[0], naa[1]) << "one logical unit behind both controllers";
}

TEST(Alua, ReportTargetPortGroupsIsTheSameOnEveryPath) {
    DualController array("[alua]\nimplicit_transition_time_s = 10\n");
    Context a = login(array.path_a(), host1);
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    for (const bool extended : {false, true}) {
        const std::vector<uint8_t> via_a = report_groups(a, extended);
        EXPECT_EQ(via_a, report_groups(b, extended)) << "extended " << extended;
        if (extended) {
            ASSERT_GE(via_a.size(), 8U);
            EXPECT_EQ(via_a[4] & 0x70, 0x10) << "FORMAT TYPE 001b";
            EXPECT_EQ(via_a[5], 10) << "IMPLICIT TRANSITION TIME";
        }
        const auto groups = parse_groups(via_a);
        ASSERT_EQ(groups.size(), 2U);
        EXPECT_EQ(groups[0].id, 1);
        EXPECT_EQ(groups[0].state, active_optimized);
        EXPECT_TRUE(groups[0].preferred);
        EXPECT_EQ(groups[0].supported, 0x8F) << "T, U, S, AN and AO supported";
        EXPECT_EQ(groups[0].ports, std::vector<uint16_t>{1});
        EXPECT_EQ(groups[1].id, 2);
        EXPECT_EQ(groups[1].state, active_non_optimized);
        EXPECT_FALSE(groups[1].preferred);
        EXPECT_EQ(groups[1].ports, std::vector<uint16_t>{2});
    }
    // A tiny allocation length gets what fits, no error (SPC-4 §4.2.5.6).
    Task tiny = command(a, {0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0}, 4);
    ASSERT_TRUE(tiny);
    EXPECT_EQ(tiny->status, SCSI_STATUS_GOOD);
    EXPECT_EQ(tiny->datain.size, 4);
}

TEST(Alua, SetTargetPortGroupsFailsOverAndTellsTheOtherNexuses) {
    DualController array;
    Context a = login(array.path_a(), host1);      // host 1's path through controller A
    Context b = login(array.path_b(), host1);      // host 1's path through controller B
    Context other = login(array.path_a(), host2);  // host 2 on controller A
    ASSERT_TRUE(a && b && other);
    for (const Context* c : {&a, &b, &other}) {
        clear_unit_attention(*c);
        EXPECT_EQ(read_block(*c), good);
    }

    // Controller A hands the LUN to B, as an explicit failover.
    Task moved = set_groups(a, {{1, standby}, {2, active_optimized}});
    ASSERT_TRUE(moved);
    EXPECT_EQ(outcome(moved), good);

    // The nexus that asked gets no unit attention; its path is standby now.
    EXPECT_EQ(read_block(a), in_standby);
    // Every other nexus hears of it once, then sees its own path's new state.
    EXPECT_EQ(read_block(b), state_changed);
    EXPECT_EQ(read_block(b), good);
    EXPECT_EQ(test_unit_ready(other), state_changed);
    EXPECT_EQ(read_block(other), in_standby);
    // Standby still answers what a host needs to find another path (SPC-4 §5.16.2.4.4).
    EXPECT_EQ(outcome(Task(iscsi_inquiry_sync(other.get(), 0, 0, 0, 255))), good);
    EXPECT_EQ(outcome(Task(iscsi_reportluns_sync(other.get(), 0, 64))), good);

    const auto groups = parse_groups(report_groups(other, false));
    ASSERT_EQ(groups.size(), 2U);
    EXPECT_EQ(groups[0].state, standby);
    EXPECT_EQ(groups[0].status_code, 0x01) << "altered by SET TARGET PORT GROUPS";
    EXPECT_EQ(groups[1].state, active_optimized);
    EXPECT_EQ(groups[1].status_code, 0x01);

    // B becomes unavailable: 04/0C on its path.
    EXPECT_EQ(outcome(set_groups(other, {{2, unavailable}})), good);
    EXPECT_EQ(read_block(b), state_changed);
    EXPECT_EQ(read_block(b), in_unavailable);
}

TEST(Alua, BadSetTargetPortGroupsChangesNothing) {
    DualController array;
    Context a = login(array.path_a(), host1);
    ASSERT_TRUE(a);
    clear_unit_attention(a);
    const std::vector<uint8_t> before = report_groups(a, false);
    // An unknown group and an illegal state: ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST.
    EXPECT_EQ(outcome(set_groups(a, {{9, standby}})),
              (SenseSeen{SCSI_STATUS_CHECK_CONDITION, 0x5, 0x2600}));
    EXPECT_EQ(outcome(set_groups(a, {{1, standby}, {2, 0x7}})),
              (SenseSeen{SCSI_STATUS_CHECK_CONDITION, 0x5, 0x2600}));
    // A parameter list cut inside a descriptor: PARAMETER LIST LENGTH ERROR.
    Task cut = command(a, {0xA4, 0x0A, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0}, 0, {0, 0, 0, 0, 2, 0});
    EXPECT_EQ(outcome(cut), (SenseSeen{SCSI_STATUS_CHECK_CONDITION, 0x5, 0x1A00}));
    EXPECT_EQ(report_groups(a, false), before);
    EXPECT_EQ(read_block(a), good);
}

TEST(Alua, AnExplicitChangeIsTransitioningForItsTimeThenEndsByItself) {
    DualController array("[alua]\ntransition_time_ms = 300\n");
    Context a = login(array.path_a(), host1);
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    EXPECT_EQ(outcome(set_groups(b, {{1, standby}})), good);
    EXPECT_EQ(read_block(a), in_transition);
    // The daemon's timer ends the transition; the unit attention then waits for each nexus.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    const auto groups = parse_groups(report_groups(b, false));
    ASSERT_EQ(groups.size(), 2U);
    EXPECT_EQ(groups[0].state, standby);
    EXPECT_EQ(read_block(a), state_changed);
    EXPECT_EQ(read_block(a), in_standby);
}

TEST(Alua, TheSameIsidThroughTwoControllersIsTwoSessions) {
    DualController array;
    Context a = initiator::create_context(host1);
    Context b = initiator::create_context(host1);
    for (Context* c : {&a, &b}) {
        iscsi_set_isid_random(c->get(), 0x123456, 0);
        iscsi_set_targetname(c->get(), alua_target);
        iscsi_set_session_type(c->get(), ISCSI_SESSION_NORMAL);
        iscsi_set_noautoreconnect(c->get(), 1);
        iscsi_set_timeout(c->get(), 10);
    }
    ASSERT_EQ(iscsi_full_connect_sync(a.get(), array.path_a().c_str(), 0), 0);
    ASSERT_EQ(iscsi_full_connect_sync(b.get(), array.path_b().c_str(), 0), 0);
    // RFC 7143 §4.4.1: the I_T nexus includes the target portal group; no reinstatement.
    clear_unit_attention(a);
    clear_unit_attention(b);
    EXPECT_EQ(read_block(a), good);
    EXPECT_EQ(read_block(b), good);
}

TEST(Alua, AtsIsAtomicAcrossPaths) {
    DualController array;
    constexpr int rounds = 300;
    std::atomic<int> successes{0};
    auto counter = [&](const std::string& portal, const char* initiator) {
        Context ctx = login(portal, initiator);
        if (!ctx) {
            return;
        }
        clear_unit_attention(ctx);
        for (int i = 0; i < rounds; ++i) {
            Task r(iscsi_read16_sync(ctx.get(), 0, 7, 512, 512, 0, 0, 0, 0, 0));
            if (!r || r->status != SCSI_STATUS_GOOD) {
                ADD_FAILURE() << "READ failed";
                return;
            }
            std::vector<uint8_t> buf(1024);
            std::memcpy(buf.data(), r->datain.data, 512);
            std::memcpy(buf.data() + 512, r->datain.data, 512);
            initiator::store_le64(buf.data() + 512, initiator::load_le64(buf.data()) + 1);
            Task ats(
                iscsi_compareandwrite_sync(ctx.get(), 0, 7, buf.data(), 1024, 512, 0, 0, 0, 0, 0));
            if (ats && ats->status == SCSI_STATUS_GOOD) {
                successes.fetch_add(1);
            }
        }
    };
    std::thread via_a(counter, array.path_a(), host1);
    std::thread via_b(counter, array.path_b(), host2);
    via_a.join();
    via_b.join();
    Context check = login(array.path_a(), host1);
    ASSERT_TRUE(check);
    clear_unit_attention(check);
    Task r(iscsi_read16_sync(check.get(), 0, 7, 512, 512, 0, 0, 0, 0, 0));
    ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD);
    EXPECT_GT(successes.load(), 0);
    EXPECT_EQ(initiator::load_le64(r->datain.data), static_cast<uint64_t>(successes.load()))
        << "every successful ATS, on either path, counted exactly once";
}

TEST(Alua, NonOptimizedPathServesTheMediumAfterItsDelay) {
    DualController array("[alua]\nnon_optimized_delay_ms = 250\n");
    Context b = login(array.path_b(), host1);
    ASSERT_TRUE(b);
    clear_unit_attention(b);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(read_block(b), good);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250))
        << "the secondary controller's configured detour";
}

}  // namespace
}  // namespace atsarray::testing
