#pragma once
// ATS and I/O accounting (esxtop's ATS, ATSF, AAVG/suc, AAVG/f, and more): recorded once per
// finished command at task completion, into the recording thread's shard, merged when read. The
// console, the metrics export and the tests read snapshots through this API.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "target/ats/histogram.hpp"

namespace atsarray::ats {

enum class Op : uint8_t { read = 0, write = 1, ats = 2, other = 3 };
inline constexpr size_t op_count = 4;
std::string_view to_string(Op op);

enum class AtsResult : uint8_t { success, miscompare, error };

// One finished command, as the SCSI layer saw it.
struct CommandRecord {
    std::string_view target;
    uint64_t lun = 0;
    std::string_view initiator_name;  // IQN
    std::string_view initiator_port;  // IQN + ",i,0x" + ISID: one I_T nexus
    std::string_view address;         // peer ip:port
    Op op = Op::other;
    bool failed = false;  // status other than GOOD / CONDITION MET
    uint64_t latency_us = 0;
    uint64_t lock_wait_us = 0;  // time queued in the LBA lock table
    // COMPARE AND WRITE only.
    AtsResult ats_result = AtsResult::success;
    bool injected = false;  // outcome forced by fault injection (a later issue), not the data
    uint64_t lba = 0;
    uint32_t miscompare_offset = 0;     // first differing byte (sense INFORMATION)
    std::span<const uint8_t> expected;  // the initiator's compare image (first bytes)
    std::span<const uint8_t> actual;    // what the medium held
    // A genuine miscompare where the medium already held this ATS's own set image: an earlier
    // attempt of the same ATS (aborted or timed out) landed late (VMFS-ATS.md, KB 2113956).
    bool late_retry = false;
};

struct AtsCounters {
    uint64_t successes = 0;
    uint64_t miscompares = 0;             // genuine: the medium differed
    uint64_t injected_miscompares = 0;    // forced by fault injection
    uint64_t late_retry_miscompares = 0;  // genuine, against the ATS's own earlier write
    uint64_t errors = 0;                  // other CHECK CONDITIONs, BUSY, ...
    Histogram latency_success;            // AAVG/suc
    Histogram latency_failure;            // AAVG/f
    Histogram lock_wait;

    void merge(const AtsCounters& o);
};

struct IoCounters {
    std::array<uint64_t, op_count> commands{};
    std::array<uint64_t, op_count> errors{};
    std::array<Histogram, op_count> latency;

    void merge(const IoCounters& o);
};

struct InitiatorIdentity {
    std::string initiator_name;
    std::string initiator_port;
    std::string address;
};

struct HotBlock {
    std::string target;
    uint64_t lun = 0;
    uint64_t lba = 0;
    uint64_t miscompares = 0;
    uint64_t successes = 0;
    uint32_t last_offset = 0;
    bool last_late_retry = false;  // the last miscompare met its own set image
    uint64_t late_retries = 0;
    std::vector<uint8_t> last_expected;  // at most image_bytes
    std::vector<uint8_t> last_actual;
    std::string last_initiator;           // initiator port of the last miscompare
    std::vector<std::string> initiators;  // every initiator port that ran ATS on the block
    std::chrono::system_clock::time_point last_miscompare{};
};

struct Snapshot {
    // (target, LUN)
    std::map<std::pair<std::string, uint64_t>, AtsCounters> ats_per_lun;
    // (target, LUN, initiator port)
    std::map<std::tuple<std::string, uint64_t, std::string>, AtsCounters> ats_per_initiator;
    std::map<std::string, InitiatorIdentity> initiators;  // by initiator port
    std::map<std::string, IoCounters> io_per_initiator;   // by initiator port
    std::vector<HotBlock> hot_blocks;                     // most miscompares first
};

class Registry {
  public:
    // Bytes of the expected/actual images kept per hot block: one VMFS heartbeat slot or lock
    // sector (../shared/VMFS-ATS.md).
    static constexpr size_t image_bytes = 512;

    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    void record(const CommandRecord& r);
    Snapshot snapshot(size_t hot_block_limit = 20) const;

  private:
    struct Shard;
    Shard& local_shard();

    mutable std::mutex shards_mutex_;
    std::vector<std::unique_ptr<Shard>> shards_;
    const uint64_t id_;  // tells registries apart in the thread-local shard cache
};

}  // namespace atsarray::ats
