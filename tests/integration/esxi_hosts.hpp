#pragma once
// What the esxi-sim failover tests share (esxi_failover_test.cpp on one dual-controller array,
// gateway_hosts_test.cpp on two rbd gateways): a simulator run in the background, the active
// path of a host, ATS miscompares in the console's classes next to the host's, and a fault
// preset's rule with its times scaled down.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <thread>

#include "target/fault/fault.hpp"
#include "tests/integration/http_client.hpp"
#include "tools/esxi_sim/ledger.hpp"
#include "tools/esxi_sim/simulator.hpp"

namespace atsarray::testing {

inline void sleep_s(double s) {
    std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

inline bool contains(const std::string& text, const std::string& words) {
    return text.find(words) != std::string::npos;
}

// Waits (at most `seconds`) until `done`.
template <typename Fn>
bool wait_until(double seconds, Fn&& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        sleep_s(0.05);
    }
    return true;
}

// Runs a simulator on its own thread while the test acts on the array; `ledger` is shared by
// simulators of one process that must never own a lock twice between them.
class Background {
  public:
    Background(const sim::Options& o, sim::Log& log, sim::OwnershipLedger* ledger = nullptr)
        : simulator_(o, log, {}, ledger) {
        thread_ = std::thread([this] { report_ = simulator_.run(); });
    }
    ~Background() {
        if (thread_.joinable()) {
            simulator_.stop();
            thread_.join();
        }
    }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    void stop() { simulator_.stop(); }
    sim::Report wait() {
        thread_.join();
        return report_;
    }

  private:
    sim::Simulator simulator_;
    sim::Report report_;
    std::thread thread_;
};

inline const sim::PathReport* active(const sim::HostReport& h) {
    for (const sim::PathReport& p : h.device.paths) {
        if (p.active) {
            return &p;
        }
    }
    return nullptr;
}

// ATS miscompares in the console's classes.
struct Classes {
    uint64_t genuine = 0;  // the medium differed, not against the ATS's own set image
    uint64_t late_retry = 0;
    uint64_t injected = 0;

    bool operator==(const Classes&) const = default;
};

inline std::ostream& operator<<(std::ostream& o, const Classes& c) {
    return o << "{genuine " << c.genuine << ", late retry " << c.late_retry << ", injected "
             << c.injected << "}";
}

// What the host logged: a miscompare whose block held the test image had no cause on the
// medium, which is what an injected (false) miscompare is.
inline Classes host_classes(const sim::HostCounters& c) {
    return {c.miscompares_genuine, c.miscompares_late_retry, c.miscompares_no_cause};
}

// Adds what the console on `console` counts, by initiator name (summed over its sessions: one
// per path), from GET /api/v1/ats. Several gateways: the array's count is their sum.
inline void add_console_classes(uint16_t console, std::map<std::string, Classes>& out) {
    const HttpAnswer a = http_call(console, "GET", "/api/v1/ats");
    EXPECT_EQ(a.status, 200U);
    for (const nlohmann::json& i : a.body["initiators"]) {
        Classes& c = out[i["initiator_name"].get<std::string>()];
        const auto miscompares = i["miscompares"].get<uint64_t>();  // genuine, late retries too
        const auto late = i["late_retry_miscompares"].get<uint64_t>();
        c.genuine += miscompares - late;
        c.late_retry += late;
        c.injected += i["injected_miscompares"].get<uint64_t>();
    }
}

// A preset's rule for POST /api/v1/faults with its times divided by `time_scale`.
inline nlohmann::json scaled_rule(const fault::RuleSpec& r, uint32_t time_scale) {
    nlohmann::json j = {{"name", r.name + "-scaled"}, {"action", fault::to_string(r.action)}};
    if (r.group != 0) {
        j["group"] = r.group;
    }
    if (r.action == fault::Action::alua_state) {
        j["state"] = fault::to_string(r.state);
        j["transition_ms"] = r.transition_ms / time_scale;
    }
    if (r.action == fault::Action::stale_write_after_failover) {
        j["delay_ms"] = r.delay_ms / time_scale;
        j["max_hits"] = r.max_hits;
    }
    if (r.active_seconds != 0) {
        // Whole seconds: rounded up, so the scaled fault lasts at least as long as it should.
        j["active_seconds"] = (r.active_seconds + time_scale - 1) / time_scale;
    }
    return j;
}

// The rule of `preset` with `action` (a test failure, and an empty rule, when there is none).
inline const fault::RuleSpec& preset_rule(const char* preset, fault::Action action) {
    const fault::Preset* p = fault::find_preset(preset);
    EXPECT_NE(p, nullptr) << preset;
    if (p != nullptr) {
        for (const fault::RuleSpec& r : p->rules) {
            if (r.action == action) {
                return r;
            }
        }
    }
    ADD_FAILURE() << preset << " has no " << fault::to_string(action) << " rule";
    static const fault::RuleSpec none;
    return none;
}

}  // namespace atsarray::testing
