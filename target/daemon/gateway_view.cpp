#include "target/daemon/gateway_view.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <utility>

#include "backend/shared_records.hpp"

namespace atsarray::daemon {

namespace {

constexpr std::string_view alua_prefix = "alua.";
constexpr std::string_view beat_prefix = "gateway.";

std::string state_key(uint16_t group) {
    return std::string(alua_prefix) + std::to_string(group);
}
std::string beat_key(uint16_t group) {
    return std::string(beat_prefix) + std::to_string(group);
}

// A state as the records and the config spell it ("active_optimized").
constexpr std::array<std::pair<scsi::AluaState, std::string_view>, 4> state_names = {{
    {scsi::AluaState::active_optimized, "active_optimized"},
    {scsi::AluaState::active_non_optimized, "active_non_optimized"},
    {scsi::AluaState::standby, "standby"},
    {scsi::AluaState::unavailable, "unavailable"},
}};

std::string state_name(scsi::AluaState state) {
    for (const auto& [s, name] : state_names) {
        if (s == state) {
            return std::string(name);
        }
    }
    return "unavailable";  // transitioning is never recorded: settled_state() is
}

std::optional<scsi::AluaState> state_from(std::string_view text) {
    for (const auto& [s, name] : state_names) {
        if (name == text) {
            return s;
        }
    }
    return std::nullopt;
}

// The state a group is in or is going to (a transition under way counts as its end state).
scsi::AluaState settled_state(const scsi::TargetPortGroupState& g) {
    return g.pending.value_or(g.state);
}

// A beat is "<boot> <count> <description>": the description, for people.
std::string beat_description(const std::string& beat) {
    const size_t first = beat.find(' ');
    const size_t second = first == std::string::npos ? first : beat.find(' ', first + 1);
    return second == std::string::npos ? std::string() : beat.substr(second + 1);
}

std::string random_boot_id() {
    std::random_device device;
    return fmt::format("{:08x}", device());
}

}  // namespace

GatewayView::GatewayView(std::string target, backend::SharedRecords& records,
                         std::shared_ptr<scsi::TargetPortGroups> groups, GatewaySettings settings,
                         Note note, Clock clock)
    : target_(std::move(target)),
      records_(records),
      groups_(std::move(groups)),
      settings_(std::move(settings)),
      note_(std::move(note)),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      boot_(random_boot_id()),
      started_(clock_()),
      last_read_ok_(started_) {
    // A change made on this gateway (SET TARGET PORT GROUPS, the console, a fault rule) is the
    // array's: the next round writes it to the records. Changes round() applies are not.
    listener_ = groups_->subscribe([this](std::optional<uint64_t>) {
        std::lock_guard lock(mutex_);
        if (std::this_thread::get_id() == applying_) {
            return;
        }
        dirty_ = true;
        wake_.notify_one();
    });
    dirty_ = false;
}

GatewayView::~GatewayView() {
    stop();
    groups_->unsubscribe(listener_);
}

void GatewayView::start() {
    // Another gateway's state change shows here at once, not a heartbeat later; beats do not
    // wake anyone (every gateway writes one each heartbeat).
    watch_ = records_.watch([this](const std::string& key) {
        if (key.starts_with(alua_prefix)) {
            std::lock_guard lock(mutex_);
            dirty_ = true;
            wake_.notify_one();
        }
    });
    thread_ = std::thread([this] { run(); });
}

void GatewayView::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || !thread_.joinable()) {
            stopping_ = true;
            return;
        }
        stopping_ = true;
        wake_.notify_one();
    }
    thread_.join();
    records_.unwatch(watch_);
}

void GatewayView::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        round();
        lock.lock();
        wake_.wait_for(lock, settings_.heartbeat, [this] { return stopping_ || dirty_; });
    }
}

