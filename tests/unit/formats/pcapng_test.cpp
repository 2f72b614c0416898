// The command trace as pcapng: the file's blocks, the synthesized Ethernet/IPv4/TCP (checksums,
// sequence numbers), the iSCSI PDUs read back from each stream, and what tshark's iSCSI dissector
// makes of it: every command decoded with its ITT and opcode, no malformed packet.
#include "formats/pcapng.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "formats/trace_json.hpp"

namespace atsarray::trace {
namespace {

using Bytes = std::vector<uint8_t>;

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t be32(const uint8_t* p) {
    return (uint32_t{be16(p)} << 16) | be16(p + 2);
}
uint32_t le32(const uint8_t* p) {
    return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint16_t le16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

Bytes pattern(std::size_t n, uint8_t seed) {
    Bytes out(n);
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = static_cast<uint8_t>(seed + i * 13);
    }
    return out;
}

Bytes cdb16(uint8_t opcode, uint64_t lba, uint32_t blocks) {
    Bytes c(16, 0);
    c[0] = opcode;
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    for (int i = 0; i < 4; ++i) {
        c[10 + i] = static_cast<uint8_t>(blocks >> (24 - 8 * i));
    }
    return c;
}

// Fixed format sense (SPC-4 §4.5.3) with a key, ASC and ASCQ.
Bytes sense(uint8_t key, uint8_t asc, uint8_t ascq) {
    Bytes s(18, 0);
    s[0] = 0x70;
    s[2] = key;
    s[7] = 10;
    s[12] = asc;
    s[13] = ascq;
    return s;
}

Command command(uint32_t session, uint32_t itt, uint32_t cmd_sn, int64_t arrived,
                int64_t answered) {
    Command c;
    c.session = session;
    c.itt = itt;
    c.cmd_sn = cmd_sn;
    c.arrived_us = arrived;
    c.answered_us = answered;
    c.outcome = "good";
    return c;
}

void set_data_out(Command& c, Bytes data) {
    c.direction = Direction::write;
    c.expected_transfer_length = static_cast<uint32_t>(data.size());
    c.data_out_length = static_cast<uint32_t>(data.size());
    c.data_out_crc32c = crc32c(data);
    c.data_out = std::move(data);
}

void set_data_in(Command& c, Bytes data) {
    c.direction = Direction::read;
    c.expected_transfer_length = static_cast<uint32_t>(data.size());
    c.data_in_length = static_cast<uint32_t>(data.size());
    c.data_in_crc32c = crc32c(data);
    c.data_in = std::move(data);
}

constexpr uint32_t itt_read = 0x1001;
constexpr uint32_t itt_write = 0x1002;
constexpr uint32_t itt_ats = 0x1003;
constexpr uint32_t itt_lost = 0x2001;
constexpr uint32_t itt_not_kept = 0x2002;
constexpr uint32_t itt_long_cdb = 0x2003;

// Two sessions (one IPv4, one IPv6 that gets synthesized addresses), commands that overlap in
// time and are listed in the order they were answered, as a capture lists them.
Trace sample_trace() {
    Trace t;
    t.id = "cap-1";
    t.started_unix_us = 1'765'000'000'000'000;
    t.target = "iqn.2026-01.org.atsarray:lab";
    t.stop_reason = "stopped";
    t.luns.push_back({t.target, 0, 512, 1 << 20});
    t.luns.push_back({t.target, 300, 512, 1 << 20});
    t.sessions.push_back({"iqn.1998-01.com.vmware:esx-a", 0x23d000000001, "192.168.10.5:51000",
                          "192.168.10.1:3260", t.target, 1});
    t.sessions.push_back({"iqn.1998-01.com.vmware:esx-b", 0x23d000000002, "[fe80::5]:40000",
                          "[fe80::1]:3260", t.target, 2});

    Command read = command(0, itt_read, 10, 100, 400);
    read.cdb = cdb16(0x88, 2048, 8);  // READ(16)
    set_data_in(read, pattern(4096, 1));

    Command write = command(0, itt_write, 11, 200, 900);  // overlaps the read
    write.cdb = cdb16(0x8a, 4096, 256);                   // WRITE(16), 128 KiB
    set_data_out(write, pattern(128 * 1024, 2));
    write.medium_order = 1;

    Command ats = command(0, itt_ats, 12, 1000, 1100);
    ats.cdb = cdb16(0x89, 0, 0);  // COMPARE AND WRITE, 1 block
    ats.cdb[13] = 1;
    set_data_out(ats, pattern(1024, 3));
    ats.status = 2;
    ats.sense = sense(0x0e, 0x1d, 0x00);  // MISCOMPARE DURING VERIFY OPERATION
    ats.medium_image = pattern(512, 4);
    ats.outcome = "miscompare";

    Command lost = command(1, itt_lost, 1, 150, 5000);  // a TEST UNIT READY never answered
    lost.cdb = Bytes(6, 0);
    lost.lun = 300;
    lost.status_seen = false;
    lost.outcome = "aborted";
    lost.fault_rule = "drop-status";

    Command not_kept = command(1, itt_not_kept, 2, 5100, 5200);  // past the byte budget
    not_kept.cdb = cdb16(0x88, 0, 2);
    not_kept.lun = 300;
    set_data_in(not_kept, Bytes(1024, 0));
    not_kept.data_in_crc32c = 0xabcdef01;
    not_kept.data_in_kept = false;
    not_kept.data_in.clear();
    not_kept.status = 2;
    not_kept.sense = sense(0x05, 0x24, 0x00);
    not_kept.outcome = "check_condition";

    Command long_cdb = command(1, itt_long_cdb, 3, 5300, 5400);  // a 32-byte CDB: extended AHS
    long_cdb.cdb = Bytes(32, 0);
    long_cdb.cdb[0] = 0x7f;
    long_cdb.cdb[7] = 0x18;
    long_cdb.cdb[9] = 0x0a;  // VERIFY(32)
    long_cdb.lun = 300;

    t.commands = {read, write, ats, lost, not_kept, long_cdb};
    return t;
}

struct Packet {
    uint64_t ts = 0;
    Bytes data;
    std::string comment;
};

// Reads the file block by block, checking each block's framing.
std::vector<Packet> read_pcapng(const std::string& file) {
    const auto* p = reinterpret_cast<const uint8_t*>(file.data());
    std::vector<Packet> packets;
    std::size_t at = 0;
    std::size_t index = 0;
    while (at < file.size()) {
        EXPECT_LE(at + 12, file.size());
        const uint32_t type = le32(p + at);
        const uint32_t length = le32(p + at + 4);
        EXPECT_EQ(length % 4, 0u);
        EXPECT_LE(at + length, file.size());
        if (at + length > file.size() || length < 12) {
            ADD_FAILURE() << "block " << index << " overruns the file";
            return packets;
        }
        EXPECT_EQ(le32(p + at + length - 4), length) << "block " << index;
        if (index == 0) {
            EXPECT_EQ(type, 0x0a0d0d0au);
            EXPECT_EQ(le32(p + at + 8), 0x1a2b3c4du);
        } else if (index == 1) {
            EXPECT_EQ(type, 1u);
            EXPECT_EQ(le16(p + at + 8), 1u);  // LINKTYPE_ETHERNET
        } else {
            EXPECT_EQ(type, 6u);
            Packet pk;
            pk.ts = (uint64_t{le32(p + at + 12)} << 32) | le32(p + at + 16);
            const uint32_t captured = le32(p + at + 20);
            EXPECT_EQ(le32(p + at + 24), captured);
            pk.data.assign(p + at + 28, p + at + 28 + captured);
            std::size_t opt = at + 28 + (captured + 3) / 4 * 4;
            while (opt + 4 <= at + length - 4 && le16(p + opt) != 0) {
                const uint16_t n = le16(p + opt + 2);
                if (le16(p + opt) == 1) {
                    pk.comment.assign(file, opt + 4, n);
                }
                opt += 4 + (n + 3u) / 4 * 4;
            }
            packets.push_back(std::move(pk));
        }
        at += length;
        ++index;
    }
    return packets;
}

uint16_t checksum(uint32_t sum, const uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i + 1 < n; i += 2) {
        sum += be16(p + i);
    }
    if (n % 2 != 0) {
        sum += uint32_t{p[n - 1]} << 8;
    }
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(sum);
}

using Flow = std::tuple<uint32_t, uint16_t, uint32_t, uint16_t>;  // src ip, port, dst ip, port

struct TcpSegment {
    Flow flow;
    uint8_t flags = 0;
    uint32_t seq = 0, ack = 0;
    Bytes payload;
};

// Ethernet II, IPv4 and TCP, each checksum verified.
TcpSegment parse_frame(const Bytes& f) {
    TcpSegment s;
    EXPECT_GE(f.size(), 54u);
    EXPECT_EQ(be16(&f[12]), 0x0800);
    const uint8_t* ip = &f[14];
    EXPECT_EQ(ip[0], 0x45);
    EXPECT_EQ(ip[9], 6);
    const uint16_t total = be16(ip + 2);
    EXPECT_EQ(total + 14u, f.size());
    EXPECT_EQ(checksum(0, ip, 20), 0xffff) << "IPv4 header checksum";
    const uint8_t* tcp = ip + 20;
    const std::size_t tcp_length = total - 20u;
    uint32_t pseudo = be16(ip + 12) + be16(ip + 14) + be16(ip + 16) + be16(ip + 18) + 6 +
                      static_cast<uint32_t>(tcp_length);
    EXPECT_EQ(checksum(pseudo, tcp, tcp_length), 0xffff) << "TCP checksum";
    s.flow = {be32(ip + 12), be16(tcp), be32(ip + 16), be16(tcp + 2)};
    s.seq = be32(tcp + 4);
    s.ack = be32(tcp + 8);
    s.flags = tcp[13];
    const std::size_t header = (tcp[12] >> 4) * 4u;
    s.payload.assign(tcp + header, tcp + tcp_length);
    EXPECT_LE(s.payload.size(), 65000u);
    return s;
}

Flow reverse(const Flow& f) {
    return {std::get<2>(f), std::get<3>(f), std::get<0>(f), std::get<1>(f)};
}

class Pcapng : public ::testing::Test {
  protected:
    void SetUp() override {
        file_ = to_pcapng(trace_);
        packets_ = read_pcapng(file_);
        for (const Packet& p : packets_) {
            segments_.push_back(parse_frame(p.data));
        }
    }

