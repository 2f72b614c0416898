// ALUA (SPC-4 §5.16): the target port group model on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "target/scsi/alua.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using namespace std::chrono_literals;

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

// Readers on several threads while the state flips: each sees a whole state (run under TSan
// in CI's sanitizer build).
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
