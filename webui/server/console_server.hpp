#pragma once
// The web console's server: Boost.Beast HTTP/1.1 and WebSocket on a thread of its own, apart
// from the iSCSI I/O threads (the Beast advanced-server shape). HTTP requests go to the Router;
// WebSocket clients of /api/v1/stream get a tick about once a second from one TickBuilder.

#include <cstdint>
#include <memory>
#include <string>

#include "webui/server/console_model.hpp"
#include "webui/server/router.hpp"

namespace atsarray::webui {

struct ConsoleSettings {
    std::string address = "127.0.0.1";
    uint16_t port = 8080;  // 0: any free port (tests)
    std::string token;     // empty: a random one (loopback only)
    std::string static_dir;
};

class ConsoleServer {
  public:
    // Binds at once; throws std::runtime_error with a readable message when it cannot.
    ConsoleServer(ConsoleSettings settings, ConsoleModel& model);
    ~ConsoleServer();  // stops and joins
    ConsoleServer(const ConsoleServer&) = delete;
    ConsoleServer& operator=(const ConsoleServer&) = delete;

    void start();
    void stop();
    // "127.0.0.1:8080": where it listens.
    std::string address() const;
    uint16_t port() const;
    const std::string& token() const;

    struct Impl;  // console_server.cpp: the listener, the sessions and the ticks share it

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace atsarray::webui