    // The bytes each direction of each stream carried, in order.
    std::map<Flow, Bytes> streams() const {
        std::map<Flow, Bytes> out;
        for (const TcpSegment& s : segments_) {
            auto& bytes = out[s.flow];
            bytes.insert(bytes.end(), s.payload.begin(), s.payload.end());
        }
        return out;
    }

    const Trace trace_ = sample_trace();
    std::string file_;
    std::vector<Packet> packets_;
    std::vector<TcpSegment> segments_;
};

TEST_F(Pcapng, BlocksAndTimes) {
    ASSERT_FALSE(packets_.empty());
    // The first packet is session 0's SYN, 1 us before its first command.
    EXPECT_EQ(packets_.front().ts, 1'765'000'000'000'000u + 99);
    for (std::size_t i = 1; i < packets_.size(); ++i) {
        EXPECT_LE(packets_[i - 1].ts, packets_[i].ts) << "packet " << i;
    }
}

TEST_F(Pcapng, TcpSequenceNumbersFollowEachStream) {
    std::map<Flow, uint32_t> next;
    std::set<Flow> syn_seen;
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        const TcpSegment& s = segments_[i];
        if ((s.flags & 0x02) != 0) {
            EXPECT_FALSE(syn_seen.count(s.flow)) << "packet " << i;
            syn_seen.insert(s.flow);
            next[s.flow] = s.seq + 1;
            continue;
        }
        ASSERT_TRUE(next.count(s.flow)) << "packet " << i << " before its stream's SYN";
        EXPECT_EQ(s.seq, next[s.flow]) << "packet " << i;
        EXPECT_EQ(s.ack, next[reverse(s.flow)]) << "packet " << i;
        EXPECT_NE(s.flags & 0x10, 0) << "packet " << i;
        next[s.flow] += static_cast<uint32_t>(s.payload.size());
    }
    EXPECT_EQ(syn_seen.size(), 4u);  // two sessions, two directions each
}

// Session 1's IPv6 addresses become 127.0.0.3 -> 127.0.0.1, keeping their ports; the SYN says so.
TEST_F(Pcapng, SynthesizesAddressesForANonIpv4Session) {
    const Flow synthesized{0x7f000003, 40000, 0x7f000001, 3260};
    bool found = false;
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        if (segments_[i].flow == synthesized && segments_[i].flags == 0x02) {
            found = true;
            EXPECT_NE(packets_[i].comment.find("not IPv4"), std::string::npos)
                << packets_[i].comment;
            EXPECT_NE(packets_[i].comment.find("esx-b"), std::string::npos);
        }
    }
    EXPECT_TRUE(found);
}

