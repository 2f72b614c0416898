// The striped LBA lock table: exclusion, FIFO hand-over, no deadlock and no leak under threads.
// Runs under ThreadSanitizer in the test command (scripts/test).
#include "target/ats/lock_table.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <future>
#include <optional>
#include <random>
#include <thread>
#include <vector>

namespace atsarray::ats {
namespace {

// Acquires synchronously (the caller's thread waits for the grant, wherever it happens);
// `shared`: as a reader.
LockGuard lock(LockTable& t, uint64_t lun, uint64_t lba, uint64_t blocks, bool shared = false) {
    std::promise<LockGuard> p;
    auto f = p.get_future();
    auto granted = [&p](LockGuard g) { p.set_value(std::move(g)); };
    if (shared) {
        t.acquire_shared(lun, lba, blocks, granted);
    } else {
        t.acquire(lun, lba, blocks, granted);
    }
    return f.get();
}

// `threads` threads of `rounds` rounds each (seeded per thread): every round draws a range
// [lba, end) of the first `blocks` blocks, at most max_length(round) long, and calls
// body(thread, round, lba, end); returns when all have joined.
template <typename MaxLength, typename Body>
void random_ranges(int threads, int rounds, uint64_t blocks, MaxLength max_length, Body body) {
    std::vector<std::thread> workers;
    for (int i = 0; i < threads; ++i) {
        workers.emplace_back([&, i] {
            std::mt19937 rng(static_cast<unsigned>(i));
            for (int r = 0; r < rounds; ++r) {
                const uint64_t lba = rng() % blocks;
                const uint64_t length = 1 + rng() % max_length(r);
                body(i, r, lba, std::min(blocks, lba + length));
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
}

TEST(LockTable, StripesAreSortedDistinctAndCoverBigRanges) {
    LockTable t(64);
    EXPECT_TRUE(t.stripes_for(0, 100, 0).empty());
    auto s = t.stripes_for(0, 0, 40);
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    EXPECT_EQ(std::adjacent_find(s.begin(), s.end()), s.end());
    EXPECT_EQ(t.stripes_for(0, 0, 64).size(), 64U);  // as many blocks as stripes: all of them
    EXPECT_EQ(t.stripes_for(3, 77, 1).size(), 1U);
    // Same block, different LUNs: different keys (almost surely different stripes).
    int same = 0;
    for (uint64_t lba = 0; lba < 64; ++lba) {
        same += t.stripes_for(1, lba, 1) == t.stripes_for(2, lba, 1) ? 1 : 0;
    }
    EXPECT_LT(same, 8);
}

TEST(LockTable, StripeCountIsAPowerOfTwo) {
    EXPECT_EQ(LockTable(1000).stripe_count(), 1024U);
    EXPECT_EQ(LockTable(0).stripe_count(), 1U);
}

TEST(LockTable, ZeroLengthIsGrantedAtOnce) {
    LockTable t;
    bool granted = false;
    t.acquire(0, 5, 0, [&](LockGuard g) {
        granted = true;
        EXPECT_EQ(g.stripe_count(), 0U);
    });
    EXPECT_TRUE(granted);
}

TEST(LockTable, OverlappingRangeWaitsUntilRelease) {
    LockTable t;
    LockGuard a = lock(t, 0, 5, 1);
    std::optional<LockGuard> b;
    t.acquire(0, 3, 6, [&](LockGuard g) { b = std::move(g); });
    EXPECT_FALSE(b.has_value());
    EXPECT_EQ(t.stats().waiting, 1U);
    EXPECT_EQ(t.stats().held, 1U);
    a.release();
    ASSERT_TRUE(b.has_value());
    EXPECT_TRUE(b->held());
    EXPECT_EQ(t.stats().waiting, 0U);
    EXPECT_EQ(t.stats().contended, 1U);
    EXPECT_EQ(t.stats().held, 1U);
    b.reset();
    EXPECT_EQ(t.stats().held, 0U);  // what the chaos test reads to find a leaked range
}

TEST(LockTable, WaitersAreServedInArrivalOrder) {
    LockTable t;
    LockGuard a = lock(t, 0, 9, 1);
    std::vector<int> order;
    std::optional<LockGuard> b;
    std::optional<LockGuard> c;
    t.acquire(0, 9, 1, [&](LockGuard g) {
        order.push_back(1);
        b = std::move(g);
    });
    t.acquire(0, 9, 1, [&](LockGuard g) {
        order.push_back(2);
        c = std::move(g);
    });
    a.release();
    EXPECT_EQ(order, std::vector<int>{1});
    b->release();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(LockTable, DisjointBlocksDoNotWait) {
    LockTable t(4096);
    // Find two blocks on different stripes (nearly every pair).
    uint64_t other = 1;
    while (t.stripes_for(0, other, 1) == t.stripes_for(0, 0, 1)) {
        ++other;
    }
    LockGuard a = lock(t, 0, 0, 1);
    bool granted = false;
    t.acquire(0, other, 1, [&](LockGuard) { granted = true; });
    EXPECT_TRUE(granted);
}

TEST(LockTable, GuardReleasesExactlyOnceAcrossMoves) {
    LockTable t;
    LockGuard a = lock(t, 0, 1, 4);
    LockGuard moved = std::move(a);
    EXPECT_FALSE(a.held());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    moved.release();
    moved.release();
    LockGuard again = lock(t, 0, 1, 4);  // would hang if a stripe had leaked
    EXPECT_TRUE(again.held());
}

// Threads lock random overlapping ranges and do a non-atomic read-modify-write on every block
// they hold; any overlap of two holders shows as a lost update (and as a race under TSan).
TEST(LockTable, ThreadsNeverShareABlockAndNeverDeadlock) {
    LockTable t(256);
    constexpr uint64_t blocks = 512;
    constexpr int threads = 6;
    constexpr int rounds = 3000;
    std::vector<uint64_t> counters(blocks, 0);
    std::vector<std::atomic<int>> owners(blocks);
    std::atomic<uint64_t> increments{0};
    random_ranges(
        threads, rounds, blocks, [](int r) { return r % 10 == 0 ? 300u : 4u; },
        [&](int, int, uint64_t lba, uint64_t end) {
            LockGuard g = lock(t, 7, lba, end - lba);
            for (uint64_t b = lba; b < end; ++b) {
                EXPECT_EQ(owners[b].fetch_add(1), 0) << "two holders of block " << b;
                counters[b] = counters[b] + 1;
            }
            for (uint64_t b = lba; b < end; ++b) {
                owners[b].fetch_sub(1);
            }
            increments += end - lba;
        });
    uint64_t sum = 0;
    for (uint64_t c : counters) {
        sum += c;
    }
    EXPECT_EQ(sum, increments.load());
    EXPECT_EQ(t.stats().waiting, 0U);
    EXPECT_EQ(t.stats().held, 0U);
    EXPECT_EQ(t.stats().acquisitions, static_cast<uint64_t>(threads) * rounds);
}

// UNMAP and EXTENDED COPY lock several ranges (and LUNs) at once: the union, as one holder.
TEST(LockTable, SeveralRangesAreLockedAsOne) {
    LockTable t(1024);
    const LockRange ranges[] = {{1, 10, 2}, {2, 500, 3}, {1, 11, 1}};
    std::optional<LockGuard> all;
    t.acquire(ranges, [&all](LockGuard g) { all = std::move(g); });
    ASSERT_TRUE(all.has_value());
    EXPECT_FALSE(all->waited());
    EXPECT_LE(all->stripe_count(), 5U);

    // A writer of any block of any range waits; a block outside them does not.
    std::optional<LockGuard> inside;
    std::optional<LockGuard> outside;
    t.acquire(2, 502, 1, [&inside](LockGuard g) { inside = std::move(g); });
    t.acquire(1, 12, 1, [&outside](LockGuard g) { outside = std::move(g); });
    EXPECT_FALSE(inside.has_value());
    bool collides = false;  // block 12 of LUN 1 may share a stripe with a locked block
    for (const LockRange& r : ranges) {
        for (uint32_t s : t.stripes_for(r.lun_key, r.lba, r.blocks)) {
            collides = collides || s == t.stripes_for(1, 12, 1)[0];
        }
    }
    EXPECT_EQ(outside.has_value(), !collides);
    all->release();
    ASSERT_TRUE(inside.has_value());
    EXPECT_TRUE(inside->waited());

    // No range at all: granted at once, holding nothing.
    std::optional<LockGuard> none;
    t.acquire(std::span<const LockRange>{}, [&none](LockGuard g) { none = std::move(g); });
    ASSERT_TRUE(none.has_value());
    EXPECT_EQ(none->stripe_count(), 0U);
}

}  // namespace
}  // namespace atsarray::ats

namespace atsarray::ats {
namespace {

LockGuard lock_shared(LockTable& t, uint64_t lun, uint64_t lba, uint64_t blocks) {
    return lock(t, lun, lba, blocks, true);
}

// Readers of a block share it; a writer waits for all of them, and readers that come after a
// waiting writer wait behind it (FIFO), then run together again.
TEST(LockTableShared, ReadersShareWritersExcludeInArrivalOrder) {
    LockTable t;
    LockGuard r1 = lock_shared(t, 0, 10, 2);
    LockGuard r2 = lock_shared(t, 0, 11, 1);  // shares block 11 with r1 at once
    EXPECT_TRUE(r2.shared());
    EXPECT_FALSE(r2.waited());
    std::optional<LockGuard> w;
    t.acquire(0, 11, 1, [&](LockGuard g) { w = std::move(g); });
    EXPECT_FALSE(w.has_value());
    std::optional<LockGuard> r3;
    std::optional<LockGuard> r4;
    t.acquire_shared(0, 11, 1, [&](LockGuard g) { r3 = std::move(g); });
    t.acquire_shared(0, 10, 2, [&](LockGuard g) { r4 = std::move(g); });
    EXPECT_FALSE(r3.has_value());  // behind the waiting writer
    EXPECT_FALSE(r4.has_value());
    r1.release();
    EXPECT_FALSE(w.has_value());  // r2 still reads block 11
    r2.release();
    ASSERT_TRUE(w.has_value());
    EXPECT_TRUE(w->waited());
    EXPECT_FALSE(w->shared());
    EXPECT_FALSE(r3.has_value());
    w->release();
    EXPECT_TRUE(r3.has_value());  // both readers resume together
    EXPECT_TRUE(r4.has_value());
    r3.reset();
    r4.reset();
    EXPECT_EQ(t.stats().held, 0U);
    EXPECT_EQ(t.stats().waiting, 0U);
    // Everything free again: a writer is granted at once.
    LockGuard w2 = lock(t, 0, 10, 2);
    EXPECT_FALSE(w2.waited());
}

// Readers never see a block while a writer holds it, and writers never overlap: a writer fills
// the block with one value at a time, readers must always find one value throughout.
TEST(LockTableShared, ThreadsNeverReadAHalfWrittenBlock) {
    LockTable t(64);
    constexpr uint64_t blocks = 128;
    constexpr int threads = 6;
    constexpr int rounds = 3000;
    std::vector<std::array<std::atomic<uint32_t>, 8>> data(blocks);
    std::atomic<int> torn{0};
    random_ranges(
        threads, rounds, blocks, [](int) { return 3u; },
        [&](int i, int r, uint64_t lba, uint64_t end) {
            if (i % 2 == 0) {
                LockGuard g = lock(t, 1, lba, end - lba);
                for (uint64_t b = lba; b < end; ++b) {
                    for (auto& word : data[b]) {
                        word.store(static_cast<uint32_t>(r), std::memory_order_relaxed);
                        std::this_thread::yield();
                    }
                }
                return;
            }
            LockGuard g = lock_shared(t, 1, lba, end - lba);
            for (uint64_t b = lba; b < end; ++b) {
                const uint32_t first = data[b][0].load(std::memory_order_relaxed);
                for (auto& word : data[b]) {
                    if (word.load(std::memory_order_relaxed) != first) {
                        ++torn;
                    }
                }
            }
        });
    EXPECT_EQ(torn.load(), 0);
    EXPECT_EQ(t.stats().held, 0U);
    EXPECT_EQ(t.stats().waiting, 0U);
    EXPECT_EQ(t.stats().acquisitions, static_cast<uint64_t>(threads) * rounds);
}

}  // namespace
}  // namespace atsarray::ats
