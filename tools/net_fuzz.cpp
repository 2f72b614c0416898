// net-fuzz: a network fuzzer for a running iSCSI target. It logs in over a plain socket, then
// sends valid PDUs (SCSI Command READ/WRITE/COMPARE AND WRITE with immediate data, Data-Out,
// NOP-Out, Text, Task Management, Logout) of which most are mutated: bit flips, opcodes, flags,
// data segment and AHS lengths, CmdSN, Expected Data Transfer Length, LUN, CDB bytes, digests,
// truncation, repetition. It answers R2T and target NOP-Ins so that solicited paths are reached,
// and logs in again whenever the target closes the connection. After each batch it checks that
// the target still accepts connections and that a separate libiscsi session (the bystander, on
// another target or LUN) can WRITE, READ and COMPARE AND WRITE a block whose content it verifies.
// Every iteration's mutations derive from (seed, iteration) alone, so --seed replays a run. Exits
// 1 on a failure, printing the seed and iteration to reproduce it.

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tools/libiscsi_handles.hpp"

namespace {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string portal = "127.0.0.1:3260";
    std::string target;
    int lun = 0;
    std::string bystander_target;  // default: the fuzzed target
    int bystander_lun = 1;
    uint64_t bystander_lba = 0;
    std::string initiator = "iqn.2026-11.org.atsarray:net-fuzz";
    uint64_t seed = 1;
    uint64_t iterations = 0;  // 0: until --duration ends
    double duration = 0;      // seconds; 0: until --iterations ends
    uint64_t batch = 200;
    uint32_t block_size = 512;
    pid_t pid = 0;  // the daemon's process id, checked when given
    bool verbose = false;
};

// ---- wire helpers
// --------------------------------------------------------------------------------

void put32(Bytes& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
    }
}

uint32_t get32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

uint32_t get24(const uint8_t* p) {
    return uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2];
}

// CRC32C (Castagnoli), as iSCSI's digests (RFC 7143 §13.1), bit by bit over a table.
uint32_t crc32c(const uint8_t* p, size_t n) {
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
    for (size_t i = 0; i < n; ++i) {
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    }
    return ~c;
}

// The digest as it travels: little-endian bytes of the CRC (RFC 7143 §13.1, as libiscsi and Linux
// send it).
void append_digest(Bytes& out, const uint8_t* p, size_t n) {
    const uint32_t c = crc32c(p, n);
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<uint8_t>(c >> (8 * i)));
    }
}

// One PDU before digests: a 48-byte BHS and its data segment (unpadded).
struct Pdu {
    Bytes bhs = Bytes(48, 0);
    Bytes data;
};

