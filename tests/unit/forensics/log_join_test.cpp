// Host events joined with the array's: the skew estimated from unambiguous pairs (with a made-up
// skew), matching by offset x block size, initiator, NAA and time, and the sentences for the
// cases an engineer asks about.
#include "target/forensics/log_join.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tools/esxi_sim/log.hpp"

namespace atsarray::forensics {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

const TimePoint t0 = parse_log_time("2026-11-03T10:00:00.000Z").value();
constexpr const char* esx1 = "iqn.1998-01.com.vmware:esx-01-1,i,0x00023d000001";
constexpr const char* esx2 = "iqn.1998-01.com.vmware:esx-01-2,i,0x00023d000001";

HostEvent host_miscompare(std::string host, TimePoint t, uint64_t offset) {
    HostEvent e;
    e.kind = HostEventKind::ats_miscompare;
    e.host = std::move(host);
    e.time = t;
    e.offset = offset;
    e.subject = "heartbeat";
    return e;
}

ArrayEvent array_ats(ArrayEventKind kind, const char* initiator, TimePoint t, uint64_t lba,
                     std::optional<microseconds> duration = std::nullopt) {
    ArrayEvent a;
    a.kind = kind;
    a.initiator = initiator;
    a.time = t;
    a.lba = lba;
    a.lun = 0;
    a.ats_duration = duration;
    return a;
}

std::string iqn_of_test(const std::string& initiator) {
    return initiator.substr(0, initiator.find(','));
}

const TimelineEntry& entry_of(const JoinResult& r, TimelineEntry::Side side, size_t index) {
    for (const TimelineEntry& e : r.timeline) {
        if (e.side == side && e.index == index) {
            return e;
        }
    }
    ADD_FAILURE() << "no timeline entry";
    static const TimelineEntry none;
    return none;
}

const TimelineEntry& host_entry(const JoinResult& r, size_t i) {
    return entry_of(r, TimelineEntry::Side::host, i);
}

const TimelineEntry& array_entry(const JoinResult& r, size_t j) {
    return entry_of(r, TimelineEntry::Side::array, j);
}

TEST(ArrayEventFrom, ReadsTheLbaOfAMiscompareFromItsMessage) {
    ats::Event e;
    e.seq = 7;
    e.time = std::chrono::system_clock::time_point(t0.time_since_epoch() + microseconds(1500));
    e.kind = "miscompare";
    e.message =
        "ats miscompare lun 3 lba 6144 initiator iqn.1998-01.com.vmware:esx-01-1 offset 20 "
        "expected=0x1 got=0x2";
    e.target = "iqn.2026-11.org.atsarray:lab";
    e.lun = 3;
    e.initiator = esx1;
    const ArrayEvent a = array_event_from(e, 512, "naa.6001405abc");
    EXPECT_EQ(a.id, 7U);
    EXPECT_EQ(a.kind, ArrayEventKind::miscompare);
    EXPECT_EQ(a.time, t0 + milliseconds(1));
    EXPECT_EQ(a.lba, 6144U);
    EXPECT_EQ(a.byte_offset(), 6144U * 512);
    EXPECT_EQ(a.lun, 3U);
    EXPECT_EQ(a.device_naa, "naa.6001405abc");
    EXPECT_FALSE(a.injected);

    e.message = "ats miscompare lun 0 lba 8 initiator iqn.x injected by fault rule 2 \"false-ats\"";
    e.lun.reset();
    const ArrayEvent injected = array_event_from(e, 4096);
    EXPECT_TRUE(injected.injected);
    EXPECT_EQ(injected.lba, 8U);
    EXPECT_EQ(injected.lun, 0U);
    EXPECT_EQ(injected.byte_offset(), 8U * 4096);

    // A fault rule's hit names the block (target/daemon/daemon.cpp); its changes name none.
    e.kind = "fault";
    e.message = "rule 1 \"esxi-heartbeat-timeout\" (delay) hit ats lba 2048 from iqn.x";
    const ArrayEvent hit = array_event_from(e, 512);
    EXPECT_EQ(hit.kind, ArrayEventKind::fault);
    EXPECT_EQ(hit.lba, 2048U);
    EXPECT_TRUE(hit.injected);
    e.message = "rule 1 deleted";
    EXPECT_FALSE(array_event_from(e, 512).lba);

    e.kind = "abort";
    e.message = "ABORT TASK ITT 0x10 by iqn.x (in execution, answered when it ends)";
    const ArrayEvent abort = array_event_from(e, 512);
    EXPECT_EQ(abort.kind, ArrayEventKind::abort);
    EXPECT_FALSE(abort.lba);
}

// The host's clock runs 1500 ms ahead; five slots miscompare once each, the array's events on
// its own clock. One host miscompare lies at a slot with two array miscompares a window apart:
// ambiguous, left out of the estimate.
TEST(LogJoin, EstimatesAMadeUpSkewFromUnambiguousPairs) {
    std::vector<HostEvent> host;
    std::vector<ArrayEvent> array;
    const milliseconds skew(1500);
    const int jitter_ms[] = {-3, 4, 0, 10, -1};
    for (int i = 0; i < 5; ++i) {
        const TimePoint array_time = t0 + std::chrono::seconds(30 * i);
        const uint64_t lba = 6144 + static_cast<uint64_t>(i);
        array.push_back(array_ats(ArrayEventKind::miscompare, esx1, array_time, lba));
        host.push_back(
            host_miscompare("esx-01-1", array_time + skew + milliseconds(jitter_ms[i]), lba * 512));
    }
    // Ambiguous: two array miscompares 500 ms apart on LBA 7000.
    array.push_back(
        array_ats(ArrayEventKind::miscompare, esx1, t0 + std::chrono::seconds(200), 7000));
    array.push_back(array_ats(ArrayEventKind::miscompare, esx1,
                              t0 + std::chrono::seconds(200) + milliseconds(500), 7000));
    host.push_back(host_miscompare("esx-01-1", t0 + std::chrono::seconds(200) + skew, 7000 * 512));

    const JoinResult r = join_logs(host, array);
    EXPECT_EQ(r.skew_source, "estimated");
    EXPECT_EQ(r.skew_pairs, 5U);
    EXPECT_EQ(r.skew, milliseconds(1500));  // the median of -3, 4, 0, 10, -1 around 1500
    EXPECT_EQ(r.skew_note,
              "the host's clock is 1500 ms ahead of the array's (the median of 5 unambiguous "
              "miscompare pairs)");
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(host_entry(r, i).state, "matched") << i;
        EXPECT_EQ(host_entry(r, i).matches, std::vector<size_t>{i});
        EXPECT_EQ(array_entry(r, i).state, "matched");
        EXPECT_EQ(array_entry(r, i).matches, std::vector<size_t>{i});
    }
    // After correction the ambiguous one matches the nearer array miscompare; the other is one
    // the host never logged.
    EXPECT_EQ(host_entry(r, 5).matches, std::vector<size_t>{5});
    EXPECT_EQ(array_entry(r, 6).state, "unlogged");
    EXPECT_EQ(r.array_unlogged_miscompares, 1U);
    EXPECT_EQ(r.host_matched, 6U);
    EXPECT_EQ(r.host_unmatched, 0U);
    // Ordered by time on the array's clock: every host line next to its array event.
    for (size_t k = 1; k < r.timeline.size(); ++k) {
        EXPECT_LE(*r.timeline[k - 1].time, *r.timeline[k].time);
    }
    EXPECT_EQ(*host_entry(r, 0).time, t0 - milliseconds(3));
}

