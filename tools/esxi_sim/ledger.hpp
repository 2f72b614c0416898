#pragma once
// Who believes it holds which on-disk lock, across the hosts of one simulator process. The
// on-disk protocol must never let two live hosts believe they hold the same lock; the ledger
// counts every time that happens (the tests assert none, the exit status says so).

#include <cstdint>
#include <map>
#include <mutex>

#include "tools/esxi_sim/log.hpp"

namespace atsarray::sim {

class OwnershipLedger {
  public:
    explicit OwnershipLedger(Log& log) : log_(log) {}

    void acquired(int lock, int host) {
        std::lock_guard guard(mutex_);
        auto [it, inserted] = holders_.try_emplace(lock, host);
        if (!inserted && it->second != host) {
            ++conflicts_;
            log_.line("sim", "CHECK", "lock %d: host %d believes it holds it while host %d does",
                      lock, host, it->second);
            it->second = host;
        }
        ++acquisitions_;
    }

    void released(int lock, int host) {
        std::lock_guard guard(mutex_);
        auto it = holders_.find(lock);
        if (it != holders_.end() && it->second == host) {
            holders_.erase(it);
        }
    }

    uint64_t conflicts() const {
        std::lock_guard guard(mutex_);
        return conflicts_;
    }
    uint64_t acquisitions() const {
        std::lock_guard guard(mutex_);
        return acquisitions_;
    }

  private:
    Log& log_;
    mutable std::mutex mutex_;
    std::map<int, int> holders_;  // lock index -> host number
    uint64_t conflicts_ = 0;
    uint64_t acquisitions_ = 0;
};

}  // namespace atsarray::sim
