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
void queue_reject(SendQueue& tx, CommandWindow& window, const Bhs& rejected, RejectReason reason);

class TaskManager {
  public:
    // `params` are the session's (they change once, when the login completes); `max_data_out`
    // is the largest Data-Out one command may bring.
    TaskManager(SendQueue& tx, CommandWindow& window, TransferTags& tags,
                const SessionParams& params, uint32_t max_data_out, const std::string& peer);
    TaskManager(const TaskManager&) = delete;
    TaskManager& operator=(const TaskManager&) = delete;

    // A SCSI Command PDU the command window accepted. Returns the task when it is ready to
    // execute; nullptr when it was rejected or waits for Data-Out (R2Ts queued).
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
    // Reads the CDB from the BHS and the Extended CDB AHS (RFC 7143 §11.3.5); false when the
    // AHS is malformed.
    static bool read_cdb(const PduView& pdu, Task& task);
    void solicit_data(Task* task);
    void reject(const Bhs& bhs, RejectReason reason) { queue_reject(tx_, window_, bhs, reason); }

    SendQueue& tx_;
    CommandWindow& window_;
    TransferTags& tags_;
    const SessionParams& params_;
    const uint32_t max_data_out_;
    const std::string& peer_;

    std::unordered_map<uint32_t, Task*> tasks_;  // by ITT
    std::vector<std::unique_ptr<Task>> pool_;
    std::vector<Task*> free_;
    std::atomic<uint32_t> in_flight_{0};
};

}  // namespace atsarray::iscsi
