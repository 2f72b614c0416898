#include "tools/iscsi_wire/wire.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace atsarray::wire {

void put32(std::span<uint8_t> b, size_t at, uint32_t v) {
    for (size_t i = 0; i < 4; ++i) {
        b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
    }
}

void put24(std::span<uint8_t> b, size_t at, uint32_t v) {
    b[at] = static_cast<uint8_t>(v >> 16);
    b[at + 1] = static_cast<uint8_t>(v >> 8);
    b[at + 2] = static_cast<uint8_t>(v);
}

uint32_t get32(std::span<const uint8_t> b, size_t at) {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           b[at + 3];
}

uint32_t get24(std::span<const uint8_t> b, size_t at) {
    return (uint32_t{b[at]} << 16) | (uint32_t{b[at + 1]} << 8) | b[at + 2];
}

uint32_t crc32c(std::span<const uint8_t> bytes) {
    // The reflected polynomial 0x1EDC6F41, a byte at a time over a table built once.
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) {
                c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
            }
            t[i] = c;
        }
        return t;
    }();
    uint32_t c = 0xFFFFFFFFU;
    for (const uint8_t byte : bytes) {
        c = table[(c ^ byte) & 0xFF] ^ (c >> 8);
    }
    return ~c;
}

void put_digest(std::span<uint8_t> b, size_t at, uint32_t crc) {
    for (size_t i = 0; i < 4; ++i) {
        b[at + i] = static_cast<uint8_t>(crc >> (8 * i));
    }
}

Bytes serialize(const Pdu& p, Digests digests) {
    Bytes out = p.header;
    put24(out, 5, static_cast<uint32_t>(p.data.size()));
    if (digests.header) {
        out.resize(bhs_length + 4);
        put_digest(out, bhs_length, crc32c(std::span(out).first(bhs_length)));
    }
    if (!p.data.empty()) {
        const size_t start = out.size();
        const size_t padded = (p.data.size() + 3) & ~size_t{3};
        out.insert(out.end(), p.data.begin(), p.data.end());
        out.resize(start + padded, 0);
        if (digests.data) {
            out.resize(start + padded + 4);
            put_digest(out, start + padded, crc32c(std::span(out).subspan(start, padded)));
        }
    }
    return out;
}

size_t wire_length(std::span<const uint8_t> bhs, Digests digests) {
    const size_t ahs = size_t{bhs[4]} * 4;
    const size_t dsl = get24(bhs, 5);
    return bhs_length + ahs + (digests.header ? 4 : 0) + ((dsl + 3) & ~size_t{3}) +
           (digests.data && dsl > 0 ? 4 : 0);
}

Bytes text_keys(std::initializer_list<std::string_view> pairs) {
    Bytes out;
    for (const std::string_view kv : pairs) {
        out.insert(out.end(), kv.begin(), kv.end());
        out.push_back(0);
    }
    return out;
}

std::string text_value(std::span<const uint8_t> data, std::string_view key) {
    std::string_view all(reinterpret_cast<const char*>(data.data()), data.size());
    while (!all.empty()) {
        const size_t end = std::min(all.find('\0'), all.size());
        const std::string_view pair = all.substr(0, end);
        if (pair.size() > key.size() && pair.substr(0, key.size()) == key &&
            pair[key.size()] == '=') {
            return std::string(pair.substr(key.size() + 1));
        }
        all.remove_prefix(std::min(end + 1, all.size()));
    }
    return {};
}

int connect_to(const std::string& host, uint16_t port, std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
        return -1;
    }
    int fd = -1;
    for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            error = "cannot connect to " + host + ":" + service + ": " + std::strerror(errno);
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(found);
    if (fd >= 0) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

bool write_all(int fd, std::span<const uint8_t> bytes) {
    while (!bytes.empty() && fd >= 0) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return bytes.empty();
}

namespace {

bool read_exact(int fd, uint8_t* out, size_t n, Clock::time_point deadline) {
    while (n > 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            continue;
        }
        const ssize_t got = ::recv(fd, out, n, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return false;
        }
        out += got;
        n -= static_cast<size_t>(got);
    }
    return true;
}

}  // namespace

std::optional<Pdu> read_pdu(int fd, Clock::time_point deadline, Digests digests) {
    if (fd < 0) {
        return std::nullopt;
    }
    Pdu p;
    if (!read_exact(fd, p.header.data(), bhs_length, deadline)) {
        return std::nullopt;
    }
    const size_t ahs = size_t{p.header[4]} * 4 + (digests.header ? 4 : 0);
    const size_t dsl = get24(p.header, 5);
    Bytes rest(wire_length(p.header, digests) - bhs_length);
    if (!rest.empty() && !read_exact(fd, rest.data(), rest.size(), deadline)) {
        return std::nullopt;
    }
    p.data.assign(rest.begin() + static_cast<std::ptrdiff_t>(ahs),
                  rest.begin() + static_cast<std::ptrdiff_t>(ahs + dsl));
    return p;
}

}  // namespace atsarray::wire
