// The replay engine (tools/replay/engine.hpp).
#include "tools/replay/engine.hpp"

#include <poll.h>

#include <algorithm>
#include <chrono>

#include "formats/trace_json.hpp"
#include "tools/replay/seed.hpp"

namespace atsarray::replay {
namespace {

// A fresh login may owe several unit attentions (power on, reported LUNs changed, ...).
constexpr int unit_attention_attempts = 10;
// The poll loop wakes at least this often so libiscsi's command timeouts run.
constexpr int max_poll_ms = 100;

int transfer_direction(trace::Direction d) {
    switch (d) {
        case trace::Direction::write:
            return SCSI_XFER_WRITE;
        case trace::Direction::read:
            return SCSI_XFER_READ;
        case trace::Direction::none:
            break;
    }
    return SCSI_XFER_NONE;
}

// The sense libiscsi keeps in datain after the 2-byte SenseLength (RFC 7143 §11.4.7.2).
std::vector<uint8_t> sense_of(const scsi_task* task) {
    if (task->datain.data == nullptr || task->datain.size < 2) {
        return {};
    }
    const size_t length = size_t{task->datain.data[0]} << 8 | task->datain.data[1];
    const size_t kept = std::min<size_t>(length, task->datain.size - 2);
    return {task->datain.data + 2, task->datain.data + 2 + kept};
}

Outcome outcome_of(iscsi_context* ctx, int status, const scsi_task* task) {
    Outcome o;
    if (status == SCSI_STATUS_CANCELLED || status == SCSI_STATUS_ERROR ||
        status == SCSI_STATUS_TIMEOUT || task == nullptr || status > 0xff) {
        o.error = status == SCSI_STATUS_TIMEOUT ? std::string("timed out")
                                                : std::string(iscsi_get_error(ctx));
        return o;
    }
    o.answered = true;
    o.status = static_cast<uint8_t>(status);
    if (status == SCSI_STATUS_CHECK_CONDITION) {
        o.sense = sense_of(task);
    } else if (task->datain.data != nullptr) {
        const std::span<const uint8_t> data(task->datain.data, task->datain.size);
        o.data_in_length = static_cast<uint32_t>(data.size());
        o.data_in_crc32c = trace::crc32c(data);
    }
    return o;
}

}  // namespace

void Engine::on_status(iscsi_context* /*ctx*/, int status, void* /*command_data*/,
                       void* private_data) {
    auto* f = static_cast<InFlight*>(private_data);
    f->engine->complete(f->command, status);
}

Engine::Engine(const trace::Trace& trace, const Options& options)
    : trace_(trace),
      options_(options),
      outcomes_(trace.commands.size()),
      in_flight_(trace.commands.size()),
      lost_(trace.sessions.size()) {}

Engine::~Engine() {
    for (uint32_t i = 0; i < sessions_.size(); ++i) {
        if (lost_[i].empty() && pending_ == 0) {
            sessions_[i]->logout();
        }
    }
    // Closing a context completes its commands (CANCELLED) through complete(): the entries they
    // use must still be there.
    sessions_.clear();
}

bool Engine::prepare() {
    return login_all() && (!options_.seed || seed());
}

bool Engine::login_all() {
    for (uint32_t i = 0; i < trace_.sessions.size(); ++i) {
        const trace::Session& recorded = trace_.sessions[i];
        // The LUNs this session's commands go to, mapped; the first one is its login LUN.
        std::vector<uint64_t> luns;
        for (const trace::Command& c : trace_.commands) {
            const uint64_t lun = options_.map_lun(c.lun);
            if (c.session == i && std::find(luns.begin(), luns.end(), lun) == luns.end()) {
                luns.push_back(lun);
            }
        }
        const std::string target = !options_.target.empty()   ? options_.target
                                   : !recorded.target.empty() ? recorded.target
                                                              : trace_.target;
        auto session = std::make_unique<ReplaySession>(i, recorded);
        labels_.push_back(session->label());
        if (!session->login(options_.portal, target,
                            luns.empty() ? options_.map_lun(0) : luns.front())) {
            error_ = "cannot log in session " + std::to_string(i) + " (" + session->label() +
                     ") to " + target + " at " + options_.portal + ": " + session->error();
            return false;
        }
        if (!session->isid_exact()) {
            notes_.push_back("session " + std::to_string(i) + " (" + session->label() +
                             "): libiscsi cannot set this ISID exactly; logged in with the "
                             "nearest of its type");
        }
        for (const uint64_t lun : luns) {
            if (!session->clear_unit_attentions(lun, unit_attention_attempts)) {
                error_ = "session " + std::to_string(i) + " (" + session->label() +
                         "): " + session->error();
                return false;
            }
        }
        sessions_.push_back(std::move(session));
    }
    return true;
}

bool Engine::seed() {
    const std::vector<SeedBlock> blocks = seed_blocks(trace_);
    if (blocks.empty()) {
        return true;
    }
    if (sessions_.empty()) {
        error_ = "--seed: the trace has no session to write the seed images on";
        return false;
    }
    // Seed writes go on the session of a command that used the LUN: the target may export a LUN
    // to some initiators only.
    for (const SeedBlock& b : blocks) {
        ReplaySession* session = sessions_.front().get();
        for (const trace::Command& c : trace_.commands) {
            if (c.lun == b.lun) {
                session = sessions_[c.session].get();
                break;
            }
        }
        if (!session->write_block(options_.map_lun(b.lun), b.lba, b.image)) {
            error_ = "--seed: session " + std::to_string(session->index()) + " (" +
                     session->label() + "): " + session->error();
            return false;
        }
    }
    notes_.push_back("seeded " + std::to_string(blocks.size()) + " block(s)");
    return true;
}

void Engine::run() {
    if (options_.ordered) {
        run_ordered(ordered_schedule(trace_));
    } else {
        run_timed(timed_schedule(trace_, options_.speed));
    }
}

void Engine::run_timed(const std::vector<Scheduled>& schedule) {
    const auto start = std::chrono::steady_clock::now();
    size_t next = 0;
    while (next < schedule.size() || pending_ > 0) {
        const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - start)
                                   .count();
        while (next < schedule.size() && schedule[next].send_at_us <= now_us) {
            send(schedule[next++].command);
        }
        int timeout_ms = max_poll_ms;
        if (next < schedule.size()) {
            const int64_t wait_us = schedule[next].send_at_us - now_us;
            timeout_ms =
                static_cast<int>(std::clamp<int64_t>((wait_us + 999) / 1000, 0, max_poll_ms));
        }
        pump(timeout_ms);
    }
}

