#pragma once
// The sanitize state of a logical unit (SBC-4 §4.11): whether a SANITIZE operation is running,
// and whether the last one failed (sanitize failure mode). Lun::execute asks it, before the unit
// attention check, whether a command may run; sanitize.cpp starts and ends the operations.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>

#include "target/scsi/sense.hpp"

namespace atsarray::scsi {

struct CommandDescriptor;

inline constexpr uint8_t sanitize_opcode = 0x48;

class SanitizeState {
  public:
    // SBC-4 §4.11.3/§4.11.4: NOT READY, SANITIZE IN PROGRESS while one runs; MEDIUM ERROR,
    // SANITIZE COMMAND FAILED after one failed, except for a new SANITIZE. nullopt: may run.
    // `descriptor` may be nullptr (an opcode the table does not know).
    std::optional<SenseReason> refuse(const CommandDescriptor* descriptor) const;

    // Marks a sanitize operation started; false when one already runs.
    bool begin();
    // Ends it; a failed operation enters failure mode, which EXIT FAILURE MODE may leave only
    // when the failed SANITIZE had AUSE set (SBC-4 §5.30.1).
    void end(bool failed, bool ause);

    enum class ExitResult : uint8_t { not_in_failure_mode, exited, not_allowed };
    ExitResult exit_failure_mode();

    bool in_progress() const { return running_.load(std::memory_order_acquire); }
    // PROGRESS INDICATION (SPC-4 §4.5.2.4.4), 0..65535 of the whole operation.
    uint16_t progress() const { return progress_.load(std::memory_order_relaxed); }
    void set_progress(uint16_t p) { progress_.store(p, std::memory_order_relaxed); }

  private:
    mutable std::mutex mutex_;
    std::atomic<bool> running_{false};
    std::atomic<uint16_t> progress_{0};
    bool failed_ = false;
    bool failed_with_ause_ = false;
};

}  // namespace atsarray::scsi
