#pragma once
// Who believes it holds which on-disk lock, across the hosts of one simulator process. The
// on-disk protocol must never let two live hosts believe they hold the same lock; the ledger
// counts every time that happens (the tests assert none, the exit status says so), and which
// host took a lock over from which (a lock handed over between hosts on different paths or
// gateways is what shows that they see one medium).

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

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
        auto [last, first] = last_holders_.try_emplace(lock, host);
        if (!first && last->second != host) {
            ++handovers_[{last->second, host}];
        }
        last->second = host;
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

    // (from host, to host) -> how many times `to` acquired a lock whose previous holder was
    // `from`.
    std::map<std::pair<int, int>, uint64_t> handovers() const {
        std::lock_guard guard(mutex_);
        return handovers_;
    }

  private:
    Log& log_;
    mutable std::mutex mutex_;
    std::map<int, int> holders_;       // lock index -> host number
    std::map<int, int> last_holders_;  // lock index -> the host that acquired it last
    std::map<std::pair<int, int>, uint64_t> handovers_;
    uint64_t conflicts_ = 0;
    uint64_t acquisitions_ = 0;
};

}  // namespace atsarray::sim
