#include "backend/inline_writes.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

namespace atsarray::backend {

InlineWritePolicy::InlineWritePolicy(const InlineWriteOptions& options, std::string image)
    : image_(std::move(image)),
      stall_threshold_(options.inline_stall_threshold),
      backoff_base_(std::max(options.inline_backoff, std::chrono::nanoseconds(1))),
      backoff_cap_(std::max(options.inline_backoff_cap, backoff_base_)),
      max_bytes_(options.inline_max_bytes),
      clock_(options.clock),
      voluntary_switches_(options.voluntary_switches),
      backoff_current_(backoff_base_) {}

InlineWritePolicy::~InlineWritePolicy() {
    if (inline_writes() + would_block_total() == 0) {
        return;
    }
    const WouldBlockCounts c = would_block_counts();
    spdlog::info(
        "image {}: {} writes on the I/O thread, {} handed to a worker (waits {}, large {}, "
        "uncached page {}, busy {}, backing off {}, kernel {}), {} stalls, {} slow but "
        "preempted, {} short RWF_NOWAIT writes finished inline",
        image_, inline_writes(), would_block_total(), c.waits, c.large, c.uncached_page, c.busy,
        c.backing_off, c.kernel, stalls(), c.slow_preempted, c.kernel_short_finished);
}

Status InlineWritePolicy::would_block(Reason reason) {
    would_block_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    return Status::error(StoreErrc::would_block);
}

std::optional<InlineWritePolicy::Mark> InlineWritePolicy::start_inline_write() {
    const auto started = now();
    if (std::chrono::nanoseconds(started.time_since_epoch()).count() <
        paused_until_.load(std::memory_order_relaxed)) {
        return std::nullopt;
    }
    return Mark{started, voluntary_switches()};
}

void InlineWritePolicy::note_inline_write(const Mark& start) {
    const auto end = now();
    if (end - start.time < stall_threshold_) {
        return;
    }
    if (voluntary_switches() == start.voluntary_switches) {
        slow_preempted_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    stalls_.fetch_add(1, std::memory_order_relaxed);
    const std::lock_guard lock(stall_mutex_);
    const int64_t end_ns = std::chrono::nanoseconds(end.time_since_epoch()).count();
    const int64_t paused_until = paused_until_.load(std::memory_order_relaxed);
    if (end_ns < paused_until) {
        return;  // another thread's stall of the same moment already turned inline writes off
    }
    // A stall within one period of the last back-off's end: the file system keeps stalling.
    const bool repeated = paused_until != std::numeric_limits<int64_t>::min() &&
                          end_ns - paused_until < backoff_current_.count();
    backoff_current_ = repeated ? std::min(backoff_current_ * 2, backoff_cap_) : backoff_base_;
    paused_until_.store(end_ns + backoff_current_.count(), std::memory_order_relaxed);
    const auto took_us = std::chrono::duration_cast<std::chrono::microseconds>(end - start.time);
    const auto off_ms = std::chrono::duration_cast<std::chrono::milliseconds>(backoff_current_);
    if (!stall_logged_) {
        stall_logged_ = true;
        spdlog::info(
            "image {}: a write on the I/O thread took {} us; writes go to workers for "
            "{} ms (and longer while this repeats; logged once)",
            image_, took_us.count(), off_ms.count());
    } else {
        spdlog::debug("image {}: inline write stall of {} us; writes go to workers for {} ms",
                      image_, took_us.count(), off_ms.count());
    }
}

std::chrono::steady_clock::time_point InlineWritePolicy::now() const {
    return clock_ ? clock_() : std::chrono::steady_clock::now();
}

uint64_t InlineWritePolicy::voluntary_switches() const {
    if (voluntary_switches_) {
        return voluntary_switches_();
    }
    struct rusage ru = {};
    if (::getrusage(RUSAGE_THREAD, &ru) != 0) {
        return 0;
    }
    return static_cast<uint64_t>(ru.ru_nvcsw);
}

uint64_t InlineWritePolicy::would_block_total() const {
    uint64_t total = 0;
    for (const auto& count : would_block_) {
        total += count.load(std::memory_order_relaxed);
    }
    return total;
}

InlineWritePolicy::WouldBlockCounts InlineWritePolicy::would_block_counts() const {
    const auto count = [this](Reason reason) {
        return would_block_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
    };
    WouldBlockCounts c;
    c.waits = count(Reason::waits);
    c.large = count(Reason::large);
    c.uncached_page = count(Reason::uncached_page);
    c.busy = count(Reason::busy);
    c.backing_off = count(Reason::backing_off);
    c.kernel = count(Reason::kernel);
    c.slow_preempted = slow_preempted_.load(std::memory_order_relaxed);
    c.kernel_short_finished = kernel_short_finished_.load(std::memory_order_relaxed);
    return c;
}

}  // namespace atsarray::backend
