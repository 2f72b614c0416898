// The command trace as JSON: a trace with every field set comes back equal, and every kind of bad
// input (a file from anywhere) ends in std::invalid_argument naming the field, never a crash.
#include "formats/trace_json.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace atsarray::trace {
namespace {

using Json = nlohmann::json;

std::vector<uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

std::vector<uint8_t> pattern(std::size_t n, uint8_t seed) {
    std::vector<uint8_t> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = static_cast<uint8_t>(seed + i * 7);
    }
    return out;
}

// Every field away from its default, both data directions kept and not kept, a 32-byte CDB.
Trace full_trace() {
    Trace t;
    t.id = "cap-7";
    t.started_unix_us = 1'765'000'000'123'456;
    t.ended_unix_us = 1'765'000'060'000'000;
    t.target = "iqn.2026-01.org.atsarray:lab";
    t.lun = 3;
    t.initiator = "iqn.1998-01.com.vmware:esx-a";
    t.stop_reason = "max_commands";
    t.luns.push_back({"iqn.2026-01.org.atsarray:lab", 3, 4096, 1ull << 40});
    t.sessions.push_back({"iqn.1998-01.com.vmware:esx-a", 0x23d000000001ull, "10.0.0.5:51234",
                          "10.0.0.1:3260", "iqn.2026-01.org.atsarray:lab", 2});
    t.sessions.push_back({"iqn.1998-01.com.vmware:esx-b", 0xffffffffffffull, "[fe80::1]:40000",
                          "[fe80::2]:3260", "iqn.2026-01.org.atsarray:lab", 1});

    Command write;
    write.session = 1;
    write.lun = 3;
    write.itt = 0xdeadbeef;
    write.cmd_sn = 0xfffffff0;
    write.cdb = pattern(32, 0x7f);
    write.direction = Direction::write;
    write.expected_transfer_length = 1024;
    write.arrived_us = -5;
    write.answered_us = 1'000'000;
    write.medium_order = 1ull << 50;
    write.status = 2;
    write.sense = {0x70, 0, 0x0e, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x1d, 0};
    write.data_out = pattern(1024, 1);
    write.data_out_length = 1024;
    write.data_out_crc32c = crc32c(write.data_out);
    write.data_in_length = 512;
    write.data_in_crc32c = 0x12345678;
    write.data_in_kept = false;
    write.medium_image = pattern(512, 9);
    write.outcome = "injected_miscompare";
    write.fault_rule = "ats-miscompare-1";
    write.status_seen = false;
    t.commands.push_back(write);

    Command read;
    read.session = 0;
    read.lun = 0;
    read.itt = 1;
    read.cmd_sn = 2;
    read.cdb = pattern(16, 0x88);
    read.direction = Direction::read;
    read.expected_transfer_length = 4096;
    read.data_in = pattern(4096, 3);
    read.data_in_length = 4096;
    read.data_in_crc32c = crc32c(read.data_in);
    read.data_out_kept = false;
    read.data_out_length = 4;
    read.outcome = "good";
    t.commands.push_back(read);
    return t;
}

void expect_equal(const Command& a, const Command& b) {
    EXPECT_EQ(a.session, b.session);
    EXPECT_EQ(a.lun, b.lun);
    EXPECT_EQ(a.itt, b.itt);
    EXPECT_EQ(a.cmd_sn, b.cmd_sn);
    EXPECT_EQ(a.cdb, b.cdb);
    EXPECT_EQ(a.direction, b.direction);
    EXPECT_EQ(a.expected_transfer_length, b.expected_transfer_length);
    EXPECT_EQ(a.arrived_us, b.arrived_us);
    EXPECT_EQ(a.answered_us, b.answered_us);
    EXPECT_EQ(a.medium_order, b.medium_order);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.sense, b.sense);
    EXPECT_EQ(a.data_out_length, b.data_out_length);
    EXPECT_EQ(a.data_out_crc32c, b.data_out_crc32c);
    EXPECT_EQ(a.data_out_kept, b.data_out_kept);
    EXPECT_EQ(a.data_out, b.data_out);
    EXPECT_EQ(a.data_in_length, b.data_in_length);
    EXPECT_EQ(a.data_in_crc32c, b.data_in_crc32c);
    EXPECT_EQ(a.data_in_kept, b.data_in_kept);
    EXPECT_EQ(a.data_in, b.data_in);
    EXPECT_EQ(a.medium_image, b.medium_image);
    EXPECT_EQ(a.outcome, b.outcome);
    EXPECT_EQ(a.fault_rule, b.fault_rule);
    EXPECT_EQ(a.status_seen, b.status_seen);
}