TEST(LogJoin, WithoutPairsNoSkewIsAppliedAndAGivenSkewIsUsedAsIs) {
    std::vector<HostEvent> host = {host_miscompare("esx-01-1", t0, 512 * 10)};
    const JoinResult none = join_logs(host, {});
    EXPECT_EQ(none.skew_source, "none");
    EXPECT_EQ(none.skew, milliseconds(0));
    EXPECT_EQ(none.skew_pairs, 0U);

    JoinOptions options;
    options.skew = milliseconds(-4000);
    const JoinResult given = join_logs(
        host, {array_ats(ArrayEventKind::miscompare, esx1, t0 + milliseconds(4100), 10)}, options);
    EXPECT_EQ(given.skew_source, "given");
    EXPECT_EQ(given.skew, milliseconds(-4000));
    EXPECT_EQ(host_entry(given, 0).state, "matched");
    EXPECT_EQ(*host_entry(given, 0).time, t0 + milliseconds(4000));
}

TEST(LogJoin, AHostMiscompareWithNoArrayMiscompareNearbyIsExplained) {
    std::vector<HostEvent> host = {host_miscompare("esx-01-1", t0, 512 * 6144)};
    std::vector<ArrayEvent> array = {
        array_ats(ArrayEventKind::ats_success, esx1, t0 - milliseconds(300), 6144,
                  microseconds(900)),
        array_ats(ArrayEventKind::miscompare, esx1, t0 + std::chrono::seconds(45), 6144),
        // Another host's miscompare at the same instant and block does not count.
        array_ats(ArrayEventKind::miscompare, esx2, t0, 6144),
    };
    JoinOptions options;
    options.skew = milliseconds(0);
    const JoinResult r = join_logs(host, array, options);
    const TimelineEntry& e = host_entry(r, 0);
    EXPECT_EQ(e.state, "unmatched");
    EXPECT_EQ(e.explanation,
              "the array answered no miscompare at offset 3145728 (LBA 6144) within ±2000 ms of "
              "10:00:00.000: it answered 1 other ATS there in that window, none a miscompare; its "
              "nearest miscompare there was at 10:00:45.000, 45.0 s away");
    // The host named in the upload is esx-01-1; esx-01-2's miscompare is not "unlogged".
    EXPECT_EQ(array_entry(r, 2).state, "context");
    EXPECT_EQ(array_entry(r, 1).state, "context");  // outside the log's time span
    EXPECT_EQ(r.array_unlogged_miscompares, 0U);
}

