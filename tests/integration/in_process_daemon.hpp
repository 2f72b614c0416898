#pragma once
// The daemon in the test's own process, for tests that read its C++ APIs (the accounting
// registry) while real libiscsi sessions drive it over loopback.

#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "target/daemon/config.hpp"
#include "target/daemon/daemon.hpp"
#include "tests/integration/daemon_process.hpp"

namespace atsarray::testing {

class InProcessDaemon {
  public:
    // `config_body` is everything but the portal, which is added on a free loopback port
    // (`@PORT@` in the body stands for it); `top_level` holds keys that must come before any
    // table (data_dir, ...).
    explicit InProcessDaemon(std::string config_body, const std::string& top_level = "")
        : port_(free_port()) {
        for (size_t at = config_body.find("@PORT@"); at != std::string::npos;
             at = config_body.find("@PORT@", at)) {
            config_body.replace(at, 6, std::to_string(port_));
        }
        const auto path = dir_.path() / "atsarray.toml";
        std::ofstream(path) << top_level
                            << "log_level = \"warn\"\n[[portal]]\naddress = \"127.0.0.1\"\nport = "
                            << port_ << "\n"
                            << config_body;
        daemon_ = std::make_unique<daemon::Daemon>(daemon::load_config(path.string()));
        thread_ = std::thread([this] { daemon_->run(); });
        for (int i = 0; i < 500 && !can_connect(port_); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!can_connect(port_)) {
            stop();
            throw std::runtime_error("in-process daemon did not listen");
        }
    }
    ~InProcessDaemon() { stop(); }
    InProcessDaemon(const InProcessDaemon&) = delete;
    InProcessDaemon& operator=(const InProcessDaemon&) = delete;

    std::string portal() const { return "127.0.0.1:" + std::to_string(port_); }
    uint16_t port() const { return port_; }
    daemon::Daemon& daemon() { return *daemon_; }

  private:
    void stop() {
        if (thread_.joinable()) {
            daemon_->stop();
            thread_.join();
        }
    }

    TempDir dir_;
    uint16_t port_;
    std::unique_ptr<daemon::Daemon> daemon_;
    std::thread thread_;
};

}  // namespace atsarray::testing
