// The ALUA view the gateways of one array share through an image's records: every gateway
// answers the same states, a change made on one shows on the others, a gateway that stops
// beating is unavailable after dead_after, and with failover a live one takes over
// active/optimized. Two GatewayViews on one MemoryRecords stand for two gateway processes; the
// clock is the test's, round() is called by hand.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "target/daemon/gateway_view.hpp"
#include "tests/unit/daemon/memory_records.hpp"

namespace atsarray::daemon {
namespace {

using scsi::AluaState;
using std::chrono::milliseconds;

// The array's two groups as both gateways configure them: gateway A (group 1, preferred,
// active/optimized) and gateway B (group 2, active/non-optimized).
scsi::AluaConfig two_gateways() {
    scsi::AluaConfig config;
    scsi::TargetPortGroupConfig a;
    a.id = 1;
    a.name = "gw-a";
    a.relative_target_ports = {1};
    a.state = AluaState::active_optimized;
    a.preferred = true;
    scsi::TargetPortGroupConfig b;
    b.id = 2;
    b.name = "gw-b";
    b.relative_target_ports = {2};
    b.state = AluaState::active_non_optimized;
    config.groups = {a, b};
    return config;
}

struct Gateway {
    Gateway(uint16_t own, test::MemoryRecords& records, std::chrono::steady_clock::time_point& now,
            bool failover = true, scsi::AluaConfig config = two_gateways())
        : groups(std::make_shared<scsi::TargetPortGroups>(config, [&now] { return now; })) {
        GatewaySettings settings;
        settings.own_group = own;
        settings.heartbeat = milliseconds(1000);
        settings.dead_after = milliseconds(5000);
        settings.failover = failover;
        settings.description = "gw" + std::to_string(own);
        view = std::make_unique<GatewayView>(
            "iqn.t", records, groups, settings,
            [this](const std::string& text) { notes.push_back(text); }, [&now] { return now; });
    }
    AluaState state(uint16_t group) const { return groups->snapshot()->group(group)->state; }

    std::shared_ptr<scsi::TargetPortGroups> groups;
    std::unique_ptr<GatewayView> view;
    std::vector<std::string> notes;
};

class GatewayViewTest : public ::testing::Test {
  protected:
    // Both gateways beat and apply, `seconds` times, one second apart.
    void both_run(int seconds) {
        for (int i = 0; i < seconds; ++i) {
            now += milliseconds(1000);
            ASSERT_TRUE(a.view->round());
            ASSERT_TRUE(b.view->round());
        }
    }

