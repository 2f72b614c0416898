// Path faults on a dual-controller array (issue 14), added and removed through the console's
// API while libiscsi sessions use both controllers: alua_state moves a group and its end moves
// it back, path_down resets a controller's connections and refuses new ones, path_blackhole
// answers nothing until it ends, and stale_write_after_failover lands a controller's write after
// the other controller's.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/dual_controller.hpp"
#include "tests/integration/http_client.hpp"

namespace atsarray::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class PathFault : public ::testing::Test {
  protected:
    PathFault()
        : array("[console]\nport = " + std::to_string(free_port()) +
                "\n[fault]\nenabled = true\n") {}

    uint64_t add_rule(const json& rule) {
        const HttpAnswer a = http_call(console(), "POST", "/api/v1/faults", token(), rule.dump());
        EXPECT_EQ(a.status, 201U) << a.body.dump();
        return a.body.value("id", uint64_t{0});
    }
    void delete_rule(uint64_t id) {
        EXPECT_EQ(
            http_call(console(), "DELETE", "/api/v1/faults/" + std::to_string(id), token()).status,
            200U);
    }
    uint16_t console() { return array.daemon().console_port(); }
    std::string token() { return array.daemon().console_token(); }

    // Group `id`'s state as REPORT TARGET PORT GROUPS gives it through `ctx`.
    static uint8_t state_of(const Context& ctx, uint16_t id) {
        for (const GroupSeen& g : parse_groups(report_groups(ctx, false))) {
            if (g.id == id) {
                return g.state;
            }
        }
        return 0xFF;
    }
    // Waits (at most 5 s) until group `id` is in `state`.
    static bool wait_for_state(const Context& ctx, uint16_t id, uint8_t state) {
        for (int i = 0; i < 100; ++i) {
            if (state_of(ctx, id) == state) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    DualController array;
};

TEST_F(PathFault, AluaStateMovesTheGroupThroughTransitioningAndItsEndMovesItBack) {
    Context a = login(array.path_a(), host1);
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    const uint64_t id = add_rule({{"name", "a-fails"},
                                  {"action", "alua_state"},
                                  {"group", 1},
                                  {"state", "standby"},
                                  {"transition_ms", 400}});
    // RTPG is served whatever the state, and reading it ends a due transition.
    ASSERT_TRUE(wait_for_state(b, 1, 0xF)) << "transitioning first";
    ASSERT_TRUE(wait_for_state(b, 1, standby));
    const auto groups = parse_groups(report_groups(b, false));
    EXPECT_EQ(groups[0].status_code, 0x02) << "altered by implicit behaviour (the array)";
    // An implicit change reaches every nexus (SPC-4 §5.16.2.6), then the path's own state.
    EXPECT_EQ(read_block(a), state_changed);
    EXPECT_EQ(read_block(a), in_standby);

    delete_rule(id);
    ASSERT_TRUE(wait_for_state(b, 1, active_optimized)) << "back to what it was";
    EXPECT_EQ(read_block(a), state_changed);
    EXPECT_EQ(read_block(a), good);
}

TEST_F(PathFault, AluaFlapAlternatesTheGroupsState) {
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(b);
    clear_unit_attention(b);
    add_rule({{"name", "flap"},
              {"action", "alua_flap"},
              {"group", 1},
              {"state", "unavailable"},
              {"state_b", "active_optimized"},
              {"period_ms", 300}});
    // Both states come and go, more than once.
    int changes = 0;
    uint8_t last = state_of(b, 1);
    for (int i = 0; i < 60 && changes < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const uint8_t now = state_of(b, 1);
        if (now != last) {
            EXPECT_TRUE(now == unavailable || now == active_optimized) << int{now};
            ++changes;
            last = now;
        }
    }
    EXPECT_GE(changes, 3);
}

TEST_F(PathFault, PathDownResetsTheControllersSessionsAndRefusesNewOnesUntilItEnds) {
    Context a = login(array.path_a(), host1);
    Context b = login(array.path_b(), host1);
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    const uint64_t id = add_rule({{"name", "a-down"}, {"action", "path_down"}, {"group", 1}});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Controller A's session is gone (reset), a new login there is refused; B serves on.
    Task lost(iscsi_read16_sync(a.get(), 0, 0, 512, 512, 0, 0, 0, 0, 0));
    EXPECT_TRUE(!lost || lost->status != SCSI_STATUS_GOOD);
    std::string error;
    EXPECT_FALSE(initiator::login(array.path_a(), alua_target, host2, 0, 5, error));
    EXPECT_EQ(read_block(b), good);

    delete_rule(id);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Context again = login(array.path_a(), host1);
    ASSERT_TRUE(again);
    clear_unit_attention(again);
    EXPECT_EQ(read_block(again), good);
}

TEST_F(PathFault, PathBlackholeAnswersNothingUntilItEnds) {
    Context a = login(array.path_a(), host1);
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    add_rule(
        {{"name", "b-silent"}, {"action", "path_blackhole"}, {"group", 2}, {"active_seconds", 2}});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto start = Clock::now();
    // The READ through B is held with everything on that path until the blackhole ends; then it
    // is answered, the session intact. A's path is untouched meanwhile.
    std::thread via_a([&] { EXPECT_EQ(read_block(a), good); });
    EXPECT_EQ(read_block(b), good);
    EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(1200));
    via_a.join();
    EXPECT_EQ(read_block(b), good);
}

TEST_F(PathFault, StaleWriteOfAFailedControllerLandsAfterTheOtherControllersWrite) {
    std::string error;
    // Host 1's path through A gives up on its write after 1 s, as a host's I/O timeout would.
    Context a = initiator::login(array.path_a(), alua_target, host1, 0, 1, error);
    Context b = login(array.path_b(), host1);
    ASSERT_TRUE(a && b) << error;
    clear_unit_attention(a);
    clear_unit_attention(b);
    add_rule({{"name", "a-late"},
              {"action", "stale_write_after_failover"},
              {"group", 1},
              {"delay_ms", 2000},
              {"max_hits", 1}});
    std::vector<uint8_t> old_image(512, 0xAA);
    std::vector<uint8_t> new_image(512, 0xBB);
    Task lost(iscsi_write16_sync(a.get(), 0, 9, old_image.data(), 512, 512, 0, 0, 0, 0, 0));
    EXPECT_TRUE(!lost || lost->status != SCSI_STATUS_GOOD) << "never answered";
    // The host fails over and writes the block through B: that is what the medium holds...
    Task written(iscsi_write16_sync(b.get(), 0, 9, new_image.data(), 512, 512, 0, 0, 0, 0, 0));
    ASSERT_TRUE(written && written->status == SCSI_STATUS_GOOD);
    auto block = [&] {
        Task r(iscsi_read16_sync(b.get(), 0, 9, 512, 512, 0, 0, 0, 0, 0));
        return r && r->status == SCSI_STATUS_GOOD
                   ? std::vector<uint8_t>(r->datain.data, r->datain.data + 512)
                   : std::vector<uint8_t>();
    };
    EXPECT_EQ(block(), new_image);
    // ... until A's write lands, late, over it.
    std::vector<uint8_t> seen;
    for (int i = 0; i < 50 && seen != old_image; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        seen = block();
    }
    EXPECT_EQ(seen, old_image) << "the failed controller's write landed after B's";
}

TEST_F(PathFault, ThePresetsForPathsExist) {
    const HttpAnswer presets = http_call(console(), "GET", "/api/v1/faults/presets");
    ASSERT_EQ(presets.status, 200U);
    std::vector<std::string> names;
    for (const json& p : presets.body) {
        names.push_back(p.value("name", ""));
    }
    for (const char* name :
         {"controller-failover", "all-paths-down", "alua-flap", "failover-stale-write"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
    }
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(b);
    clear_unit_attention(b);
    ASSERT_EQ(
        http_call(console(), "POST", "/api/v1/faults/presets/controller-failover", token()).status,
        201U);
    EXPECT_TRUE(wait_for_state(b, 2, active_optimized));
    EXPECT_TRUE(wait_for_state(b, 1, 0xF)) << "A transitioning for 5 s";
}

}  // namespace
}  // namespace atsarray::testing
