#pragma once
// The sanitize state of a logical unit (SBC-4 §4.11): whether a SANITIZE operation is running,
// and whether the last one failed (sanitize failure mode). Lun::execute asks it, before the unit
// attention check, whether a command may run; sanitize.cpp starts and ends the operations.
//
// With a state path (a file LUN's `<image>.sanitize`, a RocksDB LUN's in data_dir) the operation
// is kept with the LUN: written durably when it starts, its progress as it goes, removed when it
// completes, so that after a stop or a crash it resumes where it was (SBC-4 §4.11: a sanitize
// operation interrupted by a power loss is resumed) instead of the half-sanitized medium being
// served as good; a failed one stays in failure mode across a restart.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "target/scsi/sense.hpp"

namespace atsarray::scsi {

struct CommandDescriptor;

inline constexpr uint8_t sanitize_opcode = 0x48;

// What a sanitize operation does, as far as a restart needs it (SBC-4 §5.30 parameters).
struct SanitizePlan {
    uint8_t service_action = 0;  // OVERWRITE 01h, BLOCK ERASE 02h
    bool ause = false;
    // OVERWRITE (SBC-4 §5.30.2.2): INVERT, OVERWRITE COUNT, INITIALIZATION PATTERN.
    bool invert = false;
    uint32_t passes = 1;
    std::vector<uint8_t> pattern;
    uint64_t capacity = 0;  // bytes of the LUN when it started
    uint64_t done = 0;      // bytes of the whole operation (passes x capacity) done and stable

    uint64_t total() const { return capacity * (service_action == 0x01 ? passes : 1); }
};

class SanitizeState {
  public:
    // `state_path` empty: nothing is kept (a memory LUN). Otherwise an operation left there by
    // the last run is loaded: an unfinished one is in progress from now on (resumable()), a
    // failed one in failure mode; an unreadable file is failure mode (never served as good).
    explicit SanitizeState(std::string state_path = {});

    // SBC-4 §4.11.3/§4.11.4: NOT READY, SANITIZE IN PROGRESS while one runs; MEDIUM ERROR,
    // SANITIZE COMMAND FAILED after one failed, except for a new SANITIZE. nullopt: may run.
    // `descriptor` may be nullptr (an opcode the table does not know).
    std::optional<SenseReason> refuse(const CommandDescriptor* descriptor) const;

    // Marks a sanitize operation started and keeps `plan`; false when one already runs, or when
    // the plan cannot be stored (then nothing started: the medium is untouched).
    enum class BeginResult : uint8_t { started, already_running, not_stored };
    BeginResult begin(const SanitizePlan& plan);
    // Progress made stable on the medium: stored so that a restart resumes from there.
    void checkpoint(const SanitizePlan& plan);
    // Ends it; a failed operation enters failure mode, which EXIT FAILURE MODE may leave only
    // when the failed SANITIZE had AUSE set (SBC-4 §5.30.1).
    void end(bool failed, bool ause);

    enum class ExitResult : uint8_t { not_in_failure_mode, exited, not_allowed };
    ExitResult exit_failure_mode();

    // The unfinished operation loaded at construction, once (Lun::resume_sanitize).
    std::optional<SanitizePlan> take_resumable();

    // Shutdown: running operations stop after their current chunk and stay stored, to resume at
    // the next start; the daemon never waits for one to finish.
    void request_stop() { stop_.store(true, std::memory_order_release); }
    bool stop_requested() const { return stop_.load(std::memory_order_acquire); }

    bool in_progress() const { return running_.load(std::memory_order_acquire); }
    // PROGRESS INDICATION (SPC-4 §4.5.2.4.4), 0..65535 of the whole operation.
    uint16_t progress() const { return progress_.load(std::memory_order_relaxed); }
    void set_progress(uint16_t p) { progress_.store(p, std::memory_order_relaxed); }
    static uint16_t progress_of(const SanitizePlan& plan);

  private:
    bool store(const SanitizePlan& plan, bool failed) const;
    void load();

    std::string state_path_;
    mutable std::mutex mutex_;
    std::atomic<bool> running_{false};
    std::atomic<bool> stop_{false};
    std::atomic<uint16_t> progress_{0};
    bool failed_ = false;
    bool failed_with_ause_ = false;
    std::optional<SanitizePlan> resumable_;
};

}  // namespace atsarray::scsi
