// The flight recorder fed notes the way the SCSI layer sends them (an ATS always, other commands
// on tracked blocks), one test per miscompare cause, the bounds, and the hand-over between
// threads.
#include "target/forensics/flight_recorder.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace atsarray::forensics {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t lun_key = 7;
constexpr uint64_t slot_lba = 7552;  // heartbeat slot at volume offset 3866624, 512-byte blocks
const SystemTime t0 = std::chrono::sys_days{std::chrono::year{2026} / 12 / 7} + 10h;

const Origin esx1{"iqn.1998-01.com.vmware:esx-01", "iqn.1998-01.com.vmware:esx-01,i,0x023d000001",
                  "10.0.0.11:51001", 1, 1};
const Origin esx2{"iqn.1998-01.com.vmware:esx-02", "iqn.1998-01.com.vmware:esx-02,i,0x023d000002",
                  "10.0.0.12:52002", 2, 1};
// esx-01 again, on its second path (another I_T nexus, target port 2).
const Origin esx1_path2{"iqn.1998-01.com.vmware:esx-01",
                        "iqn.1998-01.com.vmware:esx-01,i,0x023d000003", "10.0.1.11:51003", 3, 2};

// A heartbeat slot in use (VMFS-ATS.md slot layout): `host` is the MAC's last byte, `stamp` the
// only field a refresh changes.
std::vector<uint8_t> slot(uint8_t host, uint64_t gen, uint64_t stamp) {
    std::vector<uint8_t> b(512, 0);
    auto put64 = [&b](size_t at, uint64_t v) {
        for (size_t i = 0; i < 8; ++i) {
            b[at + i] = static_cast<uint8_t>(v >> (8 * i));
        }
    };
    put64(0x00, 0xabcdef02);  // state: 4 bytes, the next 4 are the addr's, written next
    put64(0x04, 3866624);
    put64(0x0c, gen);
    put64(0x14, stamp);
    b[0x1c] = 0x64;
    b[0x26] = 0x00;
    b[0x27] = 0x50;
    b[0x28] = 0x56;
    b[0x2b] = host;
    b[0x30] = 24;
    b[0x34] = 82;
    return b;
}

std::vector<uint8_t> filled(uint8_t byte, size_t n = 512) {
    return std::vector<uint8_t>(n, byte);
}

CommandNote base(const Origin& who, CommandKind kind, uint64_t lba, uint32_t blocks, SystemTime at,
                 uint32_t itt) {
    CommandNote n;
    n.lun_key = lun_key;
    n.target = "iqn.2026-01.org.atsarray:ds1";
    n.lun = 0;
    n.origin = who;
    n.itt = itt;
    n.cmd_sn = itt;
    n.kind = kind;
    n.lba = lba;
    n.blocks = blocks;
    n.arrived = at;
    n.started = at + 1ms;
    n.answered = at + 2ms;
    return n;
}

CommandNote ats(const Origin& who, SystemTime at, uint32_t itt, std::vector<uint8_t> compare,
                std::vector<uint8_t> on_disk, std::vector<uint8_t> set,
                Outcome outcome = Outcome::good, uint64_t lba = slot_lba) {
    CommandNote n = base(who, CommandKind::ats, lba, 1, at, itt);
    n.outcome = outcome;
    n.compare = std::move(compare);
    n.on_disk = std::move(on_disk);
    n.set = std::move(set);
    return n;
}

CommandNote read(const Origin& who, SystemTime at, uint32_t itt, std::vector<uint8_t> image,
                 std::string fault_rule = {}) {
    CommandNote n = base(who, CommandKind::read, slot_lba, 1, at, itt);
    n.on_disk = std::move(image);
    n.fault_rule = std::move(fault_rule);
    return n;
}

CommandNote write(const Origin& who, SystemTime at, uint32_t itt, std::vector<uint8_t> data,
                  uint64_t lba = slot_lba) {
    const auto blocks = static_cast<uint32_t>(data.size() / 512);
    CommandNote n = base(who, CommandKind::write, lba, blocks, at, itt);
    n.data = std::move(data);
    return n;
}

