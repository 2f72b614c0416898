#pragma once
// One iSCSI session that keeps a fixed number of commands in flight with libiscsi's asynchronous
// API (iscsi_*_task, iscsi_service on poll), and the block I/O workload the load generators share:
// bench/store_bench (writes per store) and bench/io_bench (the comparison with tgt).
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tools/libiscsi_handles.hpp"

namespace atsarray::bench {

using Clock = std::chrono::steady_clock;

// What one finished command counts as.
enum class Outcome {
    counted,        // the operation the workload measures (latency recorded)
    miscompare,     // COMPARE AND WRITE answered MISCOMPARE (latency recorded)
    uncounted,      // a helper command, e.g. the READ that refreshes an ATS compare image
    not_supported,  // ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE: the session stops
    error,          // anything else: the session stops
};

struct LoadResult {
    uint64_t ops = 0;
    uint64_t miscompares = 0;
    uint64_t errors = 0;
    bool not_supported = false;
    std::string first_error;
    std::vector<uint64_t> latency_ns;  // one per counted command and miscompare
    double seconds = 0;                // from the common start to the last completion

    void merge(const LoadResult& other);
    // The p-th percentile (0..100) of latency_ns in microseconds; sorts latency_ns.
    double percentile_us(double p);
    double mean_us() const;
};

// What a session issues. One object per session, used on that session's thread only.
class Workload {
  public:
    virtual ~Workload() = default;
    // Queues slot `slot`'s next command on `ctx` with `cb` and `private_data`; nullptr when
    // libiscsi refused it.
    virtual scsi_task* submit(iscsi_context* ctx, int lun, size_t slot, iscsi_command_cb cb,
                              void* private_data) = 0;
    // What slot `slot`'s finished command counts as; `status` is libiscsi's callback status and
    // `task` may be nullptr. The default: GOOD is counted, an invalid operation code is
    // not_supported, anything else an error described in `error`.
    virtual Outcome complete(size_t slot, iscsi_context* ctx, int status, scsi_task* task,
                             std::string& error);
    // True once the workload has issued every command it has (a one-pass fill); the session
    // then submits nothing more and ends when those in flight complete.
    virtual bool done() const { return false; }
};

// "CHECK CONDITION key 0x5 asc/ascq 0x2000 (...)", "status 0x8" or libiscsi's error text.
std::string describe_failure(iscsi_context* ctx, int status, const scsi_task* task);
bool is_invalid_opcode(int status, const scsi_task* task);

class LoadSession {
  public:
    LoadSession(std::string portal, std::string target, std::string initiator, int lun,
                int timeout_s);
    LoadSession(const LoadSession&) = delete;
    LoadSession& operator=(const LoadSession&) = delete;

    // Logs in and clears the power-on unit attention of the new I_T nexus.
    bool connect(std::string& error);
    iscsi_context* context() const { return ctx_.get(); }

    // Keeps `depth` commands of `w` in flight until `deadline` (or the first error), waits for
    // those in flight, then logs out. Adds to `r` (ops, latency, errors), not its seconds.
    void run(Clock::time_point deadline, int depth, Workload& w, LoadResult& r);

  private:
    struct Slot {
        LoadSession* session = nullptr;
        size_t index = 0;
        bool busy = false;
        Clock::time_point started;
    };
    bool submit(Slot& s);
    void fail(const std::string& why);
    static void on_done(iscsi_context* ctx, int status, void* command_data, void* private_data);

    std::string portal_;
    std::string target_;
    std::string initiator_;
    int lun_;
    int timeout_s_;
    initiator::Context ctx_;
    std::vector<Slot> slots_;
    Workload* workload_ = nullptr;
    LoadResult* result_ = nullptr;
    int in_flight_ = 0;
    bool stopped_ = false;
};

// Starts every session's run() on its own thread at once (all are logged in before the clock
// starts) and returns their merged result with the elapsed seconds.
LoadResult run_sessions(std::vector<LoadSession*> sessions, std::vector<Workload*> workloads,
                        double seconds, int depth);

// `bytes` of random data with no zero byte: no block is all zeros (RocksDB would store it as no
// key) and nothing for lz4 to compress.
std::vector<uint8_t> random_data(size_t bytes);

// READ(16) or WRITE(16) of io_bytes at random io_bytes-aligned offsets in [begin, end), or at
// increasing offsets wrapping at end (after `passes` passes, if not 0, the workload is done).
// Writes send windows of `data` (random_data()), or with `data_follows_offset` the bytes of
// `data` at (offset - data_origin): a copy of `data` onto the LUN. Reads land in a buffer per
// slot.
class BlockIo : public Workload {
  public:
    struct Spec {
        bool write = false;
        bool sequential = false;
        uint32_t io_bytes = 4096;
        uint32_t block_size = 512;
        uint64_t begin = 0;  // bytes
        uint64_t end = 0;
        uint64_t seed = 1;
        uint64_t passes = 0;  // sequential only; 0 = until the deadline
        bool data_follows_offset = false;
        uint64_t data_origin = 0;  // bytes: the LUN offset of data[0]
    };
    BlockIo(const Spec& spec, const std::vector<uint8_t>& data, int depth);
    scsi_task* submit(iscsi_context* ctx, int lun, size_t slot, iscsi_command_cb cb,
                      void* private_data) override;
    bool done() const override { return limit_ != 0 && issued_ >= limit_; }

  private:
    uint64_t next_offset();

    Spec spec_;
    const std::vector<uint8_t>& data_;
    std::vector<std::vector<uint8_t>> read_buffers_;
    std::vector<scsi_iovec> read_iovecs_;
    std::mt19937_64 rng_;
    uint64_t next_ = 0;
    uint64_t issued_ = 0;
    uint64_t limit_ = 0;  // commands in `passes` passes; 0 = no limit
};

}  // namespace atsarray::bench
