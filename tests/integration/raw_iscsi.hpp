#pragma once
// A raw iSCSI peer for tests that must send what no well-behaved initiator would: hand-built
// PDUs over a plain socket, and reads of whatever comes back.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace atsarray::testing {

inline void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    b[at] = static_cast<uint8_t>(v >> 24);
    b[at + 1] = static_cast<uint8_t>(v >> 16);
    b[at + 2] = static_cast<uint8_t>(v >> 8);
    b[at + 3] = static_cast<uint8_t>(v);
}
inline uint32_t get32(const std::vector<uint8_t>& b, size_t at) {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           b[at + 3];
}

inline std::string keys(std::initializer_list<std::string> kv) {
    std::string s;
    for (const auto& k : kv) {
        s += k;
        s.push_back('\0');
    }
    return s;
}

// A PDU with the given opcode byte, flags, data segment and ITT.
inline std::vector<uint8_t> pdu(uint8_t opcode, uint8_t flags, const std::string& data,
                                uint32_t itt = 1, uint32_t dsl_override = 0) {
    // Sized once: GCC 12's -Warray-bounds misfires on insert() into a 48-byte vector.
    std::vector<uint8_t> b(48 + ((data.size() + 3) & ~size_t{3}), 0);
    b[0] = opcode;
    b[1] = flags;
    const uint32_t dsl = dsl_override != 0 ? dsl_override : static_cast<uint32_t>(data.size());
    b[5] = static_cast<uint8_t>(dsl >> 16);
    b[6] = static_cast<uint8_t>(dsl >> 8);
    b[7] = static_cast<uint8_t>(dsl);
    put32(b, 16, itt);
    std::copy(data.begin(), data.end(), b.begin() + 48);
    return b;
}

// Login Request (RFC 7143 §11.12): I bit, T/C/CSG/NSG, ISID 0x400000123456.
inline std::vector<uint8_t> login_pdu(uint8_t flags, const std::string& data, uint32_t cmd_sn = 1) {
    auto b = pdu(0x43, flags, data);
    const uint8_t isid[6] = {0x40, 0x00, 0x00, 0x12, 0x34, 0x56};
    std::memcpy(&b[8], isid, 6);
    put32(b, 24, cmd_sn);
    return b;
}

inline std::vector<uint8_t> from_hex(const std::string& hex) {
    std::vector<uint8_t> out;
    for (size_t i = 2; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

// CHAP response MD5(id || secret || challenge) (RFC 1994 §4.1), as "0x" hex.
inline std::string chap_response(uint8_t id, const std::string& secret,
                                 const std::vector<uint8_t>& c) {
    std::vector<uint8_t> in{id};
    in.insert(in.end(), secret.begin(), secret.end());
    in.insert(in.end(), c.begin(), c.end());
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(in.data(), in.size(), md, &len, EVP_md5(), nullptr);
    static const char* digits = "0123456789abcdef";
    std::string out = "0x";
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(digits[md[i] >> 4]);
        out.push_back(digits[md[i] & 15]);
    }
    return out;
}

inline std::string key_value(const std::string& data, const std::string& key) {
    const auto at = data.find(key + "=");
    if (at == std::string::npos) {
        return {};
    }
    const auto start = at + key.size() + 1;
    return data.substr(start, data.find('\0', start) - start);
}

class RawConnection {
  public:
    explicit RawConnection(uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~RawConnection() { ::close(fd_); }
    bool connected() const { return connected_; }

    void send(const std::vector<uint8_t>& bytes) {
        // A peer that closed on us makes send fail; the tests look at what came back.
        (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }

    // Reads one PDU (BHS + data); false on timeout or close.
    bool read_pdu(std::vector<uint8_t>& bhs, std::string& data, int timeout_ms = 5000) {
        bhs.assign(48, 0);
        if (!read_exact(bhs.data(), 48, timeout_ms)) {
            return false;
        }
        const uint32_t dsl = (uint32_t{bhs[5]} << 16) | (uint32_t{bhs[6]} << 8) | bhs[7];
        std::vector<uint8_t> d((dsl + 3) & ~3U);
        if (!d.empty() && !read_exact(d.data(), d.size(), timeout_ms)) {
            return false;
        }
        data.assign(d.begin(), d.begin() + dsl);
        return true;
    }

    // True when the peer closes the connection within the timeout (after any pending PDUs).
    bool closed_by_peer(int timeout_ms = 5000) {
        uint8_t buf[4096];
        for (;;) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, timeout_ms) <= 0) {
                return false;
            }
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                return true;
            }
        }
    }

    // Reads n raw bytes (a digest that follows a PDU read by read_pdu).
    bool read_bytes(std::string& out, size_t n, int timeout_ms = 5000) {
        out.assign(n, '\0');
        return read_exact(reinterpret_cast<uint8_t*>(out.data()), n, timeout_ms);
    }

  private:
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

    int fd_ = -1;
    bool connected_ = false;
};

