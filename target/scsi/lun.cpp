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
    if (CommandResult conflict = reservations_.check(cmd.nexus, *descriptor); !conflict.ok()) {
        finish(cmd, done, conflict);
        return;
    }

    CommandContext ctx{cmd, *descriptor, this, lun_inventory, &settings_, {}, device_};
    CommandResult result = prepare_command(ctx);
    if (!result.ok()) {
        finish(cmd, done, result);
        return;
    }
    // SBC-3 (write protection): a write to a write-protected medium ends in DATA PROTECT, WRITE
    // PROTECTED.
    if (descriptor->has(flag_writes_medium) && write_protected()) {
        finish(cmd, done, CommandResult::fail(SenseReason::write_protected));
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

CommandResult Lun::execute_under_medium_lock(CommandContext& ctx) {
    if (ctx.descriptor.has(flag_exclusive_medium)) {
        std::unique_lock lock(medium_mutex_);
        return execute_command(ctx);
    }
    if (ctx.descriptor.has(flag_writes_medium)) {
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
