#include "bench/load_session.hpp"

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <thread>
#include <utility>

namespace atsarray::bench {

void LoadResult::merge(const LoadResult& other) {
    ops += other.ops;
    miscompares += other.miscompares;
    if (other.errors != 0 && errors == 0) {
        first_error = other.first_error;
    }
    errors += other.errors;
    not_supported = not_supported || other.not_supported;
    latency_ns.insert(latency_ns.end(), other.latency_ns.begin(), other.latency_ns.end());
}

double LoadResult::percentile_us(double p) {
    if (latency_ns.empty()) {
        return 0;
    }
    std::sort(latency_ns.begin(), latency_ns.end());
    const auto at = static_cast<size_t>(p / 100.0 * static_cast<double>(latency_ns.size() - 1));
    return static_cast<double>(latency_ns[at]) / 1000.0;
}

double LoadResult::mean_us() const {
    if (latency_ns.empty()) {
        return 0;
    }
    const double sum =
        std::accumulate(latency_ns.begin(), latency_ns.end(), 0.0,
                        [](double a, uint64_t v) { return a + static_cast<double>(v); });
    return sum / static_cast<double>(latency_ns.size()) / 1000.0;
}

bool is_invalid_opcode(int status, const scsi_task* task) {
    return status == SCSI_STATUS_CHECK_CONDITION && task != nullptr &&
           task->sense.key == SCSI_SENSE_ILLEGAL_REQUEST &&
           task->sense.ascq == SCSI_SENSE_ASCQ_INVALID_OPERATION_CODE;
}

std::string describe_failure(iscsi_context* ctx, int status, const scsi_task* task) {
    char buf[160];
    if (status == SCSI_STATUS_CHECK_CONDITION && task != nullptr) {
        std::snprintf(buf, sizeof buf, "CHECK CONDITION key 0x%x asc/ascq 0x%04x (%s)",
                      static_cast<unsigned>(task->sense.key),
                      static_cast<unsigned>(task->sense.ascq),
                      scsi_sense_ascq_str(task->sense.ascq));
        return buf;
    }
    if (status >= 0 && status != SCSI_STATUS_CHECK_CONDITION) {
        std::snprintf(buf, sizeof buf, "status 0x%x", static_cast<unsigned>(status));
        return buf;
    }
    return iscsi_get_error(ctx);
}

Outcome Workload::complete(size_t /*slot*/, iscsi_context* ctx, int status, scsi_task* task,
                           std::string& error) {
    if (status == SCSI_STATUS_GOOD) {
        return Outcome::counted;
    }
    if (is_invalid_opcode(status, task)) {
        return Outcome::not_supported;
    }
    error = describe_failure(ctx, status, task);
    return Outcome::error;
}

LoadSession::LoadSession(std::string portal, std::string target, std::string initiator, int lun,
                         int timeout_s)
    : portal_(std::move(portal)),
      target_(std::move(target)),
      initiator_(std::move(initiator)),
      lun_(lun),
      timeout_s_(timeout_s) {}

bool LoadSession::connect(std::string& error) {
    ctx_ = initiator::login(portal_, target_, initiator_, lun_, timeout_s_, error);
    if (!ctx_) {
        return false;
    }
    // The power-on unit attention of the new I_T nexus.
    initiator::Task(iscsi_testunitready_sync(ctx_.get(), lun_));
    return true;
}

void LoadSession::run(Clock::time_point deadline, int depth, Workload& w, LoadResult& r) {
    workload_ = &w;
    result_ = &r;
    stopped_ = false;
    slots_.assign(static_cast<size_t>(depth), Slot{});
    for (size_t i = 0; i < slots_.size(); ++i) {
        slots_[i].session = this;
        slots_[i].index = i;
    }
    while (true) {
        const bool open = !stopped_ && !w.done() && Clock::now() < deadline;
        if (open) {
            for (Slot& s : slots_) {
                if (w.done() || (!s.busy && !submit(s))) {
                    break;
                }
            }
        }
        if (in_flight_ == 0 && !open) {
            break;
        }
        // The commands just queued are written at once: a socket's send buffer is almost never
        // full, and polling for POLLOUT first would cost every command a poll() for nothing. What
        // the socket does not take stays queued in libiscsi, and the poll below asks for POLLOUT.
        if ((iscsi_which_events(ctx_.get()) & POLLOUT) != 0 &&
            iscsi_service(ctx_.get(), POLLOUT) < 0) {
            fail(iscsi_get_error(ctx_.get()));
            break;
        }
        pollfd p{iscsi_get_fd(ctx_.get()), static_cast<short>(iscsi_which_events(ctx_.get())), 0};
        if (::poll(&p, 1, 100) < 0) {
            continue;
        }
        // Also with no events: iscsi_service() is where libiscsi times commands out.
        if (iscsi_service(ctx_.get(), p.revents) < 0) {
            fail(iscsi_get_error(ctx_.get()));
            break;
        }
    }
    iscsi_logout_sync(ctx_.get());
}

bool LoadSession::submit(Slot& s) {
    s.busy = true;
    s.started = Clock::now();
    if (workload_->submit(ctx_.get(), lun_, s.index, &LoadSession::on_done, &s) == nullptr) {
        s.busy = false;
        fail(iscsi_get_error(ctx_.get()));
        return false;
    }
    ++in_flight_;
    return true;
}

void LoadSession::on_done(iscsi_context* ctx, int status, void* command_data, void* private_data) {
    auto* s = static_cast<Slot*>(private_data);
    auto* task = static_cast<scsi_task*>(command_data);
    LoadSession& self = *s->session;
    const auto latency = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s->started).count());
    --self.in_flight_;
    s->busy = false;
    std::string error;
    switch (self.workload_->complete(s->index, ctx, status, task, error)) {
        case Outcome::counted:
            ++self.result_->ops;
            self.result_->latency_ns.push_back(latency);
            break;
        case Outcome::miscompare:
            ++self.result_->miscompares;
            self.result_->latency_ns.push_back(latency);
            break;
        case Outcome::uncounted:
            break;
        case Outcome::not_supported:
            self.result_->not_supported = true;
            self.stopped_ = true;
            break;
        case Outcome::error:
            self.fail(error);
            break;
    }
    if (task != nullptr) {
        scsi_free_scsi_task(task);
    }
}

