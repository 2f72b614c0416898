#include "tools/esxi_sim/io_channel.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <utility>

#include "tools/esxi_sim/io_command.hpp"

namespace atsarray::sim {
namespace {

using io_detail::lost_status;
using io_detail::poll_slice;
using io_detail::state_of;
using io_detail::us_between;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Unit attentions (a reset, a new nexus) are answered by reissuing at once, as an initiator
// does; BUSY and TASK SET FULL after a short pause; a few times at most.
constexpr int reissues_on_status = 5;
constexpr int reissues_on_queue_full = 20;

}  // namespace

IoChannel::IoChannel(SessionConfig config, DeviceConfig device, HostStats& stats, Log& log,
                     std::string host_name, std::function<void()> tick)
    : config_(std::move(config)),
      device_(std::move(device)),
      stats_(stats),
      log_(log),
      host_name_(std::move(host_name)),
      tick_(std::move(tick)),
      selector_(0),
      queue_(device_.dqlen, device_.qfull_sample_size, device_.qfull_threshold),
      rng_(device_.seed) {
    if (device_.portals.empty()) {
        device_.portals.push_back(PortalSpec{config_.portal, 0});
    }
    selector_ = PathSelector(device_.portals.size());
    for (size_t i = 0; i < device_.portals.size(); ++i) {
        paths_.push_back(std::make_unique<PathSession>(
            config_, device_.portals[i].portal, device_.portals[i].tpgt, static_cast<int>(i)));
        selector_.set_state(i, PathState::dead);
    }
    next_login_.assign(paths_.size(), Clock::time_point{});
    login_failures_.assign(paths_.size(), 0);
}

IoChannel::~IoChannel() {
    drop();
}

void IoChannel::on_done(iscsi_context*, int status, void*, void* private_data) {
    auto* c = static_cast<Command*>(private_data);
    c->owner->finish(*c, status);
}

void IoChannel::finish(Command& c, int status) {
    if (c.done) {
        return;
    }
    c.done = true;
    c.status = status;
    c.completed = Clock::now();
    if (c.in_flight && c.kind != Kind::internal) {
        --outstanding_;
    }
    c.in_flight = false;
}

Clock::duration IoChannel::retry_interval() const {
    return device_.path_retry;
}

bool IoChannel::issue(Command& c, size_t path) {
    PathSession& p = *paths_[path];
    if (p.phase() != PathSession::Phase::logged_in) {
        return false;
    }
    c.path = path;
    c.done = false;
    c.issued = Clock::now();
    c.task.reset(c.issue(p.context(), &IoChannel::on_done, &c));
    if (!c.task) {
        return false;
    }
    c.in_flight = true;
    if (c.kind != Kind::internal) {
        ++outstanding_;
    }
    return true;
}

// ESXi's device queue: at most DQLEN commands at the array, the rest wait in order.
void IoChannel::admit() {
    while (!waiting_.empty() && outstanding_ < queue_.depth()) {
        if (!current_ || !selector_.usable(*current_)) {
            choose(false);
            if (!current_) {
                return;
            }
        }
        Command* c = waiting_.front();
        if (!issue(*c, *current_)) {
            path_dead(*current_, "a command could not be sent");
            continue;
        }
        waiting_.pop_front();
    }
}

void IoChannel::pump(Clock::time_point until) {
    admit();
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t i = 0; i < paths_.size(); ++i) {
        pollfd pfd{};
        if (paths_[i]->poll_fd(pfd)) {
            fds.push_back(pfd);
            which.push_back(i);
        }
    }
    const auto slice = std::clamp<int64_t>(
        duration_cast<milliseconds>(until - Clock::now()).count() + 1, 0, poll_slice.count());
    int n = 0;
    if (fds.empty()) {
        std::this_thread::sleep_for(milliseconds(slice));
    } else {
        n = ::poll(fds.data(), fds.size(), static_cast<int>(slice));
        if (n < 0 && errno != EINTR) {
            n = 0;
        }
    }
    for (size_t k = 0; k < fds.size(); ++k) {
        PathSession& p = *paths_[which[k]];
        if (p.phase() == PathSession::Phase::offline) {
            continue;
        }
        if (!p.service(n > 0 ? fds[k].revents : 0)) {
            path_dead(which[k], "the connection was lost");
        }
    }
    evaluate_paths();
    for (auto it = vm_commands_.begin(); it != vm_commands_.end();) {
        if ((*it)->done) {
            std::unique_ptr<Command> c = std::move(*it);
            it = vm_commands_.erase(it);
            handle_vm_done(*c);
        } else {
            ++it;
        }
    }
    for (auto it = internal_.begin(); it != internal_.end();) {
        if ((*it)->done) {
            std::unique_ptr<Command> c = std::move(*it);
            it = internal_.erase(it);
            if (c->on_done) {
                c->on_done(*c);
            }
        } else {
            ++it;
        }
    }
    admit();
    if (tick_) {
        tick_();
    }
}

