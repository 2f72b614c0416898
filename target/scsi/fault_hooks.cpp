#include "target/scsi/fault_hooks.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "target/scsi/command_table.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {

namespace {

// What one command is, for matching a rule's scope.
fault::CommandView view_of(const CommandContext& ctx) {
    const CommandDescriptor& d = ctx.descriptor;
    const LunSettings& settings = ctx.lun->settings();
    fault::CommandView view;
    view.target = settings.target_name;
    view.lun = settings.id;
    if (ctx.cmd.nexus != nullptr) {
        view.initiator = ctx.cmd.nexus->initiator_name;
    }
    view.command = d.has(flag_compare_and_write) ? fault::CommandClass::ats
                   : d.has(flag_writes_medium)   ? fault::CommandClass::write
                   : d.has(flag_reads_medium)    ? fault::CommandClass::read
                                                 : fault::CommandClass::any;
    view.lba = ctx.cdb.lba;
    view.blocks = ctx.cdb.blocks;
    if (ctx.cmd.nexus != nullptr) {
        // The target port group of the path (stale_write_after_failover's scope).
        view.group =
            ctx.lun->port_groups().group_of_port(ctx.cmd.nexus->relative_target_port).value_or(0);
    }
    return view;
}

SenseReason status_reason(fault::StatusKind status) {
    switch (status) {
        case fault::StatusKind::busy:
            return SenseReason::busy;
        case fault::StatusKind::task_set_full:
            return SenseReason::task_set_full;
        case fault::StatusKind::check_condition:
            break;
    }
    // The rule's own key, ASC and ASCQ replace this reason's sense (inject_outcome()).
    return SenseReason::internal_target_failure;
}

}  // namespace

FaultHooks::FaultHooks(std::shared_ptr<fault::Engine> engine, ScheduleAfter schedule_after)
    : engine_(std::move(engine)), schedule_after_(std::move(schedule_after)) {}

FaultHooks::Next FaultHooks::decide(CommandFaults& faults, const CommandContext& ctx,
                                    CommandResult& answer) {
    // A command that completes later (SANITIZE) answers on its own schedule: no rule applies.
    if (ctx.descriptor.has(flag_completes_later)) {
        return Next::execute;
    }
    fault::CommandView view = view_of(ctx);
    view.stale = view.command == fault::CommandClass::read && engine_->has_stale_rules() &&
                 stale_images_.any(view.lba, view.blocks, fault::StaleImages::Clock::now());
    faults.decision_ = engine_->decide(view);
    const fault::Decision& f = faults.decision_;
    if (!f) {
        return Next::execute;
    }
    switch (f.action) {
        case fault::Action::false_miscompare:
            // Nothing is read or written: the firmware lies about the compare.
            faults.injected_ = true;
            answer = CommandResult::with_information(SenseReason::miscompare, 0);
            return Next::answer;
        case fault::Action::status:
        case fault::Action::drop_connection:
            answer = CommandResult::good();  // before_status() applies the injected answer
            return Next::answer;
        case fault::Action::delay:
            if (f.stage == fault::DelayStage::before_execute && schedule_after_) {
                return Next::hold;
            }
            return Next::execute;  // before_status: after the accounting (delays_status())
        case fault::Action::miscompare_after_write:
        case fault::Action::drop_status:
            return Next::execute;  // before status
        case fault::Action::stale_read:
            return Next::execute;  // after execution, in after_execute()
        case fault::Action::stale_write_after_failover:
            // Held, then executed whatever was aborted meanwhile; its status is dropped.
            return schedule_after_ ? Next::land_late : Next::execute;
        case fault::Action::gateway_stall:
            // Held in the "cluster" to the stall's end, then executed even if aborted meanwhile;
            // answered if the initiator still waits.
            return schedule_after_ ? Next::land_late : Next::execute;
        case fault::Action::alua_state:
        case fault::Action::alua_flap:
        case fault::Action::path_down:
        case fault::Action::path_blackhole:
            break;  // act on target port groups, never decided for a command
    }
    return Next::execute;
}

FaultHooks::StaleCaptures FaultHooks::capture(const CommandContext& ctx) const {
    StaleCaptures out;
    const CommandDescriptor& d = ctx.descriptor;
    if (!d.has(flag_writes_medium) || d.lock_ranges != nullptr) {
        return out;
    }
    const uint32_t bs = ctx.lun->settings().block_size;
    for (fault::StaleWindow w : engine_->stale_windows(view_of(ctx))) {
        w.blocks = std::min<uint64_t>(w.blocks, stale_images_.max_blocks());
        StaleCapture c{w, std::vector<uint8_t>(w.blocks * bs)};
        if (ctx.lun->store().read(w.lba * bs, c.images).ok()) {
            out.push_back(std::move(c));
        }
    }
    return out;
}

