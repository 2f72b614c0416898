#include "target/net/accept_backoff.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <cerrno>

namespace atsarray::net {

AcceptBackoff::AcceptBackoff(const boost::asio::any_io_executor& executor, std::string listener,
                             Settings settings, Log log)
    : timer_(executor),
      listener_(std::move(listener)),
      settings_(settings),
      log_(log ? std::move(log) : Log([](const std::string& line) { spdlog::warn("{}", line); })),
      // The first line of a run passes at once, then one per summary interval.
      log_limit_(1.0 / static_cast<double>(std::max<int64_t>(1, settings.summary_interval.count())),
                 1.0),
      next_delay_(settings.first_delay) {}

bool AcceptBackoff::peer_error(const boost::system::error_code& ec) {
    if (ec.category() != boost::system::system_category()) {
        return false;
    }
    switch (ec.value()) {
        case ECONNABORTED:
        case EAGAIN:
        case EINTR:
        case EPERM:  // a firewall rule refused this connection
        case EPROTO:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETDOWN:
        case ENETUNREACH:
            return true;
        default:
            return false;
    }
}

std::chrono::milliseconds AcceptBackoff::failed(const boost::system::error_code& ec,
                                                Clock::time_point now) {
    ++failures_;
    ++failures_in_run_;
    const std::chrono::milliseconds delay = next_delay_;
    next_delay_ = std::min(settings_.max_delay, next_delay_ * 2);
    if (const auto held_back = log_limit_.admit(now)) {
        std::string line = fmt::format("{}: accept failed: {}", listener_, ec.message());
        if (*held_back > 0) {
            line += fmt::format(" ({} more failed accepts since the last line)", *held_back);
        }
        line += fmt::format("; waiting {} ms between accepts, up to {} ms, while it lasts",
                            delay.count(), settings_.max_delay.count());
        log_(line);
        run_logged_ = true;
    }
    return delay;
}

void AcceptBackoff::accepted() {
    if (failures_in_run_ > 0 && run_logged_) {
        log_(fmt::format("{}: accepting again after {} failed accepts", listener_,
                         failures_in_run_));
    }
    failures_in_run_ = 0;
    run_logged_ = false;
    next_delay_ = settings_.first_delay;
}

bool AcceptBackoff::accept_now(const boost::system::error_code& ec, std::function<void()> retry) {
    if (!ec) {
        accepted();
        return true;
    }
    if (ec == boost::asio::error::operation_aborted) {
        return false;
    }
    if (peer_error(ec)) {
        return true;
    }
    // Anything else (EMFILE, ENFILE, ENOMEM, ENOBUFS and whatever else accept(2) may say about
    // the listener) would fail again at once: wait.
    waiting_ = true;
    timer_.expires_after(failed(ec, Clock::now()));
    timer_.async_wait([this, retry = std::move(retry)](const boost::system::error_code& wait_ec) {
        waiting_ = false;
        if (!wait_ec) {
            retry();
        }
    });
    return false;
}

void AcceptBackoff::stop() {
    timer_.cancel();
}

}  // namespace atsarray::net