TEST(LogJoin, AHeartbeatTimeoutOnAnAtsTheArrayAnsweredFastIsTheHostsOrTheNetworks) {
    HostEvent timed_out;
    timed_out.kind = HostEventKind::hb_waiting_timed_out;
    timed_out.host = "esx-01-1";
    timed_out.time = t0 + std::chrono::seconds(8);
    timed_out.offset = 512 * 6144;
    std::vector<ArrayEvent> array = {
        array_ats(ArrayEventKind::ats_success, esx1, t0 + milliseconds(2), 6144,
                  microseconds(2000)),
        array_ats(ArrayEventKind::ats_success, esx2, t0 + milliseconds(1), 6144, microseconds(700)),
    };
    JoinOptions options;
    options.skew = milliseconds(0);
    const JoinResult r = join_logs({timed_out}, array, options);
    const TimelineEntry& e = host_entry(r, 0);
    EXPECT_EQ(e.state, "matched");
    EXPECT_EQ(e.matches, std::vector<size_t>{0});
    EXPECT_EQ(e.explanation,
              "the array answered the ATS on this slot in 2 ms at 10:00:00.002: the delay is on "
              "the host or the network, not the array");

    // The same line when the array held the ATS for 9.8 s.
    array[0].time = t0 + milliseconds(9800);
    array[0].ats_duration = microseconds(9'800'000);
    const JoinResult slow = join_logs({timed_out}, array, options);
    EXPECT_EQ(host_entry(slow, 0).explanation,
              "the array took 9.8 s to answer the ATS on this slot (answered at 10:00:09.800): "
              "the delay is in the array");

    // Nothing on the array: with the recorder's successes present, the command never arrived.
    array.erase(array.begin());
    const JoinResult lost = join_logs({timed_out}, array, options);
    EXPECT_EQ(host_entry(lost, 0).state, "unmatched");
    EXPECT_EQ(host_entry(lost, 0).explanation,
              "the array logged no ATS on this slot from esx-01-1 between 09:59:58.000 and "
              "10:00:18.000: the command did not reach the array (the host or the network)");
}

