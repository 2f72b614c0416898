// Captures (capture.hpp): matching, bounding and keeping whole commands for a trace export.

#include "target/forensics/capture.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include "formats/trace_json.hpp"

namespace atsarray::forensics {

namespace {

using SystemClock = std::chrono::system_clock;

int64_t unix_us(SystemClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

void check_request(const CaptureRequest& r) {
    if (r.target.empty()) {
        throw std::invalid_argument("target: required (the IQN of the target to capture)");
    }
    if (r.max_commands == 0 || r.max_commands > capture_max_commands_limit) {
        throw std::invalid_argument("max_commands: must be 1.." +
                                    std::to_string(capture_max_commands_limit));
    }
    if (r.max_bytes == 0 || r.max_bytes > capture_max_bytes_limit) {
        throw std::invalid_argument("max_mib: must be 1.." +
                                    std::to_string(capture_max_bytes_limit >> 20));
    }
    if (r.max_seconds.count() <= 0 || r.max_seconds > capture_max_seconds_limit) {
        throw std::invalid_argument("max_seconds: must be 1.." +
                                    std::to_string(capture_max_seconds_limit.count()));
    }
}

}  // namespace

struct Captures::Capture {
    CaptureInfo info;  // its commands and sessions counts: counted()
    // One session per I_T nexus seen, in the order first seen.
    std::unordered_map<uint64_t, uint32_t> session_of_nexus;
    std::vector<trace::Session> sessions;
    std::vector<trace::Lun> luns;
    std::vector<trace::Command> commands;

    // Its info with the counts its lists give.
    CaptureInfo counted() const {
        CaptureInfo i = info;
        i.commands = commands.size();
        i.sessions = sessions.size();
        return i;
    }

    bool matches(const CaptureNote& n) const {
        const CaptureRequest& r = info.request;
        return n.target == r.target && (!r.lun || *r.lun == n.lun) &&
               (r.initiator.empty() || n.initiator_name == r.initiator);
    }

    uint32_t session_for(const CaptureNote& n) {
        const auto [it, added] =
            session_of_nexus.try_emplace(n.nexus_id, static_cast<uint32_t>(sessions.size()));
        if (added) {
            sessions.push_back({std::string(n.initiator_name), n.isid, std::string(n.address),
                                std::string(n.portal), std::string(n.target),
                                n.relative_target_port});
        }
        return it->second;
    }

    void note_lun(const CaptureNote& n) {
        if (std::none_of(luns.begin(), luns.end(),
                         [&](const trace::Lun& l) { return l.lun == n.lun; })) {
            luns.push_back({std::string(n.target), n.lun, n.block_size, n.capacity_blocks});
        }
    }

    // Keeps `bytes` whole while the byte budget lasts; else only its length and CRC32C.
    bool keep(std::span<const uint8_t> bytes, std::vector<uint8_t>& into) {
        if (bytes.empty()) {
            return true;
        }
        if (info.data_bytes + bytes.size() > info.request.max_bytes) {
            return false;
        }
        info.data_bytes += bytes.size();
        into.assign(bytes.begin(), bytes.end());
        return true;
    }