struct ParsedPdu {
    uint8_t opcode = 0;
    uint8_t flags = 0;
    uint32_t itt = 0;
    Bytes header;
    Bytes data;
};

std::vector<ParsedPdu> parse_pdus(const Bytes& stream) {
    std::vector<ParsedPdu> out;
    std::size_t at = 0;
    while (at + 48 <= stream.size()) {
        ParsedPdu pdu;
        pdu.header.assign(stream.begin() + static_cast<std::ptrdiff_t>(at),
                          stream.begin() + static_cast<std::ptrdiff_t>(at + 48));
        pdu.opcode = pdu.header[0] & 0x3f;
        pdu.flags = pdu.header[1];
        pdu.itt = be32(&pdu.header[16]);
        const std::size_t ahs = pdu.header[4] * 4u;
        const std::size_t data = (uint32_t{pdu.header[5]} << 16) | be16(&pdu.header[6]);
        const std::size_t begin = at + 48 + ahs;
        EXPECT_LE(begin + data, stream.size());
        pdu.data.assign(stream.begin() + static_cast<std::ptrdiff_t>(begin),
                        stream.begin() + static_cast<std::ptrdiff_t>(begin + data));
        at = begin + (data + 3) / 4 * 4;
        out.push_back(std::move(pdu));
    }
    EXPECT_EQ(at, stream.size());
    return out;
}

