// A command trace as JSON (trace_json.hpp): the writer, and a reader that checks every field,
// since the file it reads may come from anywhere (a mail, an old array, a hand edit).
#include "formats/trace_json.hpp"

#include <isa-l/crc.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

namespace atsarray::trace {
namespace {

using Json = nlohmann::json;
// The writer keeps the documented field order, for a reader with an editor.
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view format_name = "atsarray-trace";
// SPC-4 allows CDBs up to 260 bytes (a variable-length CDB's additional CDB length caps it).
constexpr std::size_t max_cdb_length = 260;
constexpr std::string_view hex_digits = "0123456789abcdef";
constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

[[noreturn]] void fail(const std::string& field, const std::string& why) {
    throw std::invalid_argument(field + ": " + why);
}

std::string to_hex(std::span<const uint8_t> bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const uint8_t b : bytes) {
        out += hex_digits[b >> 4];
        out += hex_digits[b & 0x0f];
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::vector<uint8_t> from_hex(std::string_view text, const std::string& field) {
    if (text.size() % 2 != 0) {
        fail(field, "odd number of hex digits");
    }
    std::vector<uint8_t> out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int high = hex_value(text[i]);
        const int low = hex_value(text[i + 1]);
        if (high < 0 || low < 0) {
            fail(field, "not a hex digit at offset " + std::to_string(high < 0 ? i : i + 1));
        }
        out.push_back(static_cast<uint8_t>((high << 4) | low));
    }
    return out;
}

// ISID: 48 bits as "0x" and exactly 12 hex digits.
std::string isid_text(uint64_t isid) {
    std::string out = "0x";
    for (int shift = 44; shift >= 0; shift -= 4) {
        out += hex_digits[(isid >> shift) & 0x0f];
    }
    return out;
}

const char* direction_name(Direction d) {
    switch (d) {
        case Direction::write:
            return "write";
        case Direction::read:
            return "read";
        case Direction::none:
            break;
    }
    return "none";
}

// ---- writer ----

OrderedJson lun_json(const Lun& l) {
    OrderedJson j;
    j["target"] = l.target;
    j["lun"] = l.lun;
    j["block_size"] = l.block_size;
    j["blocks"] = l.blocks;
    return j;
}

OrderedJson session_json(const Session& s) {
    OrderedJson j;
    j["initiator_name"] = s.initiator_name;
    j["isid"] = isid_text(s.isid);
    j["address"] = s.address;
    j["portal"] = s.portal;
    j["target"] = s.target;
    j["relative_target_port"] = s.relative_target_port;
    return j;
}

void data_json(OrderedJson& j, const char* name, uint32_t length, uint32_t crc, bool kept,
               const std::vector<uint8_t>& data) {
    const std::string n = name;
    j[n + "_length"] = length;
    j[n + "_crc32c"] = crc;
    if (kept) {
        j[n] = to_base64(data);
    }
}

OrderedJson command_json(const Command& c) {
    OrderedJson j;
    j["session"] = c.session;
    j["lun"] = c.lun;
    j["itt"] = c.itt;
    j["cmd_sn"] = c.cmd_sn;
    j["cdb"] = to_hex(c.cdb);
    j["direction"] = direction_name(c.direction);
    j["expected_transfer_length"] = c.expected_transfer_length;
    j["arrived_us"] = c.arrived_us;
    j["answered_us"] = c.answered_us;
    j["medium_order"] = c.medium_order;
    j["status"] = c.status;
    j["sense"] = to_hex(c.sense);
    data_json(j, "data_out", c.data_out_length, c.data_out_crc32c, c.data_out_kept, c.data_out);
    data_json(j, "data_in", c.data_in_length, c.data_in_crc32c, c.data_in_kept, c.data_in);
    if (!c.medium_image.empty()) {
        j["medium_image"] = to_base64(c.medium_image);
    }
    j["outcome"] = c.outcome;
    if (!c.fault_rule.empty()) {
        j["fault_rule"] = c.fault_rule;
    }
    j["status_seen"] = c.status_seen;
    return j;
}

// ---- reader: one accessor per JSON type, each naming the field it failed on ----

class Object {
  public:
    Object(const Json& j, std::string path) : json_(j), path_(std::move(path)) {
        if (!json_.is_object()) {
            fail(path_.empty() ? "trace" : path_, "not an object");
        }
    }

