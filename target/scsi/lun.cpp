#include "target/scsi/lun.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

#include "target/forensics/capture.hpp"
#include "target/scsi/lun_limits.hpp"
#include "target/scsi/lun_run.hpp"

namespace atsarray::scsi {

namespace {

std::atomic<uint64_t> next_lock_key{1};
// The order commands got their LBA locks in, over every LUN (forensics::CommandNote::order):
// stamped only while a flight recorder listens.
std::atomic<uint64_t> next_medium_order{1};

uint64_t micros(Clock::duration d) {
    return static_cast<uint64_t>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
}

// The little-endian integer of up to 8 bytes from `offset`: VMFS fields are little-endian
// (../shared/VMFS-ATS.md), and so is ats-counter's counter.
uint64_t le_value_at(std::span<const uint8_t> image, size_t offset) {
    uint64_t v = 0;
    const size_t n = offset < image.size() ? std::min<size_t>(8, image.size() - offset) : 0;
    for (size_t i = 0; i < n; ++i) {
        v |= static_cast<uint64_t>(image[offset + i]) << (8 * i);
    }
    return v;
}

}  // namespace

// The transport's completion, called once.
void Lun::send_status(Run& run) {
    run.in_flight->fetch_sub(1, std::memory_order_relaxed);
    const Completion done = std::move(run.done);
    done(run.cmd);
}

std::array<uint8_t, 16> naa_designator(const LunSettings& settings) {
    if (std::any_of(settings.naa.begin(), settings.naa.end(), [](uint8_t b) { return b != 0; })) {
        return settings.naa;
    }
    return derive_naa_designator(settings.target_name, settings.serial);
}

uint64_t nexus_id_of(const Command& cmd) {
    return cmd.nexus != nullptr ? cmd.nexus->id : 0;
}

Lun::Lun(LunSettings settings, std::shared_ptr<backend::BlockStore> store,
         SubmitBlocking submit_blocking, LunServices services)
    : settings_(std::move(settings)),
      store_(std::move(store)),
      submit_blocking_(std::move(submit_blocking)),
      port_groups_(services.port_groups ? std::move(services.port_groups)
                                        : std::make_shared<TargetPortGroups>()),
      reservations_(settings_.state_path),
      locks_(services.locks ? std::move(services.locks) : std::make_shared<ats::LockTable>(256)),
      lock_key_(next_lock_key.fetch_add(1)),
      accounting_(std::move(services.accounting)),
      events_(std::move(services.events)),
      recorder_(std::move(services.recorder)),
      captures_(std::move(services.captures)),
      faults_(std::move(services.faults), std::move(services.schedule_after)),
      store_async_(store_ != nullptr && store_->completes_async()),
      sanitize_(settings_.sanitize_state_path) {
    if (!store_) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) + ": no block store");
    }
    const uint32_t bs = settings_.block_size;
    // The rule and its clause live in lun_limits.hpp; the config checks the same one.
    if (!valid_block_size(bs)) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) +
                                    ": block_size must be 512 or 4096");
    }
    if (settings_.block_count == 0 || settings_.block_count > store_->size_bytes() / bs) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) +
                                    ": block_count is 0 or larger than the store");
    }
    if (settings_.id > max_lun_id) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) +
                                    ": LUN numbers are 0.." + std::to_string(max_lun_id));
    }
    if (settings_.max_transfer_bytes < bs) {
        settings_.max_transfer_bytes = bs;
    }
    mode_ = default_mode();
    // SPC-4 §5.16.2.6: after an explicit change, every I_T nexus but the one that sent SET
    // TARGET PORT GROUPS; after an implicit one, every I_T nexus.
    port_groups_listener_ = port_groups_->subscribe([this](std::optional<uint64_t> by) {
        if (by) {
            unit_attentions_.queue_all_except(*by, SenseReason::asymmetric_access_state_changed);
        } else {
            unit_attentions_.queue_all(SenseReason::asymmetric_access_state_changed);
        }
    });
}

Lun::~Lun() {
    port_groups_->unsubscribe(port_groups_listener_);
    if (!retired_.load()) {
        return;  // the daemon flushes its LUNs at shutdown (TargetDevice::flush_all)
    }
    // Removed while the daemon runs: the last command that held it has let go. Its written data
    // is made stable and the store closed, off an I/O thread when there are workers.
    auto flush_and_close = [store = std::move(store_), id = settings_.id,
                            target = settings_.target_name] {
        const backend::Status st = store->flush();
        if (!st.ok()) {
            spdlog::error("target {} lun {}: flushing the removed LUN failed: {}", target, id,
                          backend::to_string(st));
        } else {
            spdlog::info("target {} lun {}: removed LUN flushed and closed", target, id);
        }
    };
    if (submit_blocking_) {
        submit_blocking_(std::move(flush_and_close));
    } else {
        flush_and_close();
    }
}