// The last entry of the slot's history: the miscompare just explained.
HistoryEntry last_entry(const FlightRecorder& r, uint64_t lba = slot_lba) {
    const auto h = r.history("iqn.2026-01.org.atsarray:ds1", 0, lba);
    EXPECT_TRUE(h.has_value());
    return h ? h->entries.back() : HistoryEntry{};
}

const std::vector<uint8_t> v0 = slot(1, 1, 1000);      // esx-01's slot
const std::vector<uint8_t> v1 = slot(1, 1, 4000);      // refreshed
const std::vector<uint8_t> v2 = slot(1, 1, 7000);      // refreshed again
const std::vector<uint8_t> cleared = slot(2, 2, 500);  // taken over by esx-02 (gen + 1)

// Two initiators race: esx-02 clears esx-01's slot after esx-01 read it.
TEST(FlightRecorderCause, ContentionNamesTheOtherInitiator) {
    FlightRecorder r;
    std::vector<Explained> seen;
    r.on_explained([&seen](const Explained& x) { seen.push_back(x); });
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(read(esx1, t0 + 1s, 0x11, v1));
    r.note(ats(esx2, t0 + 2s, 0x2a, v1, v1, cleared));
    r.note(ats(esx1, t0 + 3s, 0x12, v1, cleared, v2, Outcome::miscompare));
    r.settle();

    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::contention) << m.explanation;
    EXPECT_NE(m.explanation.find("iqn.1998-01.com.vmware:esx-02 (10.0.0.12:52002, relative "
                                 "target port 1)"),
              std::string::npos)
        << m.explanation;
    EXPECT_NE(m.explanation.find("ATS (ITT 0x2a) answered at 2026-12-07T10:00:02.002Z"),
              std::string::npos)
        << m.explanation;
    EXPECT_NE(m.explanation.find("[HB state abcdef02 offset 3866624 gen 2 stampUS 500"),
              std::string::npos)
        << m.explanation;
    ASSERT_EQ(seen.size(), 1u);
    ASSERT_TRUE(seen[0].culprit.has_value());
    EXPECT_EQ(seen[0].culprit->origin.initiator_name, esx2.initiator_name);
    EXPECT_EQ(seen[0].entry.culprit_seq, seen[0].culprit->seq);
    EXPECT_EQ(r.stats().causes[Cause::contention], 1u);
}

// No read of the block recorded from the host that miscompared: still contention, and it says so.
TEST(FlightRecorderCause, ContentionWithoutARecordedRead) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(ats(esx2, t0 + 1s, 0x2a, v1, v1, cleared));
    r.note(ats(esx1, t0 + 2s, 0x12, v1, cleared, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::contention) << m.explanation;
    EXPECT_NE(m.explanation.find("no read of the block by iqn.1998-01.com.vmware:esx-01"),
              std::string::npos)
        << m.explanation;
}

// KB 2113956: the refresh's status was dropped, the host retried it and found its own write.
TEST(FlightRecorderCause, LateRetryOfAnAtsWhoseStatusWasNotSeen) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    CommandNote lost = ats(esx1, t0 + 3s, 0x11, v1, v1, v2);
    lost.status_seen = false;
    r.note(lost);
    r.note(ats(esx1, t0 + 11s, 0x12, v1, v2, v2, Outcome::miscompare));
    r.settle();
    const auto h = r.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba);
    ASSERT_TRUE(h.has_value());
    ASSERT_EQ(h->entries.size(), 3u);
    const HistoryEntry& m = h->entries[2];
    EXPECT_EQ(m.cause, Cause::late_retry) << m.explanation;
    EXPECT_EQ(m.culprit_seq, h->entries[1].seq);
    EXPECT_NE(m.explanation.find("ITT 0x11"), std::string::npos) << m.explanation;
    EXPECT_NE(m.explanation.find("status dropped"), std::string::npos) << m.explanation;
    EXPECT_NE(m.explanation.find("KB 2113956"), std::string::npos) << m.explanation;
}

TEST(FlightRecorderCause, LateRetryOfAnAbortedAts) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(ats(esx1, t0 + 3s, 0x11, v1, v1, v2, Outcome::aborted));
    r.note(ats(esx1, t0 + 11s, 0x12, v1, v2, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::late_retry) << m.explanation;
    EXPECT_NE(m.explanation.find("(aborted)"), std::string::npos) << m.explanation;
}