    std::string field(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }
    bool has(std::string_view key) const { return json_.contains(key); }

    const Json& at(std::string_view key) const {
        const auto it = json_.find(key);
        if (it == json_.end()) {
            fail(field(key), "missing");
        }
        return *it;
    }

    std::string string(std::string_view key) const {
        const Json& v = at(key);
        if (!v.is_string()) {
            fail(field(key), "not a string");
        }
        return v.get<std::string>();
    }

    bool boolean(std::string_view key) const {
        const Json& v = at(key);
        if (!v.is_boolean()) {
            fail(field(key), "not true or false");
        }
        return v.get<bool>();
    }

    // An unsigned integer that fits T. nlohmann reads a number past 2^64 - 1 as a float, so a
    // huge one lands in "not an unsigned integer".
    template <typename T>
    T unsigned_number(std::string_view key) const {
        const Json& v = at(key);
        if (!v.is_number_unsigned()) {
            fail(field(key), "not an unsigned integer");
        }
        const auto n = v.get<uint64_t>();
        if (n > std::numeric_limits<T>::max()) {
            fail(field(key), std::to_string(n) + " out of range (at most " +
                                 std::to_string(std::numeric_limits<T>::max()) + ")");
        }
        return static_cast<T>(n);
    }

    int64_t signed_number(std::string_view key) const {
        const Json& v = at(key);
        if (v.is_number_unsigned()) {
            const auto n = v.get<uint64_t>();
            if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                fail(field(key), std::to_string(n) + " out of range");
            }
            return static_cast<int64_t>(n);
        }
        if (!v.is_number_integer()) {
            fail(field(key), "not an integer");
        }
        return v.get<int64_t>();
    }

    const Json& array(std::string_view key) const {
        const Json& v = at(key);
        if (!v.is_array()) {
            fail(field(key), "not an array");
        }
        return v;
    }

    std::vector<uint8_t> hex(std::string_view key) const {
        return from_hex(string(key), field(key));
    }

    std::vector<uint8_t> base64(std::string_view key) const {
        try {
            return from_base64(string(key));
        } catch (const std::invalid_argument& e) {
            fail(field(key), e.what());
        }
    }

