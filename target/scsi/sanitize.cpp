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
// survives a logical unit reset and an I_T nexus loss). A daemon stop does, between two chunks
// and without waiting for the pace: the operation stays stored (SanitizeState) and resumes at the
// next start, as it does after a crash.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "backend/durable_file.hpp"
#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/sanitize.hpp"

namespace atsarray::scsi {

namespace {

// The state file: one "key value" line per item, readable for someone debugging a lab.
//   atsarray-sanitize 1
//   state running | failed
//   service_action 1 | 2
//   ause 0 | 1
//   invert 0 | 1
//   passes <n>
//   pattern <hex>
//   capacity <bytes>
//   done <bytes>
constexpr std::string_view state_magic = "atsarray-sanitize 1";
constexpr char hex_digits[] = "0123456789abcdef";

std::string to_hex(const std::vector<uint8_t>& bytes) {
    std::string out;
    for (const uint8_t b : bytes) {
        out += hex_digits[b >> 4];
        out += hex_digits[b & 0xF];
    }
    return out;
}

bool from_hex(const std::string& text, std::vector<uint8_t>& out) {
    if (text.size() % 2 != 0) {
        return false;
    }
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        return -1;
    };
    out.clear();
    for (size_t i = 0; i < text.size(); i += 2) {
        const int hi = nibble(text[i]);
        const int lo = nibble(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return true;
}

}  // namespace

SanitizeState::SanitizeState(std::string state_path) : state_path_(std::move(state_path)) {
    if (!state_path_.empty()) {
        load();
    }
}

void SanitizeState::load() {
    std::ifstream in(state_path_);
    if (!in) {
        return;  // none: no operation was left unfinished
    }
    SanitizePlan plan;
    std::string line;
    std::string state;
    bool ok = static_cast<bool>(std::getline(in, line)) && line == state_magic;
    bool have_pattern = false;
    while (ok && std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key;
        std::string value;
        if (!(fields >> key >> value)) {
            ok = false;
            break;
        }
        uint64_t number = 0;
        const char* end = value.data() + value.size();
        const auto [ptr, ec] = std::from_chars(value.data(), end, number);
        const bool numeric = ec == std::errc() && ptr == end;
        if (key == "state") {
            state = value;
        } else if (key == "pattern") {
            ok = from_hex(value, plan.pattern);
            have_pattern = true;
        } else if (!numeric) {
            ok = false;
        } else if (key == "service_action") {
            plan.service_action = static_cast<uint8_t>(number);
        } else if (key == "ause") {
            plan.ause = number != 0;
        } else if (key == "invert") {
            plan.invert = number != 0;
        } else if (key == "passes") {
            plan.passes = static_cast<uint32_t>(number);
        } else if (key == "capacity") {
            plan.capacity = number;
        } else if (key == "done") {
            plan.done = number;
        }
    }
    const bool overwrite = plan.service_action == 0x01;
    ok = ok && (state == "running" || state == "failed") &&
         (overwrite || plan.service_action == 0x02) &&
         (!overwrite ||
          (have_pattern && !plan.pattern.empty() && plan.passes >= 1 && plan.passes <= 31)) &&
         plan.capacity > 0 && plan.done <= plan.total();
    std::lock_guard lock(mutex_);
    if (!ok) {
        // Whatever the medium holds now is not known to be good: failure mode, which only a new
        // SANITIZE ends (SBC-4 §4.11.4).
        spdlog::error(
            "scsi: {} is not a readable sanitize state; the LUN is in sanitize failure "
            "mode until a new SANITIZE completes",
            state_path_);
        failed_ = true;
        return;
    }
    if (state == "failed") {
        failed_ = true;
        failed_with_ause_ = plan.ause;
        spdlog::warn("scsi: {}: the last SANITIZE failed; the LUN stays in sanitize failure mode",
                     state_path_);
        return;
    }
    progress_.store(progress_of(plan), std::memory_order_relaxed);
    running_.store(true, std::memory_order_release);
    resumable_ = std::move(plan);
}

bool SanitizeState::store(const SanitizePlan& plan, bool failed) const {
    if (state_path_.empty()) {
        return true;
    }
    std::ostringstream text;
    text << state_magic << '\n'
         << "state " << (failed ? "failed" : "running") << '\n'
         << "service_action " << static_cast<unsigned>(plan.service_action) << '\n'
         << "ause " << (plan.ause ? 1 : 0) << '\n'
         << "invert " << (plan.invert ? 1 : 0) << '\n'
         << "passes " << plan.passes << '\n';
    if (!plan.pattern.empty()) {
        text << "pattern " << to_hex(plan.pattern) << '\n';
    }
    text << "capacity " << plan.capacity << '\n' << "done " << plan.done << '\n';
    if (const int error = backend::write_file_durably(state_path_, text.str()); error != 0) {
        spdlog::error("scsi: saving the sanitize state to {} failed: errno {}", state_path_, error);
        return false;
    }
    return true;
}

uint16_t SanitizeState::progress_of(const SanitizePlan& plan) {
    const uint64_t total = plan.total();
    if (total == 0) {
        return 0;
    }
    const double fraction = static_cast<double>(plan.done) / static_cast<double>(total);
    return static_cast<uint16_t>(std::min(65535.0, fraction * 65536.0));
}

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

SanitizeState::BeginResult SanitizeState::begin(const SanitizePlan& plan) {
    std::lock_guard lock(mutex_);
    if (running_.load(std::memory_order_relaxed)) {
        return BeginResult::already_running;
    }
    // Stored before the first block changes: a crash from here on finds it at the next start.
    if (!store(plan, false)) {
        return BeginResult::not_stored;
    }
    failed_ = false;
    progress_.store(0, std::memory_order_relaxed);
    running_.store(true, std::memory_order_release);
    return BeginResult::started;
}

void SanitizeState::checkpoint(const SanitizePlan& plan) {
    (void)store(plan, false);  // a failure is logged; the start point stays the last stored one
}

void SanitizeState::end(bool failed, bool ause) {
    std::lock_guard lock(mutex_);
    failed_ = failed;
    failed_with_ause_ = failed && ause;
    if (!state_path_.empty()) {
        if (failed) {
            SanitizePlan failed_plan;
            failed_plan.service_action = 0x02;
            failed_plan.ause = ause;
            failed_plan.capacity = 1;
            (void)store(failed_plan, true);
        } else if (const int error = backend::remove_file_durably(state_path_); error != 0) {
            spdlog::error("scsi: removing {} failed: errno {}", state_path_, error);
        }
    }
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
    if (!state_path_.empty()) {
        if (const int error = backend::remove_file_durably(state_path_); error != 0) {
            spdlog::error("scsi: removing {} failed: errno {}", state_path_, error);
        }
    }
    return ExitResult::exited;
}

std::optional<SanitizePlan> SanitizeState::take_resumable() {
    std::lock_guard lock(mutex_);
    return std::exchange(resumable_, std::nullopt);
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

    // `plan.done` > 0: a resumed operation goes on from there.
    SanitizeJob(Lun& lun, SanitizePlan plan, Complete complete)
        : lun_(lun),
          keep_alive_(lun.weak_from_this().lock()),
          plan_(std::move(plan)),
          complete_(std::move(complete)),
          capacity_(plan_.capacity),
          total_(plan_.total()),
          done_(plan_.done),
          paced_from_(plan_.done) {
        if (plan_.service_action == sa_overwrite) {
            set_overwrite();
        }
    }

    // The command was aborted (task management): it completes now, the operation goes on.
    void release_command() {
        if (complete_ && !command_released_.exchange(true)) {
            complete_(CommandResult::good());
        }
    }

    void start() {
        started_ = std::chrono::steady_clock::now();
        last_checkpoint_ = started_;
        lun_.submit_blocking([self = shared_from_this()] { self->step(); });
    }

  private:
    // OVERWRITE: one logical block of the pattern repeated (SBC-4 §5.30.2.2), `passes` times
    // over the medium, inverted between passes when INVERT is set.
    void set_overwrite() {
        const uint32_t bs = lun_.settings().block_size;
        const uint64_t chunk = std::min<uint64_t>(overwrite_chunk, capacity_);
        const std::vector<uint8_t>& pattern = plan_.pattern;
        chunk_.resize(chunk);
        for (size_t i = 0; i < chunk; ++i) {
            chunk_[i] = pattern[(i % bs) % pattern.size()];
        }
        if (plan_.invert) {
            inverted_ = chunk_;
            for (auto& b : inverted_) {
                b = static_cast<uint8_t>(~b);
            }
        }
        const uint64_t rate = lun_.settings().sanitize_overwrite_bytes_per_second;
        bytes_per_second_ = lun_.has_blocking_hook() ? rate : 0;
    }

    // One chunk per turn: take the LBA locks of its blocks (commands that passed the sanitize
    // check before the operation began may still be writing), then write or erase it on the
    // blocking-work hook. The lock may be granted later, on the thread of a releasing command.
    void step() {
        for (;;) {
            if (lun_.sanitize_state().stop_requested()) {
                stop();
                return;
            }
            if (done_ >= total_) {
                const backend::Status st = lun_.store().flush();
                finish(st.ok() ? CommandResult::good()
                               : CommandResult::fail(sense_reason_for(st, StoreOp::flush)));
                return;
            }
            const uint64_t offset = done_ % capacity_;
            const uint64_t n =
                std::min(plan_.service_action == sa_overwrite ? chunk_.size() : erase_chunk,
                         capacity_ - offset);
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
        if (lun_.sanitize_state().stop_requested() || !pace()) {
            guard.release();
            stop();
            return false;
        }
        backend::Status st = backend::Status::success();
        if (plan_.service_action == sa_overwrite) {
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
        lun_.sanitize_state().set_progress(SanitizeState::progress_of(current_plan()));
        const auto now = std::chrono::steady_clock::now();
        if (now - last_checkpoint_ >= checkpoint_interval) {
            checkpoint();
            last_checkpoint_ = now;
        }
        return true;
    }

    SanitizePlan current_plan() const {
        SanitizePlan plan = plan_;
        plan.done = done_;
        return plan;
    }

    // What is done is made stable on the medium, then stored as the point a restart resumes
    // from: never ahead of the data.
    void checkpoint() {
        if (lun_.store().flush().ok()) {
            lun_.sanitize_state().checkpoint(current_plan());
        }
    }

    // Shutdown: the operation stays in progress and stored, and resumes at the next start.
    void stop() {
        checkpoint();
        spdlog::info(
            "scsi: lun {}: sanitize stopped at {} of {} bytes; it resumes at the next "
            "start",
            lun_.id(), done_, total_);
        if (complete_ && !command_released_.exchange(true)) {
            complete_(CommandResult::with_progress(SenseReason::sanitize_in_progress,
                                                   lun_.sanitize_state().progress()));
        }
    }

    // OVERWRITE's pace (bytes_per_second_ is 0 for BLOCK ERASE); false when a stop was asked for
    // while it waited.
    bool pace() const {
        if (bytes_per_second_ == 0) {
            return true;
        }
        const auto due =
            started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(done_ - paced_from_) /
                                                         static_cast<double>(bytes_per_second_)));
        // In slices, so that a shutdown never waits for the pace.
        for (;;) {
            if (lun_.sanitize_state().stop_requested()) {
                return false;
            }
            const auto now = std::chrono::steady_clock::now();
            if (now >= due) {
                return true;
            }
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                due - now, std::chrono::milliseconds(50)));
        }
    }