// An ATS that miscompared wrote nothing, even if its status was lost: the block holding its set
// image is another host's doing, not a late retry.
TEST(FlightRecorderCause, AMiscomparedAtsWhoseStatusWasLostIsNoLateRetry) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(write(esx2, t0 + 1s, 0x2a, v2));
    CommandNote lost = ats(esx1, t0 + 3s, 0x11, v1, v2, v2, Outcome::miscompare);
    lost.status_seen = false;
    r.note(lost);
    r.note(ats(esx1, t0 + 11s, 0x12, v1, v2, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::contention) << m.explanation;
    EXPECT_NE(m.explanation.find("WRITE (ITT 0x2a)"), std::string::npos) << m.explanation;
}

// A read served the old image (a stale_read fault rule) after esx-02 had replaced it.
TEST(FlightRecorderCause, StaleReadNamesTheFaultRule) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(ats(esx2, t0 + 1s, 0x2a, v1, v1, cleared));
    r.note(read(esx1, t0 + 2s, 0x11, v1, "stale-read-hb"));
    r.note(ats(esx1, t0 + 3s, 0x12, v1, cleared, v2, Outcome::miscompare));
    r.settle();
    const auto h = r.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba);
    ASSERT_TRUE(h.has_value());
    const HistoryEntry& m = h->entries.back();
    EXPECT_EQ(m.cause, Cause::stale_read) << m.explanation;
    EXPECT_EQ(m.culprit_seq, h->entries[2].seq);  // the stale read
    EXPECT_NE(m.explanation.find("fault rule stale-read-hb"), std::string::npos) << m.explanation;
    EXPECT_NE(m.explanation.find("READ (ITT 0x11) answered at 2026-12-07T10:00:02.002Z"),
              std::string::npos)
        << m.explanation;
}

// esx-01 failed over to target port 2 and a write it had in flight there landed late.
TEST(FlightRecorderCause, FailoverSameInitiatorOnAnotherPath) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(read(esx1, t0 + 1s, 0x11, v1));
    r.note(write(esx1_path2, t0 + 2s, 0x90, v2));
    r.note(ats(esx1, t0 + 3s, 0x12, v1, v2, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::failover) << m.explanation;
    EXPECT_NE(m.explanation.find("10.0.1.11:51003, relative target port 2"), std::string::npos)
        << m.explanation;
    EXPECT_NE(m.explanation.find("WRITE (ITT 0x90)"), std::string::npos) << m.explanation;
}

TEST(FlightRecorderCause, InjectedNamesTheRule) {
    FlightRecorder r;
    CommandNote n = ats(esx1, t0, 0x10, v0, v0, v1, Outcome::injected_miscompare);
    n.fault_rule = "ats-miscompare-every-10";
    r.note(n);
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::injected);
    EXPECT_NE(m.explanation.find("fault rule ats-miscompare-every-10 forced a miscompare"),
              std::string::npos)
        << m.explanation;
}