std::vector<GatewayView::Group> GatewayView::view() const {
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    std::vector<Group> groups = view_;
    for (Group& g : groups) {
        if (g.id == settings_.own_group) {
            g.beat_seen = own_beat_at_;
        }
        if (g.beat_seen) {
            g.beat_age =
                std::max(std::chrono::milliseconds(0),
                         std::chrono::duration_cast<std::chrono::milliseconds>(now - *g.beat_seen));
        }
    }
    return groups;
}

void GatewayView::note_beat(std::chrono::steady_clock::time_point at,
                            std::chrono::steady_clock::duration took, bool written) {
    std::lock_guard lock(mutex_);
    beats_window_.push_back(
        {at, std::chrono::duration_cast<std::chrono::microseconds>(took), written});
    while (!beats_window_.empty() && at - beats_window_.front().at > BeatLatency{}.window) {
        beats_window_.pop_front();
    }
    if (written) {
        own_beat_at_ = at + took;
    }
    // The round is counted with its beat: a reader between the beat and the round's end must not
    // see more beats than rounds.
    ++rounds_;
    beat_in_round_ = true;
}

void GatewayView::note_round(bool ok) {
    std::lock_guard lock(mutex_);
    if (!beat_in_round_) {
        ++rounds_;  // a round that ended before its beat
    }
    beat_in_round_ = false;
    failed_rounds_ += ok ? 0 : 1;
}

GatewayView::BeatLatency GatewayView::beat_latency() const {
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    BeatLatency stats;
    stats.rounds = rounds_;
    stats.failed_rounds = failed_rounds_;
    std::vector<std::chrono::microseconds> written;
    for (const Beat& b : beats_window_) {
        if (now - b.at > stats.window) {
            continue;
        }
        if (b.written) {
            written.push_back(b.took);
        } else {
            ++stats.failed_in_window;
        }
    }
    if (!beats_window_.empty()) {
        stats.last = beats_window_.back().took;
        stats.last_failed = !beats_window_.back().written;
    }
    stats.samples = written.size();
    if (!written.empty()) {
        std::sort(written.begin(), written.end());
        // Nearest rank: the smallest duration with at least p of the beats at or below it.
        const auto rank = [&written](double p) {
            const auto n = static_cast<double>(written.size());
            const auto index = static_cast<size_t>(std::max(1.0, std::ceil(p * n))) - 1;
            return written[std::min(index, written.size() - 1)];
        };
        stats.p50 = rank(0.50);
        stats.p99 = rank(0.99);
        stats.max = written.back();
    }
    return stats;
}

bool GatewayView::write_state(uint16_t group, scsi::AluaState state) {
    const std::string key = state_key(group);
    // Another gateway may write the same record at the same moment: read, write_if, and on a
    // lost race read again (a few rounds at most: writers are people and failovers).
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::string value;
        uint64_t version = 0;
        if (!records_.read(key, value, version).ok()) {
            return false;
        }
        if (version != 0 && value == state_name(state)) {
            return true;
        }
        bool written = false;
        uint64_t new_version = 0;
        if (!records_.write_if(key, state_name(state), version, written, new_version).ok()) {
            return false;
        }
        if (written) {
            return true;
        }
    }
    return false;
}

bool GatewayView::publish_local_changes() {
    std::vector<std::pair<uint16_t, scsi::AluaState>> changed;
    // Outside the lock: snapshot() may end a transition and call the listener, which locks.
    const auto snapshot = groups_->snapshot();
    {
        std::lock_guard lock(mutex_);
        if (!dirty_) {
            return true;
        }
        dirty_ = false;
        for (const scsi::TargetPortGroupState& g : snapshot->groups) {
            const auto applied = applied_.find(g.id);
            if (!g.pending && applied != applied_.end() && applied->second != g.state) {
                changed.emplace_back(g.id, g.state);
            }
        }
    }
    bool ok = true;
    for (const auto& [group, state] : changed) {
        if (write_state(group, state)) {
            spdlog::info("gateway: target {} group {} is {} for every gateway (changed here)",
                         target_, group, scsi::to_string(state));
            std::lock_guard lock(mutex_);
            applied_[group] = state;
        } else {
            ok = false;
        }
    }
    return ok;
}

