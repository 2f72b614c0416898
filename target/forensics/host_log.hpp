#pragma once
// An uploaded excerpt of an ESXi host's logs (vmkernel.log, vobd.log) or of esxi-sim's log, read
// into typed host events for the join with the array's events (log_join.hpp).
//
// Formats (../shared/REFERENCES.md, "ESXi host logs"; tools/esxi_sim/log.cpp):
//   vmkernel  "2024-01-15T10:23:45.123Z cpu12:2098765)HBX: 2956: 'ds1': HB at offset 3735552 - ..."
//             and ESXi 7+'s "2024-01-15T10:23:45.123Z In(182) vmkernel: cpu12:2098765)HBX: ..."
//   vobd      "2024-01-15T10:23:45.123Z: [vmfsCorrelator] 3289578406us: [vob.vmfs....] ..."
//   esxi-sim  "2026-11-03T10:00:00.123Z esx-01-2 HBX: ..." (the host's name is the second column)
// A line is one of those whatever the file it came from, so one upload may mix them.
//
// Bad input never throws: a refused upload has `error` set (naming the limit), a line the parser
// does not know is counted and the first few are kept with their line number.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace atsarray::forensics {

// UTC with millisecond resolution, as the logs write it.
using TimePoint = std::chrono::sys_time<std::chrono::milliseconds>;

// "2024-01-15T10:23:45.123Z" (also with a "+hh:mm" offset, or 0-9 fraction digits); nullopt when
// `text` does not start with one. `used` receives the characters read.
std::optional<TimePoint> parse_log_time(std::string_view text, size_t* used = nullptr);
// "2024-01-15T10:23:45.123Z".
std::string format_time(TimePoint t);

// `text` with every byte that is not valid UTF-8, and every control character but tab, replaced
// by '?': what a JSON answer can carry (an upload may hold anything).
std::string printable_utf8(std::string_view text);

enum class HostEventKind {
    ats_miscompare,        // "ATS Miscompare detected between test and set HB images ..."
    hb_waiting_timed_out,  // "HB at offset X - Waiting for timed out HB" (esxi-sim: "ATS timed
                           // out")
    hb_timeout,            // vobd heartbeat.timedout, "Lost access to volume"
    hb_recovered,          // vobd heartbeat.recovered, "Successfully restored access to volume"
    scsi_cmd_failed,       // ScsiDeviceIO / NMP "Cmd ... 0x89 ... failed H:0x5 D:0x0 P:0x0"
    lock_check,            // FS3 "Checking if lock holders are live for lock [type ...]"
};
std::string_view to_string(HostEventKind kind);

// Which of the formats above the line was written in.
enum class LogFormat { vmkernel, vobd, esxi_sim };
std::string_view to_string(LogFormat format);

// A heartbeat slot as ESXi prints it: "[HB state abcdef02 offset 3866624 gen 4923 stampUS ...
// uuid ... jrnl <FB 41943053> drv 24.82]" (../shared/VMFS-ATS.md, slot layout).
struct HeartbeatState {
    uint32_t state = 0;  // 0xabcdef01 free, 0xabcdef02 in use
    uint64_t offset = 0;
    uint64_t gen = 0;
    uint64_t stamp_us = 0;
    std::string uuid;
    uint32_t journal = 0;  // "jrnl <FB n>"
    std::string driver;    // "drv 24.82"
};

// An on-disk lock as FS3 prints it: "[type 10c00001 offset 67555328 v 34, hb offset 3526656 gen
// 7154, mode 1, owner <uuid> mtime 4089393]".
struct LockState {
    uint32_t type = 0;
    uint64_t offset = 0;
    uint64_t version = 0;  // "v": the token, +1 on every acquire
    uint64_t hb_offset = 0;
    uint64_t hb_gen = 0;
    uint32_t mode = 0;  // 0 free, 1 exclusive, 2 read-only, 3 multi-writer
    std::string owner;
    uint64_t mtime = 0;
};

