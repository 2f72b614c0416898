#include "target/iscsi/portal.hpp"

#include <spdlog/spdlog.h>

#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/net/accept_backoff.hpp"

namespace atsarray::iscsi {

namespace asio = boost::asio;

Portal::Portal(asio::io_context& accept_context, const asio::ip::tcp::endpoint& endpoint,
               ContextPicker next_context, ServerState& state, std::optional<uint16_t> group)
    : acceptor_(accept_context), next_context_(std::move(next_context)), state_(state) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    const auto ep = acceptor_.local_endpoint();
    // Appended piece by piece: GCC 12 -O3 misreads "[" + s + "]" as an overlapping copy
    // (-Werror=restrict).
    if (ep.address().is_v6()) {
        address_ += '[';
        address_ += ep.address().to_string();
        address_ += ']';
    } else {
        address_ += ep.address().to_string();
    }
    address_ += ':';
    address_ += std::to_string(ep.port());
    info_ = PortalInfo{address_, group};
    backoff_ = std::make_unique<net::AcceptBackoff>(accept_context.get_executor(),
                                                    fmt::format("iscsi portal {}", address_));
}

Portal::~Portal() = default;

void Portal::start() {
    accept_next();
}

void Portal::stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    backoff_->stop();
}

void Portal::accept_next() {
    acceptor_.async_accept(next_context_(), [this](const boost::system::error_code& ec,
                                                   asio::ip::tcp::socket socket) {
        if (!acceptor_.is_open()) {
            return;
        }
        // Out of descriptors or memory the backoff waits before the next accept (issue 12:
        // accepting again at once spun at 98% CPU) and says so in the log once.
        const uint64_t failures = backoff_->failures();
        const bool again = backoff_->accept_now(ec, [this] {
            if (acceptor_.is_open()) {
                accept_next();
            }
        });
        state_.failed_accepts.fetch_add(backoff_->failures() - failures, std::memory_order_relaxed);
        if (!again) {
            return;
        }
        if (!ec) {
            start_connection(std::move(socket));
        }
        accept_next();
    });
}

void Portal::start_connection(asio::ip::tcp::socket socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) {
        return;  // the peer is gone already
    }
    // A path_down of this portal's group that names no initiator and no target: the port is
    // dead, the SYN answered and the connection reset at once (RST).
    if (auto down =
            state_.path_faults.find(PathFault::Kind::down, info_.group.value_or(0), "", "")) {
        boost::system::error_code ignored;
        socket.set_option(asio::socket_base::linger(true, 0), ignored);
        socket.close(ignored);
        return;
    }
    ConnectionLimits::Admission admission =
        state_.connection_limits.admit(address_, remote.address().to_string());
    if (admission.refused() && !admission.slot.held()) {
        return;  // more refusals than ConnectionLimits::max_pending_refusals wait: no answer
    }
    auto conn =
        std::make_shared<Connection>(std::move(socket), state_, std::move(admission), info_);
    {
        std::lock_guard lock(mu_);
        std::erase_if(connections_, [](const auto& w) { return w.expired(); });
        connections_.push_back(conn);
    }
    // Start on the connection's own context; from now on only that thread touches it.
    asio::post(conn->executor(), [conn] { conn->start(); });
}

std::vector<std::shared_ptr<Connection>> Portal::connections() {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Connection>> out;
    for (const auto& w : connections_) {
        if (auto c = w.lock()) {
            out.push_back(std::move(c));
        }
    }
    return out;
}

}  // namespace atsarray::iscsi
