#pragma once
// The WebSocket stream's ticks: about once a second, what changed since the previous tick —
// ATS counter deltas per LUN and initiator, this tick's latency percentiles per initiator and
// op, the sessions, the paths (paths.hpp) and the new events — so the page never polls.
// The first tick has no previous one: it says "first": true and gives null for every delta, mean
// and percentile, since the counters' totals over no interval are no rate (issue 19: a chart
// that opened with 200,000 ATS/s on a LUN that had served 196 ATS in all).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "webui/server/console_model.hpp"

namespace atsarray::webui {

// Which initiator ports a tick lists: those with a session now, and those whose last session
// ended (or that last sent a command) less than `keep` ago. The accounting keeps every port it
// ever saw (an ISID per reconnect), so without this the per-initiator tables and chart legends
// grow a row per ended session (issue 19).
class RecentPorts {
  public:
    // Records the ports with a session at `now`; forgets those past `keep`.
    void update(const std::set<std::string>& live, std::chrono::seconds keep,
                std::chrono::steady_clock::time_point now);
    bool listed(const std::string& port) const { return last_live_.contains(port); }

  private:
    std::map<std::string, std::chrono::steady_clock::time_point> last_live_;
};

class TickBuilder {
  public:
    explicit TickBuilder(const ConsoleModel& model) : model_(model) {}

    // The next tick message ({"type": "tick", ...}, webui/API.md).
    nlohmann::json next();
    // The next tick is a first one again: the stream had no client for a while, and a delta
    // over that whole pause is no figure of the tick a page now opens with.
    void restart() { previous_.reset(); }

  private:
    const ConsoleModel& model_;
    std::optional<ats::Snapshot> previous_;
    std::chrono::steady_clock::time_point previous_time_{};
    uint64_t last_event_ = 0;
    RecentPorts recent_;
};

}  // namespace atsarray::webui
