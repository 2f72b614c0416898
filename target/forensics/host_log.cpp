#include "target/forensics/host_log.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "target/forensics/host_messages.hpp"
#include "target/forensics/line_scan.hpp"

namespace atsarray::forensics {

using namespace scan;

namespace {

// Where the line came from and what is left to classify.
struct LineHead {
    std::optional<TimePoint> time;
    LogFormat format = LogFormat::vmkernel;
    std::string host;
    std::string module;
    string_view body;
};

// "In(182)", "Wa(180)", "Er(179)": the syslog severity tag ESXi 7+ writes before the program.
bool is_severity_tag(string_view t) {
    return t.size() >= 5 && std::isalpha(static_cast<uint8_t>(t[0])) &&
           std::isalpha(static_cast<uint8_t>(t[1])) && t[2] == '(' && t.back() == ')' &&
           std::all_of(t.begin() + 3, t.end() - 1, is_digit);
}

// "cpu12:2098765)" or "cpu3:2097594 opID=3e8c1d55)": the vmkernel line's CPU and world.
std::optional<string_view> after_cpu_prefix(string_view s) {
    if (!s.starts_with("cpu") || s.size() < 5 || !is_digit(s[3])) {
        return std::nullopt;
    }
    const size_t close = s.find(')');
    const size_t colon = s.find(':');
    if (close == string_view::npos || colon == string_view::npos || colon > close || close > 80) {
        return std::nullopt;
    }
    return s.substr(close + 1);
}

// "HBX: 2956: rest" -> module "HBX", rest; "WARNING: " in front is skipped.
void split_module(string_view s, LineHead& head) {
    s = trim_left(s);
    for (string_view level : {"WARNING: ", "ALERT: "}) {
        if (s.starts_with(level)) {
            s.remove_prefix(level.size());
        }
    }
    size_t end = 0;
    while (end < s.size() && (std::isalnum(static_cast<uint8_t>(s[end])) || s[end] == '_')) {
        ++end;
    }
    if (end > 0 && end + 1 < s.size() && s[end] == ':' && s[end + 1] == ' ') {
        head.module = std::string(s.substr(0, end));
        s = trim_left(s.substr(end + 1));
        // The source line number vmkernel prints after the module ("HBX: 2956: ").
        size_t digits = 0;
        while (digits < s.size() && is_digit(s[digits])) {
            ++digits;
        }
        if (digits > 0 && digits < s.size() && s[digits] == ':') {
            s = trim_left(s.substr(digits + 1));
        }
    }
    head.body = s;
}

// "vobd[2097878]:" -> "vobd"; "vmkernel:" -> "vmkernel"; empty when `t` is not a program.
string_view program_name(string_view t) {
    if (t.size() < 2 || t.back() != ':') {
        return {};
    }
    t.remove_suffix(1);
    if (const size_t bracket = t.find('['); bracket != string_view::npos) {
        t = t.substr(0, bracket);
    }
    return t;
}

LineHead read_head(string_view line) {
    LineHead head;
    string_view s = line;
    // A syslog server's copy starts with the priority (RFC 5424 §6.2.1): "<166>".
    if (s.starts_with("<")) {
        const size_t close = s.find('>');
        if (close != string_view::npos && close > 1 && close <= 4 &&
            std::all_of(s.begin() + 1, s.begin() + static_cast<std::ptrdiff_t>(close), is_digit)) {
            s = s.substr(close + 1);
        }
    }
    size_t used = 0;
    head.time = parse_log_time(s, &used);
    if (head.time) {
        s = s.substr(used);
        if (!s.empty() && s[0] == ':') {
            s.remove_prefix(1);  // vobd.log: "2019-03-28T12:02:02.426Z: [vmfsCorrelator] ..."
        }
    }
    s = trim_left(s);

    // ESXi 7+ (and a syslog server's copy): "[HOST] In(182) vmkernel: cpu12:...)" or
    // "In(14) vobd[2097878]: ...".
    {
        string_view probe = s;
        string_view first = next_token(probe);
        const string_view after_first = probe;
        const string_view second = next_token(probe);
        if (!is_severity_tag(first) && is_severity_tag(second)) {
            head.host = std::string(first);
            s = trim_left(after_first);
        }
        probe = s;
        first = next_token(probe);
        if (is_severity_tag(first)) {
            const string_view program = program_name(next_token(probe));
            s = trim_left(probe);
            if (program == "vobd") {
                head.format = LogFormat::vobd;
                head.module = "vobd";
                head.body = s;
                return head;
            }
            if (!program.empty() && program != "vmkernel") {
                head.module = std::string(program);
                head.body = s;
                return head;
            }
        }
    }
    // A syslog server's copy without a severity: "HOST vmkernel: cpu12:...)" or
    // "HOST vobd: [vmfsCorrelator] ..." (esxi-sim's "HOST vobd: Lost access ..." stays its own).
    {
        string_view probe = s;
        const string_view first = next_token(probe);
        const string_view program = program_name(next_token(probe));
        const string_view rest = trim_left(probe);
        if (program == "vmkernel" && after_cpu_prefix(rest)) {
            head.host = std::string(first);
            s = rest;
        } else if (program == "vobd" && rest.starts_with("[")) {
            head.host = std::string(first);
            head.format = LogFormat::vobd;
            head.module = "vobd";
            head.body = rest;
            return head;
        }
    }
    if (auto rest = after_cpu_prefix(s)) {
        head.format = LogFormat::vmkernel;
        const string_view r = trim_left(*rest);
        if (r.starts_with("[")) {
            head.body = r;  // a continuation line: "cpu19:32872)  [HB state ...]"
        } else {
            split_module(r, head);
        }
        return head;
    }
    if (s.starts_with("[")) {
        head.format = LogFormat::vobd;
        head.module = "vobd";
        head.body = s;
        return head;
    }
    if (head.time) {
        // esxi-sim (tools/esxi_sim/log.cpp): "TIME HOST MODULE: message".
        string_view probe = s;
        const string_view host = next_token(probe);
        const string_view module = next_token(probe);
        if (!host.empty() && module.size() >= 2 && module.back() == ':' &&
            std::all_of(module.begin(), module.end() - 1,
                        [](char c) { return std::isalnum(static_cast<uint8_t>(c)) || c == '_'; })) {
            head.format = LogFormat::esxi_sim;
            head.host = std::string(host);
            head.module = std::string(module.substr(0, module.size() - 1));
            head.body = trim_left(probe);
            return head;
        }
    }
    split_module(s, head);
    return head;
}

std::string hex(uint64_t v, bool prefix) {
    char buf[24];
    std::snprintf(buf, sizeof buf, prefix ? "0x%llx" : "%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

std::string printable_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    const auto continuation = [&](size_t at, uint8_t low, uint8_t high) {
        return at < text.size() && static_cast<uint8_t>(text[at]) >= low &&
               static_cast<uint8_t>(text[at]) <= high;
    };
    while (i < text.size()) {
        const auto c = static_cast<uint8_t>(text[i]);
        // RFC 3629 §4: the well-formed byte sequences (no overlongs, no surrogates).
        size_t length = 0;
        if (c < 0x80) {
            length = (c < 0x20 && c != '\t') || c == 0x7f ? 0 : 1;
        } else if (c >= 0xc2 && c <= 0xdf) {
            length = continuation(i + 1, 0x80, 0xbf) ? 2 : 0;
        } else if (c >= 0xe0 && c <= 0xef) {
            const uint8_t low = c == 0xe0 ? 0xa0 : 0x80;
            const uint8_t high = c == 0xed ? 0x9f : 0xbf;
            length = continuation(i + 1, low, high) && continuation(i + 2, 0x80, 0xbf) ? 3 : 0;
        } else if (c >= 0xf0 && c <= 0xf4) {
            const uint8_t low = c == 0xf0 ? 0x90 : 0x80;
            const uint8_t high = c == 0xf4 ? 0x8f : 0xbf;
            length = continuation(i + 1, low, high) && continuation(i + 2, 0x80, 0xbf) &&
                             continuation(i + 3, 0x80, 0xbf)
                         ? 4
                         : 0;
        }
        if (length == 0) {
            out += '?';
            ++i;
        } else {
            out.append(text.substr(i, length));
            i += length;
        }
    }
    return out;
}

std::optional<TimePoint> parse_log_time(std::string_view text, size_t* used) {
    using namespace std::chrono;
    // YYYY-MM-DDTHH:MM:SS: 19 characters at fixed places.
    if (text.size() < 19 || text[4] != '-' || text[7] != '-' ||
        (text[10] != 'T' && text[10] != ' ') || text[13] != ':' || text[16] != ':') {
        return std::nullopt;
    }
    const auto field = [&](size_t at, size_t n) -> std::optional<int> {
        int v = 0;
        for (size_t i = at; i < at + n; ++i) {
            if (!is_digit(text[i])) {
                return std::nullopt;
            }
            v = v * 10 + (text[i] - '0');
        }
        return v;
    };
    const auto y = field(0, 4);
    const auto mo = field(5, 2);
    const auto d = field(8, 2);
    const auto h = field(11, 2);
    const auto mi = field(14, 2);
    const auto s = field(17, 2);
    // Years 1-9998: a zone offset cannot move the time out of what format_time() writes.
    if (!y || !mo || !d || !h || !mi || !s || *y < 1 || *y > 9998 || *h > 23 || *mi > 59 ||
        *s > 60) {
        return std::nullopt;
    }
    const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)},
                              day{static_cast<unsigned>(*d)}};
    if (!date.ok()) {
        return std::nullopt;
    }
    size_t at = 19;
    int millis = 0;
    if (at < text.size() && text[at] == '.') {
        ++at;
        int digits = 0;
        while (at < text.size() && is_digit(text[at])) {
            if (digits < 3) {
                millis = millis * 10 + (text[at] - '0');
            }
            ++digits;
            ++at;
        }
        if (digits == 0 || digits > 9) {
            return std::nullopt;
        }
        for (int i = digits; i < 3; ++i) {
            millis *= 10;
        }
    }
    minutes zone{0};
    if (at < text.size() && text[at] == 'Z') {
        ++at;
    } else if (at + 6 <= text.size() && (text[at] == '+' || text[at] == '-') &&
               text[at + 3] == ':') {
        const auto zh = field(at + 1, 2);
        const auto zm = field(at + 4, 2);
        if (!zh || !zm || *zh > 23 || *zm > 59) {
            return std::nullopt;
        }
        zone = hours{*zh} + minutes{*zm};
        if (text[at] == '-') {
            zone = -zone;
        }
        at += 6;
    }
    if (used != nullptr) {
        *used = at;
    }
    const TimePoint local =
        sys_days{date} + hours{*h} + minutes{*mi} + seconds{*s} + milliseconds{millis};
    return local - zone;
}

