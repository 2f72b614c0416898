#pragma once
// A token bucket for log lines that can come in storms (a miscompare per ATS under contention):
// `burst` lines at once, then `per_second`; what it holds back is counted and reported with the
// next line that passes, so the log says how much it left out.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace atsarray::ats {

class RateLimit {
  public:
    using Clock = std::chrono::steady_clock;

    RateLimit(double per_second, double burst) : rate_(per_second), burst_(burst), tokens_(burst) {}

    // The number of lines held back since the last one that passed, when this one may pass;
    // nullopt when it must be held back too.
    std::optional<uint64_t> admit(Clock::time_point now = Clock::now()) {
        std::lock_guard lock(mutex_);
        if (last_ != Clock::time_point{}) {
            const double elapsed = std::chrono::duration<double>(now - last_).count();
            tokens_ = std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
        }
        last_ = now;
        if (tokens_ < 1.0) {
            ++suppressed_;
            return std::nullopt;
        }
        tokens_ -= 1.0;
        const uint64_t held_back = suppressed_;
        suppressed_ = 0;
        return held_back;
    }

  private:
    std::mutex mutex_;
    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point last_{};
    uint64_t suppressed_ = 0;
};

}  // namespace atsarray::ats
