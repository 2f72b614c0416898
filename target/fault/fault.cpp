#include "target/fault/fault.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>

namespace atsarray::fault {

namespace {

template <typename E, size_t N>
std::optional<E> from(std::string_view s, const std::array<std::string_view, N>& names) {
    for (size_t i = 0; i < N; ++i) {
        if (names[i] == s) {
            return static_cast<E>(i);
        }
    }
    return std::nullopt;
}

constexpr std::array<std::string_view, 4> command_classes = {"ats", "read", "write", "any"};
constexpr std::array<std::string_view, 13> actions = {"false_miscompare",
                                                      "miscompare_after_write",
                                                      "delay",
                                                      "drop_status",
                                                      "status",
                                                      "drop_connection",
                                                      "stale_read",
                                                      "alua_state",
                                                      "alua_flap",
                                                      "path_down",
                                                      "path_blackhole",
                                                      "stale_write_after_failover",
                                                      "gateway_stall"};
constexpr std::array<std::string_view, 4> port_states = {"active_optimized", "active_non_optimized",
                                                         "standby", "unavailable"};
constexpr std::array<std::string_view, 2> delay_stages = {"before_execute", "before_status"};
constexpr std::array<std::string_view, 3> status_kinds = {"busy", "task_set_full",
                                                          "check_condition"};

}  // namespace

std::string_view to_string(CommandClass c) {
    return command_classes[static_cast<size_t>(c)];
}
std::string_view to_string(Action a) {
    return actions[static_cast<size_t>(a)];
}
std::string_view to_string(DelayStage s) {
    return delay_stages[static_cast<size_t>(s)];
}
std::string_view to_string(StatusKind s) {
    return status_kinds[static_cast<size_t>(s)];
}
std::optional<CommandClass> command_class_from(std::string_view s) {
    return from<CommandClass>(s, command_classes);
}
std::optional<Action> action_from(std::string_view s) {
    return from<Action>(s, actions);
}
std::optional<DelayStage> delay_stage_from(std::string_view s) {
    return from<DelayStage>(s, delay_stages);
}
std::optional<StatusKind> status_kind_from(std::string_view s) {
    return from<StatusKind>(s, status_kinds);
}
std::string_view to_string(PortState s) {
    return port_states[static_cast<size_t>(s)];
}
std::optional<PortState> port_state_from(std::string_view s) {
    return from<PortState>(s, port_states);
}

bool acts_on_paths(Action a) {
    return a == Action::alua_state || a == Action::alua_flap || a == Action::path_down ||
           a == Action::path_blackhole;
}

std::string action_names() {
    std::string out;
    for (const std::string_view a : actions) {
        out += (out.empty() ? "" : ", ") + std::string(a);
    }
    return out;
}

CommandClass default_command(Action action) {
    switch (action) {
        case Action::false_miscompare:
        case Action::miscompare_after_write:
            return CommandClass::ats;
        case Action::stale_read:
            return CommandClass::read;
        case Action::stale_write_after_failover:
            return CommandClass::write;
        default:
            return CommandClass::any;
    }
}

std::string validate(const RuleSpec& s) {
    if (s.name.empty() || s.name.size() > 64) {
        return "name: 1..64 characters";
    }
    if (!(s.probability > 0.0 && s.probability <= 1.0)) {
        return "probability: must be in (0, 1]";
    }
    if (s.every == 0) {
        return "every: must be at least 1";
    }
    if (s.lba_first > s.lba_last) {
        return "lba_first: must not be above lba_last";
    }
    const bool ats_only =
        s.action == Action::false_miscompare || s.action == Action::miscompare_after_write;
    if (ats_only && s.command != CommandClass::ats) {
        return "command: " + std::string(to_string(s.action)) + " applies to \"ats\" only";
    }
    if (s.action == Action::stale_read) {
        if (s.command != CommandClass::read) {
            return "command: stale_read applies to \"read\" only (any write in its range makes "
                   "the old image)";
        }
        if (s.stale_ms == 0 || s.stale_ms > 600'000) {
            return "stale_ms: 1..600000 for a stale_read";
        }
    }
    if (s.action == Action::delay) {
        if (s.delay_ms == 0 || s.delay_ms > 600'000) {
            return "delay_ms: 1..600000 for a delay";
        }
        if (s.delay_p99_ms != 0 && s.delay_p99_ms < s.delay_ms) {
            return "delay_p99_ms: must be 0 (fixed) or at least delay_ms";
        }
    }
    if (acts_on_paths(s.action)) {
        // These act on a group for as long as the rule is active: the per-command scope and
        // triggers mean nothing to them (the target and, for path_down and path_blackhole, the
        // initiator do).
        const bool per_command = s.lun || s.lba_first != 0 || s.lba_last != UINT64_MAX ||
                                 s.command != CommandClass::any || s.probability != 1.0 ||
                                 s.every != 1 || s.max_hits != 0;
        if (per_command) {
            return std::string(to_string(s.action)) +
                   " acts on a target port group while the rule is active: lun, lba_first, "
                   "lba_last, command, probability, every and max_hits do not apply";
        }
        const bool alua = s.action == Action::alua_state || s.action == Action::alua_flap;
        if (alua && !s.initiator.empty()) {
            return "initiator: an ALUA state is the same for every initiator (SPC-4 §5.16); "
                   "scope path_down or path_blackhole by initiator instead";
        }
        if (s.action == Action::alua_state && s.transition_ms > 600'000) {
            return "transition_ms: 0..600000";
        }
        if (s.action == Action::alua_flap) {
            if (s.period_ms < 100 || s.period_ms > 600'000) {
                return "period_ms: 100..600000 for an alua_flap";
            }
            if (s.state == s.state_b) {
                return "state_b: must differ from state for an alua_flap";
            }
        }
    }
    if (s.action == Action::stale_write_after_failover) {
        if (s.command != CommandClass::write) {
            return "command: stale_write_after_failover applies to \"write\" only";
        }
        if (s.delay_ms == 0 || s.delay_ms > 600'000) {
            return "delay_ms: 1..600000 for a stale_write_after_failover (how late the write "
                   "lands)";
        }
    }
    if (s.action == Action::gateway_stall) {
        if (s.delay_ms == 0 || s.delay_ms > 600'000) {
            return "delay_ms: 1..600000 for a gateway_stall (how long each stall lasts)";
        }
        if (s.period_ms <= s.delay_ms || s.period_ms > 3'600'000) {
            return "period_ms: more than delay_ms (a stall every period_ms), at most 3600000";
        }
    }
    if (s.action == Action::status && s.status == StatusKind::check_condition &&
        (s.sense_key == 0 || s.sense_key > 0x0F)) {
        return "sense_key: 1..15 for a CHECK CONDITION";
    }
    return {};
}

namespace {

RuleSpec make(std::string name, Action action, CommandClass command) {
    RuleSpec r;
    r.name = std::move(name);
    r.action = action;
    r.command = command;
    return r;
}

std::vector<Preset> build_presets() {
    std::vector<Preset> out;
    {
        // ESXi gives a heartbeat I/O about 8 s, then aborts and reissues it (VMFS-ATS.md): an
        // ATS that answers after 9-12 s times out, and the reissued ATS meets the first one's
        // write: "ATS Miscompare detected between test and set HB images".
        RuleSpec r = make("esxi-heartbeat-timeout", Action::delay, CommandClass::ats);
        r.stage = DelayStage::before_status;
        r.delay_ms = 9000;
        r.delay_p99_ms = 12000;
        r.probability = 0.05;
        out.push_back({"esxi-heartbeat-timeout",
                       "5% of ATS answer after 9-12 s (executed at once): ESXi aborts at 8 s and "
                       "retries; the retry miscompares; 'Lost access to volume' after 16 s",
                       {r}});
    }
    {
        RuleSpec r = make("false-ats-firmware", Action::false_miscompare, CommandClass::ats);
        r.probability = 0.02;
        out.push_back({"false-ats-firmware",
                       "2% of ATS answer MISCOMPARE although the block matched and write "
                       "nothing: 'ATS Miscompare' with identical images",
                       {r}});
    }
    {
        // KB 2113956: the ATS lands, its status is lost, the host's retry miscompares.
        RuleSpec r = make("lost-ats-ack", Action::drop_status, CommandClass::ats);
        r.probability = 0.02;
        out.push_back({"lost-ats-ack",
                       "2% of ATS are executed but never answered: the host times out, aborts, "
                       "retries and gets a miscompare against its own write (KB 2113956)",
                       {r}});
    }
    {
        RuleSpec r = make("multipath-flap", Action::drop_connection, CommandClass::any);
        r.every = 2000;
        out.push_back({"multipath-flap",
                       "every 2000th command closes its connection: a path goes down, the "
                       "initiator logs in again (ESXi: path state changes; Linux: session "
                       "recovery)",
                       {r}});
    }
    {
        RuleSpec r = make("busy-array", Action::status, CommandClass::any);
        r.status = StatusKind::busy;
        r.probability = 0.01;
        out.push_back({"busy-array", "1% of commands answer BUSY: the initiator retries", {r}});
    }
    {
        // A node of a clustered array whose read cache missed an invalidation: a host reads a
        // heartbeat slot or lock record, sees the image from before the last write, and its ATS
        // built on that image miscompares against the medium.
        RuleSpec r = make("stale-cache-node", Action::stale_read, CommandClass::read);
        r.stale_ms = 3000;
        out.push_back({"stale-cache-node",
                       "for 3 s after a write, reads of the block return its previous image: a "
                       "host's ATS built on what it read miscompares ('returned false for "
                       "equality'), VMFS may see a lock still held by a host that released it",
                       {r}});
    }
    // The path presets assume the default config's controllers: group 1 (controller-a, on 3260)
    // and group 2 (controller-b, on 3261).
    {
        RuleSpec a = make("controller-a-fails", Action::alua_state, CommandClass::any);
        a.group = 1;
        a.state = PortState::standby;
        a.transition_ms = 5000;
        RuleSpec b = make("controller-b-takes-over", Action::alua_state, CommandClass::any);
        b.group = 2;
        b.state = PortState::active_optimized;
        out.push_back({"controller-failover",
                       "controller A (group 1) is transitioning for 5 s (NOT READY 04/0A), then "
                       "standby (04/0B); controller B (group 2) becomes active/optimized. ESXi "
                       "(VMW_SATP_ALUA) retries through the transition and moves to B's paths; "
                       "dm-multipath (scsi_dh_alua) switches its path group",
                       {a, b}});
    }
    {
        RuleSpec r = make("all-paths-down", Action::path_blackhole, CommandClass::any);
        r.active_seconds = 20;
        out.push_back({"all-paths-down",
                       "for 20 s every portal of every group reads and answers nothing: ESXi "
                       "declares All Paths Down and, after 140 s, APD timeout; dm-multipath "
                       "queues I/O (queue_if_no_path) while its checkers fail",
                       {r}});
    }
    {
        RuleSpec r = make("alua-flap", Action::alua_flap, CommandClass::any);
        r.group = 1;
        r.state = PortState::standby;
        r.state_b = PortState::active_optimized;
        r.period_ms = 3000;
        out.push_back({"alua-flap",
                       "controller A (group 1) alternates between standby and active/optimized "
                       "every 3 s: a storm of ASYMMETRIC ACCESS STATE CHANGED unit attentions, "
                       "path state changes and failovers back and forth",
                       {r}});
    }
    {
        RuleSpec w = make("late-write-of-controller-a", Action::stale_write_after_failover,
                          CommandClass::write);
        w.group = 1;
        w.delay_ms = 3000;
        w.max_hits = 1;
        RuleSpec down = make("controller-a-down", Action::path_down, CommandClass::any);
        down.group = 1;
        down.active_seconds = 10;
        out.push_back({"failover-stale-write",
                       "the next write through controller A (group 1) is never answered and "
                       "lands 3 s later, while A's paths are down for 10 s: the host fails over "
                       "to B, and A's stale write overwrites what B wrote meanwhile (a later ATS "
                       "on that block miscompares)",
                       {w, down}});
    }
    {
        // An OSD that is slow and, while it recovers, stalls (tcmu-runner#315: RBD latency
        // turned into floods of ATS miscompares on ESXi).
        RuleSpec slow = make("slow-osd-latency", Action::delay, CommandClass::any);
        slow.delay_ms = 40;
        slow.delay_p99_ms = 2000;
        RuleSpec stall = make("osd-recovery-stall", Action::gateway_stall, CommandClass::any);
        stall.delay_ms = 10'000;
        stall.period_ms = 60'000;
        out.push_back({"ceph-slow-osd",
                       "RBD behind a slow OSD: I/O takes 40 ms typically and 2 s at p99, and for "
                       "10 s of every minute the OSD stalls (recovery). Heartbeat ATS outlive "
                       "ESXi's 8 s I/O timeout: the host aborts and retries, the stalled ATS "
                       "still lands first and the retry miscompares ('ATS Miscompare detected "
                       "between test and set HB images'), then 'Lost access to volume'",
                       {slow, stall}});
    }
    return out;
}

}  // namespace

const std::vector<Preset>& presets() {
    static const std::vector<Preset> all = build_presets();
    return all;
}

const Preset* find_preset(std::string_view name) {
    for (const Preset& p : presets()) {
        if (p.name == name) {
            return &p;
        }
    }
    return nullptr;
}

Engine::Engine() : random_(std::random_device{}()) {}

uint64_t Engine::add(const RuleSpec& spec, std::string& error) {
    error = validate(spec);
    if (!error.empty()) {
        return 0;
    }
    uint64_t id = 0;
    {
        std::lock_guard lock(mutex_);
        RuleState r;
        r.id = next_id_++;
        r.spec = spec;
        r.created = std::chrono::system_clock::now();
        rules_.push_back(r);
        count_.store(command_rules(), std::memory_order_release);
        if (spec.action == Action::stale_read) {
            stale_rules_.fetch_add(1, std::memory_order_release);
        }
        id = r.id;
    }
    changed();
    return id;
}

bool Engine::remove(uint64_t id) {
    size_t n = 0;
    {
        std::lock_guard lock(mutex_);
        n = std::erase_if(rules_, [id, this](const RuleState& r) {
            if (r.id == id && r.spec.action == Action::stale_read) {
                stale_rules_.fetch_sub(1, std::memory_order_release);
            }
            return r.id == id;
        });
        count_.store(command_rules(), std::memory_order_release);
    }
    if (n != 0) {
        changed();
    }
    return n != 0;
}

bool Engine::set_enabled(uint64_t id, bool enabled) {
    bool found = false;
    {
        std::lock_guard lock(mutex_);
        for (RuleState& r : rules_) {
            if (r.id == id) {
                r.spec.enabled = enabled;
                found = true;
            }
        }
    }
    if (found) {
        changed();
    }
    return found;
}

size_t Engine::command_rules() const {
    return static_cast<size_t>(std::count_if(rules_.begin(), rules_.end(), [](const RuleState& r) {
        return !acts_on_paths(r.spec.action);
    }));
}

void Engine::changed() const {
    if (changed_) {
        changed_();
    }
}

std::vector<RuleState> Engine::active_path_rules() const {
    const auto now = std::chrono::system_clock::now();
    std::vector<RuleState> out;
    std::lock_guard lock(mutex_);
    for (const RuleState& r : rules_) {
        const RuleSpec& s = r.spec;
        if (acts_on_paths(s.action) && s.enabled &&
            (s.active_seconds == 0 || now - r.created <= std::chrono::seconds(s.active_seconds))) {
            out.push_back(r);
        }
    }
    return out;
}

std::vector<RuleState> Engine::rules() const {
    std::lock_guard lock(mutex_);
    return rules_;
}

std::optional<RuleState> Engine::rule(uint64_t id) const {
    std::lock_guard lock(mutex_);
    for (const RuleState& r : rules_) {
        if (r.id == id) {
            return r;
        }
    }
    return std::nullopt;
}

Decision Engine::decide(const CommandView& cmd) {
    if (count_.load(std::memory_order_acquire) == 0) {
        return {};
    }
    const auto now = std::chrono::system_clock::now();
    std::unique_lock lock(mutex_);
    for (RuleState& r : rules_) {
        const RuleSpec& s = r.spec;
        if (!s.enabled || (s.max_hits != 0 && r.hits >= s.max_hits) ||
            (s.active_seconds != 0 && now - r.created > std::chrono::seconds(s.active_seconds))) {
            continue;
        }
        if ((!s.target.empty() && s.target != cmd.target) || (s.lun && *s.lun != cmd.lun) ||
            (s.command != CommandClass::any && s.command != cmd.command) ||
            (s.action == Action::stale_read && !cmd.stale) || acts_on_paths(s.action) ||
            (s.action == Action::stale_write_after_failover && s.group != 0 &&
             s.group != cmd.group)) {
            continue;
        }
        // The command's blocks must meet the rule's range; commands without blocks only match a
        // rule that does not narrow the range.
        const bool narrowed = s.lba_first != 0 || s.lba_last != UINT64_MAX;
        if (narrowed &&
            (cmd.blocks == 0 || cmd.lba > s.lba_last || cmd.lba + cmd.blocks - 1 < s.lba_first)) {
            continue;
        }
        if (!s.initiator.empty() &&
            fnmatch(s.initiator.c_str(), std::string(cmd.initiator).c_str(), 0) != 0) {
            continue;
        }
        // gateway_stall: only commands that arrive inside a stall window, held to its end.
        std::chrono::milliseconds stall_left{0};
        if (s.action == Action::gateway_stall) {
            const auto elapsed =
                std::chrono::duration_cast<std::chrono::milliseconds>(now - r.created).count();
            const int64_t phase = std::max<int64_t>(elapsed, 0) % s.period_ms;
            if (phase >= s.delay_ms) {
                continue;
            }
            stall_left = std::chrono::milliseconds(s.delay_ms - phase);
        }
        ++r.matched;
        if (r.matched % s.every != 0) {
            continue;
        }
        if (s.probability < 1.0 &&
            std::uniform_real_distribution<double>(0.0, 1.0)(random_) >= s.probability) {
            continue;
        }
        ++r.hits;
        Decision d;
        d.rule = r.id;
        d.rule_name = s.name;
        d.action = s.action;
        d.stage = s.stage;
        d.status = s.status;
        d.sense_key = s.sense_key;
        d.asc = s.asc;
        d.ascq = s.ascq;
        if (s.action == Action::stale_write_after_failover) {
            d.delay = std::chrono::milliseconds(s.delay_ms);
        }
        if (s.action == Action::gateway_stall) {
            d.delay = stall_left;
        }
        if (s.action == Action::delay) {
            double ms = s.delay_ms;
            if (s.delay_p99_ms > s.delay_ms) {
                // Lognormal with the given median and p99: sigma = ln(p99 / median) / z(0.99).
                const double sigma =
                    std::log(static_cast<double>(s.delay_p99_ms) / s.delay_ms) / 2.3263478740408408;
                ms = std::lognormal_distribution<double>(std::log(s.delay_ms), sigma)(random_);
            }
            d.delay = std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, 600'000.0)));
        }
        const RuleState hit = r;
        lock.unlock();
        if (notify_) {
            notify_(hit, cmd);
        }
        return d;
    }
    return {};
}

std::vector<StaleWindow> Engine::stale_windows(const CommandView& write) const {
    std::vector<StaleWindow> out;
    if (stale_rules_.load(std::memory_order_acquire) == 0 || write.blocks == 0) {
        return out;
    }
    const auto now = std::chrono::system_clock::now();
    std::lock_guard lock(mutex_);
    for (const RuleState& r : rules_) {
        const RuleSpec& s = r.spec;
        if (s.action != Action::stale_read || !s.enabled ||
            (s.active_seconds != 0 && now - r.created > std::chrono::seconds(s.active_seconds)) ||
            (!s.target.empty() && s.target != write.target) || (s.lun && *s.lun != write.lun)) {
            continue;
        }
        const uint64_t first = std::max(write.lba, s.lba_first);
        const uint64_t last = std::min(write.lba + write.blocks - 1, s.lba_last);
        if (first > last) {
            continue;
        }
        out.push_back({r.id, first, last - first + 1, std::chrono::milliseconds(s.stale_ms)});
    }
    return out;
}

}  // namespace atsarray::fault