// A failed command as ScsiDeviceIO / NMP print it (VMware KB 321364 / KB 338435: H: host, D:
// device, P: plugin status; then the sense key, ASC and ASCQ).
struct ScsiFailure {
    uint8_t opcode = 0;  // 0x89 COMPARE AND WRITE (ATS)
    std::optional<uint64_t> cmd_sn;
    std::optional<uint64_t> world;
    std::string device;  // "naa.6000..."
    std::string path;    // "vmhba64:C0:T0:L0" (NMP lines only)
    uint8_t host_status = 0;
    uint8_t device_status = 0;
    uint8_t plugin_status = 0;
    bool sense_valid = false;  // "Valid sense data" (not "Possible" / "Invalid")
    std::optional<uint8_t> sense_key;
    std::optional<uint8_t> asc;
    std::optional<uint8_t> ascq;
    std::string action;  // NMP's "Act:EVAL"

    // 0xe 0x1d 0x0: MISCOMPARE DURING VERIFY OPERATION (SBC-4 §5.3, the ATS compare failed).
    bool miscompare() const { return sense_valid && sense_key == 0xe && asc == 0x1d; }
    bool aborted() const { return host_status == 0x5; }  // H:0x5 VMK_SCSI_HOST_ABORT
    bool reset() const { return host_status == 0x8; }    // H:0x8 VMK_SCSI_HOST_RESET
};

struct HostEvent {
    HostEventKind kind = HostEventKind::ats_miscompare;
    size_t line = 0;                // 1-based line number in the upload
    std::optional<TimePoint> time;  // nullopt: the line had no time
    std::string host;               // esxi-sim's host column, else the caller's host name
    LogFormat format = LogFormat::vmkernel;
    std::string module;              // "HBX", "FS3", "ScsiDeviceIO", "vobd", ...
    std::string volume;              // datastore name or volume UUID, as the line names it
    std::string volume_uuid;         // vobd lines name both
    std::optional<uint64_t> offset;  // byte offset on the volume: heartbeat slot or lock
    std::optional<uint64_t> lba;     // esxi-sim DLX lines name the disk block instead
    std::string subject;             // ats_miscompare: "heartbeat", "heartbeat acquire", "lock"
    std::optional<int64_t> first_differing_byte;
    std::optional<double> timeout_seconds;  // esxi-sim "ATS timed out after 8.0 s"
    std::string path;                       // the path the host names
    std::optional<HeartbeatState> heartbeat;
    std::optional<LockState> lock;
    std::optional<ScsiFailure> scsi;
    std::string text;  // the line as uploaded (bounded by ParseLimits::max_line_bytes)
};

struct ParseLimits {
    size_t max_upload_bytes = 16 * 1024 * 1024;
    size_t max_line_bytes = 8192;
    size_t max_events = 100000;    // events past this are counted, not kept
    size_t max_unknown_kept = 50;  // unknown lines kept with their number; all are counted
};

struct ParseOptions {
    std::string host;  // the host name for lines that carry none (vmkernel.log, vobd.log)
    ParseLimits limits;
};

struct UnknownLine {
    size_t line = 0;
    std::string text;
};

struct ParseResult {
    std::string error;  // non-empty: the upload was refused, and why (nothing else is filled)
    std::vector<HostEvent> events;
    size_t lines = 0;          // lines read (empty ones included)
    size_t unknown_lines = 0;  // non-empty lines that made no event
    std::vector<UnknownLine> unknown_kept;
    size_t untimed_events = 0;      // events from lines without a time
    size_t events_not_kept = 0;     // over ParseLimits::max_events
    size_t continuation_lines = 0;  // "[HB state ...]" lines folded into the event above

    bool ok() const { return error.empty(); }
};

ParseResult parse_host_log(std::string_view text, const ParseOptions& options = {});

nlohmann::json to_json(const HeartbeatState& hb);
nlohmann::json to_json(const LockState& lock);
nlohmann::json to_json(const HostEvent& event);
// Counts, the unknown lines kept and, with `with_events`, every event (a join's answer carries
// the events in its timeline already).
nlohmann::json to_json(const ParseResult& result, bool with_events = true);

}  // namespace atsarray::forensics
