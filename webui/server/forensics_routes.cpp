// The flight recorder's REST routes (issue 16, webui/API.md "ATS forensics"): the miscompares
// with their causes, the tracked blocks, and one block's history with its images.

#include <string>
#include <vector>

#include <charconv>
#include <limits>

#include "target/forensics/flight_recorder.hpp"
#include "target/forensics/host_log.hpp"
#include "target/forensics/log_join.hpp"
#include "target/forensics/vmfs_decode.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"
#include "webui/server/router.hpp"

namespace atsarray::webui {

using nlohmann::json;

namespace {

constexpr uint64_t max_limit = 1000;

json origin_json(const forensics::Origin& o) {
    return {{"initiator_name", o.initiator_name},
            {"initiator_port", o.initiator_port},
            {"address", o.address},
            {"relative_target_port", o.relative_target_port}};
}

json entry_json(const forensics::HistoryEntry& e) {
    json j{{"seq", e.seq},
           {"command", forensics::to_string(e.kind)},
           {"origin", origin_json(e.origin)},
           {"itt", e.itt},
           {"cmd_sn", e.cmd_sn},
           {"lba", e.lba},
           {"blocks", e.blocks},
           {"arrived", api::rfc3339(e.arrived)},
           {"started", api::rfc3339(e.started)},
           {"answered", api::rfc3339(e.answered)},
           {"outcome", forensics::to_string(e.outcome)},
           {"status_seen", e.status_seen},
           {"lock_wait_us", e.lock_wait_us},
           {"compare_image", e.compare},
           {"on_disk_image", e.on_disk},
           {"set_image", e.set}};
    if (e.outcome == forensics::Outcome::miscompare) {
        j["miscompare_offset"] = e.miscompare_offset;
    }
    if (!e.fault_rule.empty()) {
        j["fault_rule"] = e.fault_rule;
    }
    if (e.cause != forensics::Cause::none) {
        j["cause"] = forensics::to_string(e.cause);
        j["explanation"] = e.explanation;
        j["culprit_seq"] = e.culprit_seq ? json(*e.culprit_seq) : json(nullptr);
    }
    return j;
}

json explained_json(const forensics::Explained& e) {
    json j = entry_json(e.entry);
    j["target"] = e.target;
    j["lun"] = e.lun;
    j["block"] = e.lba;
    j["culprit"] = e.culprit ? entry_json(*e.culprit) : json(nullptr);
    return j;
}

// The images a history refers to, each once: its bytes and, for a VMFS heartbeat slot or lock
// record, the tuple ESXi's logs print.
json images_json(const forensics::FlightRecorder& recorder, const forensics::BlockHistory& h) {
    json images = json::object();
    for (const forensics::HistoryEntry& e : h.entries) {
        for (const forensics::ImageId id : {e.compare, e.on_disk, e.set}) {
            const std::string key = std::to_string(id);
            if (id == 0 || images.contains(key)) {
                continue;
            }
            if (const auto bytes = recorder.image(id)) {
                json image{{"hex", api::hex(*bytes)}};
                if (const auto vmfs = forensics::describe_vmfs_image(*bytes)) {
                    image["vmfs"] = *vmfs;
                }
                images[key] = std::move(image);
            }
        }
    }
    return images;
}

json stats_json(const forensics::RecorderStats& s) {
    json causes = json::object();
    for (const auto& [cause, n] : s.causes) {
        causes[std::string(forensics::to_string(cause))] = n;
    }
    return {{"notes", s.notes},
            {"dropped_notes", s.dropped_notes},
            {"evicted_blocks", s.evicted_blocks},
            {"dropped_entries", s.dropped_entries},
            {"blocks", s.blocks},
            {"entries", s.entries},
            {"images", s.images},
            {"image_bytes", s.image_bytes},
            {"causes", std::move(causes)}};
}

// A LUN's block size and NAA ("naa.6..." as ESXi names the device), by target and LUN.
struct LunFacts {
    uint32_t block_size = 512;
    std::string naa;
};
LunFacts lun_facts(const ConsoleModel& m, const std::string& target, std::optional<uint64_t> lun) {
    LunFacts f;
    const auto node = lun ? m.state.targets.node(target) : nullptr;
    const auto l = node != nullptr ? node->device->lun(*lun) : nullptr;
    if (l) {
        f.block_size = l->settings().block_size;
        f.naa = "naa." + api::hex([&] {
                    const auto d = scsi::naa_designator(l->settings());
                    return std::vector<uint8_t>(d.begin(), d.end());
                }());
    }
    return f;
}

// The array's side of a join: the recorder's ATS (every one it kept, with its duration and
// status), and the event log's other events (logins, aborts, resets, faults); without a recorder,
// the event log's miscompares too (rate-limited: array_event_from says so).
std::vector<forensics::ArrayEvent> array_events(const ConsoleModel& m) {
    std::vector<forensics::ArrayEvent> out;
    const forensics::FlightRecorder* recorder = m.recorder;
    for (const ats::Event& e : m.events.since(0, std::numeric_limits<size_t>::max())) {
        const LunFacts f = lun_facts(m, e.target, e.lun);
        forensics::ArrayEvent a = forensics::array_event_from(e, f.block_size, f.naa);
        if (recorder == nullptr || !a.is_ats()) {
            out.push_back(std::move(a));
        }
    }
    if (recorder == nullptr) {
        return out;
    }
    for (const auto& b : recorder->blocks({}, std::numeric_limits<size_t>::max())) {
        const auto history = recorder->history(b.target, b.lun, b.lba);
        if (!history) {
            continue;  // evicted meanwhile
        }
        const LunFacts f = lun_facts(m, b.target, b.lun);
        for (const forensics::HistoryEntry& e : history->entries) {
            if (e.kind != forensics::CommandKind::ats || e.lba != b.lba) {
                continue;
            }
            forensics::ArrayEvent a;
            a.id = e.seq;
            a.time = std::chrono::floor<std::chrono::milliseconds>(e.answered);
            a.kind = e.outcome == forensics::Outcome::good ? forensics::ArrayEventKind::ats_success
                     : e.outcome == forensics::Outcome::miscompare ||
                             e.outcome == forensics::Outcome::injected_miscompare
                         ? forensics::ArrayEventKind::miscompare
                         : forensics::ArrayEventKind::ats_error;
            a.target = b.target;
            a.lun = b.lun;
            a.lba = b.lba;
            a.block_size = history->block_size;
            a.initiator = e.origin.initiator_name;
            a.device_naa = f.naa;
            a.status = std::string(forensics::to_string(e.outcome)) +
                       (e.status_seen ? "" : " (the initiator never got the status)");
            a.ats_duration =
                std::chrono::duration_cast<std::chrono::microseconds>(e.answered - e.arrived);
            a.injected = e.outcome == forensics::Outcome::injected_miscompare;
            a.message = e.explanation;
            out.push_back(std::move(a));
        }
    }
    return out;
}

bool parse_i64(std::string_view s, int64_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// POST /api/v1/forensics/host-log: an ESXi vmkernel.log / vobd.log excerpt or an esxi-sim log,
// parsed and joined with the array's events (webui/API.md).
HttpResponse host_log(const ConsoleModel& m, const HttpRequest& request, std::string_view query) {
    if (request.content_type.rfind("application/json", 0) == 0) {
        return error_response(415, "upload the log itself as text/plain, not JSON");
    }
    forensics::ParseOptions parse;
    parse.host = std::string(query_value(query, "host").value_or(""));
    forensics::JoinOptions join;
    if (const auto v = query_value(query, "volume_base")) {
        if (!parse_u64(*v, join.volume_base)) {
            return error_response(
                400, "volume_base must be a byte offset, got \"" + std::string(*v) + "\"");
        }
    }
    for (const auto& [key, field] :
         {std::pair{"skew_ms", 0}, std::pair{"window_ms", 1}, std::pair{"max_skew_ms", 2}}) {
        if (const auto v = query_value(query, key)) {
            int64_t ms = 0;
            if (!parse_i64(*v, ms) || (field != 0 && ms <= 0) || ms > 86'400'000 ||
                ms < -86'400'000) {
                return error_response(400, std::string(key) + " must be milliseconds within a day" +
                                               (field != 0 ? ", above 0" : "") + ", got \"" +
                                               std::string(*v) + "\"");
            }
            const std::chrono::milliseconds d(ms);
            if (field == 0) {
                join.skew = d;
            } else if (field == 1) {
                join.window = d;
            } else {
                join.max_skew = d;
            }
        }
    }
    forensics::ParseResult parsed = forensics::parse_host_log(request.body, parse);
    if (!parsed.ok()) {
        return error_response(parsed.error.find("bytes") != std::string::npos ? 413 : 400,
                              parsed.error);
    }
    json parse_summary = forensics::to_json(parsed, false);
    const forensics::JoinResult joined =
        forensics::join_logs(std::move(parsed.events), array_events(m), join);
    json answer = forensics::to_json(joined);
    answer["parse"] = std::move(parse_summary);
    return ok(answer);
}

std::optional<HttpResponse> limit_of(std::string_view query, uint64_t& limit) {
    if (const auto v = query_value(query, "limit")) {
        if (!parse_u64(*v, limit) || limit == 0 || limit > max_limit) {
            return error_response(400, "limit must be 1.." + std::to_string(max_limit));
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<HttpResponse> Router::forensics(const HttpRequest& request,
                                              const std::vector<std::string>& parts,
                                              std::string_view query) const {
    if (parts.empty() || parts[0] != "forensics") {
        return std::nullopt;
    }
    if (parts.size() == 2 && parts[1] == "host-log") {
        if (request.method != "POST") {
            return error_response(405, "method " + request.method +
                                           " not allowed on /api/v1/forensics/host-log (POST "
                                           "the log)");
        }
        return host_log(model_, request, query);
    }
    if (request.method != "GET" && request.method != "HEAD") {
        return error_response(405, "method " + request.method + " not allowed on /api/v1/" +
                                       parts[0] + " (the recorder is read only)");
    }
    const forensics::FlightRecorder* recorder = model_.recorder;
    if (recorder == nullptr) {
        return error_response(404, "the flight recorder is off ([ats] recorder = false)");
    }
    uint64_t limit = 100;
    if (auto bad = limit_of(query, limit)) {
        return bad;
    }
    // GET /api/v1/forensics: the miscompares still in the histories, newest first, and counters.
    if (parts.size() == 1) {
        json miscompares = json::array();
        for (const forensics::Explained& e : recorder->miscompares(limit)) {
            miscompares.push_back(explained_json(e));
        }
        const forensics::RecorderSettings& s = recorder->settings();
        return ok({{"settings",
                    {{"max_blocks", s.max_blocks},
                     {"entries_per_block", s.entries_per_block},
                     {"max_image_bytes", s.max_image_bytes}}},
                   {"stats", stats_json(recorder->stats())},
                   {"miscompares", std::move(miscompares)}});
    }
    if (parts[1] != "blocks") {
        return error_response(404, "no such API path: /api/v1/forensics/" + parts[1]);
    }
    // GET /api/v1/forensics/blocks[?target=T]: the tracked blocks, most recently touched first.
    if (parts.size() == 2) {
        const std::string target(query_value(query, "target").value_or(""));
        json blocks = json::array();
        for (const auto& b : recorder->blocks(target, limit)) {
            blocks.push_back({{"target", b.target},
                              {"lun", b.lun},
                              {"lba", b.lba},
                              {"entries", b.entries},
                              {"ats", b.ats},
                              {"miscompares", b.miscompares},
                              {"last", api::rfc3339(b.last)}});
        }
        return ok(blocks);
    }
    // GET /api/v1/forensics/blocks/{target}/{lun}/{lba}: one block's history and images.
    if (parts.size() != 5) {
        return error_response(404, "expected /api/v1/forensics/blocks/{target}/{lun}/{lba}");
    }
    uint64_t lun = 0;
    uint64_t lba = 0;
    if (!parse_u64(parts[3], lun) || !parse_u64(parts[4], lba)) {
        return error_response(
            400, "LUN and LBA must be numbers, got \"" + parts[3] + "\" and \"" + parts[4] + "\"");
    }
    const auto history = recorder->history(parts[2], lun, lba);
    if (!history) {
        return error_response(404, "no history of LBA " + parts[4] + " of LUN " + parts[3] +
                                       " of target " + parts[2] +
                                       ": no ATS touched it, or it was evicted");
    }
    json entries = json::array();
    for (const forensics::HistoryEntry& e : history->entries) {
        entries.push_back(entry_json(e));
    }
    return ok({{"target", history->target},
               {"lun", history->lun},
               {"lba", history->lba},
               {"block_size", history->block_size},
               {"truncated", history->truncated},
               {"entries", std::move(entries)},
               {"images", images_json(*recorder, *history)}});
}

}  // namespace atsarray::webui
