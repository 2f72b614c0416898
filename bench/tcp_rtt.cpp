// tcp_rtt: the floor under a queue-depth-1 iSCSI command on this machine, a raw TCP round trip
// over loopback with nothing on either side. A server thread and a client in one process, blocking
// sockets, TCP_NODELAY, one request in flight: a "write" sends 4096+48 bytes and gets 48 back (a
// SCSI Command PDU's 48-byte header with immediate data, then a SCSI Response, RFC 7143 §11.3 and
// §11.4), a "read" sends 48 and gets 48+4096 back (a Data-In PDU carrying status, §11.7). One
// result line per shape: round trips, p50/p99 and mean in microseconds. bench/run_vs_tgt.sh holds
// the 4 KiB queue-depth-1 latencies next to it.
#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t header_bytes = 48;  // a Basic Header Segment (RFC 7143 §11.2.1)

struct Shape {
    std::string name;
    size_t request = 0;
    size_t response = 0;
};

// A file descriptor closed on scope exit.
class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    ~Fd() { close(); }
    int get() const { return fd_; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

  private:
    int fd_;
};

// Moves `bytes` through `io` (send or recv on a blocking socket) until all moved; false when the
// peer is gone.
template <typename Byte, typename Io>
bool move_all(Byte* data, size_t bytes, Io io) {
    while (bytes > 0) {
        const ssize_t n = io(data, bytes);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data += n;
        bytes -= static_cast<size_t>(n);
    }
    return true;
}

bool send_all(int fd, const uint8_t* data, size_t bytes) {
    return move_all(data, bytes,
                    [fd](const uint8_t* p, size_t n) { return ::send(fd, p, n, MSG_NOSIGNAL); });
}

bool recv_all(int fd, uint8_t* data, size_t bytes) {
    return move_all(data, bytes,
                    [fd](uint8_t* p, size_t n) { return ::recv(fd, p, n, MSG_WAITALL); });
}

void set_nodelay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Answers every `request`-byte message with `response` bytes until the client closes.
void serve(Fd listener, size_t request, size_t response) {
    Fd conn(::accept(listener.get(), nullptr, nullptr));
    if (conn.get() < 0) {
        return;
    }
    set_nodelay(conn.get());
    std::vector<uint8_t> in(request);
    std::vector<uint8_t> out(response, 0x5a);
    while (recv_all(conn.get(), in.data(), in.size()) &&
           send_all(conn.get(), out.data(), out.size())) {
    }
}

double percentile_us(std::vector<uint64_t>& ns, double p) {
    if (ns.empty()) {
        return 0;
    }
    std::sort(ns.begin(), ns.end());
    const auto at = static_cast<size_t>(p / 100.0 * static_cast<double>(ns.size() - 1));
    return static_cast<double>(ns[at]) / 1000.0;
}

// One shape for `seconds`: prints its result line; false on a socket failure.
bool measure(const Shape& shape, double seconds) {
    Fd listener(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    // Port 0: the kernel picks a free one, read back with getsockname.
    if (listener.get() < 0 ||
        ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener.get(), 1) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
        std::printf("tcp_rtt shape=%s status=error error=\"listen: %s\"\n", shape.name.c_str(),
                    std::strerror(errno));
        return false;
    }
    std::thread server(serve, std::move(listener), shape.request, shape.response);

    Fd client(::socket(AF_INET, SOCK_STREAM, 0));
    bool ok = client.get() >= 0 &&
              ::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    std::vector<uint64_t> latency_ns;
    double elapsed = 0;
    if (ok) {
        set_nodelay(client.get());
        std::vector<uint8_t> out(shape.request, 0xa5);
        std::vector<uint8_t> in(shape.response);
        const auto start = Clock::now();
        const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds));
        auto now = start;
        while (now < deadline) {
            const auto sent = now;
            if (!send_all(client.get(), out.data(), out.size()) ||
                !recv_all(client.get(), in.data(), in.size())) {
                ok = false;
                break;
            }
            now = Clock::now();
            latency_ns.push_back(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent).count()));
        }
        elapsed = std::chrono::duration<double>(now - start).count();
    }
    const std::string error = ok ? "" : std::strerror(errno);
    client.close();  // the server's recv sees end of stream
    server.join();
    if (!ok) {
        std::printf("tcp_rtt shape=%s status=error error=\"%s\"\n", shape.name.c_str(),
                    error.c_str());
        return false;
    }
    const double sum =
        std::accumulate(latency_ns.begin(), latency_ns.end(), 0.0,
                        [](double a, uint64_t v) { return a + static_cast<double>(v); });
    const auto n = static_cast<double>(latency_ns.size());
    std::printf(
        "tcp_rtt shape=%s request=%zu response=%zu status=ok seconds=%.2f ops=%zu "
        "rate=%.0f p50_us=%.1f p99_us=%.1f mean_us=%.1f error=\"\"\n",
        shape.name.c_str(), shape.request, shape.response, elapsed, latency_ns.size(),
        elapsed > 0 ? n / elapsed : 0, percentile_us(latency_ns, 50), percentile_us(latency_ns, 99),
        n > 0 ? sum / n / 1000.0 : 0);
    std::fflush(stdout);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string which = "both";
    double seconds = 5;
    size_t data_bytes = 4096;
    CLI::App app{"tcp_rtt: raw TCP round trips over loopback, one in flight, one line per shape"};
    app.add_option("--shape", which,
                   "write: client sends data+48, server answers 48; read: "
                   "client sends 48, server answers 48+data; both")
        ->check(CLI::IsMember({"write", "read", "both"}));
    app.add_option("--seconds", seconds, "duration per shape")->check(CLI::Range(0.1, 3600.0));
    app.add_option("--bytes", data_bytes, "data bytes of a round trip (besides the 48)")
        ->check(CLI::Range(size_t{0}, size_t{16} << 20));
    CLI11_PARSE(app, argc, argv);

    std::vector<Shape> shapes;
    if (which != "read") {
        shapes.push_back({"write", data_bytes + header_bytes, header_bytes});
    }
    if (which != "write") {
        shapes.push_back({"read", header_bytes, header_bytes + data_bytes});
    }
    bool ok = true;
    for (const Shape& shape : shapes) {
        ok = measure(shape, seconds) && ok;
    }
    return ok ? 0 : 1;
}