  private:
    const Json& json_;
    std::string path_;
};

std::string element(std::string_view array, std::size_t i) {
    return std::string(array) + "[" + std::to_string(i) + "]";
}

Lun read_lun(const Object& o) {
    Lun l;
    l.target = o.string("target");
    l.lun = o.unsigned_number<uint64_t>("lun");
    l.block_size = o.unsigned_number<uint32_t>("block_size");
    l.blocks = o.unsigned_number<uint64_t>("blocks");
    return l;
}

uint64_t read_isid(const Object& o) {
    const std::string text = o.string("isid");
    if (text.size() != 14 || text.compare(0, 2, "0x") != 0) {
        fail(o.field("isid"), "not \"0x\" and 12 hex digits");
    }
    uint64_t isid = 0;
    for (const uint8_t b : from_hex(std::string_view(text).substr(2), o.field("isid"))) {
        isid = (isid << 8) | b;
    }
    return isid;
}

Session read_session(const Object& o) {
    Session s;
    s.initiator_name = o.string("initiator_name");
    s.isid = read_isid(o);
    s.address = o.string("address");
    s.portal = o.string("portal");
    s.target = o.string("target");
    s.relative_target_port = o.unsigned_number<uint16_t>("relative_target_port");
    return s;
}

Direction read_direction(const Object& o) {
    const std::string d = o.string("direction");
    if (d == "none") {
        return Direction::none;
    }
    if (d == "write") {
        return Direction::write;
    }
    if (d == "read") {
        return Direction::read;
    }
    fail(o.field("direction"), "\"" + d + "\" is not none, write or read");
}

// A direction's data: length and CRC always, the bytes when the capture kept them.
void read_data(const Object& o, const std::string& name, uint32_t& length, uint32_t& crc,
               bool& kept, std::vector<uint8_t>& data) {
    length = o.unsigned_number<uint32_t>(name + "_length");
    crc = o.unsigned_number<uint32_t>(name + "_crc32c");
    kept = o.has(name);
    if (!kept) {
        return;
    }
    data = o.base64(name);
    if (data.size() != length) {
        fail(o.field(name), std::to_string(data.size()) + " bytes, but " + name + "_length is " +
                                std::to_string(length));
    }
}

Command read_command(const Object& o, std::size_t sessions) {
    Command c;
    c.session = o.unsigned_number<uint32_t>("session");
    if (c.session >= sessions) {
        fail(o.field("session"), std::to_string(c.session) + ", but the trace has " +
                                     std::to_string(sessions) + " sessions");
    }
    c.lun = o.unsigned_number<uint64_t>("lun");
    c.itt = o.unsigned_number<uint32_t>("itt");
    c.cmd_sn = o.unsigned_number<uint32_t>("cmd_sn");
    c.cdb = o.hex("cdb");
    if (c.cdb.size() > max_cdb_length) {
        fail(o.field("cdb"), std::to_string(c.cdb.size()) + " bytes, more than 260");
    }
    c.direction = read_direction(o);
    c.expected_transfer_length = o.unsigned_number<uint32_t>("expected_transfer_length");
    c.arrived_us = o.signed_number("arrived_us");
    c.answered_us = o.signed_number("answered_us");
    c.medium_order = o.unsigned_number<uint64_t>("medium_order");
    c.status = o.unsigned_number<uint8_t>("status");
    c.sense = o.hex("sense");
    read_data(o, "data_out", c.data_out_length, c.data_out_crc32c, c.data_out_kept, c.data_out);
    read_data(o, "data_in", c.data_in_length, c.data_in_crc32c, c.data_in_kept, c.data_in);
    if (o.has("medium_image")) {
        c.medium_image = o.base64("medium_image");
    }
    c.outcome = o.string("outcome");
    if (o.has("fault_rule")) {
        c.fault_rule = o.string("fault_rule");
    }
    c.status_seen = o.boolean("status_seen");
    return c;
}

void read_header(const Object& o, Trace& t) {
    if (o.string("format") != format_name) {
        fail("format", "not \"atsarray-trace\"");
    }
    const int64_t version = o.signed_number("version");
    if (version != Trace::format_version) {
        fail("version", std::to_string(version) + ", but this build reads version " +
                            std::to_string(Trace::format_version));
    }
    t.id = o.string("id");
    t.started_unix_us = o.signed_number("started_unix_us");
    t.ended_unix_us = o.signed_number("ended_unix_us");
    t.target = o.string("target");
    if (o.has("lun")) {
        t.lun = o.unsigned_number<uint64_t>("lun");
    }
    t.initiator = o.string("initiator");
    t.stop_reason = o.string("stop_reason");
}

Trace read_trace(const Json& root) {
    const Object o(root, "");
    Trace t;
    read_header(o, t);
    const Json& luns = o.array("luns");
    for (std::size_t i = 0; i < luns.size(); ++i) {
        t.luns.push_back(read_lun(Object(luns[i], element("luns", i))));
    }
    const Json& sessions = o.array("sessions");
    for (std::size_t i = 0; i < sessions.size(); ++i) {
        t.sessions.push_back(read_session(Object(sessions[i], element("sessions", i))));
    }
    const Json& commands = o.array("commands");
    t.commands.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        t.commands.push_back(
            read_command(Object(commands[i], element("commands", i)), t.sessions.size()));
    }
    return t;
}

}  // namespace