std::unique_ptr<IoChannel::Command> IoChannel::run_internal(size_t path, const Issue& issue_fn,
                                                            std::chrono::milliseconds timeout) {
    auto c = std::make_unique<Command>();
    c->owner = this;
    c->kind = Kind::internal;
    c->issue = issue_fn;
    if (!issue(*c, path)) {
        return nullptr;
    }
    const auto deadline = Clock::now() + timeout;
    while (!c->done && Clock::now() < deadline) {
        pump(deadline);
    }
    if (!c->done) {
        if (iscsi_context* ctx = paths_[path]->context(); ctx != nullptr) {
            iscsi_scsi_cancel_task(ctx, c->task.get());
        }
        if (!c->done) {
            path_dead(path, "a command could not be cancelled");
        }
        finish(*c, SCSI_STATUS_TIMEOUT);
    }
    return c;
}

void IoChannel::log_failed(const Command& c, int host_status, const char* action) {
    const int op = c.task ? c.task->cdb[0] : 0;
    const bool sense = host_status == 0 && c.status == SCSI_STATUS_CHECK_CONDITION;
    // VMware KB 321364 / KB 338435: H: host status (0x1 no connection, 0x5 aborted), D: device
    // status, then the sense key, ASC and ASCQ; Act: what NMP does next.
    log_.line(host_name_, "NMP",
              "nmp_ThrottleLogForDevice: Cmd 0x%02x (%p) to dev \"%s\" on path \"%s\" Failed: "
              "H:0x%x D:0x%x P:0x0 %s sense data: 0x%x 0x%x 0x%x. Act:%s",
              op, static_cast<const void*>(c.task.get()), device_name_.c_str(),
              paths_[c.path]->name().c_str(), host_status, host_status == 0 ? c.status : 0,
              sense ? "Valid" : "Possible", sense ? c.key() : 0, sense ? c.asc() : 0,
              sense ? c.ascq() : 0, action);
}

// ESXi aborts a command that outlived its timeout with ABORT TASK and, when even that is not
// answered, the session is dropped; then NMP checks the path with TEST UNIT READY (VMware KB
// 2062592: "If the TEST_UNIT_READY command also fails, the path is marked as Dead") and the
// command is retried on the next path.
void IoChannel::abort(Command& c) {
    const size_t path = c.path;
    PathSession& p = *paths_[path];
    auto tmf = std::make_unique<Command>();
    tmf->owner = this;
    tmf->kind = Kind::internal;
    bool sent = false;
    if (p.context() != nullptr) {
        sent = iscsi_task_mgmt_abort_task_async(p.context(), c.task.get(), &IoChannel::on_done,
                                                tmf.get()) == 0;
        tmf->in_flight = sent;
        // libiscsi keeps the aborted command queued: forget it here; a late answer is ignored.
        iscsi_scsi_cancel_task(p.context(), c.task.get());
    }
    if (!c.done) {
        finish(c, SCSI_STATUS_CANCELLED);
    }
    const auto deadline = Clock::now() + config_.io_timeout;
    while (sent && !tmf->done && Clock::now() < deadline) {
        pump(deadline);
    }
    if (!sent || !tmf->done || tmf->status != SCSI_STATUS_GOOD) {
        stats_.update([](HostCounters& h) { ++h.aborts_unanswered; });
        log_.line(host_name_, "iscsi_vmk",
                  "iscsivmk_TaskMgmtIssue: vmhba64:CH:0 T:%d L:%d : Task mgmt \"Abort Task\" with "
                  "itt=0x%x timed out.",
                  p.index(), config_.lun, c.task ? c.task->itt : 0);
        path_dead(path, "ABORT TASK not answered");
    } else if (selector_.state(path) == PathState::on) {
        log_.line(host_name_, "NMP",
                  "nmp_DeviceRequestFastDeviceProbe: NMP device \"%s\" state in doubt; requested "
                  "fast path state update...",
                  device_name_.c_str());
        const std::unique_ptr<Command> tur = run_internal(
            path,
            [this](iscsi_context* ctx, iscsi_command_cb cb, void* priv) {
                return iscsi_testunitready_task(ctx, config_.lun, cb, priv);
            },
            config_.io_timeout);
        if (!tur || lost_status(tur->status)) {
            path_dead(path, "TEST UNIT READY failed");
        }
    }
    if (!tmf->done && p.context() != nullptr) {
        path_dead(path, "ABORT TASK still outstanding");
    }
    choose(false, path);
}

