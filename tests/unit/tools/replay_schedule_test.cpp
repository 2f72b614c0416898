// atsarray-replay's schedules (tools/replay/schedule.hpp): timed sends each command at its
// recorded arrival over the speed, earliest first; ordered sends them one at a time in the order
// they reached the medium, with those that touched no block between them by arrival.
#include <gtest/gtest.h>

#include "tests/unit/tools/replay_commands.hpp"
#include "tools/replay/schedule.hpp"

namespace atsarray::replay {
namespace {

using namespace testing;

std::vector<size_t> commands_of(const std::vector<Scheduled>& schedule) {
    std::vector<size_t> order;
    for (const Scheduled& s : schedule) {
        order.push_back(s.command);
    }
    return order;
}

// Answered order (the trace's) differs from both arrival and medium order.
trace::Trace three_commands() {
    trace::Trace t;
    t.commands = {command(rw16(0x88, 0, 1), 5000, 3), command(rw16(0x8a, 0, 1), 1000, 2),
                  command(rw16(0x88, 4, 1), 3000, 1)};
    return t;
}

TEST(ReplaySchedule, TimedByArrivalOverSpeed) {
    const std::vector<Scheduled> s = timed_schedule(three_commands(), 2.0);
    EXPECT_EQ(commands_of(s), (std::vector<size_t>{1, 2, 0}));
    ASSERT_EQ(s.size(), 3U);
    EXPECT_EQ(s[0].send_at_us, 0);  // the first command at once
    EXPECT_EQ(s[1].send_at_us, 1000);
    EXPECT_EQ(s[2].send_at_us, 2000);
}

TEST(ReplaySchedule, TimedSlowerThanRecorded) {
    const std::vector<Scheduled> s = timed_schedule(three_commands(), 0.5);
    EXPECT_EQ(s.back().send_at_us, 8000);
}

TEST(ReplaySchedule, OrderedByMediumOrder) {
    EXPECT_EQ(commands_of(ordered_schedule(three_commands())), (std::vector<size_t>{2, 1, 0}));
}

TEST(ReplaySchedule, OrderedPutsBlocklessCommandsByArrival) {
    trace::Trace t = three_commands();
    // An INQUIRY that arrived before everything; a TUR that arrived at 4000, after the medium's
    // 1st and 2nd (3000 and 1000), before its 3rd (5000); an invalid CDB after all.
    t.commands.push_back(command({0x12, 0, 0, 0, 36, 0}, 500, 0));
    t.commands.push_back(command({0x00, 0, 0, 0, 0, 0}, 4000, 0));
    t.commands.push_back(command({0xff, 0, 0, 0, 0, 0}, 9000, 0));
    EXPECT_EQ(commands_of(ordered_schedule(t)), (std::vector<size_t>{3, 2, 1, 4, 0, 5}));
}

TEST(ReplaySchedule, EmptyTrace) {
    EXPECT_TRUE(timed_schedule(trace::Trace{}, 1.0).empty());
    EXPECT_TRUE(ordered_schedule(trace::Trace{}).empty());
}

}  // namespace
}  // namespace atsarray::replay