TEST_F(Pcapng, PdusCarryTheCommands) {
    const auto all = streams();
    const Flow to_target{0xc0a80a05, 51000, 0xc0a80a01, 3260};
    const auto requests = parse_pdus(all.at(to_target));
    const auto responses = parse_pdus(all.at(reverse(to_target)));

    // Initiator: READ(16), WRITE(16) + 2 Data-Out, COMPARE AND WRITE + 1 Data-Out.
    ASSERT_EQ(requests.size(), 6u);
    EXPECT_EQ(requests[0].opcode, 0x01);
    EXPECT_EQ(requests[0].itt, itt_read);
    EXPECT_EQ(requests[0].flags, 0x80 | 0x40 | 0x01);  // F, R, simple
    EXPECT_EQ(requests[0].header[32], 0x88);
    EXPECT_EQ(requests[1].itt, itt_write);
    EXPECT_EQ(requests[1].flags, 0x20 | 0x01);  // W, simple; Data-Out follows, so no F
    EXPECT_EQ(be32(&requests[1].header[20]), 128u * 1024);
    for (int i = 0; i < 2; ++i) {
        const ParsedPdu& d = requests[2 + i];
        EXPECT_EQ(d.opcode, 0x05);
        EXPECT_EQ(d.itt, itt_write);
        EXPECT_EQ(be32(&d.header[36]), static_cast<uint32_t>(i));          // DataSN
        EXPECT_EQ(be32(&d.header[40]), static_cast<uint32_t>(i) * 65536);  // Buffer Offset
        EXPECT_EQ(d.flags, i == 1 ? 0x80 : 0x00);
        EXPECT_EQ(d.data, Bytes(trace_.commands[1].data_out.begin() + i * 65536,
                                trace_.commands[1].data_out.begin() + (i + 1) * 65536));
    }
    EXPECT_EQ(requests[4].header[32], 0x89);
    EXPECT_EQ(requests[5].opcode, 0x05);

    // Target: Data-In + response of the read, response of the write, of the ATS; StatSN 1, 2, 3.
    ASSERT_EQ(responses.size(), 4u);
    EXPECT_EQ(responses[0].opcode, 0x25);
    EXPECT_EQ(responses[0].data, trace_.commands[0].data_in);
    // ExpCmdSN: past the commands that had arrived (CmdSN 10, 11; then 12).
    const std::vector<uint32_t> exp_cmd_sn = {12, 12, 13};
    for (std::size_t i = 1; i < responses.size(); ++i) {
        EXPECT_EQ(responses[i].opcode, 0x21);
        EXPECT_EQ(be32(&responses[i].header[24]), i);  // StatSN
        EXPECT_EQ(be32(&responses[i].header[28]), exp_cmd_sn[i - 1]);
        EXPECT_EQ(be32(&responses[i].header[32]), exp_cmd_sn[i - 1] + 127);  // MaxCmdSN
    }
    const ParsedPdu& ats = responses[3];
    EXPECT_EQ(ats.itt, itt_ats);
    EXPECT_EQ(ats.header[3], 2);  // CHECK CONDITION
    ASSERT_EQ(ats.data.size(), 20u);
    EXPECT_EQ(be16(ats.data.data()), 18);  // SenseLength
    EXPECT_EQ(ats.data[2 + 2], 0x0e);      // MISCOMPARE
}