ModeState Lun::default_mode() const {
    return ModeState{settings_.write_cache, false, false};
}

bool Lun::write_protected() const {
    return settings_.read_only || mode().software_write_protect;
}

ModeState Lun::mode() const {
    std::lock_guard lock(mode_mutex_);
    return mode_;
}

void Lun::set_mode(const ModeState& mode, uint64_t changed_by_nexus) {
    bool changed = false;
    {
        std::lock_guard lock(mode_mutex_);
        changed = mode.write_cache_enabled != mode_.write_cache_enabled ||
                  mode.descriptor_sense != mode_.descriptor_sense ||
                  mode.software_write_protect != mode_.software_write_protect;
        mode_ = mode;
    }
    if (changed) {
        // SPC-4 §7.5.1: parameters shared by all I_T nexuses changed by one of them give every
        // other nexus MODE PARAMETERS CHANGED.
        unit_attentions_.queue_all_except(changed_by_nexus, SenseReason::mode_parameters_changed);
    }
}

void Lun::nexus_added(const Nexus& nexus) {
    unit_attentions_.add_nexus(nexus.id);
    reservations_.nexus_added(nexus);
}

void Lun::nexus_removed(const Nexus& nexus) {
    unit_attentions_.remove_nexus(nexus.id);
    reservations_.nexus_removed(nexus);
}

void Lun::reset() {
    // SAM-5 LOGICAL UNIT RESET: BUS DEVICE RESET FUNCTION OCCURRED for every I_T nexus; the
    // SPC-2 reservation ends, persistent reservations stay (SPC-4 §5.13.1).
    unit_attentions_.queue_all(SenseReason::bus_device_reset);
    reservations_.reset();
}

backend::Status Lun::grow(uint64_t new_block_count) {
    const uint64_t current = settings_.block_count;
    if (new_block_count < current) {
        return backend::Status::error(backend::StoreErrc::out_of_range);
    }
    if (new_block_count == current) {
        return backend::Status::success();
    }
    const backend::Status st = store_->grow(new_block_count * settings_.block_size);
    if (!st.ok()) {
        return st;
    }
    settings_.block_count = new_block_count;
    unit_attentions_.queue_all(SenseReason::capacity_changed);
    return st;
}

SenseFormat Lun::sense_format() const {
    return mode().descriptor_sense ? SenseFormat::descriptor : SenseFormat::fixed;
}

backend::Status Lun::flush() {
    return store_->flush();
}

void Lun::finish(Run& run, const CommandResult& executed) {
    // The fault hook before status: the executed result, or the outcome a rule puts in its place.
    const CommandResult result =
        faults_.before_status(run.faults, run.cmd, executed, sense_format());
    if (accounting_) {
        account(run, result);
    }
    if (recorder_) {
        note_forensics(run, result);
    }
    if (captures_ && captures_->active()) {
        note_capture(run, result);
    }
    // A delay before status is not part of the command's latency: the target answers late.
    if (faults_.delays_status(run.faults)) {
        if (auto keep = run.self.lock()) {
            // The LUN outlives the held status: its in-flight count is decremented then.
            if (!keep->keep_alive) {
                keep->keep_alive = weak_from_this().lock();
            }
            faults_.hold(keep->faults, [keep] { send_status(*keep); });
            return;
        }
    }
    send_status(run);
}

