// libFuzzer harness for the host-log parser and the join (target/forensics): the input is an
// uploaded excerpt of vmkernel.log / vobd.log / esxi-sim's log. Its first byte picks small limits
// so that the refusals are reached too; the events found are then joined with array events made
// from them (a miscompare on each block a line names, at the line's time, some skewed).
// Oracles beyond "no crash, no UB, no leak": the counts add up, the limits hold, every index in
// the join's timeline is valid and the JSON answers serialize (the text kept is valid UTF-8).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "target/forensics/host_log.hpp"
#include "target/forensics/log_join.hpp"

namespace {

using namespace atsarray::forensics;

void check(bool condition) {
    if (!condition) {
        std::abort();
    }
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer names the entry point
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const uint8_t control = data[0];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    ParseOptions options;
    options.host = (control & 0x01) != 0 ? "esx-01-1" : "";
    if ((control & 0x02) != 0) {
        options.limits.max_upload_bytes = 512;
        options.limits.max_line_bytes = 96;
        options.limits.max_events = 4;
        options.limits.max_unknown_kept = 2;
    }
    const ParseResult r = parse_host_log(text, options);
    (void)to_json(r).dump();
    if (!r.ok()) {
        check(r.events.empty() && r.unknown_kept.empty());
        return 0;
    }
    const ParseLimits& limits = options.limits;
    check(r.events.size() <= limits.max_events);
    check(r.unknown_kept.size() <= limits.max_unknown_kept);
    check(r.unknown_kept.size() <= r.unknown_lines);
    check(r.events.size() + r.events_not_kept + r.unknown_lines + r.continuation_lines <= r.lines);
    size_t untimed = 0;
    size_t previous_line = 0;
    for (const HostEvent& e : r.events) {
        check(e.line > previous_line && e.line <= r.lines);
        check(e.text.size() <= limits.max_line_bytes);
        previous_line = e.line;
        untimed += e.time ? 0 : 1;
        if (e.time) {
            // A time read back from its own text is the same time.
            check(parse_log_time(format_time(*e.time)) == e.time);
        }
    }
    check(untimed == r.untimed_events);

    // Array events made from the host's: a miscompare on each block, from the host's initiator.
    std::vector<ArrayEvent> array;
    const auto skew = std::chrono::milliseconds((control >> 2) * 250);
    for (const HostEvent& e : r.events) {
        if (!e.time || (!e.offset && !e.lba)) {
            continue;
        }
        ArrayEvent a;
        a.kind = (control & 0x40) != 0 && e.kind != HostEventKind::ats_miscompare
                     ? ArrayEventKind::ats_success
                     : ArrayEventKind::miscompare;
        a.time = *e.time - skew;
        a.lba = e.lba ? *e.lba : *e.offset / 512;
        a.initiator = "iqn.1998-01.com.vmware:" + e.host;
        a.ats_duration = std::chrono::microseconds(e.line * 1000);
        array.push_back(a);
    }
    const size_t host_count = r.events.size();
    const size_t array_count = array.size();
    const JoinResult j = join_logs(r.events, std::move(array));
    check(j.timeline.size() == host_count + array_count);
    check(j.host_matched + j.host_unmatched == host_count);
    check(j.skew_source != "estimated" || j.skew_pairs > 0);
    for (const TimelineEntry& e : j.timeline) {
        const bool host = e.side == TimelineEntry::Side::host;
        check(e.index < (host ? host_count : array_count));
        for (size_t m : e.matches) {
            check(m < (host ? array_count : host_count));
        }
    }
    (void)to_json(j).dump();
    return 0;
}