    void add(const CaptureNote& n) {
        trace::Command c;
        c.session = session_for(n);
        note_lun(n);
        c.lun = n.lun;
        c.itt = n.itt;
        c.cmd_sn = n.cmd_sn;
        c.cdb.assign(n.cdb.begin(), n.cdb.end());
        c.direction = n.direction;
        c.expected_transfer_length = n.expected_transfer_length;
        c.arrived_us = unix_us(n.arrived) - unix_us(info.started);
        c.answered_us = unix_us(n.answered) - unix_us(info.started);
        c.medium_order = n.medium_order;
        c.status = n.status;
        c.sense.assign(n.sense.begin(), n.sense.end());
        c.data_out_length = static_cast<uint32_t>(n.data_out.size());
        c.data_out_crc32c = n.data_out.empty() ? 0 : trace::crc32c(n.data_out);
        c.data_out_kept = keep(n.data_out, c.data_out);
        c.data_in_length = static_cast<uint32_t>(n.data_in.size());
        c.data_in_crc32c = n.data_in.empty() ? 0 : trace::crc32c(n.data_in);
        c.data_in_kept = keep(n.data_in, c.data_in);
        if (!keep(n.medium_image, c.medium_image)) {
            c.medium_image.clear();
        }
        if (!c.data_out_kept || !c.data_in_kept) {
            ++info.data_not_kept;
        }
        c.outcome = n.outcome;
        c.fault_rule = n.fault_rule;
        c.status_seen = n.status_seen;
        commands.push_back(std::move(c));
    }
};

Captures::Captures(size_t max_captures) : max_captures_(max_captures) {}
Captures::~Captures() = default;

void Captures::expire(Capture& c, SystemClock::time_point now) const {
    if (c.info.running && now - c.info.started >= c.info.request.max_seconds) {
        c.info.running = false;
        c.info.stop_reason = "max_seconds";
        c.info.ended = c.info.started + c.info.request.max_seconds;
        running_.fetch_sub(1, std::memory_order_relaxed);
    }
}

void Captures::record(const CaptureNote& note) {
    const std::lock_guard lock(mutex_);
    const auto now = SystemClock::now();
    for (auto& [id, c] : captures_) {
        expire(*c, now);
        if (!c->info.running || !c->matches(note)) {
            continue;
        }
        c->add(note);
        if (c->commands.size() >= c->info.request.max_commands) {
            c->info.running = false;
            c->info.stop_reason = "max_commands";
            c->info.ended = now;
            running_.fetch_sub(1, std::memory_order_relaxed);
        }
    }
}

std::string Captures::start(CaptureRequest request) {
    check_request(request);
    const std::lock_guard lock(mutex_);
    if (captures_.size() >= max_captures_) {
        throw std::length_error(std::to_string(max_captures_) +
                                " captures are kept already: delete one first");
    }
    auto c = std::make_unique<Capture>();
    // Appended: `"c" + std::string&&` makes g++ 12 -O3 warn falsely (-Wrestrict, GCC bug 105329).
    c->info.id = std::string("c").append(std::to_string(next_id_++));
    c->info.request = std::move(request);
    c->info.running = true;
    c->info.stop_reason = "running";
    c->info.started = SystemClock::now();
    const std::string id = c->info.id;
    captures_.emplace(id, std::move(c));
    running_.fetch_add(1, std::memory_order_relaxed);
    return id;
}

bool Captures::stop(std::string_view id) {
    const std::lock_guard lock(mutex_);
    const auto it = captures_.find(id);
    if (it == captures_.end()) {
        return false;
    }
    Capture& c = *it->second;
    expire(c, SystemClock::now());
    if (c.info.running) {
        c.info.running = false;
        c.info.stop_reason = "stopped";
        c.info.ended = SystemClock::now();
        running_.fetch_sub(1, std::memory_order_relaxed);
    }
    return true;
}

bool Captures::remove(std::string_view id) {
    const std::lock_guard lock(mutex_);
    const auto it = captures_.find(id);
    if (it == captures_.end()) {
        return false;
    }
    if (it->second->info.running) {
        running_.fetch_sub(1, std::memory_order_relaxed);
    }
    captures_.erase(it);
    return true;
}

std::vector<CaptureInfo> Captures::list() const {
    const std::lock_guard lock(mutex_);
    std::vector<CaptureInfo> out;
    const auto now = SystemClock::now();
    for (const auto& [id, c] : captures_) {
        expire(*c, now);
        out.push_back(c->counted());
    }
    std::sort(out.begin(), out.end(),
              [](const CaptureInfo& a, const CaptureInfo& b) { return a.started < b.started; });
    return out;
}

std::optional<CaptureInfo> Captures::info(std::string_view id) const {
    const std::lock_guard lock(mutex_);
    const auto it = captures_.find(id);
    if (it == captures_.end()) {
        return std::nullopt;
    }
    expire(*it->second, SystemClock::now());
    return it->second->counted();
}

std::optional<trace::Trace> Captures::trace(std::string_view id, const TraceWindow& window) const {
    const std::lock_guard lock(mutex_);
    const auto it = captures_.find(id);
    if (it == captures_.end()) {
        return std::nullopt;
    }
    const Capture& c = *it->second;
    expire(*it->second, SystemClock::now());
    trace::Trace t;
    t.id = c.info.id;
    t.started_unix_us = unix_us(c.info.started);
    t.ended_unix_us = unix_us(c.info.running ? SystemClock::now() : c.info.ended);
    t.target = c.info.request.target;
    t.lun = window.lun ? window.lun : c.info.request.lun;
    t.initiator = window.initiator.empty() ? c.info.request.initiator : window.initiator;
    t.stop_reason = c.info.stop_reason;
    // Only the sessions and LUNs the window's commands use, renumbered in their order.
    std::vector<int64_t> renumbered(c.sessions.size(), -1);
    for (const trace::Command& cmd : c.commands) {
        const trace::Session& s = c.sessions[cmd.session];
        if ((window.from_us && cmd.arrived_us < *window.from_us) ||
            (window.to_us && cmd.arrived_us > *window.to_us) ||
            (!window.initiator.empty() && s.initiator_name != window.initiator) ||
            (window.lun && cmd.lun != *window.lun)) {
            continue;
        }
        if (renumbered[cmd.session] < 0) {
            renumbered[cmd.session] = static_cast<int64_t>(t.sessions.size());
            t.sessions.push_back(s);
        }
        if (std::none_of(t.luns.begin(), t.luns.end(),
                         [&](const trace::Lun& l) { return l.lun == cmd.lun; })) {
            const auto lun = std::find_if(c.luns.begin(), c.luns.end(),
                                          [&](const trace::Lun& l) { return l.lun == cmd.lun; });
            t.luns.push_back(*lun);
        }
        t.commands.push_back(cmd);
        t.commands.back().session = static_cast<uint32_t>(renumbered[cmd.session]);
    }
    return t;
}

}  // namespace atsarray::forensics
