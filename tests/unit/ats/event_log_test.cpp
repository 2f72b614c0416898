// The console's event log: sequence numbers, reads after a sequence, the bounded ring.
#include "target/ats/event_log.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace atsarray::ats {
namespace {

TEST(EventLog, NumbersEventsAndReadsAfterASequence) {
    EventLog log(100);
    EXPECT_EQ(log.last_seq(), 0U);
    EXPECT_TRUE(log.since(0, 10).empty());
    const Event a = log.add("login", "a logged in", "iqn.t", std::nullopt, "iqn.i,i,0x1");
    const Event b = log.add("miscompare", "ats miscompare lun 0", "iqn.t", 0, "iqn.i,i,0x1");
    EXPECT_EQ(a.seq, 1U);
    EXPECT_EQ(b.seq, 2U);
    EXPECT_EQ(log.last_seq(), 2U);
    const auto all = log.since(0, 10);
    ASSERT_EQ(all.size(), 2U);
    EXPECT_EQ(all[1].kind, "miscompare");
    EXPECT_EQ(all[1].lun, 0U);
    EXPECT_FALSE(all[0].lun.has_value());
    ASSERT_EQ(log.since(1, 10).size(), 1U);
    EXPECT_EQ(log.since(1, 10)[0].seq, 2U);
    EXPECT_TRUE(log.since(2, 10).empty());
    EXPECT_EQ(log.since(0, 1).size(), 1U);  // the limit, oldest first
}

TEST(EventLog, KeepsOnlyTheNewestAndNeverRenumbers) {
    EventLog log(3);
    for (int i = 0; i < 10; ++i) {
        log.add("note", std::to_string(i));
    }
    const auto kept = log.since(0, 100);
    ASSERT_EQ(kept.size(), 3U);
    EXPECT_EQ(kept.front().seq, 8U);
    EXPECT_EQ(kept.back().message, "9");
}

TEST(EventLog, ThreadsGetDistinctSequences) {
    EventLog log(10000);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&log] {
            for (int i = 0; i < 500; ++i) {
                log.add("note", "x");
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto all = log.since(0, 10000);
    ASSERT_EQ(all.size(), 2000U);
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].seq, i + 1);
    }
}

}  // namespace
}  // namespace atsarray::ats
