// A command trace as pcapng (pcapng.hpp): the iSCSI PDUs each command would have crossed the wire
// as, in synthesized TCP streams, for Wireshark's and tshark's iSCSI dissector.
//
// The trace keeps commands, not PDUs, so the file shows what is sure (the CDB, the data, the
// status, the sense, the times) in the simplest PDU sequence that carries it: Data-Out as
// unsolicited data (no R2T), Data-In apart from the SCSI Response (no phase collapse).
#include "formats/pcapng.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <vector>

namespace atsarray::trace {
namespace {

using Bytes = std::vector<uint8_t>;

// TCP segments stay under the 64 KiB an IPv4 datagram can hold, with room for the headers.
constexpr std::size_t max_segment = 65000;
// Data-Out and Data-In PDUs carry at most this much each (a common MaxRecvDataSegmentLength).
constexpr uint32_t max_data_pdu = 64 * 1024;
// SPC-4's longest CDB; the extended CDB AHS could hold more, a capture never does.
constexpr std::size_t max_cdb_length = 260;
// The commands a target lets an initiator queue: MaxCmdSN = ExpCmdSN + window - 1.
constexpr uint32_t command_window = 128;
constexpr uint32_t reserved_tag = 0xffffffff;  // RFC 7143 §11.7.4: no Target Transfer Tag

void put16be(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put24be(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 16);
    p[1] = static_cast<uint8_t>(v >> 8);
    p[2] = static_cast<uint8_t>(v);
}
void put32be(uint8_t* p, uint32_t v) {
    put16be(p, static_cast<uint16_t>(v >> 16));
    put16be(p + 2, static_cast<uint16_t>(v));
}
void put64be(uint8_t* p, uint64_t v) {
    put32be(p, static_cast<uint32_t>(v >> 32));
    put32be(p + 4, static_cast<uint32_t>(v));
}

// ---- iSCSI PDUs (RFC 7143 §11) ----

// The Basic Header Segment's fields, by the offsets §11.2.1 and the PDUs' own clauses give them.
namespace bhs {
constexpr std::size_t length = 48;
constexpr std::size_t opcode = 0;
constexpr std::size_t flags = 1;
constexpr std::size_t response = 2;  // SCSI Response
constexpr std::size_t status = 3;    // SCSI Response
constexpr std::size_t total_ahs_length = 4;
constexpr std::size_t data_segment_length = 5;
constexpr std::size_t lun = 8;
constexpr std::size_t initiator_task_tag = 16;
constexpr std::size_t expected_data_transfer_length = 20;  // SCSI Command
constexpr std::size_t target_transfer_tag = 20;            // Data-Out, Data-In
constexpr std::size_t cmd_sn = 24;                         // SCSI Command
constexpr std::size_t stat_sn = 24;                        // SCSI Response, Data-In
constexpr std::size_t exp_stat_sn = 28;                    // SCSI Command, Data-Out
constexpr std::size_t exp_cmd_sn = 28;                     // SCSI Response, Data-In
constexpr std::size_t max_cmd_sn = 32;                     // SCSI Response, Data-In
constexpr std::size_t cdb = 32;                            // SCSI Command
constexpr std::size_t cdb_length = 16;
constexpr std::size_t data_sn = 36;         // Data-Out, Data-In
constexpr std::size_t exp_data_sn = 36;     // SCSI Response
constexpr std::size_t buffer_offset = 40;   // Data-Out, Data-In
constexpr std::size_t residual_count = 44;  // SCSI Response, Data-In
}  // namespace bhs

namespace opcode {
constexpr uint8_t scsi_command = 0x01;
constexpr uint8_t scsi_data_out = 0x05;
constexpr uint8_t scsi_response = 0x21;
constexpr uint8_t scsi_data_in = 0x25;
}  // namespace opcode

constexpr uint8_t flag_final = 0x80;
constexpr uint8_t flag_read = 0x40;            // SCSI Command R
constexpr uint8_t flag_write = 0x20;           // SCSI Command W
constexpr uint8_t attr_simple = 0x01;          // SCSI Command ATTR
constexpr uint8_t flag_residual_over = 0x04;   // SCSI Response O
constexpr uint8_t flag_residual_under = 0x02;  // SCSI Response U
constexpr uint8_t ahs_extended_cdb = 0x01;     // §11.2.2.3

struct Pdu {
    std::array<uint8_t, bhs::length> header{};
    Bytes ahs;
    Bytes data;
};

// BHS, AHS and the data segment padded to 4 bytes (§11.2: no digests were negotiated).
Bytes wire(Pdu& pdu) {
    pdu.header[bhs::total_ahs_length] = static_cast<uint8_t>(pdu.ahs.size() / 4);
    put24be(&pdu.header[bhs::data_segment_length], static_cast<uint32_t>(pdu.data.size()));
    Bytes out(pdu.header.begin(), pdu.header.end());
    out.insert(out.end(), pdu.ahs.begin(), pdu.ahs.end());
    out.insert(out.end(), pdu.data.begin(), pdu.data.end());
    out.resize((out.size() + 3) / 4 * 4, 0);
    return out;
}

// SAM-5 §4.7 single level LUN: peripheral device addressing below 256, flat space below 16384;
// anything larger is taken to be the 8-byte LUN structure already.
void put_lun(uint8_t* p, uint64_t lun) {
    if (lun < 256) {
        p[1] = static_cast<uint8_t>(lun);
    } else if (lun < 16384) {
        p[0] = static_cast<uint8_t>(0x40 | (lun >> 8));
        p[1] = static_cast<uint8_t>(lun);
    } else {
        put64be(p, lun);
    }
}

// The Extended CDB AHS (§11.2.2.3) for the CDB's bytes past the first 16.
Bytes extended_cdb_ahs(std::span<const uint8_t> cdb) {
    const std::size_t extra = cdb.size() - bhs::cdb_length;
    Bytes ahs(4 + extra, 0);
    put16be(ahs.data(), static_cast<uint16_t>(extra + 1));  // AHSLength counts the reserved byte
    ahs[2] = ahs_extended_cdb;
    std::copy(cdb.begin() + bhs::cdb_length, cdb.end(), ahs.begin() + 4);
    ahs.resize((ahs.size() + 3) / 4 * 4, 0);
    return ahs;
}

// ---- the synthesized network ----

struct Endpoint {
    std::array<uint8_t, 6> mac{};
    std::array<uint8_t, 4> ip{};
    uint16_t port = 0;
    uint32_t next_seq = 0;  // the sequence number of its next byte
    uint16_t ip_id = 0;
};

// One session's TCP stream and the iSCSI numbering it carries.
struct Stream {
    Endpoint initiator, target;
    std::string comment;  // on the SYN: who the session is, and whether its addresses are real
    int64_t first_us = std::numeric_limits<int64_t>::max();
    uint32_t stat_sn = 1;  // the next SCSI Response's StatSN (the login took StatSN 0)
    uint32_t exp_cmd_sn = 0;
    bool commands_seen = false;
};

constexpr uint8_t tcp_syn = 0x02;
constexpr uint8_t tcp_psh = 0x08;
constexpr uint8_t tcp_ack = 0x10;
constexpr std::size_t ethernet_header = 14;
constexpr std::size_t ipv4_header = 20;
constexpr std::size_t tcp_header = 20;
// The largest window scale (RFC 7323 §2.3): a capture's long reads never fill the window, so
// Wireshark's TCP analysis has nothing to warn about.
constexpr uint8_t window_scale = 14;
constexpr uint16_t loopback_mss = 65495;

// "a.b.c.d:port", strictly.
std::optional<std::pair<std::array<uint8_t, 4>, uint16_t>> parse_ipv4(std::string_view text) {
    std::array<uint8_t, 4> ip{};
    const char* p = text.data();
    const char* end = text.data() + text.size();
    for (std::size_t i = 0; i < 4; ++i) {
        unsigned v = 0;
        const auto [next, ec] = std::from_chars(p, end, v);
        const char separator = i < 3 ? '.' : ':';
        if (ec != std::errc() || next == p || next - p > 3 || v > 255 || next == end ||
            *next != separator) {
            return std::nullopt;
        }
        ip[i] = static_cast<uint8_t>(v);
        p = next + 1;
    }
    unsigned port = 0;
    const auto [next, ec] = std::from_chars(p, end, port);
    if (ec != std::errc() || next != end || p == end || port == 0 || port > 65535) {
        return std::nullopt;
    }
    return std::make_pair(ip, static_cast<uint16_t>(port));
}

// The port of "[v6]:port" or "host:port", for a session whose address is not IPv4.
std::optional<uint16_t> parse_port(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    unsigned port = 0;
    const char* end = text.data() + text.size();
    const auto [next, ec] = std::from_chars(text.data() + colon + 1, end, port);
    if (ec != std::errc() || next != end || port == 0 || port > 65535) {
        return std::nullopt;
    }
    return static_cast<uint16_t>(port);
}

std::string ip_text(const Endpoint& e) {
    return std::to_string(e.ip[0]) + "." + std::to_string(e.ip[1]) + "." + std::to_string(e.ip[2]) +
           "." + std::to_string(e.ip[3]) + ":" + std::to_string(e.port);
}

std::string isid_text(uint64_t isid) {
    constexpr std::string_view digits = "0123456789abcdef";
    std::string out = "0x";
    for (int shift = 44; shift >= 0; shift -= 4) {
        out += digits[(isid >> shift) & 0x0f];
    }
    return out;
}

// A session's endpoints: its own IPv4 addresses, or 127.0.0.x ones of its own (127.0.0.1 the
// portal, 127.0.0.2 and up the initiators); locally administered MACs made from the addresses.
Stream make_stream(const Session& s, std::size_t index) {
    Stream st;
    const auto address = parse_ipv4(s.address);
    const auto portal = parse_ipv4(s.portal);
    st.comment = "session " + std::to_string(index) + ": " + s.initiator_name + " ISID " +
                 isid_text(s.isid) + " to " + s.target + " (relative target port " +
                 std::to_string(s.relative_target_port) + ")";
    if (address && portal) {
        st.initiator.ip = address->first;
        st.initiator.port = address->second;
        st.target.ip = portal->first;
        st.target.port = portal->second;
    } else {
        const uint32_t host = 0x7f000002u + static_cast<uint32_t>(index);  // 127.0.0.2, ...
        put32be(st.initiator.ip.data(), host);
        st.initiator.port =
            parse_port(s.address).value_or(static_cast<uint16_t>(49152 + index % 16384));
        st.target.ip = {127, 0, 0, 1};
        st.target.port = parse_port(s.portal).value_or(3260);
        st.comment += "; its addresses " + s.address + " -> " + s.portal +
                      " are not IPv4, shown as " + ip_text(st.initiator) + " -> " +
                      ip_text(st.target);
    }
    st.initiator.mac = {
        0x02, 0x01, st.initiator.ip[0], st.initiator.ip[1], st.initiator.ip[2], st.initiator.ip[3]};
    st.target.mac = {0x02,           0x00, st.target.ip[0], st.target.ip[1], st.target.ip[2],
                     st.target.ip[3]};
    // Fixed initial sequence numbers, different per session, so a file is reproducible.
    st.initiator.next_seq = 0x10000000u + static_cast<uint32_t>(index) * 7919u;
    st.target.next_seq = 0x60000000u + static_cast<uint32_t>(index) * 104729u;
    return st;
}

// RFC 1071: the ones' complement of the ones' complement sum of 16-bit words.
uint32_t checksum_add(uint32_t sum, std::span<const uint8_t> bytes) {
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
        sum += (uint32_t{bytes[i]} << 8) | bytes[i + 1];
    }
    if (bytes.size() % 2 != 0) {
        sum += uint32_t{bytes.back()} << 8;
    }
    return sum;
}
uint16_t checksum_finish(uint32_t sum) {
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum);
}