// The block's history was evicted (max_blocks 1) between the write and the miscompare.
TEST(FlightRecorderCause, UnknownWhenTheHistoryWasEvicted) {
    FlightRecorder r({.max_blocks = 1});
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(ats(esx2, t0 + 1s, 0x2a, v1, v1, cleared));
    r.note(ats(esx1, t0 + 2s, 0x20, filled(1), filled(1), filled(2), Outcome::good, 99));
    r.note(ats(esx1, t0 + 3s, 0x12, v1, cleared, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::unknown) << m.explanation;
    EXPECT_NE(m.explanation.find("the block's history starts at 2026-12-07T10:00:03.002Z, after "
                                 "its earlier history was evicted"),
              std::string::npos)
        << m.explanation;
    EXPECT_EQ(r.stats().evicted_blocks, 2u);
}

TEST(FlightRecorderCause, UnknownWhenTheComparedImageWasNeverSeen) {
    FlightRecorder r;
    r.note(ats(esx2, t0, 0x2a, v0, v0, cleared));
    r.note(ats(esx1, t0 + 1s, 0x12, v1, cleared, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::unknown) << m.explanation;
    EXPECT_NE(m.explanation.find("the image compared was never seen on this block"),
              std::string::npos)
        << m.explanation;
}

// A read a fault rule served shows nothing about the medium: the image it returned was never
// on the block, so no write replaced it.
TEST(FlightRecorderCause, UnknownWhenOnlyAFaultRuleServedTheComparedImage) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(read(esx1, t0 + 1s, 0x11, filled(9), "corrupt-read"));
    r.note(ats(esx2, t0 + 2s, 0x2a, v1, v1, cleared));
    r.note(ats(esx1, t0 + 3s, 0x12, filled(9), cleared, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::unknown) << m.explanation;
    EXPECT_NE(m.explanation.find("never seen on this block"), std::string::npos) << m.explanation;
    EXPECT_NE(m.explanation.find("compared image #"), std::string::npos) << m.explanation;
}

// max_blocks: the least recently touched block goes, and a read touches a block.
TEST(FlightRecorderBounds, MaxBlocksEvictsTheLeastRecentlyTouched) {
    FlightRecorder r({.max_blocks = 3});
    for (uint64_t lba : {1, 2, 3}) {
        r.note(ats(esx1, t0, 1, filled(1), filled(1), filled(2), Outcome::good, lba));
    }
    CommandNote touch = read(esx1, t0 + 1s, 2, filled(2));
    touch.lba = 1;
    r.note(touch);
    r.note(ats(esx1, t0 + 2s, 3, filled(1), filled(1), filled(2), Outcome::good, 4));
    r.settle();
    const auto blocks = r.blocks();
    ASSERT_EQ(blocks.size(), 3u);
    EXPECT_EQ(blocks[0].lba, 4u);
    EXPECT_EQ(blocks[1].lba, 1u);
    EXPECT_EQ(blocks[2].lba, 3u);
    EXPECT_EQ(blocks[1].entries, 2u);
    EXPECT_FALSE(r.tracks(lun_key, 2, 1));
    EXPECT_EQ(r.stats().evicted_blocks, 1u);
}

TEST(FlightRecorderBounds, EntriesPerBlockDropsTheOldest) {
    FlightRecorder r({.entries_per_block = 4});
    for (uint32_t i = 0; i < 6; ++i) {
        r.note(ats(esx1, t0 + i * 1s, i, filled(1), filled(1), filled(2)));
    }
    r.settle();
    const auto h = r.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba);
    ASSERT_TRUE(h.has_value());
    EXPECT_TRUE(h->truncated);
    ASSERT_EQ(h->entries.size(), 4u);
    EXPECT_EQ(h->entries.front().itt, 2u);
    EXPECT_EQ(r.stats().dropped_entries, 2u);
}

// Equal images are kept once; the last entry referring to one frees it.
TEST(FlightRecorderBounds, ImagesDeduplicatedAndFreedWithTheirLastEntry) {
    FlightRecorder r({.entries_per_block = 2});
    for (uint32_t i = 0; i < 3; ++i) {
        r.note(ats(esx1, t0 + i * 1s, i, v0, v0, v1));
    }
    r.settle();
    RecorderStats s = r.stats();
    EXPECT_EQ(s.images, 2u);
    EXPECT_EQ(s.image_bytes, 1024u);
    const HistoryEntry e = last_entry(r);
    EXPECT_EQ(e.compare, e.on_disk);
    EXPECT_EQ(r.image(e.set), v1);

    // Two new refreshes push the v0/v1 entries out: their images go with them.
    r.note(ats(esx1, t0 + 5s, 5, v1, v1, v2));
    r.note(ats(esx1, t0 + 6s, 6, v2, v2, cleared));
    r.settle();
    s = r.stats();
    EXPECT_EQ(s.images, 3u);  // v1, v2, cleared
    EXPECT_FALSE(r.image(e.compare).has_value());
    EXPECT_EQ(s.image_bytes, 3u * 512);
}

TEST(FlightRecorderBounds, ImageBytesEvictTheLeastRecentlyTouchedBlock) {
    FlightRecorder r({.max_image_bytes = 3 * 512});
    r.note(ats(esx1, t0, 1, filled(1), filled(1), filled(2), Outcome::good, 10));
    r.note(ats(esx1, t0 + 1s, 2, filled(3), filled(3), filled(4), Outcome::good, 20));
    r.settle();
    const RecorderStats s = r.stats();
    EXPECT_EQ(s.evicted_blocks, 1u);
    EXPECT_EQ(s.image_bytes, 2u * 512);
    EXPECT_FALSE(r.tracks(lun_key, 10, 1));
    EXPECT_TRUE(r.tracks(lun_key, 20, 1));
}

// One block alone over the byte bound loses its own oldest entries.
TEST(FlightRecorderBounds, ImageBytesTruncateALoneBlock) {
    FlightRecorder r({.max_image_bytes = 3 * 512});
    r.note(ats(esx1, t0, 1, filled(1), filled(1), filled(2)));
    r.note(ats(esx1, t0 + 1s, 2, filled(3), filled(3), filled(4)));
    r.settle();
    const auto h = r.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba);
    ASSERT_TRUE(h.has_value());
    ASSERT_EQ(h->entries.size(), 1u);
    EXPECT_EQ(h->entries[0].itt, 2u);
    EXPECT_TRUE(h->truncated);
    EXPECT_EQ(r.stats().image_bytes, 2u * 512);
    EXPECT_EQ(r.stats().evicted_blocks, 0u);
}