// The one place a finished command is accounted (target/ats/accounting.hpp).
void Lun::account(const Run& run, const CommandResult& result) {
    const Command& cmd = run.cmd;
    const CommandDescriptor* d = run.descriptor;
    ats::CommandRecord r;
    r.target = settings_.target_name;
    r.lun = settings_.id;
    if (cmd.nexus != nullptr) {
        r.initiator_name = cmd.nexus->initiator_name;
        r.initiator_port = cmd.nexus->initiator_port;
        r.address = cmd.nexus->peer_address;
    }
    r.op = d == nullptr                     ? ats::Op::other
           : d->has(flag_compare_and_write) ? ats::Op::ats
           : d->has(flag_writes_medium)     ? ats::Op::write
           : d->has(flag_reads_medium)      ? ats::Op::read
                                            : ats::Op::other;
    r.failed = cmd.status != Status::good && cmd.status != Status::condition_met;
    r.injected = run.faults.injected();
    r.latency_us = micros(Clock::now() - run.started);
    r.lock_wait_us = run.lock_wait_us;
    const bool miscompare = r.op == ats::Op::ats && result.reason == SenseReason::miscompare;
    if (r.op == ats::Op::ats && run.ctx) {
        r.lba = run.ctx->cdb.lba;
        r.ats_result = miscompare ? ats::AtsResult::miscompare
                       : r.failed ? ats::AtsResult::error
                                  : ats::AtsResult::success;
        if (miscompare) {
            const size_t length = std::min<size_t>(
                {ats::Registry::image_bytes, cmd.data_out.size(), run.miscompare_image.size()});
            r.miscompare_offset = static_cast<uint32_t>(result.information.value_or(0));
            r.expected = cmd.data_out.first(length);
            r.actual = std::span<const uint8_t>(run.miscompare_image).first(length);
            const size_t image = run.miscompare_image.size();
            r.late_retry = image != 0 && cmd.data_out.size() >= 2 * image &&
                           std::equal(run.miscompare_image.begin(), run.miscompare_image.end(),
                                      cmd.data_out.begin() + static_cast<std::ptrdiff_t>(image));
        }
    }
    accounting_->record(r);
    if (miscompare) {
        if (const auto held_back = miscompare_log_.admit()) {
            const size_t at = r.miscompare_offset;
            const std::string line =
                run.faults.injected()
                    ? FaultHooks::injected_miscompare(run.faults, r.lun, r.lba, r.initiator_name)
                    : fmt::format(
                          "ats miscompare lun {} lba {} initiator {} offset {} expected={} got={}",
                          r.lun, r.lba, r.initiator_name, at,
                          le_value_at(cmd.data_out.first(std::min(cmd.data_out.size(),
                                                                  run.miscompare_image.size())),
                                      at),
                          le_value_at(run.miscompare_image, at));
            spdlog::warn("{} (target {}, from {}){}", line, r.target, r.address,
                         *held_back != 0 ? fmt::format(" ({} more not logged)", *held_back) : "");
            if (events_) {
                events_->add("miscompare", line, std::string(r.target), r.lun,
                             std::string(r.initiator_port));
            }
        }
    }
}

void Lun::execute(Command& cmd, Completion done) {
    const uint64_t self[] = {settings_.id};
    execute(cmd, std::move(done), self);
}