struct Segment {
    uint8_t flags = tcp_psh | tcp_ack;
    uint32_t seq = 0;
    uint32_t ack = 0;
    Bytes options;  // a multiple of 4 bytes
    std::span<const uint8_t> payload;
};

// Ethernet II + IPv4 (§3.1 of RFC 791, DF set) + TCP, checksums computed.
Bytes frame(Endpoint& from, const Endpoint& to, const Segment& seg) {
    const std::size_t tcp_length = tcp_header + seg.options.size() + seg.payload.size();
    Bytes f(ethernet_header + ipv4_header + tcp_length, 0);
    uint8_t* eth = f.data();
    std::copy(to.mac.begin(), to.mac.end(), eth);
    std::copy(from.mac.begin(), from.mac.end(), eth + 6);
    put16be(eth + 12, 0x0800);

    uint8_t* ip = eth + ethernet_header;
    ip[0] = 0x45;
    put16be(ip + 2, static_cast<uint16_t>(ipv4_header + tcp_length));
    put16be(ip + 4, from.ip_id++);
    put16be(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    std::copy(from.ip.begin(), from.ip.end(), ip + 12);
    std::copy(to.ip.begin(), to.ip.end(), ip + 16);
    put16be(ip + 10, checksum_finish(checksum_add(0, {ip, ipv4_header})));

    uint8_t* tcp = ip + ipv4_header;
    put16be(tcp, from.port);
    put16be(tcp + 2, to.port);
    put32be(tcp + 4, seg.seq);
    put32be(tcp + 8, seg.ack);
    tcp[12] = static_cast<uint8_t>(((tcp_header + seg.options.size()) / 4) << 4);
    tcp[13] = seg.flags;
    put16be(tcp + 14, 0xffff);
    std::copy(seg.options.begin(), seg.options.end(), tcp + tcp_header);
    std::copy(seg.payload.begin(), seg.payload.end(), tcp + tcp_header + seg.options.size());
    // The pseudo-header (RFC 793 §3.1): addresses, protocol, TCP length.
    std::array<uint8_t, 12> pseudo{};
    std::copy(from.ip.begin(), from.ip.end(), pseudo.begin());
    std::copy(to.ip.begin(), to.ip.end(), pseudo.begin() + 4);
    pseudo[9] = 6;
    put16be(&pseudo[10], static_cast<uint16_t>(tcp_length));
    const uint32_t sum = checksum_add(checksum_add(0, pseudo), {tcp, tcp_length});
    put16be(tcp + 16, checksum_finish(sum));
    return f;
}

// ---- pcapng blocks (draft-ietf-opsawg-pcapng §4), little-endian ----

class PcapngWriter {
  public:
    PcapngWriter() {
        Bytes shb;
        put_le32(shb, 0x1a2b3c4d);  // byte-order magic
        put_le16(shb, 1);           // major version
        put_le16(shb, 0);           // minor version
        put_le32(shb, 0xffffffff);  // section length: not given
        put_le32(shb, 0xffffffff);
        option(shb, 4, "atsarray");  // shb_userappl
        end_options(shb);
        block(0x0a0d0d0a, shb);
        Bytes idb;
        put_le16(idb, 1);  // LINKTYPE_ETHERNET
        put_le16(idb, 0);
        put_le32(idb, 0);  // no snapshot length limit; if_tsresol default: microseconds
        block(0x00000001, idb);
    }

    // An Enhanced Packet Block on interface 0 at `unix_us`, with an opt_comment when given.
    void packet(int64_t unix_us, std::span<const uint8_t> data, const std::string& comment) {
        const uint64_t ts = static_cast<uint64_t>(std::max<int64_t>(unix_us, 0));
        Bytes epb;
        put_le32(epb, 0);
        put_le32(epb, static_cast<uint32_t>(ts >> 32));
        put_le32(epb, static_cast<uint32_t>(ts));
        put_le32(epb, static_cast<uint32_t>(data.size()));
        put_le32(epb, static_cast<uint32_t>(data.size()));
        epb.insert(epb.end(), data.begin(), data.end());
        pad(epb);
        if (!comment.empty()) {
            option(epb, 1, comment);  // opt_comment
            end_options(epb);
        }
        block(0x00000006, epb);
    }

    std::string take() { return std::move(out_); }

  private:
    static void put_le16(Bytes& b, uint16_t v) {
        b.push_back(static_cast<uint8_t>(v));
        b.push_back(static_cast<uint8_t>(v >> 8));
    }
    static void put_le32(Bytes& b, uint32_t v) {
        put_le16(b, static_cast<uint16_t>(v));
        put_le16(b, static_cast<uint16_t>(v >> 16));
    }
    static void pad(Bytes& b) { b.resize((b.size() + 3) / 4 * 4, 0); }
    // An option's value is at most 65,535 bytes (its length field); a longer comment is cut.
    static void option(Bytes& b, uint16_t code, std::string_view value) {
        value = value.substr(0, 0xffff);
        put_le16(b, code);
        put_le16(b, static_cast<uint16_t>(value.size()));
        b.insert(b.end(), value.begin(), value.end());
        pad(b);
    }
    static void end_options(Bytes& b) { put_le32(b, 0); }

    void block(uint32_t type, const Bytes& body) {
        const auto total = static_cast<uint32_t>(12 + body.size());
        Bytes head;
        put_le32(head, type);
        put_le32(head, total);
        out_.append(head.begin(), head.end());
        out_.append(body.begin(), body.end());
        out_.append(head.begin() + 4, head.end());
    }

    std::string out_;
};

// ---- commands to PDUs to packets ----

// RFC 1982 serial number arithmetic, as CmdSN compares (RFC 7143 §4.2.2.1).
bool serial_after(uint32_t a, uint32_t b) {
    return a != b && static_cast<int32_t>(a - b) > 0;
}

// A TCP stream's addresses and ports: initiator IPv4, port, target IPv4, port.
using FourTuple = std::tuple<uint32_t, uint16_t, uint32_t, uint16_t>;

class TraceWriter {
  public:
    explicit TraceWriter(const Trace& trace) : trace_(trace) {
        std::set<FourTuple> used;
        for (std::size_t i = 0; i < trace.sessions.size(); ++i) {
            streams_.push_back(make_stream(trace.sessions[i], i));
            keep_apart(streams_.back(), used);
        }
    }

    // Two sessions from the same address and port (a reconnect that reused its port) would
    // merge into one TCP stream in Wireshark: the later one moves to a free port and says so.
    static void keep_apart(Stream& st, std::set<FourTuple>& used) {
        auto key = [&st] {
            const auto ip = [](const Endpoint& e) {
                return (uint32_t{e.ip[0]} << 24) | (uint32_t{e.ip[1]} << 16) |
                       (uint32_t{e.ip[2]} << 8) | e.ip[3];
            };
            return std::make_tuple(ip(st.initiator), st.initiator.port, ip(st.target),
                                   st.target.port);
        };
        if (used.count(key()) == 0) {
            used.insert(key());
            return;
        }
        const uint16_t recorded = st.initiator.port;
        // Bounded: past 64,512 sessions between one pair of addresses, they share a port.
        for (int tries = 0; tries < 65536 && used.count(key()) != 0; ++tries) {
            st.initiator.port =
                static_cast<uint16_t>(st.initiator.port == 65535 ? 1024 : st.initiator.port + 1);
        }
        used.insert(key());
        st.comment += "; an earlier session used port " + std::to_string(recorded) +
                      " too, so this one is shown on port " + std::to_string(st.initiator.port);
    }

    std::string write() {
        for (const Event& e : events()) {
            if (e.step == Step::handshake) {
                handshake(streams_[e.index], e.us);
            } else if (e.step == Step::arrival) {
                arrive(trace_.commands[e.index], e.us);
            } else {
                answer(trace_.commands[e.index], e.us);
            }
        }
        return pcapng_.take();
    }

  private:
    enum class Step : uint8_t { handshake, arrival, answer };
    struct Event {
        int64_t us = 0;
        Step step = Step::arrival;
        std::size_t index = 0;  // the session for a handshake, else the command
    };

    // Everything in time order, which is also each stream's byte order: a command's arrival
    // before its answer, a session's handshake 1 us before its first command.
    std::vector<Event> events() {
        std::vector<Event> out;
        for (std::size_t i = 0; i < trace_.commands.size(); ++i) {
            const Command& c = trace_.commands[i];
            if (c.session >= streams_.size()) {
                // A Trace from from_json never has one; a hand-built one gets the reader's answer.
                throw std::invalid_argument(
                    "commands[" + std::to_string(i) + "].session: " + std::to_string(c.session) +
                    ", but the trace has " + std::to_string(streams_.size()) + " sessions");
            }
            Stream& st = streams_[c.session];
            st.first_us = std::min(st.first_us, c.arrived_us);
            out.push_back({c.arrived_us, Step::arrival, i});
            out.push_back({std::max(c.arrived_us, c.answered_us), Step::answer, i});
        }
        for (std::size_t s = 0; s < streams_.size(); ++s) {
            if (streams_[s].first_us != std::numeric_limits<int64_t>::max()) {
                out.push_back({streams_[s].first_us - 1, Step::handshake, s});
            }
        }
        std::stable_sort(out.begin(), out.end(), [](const Event& a, const Event& b) {
            return a.us != b.us ? a.us < b.us : a.step < b.step;
        });
        return out;
    }

    int64_t unix_us(int64_t us) const { return trace_.started_unix_us + us; }

    void handshake(Stream& st, int64_t us) {
        // SYN options: MSS, NOP, window scale (RFC 7323 §2.2).
        const Bytes options = {2,
                               4,
                               static_cast<uint8_t>(loopback_mss >> 8),
                               static_cast<uint8_t>(loopback_mss & 0xff),
                               1,
                               3,
                               3,
                               window_scale};
        const uint32_t isn_i = st.initiator.next_seq;
        const uint32_t isn_t = st.target.next_seq;
        pcapng_.packet(unix_us(us), frame(st.initiator, st.target, {tcp_syn, isn_i, 0, options}),
                       st.comment);
        pcapng_.packet(
            unix_us(us),
            frame(st.target, st.initiator, {tcp_syn | tcp_ack, isn_t, isn_i + 1, options}), "");
        st.initiator.next_seq = isn_i + 1;
        st.target.next_seq = isn_t + 1;
        pcapng_.packet(unix_us(us),
                       frame(st.initiator, st.target, {tcp_ack, isn_i + 1, isn_t + 1, {}}), "");
    }

    // One PDU in as many segments as it needs; the comment on the first.
    void send(Stream& st, bool from_initiator, int64_t us, Pdu& pdu, std::string comment) {
        const Bytes bytes = wire(pdu);
        Endpoint& from = from_initiator ? st.initiator : st.target;
        const Endpoint& to = from_initiator ? st.target : st.initiator;
        for (std::size_t at = 0; at < bytes.size(); at += max_segment) {
            const std::size_t n = std::min(max_segment, bytes.size() - at);
            Segment seg;
            seg.seq = from.next_seq;
            seg.ack = to.next_seq;
            seg.payload = std::span<const uint8_t>(bytes).subspan(at, n);
            pcapng_.packet(unix_us(us), frame(from, to, seg), comment);
            from.next_seq += static_cast<uint32_t>(n);
            comment.clear();
        }
    }

    void arrive(const Command& c, int64_t us) {
        Stream& st = streams_[c.session];
        Pdu cmd;
        cmd.header[bhs::opcode] = opcode::scsi_command;
        // F: no unsolicited Data-Out follows (§11.3.1.1).
        uint8_t flags = attr_simple;
        flags |= c.data_out_length == 0 ? flag_final : 0;
        flags |= c.direction == Direction::read ? flag_read : 0;
        flags |= c.direction == Direction::write ? flag_write : 0;
        cmd.header[bhs::flags] = flags;
        put_lun(&cmd.header[bhs::lun], c.lun);
        put32be(&cmd.header[bhs::initiator_task_tag], c.itt);
        put32be(&cmd.header[bhs::expected_data_transfer_length], c.expected_transfer_length);
        put32be(&cmd.header[bhs::cmd_sn], c.cmd_sn);
        put32be(&cmd.header[bhs::exp_stat_sn], st.stat_sn);
        const std::span<const uint8_t> cdb(c.cdb.data(), std::min(c.cdb.size(), max_cdb_length));
        std::copy_n(cdb.begin(), std::min(cdb.size(), bhs::cdb_length), &cmd.header[bhs::cdb]);
        if (cdb.size() > bhs::cdb_length) {
            cmd.ahs = extended_cdb_ahs(cdb);
        }
        send(st, true, us, cmd, "");
        if (!st.commands_seen || serial_after(c.cmd_sn + 1, st.exp_cmd_sn)) {
            st.exp_cmd_sn = c.cmd_sn + 1;
            st.commands_seen = true;
        }
        data_out(st, c, us);
    }

    // The bytes of one data PDU: as recorded, or zeros where the capture kept only the length.
    static Bytes piece(const std::vector<uint8_t>& data, bool kept, uint32_t offset, uint32_t n) {
        Bytes out(n, 0);
        if (kept && offset < data.size()) {
            const std::size_t have = std::min<std::size_t>(n, data.size() - offset);
            std::copy_n(data.begin() + offset, have, out.begin());
        }
        return out;
    }

    static std::string not_kept(const char* what, uint32_t length, uint32_t crc) {
        return std::string(what) +
               " not kept by the capture (its byte budget ran out): " + std::to_string(length) +
               " bytes shown as zeros; recorded CRC32C 0x" + hex32(crc);
    }

    static std::string hex32(uint32_t v) {
        constexpr std::string_view digits = "0123456789abcdef";
        std::string out(8, '0');
        for (int i = 7; i >= 0; --i, v >>= 4) {
            out[static_cast<std::size_t>(i)] = digits[v & 0xf];
        }
        return out;
    }

    void data_out(Stream& st, const Command& c, int64_t us) {
        std::string comment =
            c.data_out_kept ? "" : not_kept("Data-Out", c.data_out_length, c.data_out_crc32c);
        uint32_t data_sn = 0;
        for (uint32_t offset = 0; offset < c.data_out_length; offset += max_data_pdu) {
            const uint32_t n = std::min(max_data_pdu, c.data_out_length - offset);
            Pdu pdu;
            pdu.header[bhs::opcode] = opcode::scsi_data_out;
            pdu.header[bhs::flags] = offset + n == c.data_out_length ? flag_final : 0;
            put_lun(&pdu.header[bhs::lun], c.lun);
            put32be(&pdu.header[bhs::initiator_task_tag], c.itt);
            put32be(&pdu.header[bhs::target_transfer_tag], reserved_tag);
            put32be(&pdu.header[bhs::exp_stat_sn], st.stat_sn);
            put32be(&pdu.header[bhs::data_sn], data_sn++);
            put32be(&pdu.header[bhs::buffer_offset], offset);
            pdu.data = piece(c.data_out, c.data_out_kept, offset, n);
            send(st, true, us, pdu, comment);
            comment.clear();
        }
    }

    void put_target_sns(Pdu& pdu, const Stream& st) const {
        put32be(&pdu.header[bhs::exp_cmd_sn], st.exp_cmd_sn);
        put32be(&pdu.header[bhs::max_cmd_sn], st.exp_cmd_sn + command_window - 1);
    }

    // Returns the number of Data-In PDUs (the SCSI Response's ExpDataSN).
    uint32_t data_in(Stream& st, const Command& c, int64_t us) {
        std::string comment =
            c.data_in_kept ? "" : not_kept("Data-In", c.data_in_length, c.data_in_crc32c);
        uint32_t data_sn = 0;
        for (uint32_t offset = 0; offset < c.data_in_length; offset += max_data_pdu) {
            const uint32_t n = std::min(max_data_pdu, c.data_in_length - offset);
            Pdu pdu;
            pdu.header[bhs::opcode] = opcode::scsi_data_in;
            pdu.header[bhs::flags] = offset + n == c.data_in_length ? flag_final : 0;
            put32be(&pdu.header[bhs::initiator_task_tag], c.itt);
            put32be(&pdu.header[bhs::target_transfer_tag], reserved_tag);
            put_target_sns(pdu, st);
            put32be(&pdu.header[bhs::data_sn], data_sn++);
            put32be(&pdu.header[bhs::buffer_offset], offset);
            pdu.data = piece(c.data_in, c.data_in_kept, offset, n);
            send(st, false, us, pdu, comment);
            comment.clear();
        }
        return data_sn;
    }

    static std::string response_comment(const Command& c) {
        std::string out;
        if (!c.status_seen) {
            out = "the initiator never got this status";
        }
        if (!c.outcome.empty() && c.outcome != "good") {
            out += (out.empty() ? "" : "; ") + std::string("outcome: ") + c.outcome;
        }
        if (!c.fault_rule.empty()) {
            out += (out.empty() ? "" : "; ") + std::string("fault rule: ") + c.fault_rule;
        }
        return out;
    }

    // U / O and the Residual Count (§11.4.5), against what the command's direction moved.
    static void put_residual(Pdu& rsp, const Command& c) {
        const uint32_t moved = c.direction == Direction::read    ? c.data_in_length
                               : c.direction == Direction::write ? c.data_out_length
                                                                 : 0;
        if (moved < c.expected_transfer_length) {
            rsp.header[bhs::flags] |= flag_residual_under;
            put32be(&rsp.header[bhs::residual_count], c.expected_transfer_length - moved);
        } else if (moved > c.expected_transfer_length) {
            rsp.header[bhs::flags] |= flag_residual_over;
            put32be(&rsp.header[bhs::residual_count], moved - c.expected_transfer_length);
        }
    }

    void answer(const Command& c, int64_t us) {
        Stream& st = streams_[c.session];
        const uint32_t data_pdus = data_in(st, c, us);
        Pdu rsp;
        rsp.header[bhs::opcode] = opcode::scsi_response;
        rsp.header[bhs::flags] = flag_final;
        put_residual(rsp, c);
        rsp.header[bhs::response] = 0x00;  // Command Completed at Target
        rsp.header[bhs::status] = c.status;
        put32be(&rsp.header[bhs::initiator_task_tag], c.itt);
        put32be(&rsp.header[bhs::stat_sn], st.stat_sn++);
        put_target_sns(rsp, st);
        put32be(&rsp.header[bhs::exp_data_sn], data_pdus);
        if (!c.sense.empty()) {
            // §11.4.7.2: SenseLength, then the sense data.
            const std::size_t n = std::min<std::size_t>(c.sense.size(), 0xffff);
            rsp.data.resize(2 + n);
            put16be(rsp.data.data(), static_cast<uint16_t>(n));
            std::copy_n(c.sense.begin(), n, rsp.data.begin() + 2);
        }
        send(st, false, us, rsp, response_comment(c));
    }

    const Trace& trace_;
    std::vector<Stream> streams_;
    PcapngWriter pcapng_;
};

}  // namespace

std::string to_pcapng(const Trace& trace) {
    return TraceWriter(trace).write();
}

}  // namespace atsarray::trace
