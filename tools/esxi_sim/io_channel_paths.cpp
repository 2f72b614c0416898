// IoChannel's multipath half: logging paths in and out, identifying them (VPD 0x83), reading
// REPORT TARGET PORT GROUPS, choosing the active path and logging each change as vmkernel does,
// and the VMs' I/O load on the device queue.
#include <utility>

#include "tools/esxi_sim/io_channel.hpp"
#include "tools/esxi_sim/io_command.hpp"

namespace atsarray::sim {
namespace {

using io_detail::lost_status;
using io_detail::poll_slice;
using io_detail::state_of;
using io_detail::us_between;
using std::chrono::milliseconds;

constexpr uint32_t rtpg_allocation = 1024;
constexpr int vpd_allocation = 255;

}  // namespace

void IoChannel::evaluate_paths() {
    const auto now = Clock::now();
    for (size_t i = 0; i < paths_.size(); ++i) {
        PathSession& p = *paths_[i];
        if (p.phase() == PathSession::Phase::logging_in) {
            std::string error;
            if (p.login_finished(error)) {
                // A path that logged in is identified (VPD 0x83) before it carries I/O.
                auto c = std::make_unique<Command>();
                c->owner = this;
                c->kind = Kind::internal;
                c->issue = [this](iscsi_context* ctx, iscsi_command_cb cb, void* priv) {
                    return iscsi_inquiry_task(ctx, config_.lun, 1, 0x83, vpd_allocation, cb, priv);
                };
                c->on_done = [this, i](Command& done) {
                    PortIdentity id;
                    if (done.status == SCSI_STATUS_GOOD && done.task->datain.data != nullptr) {
                        id = parse_device_identification(
                            {done.task->datain.data, static_cast<size_t>(done.task->datain.size)});
                    }
                    if (paths_[i]->phase() == PathSession::Phase::logged_in) {
                        path_ready(i, id);
                    }
                };
                if (issue(*c, i)) {
                    internal_.push_back(std::move(c));
                } else {
                    path_dead(i, "the session failed");
                }
            } else if (p.phase() == PathSession::Phase::offline) {
                login_failed(i, error);
            }
        } else if (p.phase() == PathSession::Phase::offline && now >= next_login_[i]) {
            std::string error;
            if (!p.start_login(now + config_.io_timeout, error)) {
                login_failed(i, error);
            }
        }
    }
}

// Logged once per outage: a dead path is tried again every --path retry interval.
void IoChannel::login_failed(size_t path, const std::string& error) {
    next_login_[path] = Clock::now() + retry_interval();
    if (++login_failures_[path] == 1) {
        log_.line(host_name_, "iscsi_vmk", "vmhba64:CH:0 T:%d CN:0: login to %s at %s failed: %s",
                  paths_[path]->index(), config_.target.c_str(), paths_[path]->portal().c_str(),
                  error.c_str());
    }
}

void IoChannel::path_ready(size_t path, const PortIdentity& id) {
    login_failures_[path] = 0;
    if (id.target_port_group) {
        selector_.set_group(path, *id.target_port_group);
    } else if (paths_[path]->tpgt() != 0) {
        selector_.set_group(path, paths_[path]->tpgt());
    }
    if (!id.naa.empty()) {
        device_name_ = id.naa;
    }
    selector_.set_state(path, PathState::on);
    if (claimed_) {
        stats_.update([](HostCounters& c) {
            ++c.paths_restored;
            ++c.reconnects;
        });
        log_.line(host_name_, "vobd",
                  "[vob.scsi.scsipath.pathstate.on] scsiPath %s changed state from dead",
                  paths_[path]->name().c_str());
        refresh_pending_ = true;
    }
    publish_paths();
}

void IoChannel::path_dead(size_t path, const char* why) {
    PathSession& p = *paths_[path];
    const bool was_on = selector_.state(path) == PathState::on;
    if (!was_on && p.phase() == PathSession::Phase::offline) {
        return;
    }
    if (p.phase() == PathSession::Phase::logged_in) {
        // VMware KB 321364, the failover sequence as vmkernel.log shows it.
        log_.line(host_name_, "iscsi_vmk",
                  "iscsivmk_StopConnection: vmhba64:CH:0 T:%d CN:0: iSCSI connection is being "
                  "marked \"OFFLINE\" (%s)",
                  p.index(), why);
        log_.line(host_name_, "iscsi_vmk",
                  "iscsivmk_StopConnection: Sess [ISID: 00023d%06x TARGET: %s TPGT: %u TSIH: 0]",
                  p.index() + 1, config_.target.c_str(),
                  static_cast<unsigned>(selector_.group(path).value_or(p.tpgt())));
    }
    p.drop();  // every command on it completes as cancelled
    selector_.set_state(path, PathState::dead);
    next_login_[path] = Clock::now() + retry_interval();
    if (was_on) {
        stats_.update([](HostCounters& c) { ++c.paths_dead; });
        // VMware KB 432676: "scsiPath vmhba2:C0:T19:L1 changed state from on".
        log_.line(host_name_, "vobd",
                  "[vob.scsi.scsipath.pathstate.dead] scsiPath %s changed state from on",
                  p.name().c_str());
    }
    if (claimed_) {
        choose(false);
    }
    publish_paths();
}

void IoChannel::choose(bool reevaluate, std::optional<size_t> not_this) {
    const std::optional<size_t> before = current_;
    const std::optional<size_t> after =
        not_this ? selector_.fail_over(*not_this) : selector_.select(reevaluate);
    current_ = after;
    if (after && before != after) {
        no_path_logged_ = false;
        if (claimed_) {
            stats_.update([](HostCounters& c) { ++c.failovers; });
            log_.line(host_name_, "vmw_psp_mru",
                      "psp_mruSelectPathToActivate: Changing active path from \"%s\" to \"%s\" "
                      "for NMP device \"%s\".",
                      before ? paths_[*before]->name().c_str() : "none",
                      paths_[*after]->name().c_str(), device_name_.c_str());
        }
    } else if (!after && !no_path_logged_ && claimed_) {
        no_path_logged_ = true;
        log_.line(host_name_, "NMP",
                  "nmp_DeviceRetryCommand: Device \"%s\": awaiting fast path state update for "
                  "failover with I/O blocked. No prior reservation exists on the device.",
                  device_name_.c_str());
    }
    publish_paths();
}

std::string IoChannel::tpg_config() const {
    std::string out;
    for (const PortGroup& g : selector_.groups()) {
        out += "{TPG_id=" + std::to_string(g.id) + ",TPG_state=" + tpg_state_name(g.state) + "}";
    }
    return out.empty() ? "{}" : out;
}

void IoChannel::refresh_alua(std::optional<size_t> prefer) {
    refresh_pending_ = false;
    std::optional<size_t> path;
    for (const std::optional<size_t> candidate : {prefer, current_}) {
        if (!path && candidate && selector_.state(*candidate) == PathState::on) {
            path = candidate;
        }
    }
    for (size_t i = 0; i < paths_.size() && !path; ++i) {
        if (selector_.state(i) == PathState::on) {
            path = i;
        }
    }
    if (!path) {
        return;
    }
    // SPC-4 §6.36: REPORT TARGET PORT GROUPS answers the same on every path; a unit attention
    // pending on this nexus comes first and is answered by asking again.
    std::unique_ptr<Command> c;
    for (int attempt = 0; attempt < 3; ++attempt) {
        c = run_internal(
            *path,
            [this](iscsi_context* ctx, iscsi_command_cb cb, void* priv) -> scsi_task* {
                std::vector<uint8_t> cdb = report_target_port_groups_cdb(rtpg_allocation);
                scsi_task* t = scsi_create_task(static_cast<int>(cdb.size()), cdb.data(),
                                                SCSI_XFER_READ, rtpg_allocation);
                if (t != nullptr &&
                    iscsi_scsi_command_async(ctx, config_.lun, t, cb, nullptr, priv) != 0) {
                    scsi_free_scsi_task(t);
                    return nullptr;
                }
                return t;
            },
            config_.io_timeout);
        if (!c || c->status != SCSI_STATUS_CHECK_CONDITION ||
            c->key() != SCSI_SENSE_UNIT_ATTENTION) {
            break;
        }
    }
    std::optional<std::vector<PortGroup>> groups;
    if (c && c->status == SCSI_STATUS_GOOD && c->task->datain.data != nullptr) {
        groups = parse_report_target_port_groups(
            {c->task->datain.data, static_cast<size_t>(c->task->datain.size)});
    }
    if (!groups) {
        // VMware KB 2062592's form of an RTPG that failed on a path.
        log_.line(host_name_, "VMW_SATP_ALUA",
                  "satp_alua_issueCommandOnPath: Path \"%s\" command 0xa3 failed with status %s",
                  paths_[*path]->name().c_str(),
                  !c                              ? "No connection"
                  : c->status == SCSI_STATUS_GOOD ? "Bad data"
                                                  : "Failure");
    } else if (selector_.update_groups(*groups)) {
        stats_.update([](HostCounters& h) { ++h.alua_changes; });
        // The tuple esxcli shows in "Storage Array Type Device Config" (VMware KB 310442).
        log_.line(host_name_, "VMW_SATP_ALUA", "Device \"%s\": target port groups %s",
                  device_name_.c_str(), tpg_config().c_str());
    }
    choose(true);
}

void IoChannel::maintain() {
    const auto now = Clock::now();
    // A VM command past --io-timeout is aborted like any other (its path may be a blackhole that
    // holds every DQLEN slot while the heartbeat waits in the host queue).
    for (auto it = vm_commands_.begin(); it != vm_commands_.end(); ++it) {
        if ((*it)->in_flight && now >= (*it)->issued + config_.io_timeout) {
            // Out of the list first: abort() runs the event loop, which reaps finished commands.
            std::unique_ptr<Command> c = std::move(*it);
            vm_commands_.erase(it);
            stats_.update([](HostCounters& h) { ++h.vm_timeouts; });
            log_failed(*c, 0x5, "EVAL");
            abort(*c);
            handle_vm_done(*c);
            return;
        }
    }
    if (refresh_pending_) {
        refresh_alua(std::nullopt);
        next_refresh_ = now + device_.transition_retry;
        return;
    }
    // No usable path (standby, unavailable, transitioning): ask again after a delay, as ESXi
    // retries a path whose group is in transition.
    if ((!current_ || !selector_.usable(*current_)) && now >= next_refresh_) {
        next_refresh_ = now + device_.transition_retry;
        refresh_alua(std::nullopt);
    }
}

bool IoChannel::connect(std::string& error) {
    const auto deadline = Clock::now() + config_.io_timeout;
    for (size_t i = 0; i < paths_.size(); ++i) {
        std::string e;
        if (!paths_[i]->start_login(deadline, e)) {
            error = e;
            login_failed(i, e);
        }
    }
    auto busy = [this] {
        for (const auto& p : paths_) {
            if (p->phase() == PathSession::Phase::logging_in) {
                return true;
            }
        }
        return !internal_.empty();
    };
    while (busy() && Clock::now() < deadline + milliseconds(500)) {
        pump(Clock::now() + poll_slice);
    }
    bool any = false;
    for (size_t i = 0; i < paths_.size(); ++i) {
        any = any || selector_.state(i) == PathState::on;
    }
    if (!any) {
        if (error.empty()) {
            error = "no path logged in to " + config_.target;
        }
        return false;
    }
    refresh_alua(std::nullopt);
    claimed_ = true;
    std::string list;
    for (size_t i = 0; i < paths_.size(); ++i) {
        list += (i == 0 ? "" : ", ") + paths_[i]->name() + " (" + paths_[i]->portal() + ", " +
                path_state_name(selector_.state(i)) + ")";
    }
    log_.line(host_name_, "NMP",
              "Device \"%s\" claimed by VMW_SATP_ALUA with VMW_PSP_MRU, DQLEN %d: paths %s; "
              "target port groups %s; active path \"%s\"",
              device_name_.c_str(), queue_.depth(), list.c_str(), tpg_config().c_str(),
              current_ ? paths_[*current_]->name().c_str() : "none");
    publish_paths();
    return true;
}

void IoChannel::start_vm_io(uint32_t block_size) {
    const VmIoConfig& v = device_.vm_io;
    if (v.queue_depth <= 0 || v.blocks == 0) {
        return;
    }
    block_size_ = block_size;
    vm_buffer_.assign(std::max<uint32_t>(v.bytes, block_size), 0x5a);
    vm_running_ = true;
    for (int i = 0; i < v.queue_depth; ++i) {
        queue_vm_command();
    }
}

void IoChannel::queue_vm_command() {
    const VmIoConfig& v = device_.vm_io;
    const uint32_t blocks = std::max<uint32_t>(1, v.bytes / block_size_);
    const uint32_t bytes = blocks * block_size_;
    if (v.blocks < blocks) {
        return;
    }
    std::uniform_int_distribution<uint64_t> at(v.first_lba, v.first_lba + v.blocks - blocks);
    std::uniform_int_distribution<int> percent(0, 99);
    const bool is_read = percent(rng_) < v.read_percent;
    const uint64_t lba = at(rng_);
    auto c = std::make_unique<Command>();
    c->owner = this;
    c->kind = Kind::vm;
    c->issue = [this, is_read, lba, bytes](iscsi_context* ctx, iscsi_command_cb cb, void* p) {
        const int bs = static_cast<int>(block_size_);
        return is_read ? iscsi_read16_task(ctx, config_.lun, lba, bytes, bs, 0, 0, 0, 0, 0, cb, p)
                       : iscsi_write16_task(ctx, config_.lun, lba, vm_buffer_.data(), bytes, bs, 0,
                                            0, 0, 0, 0, cb, p);
    };
    c->enqueued = Clock::now();
    waiting_.push_back(c.get());
    vm_commands_.push_back(std::move(c));
}

void IoChannel::handle_vm_done(Command& c) {
    if (c.status == SCSI_STATUS_GOOD) {
        stats_.add_vm(us_between(c.enqueued, c.issued), us_between(c.issued, c.completed));
        if (queue_.on_good()) {
            stats_.update([](HostCounters& h) { ++h.dqlen_raises; });
            publish_paths();
        }
    } else if (lost_status(c.status)) {
        stats_.update([](HostCounters& h) { ++h.vm_errors; });
    } else {
        const Verdict v = classify(c.status, c.key(), c.asc(), c.ascq());
        if (v == Verdict::queue_full) {
            stats_.update([](HostCounters& h) { ++h.queue_full_answers; });
            const int before = queue_.depth();
            if (queue_.on_queue_full()) {
                stats_.update([](HostCounters& h) { ++h.dqlen_halvings; });
                publish_paths();
                log_.line(host_name_, "ScsiDeviceIO",
                          "Device \"%s\": %d QUEUE FULL or BUSY answers (QFullSampleSize): queue "
                          "depth %d -> %d",
                          device_name_.c_str(), device_.qfull_sample_size, before, queue_.depth());
            }
        } else if (is_alua_failover(v)) {
            if (v != Verdict::state_changed) {
                selector_.set_group_state_of(c.path, state_of(v));
            }
            refresh_pending_ = true;
        }
        if (v != Verdict::good) {
            stats_.update([](HostCounters& h) { ++h.vm_errors; });
        }
    }
    if (vm_running_) {
        queue_vm_command();
    }
}

void IoChannel::publish_paths() {
    DeviceReport d;
    d.device = device_name_;
    d.dqlen = queue_.depth();
    d.dqlen_max = queue_.max_depth();
    d.dqlen_min = queue_.min_depth_seen();
    for (size_t i = 0; i < paths_.size(); ++i) {
        PathReport p;
        p.name = paths_[i]->name();
        p.portal = paths_[i]->portal();
        p.group = selector_.group(i).value_or(0);
        p.state = path_state_name(selector_.state(i));
        p.alua = tpg_state_name(selector_.group_state(i));
        p.active = current_ == i;
        d.paths.push_back(std::move(p));
    }
    stats_.set_device(std::move(d));
}

}  // namespace atsarray::sim