void Engine::run_ordered(const std::vector<Scheduled>& schedule) {
    for (const Scheduled& s : schedule) {
        send(s.command);
        while (pending_ > 0) {
            pump(max_poll_ms);
        }
    }
}

void Engine::send(size_t command) {
    const trace::Command& c = trace_.commands[command];
    if (!replayable(c)) {
        return;
    }
    if (!lost_[c.session].empty()) {
        fail(command, lost_[c.session]);
        return;
    }
    InFlight& f = in_flight_[command];
    f.engine = this;
    f.command = command;
    std::vector<uint8_t> cdb = c.cdb;
    f.task.reset(scsi_create_task(static_cast<int>(cdb.size()), cdb.data(),
                                  transfer_direction(c.direction),
                                  static_cast<int>(c.expected_transfer_length)));
    if (!f.task) {
        fail(command, "out of memory");
        return;
    }
    // libiscsi sends from this buffer without copying it: the trace outlives the command.
    iscsi_data data{c.data_out.size(), const_cast<uint8_t*>(c.data_out.data())};
    iscsi_data* out = c.data_out.empty() ? nullptr : &data;
    iscsi_context* ctx = sessions_[c.session]->context();
    ++pending_;
    if (iscsi_scsi_command_async(ctx, static_cast<int>(options_.map_lun(c.lun)), f.task.get(),
                                 on_status, out, &f) != 0) {
        --pending_;
        f.task.reset();
        fail(command, iscsi_get_error(ctx));
    }
}

void Engine::complete(size_t command, int status) {
    InFlight& f = in_flight_[command];
    if (!f.task) {
        return;
    }
    if (!outcomes_[command]) {
        const uint32_t session = trace_.commands[command].session;
        outcomes_[command] = outcome_of(sessions_[session]->context(), status, f.task.get());
        --pending_;
    }
    f.task.reset();
}

void Engine::fail(size_t command, const std::string& why) {
    Outcome o;
    o.error = why;
    outcomes_[command] = o;
}

void Engine::pump(int timeout_ms) {
    std::vector<pollfd> fds;
    std::vector<uint32_t> owners;
    for (uint32_t i = 0; i < sessions_.size(); ++i) {
        if (lost_[i].empty()) {
            iscsi_context* ctx = sessions_[i]->context();
            fds.push_back({iscsi_get_fd(ctx), static_cast<short>(iscsi_which_events(ctx)), 0});
            owners.push_back(i);
        }
    }
    // With every session lost this only waits: the schedule's later commands fail at their time.
    ::poll(fds.data(), fds.size(), timeout_ms);
    for (size_t i = 0; i < fds.size(); ++i) {
        // revents 0 still runs libiscsi's timeout scan.
        if (iscsi_service(sessions_[owners[i]]->context(), fds[i].revents) < 0) {
            lose_session(owners[i], iscsi_get_error(sessions_[owners[i]]->context()));
        }
    }
}

// A session whose connection failed: its commands in flight get no status, nor do its later
// ones (the replay does not log in again: a new session would replay something else).
void Engine::lose_session(uint32_t session, const std::string& why) {
    lost_[session] = "session lost: " + why;
    for (size_t i = 0; i < in_flight_.size(); ++i) {
        if (in_flight_[i].task && trace_.commands[i].session == session && !outcomes_[i]) {
            fail(i, lost_[session]);
            --pending_;
        }
    }
}

}  // namespace atsarray::replay
