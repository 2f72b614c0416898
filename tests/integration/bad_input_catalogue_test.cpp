// A catalogue of bad inputs (issue 12), each a case of one table: the clause it breaks, the input
// a fresh raw connection sends over TCP, and the one answer the spec names. After every case a
// bystander session, logged in once for the suite, writes, reads and COMPARE AND WRITEs its own
// block, and the daemon must still be alive. The index of the cases, with their clauses and
// answers, is tests/integration/BAD_INPUTS.md; hostile_test.cpp holds 16 earlier ones.
//
// Answers are written as the tests observe them:
//   "Login status CCDD[, closed]"      Login Response Status-Class/Detail (RFC 7143 §11.13.5)
//   "Reject RR[, closed]"              Reject PDU reason (RFC 7143 §11.17.1)
//   "CHECK CONDITION KK/AA/QQ"         sense key / ASC / ASCQ (SPC-4 Annex D)
//   "TMF response N"                   Task Management Function Response (RFC 7143 §11.6.1)
//   "GOOD", "ignored", "Text Response: key=value", ...
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tests/integration/raw_iscsi.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

constexpr const char* target_name = "iqn.2026-11.org.atsarray:catalogue";
constexpr const char* chap_target = "iqn.2026-11.org.atsarray:catalogue-chap";
constexpr const char* private_target = "iqn.2026-11.org.atsarray:catalogue-private";
constexpr const char* attacker = "iqn.2026-11.org.atsarray:attacker";
constexpr const char* owner = "iqn.2026-11.org.atsarray:owner";
constexpr uint32_t block_size = 512;
constexpr uint64_t bystander_lba = 1000;
constexpr uint32_t itt = 0x100;  // the ITT of the command a case is about

std::string config() {
    // A dual-controller array (the default config's shape): the suite's portal is controller A,
    // a second one controller B, so SET TARGET PORT GROUPS is served and its checks apply.
    const std::string second = "127.0.0.1:" + std::to_string(free_port());
    std::string c =
        "[[portal]]\naddress = \"127.0.0.1\"\nport = " + second.substr(second.find(':') + 1) +
        "\n[[target_port_group]]\nid = 1\nportals = [\"127.0.0.1:@PORT@\"]\n"
        "[[target_port_group]]\nid = 2\nportals = [\"" +
        second + "\"]\nstate = \"active_non_optimized\"\n";
    // No target-initiated NOP-In: the bystander is only serviced between cases. Every case is a
    // new connection from 127.0.0.1: on a loaded machine the last cases' connections may still
    // be closing when the next one comes, so the per-address limit (128, issue 12) is raised
    // out of the way; its own tests are in accept_limits_test.cpp.
    c += "[iscsi]\nnop_in_interval = 0\nmax_connections_per_initiator = 4096\n";
    const auto lun = [](int id) {
        return "[[target.lun]]\nid = " + std::to_string(id) +
               "\nbackend = \"memory\"\nsize = \"1MiB\"\n";
    };
    c += std::string("[[target]]\nname = \"") + target_name + "\"\n" + lun(0) + lun(1);
    c += std::string("[[target]]\nname = \"") + chap_target + "\"\n" +
         "[target.chap]\nuser = \"host1\"\nsecret = \"initiator-secret-1\"\n"
         "[target.mutual_chap]\nuser = \"array\"\nsecret = \"target-secret-22\"\n" +
         lun(0);
    c += std::string("[[target]]\nname = \"") + private_target + "\"\nallowed_initiators = [\"" +
         owner + "\"]\n" + lun(0);
    // Long names so that SendTargets=All is well over 512 bytes.
    for (int i = 0; i < 4; ++i) {
        c += "[[target]]\nname = \"iqn.2026-11.org.atsarray:" + std::string(150, 'n') + "-" +
             std::to_string(i) + "\"\n" + lun(0);
    }
    return c;
}

// What a case needs from the suite.
struct Env {
    uint16_t port = 0;
    std::vector<uint8_t> own_naa;      // LUN 0 of target_name
    std::vector<uint8_t> private_naa;  // LUN 0 of private_target, which only `owner` may see
};

std::string hex_byte(unsigned v) {
    static const char* digits = "0123456789ABCDEF";
    return {digits[(v >> 4) & 15], digits[v & 15]};
}

std::string scsi_status(uint8_t status, const std::string& data) {
    if (status == 0x00) {
        return "GOOD";
    }
    if (status == 0x18) {
        return "RESERVATION CONFLICT";
    }
    if (status == 0x02 && data.size() >= 2 + 4) {
        const auto* s = reinterpret_cast<const uint8_t*>(data.data()) + 2;  // after SenseLength
        const bool descriptor = (s[0] & 0x7f) >= 0x72;
        if (descriptor) {
            return "CHECK CONDITION " + hex_byte(s[1] & 0x0f) + "/" + hex_byte(s[2]) + "/" +
                   hex_byte(s[3]);
        }
        if (data.size() >= 2 + 14) {
            return "CHECK CONDITION " + hex_byte(s[2] & 0x0f) + "/" + hex_byte(s[12]) + "/" +
                   hex_byte(s[13]);
        }
    }
    return "status 0x" + hex_byte(status);
}

std::string describe(const std::vector<uint8_t>& bhs, const std::string& data) {
    switch (bhs[0] & 0x3f) {
        case 0x3f:
            return "Reject " + hex_byte(bhs[2]);
        case 0x23:
            return "Login status " + hex_byte(bhs[36]) + hex_byte(bhs[37]);
        case 0x21:
            return scsi_status(bhs[3], data);
        case 0x25:
            return (bhs[1] & 0x01) != 0 ? scsi_status(bhs[3], "") : "Data-In";
        case 0x22:
            return "TMF response " + std::to_string(bhs[2]);
        case 0x26:
            return "Logout response " + std::to_string(bhs[2]);
        case 0x20:
            return "NOP-In";
        case 0x24:
            return "Text Response";
        case 0x31:
            return "R2T";
        default:
            return "opcode 0x" + hex_byte(bhs[0] & 0x3f);
    }
}

