// Task management (RFC 7143 §11.5, §11.6; SAM-5 §7).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "target/iscsi/bhs.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/serial.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::iscsi {

void Connection::send_tmf_response(uint32_t itt, TmfResponse response) {
    OutPdu& out = tx_.push();
    TmfResponseBhs(out.hdr, response);
    out.hdr.set_itt(itt);
    window_.fill(out.hdr, true);
    tx_.seal(out);
}

// Aborts the tasks `match` selects: those still receiving data end at once and never execute;
// those executing are marked and finish in the SCSI layer without an answer. Returns how many are
// still executing; each of those reports to the task management request `tmf_id` when done. A
// task an earlier request already aborted counts too: a LUN reset is answered only when every
// task of the LUN has ended (SAM-5), not just those it aborted itself.
uint32_t Connection::abort_tasks_where(const auto& match, uint32_t tmf_id) {
    uint32_t executing = 0;
    for (Task* task : tasks_.select(match)) {
        if (task->state == Task::State::receiving) {
            tasks_.drop(task);
            continue;
        }
        if (tmf_id != 0) {
            task->waiting_tmfs.push_back(tmf_id);
            ++executing;
        }
        if (!task->aborted) {
            task->aborted = true;
            if (task->cmd.abort) {
                task->cmd.abort();
            }
        }
    }
    return executing;
}

void Connection::abort_lun_tasks(uint64_t lun) {
    abort_tasks_where([lun](const Task& t) { return t.lun == lun; }, 0);
    write_more();
}

void Connection::tmf_task_finished(Task* task) {
    for (const uint32_t id : task->waiting_tmfs) {
        const auto it = std::find_if(pending_tmfs_.begin(), pending_tmfs_.end(),
                                     [id](const PendingTmf& p) { return p.id == id; });
        if (it == pending_tmfs_.end() || --it->remaining != 0) {
            continue;
        }
        const uint32_t itt = it->itt;
        pending_tmfs_.erase(it);
        if (phase_ != Phase::closed) {
            send_tmf_response(itt, TmfResponse::function_complete);
        }
    }
    task->waiting_tmfs.clear();
}