// The bytes on the wire: BHS, header digest, data padded to 4, data digest. dsl from data.
Bytes serialize(const Pdu& p, bool header_digest, bool data_digest) {
    Bytes out = p.bhs;
    const uint32_t dsl = static_cast<uint32_t>(p.data.size());
    out[5] = static_cast<uint8_t>(dsl >> 16);
    out[6] = static_cast<uint8_t>(dsl >> 8);
    out[7] = static_cast<uint8_t>(dsl);
    if (header_digest) {
        append_digest(out, out.data(), 48);
    }
    if (!p.data.empty()) {
        const size_t start = out.size();
        out.insert(out.end(), p.data.begin(), p.data.end());
        out.resize(start + ((p.data.size() + 3) & ~size_t{3}), 0);
        if (data_digest) {
            Bytes padded(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
            append_digest(out, padded.data(), padded.size());
        }
    }
    return out;
}

Bytes text_keys(std::initializer_list<std::string_view> kv) {
    Bytes out;
    for (std::string_view k : kv) {
        out.insert(out.end(), k.begin(), k.end());
        out.push_back(0);
    }
    return out;
}

// ---- the fuzzed connection
// ------------------------------------------------------------------------

class Connection {
  public:
    Connection(const Options& o) : o_(o) {}
    ~Connection() { close(); }

    bool open() const { return fd_ >= 0; }
    bool header_digest() const { return header_digest_; }
    bool data_digest() const { return data_digest_; }
    uint32_t next_cmd_sn() { return cmd_sn_; }
    void advance_cmd_sn() { ++cmd_sn_; }
    uint32_t next_itt() { return itt_++; }
    uint32_t exp_stat_sn() const { return exp_stat_sn_; }

    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
        in_.clear();
    }

    // Connects and logs straight into full feature phase (operational stage, no security: the
    // fuzzed target must not require CHAP). Digests and ISID as `rng` says. false: no session.
    bool login(std::mt19937_64& rng, std::string& error) {
        close();
        if (!connect_portal(error)) {
            return false;
        }
        header_digest_ = rng() % 4 == 0;
        data_digest_ = rng() % 4 == 0;
        Pdu p;
        p.bhs[0] = 0x43;                // Login Request, immediate
        p.bhs[1] = 0x80 | 0x04 | 0x03;  // T, CSG operational, NSG full feature
        const std::array<uint8_t, 6> isid{
            0x80, 0x00, 0x00, 0x00, static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng())};
        std::memcpy(&p.bhs[8], isid.data(), isid.size());
        cmd_sn_ = static_cast<uint32_t>(rng() % 8 == 0 ? 0xFFFFFFF0U + rng() % 16 : 1);
        itt_ = 1;
        put32(p.bhs, 16, itt_++);
        put32(p.bhs, 24, cmd_sn_);
        const std::string initiator = "InitiatorName=" + o_.initiator;
        const std::string target = "TargetName=" + o_.target;
        p.data = text_keys({initiator, target, "SessionType=Normal",
                            header_digest_ ? "HeaderDigest=CRC32C" : "HeaderDigest=None",
                            data_digest_ ? "DataDigest=CRC32C" : "DataDigest=None",
                            "ImmediateData=Yes", "InitialR2T=No", "MaxBurstLength=262144",
                            "FirstBurstLength=65536", "MaxRecvDataSegmentLength=65536",
                            "MaxOutstandingR2T=1", "ErrorRecoveryLevel=0"});
        if (!send(serialize(p, false, false))) {
            error = "login request not sent";
            return false;
        }
        // The Login Response: no digests yet (they start after login).
        Bytes bhs(48);
        if (!read_exact(bhs.data(), 48, 5000)) {
            error = "no login response";
            close();
            return false;
        }
        const uint32_t dsl = get24(&bhs[5]);
        Bytes data((dsl + 3) & ~3U);
        if (!data.empty() && !read_exact(data.data(), data.size(), 5000)) {
            error = "login response data cut";
            close();
            return false;
        }
        if ((bhs[0] & 0x3F) != 0x23 || bhs[36] != 0) {
            error =
                "login refused, status " + std::to_string(bhs[36]) + "/" + std::to_string(bhs[37]);
            close();
            return false;
        }
        exp_stat_sn_ = get32(&bhs[24]) + 1;
        cmd_sn_ = get32(&bhs[28]);
        timeval tv{2, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        return true;
    }

    // false when the target closed the connection (or stopped reading for 2 s).
    bool send(const Bytes& bytes) {
        size_t done = 0;
        while (fd_ >= 0 && done < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n <= 0) {
                close();
                return false;
            }
            done += static_cast<size_t>(n);
        }
        return fd_ >= 0;
    }

    // Reads what the target sent within `timeout_ms`, answers R2Ts and NOP-In pings, follows
    // ExpCmdSN. false when the connection closed.
    bool drain(int timeout_ms) {
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

  private:
    bool connect_portal(std::string& error) {
        const size_t colon = o_.portal.rfind(':');
        const std::string host = o_.portal.substr(0, colon);
        const std::string port = colon == std::string::npos ? "3260" : o_.portal.substr(colon + 1);
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
            error = "cannot resolve " + o_.portal;
            return false;
        }
        fd_ = ::socket(res->ai_family, SOCK_STREAM, 0);
        const bool ok = fd_ >= 0 && ::connect(fd_, res->ai_addr, res->ai_addrlen) == 0;
        ::freeaddrinfo(res);
        if (!ok) {
            error = "cannot connect to " + o_.portal + ": " + std::strerror(errno);
            close();
        }
        return ok;
    }

    bool read_exact(uint8_t* p, size_t n, int timeout_ms) {
        while (n > 0) {
            pollfd pfd{fd_, POLLIN, 0};
            if (::poll(&pfd, 1, timeout_ms) <= 0) {
                return false;
            }
            const ssize_t got = ::recv(fd_, p, n, 0);
            if (got <= 0) {
                return false;
            }
            p += got;
            n -= static_cast<size_t>(got);
        }
        return true;
    }

    // Handles the whole PDUs in in_; false when the connection closed meanwhile.
    bool parse_input() {
        size_t at = 0;
        for (;;) {
            if (in_.size() - at < 48) {
                break;
            }
            const uint8_t* bhs = &in_[at];
            const size_t ahs = size_t{bhs[4]} * 4;
            const uint32_t dsl = get24(&bhs[5]);
            const size_t total = 48 + ahs + (header_digest_ ? 4 : 0) + ((dsl + 3) & ~3U) +
                                 (data_digest_ && dsl > 0 ? 4 : 0);
            if (in_.size() - at < total) {
                break;
            }
            on_pdu(bhs);
            if (fd_ < 0) {
                return false;  // an answer to an R2T or a ping found the connection closed
            }
            at += total;
        }
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(at));
        return true;
    }

    void on_pdu(const uint8_t* bhs) {
        const uint8_t opcode = bhs[0] & 0x3F;
        // Every target PDU but the R2T and Reject... carries StatSN; all carry ExpCmdSN at 28.
        const uint32_t exp_cmd_sn = get32(&bhs[28]);
        if (static_cast<int32_t>(exp_cmd_sn - cmd_sn_) > 0) {
            cmd_sn_ = exp_cmd_sn;
        }
        if (opcode == 0x21 || opcode == 0x20 || (opcode == 0x25 && (bhs[1] & 0x01) != 0)) {
            exp_stat_sn_ = get32(&bhs[24]) + 1;
        }
        if (opcode == 0x31) {  // R2T: the Data-Out it asks for, in one PDU of at most 64 KiB
            Pdu d;
            d.bhs[0] = 0x05;
            d.bhs[1] = 0x80;
            std::memcpy(&d.bhs[8], &bhs[8], 8);    // LUN
            std::memcpy(&d.bhs[16], &bhs[16], 8);  // ITT, TTT
            put32(d.bhs, 24, exp_stat_sn_);
            put32(d.bhs, 36, 0);                   // DataSN
            std::memcpy(&d.bhs[40], &bhs[40], 4);  // Buffer Offset
            d.data.assign(std::min<uint32_t>(get32(&bhs[44]), 65536), 0xA5);
            (void)send(serialize(d, header_digest_, data_digest_));
        } else if (opcode == 0x20 && get32(&bhs[20]) != 0xFFFFFFFFU) {  // NOP-In ping
            Pdu n;
            n.bhs[0] = 0x40;
            n.bhs[1] = 0x80;
            put32(n.bhs, 16, 0xFFFFFFFFU);
            std::memcpy(&n.bhs[20], &bhs[20], 4);
            put32(n.bhs, 24, cmd_sn_);
            put32(n.bhs, 28, exp_stat_sn_);
            (void)send(serialize(n, header_digest_, data_digest_));
        }
    }

    const Options& o_;
    int fd_ = -1;
    bool header_digest_ = false;
    bool data_digest_ = false;
    uint32_t cmd_sn_ = 1;
    uint32_t itt_ = 1;
    uint32_t exp_stat_sn_ = 0;
    Bytes in_;
};