TEST_F(Pcapng, ExtendedCdbAndLunAndComments) {
    const auto all = streams();
    const auto requests = parse_pdus(all.at(Flow{0x7f000003, 40000, 0x7f000001, 3260}));
    ASSERT_EQ(requests.size(), 3u);
    // LUN 300: flat space addressing.
    EXPECT_EQ(requests[0].header[8], 0x41);
    EXPECT_EQ(requests[0].header[9], 0x2c);
    // The 32-byte CDB: 16 in the BHS, 16 in an Extended CDB AHS of AHSLength 17.
    EXPECT_EQ(requests[2].header[4], 5);

    std::vector<std::string> comments;
    for (const Packet& p : packets_) {
        if (!p.comment.empty()) {
            comments.push_back(p.comment);
        }
    }
    auto has = [&](const std::string& text) {
        return std::any_of(comments.begin(), comments.end(),
                           [&](const std::string& c) { return c.find(text) != std::string::npos; });
    };
    EXPECT_TRUE(has("the initiator never got this status"));
    EXPECT_TRUE(has("fault rule: drop-status"));
    EXPECT_TRUE(has("Data-In not kept"));
    EXPECT_TRUE(has("0xabcdef01"));
    EXPECT_TRUE(has("outcome: miscompare"));
}

// A read that moved less than it asked for: U and the Residual Count (RFC 7143 §11.4.5).
TEST_F(Pcapng, AShortReadHasAResidual) {
    Trace t;
    t.sessions.push_back(trace_.sessions[0]);
    Command c = command(0, 7, 1, 10, 20);
    c.cdb = cdb16(0x88, 0, 8);
    set_data_in(c, pattern(512, 5));
    c.expected_transfer_length = 4096;
    t.commands.push_back(c);
    Bytes stream;
    for (const Packet& p : read_pcapng(to_pcapng(t))) {
        const TcpSegment s = parse_frame(p.data);
        if (std::get<1>(s.flow) == 3260) {
            stream.insert(stream.end(), s.payload.begin(), s.payload.end());
        }
    }
    const auto responses = parse_pdus(stream);
    ASSERT_EQ(responses.size(), 2u);
    EXPECT_EQ(responses[1].flags, 0x80 | 0x02);
    EXPECT_EQ(be32(&responses[1].header[44]), 4096u - 512);
    EXPECT_EQ(be32(&responses[1].header[36]), 1u);  // ExpDataSN: one Data-In
}