void LoadSession::fail(const std::string& why) {
    stopped_ = true;
    if (result_->errors++ == 0) {
        result_->first_error = why;
    }
}

LoadResult run_sessions(std::vector<LoadSession*> sessions, std::vector<Workload*> workloads,
                        double seconds, int depth) {
    std::vector<LoadResult> results(sessions.size());
    const auto start = Clock::now();
    const auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < sessions.size(); ++i) {
        threads.emplace_back(
            [&, i] { sessions[i]->run(deadline, depth, *workloads[i], results[i]); });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    LoadResult merged;
    merged.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (const LoadResult& r : results) {
        merged.merge(r);
    }
    return merged;
}

std::vector<uint8_t> random_data(size_t bytes) {
    std::vector<uint8_t> data(bytes);
    std::mt19937_64 rng(42);
    for (uint8_t& b : data) {
        b = static_cast<uint8_t>(rng() | 1);
    }
    return data;
}

BlockIo::BlockIo(const Spec& spec, const std::vector<uint8_t>& data, int depth)
    : spec_(spec), data_(data), rng_(spec.seed), next_(spec.begin) {
    if (spec.sequential && spec.passes != 0) {
        limit_ = spec.passes * ((spec.end - spec.begin) / spec.io_bytes);
    }
    if (!spec.write) {
        read_buffers_.assign(static_cast<size_t>(depth), std::vector<uint8_t>(spec.io_bytes));
        read_iovecs_.resize(static_cast<size_t>(depth));
    }
}

uint64_t BlockIo::next_offset() {
    const uint64_t io = spec_.io_bytes;
    if (spec_.sequential) {
        if (next_ + io > spec_.end) {
            next_ = spec_.begin;
        }
        const uint64_t at = next_;
        next_ += io;
        return at;
    }
    std::uniform_int_distribution<uint64_t> pick(0, (spec_.end - spec_.begin - io) / io);
    return spec_.begin + pick(rng_) * io;
}

scsi_task* BlockIo::submit(iscsi_context* ctx, int lun, size_t slot, iscsi_command_cb cb,
                           void* private_data) {
    const uint64_t offset = next_offset();
    ++issued_;
    const uint64_t lba = offset / spec_.block_size;
    const auto bs = static_cast<int>(spec_.block_size);
    if (spec_.write) {
        // A copy lays `data` onto the LUN; otherwise any window of the random buffer will do.
        const size_t from = static_cast<size_t>(spec_.data_follows_offset
                                                    ? offset - spec_.data_origin
                                                    : offset % (data_.size() - spec_.io_bytes));
        return iscsi_write16_task(ctx, lun, lba, const_cast<unsigned char*>(data_.data() + from),
                                  spec_.io_bytes, bs, 0, 0, 0, 0, 0, cb, private_data);
    }
    // Into the slot's own buffer: libiscsi allocates nothing per read.
    read_iovecs_[slot] = scsi_iovec{read_buffers_[slot].data(), spec_.io_bytes};
    return iscsi_read16_iov_task(ctx, lun, lba, spec_.io_bytes, bs, 0, 0, 0, 0, 0, cb, private_data,
                                 &read_iovecs_[slot], 1);
}

}  // namespace atsarray::bench