IoResult IoChannel::execute(const Issue& issue_fn, bool is_ats) {
    IoResult r;
    const auto started = Clock::now();
    int reissues = 0;
    for (;;) {
        maintain();
        Command c;
        c.owner = this;
        c.kind = Kind::host;
        c.ats = is_ats;
        c.issue = issue_fn;
        c.enqueued = Clock::now();
        waiting_.push_back(&c);
        bool timed_out = false;
        bool no_path = false;
        while (!c.done) {
            const auto now = Clock::now();
            if (c.in_flight) {
                if (now >= c.issued + config_.io_timeout) {
                    timed_out = true;
                    break;
                }
                pump(c.issued + config_.io_timeout);
                continue;
            }
            // Still in the host queue: without any usable path for --io-timeout, give up.
            if ((!current_ || !selector_.usable(*current_)) &&
                now >= c.enqueued + config_.io_timeout) {
                no_path = true;
                break;
            }
            maintain();
            pump(now + poll_slice);
        }
        if (no_path) {
            waiting_.remove(&c);
            stats_.update([](HostCounters& h) { ++h.io_errors; });
            r.error = "no usable path to " + device_name_;
            return r;
        }
        r.issued = c.issued;
        r.path = paths_[c.path]->name();
        if (timed_out) {
            stats_.update([](HostCounters& h) { ++h.ats_timeouts; });
            log_failed(c, 0x5, "EVAL");
            abort(c);
            r.status = IoStatus::timeout;
            return r;
        }
        stats_.add_queue_time(is_ats, us_between(c.enqueued, c.issued));
        const uint64_t service_us = us_between(c.issued, c.completed);
        if (lost_status(c.status)) {
            // The connection went with the command on it: it may have run. NMP retries it on
            // the next path.
            log_failed(c, 0x1, "FAILOVER");
            r.lost_on = r.path;
            if (paths_[c.path]->phase() == PathSession::Phase::logged_in) {
                path_dead(c.path, "the command's connection failed");
            }
            if (current_ && selector_.usable(*current_) &&
                ++reissues <= 2 * static_cast<int>(paths_.size())) {
                if (is_ats) {
                    stats_.update([](HostCounters& h) { ++h.ats_retried_on_other_path; });
                }
                continue;
            }
            stats_.update([](HostCounters& h) { ++h.io_errors; });
            r.error = "the connection was lost";
            return r;
        }
        if (c.status == SCSI_STATUS_GOOD) {
            if (queue_.on_good()) {
                stats_.update([](HostCounters& h) { ++h.dqlen_raises; });
                publish_paths();
            }
            if (c.task->datain.data != nullptr && c.task->datain.size > 0) {
                r.data.assign(c.task->datain.data, c.task->datain.data + c.task->datain.size);
            }
            r.status = IoStatus::good;
            if (is_ats) {
                stats_.update([](HostCounters& h) { ++h.ats_successes; });
                stats_.add_latency(service_us);
            }
            return r;
        }
        const Verdict v = classify(c.status, c.key(), c.asc(), c.ascq());
        if (v == Verdict::miscompare) {
            r.status = IoStatus::miscompare;
            r.miscompare_at = initiator::sense_information(c.task.get());
            stats_.update([](HostCounters& h) { ++h.ats_miscompares; });
            stats_.add_latency(service_us);
            return r;
        }
        if (is_alua_failover(v)) {
            log_failed(c, 0, "FAILOVER");
            if (v != Verdict::state_changed) {
                selector_.set_group_state_of(c.path, state_of(v));
            }
            refresh_alua(c.path);
            if (Clock::now() < started + 2 * config_.io_timeout) {
                continue;
            }
        } else if (v == Verdict::reissue && ++reissues <= reissues_on_status) {
            continue;
        } else if (v == Verdict::queue_full) {
            stats_.update([](HostCounters& h) { ++h.queue_full_answers; });
            if (queue_.on_queue_full()) {
                stats_.update([](HostCounters& h) { ++h.dqlen_halvings; });
                publish_paths();
            }
            if (++reissues <= reissues_on_queue_full) {
                const auto until = Clock::now() + milliseconds(10);
                while (Clock::now() < until) {
                    pump(until);
                }
                continue;
            }
        }
        char what[96];
        std::snprintf(what, sizeof what, "status 0x%02x sense key 0x%x asc 0x%02x ascq 0x%02x",
                      c.status, c.key(), c.asc(), c.ascq());
        r.error = what;
        stats_.update([](HostCounters& h) { ++h.io_errors; });
        return r;
    }
}

