// SANITIZE (SBC-4 §5.30, §4.11): OVERWRITE, BLOCK ERASE and EXIT FAILURE MODE. CRYPTOGRAPHIC
// ERASE is not offered (atsarray keeps no media encryption key to change), so it and every
// reserved service action end in INVALID FIELD IN CDB through the command table's service
// action lookup, and REPORT SUPPORTED OPERATION CODES does not list it.
//
// A sanitize operation runs in chunks on the LUN's blocking-work hook, one chunk per job under
// the LBA locks of its blocks, so it holds a worker only for one chunk at a time; OVERWRITE is
// paced (LunSettings) because it shares the pool and the store with every other LUN. While it runs,
// the LUN answers other commands with NOT READY, SANITIZE IN PROGRESS (Lun::execute asks
// SanitizeState). Task management and resets do not stop it (SBC-4 §4.11.3: a sanitize operation
// survives a logical unit reset and an I_T nexus loss).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/sanitize.hpp"

namespace atsarray::scsi {

std::optional<SenseReason> SanitizeState::refuse(const CommandDescriptor* descriptor) const {
    if (running_.load(std::memory_order_acquire)) {
        return SenseReason::sanitize_in_progress;
    }
    std::lock_guard lock(mutex_);
    if (failed_ && (descriptor == nullptr || descriptor->opcode != sanitize_opcode)) {
        return SenseReason::sanitize_command_failed;
    }
    return std::nullopt;
}

bool SanitizeState::begin() {
    std::lock_guard lock(mutex_);
    if (running_.load(std::memory_order_relaxed)) {
        return false;
    }
    failed_ = false;
    progress_.store(0, std::memory_order_relaxed);
    running_.store(true, std::memory_order_release);
    return true;
}

void SanitizeState::end(bool failed, bool ause) {
    std::lock_guard lock(mutex_);
    failed_ = failed;
    failed_with_ause_ = failed && ause;
    running_.store(false, std::memory_order_release);
}

SanitizeState::ExitResult SanitizeState::exit_failure_mode() {
    std::lock_guard lock(mutex_);
    if (!failed_) {
        return ExitResult::not_in_failure_mode;
    }
    if (!failed_with_ause_) {
        return ExitResult::not_allowed;
    }
    failed_ = false;
    return ExitResult::exited;
}

namespace {

enum SanitizeServiceAction : uint8_t {
    sa_overwrite = 0x01,
    sa_block_erase = 0x02,
    sa_exit_failure_mode = 0x1F,
};

constexpr uint32_t overwrite_header = 4;
// Bytes per job: small enough that a worker is back in the pool quickly.
constexpr uint64_t overwrite_chunk = 1u << 20;
constexpr uint64_t erase_chunk = 256u << 20;

// INVALID FIELD IN CDB with a pointer into the parameter list: libiscsi's Sanitize.Overwrite
// expects that ASC for OVERWRITE COUNT 0 and a bad INITIALIZATION PATTERN LENGTH, where SBC-4
// names INVALID FIELD IN PARAMETER LIST; the pointer (C/D 0) still says where the error is.
CommandResult invalid_overwrite_field(uint16_t byte, uint8_t bit) {
    return {SenseReason::invalid_field_in_cdb, std::nullopt, FieldPointer{false, byte, bit}};
}

// One sanitize operation in flight: it owns everything it needs, never the Command (with IMMED
// set the command has completed long before the operation ends).
class SanitizeJob : public std::enable_shared_from_this<SanitizeJob> {
  public:
    using Complete = std::function<void(const CommandResult&)>;

    SanitizeJob(Lun& lun, uint8_t service_action, bool ause, Complete complete)
        : lun_(lun),
          keep_alive_(lun.weak_from_this().lock()),
          service_action_(service_action),
          ause_(ause),
          complete_(std::move(complete)),
          capacity_(lun.settings().block_count * lun.settings().block_size),
          total_(capacity_) {}