TEST(LogJoin, AHeartbeatLostWhileTheArrayAnsweredTheSlotInMilliseconds) {
    HostEvent waiting;  // names the host's slot
    waiting.kind = HostEventKind::hb_waiting_timed_out;
    waiting.host = "esx-01-1";
    waiting.time = t0;
    waiting.offset = 512 * 6144;
    HostEvent lost;
    lost.kind = HostEventKind::hb_timeout;
    lost.host = "esx-01-1";
    lost.time = t0 + std::chrono::seconds(16);
    lost.volume = "atsarray-lab";
    std::vector<ArrayEvent> array = {
        array_ats(ArrayEventKind::ats_success, esx1, t0 + std::chrono::seconds(3), 6144,
                  microseconds(1200)),
        array_ats(ArrayEventKind::ats_success, esx1, t0 + std::chrono::seconds(6), 6144,
                  microseconds(3400)),
    };
    JoinOptions options;
    options.skew = milliseconds(0);
    const JoinResult r = join_logs({waiting, lost}, array, options);
    const TimelineEntry& e = host_entry(r, 1);
    EXPECT_EQ(e.state, "matched");
    EXPECT_EQ(e.matches, (std::vector<size_t>{0, 1}));
    EXPECT_EQ(
        e.explanation,
        "the array answered 2 ATS on this host's heartbeat slot (offset 3145728) in the 16.0 s "
        "before, the slowest in 3 ms at 10:00:06.000: the delay is on the host or the "
        "network, not the array");
}

TEST(LogJoin, AnArrayMiscompareTheHostNeverLoggedIsFlagged) {
    std::vector<HostEvent> host = {
        host_miscompare("esx-01-1", t0, 512 * 6144),
        host_miscompare("esx-01-1", t0 + std::chrono::seconds(60), 512 * 6144)};
    std::vector<ArrayEvent> array = {
        array_ats(ArrayEventKind::miscompare, esx1, t0, 6144),
        array_ats(ArrayEventKind::miscompare, esx1, t0 + std::chrono::seconds(20), 6200),
        array_ats(ArrayEventKind::miscompare, esx1, t0 + std::chrono::seconds(60), 6144),
    };
    array[1].injected = true;
    const JoinResult r = join_logs(host, array);
    EXPECT_EQ(r.skew_pairs, 2U);
    EXPECT_EQ(array_entry(r, 1).state, "unlogged");
    EXPECT_EQ(array_entry(r, 1).explanation,
              "the array answered a miscompare on LBA 6200 (volume offset 3174400) to "
              "iqn.1998-01.com.vmware:esx-01-1 at 10:00:20.000 (injected by a fault rule); no host "
              "line shows it within ±2000 ms");
    EXPECT_EQ(r.array_unlogged_miscompares, 1U);
}

TEST(LogJoin, InitiatorAndDeviceKeepOtherHostsAndDevicesApart) {
    HostEvent failed;
    failed.kind = HostEventKind::scsi_cmd_failed;
    failed.host = "esx-01-1";
    failed.time = t0;
    failed.scsi = ScsiFailure{};
    failed.scsi->opcode = 0x89;
    failed.scsi->device = "naa.6001405aaaa";
    failed.scsi->device_status = 0x2;
    failed.scsi->sense_valid = true;
    failed.scsi->sense_key = 0xe;
    failed.scsi->asc = 0x1d;
    failed.scsi->ascq = 0x0;
    ArrayEvent other_host = array_ats(ArrayEventKind::miscompare, esx2, t0, 10);
    ArrayEvent other_device = array_ats(ArrayEventKind::miscompare, esx1, t0, 11);
    other_device.device_naa = "naa.6001405bbbb";
    JoinOptions options;
    options.skew = milliseconds(0);
    const JoinResult apart = join_logs({failed}, {other_host, other_device}, options);
    EXPECT_EQ(host_entry(apart, 0).state, "unmatched");
    EXPECT_EQ(
        host_entry(apart, 0).explanation,
        "the array logged no miscompare answered to esx-01-1 within ±2000 ms of 10:00:00.000");

    ArrayEvent same = other_device;
    same.device_naa = "NAA.6001405AAAA";
    same.time = t0 + milliseconds(1200);
    const JoinResult together = join_logs({failed}, {other_host, other_device, same}, options);
    EXPECT_EQ(host_entry(together, 0).matches, std::vector<size_t>{2});

    // A real ESXi's IQN names the host before a suffix; a map names any other.
    options.host_initiators["esx-01-1"] = "iqn.2000-01.com.example:host-a";
    same.initiator = "iqn.2000-01.com.example:host-a,i,0x1";
    const JoinResult mapped = join_logs({failed}, {same}, options);
    EXPECT_EQ(host_entry(mapped, 0).state, "matched");
    failed.host = "esx01";
    same.initiator = "iqn.1998-01.com.vmware:esx01-6a3c12f4";
    options.host_initiators.clear();
    EXPECT_EQ(host_entry(join_logs({failed}, {same}, options), 0).state, "matched");
}

