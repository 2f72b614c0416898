#include "tools/chaos/session.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

namespace atsarray::chaos {
namespace {

// RFC 7143 §11: opcodes (initiator: request, target: response).
constexpr uint8_t op_nop_out = 0x00;
constexpr uint8_t op_scsi_command = 0x01;
constexpr uint8_t op_login = 0x03;
constexpr uint8_t op_data_out = 0x05;
constexpr uint8_t op_logout = 0x06;
constexpr uint8_t op_nop_in = 0x20;
constexpr uint8_t op_scsi_response = 0x21;
constexpr uint8_t op_login_response = 0x23;
constexpr uint8_t op_data_in = 0x25;
constexpr uint8_t op_logout_response = 0x26;
constexpr uint8_t op_r2t = 0x31;
constexpr uint8_t op_reject = 0x3f;
constexpr uint8_t immediate = 0x40;
constexpr uint8_t final_bit = 0x80;
constexpr uint32_t reserved_tag = 0xffffffff;

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (24 - 8 * i));
    }
}
uint32_t get32(const std::vector<uint8_t>& b, size_t at) {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           b[at + 3];
}
uint32_t get24(const std::vector<uint8_t>& b, size_t at) {
    return (uint32_t{b[at]} << 16) | (uint32_t{b[at + 1]} << 8) | b[at + 2];
}
// Serial number arithmetic (RFC 1982, 32 bits): a < b.
bool serial_lt(uint32_t a, uint32_t b) {
    return a != b && static_cast<int32_t>(b - a) > 0;
}

