#include "tools/chaos/session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace atsarray::chaos {
namespace {

using wire::final_bit;
using wire::get32;
using wire::immediate;
using wire::put32;
using wire::reserved_tag;
using wire::serial_lt;
namespace op = wire::op;

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

Pdu Session::header(uint8_t opcode, uint8_t flags) const {
    Pdu p;
    p.header[0] = opcode;
    p.header[1] = flags;
    put32(p.header, 28, exp_stat_sn_);
    return p;
}

bool Session::write(const Pdu& p) {
    return wire::write_all(fd_, wire::serialize(p));
}

std::optional<Pdu> Session::read_pdu(wire::Clock::time_point deadline) const {
    return wire::read_pdu(fd_, deadline);
}

std::optional<Session> Session::login(const Endpoint& at, const LoginSpec& spec,
                                      std::string& error) {
    const int fd = wire::connect_to(at.host, at.port, error);
    if (fd < 0) {
        return std::nullopt;
    }
    Session s(fd, spec.lun);
    s.cmd_sn_ = spec.first_cmd_sn;
    s.max_cmd_sn_ = spec.first_cmd_sn;
    const std::string initiator = "InitiatorName=" + spec.initiator_name;
    const std::string target = "TargetName=" + spec.target_name;
    wire::Bytes keys = wire::text_keys(
        {initiator, "SessionType=Normal", target, "HeaderDigest=None", "DataDigest=None",
         "ImmediateData=Yes", "InitialR2T=Yes", "MaxConnections=1", "ErrorRecoveryLevel=0",
         "FirstBurstLength=65536", "MaxBurstLength=262144", "MaxRecvDataSegmentLength=262144"});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    // Operational stage straight to full feature phase (CSG=1, NSG=3, T): a target with no
    // authentication configured may skip the security stage (RFC 7143 §6.3). A target that
    // answers without T wants another round; the keys go once.
    for (int round = 0; round < 4; ++round) {
        Pdu req = s.header(op::login | immediate, final_bit | (1 << 2) | 3);
        for (int i = 0; i < 6; ++i) {
            req.header[8 + static_cast<size_t>(i)] =
                static_cast<uint8_t>(spec.isid >> (40 - 8 * i));
        }
        put32(req.header, 16, s.next_itt_);
        put32(req.header, 24, s.cmd_sn_);
        req.data = std::exchange(keys, {});
        if (!s.write(req)) {
            error = "login: the target closed the connection";
            return std::nullopt;
        }
        const auto rsp = s.read_pdu(deadline);
        if (!rsp || rsp->opcode() != op::login_response) {
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
        if (const std::string mrdsl = wire::text_value(rsp->data, "MaxRecvDataSegmentLength");
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
    Pdu out = header(op::nop_out | immediate, final_bit);
    put32(out.header, 16, reserved_tag);
    put32(out.header, 20, ttt);
    put32(out.header, 24, cmd_sn_);
    write(out);
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
        if (p->opcode() == op::nop_in) {
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
    Pdu b = header(op::scsi_command, flags);
    // Single level LUN, peripheral addressing (SAM-5 §4.7).
    b.header[9] = static_cast<uint8_t>(lun_);
    b.header[8] = static_cast<uint8_t>((lun_ >> 8) & 0x3f);
    if (next_itt_ == reserved_tag || next_itt_ == 0) {
        next_itt_ = 1;  // 0 means "not sent" to the caller, 0xffffffff is reserved
    }
    const uint32_t itt = next_itt_++;
    put32(b.header, 16, itt);
    put32(b.header, 20, transfer_length);
    put32(b.header, 24, cmd_sn_);
    std::copy(cdb.begin(), cdb.end(), b.header.begin() + 32);
    b.data.assign(data_out.begin(),
                  data_out.begin() + static_cast<std::ptrdiff_t>(immediate_bytes));
    if (cmd_sn_ == 0xffffffff) {
        ++wraps_;
    }
    ++cmd_sn_;
    return write(b) ? itt : 0;
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
        Pdu b = header(op::data_out, sent + n == length ? final_bit : 0);
        std::copy_n(r2t.header.begin() + 8, 8, b.header.begin() + 8);  // LUN
        put32(b.header, 16, r2t.itt());
        put32(b.header, 20, get32(r2t.header, 20));  // Target Transfer Tag
        put32(b.header, 36, data_sn++);
        put32(b.header, 40, offset + sent);
        const auto from = data.begin() + offset + sent;
        b.data.assign(from, from + n);
        if (!write(b)) {
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
        const uint8_t opcode = p->opcode();
        if (opcode == op::nop_in) {
            answer_nop_in(*p);
            continue;
        }
        if (opcode == op::reject) {
            return r;  // a protocol error in what we sent: no answer to this command
        }
        if (p->itt() != itt) {
            continue;  // another command's answer (the caller gave up on it)
        }
        if (opcode == op::r2t) {
            if (r2t_data.empty() || !send_data_out(*p, r2t_data)) {
                return r;
            }
            continue;
        }
        if (opcode == op::data_in) {
            r.data.insert(r.data.end(), p->data.begin(), p->data.end());
            if ((p->header[1] & 0x01) != 0) {  // S: status in this PDU
                exp_stat_sn_ = get32(p->header, 24) + 1;
                r.status = p->header[3];
                return r;
            }
            continue;
        }
        if (opcode == op::scsi_response) {
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
    Pdu b = header(op::logout | immediate, final_bit);  // reason 0: close the session
    const uint32_t itt = next_itt_++;
    put32(b.header, 16, itt);
    put32(b.header, 24, cmd_sn_);
    if (!write(b)) {
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (auto p = read_pdu(deadline)) {
        if (p->opcode() == op::logout_response && p->itt() == itt) {
            return p->header[2] == 0;
        }
        if (p->opcode() == op::nop_in) {
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
