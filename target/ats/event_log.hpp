#pragma once
// The daemon's recent events for the console (logins, logouts, miscompares, aborts, resets, lab
// notes): a bounded ring numbered by sequence, safe from any thread. Readers ask for what came
// after the last sequence they saw.

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace atsarray::ats {

struct Event {
    uint64_t seq = 0;
    std::chrono::system_clock::time_point time{};
    std::string kind;  // login, logout, miscompare, abort, reset, note, ...
    std::string message;
    std::string target;
    std::optional<uint64_t> lun;
    std::string initiator;  // initiator port (IQN + ISID) or name
};

class EventLog {
  public:
    explicit EventLog(size_t capacity = 2000) : capacity_(capacity) {}

    // Records an event and returns it with its sequence number and time.
    Event add(std::string kind, std::string message, std::string target = {},
              std::optional<uint64_t> lun = std::nullopt, std::string initiator = {});
    // Up to `limit` events with a sequence above `after`, oldest first.
    std::vector<Event> since(uint64_t after, size_t limit) const;
    uint64_t last_seq() const;

  private:
    mutable std::mutex mutex_;
    size_t capacity_;
    std::deque<Event> events_;
    uint64_t next_seq_ = 1;
};

}  // namespace atsarray::ats