// The fixed order of steps for one command (STYLE.md): descriptor lookup, unit attention,
// reservation conflict, CDB checks and parse, write protection, then execute holding the LBA
// locks of the blocks it writes, on the blocking-work hook when the store blocks.
void Lun::execute(Command& cmd, Completion done, std::span<const uint64_t> lun_inventory) {
    cmd.status = Status::good;
    cmd.sense = SenseData{};
    cmd.data_out_wanted = 0;
    cmd.abort = nullptr;
    cmd.drop_status = false;
    cmd.drop_connection = false;
    auto run = std::make_shared<Run>(cmd, std::move(done));
    run->self = run;
    run->in_flight = &in_flight_;
    in_flight_.fetch_add(1, std::memory_order_relaxed);

    CommandResult lookup_error;
    const CommandDescriptor* descriptor = find_command(cmd.cdb, lookup_error);
    run->descriptor = descriptor;

    // The state of the target port group the command came in on (SPC-4 §5.16.2), read before
    // the unit attention check: reading it ends a transition that is due, whose ASYMMETRIC
    // ACCESS STATE CHANGED this command must then report first.
    const uint16_t port = cmd.nexus != nullptr ? cmd.nexus->relative_target_port : 1;
    const AluaState alua_state = port_groups_->state_of_port(port);

    // SAM-5 §5.14: a pending unit attention ends any command that is not exempt, even one
    // with an unknown opcode.
    if (descriptor == nullptr || !descriptor->has(flag_allowed_with_unit_attention)) {
        if (auto ua = unit_attentions_.take(nexus_id_of(cmd))) {
            finish(*run, CommandResult::fail(*ua));
            return;
        }
    }
    // SBC-4 §4.11.3: a sanitize operation in progress (or failed) ends every other command,
    // after a pending unit attention (SAM-5 §5.14): a new I_T nexus is told of its reset first,
    // as an initiator's login expects (libiscsi clears it with TEST UNIT READY), and then sees
    // SANITIZE IN PROGRESS.
    if (descriptor == nullptr || !descriptor->has(flag_allowed_during_sanitize)) {
        if (auto refused = sanitize_.refuse(descriptor)) {
            finish(*run, *refused == SenseReason::sanitize_in_progress
                             ? CommandResult::with_progress(*refused, sanitize_.progress())
                             : CommandResult::fail(*refused));
            return;
        }
    }
    if (descriptor == nullptr) {
        finish(*run, lookup_error);
        return;
    }
    // SPC-4 §5.16.2: the state of the port's group decides whether the command runs (after the
    // unit attention, before the medium and reservation checks, as in LIO).
    if (CommandResult refused = alua_check(alua_state, cmd.cdb); !refused.ok()) {
        finish(*run, refused);
        return;
    }
    // SBC-4 §5.25: with the removable medium ejected, a command that needs it is NOT READY.
    if (descriptor->has(flag_needs_medium) && !medium_present()) {
        finish(*run, CommandResult::fail(SenseReason::medium_not_present));
        return;
    }
    if (CommandResult conflict = reservations_.check(cmd.nexus, *descriptor); !conflict.ok()) {
        finish(*run, conflict);
        return;
    }

    // SBC-3 (write protection): a write to a write-protected medium ends in DATA PROTECT, WRITE
    // PROTECTED, whatever else is wrong with it (LIO checks it at LUN lookup as well).
    if (descriptor->has(flag_writes_medium) && write_protected()) {
        finish(*run, CommandResult::fail(SenseReason::write_protected));
        return;
    }
    CommandContext& ctx = run->ctx.emplace(
        CommandContext{cmd, *descriptor, this, lun_inventory, &settings_, {}, device_});
    CommandResult result = prepare_command(ctx);
    if (!result.ok()) {
        finish(*run, result);
        return;
    }
    // Set here, on the transport's thread: a command held by a fault delay, its LBA locks or a
    // worker is aborted through it (run_now() and the fault hooks check the flag).
    cmd.abort = [this, weak = std::weak_ptr<Run>(run)] {
        auto r = weak.lock();
        if (!r) {
            return;
        }
        r->aborted.store(true);
        // A command a fault delay holds ends with the abort, not with the delay: one never
        // started never executes; one done gets its (unsent) status at once.
        switch (FaultHooks::abort(r->faults)) {
            case FaultHooks::Held::execution:
                finish(*r, CommandResult::fail(SenseReason::task_aborted));
                break;
            case FaultHooks::Held::status:
                send_status(*r);
                break;
            case FaultHooks::Held::nothing:
                break;
        }
    };
    // SPC-4 §5.16.2.4.3: an active/non-optimized port may serve the medium more slowly, as the
    // secondary controller of a real array forwards to the owner.
    if (alua_state == AluaState::active_non_optimized && descriptor->has(flag_accesses_medium) &&
        port_groups_->non_optimized_delay().count() > 0) {
        keep_for_later(*run);
        if (faults_.hold_execution(run->faults, port_groups_->non_optimized_delay(),
                                   [this, run] { before_execute(run); })) {
            return;
        }
    }
    before_execute(run);
}

// A command that does not go on from execute(): REPORT LUNS's list and the LUN outlive it.
void Lun::keep_for_later(Run& run) {
    CommandContext& ctx = *run.ctx;
    if (ctx.lun_inventory.data() != run.inventory.data()) {
        run.inventory.assign(ctx.lun_inventory.begin(), ctx.lun_inventory.end());
        ctx.lun_inventory = run.inventory;
    }
    run.keep_alive = weak_from_this().lock();
}

// The fault hook before execute (FaultHooks): a rule may answer for the command, hold it for a
// while, or leave it marked for the hooks after execution and before status.
void Lun::before_execute(const std::shared_ptr<Run>& run) {
    CommandResult answer;
    switch (faults_.before_execute(run->faults, *run->ctx, answer)) {
        case FaultHooks::Next::execute:
            dispatch(run);
            return;
        case FaultHooks::Next::answer:
            finish(*run, answer);
            return;
        case FaultHooks::Next::land_late: {
            keep_for_later(*run);
            run->lands_late = true;
            faults_.land_late(run->faults, [this, run] { dispatch(run); });
            return;
        }
        case FaultHooks::Next::hold: {
            keep_for_later(*run);
            faults_.hold(run->faults, [this, run] { dispatch(run); });
            return;
        }
    }
}

