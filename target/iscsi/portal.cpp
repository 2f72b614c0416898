#include "target/iscsi/portal.hpp"

#include <spdlog/spdlog.h>

#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"

namespace atsarray::iscsi {

namespace asio = boost::asio;

Portal::Portal(asio::io_context& accept_context, const asio::ip::tcp::endpoint& endpoint,
               ContextPicker next_context, ServerState& state)
    : acceptor_(accept_context), next_context_(std::move(next_context)), state_(state) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

std::string Portal::address() const {
    boost::system::error_code ec;
    const auto ep = acceptor_.local_endpoint(ec);
    if (ec) {
        return "?";
    }
    // Appended piece by piece: GCC 12 -O3 misreads "[" + s + "]" as an overlapping copy
    // (-Werror=restrict).
    std::string out;
    if (ep.address().is_v6()) {
        out += '[';
        out += ep.address().to_string();
        out += ']';
    } else {
        out += ep.address().to_string();
    }
    out += ':';
    out += std::to_string(ep.port());
    return out;
}

void Portal::start() {
    accept_next();
}

void Portal::stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
}

void Portal::accept_next() {
    acceptor_.async_accept(
        next_context_(), [this](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
                return;
            }
            if (!ec) {
                auto conn = std::make_shared<Connection>(std::move(socket), state_);
                {
                    std::lock_guard lock(mu_);
                    std::erase_if(connections_, [](const auto& w) { return w.expired(); });
                    connections_.push_back(conn);
                }
                // Start on the connection's own context; from now on only that thread touches it.
                asio::post(conn->executor(), [conn] { conn->start(); });
            } else {
                spdlog::warn("iscsi portal {}: accept failed: {}", address(), ec.message());
            }
            accept_next();
        });
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