std::string format_time(TimePoint t) {
    using namespace std::chrono;
    const auto day_start = floor<days>(t);
    const year_month_day date{day_start};
    const hh_mm_ss time{t - day_start};
    char buf[40];
    std::snprintf(
        buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
        static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
        static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
        static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
    return buf;
}

std::string_view to_string(HostEventKind kind) {
    switch (kind) {
        case HostEventKind::ats_miscompare:
            return "ats_miscompare";
        case HostEventKind::hb_waiting_timed_out:
            return "hb_waiting_timed_out";
        case HostEventKind::hb_timeout:
            return "hb_timeout";
        case HostEventKind::hb_recovered:
            return "hb_recovered";
        case HostEventKind::scsi_cmd_failed:
            return "scsi_cmd_failed";
        case HostEventKind::lock_check:
            return "lock_check";
    }
    return "unknown";
}

std::string_view to_string(LogFormat format) {
    switch (format) {
        case LogFormat::vmkernel:
            return "vmkernel";
        case LogFormat::vobd:
            return "vobd";
        case LogFormat::esxi_sim:
            return "esxi-sim";
    }
    return "unknown";
}

ParseResult parse_host_log(std::string_view text, const ParseOptions& options) {
    const ParseLimits& limits = options.limits;
    ParseResult result;
    if (text.size() > limits.max_upload_bytes) {
        result.error = "the upload is " + std::to_string(text.size()) + " bytes; the limit is " +
                       std::to_string(limits.max_upload_bytes) + " bytes (max_upload_bytes)";
        return result;
    }
    size_t number = 0;
    size_t last_event_line = 0;  // the line of events.back(), for continuation lines
    while (!text.empty()) {
        const size_t newline = text.find('\n');
        string_view line = text.substr(0, newline);
        text = newline == string_view::npos ? string_view{} : text.substr(newline + 1);
        ++number;
        if (line.size() > limits.max_line_bytes) {
            result = ParseResult{};
            result.error = "line " + std::to_string(number) + " is " + std::to_string(line.size()) +
                           " bytes long; the limit is " + std::to_string(limits.max_line_bytes) +
                           " bytes per line (max_line_bytes)";
            return result;
        }
        // Everything kept from here on is printable UTF-8 (the console serves it as JSON).
        const std::string printable = printable_utf8(trim(line));
        line = printable;
        if (line.empty()) {
            continue;
        }
        const LineHead head = read_head(line);
        const string_view body = trim(head.body);

        // "[HB state ...]" or "[type ...]" alone: the tuple of the event on the line above.
        if (body.starts_with("[HB state ") || body.starts_with("[type ")) {
            if (!result.events.empty() && last_event_line + 1 == number) {
                HostEvent& previous = result.events.back();
                if (!previous.heartbeat) {
                    previous.heartbeat = parse_heartbeat_tuple(body);
                }
                if (!previous.lock) {
                    previous.lock = parse_lock_tuple(body);
                }
                settle_offset(previous);
                last_event_line = number;
                ++result.continuation_lines;
                continue;
            }
        }

        HostEvent event;
        if (!classify_message(body, event)) {
            ++result.unknown_lines;
            if (result.unknown_kept.size() < limits.max_unknown_kept) {
                result.unknown_kept.push_back({number, std::string(line)});
            }
            continue;
        }
        if (result.events.size() >= limits.max_events) {
            ++result.events_not_kept;
            continue;
        }
        event.line = number;
        event.time = head.time;
        event.format = head.format;
        event.host = head.host.empty() ? options.host : head.host;
        event.module = head.module;
        event.text = std::string(line);
        settle_offset(event);
        if (!event.time) {
            ++result.untimed_events;
        }
        result.events.push_back(std::move(event));
        last_event_line = number;
    }
    result.lines = number;
    return result;
}

nlohmann::json to_json(const HeartbeatState& hb) {
    return {{"state", hex(hb.state, false)},
            {"offset", hb.offset},
            {"gen", hb.gen},
            {"stamp_us", hb.stamp_us},
            {"uuid", hb.uuid},
            {"journal", hb.journal},
            {"driver", hb.driver}};
}

nlohmann::json to_json(const LockState& lock) {
    return {{"type", hex(lock.type, false)}, {"offset", lock.offset}, {"v", lock.version},
            {"hb_offset", lock.hb_offset},   {"hb_gen", lock.hb_gen}, {"mode", lock.mode},
            {"owner", lock.owner},           {"mtime", lock.mtime}};
}

nlohmann::json to_json(const HostEvent& e) {
    nlohmann::json j = {{"kind", to_string(e.kind)},
                        {"line", e.line},
                        {"time", e.time ? nlohmann::json(format_time(*e.time)) : nlohmann::json()},
                        {"host", e.host},
                        {"format", to_string(e.format)},
                        {"module", e.module},
                        {"text", e.text}};
    if (!e.volume.empty()) {
        j["volume"] = e.volume;
    }
    if (!e.volume_uuid.empty()) {
        j["volume_uuid"] = e.volume_uuid;
    }
    if (e.offset) {
        j["offset"] = *e.offset;
    }
    if (e.lba) {
        j["lba"] = *e.lba;
    }
    if (!e.subject.empty()) {
        j["subject"] = e.subject;
    }
    if (e.first_differing_byte) {
        j["first_differing_byte"] = *e.first_differing_byte;
    }
    if (e.timeout_seconds) {
        j["timeout_s"] = *e.timeout_seconds;
    }
    if (!e.path.empty()) {
        j["path"] = e.path;
    }
    if (e.heartbeat) {
        j["heartbeat"] = to_json(*e.heartbeat);
    }
    if (e.lock) {
        j["lock"] = to_json(*e.lock);
    }
    if (e.scsi) {
        const ScsiFailure& f = *e.scsi;
        nlohmann::json s = {{"opcode", hex(f.opcode, true)},
                            {"device", f.device},
                            {"host_status", hex(f.host_status, true)},
                            {"device_status", hex(f.device_status, true)},
                            {"plugin_status", hex(f.plugin_status, true)},
                            {"sense_valid", f.sense_valid},
                            {"miscompare", f.miscompare()},
                            {"aborted", f.aborted()},
                            {"reset", f.reset()}};
        if (f.cmd_sn) {
            s["cmd_sn"] = hex(*f.cmd_sn, true);
        }
        if (f.world) {
            s["world"] = *f.world;
        }
        if (f.sense_key && f.asc && f.ascq) {
            s["sense"] = {hex(*f.sense_key, true), hex(*f.asc, true), hex(*f.ascq, true)};
        }
        if (!f.action.empty()) {
            s["action"] = f.action;
        }
        j["scsi"] = std::move(s);
    }
    return j;
}

nlohmann::json to_json(const ParseResult& r, bool with_events) {
    if (!r.ok()) {
        return {{"error", r.error}};
    }
    nlohmann::json unknown = nlohmann::json::array();
    for (const UnknownLine& u : r.unknown_kept) {
        unknown.push_back({{"line", u.line}, {"text", u.text}});
    }
    nlohmann::json out = {{"lines", r.lines},
                          {"event_count", r.events.size()},
                          {"unknown_lines", r.unknown_lines},
                          {"unknown_kept", std::move(unknown)},
                          {"untimed_events", r.untimed_events},
                          {"events_not_kept", r.events_not_kept},
                          {"continuation_lines", r.continuation_lines}};
    if (with_events) {
        nlohmann::json events = nlohmann::json::array();
        for (const HostEvent& e : r.events) {
            events.push_back(to_json(e));
        }
        out["events"] = std::move(events);
    }
    return out;
}

}  // namespace atsarray::forensics