void expect_equal(const Trace& a, const Trace& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.started_unix_us, b.started_unix_us);
    EXPECT_EQ(a.ended_unix_us, b.ended_unix_us);
    EXPECT_EQ(a.target, b.target);
    EXPECT_EQ(a.lun, b.lun);
    EXPECT_EQ(a.initiator, b.initiator);
    EXPECT_EQ(a.stop_reason, b.stop_reason);
    ASSERT_EQ(a.luns.size(), b.luns.size());
    for (std::size_t i = 0; i < a.luns.size(); ++i) {
        EXPECT_EQ(a.luns[i].target, b.luns[i].target);
        EXPECT_EQ(a.luns[i].lun, b.luns[i].lun);
        EXPECT_EQ(a.luns[i].block_size, b.luns[i].block_size);
        EXPECT_EQ(a.luns[i].blocks, b.luns[i].blocks);
    }
    ASSERT_EQ(a.sessions.size(), b.sessions.size());
    for (std::size_t i = 0; i < a.sessions.size(); ++i) {
        EXPECT_EQ(a.sessions[i].initiator_name, b.sessions[i].initiator_name);
        EXPECT_EQ(a.sessions[i].isid, b.sessions[i].isid);
        EXPECT_EQ(a.sessions[i].address, b.sessions[i].address);
        EXPECT_EQ(a.sessions[i].portal, b.sessions[i].portal);
        EXPECT_EQ(a.sessions[i].target, b.sessions[i].target);
        EXPECT_EQ(a.sessions[i].relative_target_port, b.sessions[i].relative_target_port);
    }
    ASSERT_EQ(a.commands.size(), b.commands.size());
    for (std::size_t i = 0; i < a.commands.size(); ++i) {
        SCOPED_TRACE("command " + std::to_string(i));
        expect_equal(a.commands[i], b.commands[i]);
    }
}

TEST(TraceJson, RoundTripsEveryField) {
    const Trace t = full_trace();
    const std::string text = to_json(t);
    EXPECT_EQ(text.find('\n'), std::string::npos);
    expect_equal(from_json(text), t);
}

TEST(TraceJson, RoundTripsAnEmptyTraceForAllLuns) {
    Trace t;
    t.stop_reason = "running";
    const Trace back = from_json(to_json(t));
    EXPECT_FALSE(back.lun.has_value());
    expect_equal(back, t);
}

TEST(TraceJson, WritesTheDocumentedForms) {
    const Json j = Json::parse(to_json(full_trace()));
    EXPECT_EQ(j["format"], "atsarray-trace");
    EXPECT_EQ(j["version"], 1);
    EXPECT_EQ(j["sessions"][0]["isid"], "0x23d000000001");
    EXPECT_EQ(j["commands"][0]["direction"], "write");
    EXPECT_EQ(j["commands"][0]["sense"], "70000e000000000a000000001d00");
    EXPECT_FALSE(j["commands"][0].contains("data_in"));   // not kept
    EXPECT_FALSE(j["commands"][1].contains("data_out"));  // not kept
    EXPECT_FALSE(j["commands"][1].contains("medium_image"));
    EXPECT_FALSE(j["commands"][1].contains("fault_rule"));
    EXPECT_EQ(j["commands"][1]["cdb"], "888f969da4abb2b9c0c7ced5dce3eaf1");
}

// Changes one thing in a valid trace's JSON and expects from_json to refuse it, naming `field`
// and, when given, `detail`.
void expect_refused(const std::function<void(Json&)>& change, const std::string& field,
                    const std::string& detail = "") {
    Json j = Json::parse(to_json(full_trace()));
    change(j);
    try {
        (void)from_json(j.dump());
        ADD_FAILURE() << "accepted a trace with a bad " << field;
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(field), std::string::npos) << what;
        EXPECT_NE(what.find(detail), std::string::npos) << what;
    }
}

