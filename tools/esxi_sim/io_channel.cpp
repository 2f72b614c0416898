#include "tools/esxi_sim/io_channel.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace atsarray::sim {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// Unit attentions (a reset, a new nexus) and BUSY are answered by reissuing at once, as an
// initiator does; a few times at most.
constexpr int reissues_on_status = 5;

}  // namespace

IoChannel::IoChannel(SessionConfig config, HostStats& stats, Log& log, std::string host_name,
                     std::function<void()> tick)
    : config_(std::move(config)),
      stats_(stats),
      log_(log),
      host_name_(std::move(host_name)),
      tick_(std::move(tick)) {}

void IoChannel::on_done(iscsi_context*, int status, void*, void* private_data) {
    auto* pending = static_cast<Pending*>(private_data);
    pending->done = true;
    pending->status = status;
}

bool IoChannel::connect(std::string& error) {
    initiator::Context ctx = initiator::create_context(config_.initiator);
    if (!ctx) {
        error = "cannot create an iSCSI context";
        return false;
    }
    iscsi_set_targetname(ctx.get(), config_.target.c_str());
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx.get(), ISCSI_HEADER_DIGEST_NONE_CRC32C);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    // Login and the first TEST UNIT READY use libiscsi's own timer (whole seconds); every later
    // command uses ours.
    const auto seconds = static_cast<int>((config_.io_timeout.count() + 999) / 1000);
    iscsi_set_timeout(ctx.get(), std::max(1, seconds));
    if (iscsi_full_connect_sync(ctx.get(), config_.portal.c_str(), config_.lun) != 0) {
        error = iscsi_get_error(ctx.get());
        while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) {
            error.pop_back();
        }
        return false;
    }
    initiator::Task(iscsi_testunitready_sync(ctx.get(), config_.lun));
    iscsi_set_timeout(ctx.get(), 0);
    ctx_ = std::move(ctx);
    return true;
}

bool IoChannel::reconnect() {
    // After a failed login, the next attempt waits about a second (ESXi's retry cadence).
    const auto now = Clock::now();
    if (now < next_login_) {
        return false;
    }
    stats_.update([](HostCounters& c) { ++c.reconnects; });
    std::string error;
    if (!connect(error)) {
        next_login_ = now + std::min<Clock::duration>(std::chrono::seconds(1), config_.io_timeout);
        log_.line(host_name_, "ScsiDeviceIO", "Login to %s at %s failed: %s",
                  config_.target.c_str(), config_.portal.c_str(), error.c_str());
        return false;
    }
    log_.line(host_name_, "iscsi_vmk", "Session re-established to %s at %s", config_.target.c_str(),
              config_.portal.c_str());
    return true;
}

void IoChannel::drop() {
    ctx_.reset();
}

void IoChannel::logout() {
    if (ctx_) {
        iscsi_set_timeout(ctx_.get(), 2);
        iscsi_logout_sync(ctx_.get());
        ctx_.reset();
    }
}

IoChannel::Wait IoChannel::wait_for(const Pending& pending, Clock::time_point deadline) {
    while (!pending.done) {
        const auto now = Clock::now();
        if (now >= deadline) {
            return Wait::timed_out;
        }
        const auto slice =
            std::clamp<int64_t>(duration_cast<milliseconds>(deadline - now).count() + 1, 1, 50);
        pollfd pfd{iscsi_get_fd(ctx_.get()), static_cast<short>(iscsi_which_events(ctx_.get())), 0};
        const int n = ::poll(&pfd, 1, static_cast<int>(slice));
        if (n < 0 && errno != EINTR) {
            return Wait::broken;
        }
        if (iscsi_service(ctx_.get(), n > 0 ? pfd.revents : 0) < 0) {
            return Wait::broken;
        }
        if (tick_) {
            tick_();
        }
    }
    return Wait::done;
}