void IoChannel::idle_until(Clock::time_point until) {
    while (Clock::now() < until) {
        maintain();
        pump(until);
    }
}

IoResult IoChannel::read(uint64_t lba, uint32_t blocks, uint32_t block_size) {
    const uint32_t bytes = blocks * block_size;
    IoResult r = execute(
        [&](iscsi_context* ctx, iscsi_command_cb cb, void* p) {
            return iscsi_read16_task(ctx, config_.lun, lba, bytes, static_cast<int>(block_size), 0,
                                     0, 0, 0, 0, cb, p);
        },
        false);
    if (r.status == IoStatus::good && r.data.size() != bytes) {
        r.status = IoStatus::error;
        r.error = "short read";
        stats_.update([](HostCounters& c) { ++c.io_errors; });
    }
    return r;
}

IoResult IoChannel::write(uint64_t lba, const Sector& data, uint32_t block_size) {
    Sector copy(data);
    return execute(
        [&](iscsi_context* ctx, iscsi_command_cb cb, void* p) {
            return iscsi_write16_task(ctx, config_.lun, lba, copy.data(),
                                      static_cast<uint32_t>(copy.size()),
                                      static_cast<int>(block_size), 0, 0, 0, 0, 0, cb, p);
        },
        false);
}

IoResult IoChannel::read_capacity() {
    return execute([&](iscsi_context* ctx, iscsi_command_cb cb,
                       void* p) { return iscsi_readcapacity16_task(ctx, config_.lun, cb, p); },
                   false);
}

IoResult IoChannel::compare_and_write(uint64_t lba, const Sector& test, const Sector& set) {
    Sector both(test);
    both.insert(both.end(), set.begin(), set.end());
    return execute(
        [&](iscsi_context* ctx, iscsi_command_cb cb, void* p) {
            return iscsi_compareandwrite_task(ctx, config_.lun, lba, both.data(),
                                              static_cast<uint32_t>(both.size()),
                                              static_cast<int>(set.size()), 0, 0, 0, 0, 0, cb, p);
        },
        true);
}

void IoChannel::drop() {
    vm_running_ = false;
    for (auto& p : paths_) {
        p->drop();
    }
    waiting_.clear();
    vm_commands_.clear();
    internal_.clear();
}

void IoChannel::logout() {
    vm_running_ = false;
    // Let the VM commands at the array finish (at most --io-timeout), then log out everywhere.
    const auto deadline = Clock::now() + config_.io_timeout;
    waiting_.remove_if([](Command* c) { return c->kind == Kind::vm; });
    while (outstanding_ > 0 && Clock::now() < deadline) {
        pump(deadline);
    }
    for (auto& p : paths_) {
        p->logout();
    }
    waiting_.clear();
    vm_commands_.clear();
    internal_.clear();
}

}  // namespace atsarray::sim