void FaultHooks::remember_and_serve(CommandFaults& faults, const CommandContext& ctx,
                                    StaleCaptures captured) {
    const uint32_t bs = ctx.lun->settings().block_size;
    const auto now = fault::StaleImages::Clock::now();
    for (const StaleCapture& c : captured) {
        stale_images_.remember(c.window.rule, c.window.lba, c.images, bs, now,
                               now + c.window.stale);
    }
    const fault::Decision& f = faults.decision_;
    if (!f || f.action != fault::Action::stale_read) {
        return;
    }
    std::vector<uint8_t>* data = ctx.cmd.data_in;
    if (data == nullptr || data->size() != ctx.cdb.blocks * bs) {
        return;
    }
    if (stale_images_.overlay(f.rule, ctx.cdb.lba, *data, bs, fault::StaleImages::Clock::now()) !=
        0) {
        faults.injected_ = true;
    }
}

CommandResult FaultHooks::inject_outcome(CommandFaults& faults, Command& cmd,
                                         const CommandResult& executed, SenseFormat format) const {
    const fault::Decision& f = faults.decision_;
    CommandResult result = executed;
    if (f.action == fault::Action::miscompare_after_write && result.ok()) {
        // The firmware bug of the field reports: the new image is written, the answer lies.
        result = CommandResult::with_information(SenseReason::miscompare, 0);
        faults.injected_ = true;
    }
    if (f.action == fault::Action::status) {
        result = CommandResult::fail(status_reason(f.status));
    }
    apply_result(cmd, result, format);
    if (f.action == fault::Action::status && f.status == fault::StatusKind::check_condition) {
        // CHECK CONDITION with the rule's own key, ASC and ASCQ.
        cmd.sense = build_sense(static_cast<SenseKey>(f.sense_key), f.asc, f.ascq, format);
    }
    if (f.action == fault::Action::drop_status ||
        f.action == fault::Action::stale_write_after_failover) {
        cmd.drop_status = true;
    }
    if (f.action == fault::Action::drop_connection) {
        cmd.drop_connection = true;
    }
    return result;
}

void FaultHooks::land_late(const CommandFaults& faults, std::function<void()> go_on) {
    schedule_after_(faults.decision_.delay, std::move(go_on));
}

void FaultHooks::hold(CommandFaults& faults, std::function<void()> go_on) {
    const int waiting = faults.decision_.stage == fault::DelayStage::before_execute
                            ? CommandFaults::delaying_execution
                            : CommandFaults::delaying_status;
    hold_for(faults, waiting, faults.decision_.delay, std::move(go_on));
}

bool FaultHooks::hold_execution(CommandFaults& faults, std::chrono::milliseconds delay,
                                std::function<void()> go_on) {
    if (!schedule_after_) {
        return false;
    }
    hold_for(faults, CommandFaults::delaying_execution, delay, std::move(go_on));
    return true;
}

void FaultHooks::hold_for(CommandFaults& faults, int waiting, std::chrono::milliseconds delay,
                          std::function<void()> go_on) {
    faults.delay_.store(waiting);
    schedule_after_(delay, [&faults, waiting, go_on = std::move(go_on)] {
        if (faults.delay_.exchange(CommandFaults::delivered) != waiting) {
            return;  // aborted meanwhile, and answered then
        }
        go_on();
    });
}

FaultHooks::Held FaultHooks::abort(CommandFaults& faults) {
    const int held = faults.delay_.exchange(CommandFaults::delivered);
    if (held == CommandFaults::delaying_execution) {
        return Held::execution;
    }
    if (held == CommandFaults::delaying_status) {
        return Held::status;
    }
    if (held != CommandFaults::no_delay) {
        faults.delay_.store(held);
    }
    return Held::nothing;
}

std::string FaultHooks::injected_miscompare(const CommandFaults& faults, uint64_t lun, uint64_t lba,
                                            std::string_view initiator) {
    return fmt::format("ats miscompare lun {} lba {} initiator {} injected by fault rule {} \"{}\"",
                       lun, lba, initiator, faults.decision_.rule, faults.decision_.rule_name);
}

}  // namespace atsarray::scsi
