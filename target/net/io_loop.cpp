#include "target/net/io_loop.hpp"

#include <sched.h>

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

namespace atsarray::net {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr nanoseconds min_window = std::chrono::microseconds(2);

// The loop itself; returns normally when the context stops or runs out of work, throws what a
// handler threw.
void poll_then_sleep(boost::asio::io_context& context, PollWindow& window, IoLoopCounts& counts) {
    bool idle = false;
    Clock::time_point idle_since;
    while (!context.stopped()) {
        if (context.poll() > 0) {
            if (idle) {
                ++counts.caught;
                idle = false;
            }
            continue;
        }
        const Clock::time_point now = Clock::now();
        if (!idle) {
            idle = true;
            idle_since = now;
        }
        if (now - idle_since < window.window()) {
            ::sched_yield();
            continue;
        }
        if (context.run_one() == 0) {
            return;  // stopped, or out of work
        }
        const Clock::time_point woke = Clock::now();
        window.woken(now - idle_since, woke - now);
        ++counts.woken;
        idle = false;
    }
}

}  // namespace

void PollWindow::woken(nanoseconds polled, nanoseconds slept) {
    const nanoseconds idle = polled + slept;
    if (idle <= max_) {
        window_ = max_;
        return;
    }
    window_ /= 2;
    if (window_ < min_window) {
        window_ = nanoseconds(0);
    }
}

IoLoopCounts run_io_loop(boost::asio::io_context& context, std::chrono::microseconds max_poll,
                         const char* name) {
    IoLoopCounts counts;
    PollWindow window(max_poll);
    for (;;) {
        try {
            if (max_poll.count() <= 0) {
                context.run();
            } else {
                poll_then_sleep(context, window, counts);
            }
            break;
        } catch (const std::exception& e) {
            spdlog::error("{} thread: a handler failed: {} (the thread goes on)", name, e.what());
        }
    }
    if (counts.caught + counts.woken > 0) {
        spdlog::debug("{} thread: {} idle times ended while polling, {} in a sleep", name,
                      counts.caught, counts.woken);
    }
    return counts;
}

}  // namespace atsarray::net