// The value of `key` in a login/text data segment ("key=value\0" pairs), or empty.
std::string key_value(const std::vector<uint8_t>& data, std::string_view key) {
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

int connect_to(const Endpoint& at, std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(at.port);
    if (const int rc = ::getaddrinfo(at.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        error = "cannot resolve " + at.host + ": " + ::gai_strerror(rc);
        return -1;
    }
    int fd = -1;
    for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            error = std::string("connect to ") + at.host + ":" + port + ": " + std::strerror(errno);
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

// SCSI Response sense data: a 2-byte SenseLength, then fixed (0x70/0x71) or descriptor
// (0x72/0x73) format (SPC-4 §4.5).
void decode_sense(const std::vector<uint8_t>& data, ScsiResult& r) {
    if (data.size() < 4) {
        return;
    }
    const std::vector<uint8_t> sense(data.begin() + 2, data.end());
    const uint8_t code = sense[0] & 0x7f;
    if ((code == 0x70 || code == 0x71) && sense.size() >= 14) {
        r.sense_key = sense[2] & 0x0f;
        r.asc = sense[12];
        r.ascq = sense[13];
    } else if ((code == 0x72 || code == 0x73) && sense.size() >= 4) {
        r.sense_key = sense[1] & 0x0f;
        r.asc = sense[2];
        r.ascq = sense[3];
    }
}

}  // namespace

uint32_t Pdu::itt() const {
    return get32(header, 16);
}

Session::Session(Session&& other) noexcept {
    *this = std::move(other);
}

Session& Session::operator=(Session&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
        lun_ = other.lun_;
        next_itt_ = other.next_itt_;
        cmd_sn_ = other.cmd_sn_;
        exp_stat_sn_ = other.exp_stat_sn_;
        max_cmd_sn_ = other.max_cmd_sn_;
        wraps_ = other.wraps_;
        max_send_segment_ = other.max_send_segment_;
        tsih_ = other.tsih_;
    }
    return *this;
}

Session::~Session() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::vector<uint8_t> Session::header(uint8_t opcode, uint8_t flags, size_t data_length) const {
    std::vector<uint8_t> b(48 + ((data_length + 3) & ~size_t{3}), 0);
    b[0] = opcode;
    b[1] = flags;
    b[5] = static_cast<uint8_t>(data_length >> 16);
    b[6] = static_cast<uint8_t>(data_length >> 8);
    b[7] = static_cast<uint8_t>(data_length);
    put32(b, 28, exp_stat_sn_);
    return b;
}

std::optional<Session> Session::login(const Endpoint& at, const LoginSpec& spec,
                                      std::string& error) {
    const int fd = connect_to(at, error);
    if (fd < 0) {
        return std::nullopt;
    }
    Session s(fd, spec.lun);
    s.cmd_sn_ = spec.first_cmd_sn;
    s.max_cmd_sn_ = spec.first_cmd_sn;
    std::string keys;
    const std::vector<std::string> pairs = {"InitiatorName=" + spec.initiator_name,
                                            "SessionType=Normal",
                                            "TargetName=" + spec.target_name,
                                            "HeaderDigest=None",
                                            "DataDigest=None",
                                            "ImmediateData=Yes",
                                            "InitialR2T=Yes",
                                            "MaxConnections=1",
                                            "ErrorRecoveryLevel=0",
                                            "FirstBurstLength=65536",
                                            "MaxBurstLength=262144",
                                            "MaxRecvDataSegmentLength=262144"};
    for (const std::string& kv : pairs) {
        keys += kv;
        keys.push_back('\0');
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    // Operational stage straight to full feature phase (CSG=1, NSG=3, T): a target with no
    // authentication configured may skip the security stage (RFC 7143 §6.3). A target that
    // answers without T wants another round; the keys go once.
    for (int round = 0; round < 4; ++round) {
        auto req = s.header(op_login | immediate, final_bit | (1 << 2) | 3, keys.size());
        for (int i = 0; i < 6; ++i) {
            req[8 + static_cast<size_t>(i)] = static_cast<uint8_t>(spec.isid >> (40 - 8 * i));
        }
        put32(req, 16, s.next_itt_);
        put32(req, 24, s.cmd_sn_);
        std::copy(keys.begin(), keys.end(), req.begin() + 48);
        keys.clear();
        if (!s.write_all(req)) {
            error = "login: the target closed the connection";
            return std::nullopt;
        }
        const auto rsp = s.read_pdu(deadline);
        if (!rsp || rsp->opcode() != op_login_response) {
            error = "login: no Login Response";
            return std::nullopt;
        }
        if (rsp->header[36] != 0) {
            error = "login refused, status class " + std::to_string(rsp->header[36]) + " detail " +
                    std::to_string(rsp->header[37]);
            return std::nullopt;
        }
        s.exp_stat_sn_ = get32(rsp->header, 24) + 1;
        s.note_window(*rsp);
        s.tsih_ = static_cast<uint16_t>((rsp->header[14] << 8) | rsp->header[15]);
        if (const std::string mrdsl = key_value(rsp->data, "MaxRecvDataSegmentLength");
            !mrdsl.empty()) {
            s.max_send_segment_ = static_cast<uint32_t>(std::stoul(mrdsl));
        }
        if ((rsp->header[1] & final_bit) != 0 && (rsp->header[1] & 3) == 3) {
            ++s.next_itt_;
            return s;
        }
    }
    error = "login: the target never moved to full feature phase";
    return std::nullopt;
}

bool Session::write_all(std::span<const uint8_t> bytes) {
    while (!bytes.empty() && fd_ >= 0) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
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

std::optional<Pdu> Session::read_pdu(std::chrono::steady_clock::time_point deadline) {
    auto read_exact = [&](uint8_t* out, size_t n) {
        while (n > 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return false;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            const ssize_t got = ::recv(fd_, out, n, 0);
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
    };
    if (fd_ < 0) {
        return std::nullopt;
    }
    Pdu p;
    p.header.resize(48);
    if (!read_exact(p.header.data(), 48)) {
        return std::nullopt;
    }
    const size_t ahs = size_t{p.header[4]} * 4;
    const size_t dsl = get24(p.header, 5);
    std::vector<uint8_t> rest(ahs + ((dsl + 3) & ~size_t{3}));
    if (!rest.empty() && !read_exact(rest.data(), rest.size())) {
        return std::nullopt;
    }
    p.data.assign(rest.begin() + static_cast<std::ptrdiff_t>(ahs),
                  rest.begin() + static_cast<std::ptrdiff_t>(ahs + dsl));
    return p;
}

void Session::note_window(const Pdu& p) {
    const uint32_t max_cmd_sn = get32(p.header, 32);
    if (serial_lt(max_cmd_sn_, max_cmd_sn)) {
        max_cmd_sn_ = max_cmd_sn;
    }
}

void Session::answer_nop_in(const Pdu& p) {
    const uint32_t ttt = get32(p.header, 20);
    if (ttt == reserved_tag) {
        return;  // no answer wanted
    }
    auto out = header(op_nop_out | immediate, final_bit, 0);
    put32(out, 16, reserved_tag);
    put32(out, 20, ttt);
    put32(out, 24, cmd_sn_);
    write_all(out);
}

uint32_t Session::send(std::span<const uint8_t, 16> cdb, std::span<const uint8_t> data_out,
                       uint32_t transfer_length, bool read) {
    // Wait for the window (RFC 7143 §3.2.2.1: CmdSN must not pass MaxCmdSN).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (serial_lt(max_cmd_sn_, cmd_sn_)) {
        const auto p = read_pdu(deadline);
        if (!p) {
            return 0;
        }
        note_window(*p);
        if (p->opcode() == op_nop_in) {
            answer_nop_in(*p);
        }
    }
    const size_t immediate_bytes =
        std::min<size_t>({data_out.size(), max_send_segment_, size_t{65536}});
    uint8_t flags = final_bit | 0x01;  // F, ATTR = SIMPLE
    if (read) {
        flags |= 0x40;
    } else if (transfer_length > 0) {
        flags |= 0x20;
    }
    auto b = header(op_scsi_command, flags, immediate_bytes);
    b[9] = static_cast<uint8_t>(lun_);  // single level LUN, peripheral addressing (SAM-5 §4.7)
    b[8] = static_cast<uint8_t>((lun_ >> 8) & 0x3f);
    if (next_itt_ == reserved_tag || next_itt_ == 0) {
        next_itt_ = 1;  // 0 means "not sent" to the caller, 0xffffffff is reserved
    }
    const uint32_t itt = next_itt_++;
    put32(b, 16, itt);
    put32(b, 20, transfer_length);
    put32(b, 24, cmd_sn_);
    std::copy(cdb.begin(), cdb.end(), b.begin() + 32);
    std::copy_n(data_out.begin(), immediate_bytes, b.begin() + 48);
    if (cmd_sn_ == 0xffffffff) {
        ++wraps_;
    }
    ++cmd_sn_;
    return write_all(b) ? itt : 0;
}

bool Session::send_data_out(const Pdu& r2t, std::span<const uint8_t> data) {
    const uint32_t offset = get32(r2t.header, 40);
    const uint32_t length = get32(r2t.header, 44);
    if (uint64_t{offset} + length > data.size()) {
        return false;
    }
    uint32_t sent = 0;
    uint32_t data_sn = 0;
    while (sent < length) {
        const uint32_t n = std::min(length - sent, max_send_segment_);
        auto b = header(op_data_out, sent + n == length ? final_bit : 0, n);
        std::copy_n(r2t.header.begin() + 8, 8, b.begin() + 8);  // LUN
        put32(b, 16, r2t.itt());
        put32(b, 20, get32(r2t.header, 20));  // Target Transfer Tag
        put32(b, 36, data_sn++);
        put32(b, 40, offset + sent);
        std::copy_n(data.begin() + offset + sent, n, b.begin() + 48);
        if (!write_all(b)) {
            return false;
        }
        sent += n;
    }
    return true;
}

ScsiResult Session::wait(uint32_t itt, std::chrono::milliseconds timeout,
                         std::span<const uint8_t> r2t_data) {
    ScsiResult r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        const auto p = read_pdu(deadline);
        if (!p) {
            return r;
        }
        note_window(*p);
        const uint8_t op = p->opcode();
        if (op == op_nop_in) {
            answer_nop_in(*p);
            continue;
        }
        if (op == op_reject) {
            return r;  // a protocol error in what we sent: no answer to this command
        }
        if (p->itt() != itt) {
            continue;  // another command's answer (the caller gave up on it)
        }
        if (op == op_r2t) {
            if (r2t_data.empty() || !send_data_out(*p, r2t_data)) {
                return r;
            }
            continue;
        }
        if (op == op_data_in) {
            r.data.insert(r.data.end(), p->data.begin(), p->data.end());
            if ((p->header[1] & 0x01) != 0) {  // S: status in this PDU
                exp_stat_sn_ = get32(p->header, 24) + 1;
                r.status = p->header[3];
                return r;
            }
            continue;
        }
        if (op == op_scsi_response) {
            exp_stat_sn_ = get32(p->header, 24) + 1;
            r.status = p->header[3];
            if (p->header[2] != 0) {
                r.status = 0xfe;  // iSCSI response: target failure
            }
            decode_sense(p->data, r);
            return r;
        }
    }
}

ScsiResult Session::execute(std::span<const uint8_t, 16> cdb, std::span<const uint8_t> data_out,
                            uint32_t transfer_length, bool read,
                            std::chrono::milliseconds timeout) {
    const uint32_t itt = send(cdb, data_out, transfer_length, read);
    if (itt == 0) {
        return {};
    }
    return wait(itt, timeout, data_out);
}

bool Session::logout(std::chrono::milliseconds timeout) {
    auto b = header(op_logout | immediate, final_bit, 0);  // reason 0: close the session
    const uint32_t itt = next_itt_++;
    put32(b, 16, itt);
    put32(b, 24, cmd_sn_);
    if (!write_all(b)) {
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (auto p = read_pdu(deadline)) {
        if (p->opcode() == op_logout_response && p->itt() == itt) {
            return p->header[2] == 0;
        }
        if (p->opcode() == op_nop_in) {
            answer_nop_in(*p);
        }
    }
    return false;
}

void Session::reset() {
    if (fd_ >= 0) {
        const linger abort_on_close{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
        ::close(fd_);
        fd_ = -1;
    }
}

int Session::release_fd() {
    return std::exchange(fd_, -1);
}

}  // namespace atsarray::chaos
