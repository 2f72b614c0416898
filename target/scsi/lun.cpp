#include "target/scsi/lun.hpp"

#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

namespace atsarray::scsi {

uint64_t nexus_id_of(const Command& cmd) {
    return cmd.nexus != nullptr ? cmd.nexus->id : 0;
}

Lun::Lun(LunSettings settings, std::shared_ptr<backend::BlockStore> store,
         SubmitBlocking submit_blocking)
    : settings_(std::move(settings)),
      store_(std::move(store)),
      submit_blocking_(std::move(submit_blocking)),
      reservations_(settings_.state_path) {
    if (!store_) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) + ": no block store");
    }
    const uint32_t bs = settings_.block_size;
    // SBC-3 §4.5: logical block length; 512..64 KiB powers of two are what initiators handle.
    if (bs < 512 || bs > 65536 || (bs & (bs - 1)) != 0) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) +
                                    ": block_size must be a power of two in 512..65536");
    }
    if (settings_.block_count == 0 || settings_.block_count > store_->size_bytes() / bs) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) +
                                    ": block_count is 0 or larger than the store");
    }
    if (settings_.id > 16383) {
        throw std::invalid_argument("LUN " + std::to_string(settings_.id) +
                                    ": LUN numbers are 0..16383");
    }
    if (settings_.max_transfer_bytes < bs) {
        settings_.max_transfer_bytes = bs;
    }
    mode_ = default_mode();
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

void Lun::finish(Command& cmd, const Completion& done, const CommandResult& result) const {
    apply_result(cmd, result, sense_format());
    done(cmd);
}

void Lun::execute(Command& cmd, Completion done) {
    const uint64_t self[] = {settings_.id};
    execute(cmd, std::move(done), self);
}

// The fixed order of steps for one command (STYLE.md): descriptor lookup, unit attention,
// reservation conflict, CDB checks and parse, write protection, then execute under
// (a later issue) the LBA lock table, on the blocking-work hook when the store blocks.
void Lun::execute(Command& cmd, Completion done, std::span<const uint64_t> lun_inventory) {
    cmd.status = Status::good;
    cmd.sense = SenseData{};
    cmd.data_out_wanted = 0;

    CommandResult lookup_error;
    const CommandDescriptor* descriptor = find_command(cmd.cdb, lookup_error);

    // SBC-4 §4.11.3: a sanitize operation in progress (or failed) answers before a pending unit
    // attention, so a new I_T nexus sees SANITIZE IN PROGRESS too (libiscsi Sanitize.Reset).
    if (descriptor == nullptr || !descriptor->has(flag_allowed_during_sanitize)) {
        if (auto refused = sanitize_.refuse(descriptor)) {
            finish(cmd, done, CommandResult::fail(*refused));
            return;
        }
    }

    // SAM-5 §5.14: a pending unit attention ends any command that is not exempt, even one
    // with an unknown opcode.
    if (descriptor == nullptr || !descriptor->has(flag_allowed_with_unit_attention)) {
        if (auto ua = unit_attentions_.take(nexus_id_of(cmd))) {
            finish(cmd, done, CommandResult::fail(*ua));
            return;
        }
    }
    if (descriptor == nullptr) {
        finish(cmd, done, lookup_error);
        return;
    }
    // SBC-4 §5.25: with the removable medium ejected, a command that needs it is NOT READY.
    if (descriptor->has(flag_needs_medium) && !medium_present()) {
        finish(cmd, done, CommandResult::fail(SenseReason::medium_not_present));
        return;
    }
    if (CommandResult conflict = reservations_.check(cmd.nexus, *descriptor); !conflict.ok()) {
        finish(cmd, done, conflict);
        return;
    }

    // SBC-3 (write protection): a write to a write-protected medium ends in DATA PROTECT, WRITE
    // PROTECTED, whatever else is wrong with it (LIO checks it at LUN lookup as well).
    if (descriptor->has(flag_writes_medium) && write_protected()) {
        finish(cmd, done, CommandResult::fail(SenseReason::write_protected));
        return;
    }
    CommandContext ctx{cmd, *descriptor, this, lun_inventory, &settings_, {}, device_};
    CommandResult result = prepare_command(ctx);
    if (!result.ok()) {
        finish(cmd, done, result);
        return;
    }
    if (descriptor->has(flag_completes_later)) {
        std::shared_ptr<Lun> keep_alive = weak_from_this().lock();
        ctx.complete = [this, keep_alive, &cmd, done](const CommandResult& r) {
            finish(cmd, done, r);
        };
        if (CommandResult started = execute_command(ctx); !started.ok()) {
            finish(cmd, done, started);
        }
        return;
    }
    if (descriptor->has(flag_accesses_medium)) {
        run_blocking_step(cmd, std::move(done), ctx,
                          store_->blocking() || descriptor->has(flag_reaches_other_luns));
        return;
    }
    if (descriptor->has(flag_saves_state)) {
        run_blocking_step(cmd, std::move(done), ctx, reservations_.persist_supported());
        return;
    }
    finish(cmd, done, execute_command(ctx));
}

bool Lun::submit_blocking(std::function<void()> job) {
    if (!submit_blocking_) {
        job();
        return false;
    }
    submit_blocking_(std::move(job));
    return true;
}

CommandResult Lun::execute_under_medium_lock(CommandContext& ctx) {
    if (ctx.descriptor.has(flag_exclusive_medium)) {
        std::unique_lock lock(medium_mutex_);
        return execute_command(ctx);
    }
    // Reads hold it shared too: a read never sees half of a WRITE ATOMIC(16) (SBC-4 §4.29).
    if (ctx.descriptor.has(flag_writes_medium) || ctx.descriptor.has(flag_reads_medium)) {
        std::shared_lock lock(medium_mutex_);
        return execute_command(ctx);
    }
    return execute_command(ctx);
}

void Lun::run_blocking_step(Command& cmd, Completion done, CommandContext ctx, bool blocks) {
    if (!blocks || !submit_blocking_) {
        finish(cmd, done, execute_under_medium_lock(ctx));
        return;
    }
    ctx.lun_inventory = {};
    std::shared_ptr<Lun> keep_alive = weak_from_this().lock();
    submit_blocking_([this, keep_alive, &cmd, done = std::move(done), ctx]() mutable {
        finish(cmd, done, execute_under_medium_lock(ctx));
    });
}

}  // namespace atsarray::scsi
