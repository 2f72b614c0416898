#pragma once
// An I/O thread's run loop that polls for a while before it sleeps (issue 17).
//
// Why: an io_context thread that runs out of work blocks in epoll_wait, and the next request's
// arrival then has to wake it. On this kind of machine (a VM, loopback) a wake-up is the largest
// single cost of a queue-depth-1 command: measured on a memory LUN, 4 KiB reads took 62 us per
// command with a sleeping I/O thread and 30 us with one that kept polling, a raw TCP round trip
// between two blocking threads about 55 us. The initiator that waits for each answer before it
// sends its next command (a VMFS heartbeat, a lock, a sync-heavy guest) is the one that pays.
//
// How: after the last handler ran, the thread keeps polling (epoll_wait with no timeout, then
// sched_yield so that a thread waiting for this core runs first) for up to `window`, then sleeps.
// The window adapts like KVM's halt polling, to the gaps this thread sees:
// - a poll that catches work keeps the window;
// - an idle time (poll and sleep) no longer than `max` opens the window to `max`: a poll would
//   have caught it. (Opening only to the gap seen, plus a margin, kept missing: a gap that ends
//   in a sleep looks longer by the wake-up itself. Measured on a memory LUN at QD1, one I/O
//   thread: io_poll_us 50 catches 86 % of the gaps, 100 nearly all. The default, 200, is KVM's
//   halt_poll_ns default: in this VM's slow phases the gap between an answer and the next
//   command grows past 50 us, and a 50 us cap then closed the window for a whole bench row.)
// - an idle time longer than `max` halves the window, and below 2 us it is 0: a thread whose
//   connections pause longer than `max`, or that has none, sleeps at once and costs nothing.
// A thread under load (queue depth > 1) rarely runs out of work, so it rarely polls. A thread that
// serves one command at a time polls for the gap between the answer and the next command, at most
// `max` per command: at QD1 on loopback the daemon then uses most of a core where it used 45 %.
// A silent thread polls `max` once, then sleeps. `io_poll_us` in the config sets `max`; 0 never
// polls.

#include <chrono>
#include <cstdint>

#include <boost/asio/io_context.hpp>

namespace atsarray::net {

class PollWindow {
  public:
    explicit PollWindow(std::chrono::nanoseconds max) : max_(max) {}

    // How long the thread polls at the start of its next idle time. An idle time that a poll
    // ended leaves it as it is.
    std::chrono::nanoseconds window() const { return window_; }

    // An idle time ended with work that woke the thread: it polled `polled`, then slept `slept`.
    void woken(std::chrono::nanoseconds polled, std::chrono::nanoseconds slept);

  private:
    std::chrono::nanoseconds max_;
    std::chrono::nanoseconds window_{0};
};

// What an I/O thread's loop did, for its exit log line and the tests.
struct IoLoopCounts {
    uint64_t caught = 0;  // idle times that polling ended
    uint64_t woken = 0;   // idle times that ended in a sleep
};

// Runs `context` like io_context::run() (until stopped or out of work), polling as described
// above for at most `max_poll` (0: run() itself). A handler that throws is logged with `name` and
// the loop goes on: one request's failure must not end the thread. The daemon runs every one of
// its io_contexts with it (the accept loop's with 0).
IoLoopCounts run_io_loop(boost::asio::io_context& context, std::chrono::microseconds max_poll,
                         const char* name);

}  // namespace atsarray::net