// ---- seeds
// ----------------------------------------------------------------------------------------

Pdu scsi_command(Connection& c, const Options& o, std::initializer_list<uint8_t> cdb, uint8_t flags,
                 uint32_t edtl, Bytes immediate = {}) {
    Pdu p;
    p.bhs[0] = 0x01;
    p.bhs[1] = flags;
    p.bhs[9] = static_cast<uint8_t>(o.lun);
    put32(p.bhs, 16, c.next_itt());
    put32(p.bhs, 20, edtl);
    put32(p.bhs, 24, c.next_cmd_sn());
    put32(p.bhs, 28, c.exp_stat_sn());
    size_t i = 32;
    for (uint8_t b : cdb) {
        p.bhs[i++] = b;
    }
    p.data = std::move(immediate);
    c.advance_cmd_sn();
    return p;
}

// The valid PDUs (one or two) a mutation starts from.
std::vector<Pdu> seed_pdus(Connection& c, const Options& o, std::mt19937_64& rng) {
    const uint32_t bs = o.block_size;
    const uint8_t blocks = static_cast<uint8_t>(1 + rng() % 8);
    const uint8_t lba = static_cast<uint8_t>(8 + rng() % 64);  // away from block 0
    std::vector<Pdu> out;
    switch (rng() % 10) {
        case 0:  // READ(10)
            out.push_back(
                scsi_command(c, o, {0x28, 0, 0, 0, 0, lba, 0, 0, blocks, 0}, 0xC1, blocks * bs));
            break;
        case 1:  // WRITE(10), all immediate
            out.push_back(scsi_command(c, o, {0x2A, 0, 0, 0, 0, lba, 0, 0, blocks, 0}, 0xA1,
                                       blocks * bs, Bytes(blocks * bs, lba)));
            break;
        case 2: {  // WRITE(10), one block immediate, the rest unsolicited Data-Out
            const uint8_t n = static_cast<uint8_t>(blocks + 1);
            Pdu cmd = scsi_command(c, o, {0x2A, 0, 0, 0, 0, lba, 0, 0, n, 0}, 0x21, n * bs,
                                   Bytes(bs, 0x11));
            Pdu data;
            data.bhs[0] = 0x05;
            data.bhs[1] = 0x80;
            data.bhs[9] = static_cast<uint8_t>(o.lun);
            std::memcpy(&data.bhs[16], &cmd.bhs[16], 4);
            put32(data.bhs, 20, 0xFFFFFFFFU);
            put32(data.bhs, 24, c.exp_stat_sn());
            put32(data.bhs, 40, bs);
            data.data.assign(static_cast<size_t>(n - 1) * bs, 0x22);
            out.push_back(std::move(cmd));
            out.push_back(std::move(data));
            break;
        }
        case 3: {  // COMPARE AND WRITE, one block: verify and write data
            Bytes data(2 * bs, 0);
            out.push_back(scsi_command(c, o, {0x89, 0, 0, 0, 0, 0, 0, 0, 0, lba, 0, 0, 0, 1, 0, 0},
                                       0xA1, 2 * bs, std::move(data)));
            break;
        }
        case 4: {  // NOP-Out ping, immediate
            Pdu p;
            p.bhs[0] = 0x40;
            p.bhs[1] = 0x80;
            put32(p.bhs, 16, c.next_itt());
            put32(p.bhs, 20, 0xFFFFFFFFU);
            put32(p.bhs, 24, c.next_cmd_sn());
            put32(p.bhs, 28, c.exp_stat_sn());
            p.data.assign(rng() % 64, 0x5A);
            out.push_back(std::move(p));
            break;
        }
        case 5: {  // Text: SendTargets=All
            Pdu p;
            p.bhs[0] = 0x04;
            p.bhs[1] = 0x80;
            put32(p.bhs, 16, c.next_itt());
            put32(p.bhs, 20, 0xFFFFFFFFU);
            put32(p.bhs, 24, c.next_cmd_sn());
            put32(p.bhs, 28, c.exp_stat_sn());
            p.data = text_keys({"SendTargets=All"});
            c.advance_cmd_sn();
            out.push_back(std::move(p));
            break;
        }
        case 6: {  // Task Management: ABORT TASK, ABORT TASK SET, LUN RESET, QUERY TASK...
            static constexpr std::array<uint8_t, 6> functions{1, 2, 3, 5, 8, 9};
            Pdu p;
            p.bhs[0] = 0x42;
            p.bhs[1] = 0x80 | functions[rng() % functions.size()];
            p.bhs[9] = static_cast<uint8_t>(o.lun);
            put32(p.bhs, 16, c.next_itt());
            put32(p.bhs, 20, static_cast<uint32_t>(rng() % 16));  // Referenced Task Tag
            put32(p.bhs, 24, c.next_cmd_sn());
            put32(p.bhs, 28, c.exp_stat_sn());
            out.push_back(std::move(p));
            break;
        }
        case 7: {  // Logout: close the session (rarely: a login follows)
            Pdu p;
            p.bhs[0] = 0x46;
            p.bhs[1] = 0x80 | static_cast<uint8_t>(rng() % 3);
            put32(p.bhs, 16, c.next_itt());
            put32(p.bhs, 24, c.next_cmd_sn());
            put32(p.bhs, 28, c.exp_stat_sn());
            c.advance_cmd_sn();
            out.push_back(std::move(p));
            break;
        }
        case 8:  // WRITE SAME(10): one block of data for several
            out.push_back(scsi_command(c, o, {0x41, 0, 0, 0, 0, lba, 0, 0, blocks, 0}, 0xA1, bs,
                                       Bytes(bs, 0x33)));
            break;
        default:  // READ(16)
            out.push_back(scsi_command(c, o,
                                       {0x88, 0, 0, 0, 0, 0, 0, 0, 0, lba, 0, 0, 0, blocks, 0, 0},
                                       0xC1, blocks * bs));
            break;
    }
    return out;
}

