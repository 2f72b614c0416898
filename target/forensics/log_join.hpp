#pragma once
// Host events (host_log.hpp) joined with the array's events: one timeline on the array's clock,
// each host event matched with its array counterpart or flagged, with a sentence for the cases
// an engineer asks about (a host miscompare the array never answered, a heartbeat timeout on an
// ATS the array answered in milliseconds, an array miscompare the host never logged).
//
// Matching keys: the heartbeat or lock offset against LBA x block size (plus the volume's base on
// the disk), the host against the initiator name, the device NAA, and the time within a window
// around the clock skew, which is estimated from the pairs that match without ambiguity.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "target/ats/event_log.hpp"
#include "target/forensics/host_log.hpp"

namespace atsarray::forensics {

enum class ArrayEventKind {
    miscompare,   // ATS answered CHECK CONDITION MISCOMPARE (0e/1d/00)
    ats_success,  // ATS answered GOOD
    ats_error,    // ATS answered another status (BUSY, another sense, ...)
    abort,        // ABORT TASK / ABORT TASK SET / CLEAR TASK SET
    reset,        // LOGICAL UNIT RESET, TARGET WARM/COLD RESET
    login,
    logout,
    fault,  // a fault rule added, changed, injected
    other,
};
std::string_view to_string(ArrayEventKind kind);

// One event on the array's side, as the daemon fills it from its EventLog (array_event_from) and,
// later, from the flight recorder (which knows every ATS, its status and its duration).
struct ArrayEvent {
    uint64_t id = 0;   // EventLog's sequence number, or the recorder's
    TimePoint time{};  // when the array answered (or logged) it
    ArrayEventKind kind = ArrayEventKind::other;
    std::string target;
    std::optional<uint64_t> lun;
    std::optional<uint64_t> lba;
    uint32_t block_size = 512;
    std::string initiator;   // IQN, or the initiator port "IQN,i,0xISID"
    std::string device_naa;  // "naa.6..." from VPD page 0x83, when known
    std::string status;      // what the array answered
    std::optional<std::chrono::microseconds> ats_duration;  // arrival to status
    bool injected = false;                                  // by a fault rule
    std::string message;

    std::optional<uint64_t> byte_offset() const;  // LBA x block size
    bool is_ats() const;                          // miscompare, ats_success or ats_error
};

// An EventLog event: its kind, and for a miscompare the LBA its message carries ("ats miscompare
// lun 0 lba 7296 initiator ... offset 20 expected=... got=...", target/scsi/lun.cpp) and whether
// a fault rule injected it. The EventLog holds no ATS successes and logs at most 10 miscompares
// a second per LUN (target/scsi/lun.hpp, miscompare_log_): in a flood, a host miscompare can be
// "unmatched" only because its event was held back. The flight recorder's events have neither gap.
ArrayEvent array_event_from(const ats::Event& event, uint32_t block_size,
                            std::string device_naa = {});

struct JoinOptions {
    // A pair's times, once the host's is corrected by the skew, lie within ±window.
    std::chrono::milliseconds window{2000};
    // Pairs for the skew estimate are looked for this far apart (the clocks' worst disagreement).
    std::chrono::milliseconds max_skew{std::chrono::minutes(10)};
    // ESXi times a heartbeat I/O out after about 8 s and declares the heartbeat lost after 16 s
    // without a successful one (../shared/VMFS-ATS.md).
    std::chrono::milliseconds host_io_timeout{8000};
    std::chrono::milliseconds heartbeat_lost_after{16000};
    // An ATS the array answered within this was fast: a host timeout was not the array's doing.
    std::chrono::milliseconds fast_answer{1000};
    // The disk byte of volume offset 0: 0 for esxi-sim (its offsets are LBA x block size); for a
    // single-extent VMFS5 volume the partition's start + 0x1100000 (../shared/VMFS-ATS.md).
    uint64_t volume_base = 0;
    // Host name -> initiator IQN, where the IQN does not name the host ("iqn...:esx-01-1" does).
    std::map<std::string, std::string, std::less<>> host_initiators;
    // Given: used as it is instead of the estimate (host clock minus array clock).
    std::optional<std::chrono::milliseconds> skew;
};

struct TimelineEntry {
    enum class Side { host, array };
    Side side = Side::host;
    size_t index = 0;               // into JoinResult::host_events or array_events
    std::optional<TimePoint> time;  // on the array's clock (host times corrected by the skew)
    // host: "matched" or "unmatched"; array: "matched", "unlogged" (a miscompare no host line
    // shows) or "context" (nothing on the host's side claims it).
    std::string state;
    std::vector<size_t> matches;  // indexes on the other side
    std::string explanation;      // one sentence where it matters, else empty
};

struct JoinResult {
    std::vector<HostEvent> host_events;
    std::vector<ArrayEvent> array_events;
    std::vector<TimelineEntry> timeline;  // ordered by time on the array's clock
    std::chrono::milliseconds skew{0};    // host clock minus array clock
    size_t skew_pairs = 0;                // pairs the estimate used
    std::string skew_source;              // "estimated", "given" or "none"
    std::string skew_note;                // the same in a sentence
    size_t host_matched = 0;
    size_t host_unmatched = 0;
    size_t array_unlogged_miscompares = 0;
};

JoinResult join_logs(std::vector<HostEvent> host, std::vector<ArrayEvent> array,
                     const JoinOptions& options = {});

nlohmann::json to_json(const ArrayEvent& event);
nlohmann::json to_json(const JoinResult& result);

}  // namespace atsarray::forensics
