#pragma once
// What an accept loop does when accept(2) fails (issue 12: the portal at EMFILE spun at 98% CPU and
// logged 328,000 lines a second). The connection that could not be accepted stays in the backlog
// and the listening socket stays readable, so accepting again at once fails again at once: the
// loop waits instead, 100 ms doubling to 1 s, and accepts at full speed again after a connection
// comes. The log gets one line when the failures start, at most one more per summary interval with
// the count of failures since, and one when accepting works again.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "target/ats/rate_limit.hpp"

namespace atsarray::net {

// Outside the class: a nested struct with member initializers cannot be a default argument of
// its own class's constructor (it is incomplete there).
struct AcceptBackoffSettings {
    std::chrono::milliseconds first_delay{100};
    std::chrono::milliseconds max_delay{1000};
    std::chrono::seconds summary_interval{30};
};

class AcceptBackoff {
  public:
    using Clock = std::chrono::steady_clock;
    using Log = std::function<void(const std::string&)>;
    using Settings = AcceptBackoffSettings;

    // `listener` names the loop in the log ("iscsi portal 127.0.0.1:3260"); `log` receives the
    // lines (default: spdlog's warning level).
    AcceptBackoff(const boost::asio::any_io_executor& executor, std::string listener,
                  Settings settings = {}, Log log = {});

    // The accept loop's one call after each accept. True: accept again now (a connection came, or
    // the error was the peer's). False: do not; the acceptor was closed, or `retry` runs once the
    // wait is over (unless stop() comes first).
    bool accept_now(const boost::system::error_code& ec, std::function<void()> retry);
    // Cancels a pending wait: its `retry` does not run.
    void stop();

    // The policy without the timer, for accept_now() and for tests with their own clock.
    // A failed accept at `now`: how long to wait before the next one; logs per the rules above.
    std::chrono::milliseconds failed(const boost::system::error_code& ec, Clock::time_point now);
    // An accepted connection: the next failure waits first_delay again.
    void accepted();
    // Errors that are about one incoming connection, not the listener: Linux reports the new
    // connection's pending network errors from accept(2) and asks to treat them like EAGAIN
    // (accept(2) NOTES); ECONNABORTED is a peer that gave up while queued.
    static bool peer_error(const boost::system::error_code& ec);

    uint64_t failures() const { return failures_; }  // failed accepts since start
    bool waiting() const { return waiting_; }

  private:
    boost::asio::steady_timer timer_;
    std::string listener_;
    Settings settings_;
    Log log_;
    ats::RateLimit log_limit_;
    std::chrono::milliseconds next_delay_;
    uint64_t failures_ = 0;
    uint64_t failures_in_run_ = 0;  // since the last accepted connection
    bool run_logged_ = false;       // the current run of failures has been told to the log
    bool waiting_ = false;
};

}  // namespace atsarray::net