// ---- mutations
// ------------------------------------------------------------------------------------

constexpr std::array<uint32_t, 14> interesting{
    0, 1, 3, 4, 47, 48, 512, 8192, 65535, 65536, 262145, 0x00FFFFFF, 0x7FFFFFFF, 0xFFFFFFFF};

// Mutates one serialized PDU in place; returns what it did, for --verbose.
std::string mutate(Bytes& wire, bool& send_twice, std::mt19937_64& rng) {
    auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
    if (wire.size() < 48) {
        return "(already truncated)";  // every mutation below works on a whole BHS
    }
    auto field = [&](size_t at, uint32_t v) {
        if (at + 4 <= wire.size()) {
            put32(wire, at, v);
        }
    };
    switch (pick(14)) {
        case 0: {
            const size_t at = pick(std::min<size_t>(wire.size(), 48));
            wire[at] ^= static_cast<uint8_t>(1U << pick(8));
            return "bhs bit flip at " + std::to_string(at);
        }
        case 1: {
            const size_t at = pick(wire.size());
            wire[at] ^= static_cast<uint8_t>(1U << pick(8));
            return "bit flip at " + std::to_string(at);
        }
        case 2:
            wire[0] = static_cast<uint8_t>((wire[0] & 0x40) | pick(64));
            return "opcode " + std::to_string(wire[0] & 0x3F);
        case 3:
            wire[1] = static_cast<uint8_t>(rng());
            return "flags " + std::to_string(wire[1]);
        case 4: {
            const uint32_t v = interesting[pick(interesting.size())] & 0x00FFFFFF;
            wire[5] = static_cast<uint8_t>(v >> 16);
            wire[6] = static_cast<uint8_t>(v >> 8);
            wire[7] = static_cast<uint8_t>(v);
            return "data segment length " + std::to_string(v);
        }
        case 5: {
            wire[4] = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : 1 + rng() % 4);
            const size_t ahs = size_t{wire[4]} * 4;
            Bytes garbage(ahs);
            for (auto& b : garbage) {
                b = static_cast<uint8_t>(rng());
            }
            if (rng() % 2 == 0) {
                wire.insert(wire.begin() + 48, garbage.begin(), garbage.end());
            }
            return "TotalAHSLength " + std::to_string(wire[4]);
        }
        case 6:
            field(24, rng() % 2 == 0 ? interesting[pick(interesting.size())]
                                     : static_cast<uint32_t>(rng()));
            return "CmdSN/StatSN";
        case 7:
            field(20, interesting[pick(interesting.size())]);
            return "EDTL/TTT";
        case 8:
            field(16, rng() % 2 == 0 ? 0xFFFFFFFFU : static_cast<uint32_t>(rng() % 4));
            return "ITT";
        case 9: {
            const size_t at = 32 + pick(16);
            wire[at] = static_cast<uint8_t>(rng() % 2 == 0 ? rng() : 0xFF);
            return "CDB/field byte " + std::to_string(at);
        }
        case 10:
            wire[8 + pick(8)] = static_cast<uint8_t>(rng());
            return "LUN";
        case 11: {
            const size_t keep = pick(wire.size());
            wire.resize(keep);
            return "truncated to " + std::to_string(keep);
        }
        case 12: {  // a digest's bytes (or 4 bytes where a digest would be)
            if (wire.size() >= 52) {
                wire[48 + pick(4)] ^= 0xFF;
            }
            wire[wire.size() - 1] ^= 0x01;
            return "digest/tail";
        }
        default:
            send_twice = true;
            return "sent twice";
    }
}

