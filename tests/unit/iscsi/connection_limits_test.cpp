#include "target/iscsi/connection_limits.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace atsarray::iscsi {
namespace {

using Verdict = ConnectionLimits::Verdict;

class ConnectionLimitsTest : public ::testing::Test {
  protected:
    ConnectionLimits limits{[this](const std::string& line) { lines.push_back(line); }};
    std::vector<std::string> lines;
};

TEST_F(ConnectionLimitsTest, PerInitiatorLimitRefusesTheNextAndGivesBackOnRelease) {
    limits.set_limits(100, 2);
    auto a = limits.admit("10.0.0.1:3260", "192.0.2.7");
    auto b = limits.admit("10.0.0.1:3260", "192.0.2.7");
    EXPECT_EQ(a.verdict, Verdict::admitted);
    EXPECT_EQ(b.verdict, Verdict::admitted);
    EXPECT_EQ(limits.connections_from("192.0.2.7"), 2U);
    auto c = limits.admit("10.0.0.1:3260", "192.0.2.7");
    EXPECT_EQ(c.verdict, Verdict::initiator_full);
    EXPECT_TRUE(c.refused());
    EXPECT_TRUE(c.slot.held());  // to be answered with a Login Response
    EXPECT_EQ(limits.pending_refusals(), 1U);
    // Another address is not held to this one's limit.
    auto other = limits.admit("10.0.0.1:3260", "192.0.2.8");
    EXPECT_EQ(other.verdict, Verdict::admitted);
    EXPECT_EQ(limits.refused(Verdict::initiator_full), 1U);
    EXPECT_EQ(limits.refused(Verdict::portal_full), 0U);
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_EQ(lines[0],
              "iscsi portal 10.0.0.1:3260: connection from 192.0.2.7 refused: 2 connections from "
              "that address (iscsi.max_connections_per_initiator)");

    c.slot.release();
    EXPECT_EQ(limits.pending_refusals(), 0U);
    a.slot.release();
    a.slot.release();  // once only
    EXPECT_EQ(limits.connections_from("192.0.2.7"), 1U);
    auto d = limits.admit("10.0.0.1:3260", "192.0.2.7");
    EXPECT_EQ(d.verdict, Verdict::admitted);
}

TEST_F(ConnectionLimitsTest, PerPortalLimitCountsEveryAddress) {
    limits.set_limits(2, 100);
    auto a = limits.admit("p1", "192.0.2.1");
    auto b = limits.admit("p1", "192.0.2.2");
    auto c = limits.admit("p1", "192.0.2.3");
    EXPECT_EQ(c.verdict, Verdict::portal_full);
    // Another portal has its own count.
    EXPECT_EQ(limits.admit("p2", "192.0.2.3").verdict, Verdict::admitted);
    EXPECT_EQ(limits.refused(Verdict::portal_full), 1U);
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_NE(lines[0].find("2 connections at this portal (iscsi.max_connections)"),
              std::string::npos);
}

TEST_F(ConnectionLimitsTest, SlotsGoBackWhenDestroyedOrMoved) {
    limits.set_limits(100, 100);
    {
        std::vector<ConnectionLimits::Admission> held;
        for (int i = 0; i < 10; ++i) {
            held.push_back(limits.admit("p", "192.0.2.1"));
        }
        EXPECT_EQ(limits.connections_from("192.0.2.1"), 10U);
        EXPECT_EQ(limits.connections_at("p"), 10U);
        ConnectionLimits::Slot moved = std::move(held[0].slot);
        EXPECT_FALSE(held[0].slot.held());
        EXPECT_EQ(limits.connections_at("p"), 10U);
    }
    EXPECT_EQ(limits.connections_from("192.0.2.1"), 0U);
    EXPECT_EQ(limits.connections_at("p"), 0U);
}

TEST_F(ConnectionLimitsTest, RefusalsWaitingForAnAnswerAreBoundedAndLogLinesLimited) {
    limits.set_limits(100, 1);
    auto admitted = limits.admit("p", "192.0.2.1");
    std::vector<ConnectionLimits::Admission> refused;
    for (uint32_t i = 0; i < ConnectionLimits::max_pending_refusals + 10; ++i) {
        refused.push_back(limits.admit("p", "192.0.2.1"));
    }
    size_t answered = 0;
    for (const auto& r : refused) {
        EXPECT_TRUE(r.refused());
        answered += r.slot.held() ? 1 : 0;
    }
    EXPECT_EQ(answered, ConnectionLimits::max_pending_refusals);
    EXPECT_EQ(limits.refused(Verdict::initiator_full), ConnectionLimits::max_pending_refusals + 10);
    // 74 refusals in a burst: three lines, the rest counted into the next one.
    EXPECT_EQ(lines.size(), 3U);
    refused.clear();
    EXPECT_EQ(limits.pending_refusals(), 0U);
    EXPECT_EQ(limits.connections_from("192.0.2.1"), 1U);
}

}  // namespace
}  // namespace atsarray::iscsi
