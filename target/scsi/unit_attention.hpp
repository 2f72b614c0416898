#pragma once
// Per-I_T-nexus unit attention conditions of one logical unit (SAM-5 §5.14).
// Thread-safe: commands on different connections reach the same LUN concurrently.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "target/scsi/sense.hpp"

namespace atsarray::scsi {

class UnitAttentions {
  public:
    // A nexus the LUN knows about; it starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
    // (SAM-5 "I_T nexus loss" and "power on" events).
    void add_nexus(uint64_t nexus_id);
    void remove_nexus(uint64_t nexus_id);

    // Queues a condition for one nexus / every known nexus / every nexus but one.
    void queue(uint64_t nexus_id, SenseReason reason);
    void queue_all(SenseReason reason);
    void queue_all_except(uint64_t nexus_id, SenseReason reason);

    // Reports and clears the oldest condition of a nexus (SAM-5 §5.14: reported once).
    std::optional<SenseReason> take(uint64_t nexus_id);
    // Clears one kind of condition (REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED).
    void clear(uint64_t nexus_id, SenseReason reason);
    size_t pending(uint64_t nexus_id) const;

  private:
    // Bounded: a nexus that never sends a command must not grow its queue without end.
    static constexpr size_t max_pending = 16;
    void queue_locked(std::deque<SenseReason>& q, SenseReason reason);

    mutable std::mutex mutex_;
    std::map<uint64_t, std::deque<SenseReason>> pending_;
};

}  // namespace atsarray::scsi