// After a mutation of the header or the data, the digests are computed again (most of the time):
// a digest that no longer matches ends the connection at the first check, and the mutated field
// behind it would never be read.
void refresh_digests(Bytes& wire, bool header_digest, bool data_digest) {
    if (wire.size() < 48) {
        return;
    }
    const size_t header_end = 48 + size_t{wire[4]} * 4;
    size_t data_start = header_end;
    if (header_digest) {
        if (wire.size() < header_end + 4) {
            return;
        }
        const uint32_t c = crc32c(wire.data(), header_end);
        for (int i = 0; i < 4; ++i) {
            wire[header_end + i] = static_cast<uint8_t>(c >> (8 * i));
        }
        data_start += 4;
    }
    const size_t padded = (get24(&wire[5]) + 3) & ~size_t{3};
    if (data_digest && padded > 0 && wire.size() >= data_start + padded + 4) {
        const uint32_t c = crc32c(wire.data() + data_start, padded);
        for (int i = 0; i < 4; ++i) {
            wire[data_start + padded + i] = static_cast<uint8_t>(c >> (8 * i));
        }
    }
}

// ---- the bystander
// --------------------------------------------------------------------------------

class Bystander {
  public:
    explicit Bystander(const Options& o) : o_(o) {}

    // WRITE a block, READ it back, COMPARE AND WRITE it to the next value, READ again: each answer
    // GOOD and each block as written. An empty string when all held.
    std::string check(uint64_t round) {
        if (!ctx_) {
            std::string error;
            ctx_ = atsarray::initiator::login(o_.portal, o_.bystander_target,
                                              o_.initiator + "-bystander", o_.bystander_lun, 10,
                                              error);
            if (!ctx_) {
                return "bystander login failed: " + error;
            }
        }
        const uint32_t bs = o_.block_size;
        Bytes first(bs, 0);
        Bytes second(bs, 0);
        for (uint32_t i = 0; i < bs; ++i) {
            first[i] = static_cast<uint8_t>(round + i);
            second[i] = static_cast<uint8_t>(~(round + i));
        }
        const auto good = [](scsi_task* t) {
            atsarray::initiator::Task task(t);
            return task && task->status == SCSI_STATUS_GOOD;
        };
        if (!good(iscsi_write16_sync(ctx_.get(), o_.bystander_lun, o_.bystander_lba, first.data(),
                                     bs, static_cast<int>(bs), 0, 0, 0, 0, 0))) {
            return fail("WRITE(16)");
        }
        if (auto e = read_back(first, "after WRITE"); !e.empty()) {
            return e;
        }
        Bytes ats = first;
        ats.insert(ats.end(), second.begin(), second.end());
        if (!good(iscsi_compareandwrite_sync(ctx_.get(), o_.bystander_lun, o_.bystander_lba,
                                             ats.data(), 2 * bs, static_cast<int>(bs), 0, 0, 0, 0,
                                             0))) {
            return fail("COMPARE AND WRITE");
        }
        return read_back(second, "after COMPARE AND WRITE");
    }

