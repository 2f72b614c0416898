#pragma once
// The tasks of one connection (RFC 7143 §11.3-§11.8, §10.7): SCSI Command intake (CDB, AHS,
// immediate data), R2T solicitation and Data-Out sequencing, and the Data-In and SCSI Response
// PDUs of a finished command. Tasks are pooled and keep their buffers' capacity. Queues what it
// answers into the connection's SendQueue; knows nothing of sockets or the SCSI layer's insides.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "target/iscsi/command_window.hpp"
#include "target/iscsi/params.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/send_queue.hpp"
#include "target/iscsi/task.hpp"

namespace atsarray::iscsi {

// Queues a Reject (RFC 7143 §11.17) carrying the rejected header.
OutPdu& queue_reject(SendQueue& tx, CommandWindow& window, const Bhs& rejected,
                     RejectReason reason);

class BufferBudget;

// How much a connection's tasks may hold and how many immediate commands may be outstanding.
struct TaskLimits {
    uint32_t max_data_out = 16U << 20;     // the largest Data-Out one command may bring
    uint64_t buffer_bytes = 64ULL << 20;   // what admitted tasks may hold together
    uint32_t max_immediate_commands = 16;  // RFC 7143 §3.2.2.1
    // A connection holding nothing always runs its next command, whatever its own budget says;
    // past a full daemon budget only one this small goes (an ATS, a metadata read), so N idle
    // connections cannot each take the largest command beyond the daemon's budget.
    uint64_t lone_command_bytes = 256 * 1024;
};

class TaskManager {
  public:
    // `params` are the session's (they change once, when the login completes). `budget` is the
    // daemon's, shared by every connection.
    TaskManager(SendQueue& tx, CommandWindow& window, TransferTags& tags,
                const SessionParams& params, const TaskLimits& limits, BufferBudget& budget,
                const std::string& peer);
    ~TaskManager();
    TaskManager(const TaskManager&) = delete;
    TaskManager& operator=(const TaskManager&) = delete;

    // A SCSI Command PDU the command window accepted. Returns the task when it is ready to
    // execute; nullptr when it was rejected, waits for Data-Out (R2Ts queued), or waits for
    // buffer room (admission: a read's data and a write's solicited data count against the
    // connection's and the daemon's budgets; one that does not fit waits its turn, in order).
    Task* on_scsi_command(const PduView& pdu);
    // A Data-Out PDU. Returns the task when its data is complete.
    Task* on_data_out(const PduView& pdu);
    // A data digest error on a Data-Out (RFC 7143 §7.8): the task it belongs to ends.
    void on_data_digest_error(const Bhs& bhs);

    // The command finished: its Data-In and SCSI Response are queued, the last one returns the
    // task to the pool once written.
    void queue_result(Task* task);
    // Ends a task without an answer (aborted, data sequence error, fault injection): it leaves
    // the table and its CmdSN slot opens again.
    void drop(Task* task);
    // Returns a task to the pool without touching the window (connection gone).
    void forget(Task* task);
    void release(Task* task);
    // Admits waiting tasks while there is room, queueing R2Ts for writes. Returns the tasks that
    // are ready to execute (reads, and writes whose data is all there).
    std::vector<Task*> admit_waiting();
    // Tasks waiting for room; true when room will come only from other connections.
    bool has_waiting() const { return !waiting_.empty(); }
    bool blocked_by_daemon_budget() const;
    // Bytes this connection's tasks hold.
    uint64_t held_bytes() const { return held_bytes_; }

    Task* find(uint32_t itt) const;
    bool empty() const { return tasks_.empty(); }
    // Tasks taken from the pool and not yet returned; read from any thread.
    uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

    // Every task `match` selects.
    template <typename Match>
    std::vector<Task*> select(const Match& match) const {
        std::vector<Task*> selected;
        for (const auto& [itt, task] : tasks_) {
            if (match(*task)) {
                selected.push_back(task);
            }
        }
        return selected;
    }

  private:
    Task* acquire();
    // What admitting `task` adds at most: a read's Data-In, a write's data still to solicit.
    static uint64_t admission_bytes(const Task& task);
    bool can_admit(const Task& task) const;
    // Admits `task`; returns it when it is ready to execute.
    Task* admit(Task* task);
    void hold(Task& task, uint64_t bytes);
    void unhold(Task& task, uint64_t bytes);
    // Reads the CDB from the BHS and the Extended CDB AHS (RFC 7143 §11.3.5); false when the
    // AHS is malformed.
    static bool read_cdb(const PduView& pdu, Task& task);
    void solicit_data(Task* task);
    void reject(const Bhs& bhs, RejectReason reason) { queue_reject(tx_, window_, bhs, reason); }

    SendQueue& tx_;
    CommandWindow& window_;
    TransferTags& tags_;
    const SessionParams& params_;
    const TaskLimits& limits_;
    BufferBudget& budget_;
    const std::string& peer_;

    std::unordered_map<uint32_t, Task*> tasks_;  // by ITT
    std::vector<std::unique_ptr<Task>> pool_;
    std::vector<Task*> free_;
    std::atomic<uint32_t> in_flight_{0};
    std::vector<Task*> waiting_;  // for admission, oldest first
    uint64_t held_bytes_ = 0;
    uint32_t admitted_ = 0;
    uint32_t immediate_ = 0;  // immediate commands taken from the pool, not yet returned
};

}  // namespace atsarray::iscsi
