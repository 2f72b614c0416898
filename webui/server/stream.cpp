#include "webui/server/stream.hpp"

namespace atsarray::webui {

using nlohmann::json;

namespace {

template <typename Map, typename Key>
const typename Map::mapped_type* find_in(const std::optional<ats::Snapshot>& snap,
                                         Map ats::Snapshot::*member, const Key& key) {
    if (!snap) {
        return nullptr;
    }
    const Map& m = (*snap).*member;
    const auto it = m.find(key);
    return it == m.end() ? nullptr : &it->second;
}

}  // namespace

void RecentPorts::update(const std::set<std::string>& live, std::chrono::seconds keep,
                         std::chrono::steady_clock::time_point now) {
    for (const std::string& port : live) {
        last_live_[port] = now;
    }
    std::erase_if(last_live_, [&](const auto& e) { return now - e.second >= keep; });
}

json TickBuilder::next() {
    const auto now = std::chrono::steady_clock::now();
    ats::Snapshot snap = model_.accounting.snapshot(0);
    json sessions = api::sessions(model_);
    std::set<std::string> live;
    for (const json& s : sessions) {
        live.insert(s["initiator_port"].get<std::string>());
    }
    // A session shorter than a tick is never in the session table when a tick looks: the
    // commands it sent since the previous tick say it was there.
    std::set<std::string> seen = live;
    for (const auto& [port, io] : snap.io_per_initiator) {
        const ats::IoCounters* before = find_in(previous_, &ats::Snapshot::io_per_initiator, port);
        if (previous_ && (before == nullptr || before->commands != io.commands)) {
            seen.insert(port);
        }
    }
    recent_.update(seen, model_.keep_ended_sessions, now);
    const ats::AtsCounters empty_ats;
    const ats::IoCounters empty_io;

    // A delta needs a previous tick; the first has none, so its deltas are null, not totals.
    const bool first = !previous_.has_value();
    const auto delta = [first](uint64_t now_value, uint64_t before) -> json {
        return first ? json(nullptr) : json(now_value - before);
    };
    const auto mean = [first](const ats::Histogram& h) -> json {
        return first ? json(nullptr) : json(h.mean_micros());
    };

    json luns = json::array();
    for (const auto& [key, c] : snap.ats_per_lun) {
        const ats::AtsCounters* before = find_in(previous_, &ats::Snapshot::ats_per_lun, key);
        const ats::AtsCounters& b = before != nullptr ? *before : empty_ats;
        luns.push_back({{"target", key.first},
                        {"lun", key.second},
                        {"successes", c.successes},
                        {"miscompares", c.miscompares},
                        {"injected_miscompares", c.injected_miscompares},
                        {"errors", c.errors},
                        {"d_successes", delta(c.successes, b.successes)},
                        {"d_miscompares", delta(c.miscompares + c.injected_miscompares,
                                                b.miscompares + b.injected_miscompares)},
                        {"d_errors", delta(c.errors, b.errors)},
                        {"aavg_suc_us", mean(c.latency_success.since(b.latency_success))},
                        {"aavg_f_us", mean(c.latency_failure.since(b.latency_failure))}});
    }

    // ATS per initiator port, summed over LUNs.
    std::map<std::string, std::pair<uint64_t, uint64_t>> ats_deltas;
    for (const auto& [key, c] : snap.ats_per_initiator) {
        const ats::AtsCounters* before = find_in(previous_, &ats::Snapshot::ats_per_initiator, key);
        const ats::AtsCounters& b = before != nullptr ? *before : empty_ats;
        auto& d = ats_deltas[std::get<2>(key)];
        d.first += c.successes - b.successes;
        d.second += c.miscompares + c.injected_miscompares - b.miscompares - b.injected_miscompares;
    }
    json initiators = json::array();
    for (const auto& [port, io] : snap.io_per_initiator) {
        if (!recent_.listed(port)) {
            continue;
        }
        const ats::IoCounters* before = find_in(previous_, &ats::Snapshot::io_per_initiator, port);
        const ats::IoCounters& b = before != nullptr ? *before : empty_io;
        json ops = json::object();
        for (const ats::Op op : {ats::Op::read, ats::Op::write, ats::Op::ats}) {
            const auto i = static_cast<size_t>(op);
            const ats::Histogram h = io.latency[i].since(b.latency[i]);
            const auto percentile = [&](double p) -> json {
                return first ? json(nullptr) : json(h.percentile_micros(p));
            };
            ops[std::string(ats::to_string(op))] = {
                {"d_commands", delta(io.commands[i], b.commands[i])},
                {"p50_us", percentile(0.50)},
                {"p99_us", percentile(0.99)},
                {"p999_us", percentile(0.999)}};
        }
        const auto who = snap.initiators.find(port);
        const auto d = ats_deltas.find(port);
        initiators.push_back(
            {{"initiator_port", port},
             {"initiator_name", who != snap.initiators.end() ? who->second.initiator_name : ""},
             {"address", who != snap.initiators.end() ? who->second.address : ""},
             {"d_ats_successes", delta(d != ats_deltas.end() ? d->second.first : 0, 0)},
             {"d_ats_miscompares", delta(d != ats_deltas.end() ? d->second.second : 0, 0)},
             {"live", live.contains(port)},
             {"ops", std::move(ops)}});
    }

    json events = json::array();
    for (const ats::Event& e : model_.events.since(last_event_, 500)) {
        last_event_ = e.seq;
        events.push_back(api::event(e));
    }

    const auto interval =
        first ? std::chrono::milliseconds(0)
              : std::chrono::duration_cast<std::chrono::milliseconds>(now - previous_time_);
    json tick = {{"type", "tick"},
                 {"time", api::rfc3339(std::chrono::system_clock::now())},
                 {"first", first},
                 {"interval_ms", interval.count()},
                 {"overview", api::overview(model_, snap)},
                 {"luns", std::move(luns)},
                 {"initiators", std::move(initiators)},
                 {"sessions", std::move(sessions)},
                 {"paths", api::paths(model_)},
                 {"events", std::move(events)}};
    previous_ = std::move(snap);
    previous_time_ = now;
    return tick;
}

}  // namespace atsarray::webui
