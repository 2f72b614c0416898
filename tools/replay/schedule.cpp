// The timed and ordered schedules of a replay (tools/replay/schedule.hpp).
#include "tools/replay/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace atsarray::replay {

std::vector<Scheduled> timed_schedule(const trace::Trace& trace, double speed) {
    std::vector<size_t> order(trace.commands.size());
    for (size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    const auto& commands = trace.commands;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return commands[a].arrived_us < commands[b].arrived_us;
    });
    std::vector<Scheduled> schedule;
    schedule.reserve(order.size());
    const int64_t first = order.empty() ? 0 : commands[order.front()].arrived_us;
    for (const size_t i : order) {
        const double at = static_cast<double>(commands[i].arrived_us - first) / speed;
        schedule.push_back({i, static_cast<int64_t>(std::llround(at))});
    }
    return schedule;
}

std::vector<Scheduled> ordered_schedule(const trace::Trace& trace) {
    const auto& commands = trace.commands;
    std::vector<size_t> medium;
    std::vector<size_t> other;
    for (size_t i = 0; i < commands.size(); ++i) {
        (commands[i].medium_order != 0 ? medium : other).push_back(i);
    }
    std::stable_sort(medium.begin(), medium.end(), [&](size_t a, size_t b) {
        return commands[a].medium_order < commands[b].medium_order;
    });
    std::stable_sort(other.begin(), other.end(), [&](size_t a, size_t b) {
        return commands[a].arrived_us < commands[b].arrived_us;
    });
    std::vector<Scheduled> schedule;
    schedule.reserve(commands.size());
    size_t m = 0;
    size_t o = 0;
    while (m < medium.size() || o < other.size()) {
        const bool take_other =
            o < other.size() &&
            (m == medium.size() || commands[other[o]].arrived_us <= commands[medium[m]].arrived_us);
        schedule.push_back({take_other ? other[o++] : medium[m++], 0});
    }
    return schedule;
}

}  // namespace atsarray::replay