    void finish(const CommandResult& result) {
        lun_.sanitize_state().end(!result.ok(), plan_.ause);
        if (complete_ && !command_released_.exchange(true)) {
            complete_(result);
        }
    }

    // How often progress is made stable and stored while the operation runs.
    static constexpr std::chrono::seconds checkpoint_interval{1};

    Lun& lun_;
    std::shared_ptr<Lun> keep_alive_;
    SanitizePlan plan_;
    Complete complete_;  // empty when IMMED already completed the command
    std::atomic<bool> command_released_{false};
    uint64_t capacity_;
    uint64_t total_;
    uint64_t done_;
    uint64_t paced_from_;  // done_ when this run started (the pace counts from there)
    std::vector<uint8_t> chunk_;
    std::vector<uint8_t> inverted_;
    uint64_t bytes_per_second_ = 0;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point last_checkpoint_;
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

    SanitizePlan plan;
    plan.service_action = ctx.cdb.service_action;
    plan.ause = ctx.cdb.ause;
    plan.capacity = ctx.lun->settings().block_count * ctx.lun->settings().block_size;
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
        plan.invert = invert;
        plan.passes = passes;
        const auto pattern = p.subspan(overwrite_header, pattern_length);
        plan.pattern.assign(pattern.begin(), pattern.end());
    }
    switch (state.begin(plan)) {
        case SanitizeState::BeginResult::started: {
            break;
        }
        case SanitizeState::BeginResult::already_running: {
            return CommandResult::fail(SenseReason::sanitize_in_progress);
        }
        case SanitizeState::BeginResult::not_stored: {
            // Not started: a crash would leave a half-sanitized medium with no sign of it.
            return CommandResult::fail(SenseReason::internal_target_failure);
        }
    }
    auto job = std::make_shared<SanitizeJob>(
        *ctx.lun, std::move(plan), ctx.cdb.immed ? SanitizeJob::Complete{} : ctx.complete);
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

bool Lun::resume_sanitize() {
    std::optional<SanitizePlan> plan = sanitize_.take_resumable();
    if (!plan) {
        return false;
    }
    const uint64_t capacity = settings_.block_count * settings_.block_size;
    if (plan->capacity != capacity) {
        // The LUN grew while stopped: the stored progress no longer maps onto the medium.
        plan->capacity = capacity;
        plan->done = 0;
    }
    spdlog::warn(
        "scsi: lun {}: resuming an interrupted SANITIZE at {} of {} bytes; commands get "
        "NOT READY, SANITIZE IN PROGRESS until it completes",
        id(), plan->done, plan->total());
    std::make_shared<SanitizeJob>(*this, std::move(*plan), SanitizeJob::Complete{})->start();
    return true;
}

}  // namespace atsarray::scsi
