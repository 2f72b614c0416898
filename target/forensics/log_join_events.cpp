// The array's side of a log join (ArrayEvent: built from the flight recorder's and the event
// log's ats::Event, its kinds) and the JSON of events and of a join's result; the join itself is
// log_join.cpp's.
#include "target/forensics/log_join.hpp"

#include <charconv>
#include <string_view>

#include <nlohmann/json.hpp>

namespace atsarray::forensics {
namespace {

using std::string_view;
using std::chrono::milliseconds;

std::optional<uint64_t> number_after(string_view text, string_view word) {
    const size_t at = text.find(word);
    if (at == string_view::npos) {
        return std::nullopt;
    }
    const string_view rest = text.substr(at + word.size());
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (ec != std::errc{} || end == rest.data()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::string_view to_string(ArrayEventKind kind) {
    switch (kind) {
        case ArrayEventKind::miscompare:
            return "miscompare";
        case ArrayEventKind::ats_success:
            return "ats_success";
        case ArrayEventKind::ats_error:
            return "ats_error";
        case ArrayEventKind::abort:
            return "abort";
        case ArrayEventKind::reset:
            return "reset";
        case ArrayEventKind::login:
            return "login";
        case ArrayEventKind::logout:
            return "logout";
        case ArrayEventKind::fault:
            return "fault";
        case ArrayEventKind::other:
            return "other";
    }
    return "other";
}

std::optional<uint64_t> ArrayEvent::byte_offset() const {
    if (!lba) {
        return std::nullopt;
    }
    return *lba * block_size;
}

bool ArrayEvent::is_ats() const {
    return kind == ArrayEventKind::miscompare || kind == ArrayEventKind::ats_success ||
           kind == ArrayEventKind::ats_error;
}

ArrayEvent array_event_from(const ats::Event& event, uint32_t block_size, std::string device_naa) {
    ArrayEvent a;
    a.id = event.seq;
    a.time = std::chrono::floor<milliseconds>(event.time);
    a.target = printable_utf8(event.target);
    a.lun = event.lun;
    a.block_size = block_size;
    a.initiator = printable_utf8(event.initiator);
    a.device_naa = std::move(device_naa);
    a.message = printable_utf8(event.message);
    static const std::pair<string_view, ArrayEventKind> kinds[] = {
        {"miscompare", ArrayEventKind::miscompare}, {"abort", ArrayEventKind::abort},
        {"reset", ArrayEventKind::reset},           {"login", ArrayEventKind::login},
        {"logout", ArrayEventKind::logout},         {"fault", ArrayEventKind::fault},
    };
    for (const auto& [name, kind] : kinds) {
        if (event.kind == name) {
            a.kind = kind;
        }
    }
    if (a.kind == ArrayEventKind::miscompare) {
        // target/scsi/lun.cpp: "ats miscompare lun {} lba {} initiator {} offset {} ..." or
        // "... initiator {} injected by fault rule {} \"{}\"" (target/scsi/fault_hooks.cpp).
        a.lba = number_after(event.message, " lba ");
        if (!a.lun) {
            a.lun = number_after(event.message, " lun ");
        }
        a.injected = event.message.find("injected by fault rule") != std::string::npos;
        a.status = "CHECK CONDITION MISCOMPARE (0e/1d/00)";
    }
    if (a.kind == ArrayEventKind::fault) {
        // target/daemon: "rule 1 \"esxi-heartbeat-timeout\" (delay) hit ats lba 2048 from IQN";
        // a rule added, changed or deleted names no block.
        a.lba = number_after(event.message, " lba ");
        a.injected = a.lba.has_value();
    }
    return a;
}

nlohmann::json to_json(const ArrayEvent& a) {
    nlohmann::json j = {{"id", a.id},
                        {"time", format_time(a.time)},
                        {"kind", to_string(a.kind)},
                        {"target", a.target},
                        {"lun", a.lun ? nlohmann::json(*a.lun) : nlohmann::json()},
                        {"initiator", a.initiator},
                        {"injected", a.injected},
                        {"message", a.message}};
    if (a.lba) {
        j["lba"] = *a.lba;
        j["block_size"] = a.block_size;
        j["byte_offset"] = *a.byte_offset();
    }
    if (!a.device_naa.empty()) {
        j["device_naa"] = a.device_naa;
    }
    if (!a.status.empty()) {
        j["status"] = a.status;
    }
    if (a.ats_duration) {
        j["ats_duration_us"] = a.ats_duration->count();
    }
    return j;
}

nlohmann::json to_json(const JoinResult& r) {
    // Appended rather than `"h" + std::string&&`, on which g++ 12 -O3 warns falsely (-Wrestrict,
    // GCC bug 105329).
    const auto ref = [](TimelineEntry::Side side, size_t index) {
        return std::string(side == TimelineEntry::Side::host ? "h" : "a")
            .append(std::to_string(index));
    };
    nlohmann::json timeline = nlohmann::json::array();
    for (const TimelineEntry& e : r.timeline) {
        const bool host = e.side == TimelineEntry::Side::host;
        nlohmann::json matches = nlohmann::json::array();
        for (size_t m : e.matches) {
            matches.push_back(
                ref(host ? TimelineEntry::Side::array : TimelineEntry::Side::host, m));
        }
        nlohmann::json entry = {
            {"side", host ? "host" : "array"},
            {"ref", ref(e.side, e.index)},
            {"time", e.time ? nlohmann::json(format_time(*e.time)) : nlohmann::json()},
            {"state", e.state},
            {"matches", std::move(matches)},
            {"event", host ? to_json(r.host_events[e.index]) : to_json(r.array_events[e.index])}};
        if (!e.explanation.empty()) {
            entry["explanation"] = e.explanation;
        }
        timeline.push_back(std::move(entry));
    }
    return {{"skew_ms", r.skew.count()},
            {"skew_pairs", r.skew_pairs},
            {"skew_source", r.skew_source},
            {"skew_note", r.skew_note},
            {"counts",
             {{"host_events", r.host_events.size()},
              {"host_matched", r.host_matched},
              {"host_unmatched", r.host_unmatched},
              {"array_events", r.array_events.size()},
              {"array_unlogged_miscompares", r.array_unlogged_miscompares}}},
            {"timeline", std::move(timeline)}};
}

}  // namespace atsarray::forensics
