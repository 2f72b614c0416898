// The rule engine's stale_read matching and the stale images it serves (target/fault).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "target/fault/fault.hpp"
#include "target/fault/stale_images.hpp"

namespace atsarray::fault {
namespace {

using namespace std::chrono_literals;
using Clock = StaleImages::Clock;

RuleSpec stale_rule(uint64_t first, uint64_t last) {
    RuleSpec r;
    r.name = "stale";
    r.action = Action::stale_read;
    r.command = CommandClass::read;
    r.lba_first = first;
    r.lba_last = last;
    r.stale_ms = 2000;
    return r;
}

CommandView view(CommandClass c, uint64_t lba, uint64_t blocks, bool stale = false) {
    CommandView v;
    v.target = "iqn.t";
    v.lun = 0;
    v.initiator = "iqn.reader";
    v.command = c;
    v.lba = lba;
    v.blocks = blocks;
    v.stale = stale;
    return v;
}

TEST(FaultEngine, StaleReadRulesSelectReadsAndNeedATime) {
    RuleSpec r = stale_rule(0, 10);
    EXPECT_EQ(validate(r), "");
    r.command = CommandClass::any;
    EXPECT_NE(validate(r).find("command"), std::string::npos);
    r.command = CommandClass::read;
    r.stale_ms = 0;
    EXPECT_NE(validate(r).find("stale_ms"), std::string::npos);
    EXPECT_EQ(default_command(Action::stale_read), CommandClass::read);
    EXPECT_EQ(default_command(Action::false_miscompare), CommandClass::ats);
    EXPECT_EQ(default_command(Action::delay), CommandClass::any);
    EXPECT_NE(action_names().find("stale_read"), std::string::npos);
}

TEST(FaultEngine, StaleWindowsAreTheWritesBlocksInTheRulesRange) {
    Engine e;
    EXPECT_TRUE(e.stale_windows(view(CommandClass::write, 0, 8)).empty());  // no rule yet
    std::string error;
    const uint64_t id = e.add(stale_rule(100, 109), error);
    ASSERT_NE(id, 0U) << error;
    const auto w = e.stale_windows(view(CommandClass::write, 95, 10));
    ASSERT_EQ(w.size(), 1U);
    EXPECT_EQ(w[0].rule, id);
    EXPECT_EQ(w[0].lba, 100U);
    EXPECT_EQ(w[0].blocks, 5U);
    EXPECT_EQ(w[0].stale, 2000ms);
    EXPECT_EQ(e.stale_windows(view(CommandClass::ats, 108, 4))[0].blocks, 2U);
    EXPECT_TRUE(e.stale_windows(view(CommandClass::write, 110, 4)).empty());
    e.set_enabled(id, false);
    EXPECT_TRUE(e.stale_windows(view(CommandClass::write, 100, 1)).empty());
    e.set_enabled(id, true);
    EXPECT_TRUE(e.remove(id));
    EXPECT_TRUE(e.stale_windows(view(CommandClass::write, 100, 1)).empty());
}

TEST(FaultEngine, OnlyAReadOfStaleBlocksMatchesAStaleReadRule) {
    Engine e;
    std::string error;
    const uint64_t id = e.add(stale_rule(0, UINT64_MAX), error);
    EXPECT_FALSE(e.decide(view(CommandClass::read, 5, 1, false)));
    EXPECT_FALSE(e.decide(view(CommandClass::write, 5, 1, true)));
    const Decision d = e.decide(view(CommandClass::read, 5, 1, true));
    ASSERT_TRUE(d);
    EXPECT_EQ(d.action, Action::stale_read);
    EXPECT_EQ(e.rule(id)->hits, 1U);
}

std::vector<uint8_t> blocks_of(std::initializer_list<uint8_t> fill, uint32_t bs) {
    std::vector<uint8_t> out;
    for (uint8_t f : fill) {
        out.insert(out.end(), bs, f);
    }
    return out;
}

TEST(StaleImages, ReadsSeeTheFirstMissedImageUntilItExpires) {
    StaleImages s;
    const auto now = Clock::now();
    s.remember(1, 10, blocks_of({0xA0, 0xA1}, 4), 4, now, now + 1h);
    // A second write within the window does not replace what the stale cache holds.
    s.remember(1, 11, blocks_of({0xB1}, 4), 4, now, now + 1h);
    EXPECT_TRUE(s.any(9, 2, now));
    EXPECT_FALSE(s.any(12, 5, now));
    EXPECT_FALSE(s.any(10, 2, now + 2h));

    std::vector<uint8_t> data = blocks_of({1, 2, 3, 4}, 4);  // LBAs 9..12
    EXPECT_EQ(s.overlay(1, 9, data, 4, now), 2U);
    EXPECT_EQ(data, blocks_of({1, 0xA0, 0xA1, 4}, 4));
    std::vector<uint8_t> other = blocks_of({1, 2}, 4);
    EXPECT_EQ(s.overlay(2, 10, other, 4, now), 0U);  // another rule's images are not its own
    EXPECT_EQ(s.overlay(1, 10, other, 4, now + 2h), 0U);
    EXPECT_EQ(other, blocks_of({1, 2}, 4));

    // Once expired, a new write starts a new stale window with the image it replaced.
    s.remember(1, 10, blocks_of({0xC0}, 4), 4, now + 2h, now + 3h);
    std::vector<uint8_t> again = blocks_of({7}, 4);
    EXPECT_EQ(s.overlay(1, 10, again, 4, now + 2h), 1U);
    EXPECT_EQ(again, blocks_of({0xC0}, 4));
}

TEST(StaleImages, KeepsAtMostItsBoundDroppingTheFirstToExpire) {
    StaleImages s(2);
    const auto now = Clock::now();
    s.remember(1, 0, blocks_of({1}, 4), 4, now, now + 3h);
    s.remember(1, 1, blocks_of({2}, 4), 4, now, now + 1h);
    s.remember(1, 2, blocks_of({3}, 4), 4, now, now + 2h);
    EXPECT_EQ(s.size(), 2U);
    EXPECT_TRUE(s.any(0, 1, now));
    EXPECT_FALSE(s.any(1, 1, now));
    EXPECT_TRUE(s.any(2, 1, now));
}

}  // namespace
}  // namespace atsarray::fault