// The recorder thread is held in a callback: note() keeps returning, queue_notes are kept and the
// rest counted as dropped.
TEST(FlightRecorderBounds, FullQueueDropsAndNeverBlocks) {
    FlightRecorder r({.queue_notes = 4});
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    r.on_explained([&entered, released](const Explained&) {
        entered.set_value();
        released.wait();
    });
    CommandNote injected = ats(esx1, t0, 1, v0, v0, v1, Outcome::injected_miscompare);
    injected.fault_rule = "hold";
    r.note(injected);
    entered.get_future().wait();
    for (uint32_t i = 0; i < 10; ++i) {
        r.note(ats(esx1, t0 + 1s, 10 + i, v0, v0, v1, Outcome::good, 100 + i));
    }
    EXPECT_EQ(r.stats().dropped_notes, 6u);
    release.set_value();
    r.settle();
    const RecorderStats s = r.stats();
    EXPECT_EQ(s.notes, 5u);
    EXPECT_EQ(s.dropped_notes, 6u);
    EXPECT_TRUE(r.tracks(lun_key, 103, 1));
    EXPECT_FALSE(r.tracks(lun_key, 104, 1));
}

// A miscompare whose block lost notes to a full queue says so instead of guessing.
TEST(FlightRecorderCause, UnknownWhenNotesWereDropped) {
    FlightRecorder r({.queue_notes = 2});
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    bool first = true;
    r.on_explained([&](const Explained&) {
        if (first) {
            first = false;
            entered.set_value();
            released.wait();
        }
    });
    r.note(ats(esx1, t0, 1, v0, v0, v1));
    r.settle();
    CommandNote hold = ats(esx1, t0, 2, v0, v0, v1, Outcome::injected_miscompare, 500);
    r.note(hold);
    entered.get_future().wait();
    r.note(ats(esx2, t0 + 1s, 3, filled(5), filled(5), filled(6), Outcome::good, 501));
    r.note(ats(esx2, t0 + 1s, 4, filled(5), filled(5), filled(6), Outcome::good, 502));
    r.note(ats(esx2, t0 + 2s, 0x2a, v1, v1, cleared));  // dropped: the write that explains it
    release.set_value();
    r.settle();
    r.note(ats(esx1, t0 + 3s, 0x12, v1, cleared, v2, Outcome::miscompare));
    r.settle();
    const HistoryEntry m = last_entry(r);
    EXPECT_EQ(m.cause, Cause::unknown) << m.explanation;
    EXPECT_NE(m.explanation.find("1 note was dropped"), std::string::npos) << m.explanation;
}

