#pragma once
// The WebSocket stream's ticks: about once a second, what changed since the previous tick —
// ATS counter deltas per LUN and initiator, this tick's latency percentiles per initiator and
// op, the sessions, and the new events — so the page never polls.

#include <chrono>
#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "webui/server/console_model.hpp"

namespace atsarray::webui {

class TickBuilder {
  public:
    explicit TickBuilder(const ConsoleModel& model) : model_(model) {}

    // The next tick message ({"type": "tick", ...}, webui/API.md).
    nlohmann::json next();

  private:
    const ConsoleModel& model_;
    std::optional<ats::Snapshot> previous_;
    std::chrono::steady_clock::time_point previous_time_{};
    uint64_t last_event_ = 0;
};

}  // namespace atsarray::webui
