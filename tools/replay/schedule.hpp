#pragma once
// The order and the times a trace's commands are sent in: timed (as recorded, overlapping) or
// ordered (one at a time, in the order they reached the medium, which makes outcomes
// deterministic).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/trace.hpp"

namespace atsarray::replay {

struct Scheduled {
    size_t command = 0;      // index into Trace::commands
    int64_t send_at_us = 0;  // after the replay's start (timed mode; 0 in ordered mode)
};

// Every command at (arrived_us - the first command's arrived_us) / speed, earliest first. The
// first command goes at once: a capture started minutes before its first command would
// otherwise open the replay with minutes of nothing.
std::vector<Scheduled> timed_schedule(const trace::Trace& trace, double speed);

// The commands that touched blocks in medium_order; those that touched none (medium_order 0)
// between them by arrived_us: each goes before the first medium command that arrived after it.
std::vector<Scheduled> ordered_schedule(const trace::Trace& trace);

}  // namespace atsarray::replay