TEST(FlightRecorder, TracksABlockOnceAnAtsIsNoted) {
    FlightRecorder r;
    EXPECT_FALSE(r.tracks(lun_key, 100, 1));
    r.note(ats(esx1, t0, 1, v0, v0, v1, Outcome::good, 100));
    r.settle();
    EXPECT_TRUE(r.tracks(lun_key, 100, 1));
    EXPECT_TRUE(r.tracks(lun_key, 90, 11));
    EXPECT_FALSE(r.tracks(lun_key, 90, 10));
    EXPECT_FALSE(r.tracks(lun_key, 101, 5));
    EXPECT_FALSE(r.tracks(lun_key + 1, 100, 1));
    EXPECT_FALSE(r.tracks(lun_key, 100, 0));
    EXPECT_TRUE(r.tracks(lun_key, 0, UINT64_MAX));
}

// What each kind of command installs on a tracked block inside its range.
TEST(FlightRecorder, WriteSameUnmapAndXcopyImages) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 1, v0, v0, v1, Outcome::good, 100));
    std::vector<uint8_t> four;
    for (uint8_t b = 1; b <= 4; ++b) {
        const auto block = filled(b);
        four.insert(four.end(), block.begin(), block.end());
    }
    r.note(write(esx2, t0 + 1s, 2, four, 98));  // block 100 is its third
    CommandNote same = base(esx2, CommandKind::write_same, 96, 8, t0 + 2s, 3);
    same.data = filled(9);
    r.note(same);
    r.note(base(esx2, CommandKind::unmap, 64, 64, t0 + 3s, 4));
    r.note(base(esx2, CommandKind::xcopy, 100, 1, t0 + 4s, 5));
    r.note(write(esx2, t0 + 5s, 6, filled(7), 101));  // not tracked: not recorded
    r.settle();
    const auto h = r.history("iqn.2026-01.org.atsarray:ds1", 0, 100);
    ASSERT_TRUE(h.has_value());
    ASSERT_EQ(h->entries.size(), 5u);
    EXPECT_EQ(r.image(h->entries[1].set), filled(3));
    EXPECT_EQ(r.image(h->entries[2].set), filled(9));
    EXPECT_EQ(r.image(h->entries[3].set), filled(0));
    EXPECT_EQ(h->entries[4].set, 0u);
    EXPECT_EQ(h->entries[4].kind, CommandKind::xcopy);
}

// on_explained runs outside the state lock: the daemon's callback may query the recorder.
TEST(FlightRecorder, CallbackMayQueryTheRecorder) {
    FlightRecorder r;
    std::optional<BlockHistory> seen;
    r.on_explained([&](const Explained& x) { seen = r.history(x.target, x.lun, x.lba); });
    CommandNote n = ats(esx1, t0, 0x10, v0, v0, v1, Outcome::injected_miscompare);
    n.fault_rule = "r1";
    r.note(n);
    r.settle();
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(seen->entries.back().cause, Cause::injected);
}

TEST(FlightRecorder, SettleWaitsForEverythingQueuedBefore) {
    FlightRecorder r;
    for (uint32_t i = 0; i < 2000; ++i) {
        r.note(ats(esx1, t0, i, v0, v0, v1, Outcome::good, i % 50));
    }
    r.settle();
    EXPECT_EQ(r.stats().notes, 2000u);
    EXPECT_EQ(r.stats().blocks, 50u);
}

TEST(FlightRecorder, DestructorFoldsInWhatIsQueued) {
    std::atomic<int> explained{0};
    {
        FlightRecorder r;
        r.on_explained([&explained](const Explained&) { ++explained; });
        for (uint32_t i = 0; i < 100; ++i) {
            r.note(ats(esx1, t0, i, v0, v0, v1, Outcome::injected_miscompare, i));
        }
    }
    EXPECT_EQ(explained.load(), 100);
}

TEST(FlightRecorder, DisabledIgnoresNotes) {
    FlightRecorder r({.enabled = false});
    r.note(ats(esx1, t0, 1, v0, v0, v1, Outcome::good, 100));
    r.settle();
    EXPECT_FALSE(r.tracks(lun_key, 100, 1));
    EXPECT_EQ(r.stats().notes, 0u);
    EXPECT_TRUE(r.blocks().empty());
    EXPECT_FALSE(r.history("iqn.2026-01.org.atsarray:ds1", 0, 100).has_value());
}