bool GatewayView::beat() {
    const std::string value = fmt::format("{} {} {}", boot_, ++beats_, settings_.description);
    const std::string key = beat_key(settings_.own_group);
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool written = false;
        uint64_t new_version = 0;
        // Quiet: nobody waits on a beat (the watch ignores them), and a notify would wait up to
        // its timeout for the lingering watch of a gateway that just died.
        if (!records_.write_if_quiet(key, value, beat_version_, written, new_version).ok()) {
            return false;
        }
        if (written) {
            beat_version_ = new_version;
            return true;
        }
        // A record of this group from before a restart: take its version and write over it.
        std::string old;
        if (!records_.read(key, old, beat_version_).ok()) {
            return false;
        }
    }
    return false;
}

bool GatewayView::round() {
    const bool ok = round_once();
    note_round(ok);
    return ok;
}

bool GatewayView::round_once() {
    if (!publish_local_changes()) {
        round_failed_ = true;
        return false;
    }
    const auto beat_started = clock_();
    const bool beaten = beat();
    note_beat(beat_started, clock_() - beat_started, beaten);
    if (!beaten) {
        round_failed_ = true;
        return false;
    }
    std::map<std::string, std::string> records;
    if (!records_.list("", records).ok()) {
        round_failed_ = true;
        return false;
    }
    // The first gateway to serve the target seeds the shared states from its configuration.
    for (const scsi::TargetPortGroupState& g : groups_->snapshot()->groups) {
        if (!records.contains(state_key(g.id))) {
            bool written = false;
            uint64_t version = 0;
            const std::string state = state_name(settled_state(g));
            if (!records_.write_if(state_key(g.id), state, 0, written, version).ok()) {
                round_failed_ = true;
                return false;
            }
            if (written) {
                records[state_key(g.id)] = state;
            } else if (!records_.read(state_key(g.id), records[state_key(g.id)], version).ok()) {
                round_failed_ = true;
                return false;
            }
        }
    }
    apply(records);
    return true;
}

bool GatewayView::take_over(const std::vector<Group>& groups) {
    const auto snapshot = groups_->snapshot();
    std::vector<const Group*> live;
    for (const Group& g : groups) {
        if (g.alive && g.shared == scsi::AluaState::active_optimized) {
            return false;  // the array has an optimized path
        }
        if (g.alive) {
            live.push_back(&g);
        }
    }
    const auto preferred = [&snapshot](const Group* g) {
        const scsi::TargetPortGroupState* s = snapshot->group(g->id);
        return s != nullptr && s->preferred;
    };
    std::stable_sort(live.begin(), live.end(), [&](const Group* a, const Group* b) {
        return preferred(a) != preferred(b) ? preferred(a) : a->id < b->id;
    });
    if (live.empty() || live.front()->id != settings_.own_group) {
        return false;  // another live gateway takes over
    }
    const Group& own = *live.front();
    const scsi::AluaState given_up = own.shared.value_or(scsi::AluaState::active_non_optimized);
    bool any_dead_optimized = false;
    for (const Group& g : groups) {
        if (!g.alive && g.shared == scsi::AluaState::active_optimized) {
            any_dead_optimized = true;
            if (!write_state(g.id, given_up)) {
                return false;
            }
        }
    }
    if (!any_dead_optimized || !write_state(own.id, scsi::AluaState::active_optimized)) {
        return false;
    }
    const std::string text = fmt::format(
        "target {}: no live gateway was active/optimized; group {} (this gateway) takes it over",
        target_, own.id);
    spdlog::warn("gateway: {}", text);
    if (note_) {
        note_(text);
    }
    return true;
}