    // OVERWRITE: one logical block of the pattern repeated (SBC-4 §5.30.2.2), `passes` times
    // over the medium, inverted between passes when INVERT is set.
    void set_overwrite(std::span<const uint8_t> pattern, uint32_t passes, bool invert) {
        const uint32_t bs = lun_.settings().block_size;
        const uint64_t chunk = std::min<uint64_t>(overwrite_chunk, capacity_);
        chunk_.resize(chunk);
        for (size_t i = 0; i < chunk; ++i) {
            chunk_[i] = pattern[(i % bs) % pattern.size()];
        }
        if (invert) {
            inverted_ = chunk_;
            for (auto& b : inverted_) {
                b = static_cast<uint8_t>(~b);
            }
        }
        total_ = capacity_ * passes;
        const uint64_t rate = lun_.settings().sanitize_overwrite_bytes_per_second;
        bytes_per_second_ = lun_.has_blocking_hook() ? rate : 0;
    }

    // The command was aborted (task management): it completes now, the operation goes on.
    void release_command() {
        if (complete_ && !command_released_.exchange(true)) {
            complete_(CommandResult::good());
        }
    }

    void start() {
        started_ = std::chrono::steady_clock::now();
        lun_.submit_blocking([self = shared_from_this()] { self->step(); });
    }

  private:
    // One chunk per turn: take the LBA locks of its blocks (commands that passed the sanitize
    // check before the operation began may still be writing), then write or erase it on the
    // blocking-work hook. The lock may be granted later, on the thread of a releasing command.
    void step() {
        for (;;) {
            if (done_ >= total_) {
                const backend::Status st = lun_.store().flush();
                finish(st.ok() ? CommandResult::good()
                               : CommandResult::fail(sense_reason_for(st, StoreOp::flush)));
                return;
            }
            const uint64_t offset = done_ % capacity_;
            const uint64_t n = std::min(
                service_action_ == sa_overwrite ? chunk_.size() : erase_chunk, capacity_ - offset);
            const uint32_t bs = lun_.settings().block_size;
            auto grant = std::make_shared<Grant>();
            lun_.lock_table().acquire(
                lun_.lock_key(), offset / bs, n / bs,
                [self = shared_from_this(), grant, offset, n](ats::LockGuard guard) {
                    grant->guard = std::move(guard);
                    if (grant->state.exchange(Grant::granted) == Grant::caller_gone) {
                        self->lun_.submit_blocking([self, grant, offset, n] {
                            if (self->chunk(grant->guard, offset, n)) {
                                self->step();
                            }
                        });
                    }
                });
            if (grant->state.exchange(Grant::caller_gone) != Grant::granted) {
                return;  // queued: the grant goes on from here
            }
            if (lun_.has_blocking_hook()) {
                lun_.submit_blocking([self = shared_from_this(), grant, offset, n] {
                    if (self->chunk(grant->guard, offset, n)) {
                        self->step();
                    }
                });
                return;
            }
            if (!chunk(grant->guard, offset, n)) {
                return;
            }
        }
    }

    // A granted LBA lock, handed from the granting thread to whoever goes on.
    struct Grant {
        enum : int { waiting = 0, granted = 1, caller_gone = 2 };
        ats::LockGuard guard;
        std::atomic<int> state{waiting};
    };

    // Writes or erases [offset, offset + n) holding `guard`; false when the operation ended.
    bool chunk(ats::LockGuard& guard, uint64_t offset, uint64_t n) {
        backend::Status st = backend::Status::success();
        if (service_action_ == sa_overwrite) {
            pace();
            const bool inverted = !inverted_.empty() && (done_ / capacity_) % 2 == 1;
            std::span<const uint8_t> data = inverted ? inverted_ : chunk_;
            st = lun_.store().write(offset, data.first(n), false);
        } else {
            st = lun_.store().unmap(offset, n);
        }
        guard.release();
        if (!st.ok()) {
            finish(CommandResult::fail(sense_reason_for(st, StoreOp::write)));
            return false;
        }
        done_ += n;
        const double fraction = static_cast<double>(done_) / static_cast<double>(total_);
        lun_.sanitize_state().set_progress(
            static_cast<uint16_t>(std::min(65535.0, fraction * 65536.0)));
        return true;
    }

    void pace() const {
        if (bytes_per_second_ == 0) {
            return;
        }
        const auto due =
            started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(done_) /
                                                         static_cast<double>(bytes_per_second_)));
        std::this_thread::sleep_until(due);
    }

    void finish(const CommandResult& result) {
        lun_.sanitize_state().end(!result.ok(), ause_);
        if (complete_ && !command_released_.exchange(true)) {
            complete_(result);
        }
    }