void Lun::dispatch(const std::shared_ptr<Run>& run) {
    CommandContext& ctx = *run->ctx;
    const CommandDescriptor* descriptor = &ctx.descriptor;
    if (descriptor->has(flag_completes_later)) {
        // The completion goes to a copy of the context, so the Run does not own what owns it.
        CommandContext later = ctx;
        run->keep_alive = weak_from_this().lock();
        later.complete = [this, run](const CommandResult& r) { finish(*run, r); };
        if (CommandResult started = execute_command(later); !started.ok()) {
            finish(*run, started);
        }
        return;
    }
    const bool medium = descriptor->has(flag_accesses_medium);
    if (!medium && !descriptor->has(flag_saves_state)) {
        finish(*run, execute_command(ctx));
        return;
    }
    run->blocks = medium ? store_->blocking() || descriptor->has(flag_reaches_other_luns)
                         : reservations_.persist_supported();
    run->async = store_async_ && descriptor->start != nullptr;
    // From here on the command may finish on another thread, after execute() returned.
    ctx.lun_inventory = {};
    run->keep_alive = weak_from_this().lock();
    if (descriptor->has(flag_compare_and_write)) {
        ctx.miscompare_image = &run->miscompare_image;
    }
    lock_and_run(run);
}

// Every writer holds the stripes covering the blocks it writes from before its first read
// (COMPARE AND WRITE's compare) until its last write has returned, so no two writers of a
// block ever overlap and an ATS is atomic with respect to every other writer (SBC-4 §5.3). A
// plain READ holds its blocks' stripes shared for its read: it never sees half of a write.
void Lun::lock_and_run(const std::shared_ptr<Run>& run) {
    const CommandContext& ctx = *run->ctx;
    const CommandDescriptor& d = ctx.descriptor;
    // One range from the CDB (no allocation on the write path), or the command's own list.
    const ats::LockRange from_cdb{lock_key_, ctx.cdb.lba, ctx.cdb.blocks};
    std::vector<ats::LockRange> listed;
    std::span<const ats::LockRange> ranges;
    bool shared = false;
    if (d.lock_ranges != nullptr) {
        listed = d.lock_ranges(ctx);
        ranges = listed;
    } else if (d.has(flag_writes_medium) && ctx.cdb.blocks != 0) {
        ranges = {&from_cdb, 1};
    } else if (d.has(flag_reads_medium) && ctx.cdb.blocks != 0) {
        // A read shares its blocks with other readers but never overlaps a writer of them: it
        // returns every block whole (ats/lock_table.hpp).
        ranges = {&from_cdb, 1};
        shared = true;
    }
    if (ranges.empty()) {
        run_step(run, true);
        return;
    }
    run->lock_requested = Clock::now();
    auto granted = [this, run](ats::LockGuard guard) {
        run->lock_wait_us = micros(Clock::now() - run->lock_requested);
        // A grant after a wait runs on the releasing command's thread: hand the work to a
        // worker rather than run it there (and chain grant after grant down one stack).
        const bool waited = guard.waited();
        run->locks = std::move(guard);
        if (recorder_) {
            run->medium_order = next_medium_order.fetch_add(1, std::memory_order_relaxed);
        }
        run_step(run, !waited);
    };
    if (shared) {
        locks_->acquire_shared(from_cdb.lun_key, from_cdb.lba, from_cdb.blocks, std::move(granted));
    } else {
        locks_->acquire(ranges, std::move(granted));
    }
}

bool Lun::submit_blocking(std::function<void()> job) {
    if (!submit_blocking_) {
        job();
        return false;
    }
    submit_blocking_(std::move(job));
    return true;
}

void Lun::run_step(const std::shared_ptr<Run>& run, bool may_run_inline) {
    if (run->async && start_async(run)) {
        return;
    }
    if (!submit_blocking_ || (!run->blocks && may_run_inline)) {
        run_now(*run, false);
        return;
    }
    // A read the store can answer from its cache, or a write it can take into memory, is done
    // here: for 4 KiB the two thread hand-offs of the blocking-work hook cost more than the
    // store call.
    if (may_run_inline && tries_without_waiting(*run->ctx) && run_now(*run, true)) {
        return;
    }
    submit_blocking_([this, run] { run_now(*run, false); });
}