std::string to_json(const Trace& trace) {
    OrderedJson j;
    j["format"] = format_name;
    j["version"] = Trace::format_version;
    j["id"] = trace.id;
    j["started_unix_us"] = trace.started_unix_us;
    j["ended_unix_us"] = trace.ended_unix_us;
    j["target"] = trace.target;
    if (trace.lun) {
        j["lun"] = *trace.lun;
    }
    j["initiator"] = trace.initiator;
    j["stop_reason"] = trace.stop_reason;
    j["luns"] = OrderedJson::array();
    for (const Lun& l : trace.luns) {
        j["luns"].push_back(lun_json(l));
    }
    j["sessions"] = OrderedJson::array();
    for (const Session& s : trace.sessions) {
        j["sessions"].push_back(session_json(s));
    }
    j["commands"] = OrderedJson::array();
    for (const Command& c : trace.commands) {
        j["commands"].push_back(command_json(c));
    }
    // Names come from initiators (an IQN, an address): invalid UTF-8 is replaced rather than
    // failing the whole export.
    return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

Trace from_json(std::string_view text) {
    try {
        return read_trace(Json::parse(text));
    } catch (const Json::exception& e) {
        // Malformed JSON, or a conversion the checks above did not foresee: either way the
        // caller gets the one exception the contract names.
        throw std::invalid_argument(std::string("trace JSON: ") + e.what());
    }
}

uint32_t crc32c(std::span<const uint8_t> bytes) {
    // ISA-L's crc32_iscsi neither inverts the seed nor the result (target/iscsi/digest.cpp), and
    // takes an int length: seed 0xffffffff, feed bounded pieces, invert at the end.
    constexpr std::size_t max_piece = std::numeric_limits<int>::max();
    uint32_t state = 0xffffffffu;
    while (!bytes.empty()) {
        const std::size_t piece = std::min(bytes.size(), max_piece);
        state =
            crc32_iscsi(const_cast<unsigned char*>(bytes.data()), static_cast<int>(piece), state);
        bytes = bytes.subspan(piece);
    }
    return ~state;
}

std::string to_base64(std::span<const uint8_t> bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t v =
            (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
        for (int shift = 18; shift >= 0; shift -= 6) {
            out += base64_alphabet[(v >> shift) & 0x3f];
        }
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        uint32_t v = uint32_t{bytes[i]} << 16;
        if (rest == 2) {
            v |= uint32_t{bytes[i + 1]} << 8;
        }
        out += base64_alphabet[(v >> 18) & 0x3f];
        out += base64_alphabet[(v >> 12) & 0x3f];
        out += rest == 2 ? base64_alphabet[(v >> 6) & 0x3f] : '=';
        out += '=';
    }
    return out;
}

std::vector<uint8_t> from_base64(std::string_view text) {
    // RFC 4648 §4 strictly: whole quanta, '=' only at the end, no line breaks, and the bits a
    // padded quantum leaves over are zero (§3.5), so each byte string has exactly one encoding.
    if (text.size() % 4 != 0) {
        throw std::invalid_argument("base64: length " + std::to_string(text.size()) +
                                    " is not a multiple of 4");
    }
    std::array<int, 256> value{};
    value.fill(-1);
    for (std::size_t i = 0; i < base64_alphabet.size(); ++i) {
        value[static_cast<uint8_t>(base64_alphabet[i])] = static_cast<int>(i);
    }
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=') {
        padding = text[text.size() - 2] == '=' ? 2 : 1;
    }
    std::vector<uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    uint32_t bits = 0;
    const std::size_t digits = text.size() - padding;
    for (std::size_t i = 0; i < digits; ++i) {
        const int v = value[static_cast<uint8_t>(text[i])];
        if (v < 0) {
            throw std::invalid_argument("base64: '" + std::string(1, text[i]) + "' at offset " +
                                        std::to_string(i) + " is not in RFC 4648's alphabet");
        }
        bits = (bits << 6) | static_cast<uint32_t>(v);
        if (i % 4 == 3) {
            out.push_back(static_cast<uint8_t>(bits >> 16));
            out.push_back(static_cast<uint8_t>(bits >> 8));
            out.push_back(static_cast<uint8_t>(bits));
            bits = 0;
        }
    }
    if (padding == 1) {
        if ((bits & 0x3) != 0) {
            throw std::invalid_argument("base64: bad padding (non-zero bits before '=')");
        }
        out.push_back(static_cast<uint8_t>(bits >> 10));
        out.push_back(static_cast<uint8_t>(bits >> 2));
    } else if (padding == 2) {
        if ((bits & 0xf) != 0) {
            throw std::invalid_argument("base64: bad padding (non-zero bits before '==')");
        }
        out.push_back(static_cast<uint8_t>(bits >> 4));
    }
    return out;
}

}  // namespace atsarray::trace