TEST(TraceJson, RefusesMissingFields) {
    expect_refused([](Json& j) { j.erase("started_unix_us"); }, "started_unix_us", "missing");
    expect_refused([](Json& j) { j.erase("commands"); }, "commands", "missing");
    expect_refused([](Json& j) { j["luns"][0].erase("block_size"); }, "luns[0].block_size");
    expect_refused([](Json& j) { j["sessions"][1].erase("portal"); }, "sessions[1].portal");
    expect_refused([](Json& j) { j["commands"][1].erase("itt"); }, "commands[1].itt", "missing");
    expect_refused([](Json& j) { j["commands"][0].erase("status_seen"); },
                   "commands[0].status_seen");
    expect_refused([](Json& j) { j["commands"][0].erase("data_in_crc32c"); },
                   "commands[0].data_in_crc32c");
}

TEST(TraceJson, RefusesWrongTypes) {
    expect_refused([](Json& j) { j["id"] = 5; }, "id", "not a string");
    expect_refused([](Json& j) { j["lun"] = "3"; }, "lun", "not an unsigned integer");
    expect_refused([](Json& j) { j["luns"] = Json::object(); }, "luns", "not an array");
    expect_refused([](Json& j) { j["sessions"][0] = 1; }, "sessions[0]", "not an object");
    expect_refused([](Json& j) { j["commands"][1]["itt"] = 1.5; }, "commands[1].itt");
    expect_refused([](Json& j) { j["commands"][1]["itt"] = -1; }, "commands[1].itt");
    expect_refused([](Json& j) { j["commands"][1]["arrived_us"] = "soon"; },
                   "commands[1].arrived_us", "not an integer");
    expect_refused([](Json& j) { j["commands"][1]["status_seen"] = 1; }, "commands[1].status_seen");
    expect_refused([](Json& j) { j["commands"][1]["direction"] = "both"; },
                   "commands[1].direction");
    expect_refused([](Json& j) { j["commands"][1]["cdb"] = Json::array(); }, "commands[1].cdb",
                   "not a string");
}

TEST(TraceJson, RefusesNumbersOutOfRange) {
    expect_refused([](Json& j) { j["commands"][1]["status"] = 256; }, "commands[1].status",
                   "256 out of range (at most 255)");
    expect_refused([](Json& j) { j["sessions"][0]["relative_target_port"] = 65536; },
                   "sessions[0].relative_target_port");
    expect_refused([](Json& j) { j["commands"][1]["itt"] = 1ull << 32; }, "commands[1].itt");
    expect_refused([](Json& j) { j["commands"][1]["answered_us"] = ~0ull; },
                   "commands[1].answered_us", "out of range");
}

// Numbers past 64 bits, written as text since nlohmann would not hold them.
TEST(TraceJson, RefusesHugeNumbers) {
    std::string text = to_json(full_trace());
    const std::string from = "\"lun\":3,";
    text.replace(text.find(from), from.size(), "\"lun\":123456789012345678901234567890,");
    EXPECT_THROW((void)from_json(text), std::invalid_argument);
    try {
        (void)from_json(text);
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("lun"), std::string::npos) << e.what();
    }
    text = to_json(full_trace());
    const std::string version = "\"version\":1";
    text.replace(text.find(version), version.size(), "\"version\":1e999");
    EXPECT_THROW((void)from_json(text), std::invalid_argument);
}

TEST(TraceJson, RefusesBadHex) {
    expect_refused([](Json& j) { j["commands"][1]["cdb"] = "28000"; }, "commands[1].cdb", "odd");
    expect_refused([](Json& j) { j["commands"][1]["cdb"] = "2800zz"; }, "commands[1].cdb",
                   "not a hex digit at offset 4");
    expect_refused([](Json& j) { j["commands"][0]["sense"] = "70 00"; }, "commands[0].sense");
    expect_refused([](Json& j) { j["sessions"][0]["isid"] = "0x23d00000001"; }, "sessions[0].isid");
    expect_refused([](Json& j) { j["sessions"][0]["isid"] = "0x23d00000000g"; },
                   "sessions[0].isid");
    expect_refused([](Json& j) { j["sessions"][0]["isid"] = "1023d000000001"; },
                   "sessions[0].isid");
}