// Logs in with AuthMethod=None straight to full feature phase (CSG=1, NSG=3, T=1); returns the
// Login Response BHS.
inline std::vector<uint8_t> login_full(RawConnection& c, const std::string& target_name,
                                       const std::string& initiator,
                                       const std::string& data_digest = "None") {
    c.send(login_pdu(
        0x87, keys({"InitiatorName=" + initiator, "TargetName=" + target_name, "SessionType=Normal",
                    "HeaderDigest=None", "DataDigest=" + data_digest})));
    std::vector<uint8_t> bhs;
    std::string data;
    EXPECT_TRUE(c.read_pdu(bhs, data));
    return bhs;
}

// A raw session logged straight into full feature phase; tracks the next CmdSN. `extra_keys`
// (NUL-separated, see keys()) go into the one Login Request.
struct RawSession {
    RawSession(uint16_t port, const std::string& target_name, const std::string& initiator,
               const std::string& extra_keys = "")
        : conn(port) {
        conn.send(login_pdu(0x87, keys({"InitiatorName=" + initiator, "TargetName=" + target_name,
                                        "HeaderDigest=None", "DataDigest=None"}) +
                                      extra_keys));
        std::string data;
        EXPECT_TRUE(conn.read_pdu(login_response, data));
        cmd_sn = get32(login_response, 28);
    }

    // Sends a SCSI command with a 16-byte CDB to `lun` (single level LUN addressing, SAM-5
    // §4.7.7); returns the CmdSN it used.
    uint32_t command(uint32_t itt, const std::vector<uint8_t>& cdb, uint8_t flags = 0x80,
                     const std::string& data = "", uint32_t edtl = 0, uint8_t lun = 0) {
        auto p = pdu(0x01, flags, data, itt);
        p[9] = lun;
        put32(p, 20, edtl);
        put32(p, 24, cmd_sn);
        for (size_t i = 0; i < cdb.size() && i < 16; ++i) {
            p[32 + i] = cdb[i];
        }
        conn.send(p);
        return cmd_sn++;
    }

    // ABORT TASK (immediate); returns the TMF response code.
    int abort_task(uint32_t itt, uint32_t referenced_itt, uint32_t referenced_cmd_sn) {
        auto p = pdu(0x42, 0x80 | 1, "", itt);
        put32(p, 20, referenced_itt);
        put32(p, 24, cmd_sn);
        put32(p, 32, referenced_cmd_sn);
        conn.send(p);
        std::vector<uint8_t> bhs;
        std::string data;
        if (!conn.read_pdu(bhs, data) || (bhs[0] & 0x3f) != 0x22) {
            return -1;
        }
        return bhs[2];
    }

    // TEST UNIT READY until GOOD: a new I_T nexus first gets its power-on unit attention
    // (SAM-5 §6.3.2). Uses ITTs 0x7f000000 and up.
    bool clear_unit_attention(uint8_t lun = 0) {
        for (uint32_t i = 0; i < 3; ++i) {
            command(0x7f000000 + i, {0x00}, 0x80, "", 0, lun);
            std::vector<uint8_t> bhs;
            std::string data;
            if (!conn.read_pdu(bhs, data)) {
                return false;
            }
            if ((bhs[0] & 0x3f) == 0x21 && bhs[3] == 0x00) {
                return true;
            }
        }
        return false;
    }

    RawConnection conn;
    std::vector<uint8_t> login_response;
    uint32_t cmd_sn = 0;
};

}  // namespace atsarray::testing
