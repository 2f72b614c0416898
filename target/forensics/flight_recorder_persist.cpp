// The flight recorder's names for its enums, and its histories saved as JSON and read back
// ([ats] recorder_persist: FlightRecorder::save() and restore()).
//
// {"format": "atsarray-flight-recorder", "version": 1,
//  "blocks": [{"target", "lun", "lba", "block_size", "truncated", "entries": [Entry...]}],
//  "images": {"<id>": base64}}
// Entry: the HistoryEntry's fields (times in microseconds since the Unix epoch, images by id),
// its culprit's copy nested without images.

#include <nlohmann/json.hpp>

#include <array>
#include <stdexcept>

#include "formats/trace_json.hpp"
#include "target/forensics/flight_recorder.hpp"

namespace atsarray::forensics {

using nlohmann::json;

std::string_view to_string(CommandKind kind) {
    switch (kind) {
        case CommandKind::read:
            return "read";
        case CommandKind::write:
            return "write";
        case CommandKind::write_same:
            return "write_same";
        case CommandKind::unmap:
            return "unmap";
        case CommandKind::xcopy:
            return "xcopy";
        case CommandKind::ats:
            return "ats";
        case CommandKind::other_write:
            return "other_write";
    }
    return "unknown";
}

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::good:
            return "good";
        case Outcome::miscompare:
            return "miscompare";
        case Outcome::injected_miscompare:
            return "injected_miscompare";
        case Outcome::error:
            return "error";
        case Outcome::aborted:
            return "aborted";
    }
    return "unknown";
}

std::string_view to_string(Cause cause) {
    switch (cause) {
        case Cause::none:
            return "none";
        case Cause::injected:
            return "injected";
        case Cause::late_retry:
            return "late_retry";
        case Cause::failover:
            return "failover";
        case Cause::contention:
            return "contention";
        case Cause::stale_read:
            return "stale_read";
        case Cause::unknown:
            return "unknown";
    }
    return "unknown";
}