// The next PDU described, with ", closed" when it ended the connection.
std::string answer(RawConnection& c, bool check_close = false) {
    std::vector<uint8_t> bhs;
    std::string data;
    if (!c.read_pdu(bhs, data)) {
        return "no answer";
    }
    std::string out = describe(bhs, data);
    if (check_close && c.closed_by_peer(3000)) {
        out += ", closed";
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Login phase

std::vector<uint8_t> login_request(uint8_t flags, const std::string& body, uint8_t version_max = 0,
                                   uint8_t version_min = 0, uint16_t tsih = 0) {
    auto p = login_pdu(flags, body);
    p[2] = version_max;
    p[3] = version_min;
    p[14] = static_cast<uint8_t>(tsih >> 8);
    p[15] = static_cast<uint8_t>(tsih);
    return p;
}

std::string identity(const std::string& target = target_name) {
    return keys({"InitiatorName=" + std::string(attacker), "TargetName=" + target});
}

// One Login Request; a failure must end the connection (RFC 7143 §11.13.5: "the target closes
// the connection" after a Status-Class other than 0).
std::function<std::string(const Env&)> login_once(uint8_t flags, std::string body,
                                                  uint8_t version_max = 0, uint8_t version_min = 0,
                                                  uint16_t tsih = 0) {
    return [=](const Env& env) {
        RawConnection c(env.port);
        c.send(login_request(flags, body, version_max, version_min, tsih));
        std::vector<uint8_t> bhs;
        std::string data;
        if (!c.read_pdu(bhs, data)) {
            return std::string("no answer");
        }
        std::string out = describe(bhs, data);
        if (bhs[36] != 0) {
            if (c.closed_by_peer(3000)) {
                out += ", closed";
            }
        } else {
            // A successful login with a key refused: name the refusal.
            for (const char* key : {"MaxRecvDataSegmentLength", "HeaderDigest", "DataDigest"}) {
                if (key_value(data, key) == "Reject") {
                    out += std::string(", ") + key + "=Reject";
                }
            }
        }
        return out;
    };
}

// AuthMethod=CHAP, then CHAP_A=5 (RFC 7143 §12.1.3): returns the target's CHAP_I and CHAP_C, or
// empty strings if the exchange did not get there.
std::pair<std::string, std::string> chap_start(RawConnection& c) {
    std::vector<uint8_t> bhs;
    std::string data;
    c.send(login_pdu(0x01, identity(chap_target) + keys({"AuthMethod=CHAP"})));  // CSG=0 NSG=1
    if (!c.read_pdu(bhs, data) || bhs[36] != 0) {
        return {};
    }
    c.send(login_pdu(0x01, keys({"CHAP_A=5"})));
    if (!c.read_pdu(bhs, data) || bhs[36] != 0) {
        return {};
    }
    return {key_value(data, "CHAP_I"), key_value(data, "CHAP_C")};
}

// The CHAP exchange up to the initiator's answer, which `reply` builds from CHAP_I and CHAP_C.
std::function<std::string(const Env&)> chap_reply(
    std::function<std::string(uint8_t, const std::vector<uint8_t>&)> reply) {
    return [=](const Env& env) {
        RawConnection c(env.port);
        const auto [id, challenge] = chap_start(c);
        if (id.empty() || challenge.empty()) {
            return std::string("CHAP exchange did not start");
        }
        c.send(login_pdu(0x81, reply(static_cast<uint8_t>(std::stoi(id)), from_hex(challenge))));
        return answer(c, true);
    };
}

std::string good_chap_r(uint8_t id, const std::vector<uint8_t>& challenge) {
    return chap_response(id, "initiator-secret-1", challenge);
}

// ---------------------------------------------------------------------------------------------
// Full feature phase

// A request PDU of `opcode` with the session's next CmdSN (not advanced: for immediate ones).
std::vector<uint8_t> request(RawSession& s, uint8_t opcode, uint8_t flags,
                             const std::string& data = "", uint32_t tag = itt) {
    auto p = pdu(opcode, flags, data, tag);
    put32(p, 24, s.cmd_sn);
    return p;
}

std::vector<uint8_t> data_out(uint32_t tag, uint32_t ttt, uint32_t data_sn, uint32_t offset,
                              const std::string& data, bool final_pdu = true) {
    auto p = pdu(0x05, final_pdu ? 0x80 : 0x00, data, tag);
    put32(p, 20, ttt);
    put32(p, 36, data_sn);
    put32(p, 40, offset);
    return p;
}

std::vector<uint8_t> write10(uint32_t lba, uint16_t blocks) {
    return {0x2a,
            0,
            static_cast<uint8_t>(lba >> 24),
            static_cast<uint8_t>(lba >> 16),
            static_cast<uint8_t>(lba >> 8),
            static_cast<uint8_t>(lba),
            0,
            static_cast<uint8_t>(blocks >> 8),
            static_cast<uint8_t>(blocks),
            0};
}

// A logged-in raw session whose LUN `lun` has no unit attention pending, or nothing.
std::unique_ptr<RawSession> ready_session(const Env& env, const std::string& extra_keys = "",
                                          uint8_t lun = 0) {
    auto s = std::make_unique<RawSession>(env.port, target_name, attacker, extra_keys);
    if (s->login_response[36] != 0 || !s->clear_unit_attention(lun)) {
        return nullptr;
    }
    return s;
}

// WRITE(10) of `blocks` without data; returns the first R2T's TTT (0 when none came).
uint32_t write_until_r2t(RawSession& s, uint16_t blocks) {
    s.command(itt, write10(10, blocks), 0xa0, "", blocks * block_size);
    std::vector<uint8_t> bhs;
    std::string data;
    if (!s.conn.read_pdu(bhs, data) || (bhs[0] & 0x3f) != 0x31) {
        return 0;
    }
    return get32(bhs, 20);
}

std::function<std::string(const Env&)> in_session(std::function<std::string(RawSession&)> body,
                                                  std::string extra_keys = "") {
    return [=](const Env& env) {
        auto s = ready_session(env, extra_keys);
        if (!s) {
            return std::string("no session");
        }
        return body(*s);
    };
}

// Task Management Function Request (RFC 7143 §11.5), immediate.
std::string tmf(RawSession& s, uint8_t function, uint8_t lun, uint32_t referenced_itt,
                uint32_t ref_cmd_sn) {
    auto p = request(s, 0x42, static_cast<uint8_t>(0x80 | function));
    p[9] = lun;
    put32(p, 20, referenced_itt);
    put32(p, 32, ref_cmd_sn);
    s.conn.send(p);
    return answer(s.conn);
}

// Text Request (RFC 7143 §11.10); returns the answer and, for a Text Response, its keys.
std::string text(RawSession& s, const std::string& body) {
    auto p = request(s, 0x04, 0x80, body);
    put32(p, 20, 0xffffffff);
    ++s.cmd_sn;
    s.conn.send(p);
    std::vector<uint8_t> bhs;
    std::string data;
    if (!s.conn.read_pdu(bhs, data)) {
        return "no answer";
    }
    std::string out = describe(bhs, data);
    if ((bhs[0] & 0x3f) == 0x24) {
        std::string shown;
        for (char ch : data) {
            shown.push_back(ch == '\0' ? ' ' : ch);
        }
        const size_t end = shown.find_last_not_of(' ');
        out += end == std::string::npos ? ": (no keys)" : ": " + shown.substr(0, end + 1);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// SCSI

struct ScsiAnswer {
    std::string status;
    std::string data;  // Data-In
};

ScsiAnswer scsi_answer(RawConnection& c) {
    ScsiAnswer a;
    for (;;) {
        std::vector<uint8_t> bhs;
        std::string data;
        if (!c.read_pdu(bhs, data)) {
            a.status = "no answer";
            return a;
        }
        if ((bhs[0] & 0x3f) == 0x25) {
            a.data += data;
            if ((bhs[1] & 0x01) == 0) {
                continue;
            }
        }
        a.status = describe(bhs, data);
        return a;
    }
}

// One command on a fresh session; W when `data` or a write EDTL is given, R for `read_length`.
ScsiAnswer scsi(const Env& env, const std::vector<uint8_t>& cdb, const std::string& data = "",
                uint32_t read_length = 0, uint8_t lun = 0) {
    auto s = ready_session(env, "", lun);
    if (!s) {
        return {"no session", {}};
    }
    uint8_t flags = 0x80;
    uint32_t edtl = 0;
    if (!data.empty()) {
        flags |= 0x20;
        edtl = static_cast<uint32_t>(data.size());
    } else if (read_length > 0) {
        flags |= 0x40;
        edtl = read_length;
    }
    s->command(itt, cdb, flags, data, edtl, lun);
    return scsi_answer(s->conn);
}

std::function<std::string(const Env&)> scsi_case(std::vector<uint8_t> cdb, std::string data = "",
                                                 uint32_t read_length = 0, uint8_t lun = 0) {
    return [=](const Env& env) { return scsi(env, cdb, data, read_length, lun).status; };
}

std::string bytes(std::initializer_list<uint8_t> b) {
    return {b.begin(), b.end()};
}

std::vector<uint8_t> read16(uint64_t lba, uint32_t blocks) {
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = 0x88;
    for (int i = 0; i < 8; ++i) {
        cdb[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    for (int i = 0; i < 4; ++i) {
        cdb[10 + i] = static_cast<uint8_t>(blocks >> (24 - 8 * i));
    }
    return cdb;
}

// REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35).
std::vector<uint8_t> rsoc(uint8_t options, uint8_t opcode, uint32_t allocation_length) {
    return {0xa3,
            0x0c,
            options,
            opcode,
            0,
            0,
            static_cast<uint8_t>(allocation_length >> 24),
            static_cast<uint8_t>(allocation_length >> 16),
            static_cast<uint8_t>(allocation_length >> 8),
            static_cast<uint8_t>(allocation_length),
            0,
            0};
}

// EXTENDED COPY(LID1) parameter list (SPC-4 §6.4.3): two identification CSCD descriptors (NAA,
// §6.4.5.4) and one block to block segment copying one block from the first to the second.
std::string xcopy_list(const std::vector<uint8_t>& source, const std::vector<uint8_t>& dest) {
    std::vector<uint8_t> p(16 + 2 * 32 + 28, 0);
    p[1] = 0x18;  // LIST ID USAGE 11b: no list identifier
    p[3] = 64;    // CSCD DESCRIPTOR LIST LENGTH
    p[11] = 28;   // SEGMENT DESCRIPTOR LIST LENGTH
    for (size_t i = 0; i < 2; ++i) {
        const size_t at = 16 + 32 * i;
        const auto& naa = i == 0 ? source : dest;
        p[at] = 0xe4;      // identification descriptor
        p[at + 4] = 0x01;  // binary
        p[at + 5] = 0x03;  // logical unit association, NAA
        p[at + 7] = 16;
        std::copy(naa.begin(), naa.begin() + std::min<size_t>(naa.size(), 16), p.begin() + at + 8);
        p[at + 30] = 0x02;  // DISK BLOCK LENGTH 512
    }
    const size_t seg = 16 + 64;
    p[seg] = 0x02;    // block device to block device
    p[seg + 3] = 24;  // DESCRIPTOR LENGTH
    p[seg + 7] = 1;   // DESTINATION CSCD DESCRIPTOR INDEX
    p[seg + 11] = 1;  // BLOCK DEVICE NUMBER OF BLOCKS
    return {p.begin(), p.end()};
}

std::function<std::string(const Env&)> xcopy_to(std::vector<uint8_t> Env::*which) {
    return [which](const Env& env) {
        const std::string list = xcopy_list(env.own_naa, env.*which);
        std::vector<uint8_t> cdb(16, 0);
        cdb[0] = 0x83;
        cdb[13] = static_cast<uint8_t>(list.size());
        return scsi(env, cdb, list).status;
    };
}

// The 16-byte NAA designator of VPD page 0x83 (SPC-4 §7.8.6) of LUN 0 of `target`.
std::vector<uint8_t> naa_of(uint16_t port, const std::string& target, const std::string& name) {
    RawSession s(port, target, name);
    if (s.login_response[36] != 0 || !s.clear_unit_attention()) {
        return {};
    }
    s.command(itt, {0x12, 0x01, 0x83, 0x00, 0xff, 0x00}, 0xc0, "", 255);
    const ScsiAnswer a = scsi_answer(s.conn);
    const auto* p = reinterpret_cast<const uint8_t*>(a.data.data());
    for (size_t at = 4; at + 4 <= a.data.size();) {
        const size_t length = p[at + 3];
        if ((p[at] & 0x0f) == 0x01 && (p[at + 1] & 0x3f) == 0x03 && length == 16 &&
            at + 4 + length <= a.data.size()) {
            return {p + at + 4, p + at + 4 + length};
        }
        at += 4 + length;
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// The catalogue

struct Case {
    const char* name;    // the test's name
    const char* clause;  // what the input breaks
    const char* expected;
    std::function<std::string(const Env&)> provoke;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
    return os << c.name;
}

const std::vector<Case>& catalogue() {
    static const std::vector<Case> cases = {
        // --- Login phase ---------------------------------------------------------------------
        {"NopOutDuringLogin", "RFC 7143 §6.3, §11.13.5 (SPDK)", "Login status 020B, closed",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(login_pdu(0x01, identity() + keys({"AuthMethod=None"})));
             if (answer(c) != "Login status 0000") {
                 return std::string("first login step failed");
             }
             auto nop = pdu(0x40, 0x80, "", 2);
             put32(nop, 20, 0xffffffff);
             c.send(nop);
             return answer(c, true);
         }},
        {"TextRequestBeforeLogin", "RFC 7143 §6.3, §11.13.5 (SPDK SendTargets)",
         "Login status 020B, closed",
         [](const Env& env) {
             RawConnection c(env.port);
             auto t = pdu(0x44, 0x80, keys({"SendTargets=All"}));
             put32(t, 20, 0xffffffff);
             c.send(t);
             return answer(c, true);
         }},
        {"LogoutBeforeLogin", "RFC 7143 §6.3, §11.13.5", "Login status 020B, closed",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(pdu(0x46, 0x80, ""));
             return answer(c, true);
         }},
        {"ReservedCurrentStage", "RFC 7143 §11.12.3 (stage 2 reserved)",
         "Login status 0200, closed", login_once(0x80 | (2 << 2) | 3, identity())},
        {"ReservedNextStage", "RFC 7143 §11.12.3 (stage 2 reserved)", "Login status 0200, closed",
         login_once(0x80 | 0x02, identity())},
        {"TransitBackwards", "RFC 7143 §6.3 (transitions go forward)", "Login status 0200, closed",
         login_once(0x80 | (1 << 2) | 0, identity())},
        {"TransitAndContinue", "RFC 7143 §11.12.2 (T and C both set)", "Login status 0200, closed",
         login_once(0xc0 | (1 << 2) | 3, identity())},
        {"FullFeatureAsCurrentStage", "RFC 7143 §11.12.3 (CSG 3 is never current in login)",
         "Login status 0200, closed", login_once(0x80 | (3 << 2) | 3, identity())},
        {"SecurityStageAfterOperational", "RFC 7143 §6.3 (no way back to the security stage)",
         "Login status 0200, closed",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(login_pdu(0x81, identity() + keys({"AuthMethod=None"})));  // 0 -> 1, T
             if (answer(c) != "Login status 0000") {
                 return std::string("first login step failed");
             }
             c.send(login_pdu(0x01, keys({"AuthMethod=None"})));
             return answer(c, true);
         }},
        {"SecurityKeyInOperationalStage", "RFC 7143 §6.3.1 (security keys in stage 0 only)",
         "Login status 0200, closed",
         login_once(0x87, identity() + keys({"AuthMethod=None"}))},
        {"SkipSecurityStageOfChapTarget", "RFC 7143 §6.3, §12 (authentication required)",
         "Login status 0201, closed", login_once(0x87, identity(chap_target))},
        {"FullFeatureFromSecurityWithoutAuth", "RFC 7143 §12 (T to NSG=3, AuthMethod=None)",
         "Login status 0201, closed",
         login_once(0x83, identity(chap_target) + keys({"AuthMethod=None"}))},
        {"VersionMinAboveSupported", "RFC 7143 §11.12.4, §11.13.5", "Login status 0205, closed",
         login_once(0x87, identity(), 0x05, 0x01)},
        {"VersionMaxBelowMin", "RFC 7143 §11.12.4, §11.13.5", "Login status 0205, closed",
         login_once(0x87, identity(), 0x00, 0x02)},
        {"UnknownTsih", "RFC 7143 §6.3, §11.13.5 (session does not exist)",
         "Login status 020A, closed", login_once(0x87, identity(), 0, 0, 0x7777)},
        {"MissingInitiatorName", "RFC 7143 §13.5, §11.13.5 (missing parameter)",
         "Login status 0207, closed",
         login_once(0x87, keys({"TargetName=" + std::string(target_name)}))},
        {"MissingTargetName", "RFC 7143 §13.4, §11.13.5 (missing parameter)",
         "Login status 0207, closed",
         login_once(0x87, keys({"InitiatorName=" + std::string(attacker)}))},
        {"UnknownTargetName", "RFC 7143 §11.13.5 (not found)", "Login status 0203, closed",
         login_once(0x87, identity("iqn.2026-11.org.atsarray:nosuchtarget"))},
        {"InitiatorNotAllowed", "RFC 7143 §11.13.5 (authorization failure)",
         "Login status 0202, closed", login_once(0x87, identity(private_target))},
        {"UnknownSessionType", "RFC 7143 §13.21, §11.13.5 (session type not supported)",
         "Login status 0209, closed",
         login_once(0x87, identity() + keys({"SessionType=Bogus"}))},
        {"SendTargetsInLogin", "RFC 7143 §13.3 (a Text Request key)", "Login status 020B, closed",
         login_once(0x87, identity() + keys({"SendTargets=All"}))},
        {"MaxRecvDataSegmentLengthBelow512", "RFC 7143 §13.12 (512 to 2^24-1), §6.1",
         "Login status 0000, MaxRecvDataSegmentLength=Reject",
         login_once(0x87, identity() + keys({"MaxRecvDataSegmentLength=511"}))},
        {"MaxRecvDataSegmentLengthAbove2To24", "RFC 7143 §13.12 (512 to 2^24-1), §6.1",
         "Login status 0000, MaxRecvDataSegmentLength=Reject",
         login_once(0x87, identity() + keys({"MaxRecvDataSegmentLength=16777216"}))},
        {"HeaderDigestUnknownValue", "RFC 7143 §13.1, §6.2.1 (list with no acceptable value)",
         "Login status 0000, HeaderDigest=Reject",
         login_once(0x87, identity() + keys({"HeaderDigest=MD5"}))},
        {"DataDigestMalformedList", "RFC 7143 §13.1, §6.2.1 (list with no acceptable value)",
         "Login status 0000, DataDigest=Reject",
         login_once(0x87, identity() + keys({"DataDigest=crc32c,,"}))},
        {"IsidChangedDuringLogin", "RFC 7143 §11.12.5 (ISID of the login is fixed)",
         "Login status 0200, closed",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(login_pdu(0x01, identity() + keys({"AuthMethod=None"})));
             if (answer(c) != "Login status 0000") {
                 return std::string("first login step failed");
             }
             auto next = login_pdu(0x87, keys({"HeaderDigest=None"}));
             next[13] ^= 0xff;
             c.send(next);
             return answer(c, true);
         }},
        {"OverlongChapR", "RFC 7143 §12.1.3, RFC 1994 §4.1 (LIO CVE-2018-14633)",
         "Login status 0201, closed",
         // 1024 bytes where MD5 gives 16: within the text bounds, refused by CHAP itself.
         chap_reply([](uint8_t, const std::vector<uint8_t>&) {
             return keys({"CHAP_N=host1", "CHAP_R=0x" + std::string(2048, 'a')});
         })},
        {"ChapRBeyondTextValueBound", "RFC 7143 §6.1, §12.1.3 (values of at most 1024 bytes)",
         "Login status 0200, closed", chap_reply([](uint8_t, const std::vector<uint8_t>&) {
             return keys({"CHAP_N=host1", "CHAP_R=0x" + std::string(4000, 'a')});
         })},
        {"ChapAlgorithmUnsupported", "RFC 7143 §12.1.3 (CHAP_A=5 only)",
         "Login status 0201, closed",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(login_pdu(0x01, identity(chap_target) + keys({"AuthMethod=CHAP"})));
             if (answer(c) != "Login status 0000") {
                 return std::string("first login step failed");
             }
             c.send(login_pdu(0x01, keys({"CHAP_A=7"})));
             return answer(c, true);
         }},
        {"ChapNameWrong", "RFC 7143 §12.1.3 (CHAP_N names the configured user)",
         "Login status 0201, closed",
         chap_reply([](uint8_t id, const std::vector<uint8_t>& c) {
             return keys({"CHAP_N=intruder", "CHAP_R=" + good_chap_r(id, c)});
         })},
        {"ChapIdentifierOutOfRange", "RFC 7143 §12.1.3 (CHAP_I 0..255)",
         "Login status 0201, closed", chap_reply([](uint8_t id, const std::vector<uint8_t>& c) {
             return keys({"CHAP_N=host1", "CHAP_R=" + good_chap_r(id, c), "CHAP_I=256",
                          "CHAP_C=0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"});
         })},
        {"ChapChallengeOverlong", "RFC 7143 §12.1.3 (CHAP_C at most 1024 bytes), §6.1",
         "Login status 0200, closed", chap_reply([](uint8_t id, const std::vector<uint8_t>& c) {
             return keys({"CHAP_N=host1", "CHAP_R=" + good_chap_r(id, c), "CHAP_I=3",
                          "CHAP_C=0x" + std::string(2050, '5')});
         })},
        {"ChapChallengeEmpty", "RFC 7143 §12.1.3, RFC 1994 §4.1 (a challenge of no bytes)",
         "Login status 0201, closed", chap_reply([](uint8_t id, const std::vector<uint8_t>& c) {
             return keys(
                 {"CHAP_N=host1", "CHAP_R=" + good_chap_r(id, c), "CHAP_I=3", "CHAP_C=0x"});
         })},
        {"ChapResponseBeforeChallenge", "RFC 7143 §12.1.3 (order of the exchange)",
         "Login status 0201, closed",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(login_pdu(0x01, identity(chap_target) + keys({"AuthMethod=CHAP"})));
             if (answer(c) != "Login status 0000") {
                 return std::string("first login step failed");
             }
             c.send(login_pdu(0x81, keys({"CHAP_N=host1", "CHAP_R=0x" + std::string(32, '0')})));
             return answer(c, true);
         }},
        // --- Full feature phase --------------------------------------------------------------
        {"DataSegmentOverMaxRecvDataSegmentLength", "RFC 7143 §13.12, §7.8 (framing lost)",
         "Reject 04, closed", in_session([](RawSession& s) {
             // A NOP-Out whose header claims one byte more than the target declared (262144).
             auto p = pdu(0x00, 0x80, "", itt, 262145);
             put32(p, 20, 0xffffffff);
             put32(p, 24, s.cmd_sn);
             s.conn.send(p);
             return answer(s.conn, true);
         })},
        {"LoginRequestInFullFeaturePhase", "RFC 7143 §6.3 (login ends once)", "Reject 04",
         in_session([](RawSession& s) {
             s.conn.send(login_request(0x87, identity()));
             return answer(s.conn);
         })},
        {"DataOutWrongOffset", "RFC 7143 §11.7.5, §7.9 (DataPDUInOrder=Yes)", "Reject 04",
         in_session([](RawSession& s) {
             const uint32_t ttt = write_until_r2t(s, 2);
             s.conn.send(data_out(itt, ttt, 0, block_size, std::string(block_size, 'o')));
             return answer(s.conn);
         })},
        {"DataOutBeyondDesiredLength", "RFC 7143 §11.8.4, §11.7.5 (beyond the R2T and EDTL)",
         "Reject 04", in_session([](RawSession& s) {
             const uint32_t ttt = write_until_r2t(s, 1);
             s.conn.send(data_out(itt, ttt, 0, 0, std::string(3 * block_size, 'o')));
             return answer(s.conn);
         })},
        {"UnsolicitedDataOutWithInitialR2T", "RFC 7143 §13.10 (InitialR2T=Yes)", "Reject 04",
         in_session([](RawSession& s) {
             write_until_r2t(s, 1);
             s.conn.send(data_out(itt, 0xffffffff, 0, 0, std::string(block_size, 'u')));
             return answer(s.conn);
         })},
        {"ImmediateDataWhenImmediateDataNo", "RFC 7143 §13.11 (ImmediateData=No)", "Reject 04",
         in_session(
             [](RawSession& s) {
                 s.command(itt, write10(10, 1), 0xa0, std::string(block_size, 'i'), block_size);
                 return answer(s.conn);
             },
             keys({"ImmediateData=No"}))},
        {"DataOutAfterTaskFinished", "RFC 7143 §11.7.4 (no task awaits the data)", "Reject 09",
         in_session([](RawSession& s) {
             s.command(itt, write10(10, 1), 0xa0, std::string(block_size, 'f'), block_size);
             if (answer(s.conn) != "GOOD") {
                 return std::string("the write did not complete");
             }
             s.conn.send(data_out(itt, 0xffffffff, 1, 0, std::string(block_size, 'l')));
             return answer(s.conn);
         })},
        {"CommandReusingTagInProgress", "RFC 7143 §11.17.1 (task in progress)", "Reject 07",
         in_session([](RawSession& s) {
             write_until_r2t(s, 1);
             s.command(itt, {0x00});
             return answer(s.conn);
         })},
        {"ImmediateDataOnRead", "RFC 7143 §11.3.1, §13.11 (immediate data is write data)",
         "Reject 04", in_session([](RawSession& s) {
             s.command(itt, read16(0, 1), 0xc0, std::string(block_size, 'r'), block_size);
             return answer(s.conn);
         })},
        {"ImmediateDataBeyondFirstBurstLength", "RFC 7143 §13.14 (FirstBurstLength 65536)",
         "Reject 04", in_session([](RawSession& s) {
             const uint32_t length = 65536 + block_size;
             s.command(itt, write10(10, static_cast<uint16_t>(length / block_size)), 0xa0,
                       std::string(length, 'b'), length);
             return answer(s.conn);
         })},
        {"DataOutWrongDataSn", "RFC 7143 §11.7.4 (DataSN of a sequence starts at 0)",
         "Reject 04", in_session([](RawSession& s) {
             const uint32_t ttt = write_until_r2t(s, 1);
             s.conn.send(data_out(itt, ttt, 5, 0, std::string(block_size, 'n')));
             return answer(s.conn);
         })},
        {"BidirectionalCommand", "RFC 7143 §11.3.1 (no bidirectional commands here)",
         "Reject 04", in_session([](RawSession& s) {
             s.command(itt, write10(10, 1), 0xe0, "", block_size);
             return answer(s.conn);
         })},
        {"SnackAtErrorRecoveryLevel0", "RFC 7143 §11.16, §11.17.1 (SNACK Reject)", "Reject 03",
         in_session([](RawSession& s) {
             auto p = request(s, 0x10, 0x80);  // Data/R2T SNACK
             put32(p, 20, 0xffffffff);
             s.conn.send(p);
             return answer(s.conn);
         })},
        {"AbortTaskOfUnknownTag", "RFC 7143 §11.5.1, §11.6.1 (task does not exist)",
         "TMF response 1",
         in_session([](RawSession& s) { return tmf(s, 1, 0, 0xdead, s.cmd_sn + 0x10000); })},
        {"ClearAca", "RFC 7143 §11.6.1 (NACA never accepted)", "TMF response 5",
         in_session([](RawSession& s) { return tmf(s, 3, 0, 0xffffffff, 0); })},
        {"TaskReassignAtErrorRecoveryLevel0", "RFC 7143 §11.5.1, §11.6.1", "TMF response 4",
         in_session([](RawSession& s) { return tmf(s, 8, 0, 0xdead, 0); })},
        {"UnknownTaskManagementFunction", "RFC 7143 §11.5.1, §11.6.1 (function rejected)",
         "TMF response 255",
         in_session([](RawSession& s) { return tmf(s, 0x14, 0, 0xffffffff, 0); })},
        {"LogicalUnitResetOfMissingLun", "RFC 7143 §11.6.1 (LUN does not exist)",
         "TMF response 2", in_session([](RawSession& s) { return tmf(s, 5, 9, 0xffffffff, 0); })},
        {"TextKeyWithoutEquals", "RFC 7143 §6.1 (key=value)", "Reject 04",
         in_session([](RawSession& s) { return text(s, std::string("NoEqualsSign") + '\0'); })},
        {"TextUnknownKey", "RFC 7143 §6.2 (NotUnderstood)",
         "Text Response: FooKey=NotUnderstood",
         in_session([](RawSession& s) { return text(s, keys({"FooKey=1"})); })},
        {"TextLeadingOnlyKeyInFullFeaturePhase", "RFC 7143 §13.10 (InitialR2T: LO)",
         "Text Response: InitialR2T=Reject",
         in_session([](RawSession& s) { return text(s, keys({"InitialR2T=No"})); })},
        {"TextContinueWithUnknownTtt", "RFC 7143 §11.10.4 (TTT of no response)", "Reject 09",
         in_session([](RawSession& s) {
             auto p = request(s, 0x04, 0x80);
             put32(p, 20, 0x4242);
             ++s.cmd_sn;
             s.conn.send(p);
             return answer(s.conn);
         })},
        {"TextFinalAndContinue", "RFC 7143 §11.10.2 (C=1 requires F=0)", "Reject 04",
         in_session([](RawSession& s) {
             auto p = request(s, 0x04, 0xc0, keys({"X-com.example.a=1"}));
             put32(p, 20, 0xffffffff);
             ++s.cmd_sn;
             s.conn.send(p);
             return answer(s.conn);
         })},
        {"SendTargetsNamingAForbiddenTarget", "RFC 7143 Appendix C (only targets it may see)",
         "Text Response: (no keys)", in_session([](RawSession& s) {
             return text(s, keys({"SendTargets=" + std::string(private_target)}));
         })},
        {"LogoutReasonReserved", "RFC 7143 §11.14.1 (reason codes 0-2)", "Reject 04",
         in_session([](RawSession& s) {
             s.conn.send(request(s, 0x46, 0x80 | 0x07));
             return answer(s.conn);
         })},
        {"LogoutOfUnknownConnection", "RFC 7143 §11.15.1 (CID not found)", "Logout response 1",
         in_session([](RawSession& s) {
             auto p = request(s, 0x46, 0x80 | 0x01);  // close the connection, CID 9
             p[21] = 9;
             s.conn.send(p);
             return answer(s.conn);
         })},
        {"LogoutForRecoveryAtErrorRecoveryLevel0", "RFC 7143 §11.15.1 (recovery not supported)",
         "Logout response 2", in_session([](RawSession& s) {
             s.conn.send(request(s, 0x46, 0x80 | 0x02));
             return answer(s.conn);
         })},
        {"CommandWithReservedTag", "RFC 7143 §11.2.1.8 (ITT 0xffffffff is reserved)",
         "Reject 09", in_session([](RawSession& s) {
             s.command(0xffffffff, {0x00});
             return answer(s.conn);
         })},
        {"TaskManagementWithReservedTag", "RFC 7143 §11.2.1.8 (ITT 0xffffffff is reserved)",
         "Reject 09", in_session([](RawSession& s) {
             auto p = request(s, 0x42, 0x80 | 0x02, "", 0xffffffff);  // ABORT TASK SET
             s.conn.send(p);
             return answer(s.conn);
         })},
        {"TextWithReservedTag", "RFC 7143 §11.2.1.8 (ITT 0xffffffff is reserved)", "Reject 09",
         in_session([](RawSession& s) {
             s.conn.send(request(s, 0x44, 0x80, keys({"SendTargets=All"}), 0xffffffff));
             return answer(s.conn);
         })},
        {"LogoutWithReservedTag", "RFC 7143 §11.2.1.8 (ITT 0xffffffff is reserved)", "Reject 09",
         in_session([](RawSession& s) {
             s.conn.send(request(s, 0x46, 0x80, "", 0xffffffff));
             return answer(s.conn);
         })},
        {"NopOutWithUnknownTtt", "RFC 7143 §11.18.2 (answer to no NOP-In)", "ignored",
         in_session([](RawSession& s) {
             auto p = request(s, 0x40, 0x80, "", 0xffffffff);
             put32(p, 20, 0x1234);
             s.conn.send(p);
             std::vector<uint8_t> bhs;
             std::string data;
             if (s.conn.read_pdu(bhs, data, 500)) {
                 return describe(bhs, data);
             }
             auto ping = request(s, 0x40, 0x80, "", 0x55);
             put32(ping, 20, 0xffffffff);
             s.conn.send(ping);
             if (!s.conn.read_pdu(bhs, data) || describe(bhs, data) != "NOP-In" ||
                 get32(bhs, 16) != 0x55) {
                 return std::string("connection broken");
             }
             // ExpCmdSN where it was: nothing was taken from the window (RFC 7143 §4.2.2.1).
             return get32(bhs, 28) == s.cmd_sn ? std::string("ignored")
                                               : std::string("CmdSN window moved");
         })},
        // --- Discovery session ---------------------------------------------------------------
        {"ScsiCommandInDiscoverySession", "RFC 7143 §11.17.1 (command not supported)",
         "Reject 05",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(login_pdu(0x87, keys({"InitiatorName=" + std::string(attacker),
                                          "SessionType=Discovery"})));
             std::vector<uint8_t> bhs;
             std::string data;
             if (!c.read_pdu(bhs, data) || bhs[36] != 0) {
                 return std::string("discovery login failed");
             }
             auto cmd = pdu(0x01, 0x80, "", itt);
             put32(cmd, 24, get32(bhs, 28));
             c.send(cmd);
             return answer(c);
         }},
        {"SendTargetsOverInitiatorLimit", "RFC 7143 §11.11.2, §13.12 (SPDK)",
         "continued in parts of at most 512 bytes, complete",
         [](const Env& env) {
             RawConnection c(env.port);
             c.send(login_pdu(0x87, keys({"InitiatorName=" + std::string(attacker),
                                          "SessionType=Discovery",
                                          "MaxRecvDataSegmentLength=512"})));
             std::vector<uint8_t> bhs;
             std::string data;
             if (!c.read_pdu(bhs, data) || bhs[36] != 0) {
                 return std::string("discovery login failed");
             }
             uint32_t cmd_sn = get32(bhs, 28);
             std::string all;
             uint32_t ttt = 0xffffffff;
             int parts = 0;
             for (;;) {
                 auto t = pdu(0x04, 0x80, ttt == 0xffffffff ? keys({"SendTargets=All"}) : "", 7);
                 put32(t, 20, ttt);
                 put32(t, 24, cmd_sn++);
                 c.send(t);
                 if (!c.read_pdu(bhs, data) || (bhs[0] & 0x3f) != 0x24) {
                     return "part " + std::to_string(parts) + " missing";
                 }
                 ++parts;
                 if (data.size() > 512) {
                     return "a part of " + std::to_string(data.size()) + " bytes";
                 }
                 all += data;
                 const bool final_pdu = (bhs[1] & 0x80) != 0;
                 const bool continued = (bhs[1] & 0x40) != 0;
                 if (final_pdu == continued) {
                     return std::string("F and C both set or both clear");
                 }
                 if (final_pdu) {
                     break;
                 }
                 ttt = get32(bhs, 20);
                 if (parts > 20) {
                     return std::string("endless");
                 }
             }
             size_t names = 0;
             for (size_t at = all.find("TargetName="); at != std::string::npos;
                  at = all.find("TargetName=", at + 1)) {
                 ++names;
             }
             // The four long names, the plain and the CHAP target; never the private one.
             if (parts < 2 || names != 6 || all.find(private_target) != std::string::npos) {
                 return std::to_string(parts) + " parts, " + std::to_string(names) + " targets";
             }
             return std::string("continued in parts of at most 512 bytes, complete");
         }},
        // --- SCSI ----------------------------------------------------------------------------
        {"ReportOpcodesBadReportingOptions", "SPC-4 §6.35.2 (REPORTING OPTIONS 101b)",
         "CHECK CONDITION 05/24/00", scsi_case(rsoc(0x05, 0, 512), "", 512)},
        {"ReportOpcodesServiceActionMismatch", "SPC-4 §6.35.2 (001b for an opcode with SAs)",
         "CHECK CONDITION 05/24/00", scsi_case(rsoc(0x01, 0x9e, 512), "", 512)},
        {"ReportOpcodesAllocationLengthZero", "SPC-4 §4.2.5.6 (allocation length 0: no data)",
         "GOOD, 0 bytes",
         [](const Env& env) {
             const ScsiAnswer a = scsi(env, rsoc(0x00, 0, 0), "", 512);
             return a.status + ", " + std::to_string(a.data.size()) + " bytes";
         }},
        {"ReportOpcodesUnsupportedOpcode", "SPC-4 §6.35.3 (SUPPORT 001b)", "GOOD, SUPPORT 001b",
         [](const Env& env) {
             const ScsiAnswer a = scsi(env, rsoc(0x01, 0x3c, 512), "", 512);
             if (a.data.size() < 2) {
                 return a.status + ", no data";
             }
             return a.status + ", SUPPORT " +
                    std::string(1, '0' + ((a.data[1] >> 2) & 1)) +
                    std::string(1, '0' + ((a.data[1] >> 1) & 1)) +
                    std::string(1, '0' + (a.data[1] & 1)) + "b";
         }},
        {"ReadBuffer", "SPC-4 §6.17 (not implemented: invalid opcode)",
         "CHECK CONDITION 05/20/00",
         scsi_case({0x3c, 0x02, 0, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0}, "", 65535)},
        {"WriteBuffer", "SPC-4 §6.48 (not implemented: invalid opcode)",
         "CHECK CONDITION 05/20/00",
         scsi_case({0x3b, 0x02, 0, 0, 0x10, 0, 0, 0x02, 0x00, 0}, std::string(512, 'b'))},
        {"ExtendedCopyToAnotherInitiatorsLun", "SPC-4 §6.4.1 (LIO CVE-2020-28374)",
         "CHECK CONDITION 0A/08/04", xcopy_to(&Env::private_naa)},
        {"ExtendedCopyToUnknownDesignator", "SPC-4 §6.4.1 (unreachable copy target)",
         "CHECK CONDITION 0A/08/04", [](const Env& env) {
             Env other = env;
             other.private_naa.assign(16, 0x6e);
             return xcopy_to(&Env::private_naa)(other);
         }},
        {"InquiryPageCodeWithoutEvpd", "SPC-4 §6.6.1", "CHECK CONDITION 05/24/00",
         scsi_case({0x12, 0x00, 0x83, 0x00, 0xff, 0x00}, "", 255)},
        {"InquiryUnsupportedVpdPage", "SPC-4 §6.6.1, §7.8.1", "CHECK CONDITION 05/24/00",
         scsi_case({0x12, 0x01, 0x42, 0x00, 0xff, 0x00}, "", 255)},
        {"ReadBeyondCapacity", "SBC-4 §5.16 (LBA + length > capacity)", "CHECK CONDITION 05/21/00",
         scsi_case(read16(2047, 2), "", 1024)},
        {"ReadBeyondMaximumTransferLength", "SBC-4 §6.6.4 (MAXIMUM TRANSFER LENGTH)",
         "CHECK CONDITION 05/24/00", scsi_case(read16(0, 0x10000), "", 512)},
        {"CompareAndWriteTooManyBlocks", "SBC-4 §5.3 (above B0h MAXIMUM COMPARE AND WRITE LENGTH)",
         "CHECK CONDITION 05/24/00",
         [](const Env& env) {
             std::vector<uint8_t> cdb(16, 0);
             cdb[0] = 0x89;
             cdb[9] = 20;  // LBA
             cdb[13] = 2;  // NUMBER OF LOGICAL BLOCKS
             return scsi(env, cdb, std::string(4 * block_size, 'c')).status;
         }},
        {"CompareAndWriteZeroBlocks", "SBC-4 §5.3 (0 blocks: no operation)", "GOOD",
         [](const Env& env) {
             std::vector<uint8_t> cdb(16, 0);
             cdb[0] = 0x89;
             cdb[9] = 20;
             return scsi(env, cdb).status;
         }},
        {"CompareAndWriteHalfTheData", "SBC-4 §5.3 (Data-Out is 2 x blocks x block size)",
         "CHECK CONDITION 05/0E/03",
         [](const Env& env) {
             std::vector<uint8_t> cdb(16, 0);
             cdb[0] = 0x89;
             cdb[9] = 20;
             cdb[13] = 1;
             return scsi(env, cdb, std::string(block_size, 'h')).status;
         }},
        {"UnmapAnchorWithoutSupport", "SBC-4 §5.30.1 (ANCHOR with ANC_SUP=0 in VPD B2h)",
         "CHECK CONDITION 05/24/00",
         scsi_case({0x42, 0x01, 0, 0, 0, 0, 0, 0, 24, 0}, std::string(24, '\0'))},
        {"WriteSameZeroBlocksWithWsnz", "SBC-4 §5.50 (WSNZ=1 in VPD B0h)",
         "CHECK CONDITION 05/24/00",
         scsi_case({0x41, 0, 0, 0, 0, 100, 0, 0, 0, 0}, std::string(block_size, 's'))},
        {"UnmapShortParameterList", "SBC-4 §5.30.1 (PARAMETER LIST LENGTH 1..7)",
         "CHECK CONDITION 05/1A/00",
         scsi_case({0x42, 0, 0, 0, 0, 0, 0, 0, 7, 0}, std::string(7, '\0'))},
        {"UnmapDescriptorBeyondCapacity", "SBC-4 §5.30.1 (LBA out of range)",
         "CHECK CONDITION 05/21/00",
         [](const Env& env) {
             std::string list(24, '\0');
             list[1] = 22;                   // UNMAP DATA LENGTH
             list[3] = 16;                   // BLOCK DESCRIPTOR DATA LENGTH
             list[8 + 6] = 0x07;             // LBA 0x07f0 (2032)
             list[8 + 7] = static_cast<char>(0xf0);
             list[8 + 11] = 32;              // 32 blocks: past 2048
             return scsi(env, {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, list).status;
         }},
        {"ModeSelectUnknownPage", "SPC-4 §6.9.1, §7.5 (unsupported page)",
         "CHECK CONDITION 05/26/00",
         [](const Env& env) {
             std::string list(8 + 4, '\0');
             list[8] = 0x3e;  // no such page
             list[9] = 2;
             return scsi(env, {0x55, 0x10, 0, 0, 0, 0, 0, 0, 12, 0}, list, 0, 1).status;
         }},
        {"ModeSelectNotChangeableBits", "SPC-4 §6.9.1 (bits not changeable)",
         "CHECK CONDITION 05/26/00",
         [](const Env& env) {
             std::string list(8 + 12, '\0');
             list[8] = 0x0a;  // control mode page
             list[9] = 10;
             list[10] = static_cast<char>(0xe0);  // TST 111b
             return scsi(env, {0x55, 0x10, 0, 0, 0, 0, 0, 0, 20, 0}, list, 0, 1).status;
         }},
        {"PersistentReserveOutShortList", "SPC-4 §6.16.3 (PARAMETER LIST LENGTH 24)",
         "CHECK CONDITION 05/1A/00",
         scsi_case({0x5f, 0x00, 0, 0, 0, 0, 0, 0, 23, 0}, std::string(23, '\0'), 0, 1)},
        {"PersistentReserveOutBadScope", "SPC-4 §6.16.2 (LU_SCOPE only)",
         "CHECK CONDITION 05/24/00",
         scsi_case({0x5f, 0x01, 0x21, 0, 0, 0, 0, 0, 24, 0}, std::string(24, '\0'), 0, 1)},
        {"PersistentReserveOutBadType", "SPC-4 §6.16.2 (TYPE of Table 212)",
         "CHECK CONDITION 05/24/00",
         scsi_case({0x5f, 0x01, 0x02, 0, 0, 0, 0, 0, 24, 0}, std::string(24, '\0'), 0, 1)},
        {"PersistentReserveInBadServiceAction", "SPC-4 §6.15.1 (service actions 0-3)",
         "CHECK CONDITION 05/24/00",
         scsi_case({0x5e, 0x1f, 0, 0, 0, 0, 0, 0x01, 0x00, 0}, "", 256, 1)},
        {"ReportLunsBadSelectReport", "SPC-4 §6.33 (SELECT REPORT)", "CHECK CONDITION 05/24/00",
         scsi_case({0xa0, 0, 0x05, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, "", 4096)},
        {"SynchronizeCacheBeyondCapacity", "SBC-4 §5.26 (LBA out of range)",
         "CHECK CONDITION 05/21/00", scsi_case({0x35, 0, 0, 0, 0x08, 0x00, 0, 0, 0x10, 0})},
        {"GetLbaStatusBeyondCapacity", "SBC-4 §5.7 (STARTING LBA beyond the last)",
         "CHECK CONDITION 05/21/00",
         scsi_case({0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0, 0, 0, 32, 0, 0}, "", 32)},
        {"WriteSameNdobWithData", "SBC-4 §5.50 (NDOB: no Data-Out), RFC 7143 §11.4.5.2",
         "GOOD, underflow 512",
         [](const Env& env) {
             auto s = ready_session(env);
             if (!s) {
                 return std::string("no session");
             }
             std::vector<uint8_t> cdb(16, 0);
             cdb[0] = 0x93;
             cdb[1] = 0x01;  // NDOB
             cdb[9] = 100;   // LBA
             cdb[13] = 1;    // blocks
             s->command(itt, cdb, 0xa0, std::string(block_size, 'z'), block_size);
             std::vector<uint8_t> bhs;
             std::string data;
             if (!s->conn.read_pdu(bhs, data)) {
                 return std::string("no answer");
             }
             std::string out = describe(bhs, data);
             if ((bhs[1] & 0x02) != 0) {
                 out += ", underflow " + std::to_string(get32(bhs, 44));
             }
             return out;
         }},
        {"ModeSenseUnsupportedPage", "SPC-4 §6.11 (page not implemented)",
         "CHECK CONDITION 05/24/00", scsi_case({0x1a, 0x08, 0x3e, 0, 0xff, 0}, "", 255)},
        {"ModeSenseSavedValues", "SPC-4 §6.11 (PC 11b without saved pages)",
         "CHECK CONDITION 05/39/00", scsi_case({0x1a, 0x08, 0xc8, 0, 0xff, 0}, "", 255)},
        {"ReceiveCopyStatusOfUnknownList", "SPC-4 §6.18.3 (no such LIST IDENTIFIER)",
         "CHECK CONDITION 05/24/00",
         scsi_case({0x84, 0x00, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0}, "", 64)},
        {"UnsupportedOpcode", "SPC-4 §4.5.2 (INVALID COMMAND OPERATION CODE)",
         "CHECK CONDITION 05/20/00", scsi_case({0xc5, 0, 0, 0, 0, 0})},
        {"UnsupportedServiceAction", "SPC-4 §4.2.5.1 (service action of a known opcode)",
         "CHECK CONDITION 05/24/00",
         scsi_case({0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0}, "", 32)},
        {"ControlByteNaca", "SAM-5 §5.2 (NACA=1 not supported)", "CHECK CONDITION 05/24/00",
         scsi_case({0x00, 0, 0, 0, 0, 0x04})},
        {"ReservedCdbBit", "SPC-4 §4.2.5 (reserved bit set)", "CHECK CONDITION 05/24/00",
         scsi_case({0x00, 0x01, 0, 0, 0, 0})},
        // SET TARGET PORT GROUPS (MAINTENANCE OUT 0A): every descriptor is checked before any
        // is applied, so none of these moves a group.
        {"SetTargetPortGroupsUnknownGroup", "SPC-4 §6.39 (no such TARGET PORT GROUP)",
         "CHECK CONDITION 05/26/00",
         scsi_case({0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0},
                   bytes({0, 0, 0, 0, 0x02, 0, 0x00, 0x09}))},
        {"SetTargetPortGroupsTransitioningState",
         "SPC-4 §6.39 (transitioning cannot be requested)", "CHECK CONDITION 05/26/00",
         scsi_case({0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0},
                   bytes({0, 0, 0, 0, 0x0f, 0, 0x00, 0x01}))},
        {"SetTargetPortGroupsTruncatedDescriptor",
         "SPC-4 §6.39 (a list cut inside a descriptor)", "CHECK CONDITION 05/1A/00",
         scsi_case({0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0},
                   bytes({0, 0, 0, 0, 0x02, 0}))},
        {"ReportTargetPortGroupsTinyAllocation",
         "SPC-4 §4.2.5.6 (ALLOCATION LENGTH 4: what fits)", "GOOD",
         scsi_case({0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0}, "", 4)},
        {"CommandToMissingLun", "SPC-4 §4.5, SAM-5 (LOGICAL UNIT NOT SUPPORTED)",
         "CHECK CONDITION 05/25/00",
         [](const Env& env) {
             RawSession s(env.port, target_name, attacker);
             s.command(itt, {0x00}, 0x80, "", 0, 7);
             return scsi_answer(s.conn).status;
         }},
    };
    return cases;
}

class BadInputCatalogue : public ::testing::TestWithParam<Case> {
  protected:
    static void SetUpTestSuite() {
        suite_daemon = std::make_unique<DaemonProcess>(config());
        suite_env.port = suite_daemon->port();
        suite_env.own_naa = naa_of(suite_env.port, target_name, attacker);
        suite_env.private_naa = naa_of(suite_env.port, private_target, owner);
        bystander = initiator::create_context("iqn.2026-11.org.atsarray:bystander").release();
        iscsi_set_targetname(bystander, target_name);
        iscsi_set_session_type(bystander, ISCSI_SESSION_NORMAL);
        iscsi_set_noautoreconnect(bystander, 1);
        bystander_ok = iscsi_full_connect_sync(bystander, suite_daemon->portal().c_str(), 0) == 0;
        // Its power-on unit attention, out of the way of the first check.
        if (bystander_ok) {
            scsi_free_scsi_task(iscsi_testunitready_sync(bystander, 0));
        }
    }
    static void TearDownTestSuite() {
        iscsi_destroy_context(bystander);
        bystander = nullptr;
        suite_daemon.reset();
    }

    void SetUp() override {
        ASSERT_TRUE(bystander_ok) << iscsi_get_error(bystander);
        ASSERT_EQ(suite_env.own_naa.size(), 16U);
        ASSERT_EQ(suite_env.private_naa.size(), 16U);
    }

    // The bystander writes, reads back and COMPARE AND WRITEs its own block (SBC-4 §5.3).
    void check_bystander() {
        ASSERT_TRUE(suite_daemon->alive()) << suite_daemon->log();
        ++bystander_round;
        const std::vector<uint8_t> first(block_size, static_cast<uint8_t>(bystander_round));
        const std::vector<uint8_t> second(block_size, static_cast<uint8_t>(~bystander_round));
        const auto good = [](scsi_task* t) {
            const bool ok = t != nullptr && t->status == SCSI_STATUS_GOOD;
            return std::unique_ptr<scsi_task, void (*)(scsi_task*)>(ok ? t : nullptr,
                                                                    scsi_free_scsi_task);
        };
        const auto read_back = [&]() -> std::vector<uint8_t> {
            scsi_task* t = iscsi_read16_sync(bystander, 0, bystander_lba, block_size, block_size, 0,
                                             0, 0, 0, 0);
            if (t == nullptr || t->status != SCSI_STATUS_GOOD) {
                return {};
            }
            std::vector<uint8_t> data(t->datain.data, t->datain.data + t->datain.size);
            scsi_free_scsi_task(t);
            return data;
        };
        auto w =
            good(iscsi_write16_sync(bystander, 0, bystander_lba, const_cast<uint8_t*>(first.data()),
                                    block_size, block_size, 0, 0, 0, 0, 0));
        ASSERT_NE(w, nullptr) << "bystander WRITE(16): " << iscsi_get_error(bystander);
        EXPECT_EQ(read_back(), first);
        std::vector<uint8_t> both(first);
        both.insert(both.end(), second.begin(), second.end());
        auto caw = good(iscsi_compareandwrite_sync(bystander, 0, bystander_lba, both.data(),
                                                   2 * block_size, block_size, 0, 0, 0, 0, 0));
        ASSERT_NE(caw, nullptr) << "bystander COMPARE AND WRITE: " << iscsi_get_error(bystander);
        EXPECT_EQ(read_back(), second);
    }

    // One daemon and one bystander for the whole suite.
    static inline std::unique_ptr<DaemonProcess> suite_daemon;
    static inline iscsi_context* bystander = nullptr;
    static inline bool bystander_ok = false;
    static inline Env suite_env;
    static inline int bystander_round = 0;
};

TEST_P(BadInputCatalogue, AnswersAsTheSpecSays) {
    const Case& c = GetParam();
    EXPECT_EQ(c.provoke(suite_env), c.expected) << c.name << " (" << c.clause << ")";
    check_bystander();
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInputCatalogue, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                             return std::string(info.param.name);
                         });

TEST(BadInputCatalogueIndex, ListsEveryCase) {
    std::ifstream in(BAD_INPUTS_INDEX);
    ASSERT_TRUE(in) << BAD_INPUTS_INDEX;
    const std::string index((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> names;
    for (const Case& c : catalogue()) {
        names.emplace_back(c.name);
        const std::string row =
            std::string(" | ") + c.name + " | " + c.clause + " | " + c.expected + " |\n";
        EXPECT_NE(index.find(row), std::string::npos) << "BAD_INPUTS.md lacks" << row;
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
    EXPECT_GE(names.size(), 40U);
}

}  // namespace
}  // namespace atsarray::testing