// ESXi aborts a command that outlived its timeout with ABORT TASK and, when even that is not
// answered, escalates (a LUN reset, here: a new session).
void IoChannel::abort(scsi_task* task) {
    Pending tmf;
    const bool sent = iscsi_task_mgmt_abort_task_async(ctx_.get(), task, &on_done, &tmf) == 0;
    // libiscsi leaves the aborted command queued: forget it here; a late answer is ignored.
    iscsi_scsi_cancel_task(ctx_.get(), task);
    if (sent && wait_for(tmf, Clock::now() + config_.io_timeout) == Wait::done &&
        tmf.status == SCSI_STATUS_GOOD) {
        return;
    }
    stats_.update([](HostCounters& c) { ++c.aborts_unanswered; });
    log_.line(host_name_, "ScsiDeviceIO",
              "ABORT TASK not answered within %lld ms: dropping the session to %s",
              static_cast<long long>(config_.io_timeout.count()), config_.target.c_str());
    ctx_.reset();
}

IoResult IoChannel::execute(const Issue& issue, bool is_ats) {
    IoResult r;
    for (int reissue = 0;; ++reissue) {
        if (!ctx_ && !reconnect()) {
            stats_.update([](HostCounters& c) { ++c.io_errors; });
            r.error = "not logged in";
            return r;
        }
        Pending pending;
        r.issued = Clock::now();
        initiator::Task task(issue(ctx_.get(), &on_done, &pending));
        if (!task) {
            r.error = iscsi_get_error(ctx_.get());
            ctx_.reset();
            stats_.update([](HostCounters& c) { ++c.io_errors; });
            return r;
        }
        const Wait w = wait_for(pending, r.issued + config_.io_timeout);
        const auto latency = duration_cast<microseconds>(Clock::now() - r.issued).count();
        if (w == Wait::timed_out) {
            stats_.update([](HostCounters& c) { ++c.ats_timeouts; });
            abort(task.get());
            r.status = IoStatus::timeout;
            return r;
        }
        if (w == Wait::broken || pending.status == SCSI_STATUS_CANCELLED ||
            pending.status == SCSI_STATUS_ERROR || pending.status == SCSI_STATUS_TIMEOUT) {
            r.error = w == Wait::broken || pending.status == SCSI_STATUS_CANCELLED
                          ? std::string("the connection was lost")
                          : std::string("session failed: ") + iscsi_get_error(ctx_.get());
            ctx_.reset();  // before `task` is freed: libiscsi may still hold it
            stats_.update([](HostCounters& c) { ++c.io_errors; });
            return r;
        }
        const int status = pending.status;
        if (status == SCSI_STATUS_GOOD) {
            if (task->datain.data != nullptr && task->datain.size > 0) {
                r.data.assign(task->datain.data, task->datain.data + task->datain.size);
            }
            r.status = IoStatus::good;
            if (is_ats) {
                stats_.update([](HostCounters& c) { ++c.ats_successes; });
                stats_.add_latency(static_cast<uint64_t>(latency));
            }
            return r;
        }
        if (status == SCSI_STATUS_CHECK_CONDITION && task->sense.key == SCSI_SENSE_MISCOMPARE) {
            r.status = IoStatus::miscompare;
            r.miscompare_at = initiator::sense_information(task.get());
            stats_.update([](HostCounters& c) { ++c.ats_miscompares; });
            stats_.add_latency(static_cast<uint64_t>(latency));
            return r;
        }
        const bool transient = (status == SCSI_STATUS_CHECK_CONDITION &&
                                task->sense.key == SCSI_SENSE_UNIT_ATTENTION) ||
                               status == SCSI_STATUS_BUSY || status == SCSI_STATUS_TASK_SET_FULL;
        if (transient && reissue < reissues_on_status) {
            if (status != SCSI_STATUS_CHECK_CONDITION) {
                std::this_thread::sleep_for(milliseconds(10));
            }
            continue;
        }
        char what[96];
        std::snprintf(what, sizeof what, "status 0x%02x sense key 0x%x ascq 0x%04x", status,
                      static_cast<unsigned>(task->sense.key),
                      static_cast<unsigned>(task->sense.ascq));
        r.error = what;
        stats_.update([](HostCounters& c) { ++c.io_errors; });
        return r;
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

}  // namespace atsarray::sim