    Lun& lun_;
    std::shared_ptr<Lun> keep_alive_;
    uint8_t service_action_;
    bool ause_;
    Complete complete_;  // empty when IMMED already completed the command
    std::atomic<bool> command_released_{false};
    uint64_t capacity_;
    uint64_t total_;
    uint64_t done_ = 0;
    std::vector<uint8_t> chunk_;
    std::vector<uint8_t> inverted_;
    uint64_t bytes_per_second_ = 0;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace

namespace handlers {

// SANITIZE, SBC-4 §5.30.1: byte 1 IMMED, AUSE, SERVICE ACTION; bytes 7-8 PARAMETER LIST LENGTH.
// Only OVERWRITE takes parameter data: 5 to (block length + 4) bytes; the others none.
CommandResult parse_sanitize(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.immed = (cdb[1] & 0x80) != 0;
    ctx.cdb.ause = (cdb[1] & 0x20) != 0;
    ctx.cdb.service_action = cdb_service_action(cdb);
    const uint32_t length = get_be16(cdb, 7);
    ctx.cmd.data_out_wanted = length;
    if (ctx.cdb.service_action != sa_overwrite) {
        if (length != 0) {
            return CommandResult::invalid_cdb_field(7, 7);
        }
        return CommandResult::good();
    }
    const uint32_t bs = ctx.lun->settings().block_size;
    if (length < overwrite_header + 1 || length > bs + overwrite_header) {
        return CommandResult::invalid_cdb_field(7, 7);
    }
    if (ctx.cmd.expected_transfer_length < length || ctx.cmd.data_out.size() < length) {
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    ctx.cdb.parameter_list_length = length;
    return CommandResult::good();
}

CommandResult execute_sanitize(CommandContext& ctx) {
    SanitizeState& state = ctx.lun->sanitize_state();
    if (ctx.cdb.service_action == sa_exit_failure_mode) {
        // SBC-4 §5.30.1: leaving failure mode needs AUSE set in the SANITIZE that failed.
        if (state.exit_failure_mode() == SanitizeState::ExitResult::not_allowed) {
            return CommandResult::invalid_cdb_field(1, 5);
        }
        return CommandResult::good();
    }

    auto job =
        std::make_shared<SanitizeJob>(*ctx.lun, ctx.cdb.service_action, ctx.cdb.ause,
                                      ctx.cdb.immed ? SanitizeJob::Complete{} : ctx.complete);
    if (ctx.cdb.service_action == sa_overwrite) {
        // SBC-4 §5.30.2.2 Table 84: INVERT, TEST, OVERWRITE COUNT; reserved; INITIALIZATION
        // PATTERN LENGTH; INITIALIZATION PATTERN.
        std::span<const uint8_t> p = ctx.cmd.data_out.first(ctx.cdb.parameter_list_length);
        const bool invert = (p[0] & 0x80) != 0;
        const uint8_t test = (p[0] >> 5) & 0x03;
        const uint8_t passes = p[0] & 0x1F;
        const uint16_t pattern_length = get_be16(p, 2);
        if (test != 0) {
            return CommandResult::invalid_parameter_field(0, 6);  // TEST: vendor specific
        }
        if (passes == 0) {
            return invalid_overwrite_field(0, 4);
        }
        if (p[1] != 0) {
            return CommandResult::invalid_parameter_field(1, 7);
        }
        if (pattern_length == 0 || pattern_length > p.size() - overwrite_header ||
            pattern_length > ctx.lun->settings().block_size) {
            return invalid_overwrite_field(2, 7);
        }
        job->set_overwrite(p.subspan(overwrite_header, pattern_length), passes, invert);
    }
    if (!state.begin()) {
        return CommandResult::fail(SenseReason::sanitize_in_progress);
    }
    if (ctx.cdb.immed) {
        // SBC-4 §5.30.1: with IMMED set, status is returned once the CDB and parameter list
        // are validated; REQUEST SENSE then reports progress.
        ctx.complete(CommandResult::good());
    }
    if (!ctx.cdb.immed) {
        ctx.cmd.abort = [weak = std::weak_ptr<SanitizeJob>(job)] {
            if (auto j = weak.lock()) {
                j->release_command();
            }
        };
    }
    job->start();
    return CommandResult::good();
}

}  // namespace handlers
}  // namespace atsarray::scsi
