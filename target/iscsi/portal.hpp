#pragma once
// A network portal (a Network Portal in RFC 7143's definitions): one listening socket. Each
// accepted connection is placed on the next I/O context of the pool and lives there.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "target/iscsi/portal_info.hpp"

namespace atsarray::iscsi {

class Connection;
struct ServerState;
}  // namespace atsarray::iscsi
namespace atsarray::net {
class AcceptBackoff;
}
namespace atsarray::iscsi {

class Portal {
  public:
    using ContextPicker = std::function<boost::asio::io_context&()>;

    // Binds and listens; throws boost::system::system_error when the address cannot be used.
    // `group`: the target port group it belongs to (PortalInfo), nullopt without groups.
    Portal(boost::asio::io_context& accept_context, const boost::asio::ip::tcp::endpoint& endpoint,
           ContextPicker next_context, ServerState& state,
           std::optional<uint16_t> group = std::nullopt);
    ~Portal();

    void start();
    void stop();  // no more accepts; existing connections stay
    const std::string& address() const { return address_; }
    const PortalInfo& info() const { return info_; }

    // Every connection accepted here that is still alive (for shutdown).
    std::vector<std::shared_ptr<Connection>> connections();

  private:
    void accept_next();
    // A connection accepted: counted against the limits and started, or refused.
    void start_connection(boost::asio::ip::tcp::socket socket);

    boost::asio::ip::tcp::acceptor acceptor_;
    std::string address_;  // "address:port", for the log and the per-portal limit
    PortalInfo info_;
    std::unique_ptr<net::AcceptBackoff> backoff_;
    ContextPicker next_context_;
    ServerState& state_;
    std::mutex mu_;
    std::vector<std::weak_ptr<Connection>> connections_;
};

}  // namespace atsarray::iscsi
