#pragma once
// A loopback TCP proxy in front of one portal, so a test can take that path down the two ways a
// controller fails: `down()` resets every connection (RST) and refuses new ones until `up()`;
// `blackhole()` keeps the connections open and forwards nothing either way (ESXi's All Paths
// Down when every path does it). One thread polls everything.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_process.hpp"

namespace atsarray::testing {

class TcpProxy {
  public:
    explicit TcpProxy(uint16_t upstream) : upstream_(upstream), port_(free_port()) {
        listen_on();
        thread_ = std::thread([this] { run(); });
    }
    ~TcpProxy() {
        stop_ = true;
        thread_.join();
        reset_all();
        close_listener();
    }
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    std::string portal() const { return "127.0.0.1:" + std::to_string(port_); }
    void up() { set(Mode::forward); }
    void down() { set(Mode::down); }
    void blackhole() { set(Mode::blackhole); }

  private:
    enum class Mode { forward, down, blackhole };
    struct Pair {
        int client = -1;
        int server = -1;
    };

    void set(Mode m) {
        wanted_ = m;
        while (applied_.load() != m) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    void listen_on() {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        const int one = 1;
        ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port_);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(listener_, 64) != 0) {
            close_listener();
        }
    }
    void close_listener() {
        if (listener_ >= 0) {
            ::close(listener_);
            listener_ = -1;
        }
    }
    static void reset(int fd) {
        if (fd >= 0) {
            const linger l{1, 0};  // close with RST
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            ::close(fd);
        }
    }
    void reset_all() {
        for (Pair& p : pairs_) {
            reset(p.client);
            reset(p.server);
        }
        pairs_.clear();
    }

    void accept_one() {
        const int c = ::accept(listener_, nullptr, nullptr);
        if (c < 0) {
            return;
        }
        const int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(upstream_);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            reset(c);
            ::close(s);
            return;
        }
        pairs_.push_back(Pair{c, s});
    }

    // Copies what is readable from `from` to `to`; false when either side is closed.
    static bool copy(int from, int to) {
        char buf[65536];
        const ssize_t n = ::recv(from, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
        for (ssize_t sent = 0; sent < n;) {
            const ssize_t w = ::send(to, buf + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
            if (w <= 0) {
                return false;
            }
            sent += w;
        }
        return true;
    }

    void run() {
        while (!stop_.load()) {
            const Mode m = wanted_.load();
            if (m != applied_.load()) {
                if (m == Mode::down) {
                    reset_all();
                    close_listener();
                } else if (m == Mode::forward && listener_ < 0) {
                    listen_on();
                }
                applied_ = m;
            }
            std::vector<pollfd> fds;
            if (listener_ >= 0) {
                fds.push_back(pollfd{listener_, POLLIN, 0});
            }
            const size_t first = fds.size();
            const size_t polled = m == Mode::forward ? pairs_.size() : 0;
            for (size_t i = 0; i < polled; ++i) {
                fds.push_back(pollfd{pairs_[i].client, POLLIN, 0});
                fds.push_back(pollfd{pairs_[i].server, POLLIN, 0});
            }
            ::poll(fds.data(), fds.size(), 10);
            if (first == 1 && (fds[0].revents & POLLIN) != 0) {
                accept_one();
            }
            std::vector<Pair> alive;
            constexpr short ready = POLLIN | POLLHUP | POLLERR;
            for (size_t i = 0; i < polled; ++i) {
                const Pair& p = pairs_[i];
                bool ok = true;
                if ((fds[first + 2 * i].revents & ready) != 0) {
                    ok = copy(p.client, p.server);
                }
                if (ok && (fds[first + 2 * i + 1].revents & ready) != 0) {
                    ok = copy(p.server, p.client);
                }
                if (ok) {
                    alive.push_back(p);
                } else {
                    reset(p.client);
                    reset(p.server);
                }
            }
            // Pairs not polled this round (blackholed, or accepted just now) stay as they are.
            for (size_t i = polled; i < pairs_.size(); ++i) {
                alive.push_back(pairs_[i]);
            }
            pairs_ = std::move(alive);
        }
    }

    uint16_t upstream_;
    uint16_t port_;
    int listener_ = -1;
    std::vector<Pair> pairs_;
    std::atomic<Mode> wanted_{Mode::forward};
    std::atomic<Mode> applied_{Mode::forward};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace atsarray::testing