    test::MemoryRecords records;
    std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
    Gateway a{1, records, now};
    Gateway b{2, records, now};
};

TEST_F(GatewayViewTest, EveryGatewayAnswersTheSameStates) {
    both_run(1);
    for (const Gateway* g : {&a, &b}) {
        EXPECT_EQ(g->state(1), AluaState::active_optimized);
        EXPECT_EQ(g->state(2), AluaState::active_non_optimized);
        const auto view = g->view->view();
        ASSERT_EQ(view.size(), 2u);
        EXPECT_TRUE(view[0].alive && view[1].alive);
    }
    std::string value;
    uint64_t version = 0;
    ASSERT_TRUE(records.read("alua.2", value, version).ok());
    EXPECT_EQ(value, "active_non_optimized");
}

TEST_F(GatewayViewTest, TheFirstGatewaysConfigurationSeedsTheSharedStates) {
    // Gateway C is configured with group 2 optimized, but A started first: C answers A's view.
    ASSERT_TRUE(a.view->round());
    scsi::AluaConfig other = two_gateways();
    other.groups[0].state = AluaState::standby;
    other.groups[1].state = AluaState::active_optimized;
    Gateway c(2, records, now, true, other);
    ASSERT_TRUE(c.view->round());
    EXPECT_EQ(c.state(1), AluaState::active_optimized);
    EXPECT_EQ(c.state(2), AluaState::active_non_optimized);
}

TEST_F(GatewayViewTest, AChangeOnOneGatewayIsEveryGateways) {
    both_run(1);
    // SET TARGET PORT GROUPS (or the console) on gateway B makes B optimized and A standby.
    ASSERT_TRUE(b.groups->change_state(2, AluaState::active_optimized,
                                       scsi::AluaStatus::altered_by_set_target_port_groups,
                                       milliseconds(0)));
    ASSERT_TRUE(b.groups->change_state(1, AluaState::standby,
                                       scsi::AluaStatus::altered_by_set_target_port_groups,
                                       milliseconds(0)));
    both_run(2);  // B writes the records in its round, A applies them in its next one
    for (const Gateway* g : {&a, &b}) {
        EXPECT_EQ(g->state(1), AluaState::standby);
        EXPECT_EQ(g->state(2), AluaState::active_optimized);
    }
    // A's model got it as an implicit change: it does not write it back as its own.
    both_run(2);
    EXPECT_EQ(a.state(1), AluaState::standby);
    EXPECT_EQ(a.groups->snapshot()->group(1)->status,
              scsi::AluaStatus::altered_by_implicit_behavior);
}

TEST_F(GatewayViewTest, ASilentGatewayIsUnavailableAfterDeadAfterAndComesBack) {
    both_run(2);
    // B stops beating (SIGKILL): A still sees it alive for dead_after after the last beat it saw
    // (B's beat at second 2 came after A's round then: A saw it at second 3), then unavailable.
    for (int i = 0; i < 5; ++i) {
        now += milliseconds(1000);
        ASSERT_TRUE(a.view->round());
        EXPECT_EQ(a.state(2), AluaState::active_non_optimized) << "after " << i + 1 << " s";
    }
    now += milliseconds(1000);
    ASSERT_TRUE(a.view->round());
    EXPECT_EQ(a.state(2), AluaState::unavailable);
    EXPECT_EQ(a.state(1), AluaState::active_optimized);
    ASSERT_EQ(a.notes.size(), 1u);
    EXPECT_NE(a.notes[0].find("group 2 (gw-b) gave no sign for 5000 ms"), std::string::npos);
    // B beats again (after A's round: A sees it in the next one): back in its shared state.
    both_run(2);
    EXPECT_EQ(a.state(2), AluaState::active_non_optimized);
    EXPECT_EQ(b.state(2), AluaState::active_non_optimized);
    ASSERT_EQ(a.notes.size(), 2u);
    EXPECT_NE(a.notes[1].find("beats again"), std::string::npos);
}

TEST_F(GatewayViewTest, SlowRoundsStillSeeADeadGateway) {
    both_run(2);
    // A's rounds come 3 s apart (a notify waiting on the dead gateway's watch, a busy machine):
    // a slow round is not a cluster outage, B is dead 5 s after its last beat all the same (A
    // sees B's last beat, written after A's round at second 2, in its round at second 5).
    for (int i = 0; i < 2; ++i) {
        now += milliseconds(3000);
        ASSERT_TRUE(a.view->round());
        EXPECT_EQ(a.state(2), AluaState::active_non_optimized);
    }
    now += milliseconds(3000);
    ASSERT_TRUE(a.view->round());
    EXPECT_EQ(a.state(2), AluaState::unavailable);
}

TEST_F(GatewayViewTest, FailoverMovesActiveOptimizedToALiveGateway) {
    both_run(2);
    // A (the optimized one) dies: after dead_after B takes active/optimized over and A's group
    // gets B's old state.
    for (int i = 0; i < 5; ++i) {
        now += milliseconds(1000);
        ASSERT_TRUE(b.view->round());
    }
    EXPECT_EQ(b.state(1), AluaState::unavailable);
    EXPECT_EQ(b.state(2), AluaState::active_optimized);
    ASSERT_FALSE(b.notes.empty());
    EXPECT_NE(b.notes.back().find("group 2 (this gateway) takes it over"), std::string::npos);
    // A restarts: it is a live non-optimized path now; B stays optimized (no failback).
    Gateway restarted(1, records, now);
    ASSERT_TRUE(restarted.view->round());
    now += milliseconds(1000);
    ASSERT_TRUE(b.view->round());
    EXPECT_EQ(restarted.state(1), AluaState::active_non_optimized);
    EXPECT_EQ(restarted.state(2), AluaState::active_optimized);
    EXPECT_EQ(b.state(1), AluaState::active_non_optimized);
}

TEST_F(GatewayViewTest, WithoutFailoverTheDeadGroupIsOnlyUnavailable) {
    Gateway passive(2, records, now, false);
    for (int i = 0; i < 2; ++i) {
        now += milliseconds(1000);
        ASSERT_TRUE(a.view->round());
        ASSERT_TRUE(passive.view->round());
    }
    for (int i = 0; i < 6; ++i) {
        now += milliseconds(1000);
        ASSERT_TRUE(passive.view->round());
    }
    EXPECT_EQ(passive.state(1), AluaState::unavailable);
    EXPECT_EQ(passive.state(2), AluaState::active_non_optimized);
}

TEST_F(GatewayViewTest, AClusterThatDoesNotAnswerLeavesTheModelAsItWas) {
    both_run(1);
    records.down = true;
    now += milliseconds(10000);
    EXPECT_FALSE(a.view->round());
    EXPECT_FALSE(b.view->round());
    EXPECT_EQ(a.state(2), AluaState::active_non_optimized);
    // Back after longer than dead_after: no gateway could beat meanwhile, so none is judged
    // dead for it (no failover), each gets dead_after again from the first round that answers.
    records.down = false;
    both_run(2);
    for (const Gateway* g : {&a, &b}) {
        EXPECT_EQ(g->state(1), AluaState::active_optimized);
        EXPECT_EQ(g->state(2), AluaState::active_non_optimized);
    }
    EXPECT_TRUE(a.notes.empty());
    EXPECT_TRUE(b.notes.empty());
}

// Records whose every beat write takes `write_ms` on the test's clock: what a gateway measures of
// the OSDs' latency (issue 15's console).
class SlowRecords : public test::MemoryRecords {
  public:
    explicit SlowRecords(std::chrono::steady_clock::time_point& now) : now_(now) {}
    backend::Status write_if_quiet(const std::string& key, const std::string& value,
                                   uint64_t expected_version, bool& written,
                                   uint64_t& new_version) override {
        now_ += milliseconds(write_ms);
        return write_if(key, value, expected_version, written, new_version);
    }
    int write_ms = 0;

