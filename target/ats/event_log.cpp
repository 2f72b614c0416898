#include "target/ats/event_log.hpp"

#include <algorithm>
#include <utility>

namespace atsarray::ats {

Event EventLog::add(std::string kind, std::string message, std::string target,
                    std::optional<uint64_t> lun, std::string initiator) {
    std::lock_guard lock(mutex_);
    Event e{next_seq_++,         std::chrono::system_clock::now(),
            std::move(kind),     std::move(message),
            std::move(target),   lun,
            std::move(initiator)};
    events_.push_back(e);
    if (events_.size() > capacity_) {
        events_.pop_front();
    }
    return e;
}

std::vector<Event> EventLog::since(uint64_t after, size_t limit) const {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    auto it = std::upper_bound(events_.begin(), events_.end(), after,
                               [](uint64_t seq, const Event& e) { return seq < e.seq; });
    for (; it != events_.end() && out.size() < limit; ++it) {
        out.push_back(*it);
    }
    return out;
}

uint64_t EventLog::last_seq() const {
    std::lock_guard lock(mutex_);
    return next_seq_ - 1;
}

}  // namespace atsarray::ats