// A second session from the same address and port gets a stream of its own.
TEST_F(Pcapng, SessionsFromTheSameAddressGetStreamsOfTheirOwn) {
    Trace t = trace_;
    t.sessions[1] = t.sessions[0];
    std::set<Flow> syns;
    const auto packets = read_pcapng(to_pcapng(t));
    for (const Packet& p : packets) {
        const TcpSegment s = parse_frame(p.data);
        if (s.flags == 0x02) {
            syns.insert(s.flow);
            if (std::get<1>(s.flow) == 51001) {
                EXPECT_NE(p.comment.find("shown on port 51001"), std::string::npos) << p.comment;
            }
        }
    }
    EXPECT_EQ(syns, (std::set<Flow>{{0xc0a80a05, 51000, 0xc0a80a01, 3260},
                                    {0xc0a80a05, 51001, 0xc0a80a01, 3260}}));
}

TEST_F(Pcapng, ACommandOfNoSessionIsRefused) {
    Trace t = trace_;
    t.commands[2].session = 9;
    EXPECT_THROW((void)to_pcapng(t), std::invalid_argument);
}

TEST_F(Pcapng, AnEmptyTraceIsJustTheHeaders) {
    EXPECT_TRUE(read_pcapng(to_pcapng(Trace{})).empty());
}

// ---- tshark ----

std::string run(const std::string& command, const std::filesystem::path& errors) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        ADD_FAILURE() << "cannot run " << command;
        return out;
    }
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        out.append(buffer.data(), n);
    }
    if (pclose(pipe) != 0) {
        std::ifstream in(errors);
        ADD_FAILURE() << command
                      << " failed: " << std::string(std::istreambuf_iterator<char>(in), {});
    }
    return out;
}

std::vector<std::vector<std::string>> rows(const std::string& text) {
    std::vector<std::vector<std::string>> out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        std::vector<std::string> fields;
        std::size_t at = 0;
        while (true) {
            const std::size_t tab = line.find('\t', at);
            fields.push_back(line.substr(at, tab - at));
            if (tab == std::string::npos) {
                break;
            }
            at = tab + 1;
        }
        out.push_back(std::move(fields));
    }
    return out;
}

std::vector<std::string> split(const std::string& s, char by) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string part;
    while (std::getline(in, part, by)) {
        out.push_back(part);
    }
    return out;
}