bool Lun::tries_without_waiting(const CommandContext& ctx) const {
    if (!ctx.descriptor.has(flag_tries_without_waiting)) {
        return false;
    }
    // COMPARE AND WRITE reads the medium to compare it, then writes.
    const bool reads =
        ctx.descriptor.has(flag_reads_medium) || ctx.descriptor.has(flag_compare_and_write);
    const bool writes = ctx.descriptor.has(flag_writes_medium);
    if (reads && !store_->reads_without_waiting()) {
        return false;
    }
    // A stale_read rule captures a writer's old images with a blocking read before the write.
    return !writes || (store_->writes_without_waiting() && !faults_.captures_stale_images());
}

// The command's one store operation is started here, on the I/O thread (or the thread that
// granted its LBA locks), and the store's completion finishes it: no worker waits on the cluster
// (issue 15). The steps are run_now()'s, split around the operation.
bool Lun::start_async(const std::shared_ptr<Run>& run) {
    // ABORT TASK, a reset or an I_T nexus loss (SAM-5): a task that has not started never
    // executes.
    if (run->aborted.load() && !run->lands_late) {
        run->locks.release();
        finish(*run, CommandResult::fail(SenseReason::task_aborted));
        return true;
    }
    // A stale_read rule captures a writer's old images with a synchronous read before the
    // write: such commands keep to the worker, as before.
    if (faults_.captures_stale_images()) {
        return false;
    }
    CommandContext& ctx = *run->ctx;
    const bool reads = ctx.descriptor.has(flag_reads_medium);
    if (reads && !enter_async_read()) {
        return false;  // a WRITE ATOMIC holds the read barrier: wait for it on a worker
    }
    AsyncDone done = [this, run](const CommandResult& result) { finish_async(*run, result); };
    if (!ctx.descriptor.start(ctx, done)) {
        if (reads) {
            leave_async_read();
        }
        return false;
    }
    // From here on `run` belongs to the store's completion, which may already have run.
    return true;
}

void Lun::finish_async(Run& run, const CommandResult& result) {
    CommandContext& ctx = *run.ctx;
    if (ctx.descriptor.has(flag_reads_medium)) {
        leave_async_read();
    }
    if (result.ok()) {
        faults_.after_execute(run.faults, ctx, {});
    }
    run.locks.release();
    finish(run, result);
}

bool Lun::enter_async_read() {
    async_reads_.fetch_add(1);
    if (atomic_writers_.load() == 0) {
        return true;
    }
    leave_async_read();
    return false;
}

void Lun::leave_async_read() {
    if (async_reads_.fetch_sub(1) == 1 && atomic_writers_.load() != 0) {
        async_reads_.notify_all();
    }
}

bool Lun::run_now(Run& run, bool nowait) {
    // ABORT TASK, a reset or an I_T nexus loss (SAM-5): a task that has not started never
    // executes.
    if (run.aborted.load() && !run.lands_late) {
        run.locks.release();
        finish(run, CommandResult::fail(SenseReason::task_aborted));
        return true;
    }
    CommandContext& ctx = *run.ctx;
    FaultHooks::StaleCaptures stale = faults_.capture_stale_images(ctx);
    ctx.nowait = nowait;
    ctx.would_block = false;
    const CommandResult result = execute_with_read_barrier(ctx);
    ctx.nowait = false;
    if (ctx.would_block) {
        return false;  // nothing happened that running it again would not redo
    }
    if (result.ok()) {
        faults_.after_execute(run.faults, ctx, std::move(stale));
    }
    run.locks.release();
    finish(run, result);
    return true;
}

CommandResult Lun::execute_with_read_barrier(CommandContext& ctx) {
    if (ctx.descriptor.has(flag_atomic_to_reads)) {
        std::unique_lock lock(read_barrier_);
        if (!store_async_) {
            return execute_command(ctx);
        }
        // Reads started without a worker hold no lock: announce the write, so that no more
        // start, and wait for those in flight (enter_async_read()).
        atomic_writers_.fetch_add(1);
        for (uint32_t n = async_reads_.load(); n != 0; n = async_reads_.load()) {
            async_reads_.wait(n);
        }
        const CommandResult result = execute_command(ctx);
        atomic_writers_.fetch_sub(1);
        return result;
    }
    if (ctx.descriptor.has(flag_reads_medium)) {
        std::shared_lock lock(read_barrier_, std::defer_lock);
        if (!ctx.nowait) {
            lock.lock();
        } else if (!lock.try_lock()) {
            ctx.would_block = true;  // a WRITE ATOMIC holds the barrier: wait on a worker
            return CommandResult::good();
        }
        return execute_command(ctx);
    }
    return execute_command(ctx);
}

}  // namespace atsarray::scsi