TEST(TraceJson, RefusesBadBase64) {
    expect_refused([](Json& j) { j["commands"][1]["data_in"] = "AAA"; }, "commands[1].data_in",
                   "multiple of 4");
    expect_refused([](Json& j) { j["commands"][1]["data_in"] = "AA*A"; }, "commands[1].data_in",
                   "alphabet");
    expect_refused([](Json& j) { j["commands"][0]["medium_image"] = "A=AA"; },
                   "commands[0].medium_image");
    expect_refused([](Json& j) { j["commands"][0]["data_out"] = 7; }, "commands[0].data_out",
                   "not a string");
}

TEST(TraceJson, RefusesASessionIndexPastTheSessions) {
    expect_refused([](Json& j) { j["commands"][1]["session"] = 2; }, "commands[1].session",
                   "2, but the trace has 2 sessions");
}

TEST(TraceJson, RefusesACdbOfMoreThan260Bytes) {
    expect_refused([](Json& j) { j["commands"][1]["cdb"] = std::string(522, 'a'); },
                   "commands[1].cdb", "261 bytes");
    Trace t = full_trace();
    t.commands[1].cdb.assign(260, 0xa1);
    EXPECT_EQ(from_json(to_json(t)).commands[1].cdb.size(), 260u);
}

TEST(TraceJson, RefusesDataWhoseLengthDisagrees) {
    expect_refused([](Json& j) { j["commands"][0]["data_out_length"] = 2048; },
                   "commands[0].data_out", "1024 bytes, but data_out_length is 2048");
    expect_refused([](Json& j) { j["commands"][1]["data_in"] = "AAAA"; }, "commands[1].data_in",
                   "3 bytes, but data_in_length is 4096");
}

TEST(TraceJson, RefusesAnotherFormatOrVersion) {
    expect_refused([](Json& j) { j["format"] = "pcapng"; }, "format");
    expect_refused([](Json& j) { j["version"] = 2; }, "version", "reads version 1");
    expect_refused([](Json& j) { j.erase("format"); }, "format", "missing");
}

TEST(TraceJson, RefusesWhatIsNotATraceObject) {
    for (const char* text : {"", "{", "[]", "null", "\"trace\"", "{\"format\":}", "\xff\xfe"}) {
        EXPECT_THROW((void)from_json(text), std::invalid_argument) << text;
    }
    // Deep nesting is a parse, not a recursion the stack pays for.
    EXPECT_THROW((void)from_json(std::string(100000, '[')), std::invalid_argument);
}

// RFC 3720 Appendix B.4 and the common check value of CRC-32C.
TEST(TraceJson, Crc32cKnownVectors) {
    EXPECT_EQ(crc32c(bytes("123456789")), 0xe3069283u);
    EXPECT_EQ(crc32c(std::vector<uint8_t>(32, 0)), 0x8a9136aau);
    EXPECT_EQ(crc32c(std::vector<uint8_t>(32, 0xff)), 0x62a8ab43u);
    EXPECT_EQ(crc32c({}), 0u);
}

// RFC 4648 §10.
TEST(TraceJson, Base64Rfc4648Vectors) {
    const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                      {"f", "Zg=="},
                                                                      {"fo", "Zm8="},
                                                                      {"foo", "Zm9v"},
                                                                      {"foob", "Zm9vYg=="},
                                                                      {"fooba", "Zm9vYmE="},
                                                                      {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(to_base64(bytes(plain)), encoded);
        EXPECT_EQ(from_base64(encoded), bytes(plain)) << encoded;
    }
    const std::vector<uint8_t> all = pattern(256, 0);
    EXPECT_EQ(from_base64(to_base64(all)), all);
    EXPECT_EQ(to_base64(std::vector<uint8_t>{0xfb, 0xff}), "+/8=");
}

TEST(TraceJson, Base64RefusesBadInput) {
    for (const char* text :
         {"Zg=", "Zg", "Z===", "====", "Zm9v\n", "Zm9-", "Zh==", "Zm9=Zm9v", "=Zm9"}) {
        EXPECT_THROW((void)from_base64(text), std::invalid_argument) << text;
    }
}

}  // namespace
}  // namespace atsarray::trace