namespace {

constexpr std::string_view saved_format = "atsarray-flight-recorder";
constexpr int saved_version = 1;

// The value named `text` among `all` (to_string's inverse); throws naming `what`.
template <typename E, size_t N>
E named(const std::array<E, N>& all, const std::string& text, const char* what) {
    for (const E e : all) {
        if (to_string(e) == text) {
            return e;
        }
    }
    throw std::invalid_argument(std::string(what) + ": unknown value \"" + text + "\"");
}

constexpr std::array all_kinds = {
    CommandKind::read,  CommandKind::write, CommandKind::write_same, CommandKind::unmap,
    CommandKind::xcopy, CommandKind::ats,   CommandKind::other_write};
constexpr std::array all_outcomes = {Outcome::good, Outcome::miscompare,
                                     Outcome::injected_miscompare, Outcome::error,
                                     Outcome::aborted};
constexpr std::array all_causes = {Cause::none,     Cause::injected,   Cause::late_retry,
                                   Cause::failover, Cause::contention, Cause::stale_read,
                                   Cause::unknown};

int64_t unix_us(SystemTime t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

SystemTime from_unix_us(int64_t us) {
    return SystemTime(
        std::chrono::duration_cast<SystemTime::duration>(std::chrono::microseconds(us)));
}

json entry_json(const HistoryEntry& e) {
    json j{{"seq", e.seq},
           {"kind", to_string(e.kind)},
           {"initiator_name", e.origin.initiator_name},
           {"initiator_port", e.origin.initiator_port},
           {"address", e.origin.address},
           {"nexus_id", e.origin.nexus_id},
           {"relative_target_port", e.origin.relative_target_port},
           {"itt", e.itt},
           {"cmd_sn", e.cmd_sn},
           {"lba", e.lba},
           {"blocks", e.blocks},
           {"arrived_us", unix_us(e.arrived)},
           {"started_us", unix_us(e.started)},
           {"answered_us", unix_us(e.answered)},
           {"outcome", to_string(e.outcome)},
           {"miscompare_offset", e.miscompare_offset},
           {"fault_rule", e.fault_rule},
           {"lock_wait_us", e.lock_wait_us},
           {"status_seen", e.status_seen},
           {"compare", e.compare},
           {"on_disk", e.on_disk},
           {"set", e.set},
           {"cause", to_string(e.cause)},
           {"explanation", e.explanation}};
    if (e.culprit_seq) {
        j["culprit_seq"] = *e.culprit_seq;
    }
    if (e.culprit) {
        j["culprit"] = entry_json(*e.culprit);
    }
    return j;
}

HistoryEntry entry_of(const json& j) {
    HistoryEntry e;
    e.seq = j.at("seq").get<uint64_t>();
    e.kind = named(all_kinds, j.at("kind").get<std::string>(), "kind");
    e.origin.initiator_name = j.at("initiator_name").get<std::string>();
    e.origin.initiator_port = j.at("initiator_port").get<std::string>();
    e.origin.address = j.at("address").get<std::string>();
    e.origin.nexus_id = j.at("nexus_id").get<uint64_t>();
    e.origin.relative_target_port = j.at("relative_target_port").get<uint16_t>();
    e.itt = j.at("itt").get<uint32_t>();
    e.cmd_sn = j.at("cmd_sn").get<uint32_t>();
    e.lba = j.at("lba").get<uint64_t>();
    e.blocks = j.at("blocks").get<uint32_t>();
    e.arrived = from_unix_us(j.at("arrived_us").get<int64_t>());
    e.started = from_unix_us(j.at("started_us").get<int64_t>());
    e.answered = from_unix_us(j.at("answered_us").get<int64_t>());
    e.outcome = named(all_outcomes, j.at("outcome").get<std::string>(), "outcome");
    e.miscompare_offset = j.at("miscompare_offset").get<uint32_t>();
    e.fault_rule = j.at("fault_rule").get<std::string>();
    e.lock_wait_us = j.at("lock_wait_us").get<uint64_t>();
    e.status_seen = j.at("status_seen").get<bool>();
    e.compare = j.at("compare").get<ImageId>();
    e.on_disk = j.at("on_disk").get<ImageId>();
    e.set = j.at("set").get<ImageId>();
    e.cause = named(all_causes, j.at("cause").get<std::string>(), "cause");
    e.explanation = j.at("explanation").get<std::string>();
    if (j.contains("culprit_seq")) {
        e.culprit_seq = j["culprit_seq"].get<uint64_t>();
    }
    if (j.contains("culprit")) {
        auto culprit = std::make_shared<HistoryEntry>(entry_of(j["culprit"]));
        culprit->culprit.reset();
        e.culprit = std::move(culprit);
    }
    return e;
}

}  // namespace

std::string FlightRecorder::save(uint64_t lun_key) const {
    json blocks = json::array();
    json images = json::object();
    for (const SavedBlock& s : copy_blocks(lun_key)) {
        const BlockHistory& h = s.history;
        json entries = json::array();
        for (const HistoryEntry& e : h.entries) {
            entries.push_back(entry_json(e));
        }
        blocks.push_back({{"target", h.target},
                          {"lun", h.lun},
                          {"lba", h.lba},
                          {"block_size", h.block_size},
                          {"truncated", h.truncated},
                          {"entries", std::move(entries)}});
        for (const auto& [id, bytes] : s.images) {
            images[std::to_string(id)] = trace::to_base64(bytes);
        }
    }
    // Initiator names come from the network and need not be UTF-8: replaced, never thrown on.
    return json{{"format", saved_format},
                {"version", saved_version},
                {"blocks", std::move(blocks)},
                {"images", std::move(images)}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
}

size_t FlightRecorder::restore(uint64_t lun_key, std::string_view saved) {
    std::vector<SavedBlock> blocks;
    try {
        const json j = json::parse(saved);
        if (j.at("format") != saved_format || j.at("version") != saved_version) {
            throw std::invalid_argument("not a version " + std::to_string(saved_version) + " " +
                                        std::string(saved_format) + " file");
        }
        std::map<ImageId, std::vector<uint8_t>> images;
        for (const auto& [id, text] : j.at("images").items()) {
            images[std::stoull(id)] = trace::from_base64(text.get<std::string>());
        }
        for (const json& b : j.at("blocks")) {
            SavedBlock s;
            BlockHistory& h = s.history;
            h.target = b.at("target").get<std::string>();
            h.lun = b.at("lun").get<uint64_t>();
            h.lba = b.at("lba").get<uint64_t>();
            h.block_size = b.at("block_size").get<uint32_t>();
            h.truncated = b.at("truncated").get<bool>();
            for (const json& e : b.at("entries")) {
                h.entries.push_back(entry_of(e));
                for (const ImageId id :
                     {h.entries.back().compare, h.entries.back().on_disk, h.entries.back().set}) {
                    if (const auto it = images.find(id); it != images.end()) {
                        s.images.insert(*it);
                    }
                }
            }
            blocks.push_back(std::move(s));
        }
    } catch (const json::exception& e) {
        throw std::invalid_argument(std::string("saved flight recorder histories: ") + e.what());
    } catch (const std::logic_error& e) {  // stoull, from_base64, named()
        throw std::invalid_argument(std::string("saved flight recorder histories: ") + e.what());
    }
    return put_back(lun_key, std::move(blocks));
}

}  // namespace atsarray::forensics
