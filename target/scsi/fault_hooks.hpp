#pragma once
// The fault engine's per-command work for one LUN (target/fault): what Lun calls at the two named
// hook points of the command path (STYLE.md "The flow of one command"), before execute and before
// status. A rule may answer for a command, hold it for a while, drop its status or its
// connection, replace its outcome, or make a read return blocks' images from before their last
// write. Without an engine every hook is one branch; with an engine without rules, one branch
// more on a relaxed atomic load (fault::Engine::has_rules).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "target/fault/fault.hpp"
#include "target/fault/stale_images.hpp"
#include "target/scsi/command.hpp"
#include "target/scsi/sense.hpp"

namespace atsarray::scsi {

struct CommandContext;

// One command's fault state, kept with the command from the hook before execute until its status
// is sent.
class CommandFaults {
  public:
    // The injection the command got; empty when none.
    const fault::Decision& decision() const { return decision_; }
    // Its outcome was forced by a rule (an injected miscompare, a stale read): accounting counts
    // it apart from the genuine ones.
    bool injected() const { return injected_; }

  private:
    friend class FaultHooks;
    // A delay in progress: whoever moves it from waiting to `delivered` first (the timer or an
    // abort) goes on with the command; the other does nothing.
    enum : int { no_delay = 0, delaying_execution = 1, delaying_status = 2, delivered = 3 };

    fault::Decision decision_;
    std::atomic<int> delay_{no_delay};
    bool injected_ = false;
};

class FaultHooks {
  public:
    // Runs `job` after `delay` without holding a thread meanwhile (LunServices::schedule_after).
    using ScheduleAfter = std::function<void(std::chrono::milliseconds, std::function<void()>)>;

    // Blocks of a write's range that a stale_read rule reaches, as they were before the write.
    struct StaleCapture {
        fault::StaleWindow window;
        std::vector<uint8_t> images;
    };
    using StaleCaptures = std::vector<StaleCapture>;

    // Without `engine` no rule ever applies; without `schedule_after` delay rules are ignored.
    FaultHooks(std::shared_ptr<fault::Engine> engine, ScheduleAfter schedule_after);

    // The hook before execute, on the transport's thread after the checks and the parse.
    enum class Next : uint8_t {
        execute,  // go on: nothing to do now (maybe later, before status)
        answer,   // finish the command with `answer`, unexecuted; before_status still applies
        hold,     // a delay: hold() the command, which then executes
        // stale_write_after_failover: land_late() the command, which then executes even if it
        // was aborted meanwhile (its status is dropped before_status())
        land_late,
    };
    Next before_execute(CommandFaults& faults, const CommandContext& ctx, CommandResult& answer) {
        if (!rules_exist()) {
            return Next::execute;
        }
        return decide(faults, ctx, answer);
    }

    // Under the writer's LBA locks, just before it executes: the images a stale_read rule will
    // serve once the write has succeeded (only writers whose blocks are the CDB's range, at most
    // as many blocks as StaleImages keeps).
    StaleCaptures capture_stale_images(const CommandContext& ctx) const {
        if (engine_ == nullptr || !engine_->has_stale_rules()) {
            return {};
        }
        return capture(ctx);
    }

    // Whether capture_stale_images() may read the store (a stale_read rule exists).
    bool captures_stale_images() const { return engine_ != nullptr && engine_->has_stale_rules(); }

    // Still under the LBA locks, after the command succeeded: the captured images are kept, and
    // a read a stale_read rule picked gets them in place of the medium's.
    void after_execute(CommandFaults& faults, const CommandContext& ctx, StaleCaptures captured) {
        if (captured.empty() && !faults.decision_) {
            return;
        }
        remember_and_serve(faults, ctx, std::move(captured));
    }

    // The hook before status: sets the command's status and sense from the executed result, or
    // from the outcome a rule injects in its place, and the transport's drop flags. Returns the
    // result the status came from (for the accounting).
    CommandResult before_status(CommandFaults& faults, Command& cmd, const CommandResult& executed,
                                SenseFormat format) const {
        if (!faults.decision_) {
            apply_result(cmd, executed, format);
            return executed;
        }
        return inject_outcome(faults, cmd, executed, format);
    }

    // After the accounting: whether a before_status delay holds the status back (hold() it).
    bool delays_status(const CommandFaults& faults) const {
        return faults.decision_ && faults.decision_.action == fault::Action::delay &&
               faults.decision_.stage == fault::DelayStage::before_status && schedule_after_;
    }

    // Holds the command for the decision's delay (before execution after Next::hold, before its
    // status after delays_status()), then calls `go_on` unless abort() came first. `go_on` must
    // keep the command, and with it `faults`, alive.
    void hold(CommandFaults& faults, std::function<void()> go_on);
    // Calls `go_on` after the decision's delay, an abort notwithstanding.
    void land_late(const CommandFaults& faults, std::function<void()> go_on);
    // The same before execution for a delay of the command path's own (an active/non-optimized
    // port's): false, and nothing held, without a scheduler.
    bool hold_execution(CommandFaults& faults, std::chrono::milliseconds delay,
                        std::function<void()> go_on);

    // What abort() took away from a delay: the caller ends the command accordingly.
    enum class Held : uint8_t {
        nothing,    // no delay held it: the abort goes the usual way
        execution,  // never started: it ends in TASK ABORTED without executing
        status,     // executed and accounted: its (unsent) status goes out at once
    };
    // A command a delay holds ends with the abort, not with the delay.
    static Held abort(CommandFaults& faults);

    // The log line's text for a miscompare a rule injected: it names the rule, as its images say
    // nothing (the compare matched, or never happened).
    static std::string injected_miscompare(const CommandFaults& faults, uint64_t lun, uint64_t lba,
                                           std::string_view initiator);

  private:
    bool rules_exist() const { return engine_ != nullptr && engine_->has_rules(); }
    void hold_for(CommandFaults& faults, int waiting, std::chrono::milliseconds delay,
                  std::function<void()> go_on);
    Next decide(CommandFaults& faults, const CommandContext& ctx, CommandResult& answer);
    StaleCaptures capture(const CommandContext& ctx) const;
    void remember_and_serve(CommandFaults& faults, const CommandContext& ctx,
                            StaleCaptures captured);
    CommandResult inject_outcome(CommandFaults& faults, Command& cmd, const CommandResult& executed,
                                 SenseFormat format) const;

    std::shared_ptr<fault::Engine> engine_;
    ScheduleAfter schedule_after_;
    fault::StaleImages stale_images_;
};

}  // namespace atsarray::scsi
