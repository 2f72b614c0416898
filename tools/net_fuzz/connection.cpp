#include "tools/net_fuzz/connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>

namespace atsarray::net_fuzz {

using wire::get32;
using wire::Pdu;
using wire::put32;
namespace op = wire::op;

void Connection::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    in_.clear();
}

bool Connection::login(std::mt19937_64& rng, std::string& error) {
    close();
    if (!connect_portal(error)) {
        return false;
    }
    digests_.header = rng() % 4 == 0;
    digests_.data = rng() % 4 == 0;
    Pdu p;
    p.header[0] = op::login | wire::immediate;
    p.header[1] = wire::final_bit | 0x04 | 0x03;  // T, CSG operational, NSG full feature
    const std::array<uint8_t, 6> isid{
        0x80, 0x00, 0x00, 0x00, static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng())};
    std::copy(isid.begin(), isid.end(), p.header.begin() + 8);
    cmd_sn_ = static_cast<uint32_t>(rng() % 8 == 0 ? 0xFFFFFFF0U + rng() % 16 : 1);
    itt_ = 1;
    put32(p.header, 16, itt_++);
    put32(p.header, 24, cmd_sn_);
    const std::string initiator = "InitiatorName=" + o_.initiator;
    const std::string target = "TargetName=" + o_.target;
    p.data = wire::text_keys({initiator, target, "SessionType=Normal",
                              digests_.header ? "HeaderDigest=CRC32C" : "HeaderDigest=None",
                              digests_.data ? "DataDigest=CRC32C" : "DataDigest=None",
                              "ImmediateData=Yes", "InitialR2T=No", "MaxBurstLength=262144",
                              "FirstBurstLength=65536", "MaxRecvDataSegmentLength=65536",
                              "MaxOutstandingR2T=1", "ErrorRecoveryLevel=0"});
    if (!send(wire::serialize(p))) {
        error = "login request not sent";
        return false;
    }
    // The Login Response: no digests yet (they start after login).
    const auto rsp = wire::read_pdu(fd_, wire::Clock::now() + std::chrono::seconds(5));
    if (!rsp) {
        error = "no login response";
        close();
        return false;
    }
    if (rsp->opcode() != op::login_response || rsp->header[36] != 0) {
        error = "login refused, status " + std::to_string(rsp->header[36]) + "/" +
                std::to_string(rsp->header[37]);
        close();
        return false;
    }
    exp_stat_sn_ = get32(rsp->header, 24) + 1;
    cmd_sn_ = get32(rsp->header, 28);
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

bool Connection::send(const wire::Bytes& bytes) {
    if (fd_ >= 0 && !wire::write_all(fd_, bytes)) {
        close();
    }
    return fd_ >= 0;
}

bool Connection::drain(int timeout_ms) {
    while (fd_ >= 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) {
            return true;
        }
        uint8_t buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
            close();
            return false;
        }
        in_.insert(in_.end(), buf, buf + n);
        if (!parse_input()) {
            close();
            return false;
        }
        timeout_ms = 0;
    }
    return false;
}

bool Connection::connect_portal(std::string& error) {
    const size_t colon = o_.portal.rfind(':');
    const std::string host = o_.portal.substr(0, colon);
    const std::string port = colon == std::string::npos ? "3260" : o_.portal.substr(colon + 1);
    char* end = nullptr;
    const unsigned long number = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || number > 65535) {
        error = "cannot resolve " + o_.portal;
        return false;
    }
    fd_ = wire::connect_to(host, static_cast<uint16_t>(number), error);
    return fd_ >= 0;
}

bool Connection::parse_input() {
    size_t at = 0;
    while (in_.size() - at >= wire::bhs_length) {
        const std::span<const uint8_t> pdu = std::span(in_).subspan(at);
        const size_t total = wire::wire_length(pdu, digests_);
        if (pdu.size() < total) {
            break;
        }
        on_pdu(pdu.first(wire::bhs_length));
        if (fd_ < 0) {
            return false;  // an answer to an R2T or a ping found the connection closed
        }
        at += total;
    }
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(at));
    return true;
}

void Connection::on_pdu(std::span<const uint8_t> bhs) {
    const uint8_t opcode = bhs[0] & 0x3F;
    // Every target PDU but the R2T and Reject... carries StatSN; all carry ExpCmdSN at 28.
    const uint32_t exp_cmd_sn = get32(bhs, 28);
    if (wire::serial_lt(cmd_sn_, exp_cmd_sn)) {
        cmd_sn_ = exp_cmd_sn;
    }
    if (opcode == op::scsi_response || opcode == op::nop_in ||
        (opcode == op::data_in && (bhs[1] & 0x01) != 0)) {
        exp_stat_sn_ = get32(bhs, 24) + 1;
    }
    if (opcode == op::r2t) {  // the Data-Out it asks for, in one PDU of at most 64 KiB
        Pdu d;
        d.header[0] = op::data_out;
        d.header[1] = wire::final_bit;
        std::copy_n(bhs.begin() + 8, 8, d.header.begin() + 8);    // LUN
        std::copy_n(bhs.begin() + 16, 8, d.header.begin() + 16);  // ITT, TTT
        put32(d.header, 24, exp_stat_sn_);
        put32(d.header, 36, 0);                                   // DataSN
        std::copy_n(bhs.begin() + 40, 4, d.header.begin() + 40);  // Buffer Offset
        d.data.assign(std::min<uint32_t>(get32(bhs, 44), 65536), 0xA5);
        (void)send(wire::serialize(d, digests_));
    } else if (opcode == op::nop_in && get32(bhs, 20) != wire::reserved_tag) {  // a ping
        Pdu n;
        n.header[0] = op::nop_out | wire::immediate;
        n.header[1] = wire::final_bit;
        put32(n.header, 16, wire::reserved_tag);
        std::copy_n(bhs.begin() + 20, 4, n.header.begin() + 20);
        put32(n.header, 24, cmd_sn_);
        put32(n.header, 28, exp_stat_sn_);
        (void)send(wire::serialize(n, digests_));
    }
}

}  // namespace atsarray::net_fuzz
