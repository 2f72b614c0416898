#include "target/forensics/host_messages.hpp"

#include <algorithm>
#include <cctype>

#include "target/forensics/line_scan.hpp"

namespace atsarray::forensics {

using namespace scan;

namespace {

// A volume UUID as VMFS writes it: 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 (hex and dashes).
bool looks_like_uuid(string_view t) {
    if (t.size() < 20 || t.find('-') == string_view::npos) {
        return false;
    }
    return std::all_of(t.begin(), t.end(),
                       [](char c) { return c == '-' || std::isxdigit(static_cast<uint8_t>(c)); });
}

// The bracketed tuple starting at `open` ('['), without its brackets; "<FB n>" holds no ']'.
string_view bracket_body(string_view s, size_t open) {
    const size_t close = s.find(']', open);
    return s.substr(open + 1, close == string_view::npos ? string_view::npos : close - open - 1);
}

}  // namespace

// "[HB state abcdef02 offset 3866624 gen 4923 stampUS 14806948640524 uuid ... jrnl <FB 41943053>
// drv 24.82 lockImpl 3 ip 10.0.0.1]": known keys are read, the others skipped.
std::optional<HeartbeatState> parse_heartbeat_tuple(std::string_view s) {
    const size_t open = s.find("[HB state ");
    if (open == string_view::npos) {
        return std::nullopt;
    }
    string_view body = bracket_body(s, open);
    next_token(body);  // "HB"
    HeartbeatState hb;
    bool have_state = false;
    while (true) {
        const string_view key = next_token(body);
        if (key.empty()) {
            break;
        }
        const string_view value = next_token(body);
        if (key == "state") {
            const auto v = to_number(value, 16);
            have_state = v.has_value() && *v <= UINT32_MAX;
            hb.state = have_state ? static_cast<uint32_t>(*v) : 0;
        } else if (key == "offset") {
            hb.offset = to_number(value).value_or(0);
        } else if (key == "gen") {
            hb.gen = to_number(value).value_or(0);
        } else if (key == "stampUS") {
            hb.stamp_us = to_number(value).value_or(0);
        } else if (key == "uuid") {
            hb.uuid = std::string(value);
        } else if (key == "jrnl") {
            // "<FB 41943053>": the value is "<FB", the number follows.
            const string_view number = next_token(body);
            string_view digits = number;
            if (!digits.empty() && digits.back() == '>') {
                digits.remove_suffix(1);
            }
            const auto v = to_number(digits);
            hb.journal = v && *v <= UINT32_MAX ? static_cast<uint32_t>(*v) : 0;
        } else if (key == "drv") {
            hb.driver = std::string(value);
        }
    }
    if (!have_state) {
        return std::nullopt;
    }
    return hb;
}

// "[type 10c00001 offset 67555328 v 34, hb offset 3526656 gen 7154, mode 1, owner <uuid> mtime
// 4089393 num 0 gblnum 0 ...]".
std::optional<LockState> parse_lock_tuple(std::string_view s) {
    const size_t open = s.find("[type ");
    if (open == string_view::npos) {
        return std::nullopt;
    }
    string_view body = bracket_body(s, open);
    LockState lock;
    bool have_type = false;
    while (true) {
        string_view key = strip_punctuation(next_token(body));
        if (key.empty()) {
            break;
        }
        if (key == "hb") {
            key = strip_punctuation(next_token(body));  // "hb offset"
            if (key == "offset") {
                lock.hb_offset = to_number(next_token(body)).value_or(0);
            }
            continue;
        }
        const string_view value = strip_punctuation(next_token(body));
        if (key == "type") {
            const auto v = to_number(value, 16);
            have_type = v.has_value() && *v <= UINT32_MAX;
            lock.type = have_type ? static_cast<uint32_t>(*v) : 0;
        } else if (key == "offset") {
            lock.offset = to_number(value).value_or(0);
        } else if (key == "v") {
            lock.version = to_number(value).value_or(0);
        } else if (key == "gen") {
            lock.hb_gen = to_number(value).value_or(0);
        } else if (key == "mode") {
            lock.mode =
                static_cast<uint32_t>(std::min<uint64_t>(to_number(value).value_or(0), UINT32_MAX));
        } else if (key == "owner") {
            lock.owner = std::string(value);
        } else if (key == "mtime") {
            lock.mtime = to_number(value).value_or(0);
        }
    }
    if (!have_type) {
        return std::nullopt;
    }
    return lock;
}

namespace {

// ScsiDeviceIO: 'Cmd(0x43be1974bb80) 0x89, CmdSN 0x1aa23 from world 32814 to dev "naa..." failed
// H:0x5 D:0x0 P:0x0 Valid sense data: 0xe 0x1d 0x0.'
// NMP: 'nmp_ThrottleLogForDevice: Cmd 0x89 (0x45a2c0c7b9c0, 2097316) to dev "naa..." on path
// "vmhba64:C0:T0:L0" Failed: H:0x0 D:0x2 P:0x0 Valid sense data: 0xe 0x1d 0x0. Act:NONE'
std::optional<ScsiFailure> parse_scsi_failure(string_view body) {
    const bool device_io = body.find("Cmd(") != string_view::npos;
    const bool nmp = !device_io && body.find("Cmd 0x") != string_view::npos;
    if ((!device_io && !nmp) || body.find("H:0x") == string_view::npos ||
        (body.find("failed") == string_view::npos && body.find("Failed") == string_view::npos)) {
        return std::nullopt;
    }
    ScsiFailure f;
    string_view rest = device_io ? *after(body, "Cmd(") : *after(body, "Cmd ");
    if (device_io) {
        const size_t close = rest.find(')');
        if (close == string_view::npos) {
            return std::nullopt;
        }
        rest = rest.substr(close + 1);
    }
    const auto opcode = to_byte(next_token(rest));
    if (!opcode) {
        return std::nullopt;
    }
    f.opcode = *opcode;
    f.cmd_sn = number_after(body, "CmdSN ");
    f.world = number_after(body, "from world ");
    if (nmp) {
        // "Cmd 0x89 (0x45a2c0c7b9c0, 2097316)": the command's address, then its world.
        string_view probe = rest;
        if (next_token(probe).starts_with("(")) {
            f.world = to_number(next_token(probe));
        }
    }
    f.device = quoted_after(body, "to dev \"");
    f.path = quoted_after(body, "on path \"");
    const auto status = [&](string_view key) -> uint8_t {
        auto v = after(body, key);
        if (!v) {
            return 0;
        }
        string_view t = next_token(*v);
        return to_byte(t).value_or(0);
    };
    f.host_status = status(" H:");
    f.device_status = status(" D:");
    f.plugin_status = status(" P:");
    if (auto sense = after(body, "sense data: ")) {
        f.sense_valid = body.find("Valid sense data") != string_view::npos;
        string_view s = *sense;
        f.sense_key = to_byte(next_token(s));
        f.asc = to_byte(next_token(s));
        f.ascq = to_byte(next_token(s));
    }
    if (auto act = after(body, "Act:")) {
        f.action = std::string(strip_punctuation(next_token(*act)));
    }
    return f;
}

// "Lost access to volume 5c9b8e69-... (datastore1) due to ..." / "... volume atsarray-lab due".
void read_volume_words(string_view rest, HostEvent& e) {
    const string_view first = strip_punctuation(next_token(rest));
    if (looks_like_uuid(first)) {
        e.volume_uuid = std::string(first);
        string_view probe = rest;
        string_view second = next_token(probe);
        if (second.starts_with("(")) {
            second.remove_prefix(1);
            e.volume = std::string(strip_punctuation(second));
        }
    } else {
        e.volume = std::string(first);
    }
}

}  // namespace

// Classifies the body; false when the parser does not know the line.
bool classify_message(std::string_view body, HostEvent& e) {
    if (body.find("ATS Miscompare detected") != string_view::npos) {
        e.kind = HostEventKind::ats_miscompare;
        e.offset = number_after(body, "at offset ");
        e.volume = name_after(body, " on vol ");
        e.subject = body.find("acquiring the HB slot") != string_view::npos ? "heartbeat acquire"
                    : body.find("HB") != string_view::npos                  ? "heartbeat"
                                                                            : "";
        if (auto rest = after(body, "first differing byte ")) {
            e.first_differing_byte = to_signed(next_token(*rest));
        }
        e.heartbeat = parse_heartbeat_tuple(body);
        return true;
    }
    if (body.find("returned false for equality") != string_view::npos) {
        // VMK_ATS_MISCOMPARE's text; esxi-sim's DLX line names the disk block.
        e.kind = HostEventKind::ats_miscompare;
        e.lba = number_after(body, "disk block ");
        e.volume = name_after(body, " on vol ");
        e.subject = "lock";
        e.lock = parse_lock_tuple(body);
        return true;
    }
    if (body.find("ATS miscompared") != string_view::npos) {
        // esxi-sim's DLX: "releasing the lock at offset N on vol 'v': ATS miscompared although
        // the block equals the test image (a false miscompare); retrying".
        e.kind = HostEventKind::ats_miscompare;
        e.offset = number_after(body, " at offset ");
        e.volume = name_after(body, " on vol ");
        e.subject = "lock";
        return true;
    }
    if (body.find("Waiting for timed out HB") != string_view::npos ||
        (body.find("HB at offset ") != string_view::npos &&
         body.find("ATS timed out after ") != string_view::npos)) {
        e.kind = HostEventKind::hb_waiting_timed_out;
        e.offset = number_after(body, "HB at offset ");
        if (body.starts_with("'")) {
            e.volume = name_after(body, "");  // "'ds1': HB at offset ..."
        } else {
            e.volume = name_after(body, " on vol ");
        }
        if (auto rest = after(body, "timed out after ")) {
            // A day at most: anything else is not a timeout an I/O path would use.
            const auto seconds = to_double(next_token(*rest));
            if (seconds && *seconds >= 0 && *seconds <= 86400) {
                e.timeout_seconds = seconds;
            }
        }
        if (auto rest = after(body, " on path ")) {
            e.path = std::string(strip_punctuation(next_token(*rest)));
        }
        e.heartbeat = parse_heartbeat_tuple(body);
        return true;
    }
    if (body.find("heartbeat.timedout]") != string_view::npos) {
        // "[esx.problem.vmfs.heartbeat.timedout] <volume UUID> <datastore>".
        e.kind = HostEventKind::hb_timeout;
        string_view rest = *after(body, "heartbeat.timedout]");
        const string_view uuid = strip_punctuation(next_token(rest));
        (looks_like_uuid(uuid) ? e.volume_uuid : e.volume) = std::string(uuid);
        if (e.volume.empty()) {
            e.volume = std::string(strip_punctuation(next_token(rest)));
        }
        return true;
    }
    if (auto rest = after(body, "Lost access to volume ")) {
        e.kind = HostEventKind::hb_timeout;
        read_volume_words(*rest, e);
        // esxi-sim: "(no heartbeat for 16.2 s)".
        if (auto seconds = after(body, "no heartbeat for ")) {
            const auto value = to_double(next_token(*seconds));
            if (value && *value >= 0 && *value <= 86400) {
                e.timeout_seconds = value;
            }
        }
        return true;
    }
    if (body.find("heartbeat.recovered]") != string_view::npos) {
        // "[vob.vmfs.heartbeat.recovered] Reclaimed heartbeat for volume <UUID> (<ds>): [Timeout]
        // [HB state ...]" or "[esx.problem.vmfs.heartbeat.recovered] <UUID> <ds>".
        e.kind = HostEventKind::hb_recovered;
        if (auto words = after(body, "heartbeat for volume ")) {
            read_volume_words(*words, e);
            if (e.volume.empty()) {
                string_view probe = *words;
                next_token(probe);
                const string_view ds = strip_punctuation(next_token(probe));
                if (!ds.starts_with("[")) {
                    e.volume = std::string(ds);
                }
            }
        } else {
            string_view rest = *after(body, "heartbeat.recovered]");
            const string_view uuid = strip_punctuation(next_token(rest));
            (looks_like_uuid(uuid) ? e.volume_uuid : e.volume) = std::string(uuid);
            if (e.volume.empty()) {
                e.volume = std::string(strip_punctuation(next_token(rest)));
            }
        }
        e.heartbeat = parse_heartbeat_tuple(body);
        return true;
    }
    if (auto rest = after(body, "Successfully restored access to volume ")) {
        e.kind = HostEventKind::hb_recovered;
        read_volume_words(*rest, e);
        return true;
    }
    if (body.find("Reclaimed heartbeat") != string_view::npos &&
        body.find("HB at offset ") != string_view::npos) {
        // vmkernel: "'ds1': HB at offset 3801088 - Reclaimed heartbeat [Timeout]:".
        e.kind = HostEventKind::hb_recovered;
        e.offset = number_after(body, "HB at offset ");
        if (body.starts_with("'")) {
            e.volume = name_after(body, "");
        }
        e.heartbeat = parse_heartbeat_tuple(body);
        return true;
    }
    if (auto failure = parse_scsi_failure(body)) {
        e.kind = HostEventKind::scsi_cmd_failed;
        e.path = failure->path;
        e.scsi = std::move(*failure);
        return true;
    }
    if (body.find("Checking if lock holders are live for lock ") != string_view::npos ||
        body.find("Checking liveness") != string_view::npos || body.starts_with("Lock [type ")) {
        // FS3's liveness check, DLX's "lock at N: ... Checking liveness:" (the tuple follows on
        // the next line) and esxi-sim's "Lock [type ...] is not free / is stale".
        e.kind = HostEventKind::lock_check;
        e.lock = parse_lock_tuple(body);
        e.heartbeat = parse_heartbeat_tuple(body);
        e.offset = number_after(body, "lock at ");
        std::string volume = name_after(body, " on volume ");
        if (volume.empty()) {
            volume = name_after(body, " on vol ");
        }
        if (volume.empty() && body.starts_with("vol '")) {
            volume = name_after(body, "vol ");
        }
        e.volume = std::move(volume);
        return true;
    }
    return false;
}

// Where an event sits on the volume once its tuples are known.
void settle_offset(HostEvent& e) {
    if (e.offset) {
        return;
    }
    if (e.kind == HostEventKind::lock_check && e.lock) {
        e.offset = e.lock->offset;
    } else if (e.heartbeat && e.kind != HostEventKind::lock_check) {
        e.offset = e.heartbeat->offset;
    }
}

}  // namespace atsarray::forensics
