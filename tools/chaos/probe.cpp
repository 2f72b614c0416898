#include "tools/chaos/probe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace atsarray::chaos {

std::optional<uint64_t> resident_bytes(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoull(line.substr(6)) * 1024;
        }
    }
    return std::nullopt;
}

std::optional<std::map<std::string, double>> scrape_metrics(const std::string& host, uint16_t port,
                                                            std::string& error) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (fd < 0 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        error = "console " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
        if (fd >= 0) {
            ::close(fd);
        }
        return std::nullopt;
    }
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string response;
    char buf[16384];
    while (true) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) {
            break;
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        response.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    const size_t body = response.find("\r\n\r\n");
    if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") > 12 ||
        body == std::string::npos) {
        error = "console " + host + ":" + std::to_string(port) + ": /metrics did not answer 200";
        return std::nullopt;
    }
    std::map<std::string, double> samples;
    std::istringstream lines(response.substr(body + 4));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#' || line.find('{') != std::string::npos) {
            continue;
        }
        const size_t space = line.find(' ');
        if (space != std::string::npos) {
            samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
        }
    }
    return samples;
}

}  // namespace atsarray::chaos