void GatewayView::apply(const std::map<std::string, std::string>& records) {
    const auto now = clock_();
    const auto snapshot = groups_->snapshot();
    std::vector<Group> groups;
    std::vector<std::string> notes;
    {
        std::lock_guard lock(mutex_);
        // This gateway could not read the records for a while (its rounds failed: the cluster did
        // not answer): no other gateway could beat either, so each gets dead_after again from
        // now. A round that was only slow is no outage: every write_if() waits up to the
        // records' notify timeout for a watcher that died without unwatching (a SIGKILLed
        // gateway, until the OSD drops its watch), and counting that would keep the dead gateway
        // alive until then whatever dead_after says.
        if (round_failed_ && now - last_read_ok_ >= settings_.dead_after / 2) {
            for (auto& [group, at] : last_beat_at_) {
                at = now;
            }
        }
        round_failed_ = false;
        last_read_ok_ = now;
        for (const scsi::TargetPortGroupState& g : snapshot->groups) {
            Group view;
            view.id = g.id;
            if (const auto it = records.find(state_key(g.id)); it != records.end()) {
                view.shared = state_from(it->second);
            }
            if (g.id == settings_.own_group) {
                view.alive = true;
                view.description = settings_.description;
            } else {
                // Alive: its beat changed within dead_after. A gateway never seen (or whose
                // record is from a dead life) counts from this gateway's start.
                if (const auto it = records.find(beat_key(g.id));
                    it != records.end() && last_beat_[g.id] != it->second) {
                    const bool first = !last_beat_at_.contains(g.id);
                    last_beat_[g.id] = it->second;
                    last_beat_at_[g.id] = first ? started_ : now;
                }
                const auto at = last_beat_at_.try_emplace(g.id, started_).first->second;
                view.alive = now - at < settings_.dead_after;
                if (const auto it = records.find(beat_key(g.id)); it != records.end()) {
                    view.beat_seen = at;
                    view.description = beat_description(it->second);
                }
            }
            const auto old = std::find_if(view_.begin(), view_.end(),
                                          [&](const Group& o) { return o.id == g.id; });
            if (old != view_.end() && old->alive != view.alive) {
                notes.push_back(
                    view.alive
                        ? fmt::format("target {}: the gateway of group {} ({}) beats again",
                                      target_, g.id, g.name)
                        : fmt::format("target {}: the gateway of group {} ({}) gave no sign for "
                                      "{} ms: its paths are unavailable",
                                      target_, g.id, g.name, settings_.dead_after.count()));
            }
            groups.push_back(view);
        }
        view_ = groups;
    }
    for (const std::string& text : notes) {
        spdlog::warn("gateway: {}", text);
        if (note_) {
            note_(text);
        }
    }
    if (settings_.failover && take_over(groups)) {
        std::map<std::string, std::string> fresh;
        if (!records_.list(std::string(alua_prefix), fresh).ok()) {
            return;
        }
        for (Group& g : groups) {
            if (const auto it = fresh.find(state_key(g.id)); it != fresh.end()) {
                g.shared = state_from(it->second);
            }
        }
        std::lock_guard lock(mutex_);
        view_ = groups;
    }
    for (const Group& g : groups) {
        const scsi::TargetPortGroupState* local = snapshot->group(g.id);
        if (local == nullptr) {
            continue;
        }
        const scsi::AluaState effective =
            g.alive ? g.shared.value_or(settled_state(*local)) : scsi::AluaState::unavailable;
        {
            std::lock_guard lock(mutex_);
            applying_ = std::this_thread::get_id();
        }
        if (settled_state(*local) != effective) {
            groups_->change_state(g.id, effective, scsi::AluaStatus::altered_by_implicit_behavior,
                                  std::chrono::milliseconds(0));
        }
        std::lock_guard lock(mutex_);
        applying_ = {};
        applied_[g.id] = effective;
    }
}

}  // namespace atsarray::daemon