  private:
    std::string read_back(const Bytes& expected, const char* when) {
        atsarray::initiator::Task t(
            iscsi_read16_sync(ctx_.get(), o_.bystander_lun, o_.bystander_lba, o_.block_size,
                              static_cast<int>(o_.block_size), 0, 0, 0, 0, 0));
        if (!t || t->status != SCSI_STATUS_GOOD) {
            return fail("READ(16)");
        }
        if (t->datain.size != static_cast<int>(expected.size()) ||
            std::memcmp(t->datain.data, expected.data(), expected.size()) != 0) {
            return std::string("bystander block differs ") + when;
        }
        return {};
    }

    std::string fail(const char* what) {
        std::string e =
            std::string("bystander ") + what + " failed: " + iscsi_get_error(ctx_.get());
        ctx_.reset();
        return e;
    }

    const Options& o_;
    atsarray::initiator::Context ctx_;
};

// ---- the run
// --------------------------------------------------------------------------------------

bool portal_accepts(const Options& o) {
    Connection probe(o);
    std::mt19937_64 rng(0);
    std::string error;
    // A login, not just a TCP connect: a target that accepts but never answers is not alive.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (probe.login(rng, error)) {
            return true;
        }
        ::usleep(200 * 1000);
    }
    std::fprintf(stderr, "net-fuzz: probe: %s\n", error.c_str());
    return false;
}