  private:
    std::chrono::steady_clock::time_point& now_;
};

TEST(GatewayViewLatency, BeatWritesAreTimedOverTheLastMinute) {
    const std::chrono::steady_clock::time_point start{std::chrono::seconds(1000)};
    std::chrono::steady_clock::time_point now = start;
    SlowRecords records(now);
    Gateway a{1, records, now};
    Gateway b{2, records, now};
    EXPECT_EQ(a.view->beat_latency().samples, 0u);
    EXPECT_FALSE(a.view->beat_latency().last);
    // Gateway A's beat i (one a second) takes i ms; B's take no time.
    for (int i = 1; i <= 100; ++i) {
        now = start + std::chrono::seconds(i);
        records.write_ms = i;
        ASSERT_TRUE(a.view->round());
        records.write_ms = 0;
        ASSERT_TRUE(b.view->round());
    }
    // Only the last minute's beats count (41..100 ms, 60 of them): nearest-rank p50 is the 30th.
    GatewayView::BeatLatency stats = a.view->beat_latency();
    EXPECT_EQ(stats.rounds, 100u);
    EXPECT_EQ(stats.failed_rounds, 0u);
    EXPECT_EQ(stats.samples, 60u);
    ASSERT_TRUE(stats.last);
    EXPECT_EQ(*stats.last, milliseconds(100));
    EXPECT_FALSE(stats.last_failed);
    EXPECT_EQ(stats.p50, milliseconds(70));
    EXPECT_EQ(stats.p99, milliseconds(100));
    EXPECT_EQ(stats.max, milliseconds(100));

    // A cluster that does not answer: the failed round and its failed beat are counted.
    records.down = true;
    now = start + std::chrono::seconds(101);
    EXPECT_FALSE(a.view->round());
    stats = a.view->beat_latency();
    EXPECT_EQ(stats.rounds, 101u);
    EXPECT_EQ(stats.failed_rounds, 1u);
    EXPECT_EQ(stats.failed_in_window, 1u);
    EXPECT_TRUE(stats.last_failed);
    records.down = false;

    // Each group's beat as gateway A last saw it: its own written at 100.1 s, and B's (of second
    // 99) seen changed in A's round of second 100, which ended at 100.1 s.
    now = start + std::chrono::milliseconds(101400);
    const auto view = a.view->view();
    ASSERT_EQ(view.size(), 2u);
    ASSERT_TRUE(view[0].beat_age && view[1].beat_age);
    EXPECT_EQ(*view[0].beat_age, milliseconds(1300));
    EXPECT_EQ(view[0].description, "gw1");
    EXPECT_EQ(*view[1].beat_age, milliseconds(1300));
    EXPECT_EQ(view[1].description, "gw2");
}

// Records that let a reader look at the gateway's beat figures while its round lists the other
// gateways' records: after the round's beat, before its end, as the console may at any moment.
class PeekingRecords : public test::MemoryRecords {
  public:
    backend::Status list(const std::string& prefix,
                         std::map<std::string, std::string>& out) override {
        if (peek) {
            seen = peek();
        }
        return MemoryRecords::list(prefix, out);
    }
    std::function<GatewayView::BeatLatency()> peek;
    std::optional<GatewayView::BeatLatency> seen;
};

// The rbd console test saw 11 beats in 10 rounds: a round was counted at its end, its beat before.
TEST(GatewayViewLatency, AReaderMidRoundNeverSeesMoreBeatsThanRounds) {
    const std::chrono::steady_clock::time_point start{std::chrono::seconds(1000)};
    std::chrono::steady_clock::time_point now = start;
    PeekingRecords records;
    Gateway a{1, records, now};
    records.peek = [&a] { return a.view->beat_latency(); };
    for (uint64_t i = 1; i <= 3; ++i) {
        now = start + std::chrono::seconds(i);
        ASSERT_TRUE(a.view->round());
        ASSERT_TRUE(records.seen);
        EXPECT_EQ(records.seen->samples, i);
        EXPECT_EQ(records.seen->rounds, i);
    }
    EXPECT_EQ(a.view->beat_latency().rounds, 3u);
}

}  // namespace
}  // namespace atsarray::daemon