void Connection::handle_task_management(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const TaskManagementBhs request(bhs);
    const TmfFunction function = request.function();
    const uint32_t itt = bhs.initiator_task_tag();
    const uint32_t referenced_tag = request.referenced_task_tag();
    const uint32_t referenced_cmd_sn = request.ref_cmd_sn();
    window_.release_slot(bhs.immediate());
    if (itt == reserved_tag) {
        // RFC 7143 §11.2.1.8: the reserved tag names no task management request either.
        send_reject(bhs, RejectReason::invalid_pdu_field);
        return;
    }
    uint64_t lun = UINT64_MAX;
    const bool lun_known =
        decode_lun(bhs.lun_field(), lun) && session_.target->device->has_lun(lun);
    const uint32_t tmf_id = next_tmf_id_++;
    uint32_t waiting = 0;

    switch (function) {
        case TmfFunction::abort_task: {
            const Task* referenced = tasks_.find(referenced_tag);
            if (referenced != nullptr && !referenced->aborted) {
                waiting = abort_tasks_where(
                    [referenced_tag](const Task& t) { return t.itt == referenced_tag; }, tmf_id);
                spdlog::info("iscsi {}: ABORT TASK ITT {:#x} ({})", peer_, referenced_tag,
                             waiting ? "in execution, answered when it ends" : "never executed");
                event(
                    "abort",
                    fmt::format("ABORT TASK ITT {:#x} by {} ({})", referenced_tag,
                                session_.initiator_name,
                                waiting ? "in execution, answered when it ends" : "never executed"),
                    lun_known ? std::optional<uint64_t>(lun) : std::nullopt);
                break;
            }
            // RFC 7143 §11.5.1: the task is not here. One we already answered (its CmdSN is below
            // ExpCmdSN) gets c) TASK DOES NOT EXIST, or FUNCTION COMPLETE where the config asks
            // for ESXi's expectation; one still in the window that has not arrived yet is b)
            // taken as received, will never execute, and gets FUNCTION COMPLETE.
            if (window_.received(referenced_cmd_sn)) {
                send_tmf_response(itt, state_.settings.abort_answered_task_function_complete
                                           ? TmfResponse::function_complete
                                           : TmfResponse::task_does_not_exist);
            } else if (window_.contains(referenced_cmd_sn) &&
                       serial_lt(referenced_cmd_sn, bhs.cmd_sn())) {
                window_.abort_before_arrival(referenced_cmd_sn);
                send_tmf_response(itt, TmfResponse::function_complete);
            } else {
                send_tmf_response(itt, TmfResponse::task_does_not_exist);
            }
            return;
        }
        case TmfFunction::abort_task_set:
        case TmfFunction::clear_task_set:
            if (!lun_known) {
                send_tmf_response(itt, TmfResponse::lun_does_not_exist);
                return;
            }
            waiting = abort_tasks_where([lun](const Task& t) { return t.lun == lun; }, tmf_id);
            event("abort",
                  fmt::format(
                      "{} of LUN {} by {}",
                      function == TmfFunction::clear_task_set ? "CLEAR TASK SET" : "ABORT TASK SET",
                      lun, session_.initiator_name),
                  lun);
            if (function == TmfFunction::clear_task_set) {
                // With TST=000b one task set serves every I_T nexus (the control mode page's TST,
                // SPC-4 §7.5.8), so CLEAR TASK SET also ends other sessions' tasks on the LUN.
                for (const auto& conn : state_.sessions.snapshot()) {
                    if (conn.get() != this) {
                        conn->post_abort_lun_tasks(session_.target.get(), lun);
                    }
                }
            }
            break;
        case TmfFunction::logical_unit_reset:
            if (!lun_known) {
                send_tmf_response(itt, TmfResponse::lun_does_not_exist);
                return;
            }
            spdlog::info("iscsi {}: LOGICAL UNIT RESET of LUN {} by {}", peer_, lun,
                         session_.initiator_name);
            event("reset",
                  fmt::format("LOGICAL UNIT RESET of LUN {} by {}", lun, session_.initiator_name),
                  lun);
            waiting = abort_tasks_where([lun](const Task& t) { return t.lun == lun; }, tmf_id);
            for (const auto& conn : state_.sessions.snapshot()) {
                if (conn.get() != this) {
                    conn->post_abort_lun_tasks(session_.target.get(), lun);
                }
            }
            session_.target->device->lun_reset(lun);
            break;
        case TmfFunction::target_warm_reset:
        case TmfFunction::target_cold_reset: {
            spdlog::info("iscsi {}: TARGET {} RESET by {}", peer_,
                         function == TmfFunction::target_warm_reset ? "WARM" : "COLD",
                         session_.initiator_name);
            event("reset", fmt::format("TARGET {} RESET by {}",
                                       function == TmfFunction::target_warm_reset ? "WARM" : "COLD",
                                       session_.initiator_name));
            waiting = abort_tasks_where([](const Task&) { return true; }, tmf_id);
            for (const auto& conn : state_.sessions.snapshot()) {
                if (conn.get() == this) {
                    continue;
                }
                for (uint64_t id : session_.target->device->lun_ids()) {
                    conn->post_abort_lun_tasks(session_.target.get(), id);
                }
                if (function == TmfFunction::target_cold_reset &&
                    conn->target() == session_.target.get()) {
                    // A cold reset ends every connection to the target (RFC 7143 §11.5.1).
                    conn->post_close("TARGET COLD RESET");
                }
            }
            session_.target->device->target_reset();
            if (function == TmfFunction::target_cold_reset) {
                close_after_write_ = true;
            }
            break;
        }
        case TmfFunction::clear_aca:
            // NACA is never accepted, so there is no ACA to clear.
            send_tmf_response(itt, TmfResponse::function_not_supported);
            return;
        case TmfFunction::task_reassign:
            send_tmf_response(itt, TmfResponse::task_allegiance_reassignment_not_supported);
            return;
        default:
            send_tmf_response(itt, TmfResponse::function_rejected);
            return;
    }
    if (waiting == 0) {
        send_tmf_response(itt, TmfResponse::function_complete);
        return;
    }
    // The response goes out when the last affected task has finished (RFC 7143 §11.5.1).
    pending_tmfs_.push_back({tmf_id, itt, waiting});
}

}  // namespace atsarray::iscsi