void usage() {
    std::fprintf(stderr,
                 "usage: net-fuzz --target IQN [--portal HOST:PORT] [--lun N]\n"
                 "                [--bystander-target IQN] [--bystander-lun N] "
                 "[--bystander-lba N]\n"
                 "                [--seed N] [--duration SECONDS] [--iterations N] [--batch N]\n"
                 "                [--block-size N] [--pid PID] [--verbose]\n"
                 "The fuzzed target must allow a login without CHAP. The bystander's block is\n"
                 "overwritten; give it a target or LUN the fuzzed session cannot reach.\n");
}

bool parse_options(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const auto number = [&](auto& out) {
            const char* v = value();
            if (v == nullptr) {
                return false;
            }
            char* end = nullptr;
            const unsigned long long n = std::strtoull(v, &end, 0);
            out = static_cast<std::remove_reference_t<decltype(out)>>(n);
            return end != v && *end == '\0';
        };
        bool ok = true;
        if (a == "--portal" || a == "--target" || a == "--bystander-target" || a == "--initiator") {
            const char* v = value();
            ok = v != nullptr;
            if (ok) {
                (a == "--portal"             ? o.portal
                 : a == "--target"           ? o.target
                 : a == "--bystander-target" ? o.bystander_target
                                             : o.initiator) = v;
            }
        } else if (a == "--lun") {
            ok = number(o.lun);
        } else if (a == "--bystander-lun") {
            ok = number(o.bystander_lun);
        } else if (a == "--bystander-lba") {
            ok = number(o.bystander_lba);
        } else if (a == "--seed") {
            ok = number(o.seed);
        } else if (a == "--iterations") {
            ok = number(o.iterations);
        } else if (a == "--batch") {
            ok = number(o.batch) && o.batch > 0;
        } else if (a == "--block-size") {
            ok = number(o.block_size) && o.block_size > 0;
        } else if (a == "--pid") {
            ok = number(o.pid);
        } else if (a == "--duration") {
            const char* v = value();
            ok = v != nullptr;
            if (ok) {
                o.duration = std::strtod(v, nullptr);
            }
        } else if (a == "--verbose") {
            o.verbose = true;
        } else {
            ok = false;
        }
        if (!ok) {
            std::fprintf(stderr, "net-fuzz: bad argument %s\n", argv[i]);
            return false;
        }
    }
    if (o.bystander_target.empty()) {
        o.bystander_target = o.target;
    }
    return !o.target.empty() && (o.iterations > 0 || o.duration > 0);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse_options(argc, argv, o)) {
        usage();
        return 2;
    }
    (void)atsarray::initiator::create_context("net-fuzz");  // SIGPIPE ignored from here on
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.duration));
    Connection conn(o);
    Bystander bystander(o);
    uint64_t logins = 0;
    uint64_t closes = 0;
    uint64_t sent = 0;
    uint64_t batch_start = 0;
    const auto failed = [&](uint64_t iteration, const std::string& what) {
        std::fprintf(stderr,
                     "net-fuzz: FAILED in the batch of iterations %llu..%llu: %s\n"
                     "net-fuzz: reproduce with --seed %llu --iterations %llu --batch %llu\n",
                     static_cast<unsigned long long>(batch_start),
                     static_cast<unsigned long long>(iteration), what.c_str(),
                     static_cast<unsigned long long>(o.seed),
                     static_cast<unsigned long long>(iteration + 1),
                     static_cast<unsigned long long>(o.batch));
        return 1;
    };
    if (auto e = bystander.check(0); !e.empty()) {
        std::fprintf(stderr, "net-fuzz: before fuzzing: %s\n", e.c_str());
        return 1;
    }
    uint64_t i = 0;
    for (;; ++i) {
        const bool more =
            (o.iterations == 0 || i < o.iterations) && (o.duration <= 0 || Clock::now() < deadline);
        if (!more || (i > 0 && i % o.batch == 0)) {
            // The target still logs in, the daemon still runs, the bystander's data holds.
            if (o.pid > 0 && ::kill(o.pid, 0) != 0) {
                return failed(i > 0 ? i - 1 : 0,
                              "the daemon (pid " + std::to_string(o.pid) + ") is gone");
            }
            if (!portal_accepts(o)) {
                return failed(i > 0 ? i - 1 : 0, "the target no longer logs in");
            }
            if (auto e = bystander.check(i); !e.empty()) {
                return failed(i > 0 ? i - 1 : 0, e);
            }
            batch_start = i;
        }
        if (!more) {
            break;
        }
        std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ULL + i);
        if (!conn.open()) {
            std::string error;
            if (!conn.login(rng, error)) {
                if (o.pid > 0 && ::kill(o.pid, 0) != 0) {
                    return failed(i, "the daemon is gone: " + error);
                }
                if (!portal_accepts(o)) {
                    return failed(i, error);
                }
                continue;
            }
            ++logins;
        }
        const bool mutated = rng() % 10 != 0;
        for (Pdu& p : seed_pdus(conn, o, rng)) {
            Bytes wire = serialize(p, conn.header_digest(), conn.data_digest());
            bool twice = false;
            std::string what = "valid";
            if (mutated) {
                what = mutate(wire, twice, rng);
                if (rng() % 4 == 0) {
                    what += ", " + mutate(wire, twice, rng);
                }
                if (what.find("digest") == std::string::npos && rng() % 8 != 0) {
                    refresh_digests(wire, conn.header_digest(), conn.data_digest());
                }
            }
            if (o.verbose) {
                std::fprintf(stderr, "%llu: opcode %02x %zu bytes: %s\n",
                             static_cast<unsigned long long>(i), wire.empty() ? 0 : wire[0],
                             wire.size(), what.c_str());
            }
            if (wire.empty() || !conn.send(wire) || (twice && !conn.send(wire))) {
                break;
            }
            ++sent;
        }
        if (!conn.drain(i % 16 == 0 ? 5 : 0)) {
            ++closes;
        }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::printf(
        "net-fuzz: %llu iterations, %llu PDUs sent, %llu logins, %llu closed by the target, "
        "%.0f s, seed %llu: no failure\n",
        static_cast<unsigned long long>(i), static_cast<unsigned long long>(sent),
        static_cast<unsigned long long>(logins), static_cast<unsigned long long>(closes), seconds,
        static_cast<unsigned long long>(o.seed));
    return 0;
}
