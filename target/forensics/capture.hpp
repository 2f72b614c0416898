#pragma once
// Capture (issue 16): every command of a target's LUNs, or of one initiator, kept whole for a
// while (CDB, Data-Out, Data-In, status, sense, times, path) as a command trace (formats/trace.hpp)
// that the console exports as JSON or pcapng and tools/atsarray_replay replays against any iSCSI
// target.
//
// A capture runs until stopped, or until it reaches its command count or its time; past its byte
// budget it goes on keeping each command but only the length and CRC32C of its data. At most
// `max_captures` are kept (running or stopped) until deleted, so the memory they hold is bounded
// by the sum of their budgets.
//
// The I/O path: active() is one relaxed atomic load; only while a capture runs does a LUN build a
// CaptureNote and call record(), which takes the captures' lock and copies what a matching
// capture keeps.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/trace.hpp"

namespace atsarray::forensics {

// What a LUN hands over when a command's status is sent (target/scsi/lun_forensics.cpp). Views:
// valid for the call only.
struct CaptureNote {
    std::string_view target;
    uint64_t lun = 0;
    uint32_t block_size = 512;
    uint64_t capacity_blocks = 0;
    // The I_T nexus.
    uint64_t nexus_id = 0;
    std::string_view initiator_name;
    uint64_t isid = 0;
    std::string_view address;  // the initiator's ip:port
    std::string_view portal;   // the target's ip:port it reached
    uint16_t relative_target_port = 1;
    // The command.
    uint32_t itt = 0;
    uint32_t cmd_sn = 0;
    std::span<const uint8_t> cdb;
    trace::Direction direction = trace::Direction::none;
    uint32_t expected_transfer_length = 0;
    std::chrono::system_clock::time_point arrived{}, answered{};
    uint64_t medium_order = 0;
    // Its answer.
    uint8_t status = 0;
    std::span<const uint8_t> sense;
    std::span<const uint8_t> data_out;
    std::span<const uint8_t> data_in;
    std::span<const uint8_t> medium_image;
    std::string_view outcome;
    std::string_view fault_rule;
    bool status_seen = true;
};

struct CaptureRequest {
    std::string target;           // required
    std::optional<uint64_t> lun;  // nullopt: every LUN of the target
    std::string initiator;        // IQN; empty: any
    uint64_t max_commands = 100'000;
    uint64_t max_bytes = 64ull << 20;  // data kept (Data-Out, Data-In, images)
    std::chrono::seconds max_seconds{600};
};

// Bounds on what may be asked for (the API's 400s name them).
inline constexpr uint64_t capture_max_commands_limit = 1'000'000;
inline constexpr uint64_t capture_max_bytes_limit = 1024ull << 20;
inline constexpr std::chrono::seconds capture_max_seconds_limit{24 * 3600};

struct CaptureInfo {
    std::string id;
    CaptureRequest request;
    bool running = false;
    std::string stop_reason;                                   // trace::Trace::stop_reason
    std::chrono::system_clock::time_point started{}, ended{};  // ended: when stopped
    uint64_t commands = 0;                                     // kept
    uint64_t data_bytes = 0;                                   // data kept
    uint64_t data_not_kept = 0;  // commands whose data went past max_bytes
    size_t sessions = 0;
};

// Which commands of a capture an export takes.
struct TraceWindow {
    std::optional<int64_t> from_us, to_us;  // arrival, microseconds since the capture's start
    std::string initiator;                  // IQN; empty: every one
    std::optional<uint64_t> lun;
};

class Captures {
  public:
    explicit Captures(size_t max_captures = 4);
    ~Captures();
    Captures(const Captures&) = delete;
    Captures& operator=(const Captures&) = delete;

    // The I/O path: true while a capture runs.
    bool active() const { return running_.load(std::memory_order_relaxed) > 0; }
    // Any thread: the note goes to every running capture it matches.
    void record(const CaptureNote& note);

    // Starts a capture and returns its id ("c1", "c2", ...). Throws std::invalid_argument on a
    // request out of its bounds (the message names the field and the bound), and
    // std::length_error when max_captures are kept already (delete one first).
    std::string start(CaptureRequest request);
    // Stops a running capture ("stopped"); false when there is no such capture. Stopping a
    // stopped one changes nothing.
    bool stop(std::string_view id);
    bool remove(std::string_view id);  // stops and forgets it
    std::vector<CaptureInfo> list() const;
    std::optional<CaptureInfo> info(std::string_view id) const;
    // The capture's commands in the window, as a trace (sessions and LUNs limited to those its
    // commands use); nullopt when there is no such capture. A running capture gives what it has.
    std::optional<trace::Trace> trace(std::string_view id, const TraceWindow& window = {}) const;

  private:
    struct Capture;  // capture.cpp
    // A running capture past its max_seconds stops ("max_seconds"); called under mutex_.
    void expire(Capture& c, std::chrono::system_clock::time_point now) const;

    const size_t max_captures_;
    mutable std::atomic<int> running_{0};  // captures running (expire() stops them)
    mutable std::mutex mutex_;
    uint64_t next_id_ = 1;
    std::map<std::string, std::unique_ptr<Capture>, std::less<>> captures_;
};

}  // namespace atsarray::forensics