TEST(LogJoin, AnAbortedAtsMatchesTheArraysAbort) {
    HostEvent failed;
    failed.kind = HostEventKind::scsi_cmd_failed;
    failed.host = "esx-01-1";
    failed.time = t0;
    failed.scsi = ScsiFailure{};
    failed.scsi->opcode = 0x89;
    failed.scsi->host_status = 0x5;
    ArrayEvent abort;
    abort.kind = ArrayEventKind::abort;
    abort.initiator = esx1;
    abort.time = t0 + milliseconds(40);
    JoinOptions options;
    options.skew = milliseconds(0);
    EXPECT_EQ(host_entry(join_logs({failed}, {abort}, options), 0).matches, std::vector<size_t>{0});
    const JoinResult none = join_logs({failed}, {}, options);
    EXPECT_EQ(host_entry(none, 0).explanation,
              "the array logged no abort from esx-01-1 within ±2000 ms of 10:00:00.000");
}

// A real VMFS5 volume: the slot's offset is on the volume, which starts 0x1100000 into a
// partition at 1 MiB.
TEST(LogJoin, TheVolumesBaseMapsVmfsOffsetsToTheDisk) {
    JoinOptions options;
    options.volume_base = 1024 * 1024 + 0x1100000;
    const uint64_t lba = (options.volume_base + 3735552) / 512;
    const JoinResult r = join_logs({host_miscompare("esx-01-1", t0, 3735552)},
                                   {array_ats(ArrayEventKind::miscompare, esx1, t0, lba)}, options);
    EXPECT_EQ(host_entry(r, 0).state, "matched");
}