class Tshark : public Pcapng {
  protected:
    void SetUp() override {
        Pcapng::SetUp();
        // The test needs tshark (scripts/lib/common.sh installs it): fail, never skip.
        ASSERT_EQ(std::system("command -v tshark >/dev/null 2>&1"), 0)
            << "tshark is missing (sudo apt-get install tshark; scripts/lib/common.sh lists it)";
        dir_ = std::filesystem::temp_directory_path() /
               ("atsarray_pcapng_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        file_path_ = dir_ / "trace.pcapng";
        std::ofstream(file_path_, std::ios::binary) << file_;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // tshark with a home of its own (no user preferences), iSCSI on the portal port. Its
    // stderr (a warning when run as root) is kept apart and shown only when it fails.
    std::string tshark(const std::string& arguments) const {
        const std::filesystem::path errors = dir_ / "tshark.stderr";
        const std::string out =
            run("HOME=" + dir_.string() + " XDG_CONFIG_HOME=" + dir_.string() + " tshark -n -r " +
                    file_path_.string() + " -d tcp.port==3260,iscsi " + arguments + " 2>" +
                    errors.string(),
                errors);
        return out;
    }

    std::filesystem::path dir_, file_path_;
};

struct Decoded {
    std::multiset<std::string> opcodes;  // per ITT
    std::vector<std::string> cdb_opcodes, statuses, sense_keys;
};

TEST_F(Tshark, DecodesEveryCommand) {
    const std::string out = tshark(
        "-T fields -E occurrence=a -E aggregator=, -e iscsi.opcode "
        "-e iscsi.initiatortasktag -e scsi_sbc.opcode -e iscsi.scsiresponse.status "
        "-e scsi.sns.key -e scsi.sns.asc");
    std::map<uint32_t, Decoded> by_itt;
    for (const auto& r : rows(out)) {
        ASSERT_EQ(r.size(), 6u) << out;
        const auto opcodes = split(r[0], ',');
        const auto itts = split(r[1], ',');
        ASSERT_EQ(opcodes.size(), itts.size()) << r[0] << " / " << r[1];
        for (std::size_t i = 0; i < itts.size(); ++i) {
            Decoded& d = by_itt[static_cast<uint32_t>(std::stoul(itts[i], nullptr, 16))];
            d.opcodes.insert(opcodes[i]);
            if (!r[2].empty()) {
                d.cdb_opcodes.push_back(r[2]);
            }
            if (!r[3].empty()) {
                d.statuses.push_back(r[3]);
            }
            if (!r[4].empty()) {
                d.sense_keys.push_back(r[4] + "/" + r[5]);
            }
        }
    }
    // Every command's SCSI Command PDU and SCSI Response, with its ITT.
    for (const Command& c : trace_.commands) {
        SCOPED_TRACE("ITT " + std::to_string(c.itt));
        ASSERT_TRUE(by_itt.count(c.itt));
        EXPECT_EQ(by_itt[c.itt].opcodes.count("0x01"), 1u);
        EXPECT_EQ(by_itt[c.itt].opcodes.count("0x21"), 1u);
    }
    EXPECT_EQ(by_itt[itt_read].opcodes.count("0x25"), 1u);
    EXPECT_NE(std::count(by_itt[itt_read].cdb_opcodes.begin(), by_itt[itt_read].cdb_opcodes.end(),
                         "0x88"),
              0);
    EXPECT_EQ(by_itt[itt_write].opcodes.count("0x05"), 2u);  // 128 KiB in two Data-Out PDUs
    EXPECT_NE(std::count(by_itt[itt_write].cdb_opcodes.begin(), by_itt[itt_write].cdb_opcodes.end(),
                         "0x8a"),
              0);
    EXPECT_EQ(by_itt[itt_ats].statuses, std::vector<std::string>{"0x02"});
    EXPECT_EQ(by_itt[itt_ats].sense_keys, std::vector<std::string>{"0x0e/0x1d"});
    EXPECT_NE(
        std::count(by_itt[itt_ats].cdb_opcodes.begin(), by_itt[itt_ats].cdb_opcodes.end(), "0x89"),
        0);
    EXPECT_EQ(by_itt[itt_not_kept].statuses, std::vector<std::string>{"0x02"});
}

constexpr const char* malformed_filter = "-Y '_ws.malformed || _ws.expert.severity >= 8388608'";

TEST_F(Tshark, FindsNothingMalformed) {
    EXPECT_EQ(tshark(malformed_filter), "");
    // The SYNs' comments reach tshark.
    const std::string comments = tshark("-Y frame.comment -T fields -e frame.comment");
    EXPECT_NE(comments.find("esx-a"), std::string::npos) << comments;
}

// The check above can fail: an Extended CDB AHS whose AHSLength runs past the header is malformed.
TEST_F(Tshark, TheMalformedCheckSeesABrokenAhs) {
    const std::string ahs("\x00\x11\x01\x00", 4);  // AHSLength 17, Extended CDB
    const std::size_t at = file_.find(ahs);
    ASSERT_NE(at, std::string::npos);
    std::string broken = file_;
    broken[at] = 0x7f;
    std::ofstream(file_path_, std::ios::binary | std::ios::trunc) << broken;
    EXPECT_NE(tshark(malformed_filter).find("Malformed"), std::string::npos);
}

}  // namespace
}  // namespace atsarray::trace