TEST(FlightRecorder, MiscomparesNewestFirstWithTheirCulprit) {
    FlightRecorder r;
    r.note(ats(esx1, t0, 0x10, v0, v0, v1));
    r.note(ats(esx2, t0 + 1s, 0x2a, v1, v1, cleared));
    r.note(ats(esx1, t0 + 2s, 0x12, v1, cleared, v2, Outcome::miscompare));
    CommandNote injected = ats(esx1, t0 + 3s, 0x13, v0, v0, v1, Outcome::injected_miscompare, 5);
    injected.fault_rule = "r1";
    r.note(injected);
    r.settle();
    const auto list = r.miscompares();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].entry.cause, Cause::injected);
    EXPECT_EQ(list[1].entry.cause, Cause::contention);
    ASSERT_TRUE(list[1].culprit.has_value());
    EXPECT_EQ(list[1].culprit->itt, 0x2au);
    EXPECT_EQ(r.miscompares(1).size(), 1u);
}

// Several I/O threads noting while another queries: the ASan build runs it, and a TSan build
// would show a race between the hand-over, the snapshot and the queries. The queue holds every
// note, so what is folded in is exact.
TEST(FlightRecorder, ThreadsNoteWhileAnotherQueries) {
    constexpr int writers = 4;
    constexpr uint32_t per_writer = 3000;
    FlightRecorder r({.max_blocks = 24, .entries_per_block = 8, .queue_notes = 16384});
    std::atomic<bool> done{false};
    std::atomic<size_t> longest{0};
    std::thread reader([&] {
        while (!done.load()) {
            for (const auto& b : r.blocks()) {
                const auto h = r.history(b.target, b.lun, b.lba);
                if (h && !h->entries.empty()) {
                    longest = std::max(longest.load(), h->entries.size());
                    (void)r.image(h->entries.back().set);
                }
            }
            (void)r.miscompares(10);
            (void)r.stats();
        }
    });
    std::atomic<uint64_t> tracked_seen{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&r, &tracked_seen, w] {
            const Origin& who = w % 2 == 0 ? esx1 : esx2;
            for (uint32_t i = 0; i < per_writer; ++i) {
                const uint64_t lba = (i * 7 + static_cast<uint32_t>(w)) % 32;
                const auto a = filled(static_cast<uint8_t>(i % 5));
                const auto b = filled(static_cast<uint8_t>(i % 5 + 1));
                if (i % 3 == 0) {
                    // As the SCSI layer does: ask first, copy the data only for a tracked block.
                    tracked_seen += r.tracks(lun_key, lba, 1) ? 1 : 0;
                    r.note(write(who, t0 + i * 1ms, i, b, lba));
                } else if (i % 3 == 1) {
                    r.note(ats(who, t0 + i * 1ms, i, a, b, b, Outcome::miscompare, lba));
                } else {
                    r.note(ats(who, t0 + i * 1ms, i, a, a, b, Outcome::good, lba));
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    r.settle();
    done = true;
    reader.join();
    const RecorderStats s = r.stats();
    EXPECT_EQ(s.dropped_notes, 0u);
    EXPECT_EQ(s.notes, uint64_t{writers} * per_writer);
    EXPECT_LE(s.blocks, 24u);
    EXPECT_LE(s.entries, 24u * 8);
    EXPECT_LE(longest.load(), 8u);
    uint64_t explained = 0;
    for (const auto& [cause, count] : s.causes) {
        explained += count;
    }
    EXPECT_EQ(explained, uint64_t{writers} * 1000);
}

// [ats] recorder_persist: a LUN's histories saved and restored under another LUN key (the next
// run's) come back whole: entries in order, images, causes, explanations and culprits; what the
// new run notes on the block follows them.
TEST(FlightRecorderPersist, SavedHistoriesComeBackWholeBeforeTheNewRunsEntries) {
    std::string saved;
    std::vector<HistoryEntry> before;
    {
        FlightRecorder r;
        r.note(ats(esx1, t0, 0x10, v0, v0, v1));
        r.note(read(esx1, t0 + 1s, 0x11, v1));
        r.note(ats(esx2, t0 + 2s, 0x2a, v1, v1, cleared));
        r.note(ats(esx1, t0 + 3s, 0x12, v1, cleared, v2, Outcome::miscompare));
        CommandNote other = ats(esx1, t0, 0x13, v0, v0, v1, Outcome::good, 99);
        other.lun_key = lun_key + 1;  // another LUN: not saved with this one
        r.note(other);
        r.settle();
        before = r.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba)->entries;
        saved = r.save(lun_key);
    }
    FlightRecorder next;
    constexpr uint64_t next_key = 42;
    EXPECT_EQ(next.restore(next_key, saved), 1u);
    EXPECT_TRUE(next.tracks(next_key, slot_lba, 1));
    EXPECT_FALSE(next.tracks(next_key, 99, 1));
    const auto h = next.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba);
    ASSERT_TRUE(h);
    ASSERT_EQ(h->entries.size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) {
        const HistoryEntry& a = before[i];
        const HistoryEntry& b = h->entries[i];
        EXPECT_EQ(b.kind, a.kind) << i;
        EXPECT_EQ(b.itt, a.itt) << i;
        EXPECT_EQ(b.origin.initiator_port, a.origin.initiator_port) << i;
        EXPECT_EQ(b.answered, a.answered) << i;
        EXPECT_EQ(b.outcome, a.outcome) << i;
        EXPECT_EQ(b.cause, a.cause) << i;
        EXPECT_EQ(b.explanation, a.explanation) << i;
        EXPECT_EQ(b.compare != 0, a.compare != 0) << i;
        EXPECT_EQ(b.on_disk != 0, a.on_disk != 0) << i;
        EXPECT_EQ(b.set != 0, a.set != 0) << i;
    }
    // The images are the ones noted, and the culprit is the restored esx-02 ATS.
    const HistoryEntry& m = h->entries.back();
    EXPECT_EQ(m.cause, Cause::contention);
    EXPECT_EQ(next.image(m.compare), v1);
    EXPECT_EQ(next.image(m.on_disk), cleared);
    EXPECT_EQ(next.image(m.set), v2);
    ASSERT_TRUE(m.culprit_seq);
    ASSERT_TRUE(m.culprit);
    EXPECT_EQ(m.culprit->origin.initiator_name, esx2.initiator_name);
    EXPECT_EQ(h->entries[2].seq, *m.culprit_seq);
    const auto miscompares = next.miscompares();
    ASSERT_EQ(miscompares.size(), 1u);
    ASSERT_TRUE(miscompares[0].culprit);
    EXPECT_EQ(miscompares[0].culprit->itt, 0x2au);

    // The new run's commands (their orders start again at 1) come after the restored ones.
    CommandNote now = write(esx2, t0 + 60s, 0x30, v0);
    now.lun_key = next_key;
    now.order = 1;
    next.note(now);
    next.settle();
    const auto after = next.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba);
    ASSERT_EQ(after->entries.size(), before.size() + 1);
    EXPECT_EQ(after->entries.back().itt, 0x30u);

    next.forget(next_key);
    EXPECT_FALSE(next.history("iqn.2026-01.org.atsarray:ds1", 0, slot_lba));
    EXPECT_FALSE(next.tracks(next_key, slot_lba, 1));
}

TEST(FlightRecorderPersist, ASavedFileThatIsNotOneIsRefusedNamingWhy) {
    FlightRecorder r;
    EXPECT_THROW(r.restore(1, "not json"), std::invalid_argument);
    EXPECT_THROW(r.restore(1, R"({"format": "atsarray-flight-recorder", "version": 9})"),
                 std::invalid_argument);
    try {
        r.restore(1, R"({"format": "atsarray-flight-recorder", "version": 1, "images": {},
                         "blocks": [{"target": "t", "lun": 0, "lba": 1, "block_size": 512,
                                     "truncated": false, "entries": [{"seq": 1}]}]})");
        ADD_FAILURE() << "restored an entry without its fields";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("kind"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(r.blocks().empty());
}

}  // namespace
}  // namespace atsarray::forensics