// An esxi-sim log (its own Log, its own formats) joined with the array's EventLog events.
TEST(LogJoin, AnEsxiSimLogJoinedWithTheEventLog) {
    sim::Log log(nullptr, true);
    log.line("esx-01-1", "HBX",
             "ATS Miscompare detected between test and set HB images at offset %llu on vol "
             "'%s' (first differing byte %lld: %s).",
             3145728ULL, "atsarray-lab", 20LL, "stamp");
    log.line("esx-01-2", "DLX",
             "atomic test and set of disk block %llu returned false for equality (expected=%u, "
             "got=%u)%s",
             8200ULL, 1001U, 1002U, "");
    log.line("esx-01-1", "HBX",
             "ATS Miscompare detected between test and set HB images at offset %llu on vol "
             "'%s' (first differing byte %lld: %s).",
             99999744ULL, "atsarray-lab", 0LL, "state");  // a test line the array never saw
    const ParseResult parsed = parse_host_log(log.text());
    ASSERT_TRUE(parsed.ok());
    ASSERT_EQ(parsed.events.size(), 3U);

    ats::EventLog events;
    events.add("login", "iqn.1998-01.com.vmware:esx-01-1,i,0x00023d000001 logged in", "iqn.t",
               std::nullopt, esx1);
    events.add("miscompare",
               "ats miscompare lun 0 lba 6144 initiator iqn.1998-01.com.vmware:esx-01-1 offset 20 "
               "expected=0x1 got=0x2",
               "iqn.t", 0, esx1);
    events.add("miscompare",
               "ats miscompare lun 0 lba 8200 initiator iqn.1998-01.com.vmware:esx-01-2 offset 40 "
               "expected=0x3e9 got=0x3ea",
               "iqn.t", 0, esx2);
    std::vector<ArrayEvent> array;
    for (const ats::Event& e : events.since(0, 100)) {
        array.push_back(array_event_from(e, 512));
    }
    const JoinResult r = join_logs(parsed.events, array);
    EXPECT_EQ(r.skew_source, "estimated");
    EXPECT_EQ(r.skew_pairs, 2U);
    EXPECT_LT(std::chrono::abs(r.skew), milliseconds(1000));
    EXPECT_EQ(host_entry(r, 0).state, "matched");
    EXPECT_EQ(host_entry(r, 0).matches, std::vector<size_t>{1});
    EXPECT_EQ(host_entry(r, 1).matches, std::vector<size_t>{2});
    EXPECT_EQ(host_entry(r, 2).state, "unmatched");
    EXPECT_EQ(host_entry(r, 2).explanation.rfind("the array answered no miscompare at offset "
                                                 "99999744 within ±2000 ms of ",
                                                 0),
              0U)
        << host_entry(r, 2).explanation;
    EXPECT_EQ(array_entry(r, 0).state, "context");

    const nlohmann::json j = to_json(r);
    EXPECT_EQ(j["skew_source"], "estimated");
    EXPECT_EQ(j["skew_pairs"], 2);
    EXPECT_EQ(j["counts"]["host_events"], 3);
    EXPECT_EQ(j["counts"]["host_matched"], 2);
    EXPECT_EQ(j["counts"]["host_unmatched"], 1);
    EXPECT_EQ(j["counts"]["array_events"], 3);
    ASSERT_EQ(j["timeline"].size(), 6U);
    bool saw_match = false;
    for (const nlohmann::json& e : j["timeline"]) {
        EXPECT_TRUE(e.contains("side") && e.contains("ref") && e.contains("time") &&
                    e.contains("state") && e.contains("event"));
        if (e["ref"] == "h0") {
            EXPECT_EQ(e["matches"], nlohmann::json({"a1"}));
            EXPECT_EQ(e["event"]["kind"], "ats_miscompare");
            saw_match = true;
        }
        if (e["ref"] == "a1") {
            EXPECT_EQ(e["matches"], nlohmann::json({"h0"}));
            EXPECT_EQ(e["event"]["lba"], 6144);
            EXPECT_EQ(e["event"]["byte_offset"], 3145728);
        }
    }
    EXPECT_TRUE(saw_match);
}

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(ATSARRAY_FORENSICS_DATA) + "/" + name, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Recorded (tests/unit/forensics/data/): esxi-sim, 3 hosts for 30 s, I/O timeout 2 s, heartbeat
// every 0.5 s, lost after 4 s, against a memory LUN with the esxi-heartbeat-timeout preset; the
// daemon's events as GET /api/v1/events answered them. A line the array never saw is added.
TEST(LogJoin, ARecordedEsxiSimLogWithTheHeartbeatTimeoutPreset) {
    std::string log = read_data("esxi_sim_hb_timeout.log");
    ASSERT_FALSE(log.empty());
    log +=
        "2026-12-07T13:01:39.000Z esx-01-2 HBX: ATS Miscompare detected between test and set HB "
        "images at offset 1060864 on vol 'atsarray-lab' (first differing byte 0: state).\n";
    const ParseResult parsed = parse_host_log(log);
    ASSERT_TRUE(parsed.ok()) << parsed.error;
    EXPECT_GT(parsed.unknown_lines, 0U);  // "Acquired heartbeat", "claimed by", ... are counted

    const nlohmann::json recorded =
        nlohmann::json::parse(read_data("esxi_sim_hb_timeout_events.json"));
    std::vector<ArrayEvent> array;
    for (const nlohmann::json& e : recorded["events"]) {
        ats::Event event;
        event.seq = e["seq"];
        event.time = std::chrono::system_clock::time_point(
            parse_log_time(e["time"].get<std::string>()).value().time_since_epoch());
        event.kind = e["kind"];
        event.message = e["message"];
        event.target = e["target"];
        if (!e["lun"].is_null()) {
            event.lun = e["lun"].get<uint64_t>();
        }
        event.initiator = e["initiator"];
        array.push_back(array_event_from(event, 512));
    }
    const JoinResult r = join_logs(parsed.events, array);
    EXPECT_EQ(r.skew_source, "estimated");
    EXPECT_GE(r.skew_pairs, 3U);
    EXPECT_LT(std::chrono::abs(r.skew), milliseconds(50));  // one machine, one clock

    size_t miscompare_lines = 0;
    size_t timeouts = 0;
    size_t aborts = 0;
    for (size_t i = 0; i < r.host_events.size(); ++i) {
        const HostEvent& h = r.host_events[i];
        const TimelineEntry& e = host_entry(r, i);
        if (h.kind == HostEventKind::ats_miscompare && h.offset != 1060864U) {
            ++miscompare_lines;
            EXPECT_EQ(e.state, "matched") << h.text;
            ASSERT_EQ(e.matches.size(), 1U);
            const ArrayEvent& a = r.array_events[e.matches[0]];
            EXPECT_EQ(a.kind, ArrayEventKind::miscompare);
            EXPECT_EQ(a.byte_offset(), h.offset);
            EXPECT_EQ(iqn_of_test(a.initiator), "iqn.1998-01.com.vmware:" + h.host);
        }
        if (h.kind == HostEventKind::hb_waiting_timed_out) {
            ++timeouts;
            EXPECT_EQ(e.state, "matched") << h.text;
            EXPECT_NE(e.explanation.find("the array's fault injection hit an ATS on this slot at "),
                      std::string::npos)
                << e.explanation;
            EXPECT_NE(e.explanation.find("esxi-heartbeat-timeout"), std::string::npos);
        }
        if (h.kind == HostEventKind::scsi_cmd_failed) {
            ++aborts;
            EXPECT_TRUE(h.scsi->aborted());
            ASSERT_EQ(e.matches.size(), 1U) << h.text;
            EXPECT_EQ(r.array_events[e.matches[0]].kind, ArrayEventKind::abort);
        }
        if (h.kind == HostEventKind::hb_timeout) {
            EXPECT_EQ(e.explanation.rfind("the array's fault injection hit ", 0), 0U)
                << e.explanation;
        }
    }
    EXPECT_EQ(miscompare_lines, 8U);
    EXPECT_EQ(timeouts, 8U);
    EXPECT_EQ(aborts, 14U);
    const TimelineEntry& unseen = host_entry(r, r.host_events.size() - 1);
    EXPECT_EQ(unseen.state, "unmatched");
    EXPECT_EQ(unseen.explanation,
              "the array answered no miscompare at offset 1060864 within ±2000 ms of 13:01:39.000: "
              "it logged no miscompare there in that window (the array's side holds no ATS "
              "successes to compare with)");
    // Lock miscompares that esxi-sim logs in no miscompare line: flagged on the array's side.
    EXPECT_EQ(r.array_unlogged_miscompares, 4U);
}

TEST(LogJoin, UntimedHostLinesAreListedNotMatched) {
    HostEvent untimed = host_miscompare("esx-01-1", t0, 512);
    untimed.time.reset();
    const JoinResult r = join_logs({host_miscompare("esx-01-1", t0, 1024), untimed},
                                   {array_ats(ArrayEventKind::miscompare, esx1, t0, 2)});
    EXPECT_EQ(host_entry(r, 1).state, "unmatched");
    EXPECT_EQ(host_entry(r, 1).explanation, "the line has no time: it is listed, not matched");
    EXPECT_FALSE(host_entry(r, 1).time);
    EXPECT_TRUE(to_json(r)["timeline"][1]["time"].is_null() ||
                to_json(r)["timeline"][2]["time"].is_null());
}

}  // namespace
}  // namespace atsarray::forensics
