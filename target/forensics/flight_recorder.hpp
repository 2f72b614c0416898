#pragma once
// The ATS flight recorder (issue 16): for every block an ATS (COMPARE AND WRITE) touched, a
// bounded history of every command that read, compared or changed it, and for each miscompare
// the cause, computed from that history, with a sentence an engineer can act on.
//
// The I/O threads only hand notes over (note(), a short critical section that moves the note into
// a bounded queue); one recorder thread folds them into the per-block histories, deduplicates the
// images and explains the miscompares. When the queue is full a note is dropped and counted, and
// a miscompare whose history lost a note says so instead of guessing.
//
// Which blocks are recorded: a block becomes tracked when an ATS on it is noted; from then on
// every command on it is (tracks() tells the I/O path, without a lock, whether a range holds a
// tracked block, so that only those commands copy their data). Blocks, entries per block and
// image bytes are bounded (RecorderSettings); the least recently touched block goes first.
//
// Causes (issue 16, ../shared/VMFS-ATS.md):
//   injected    a fault rule forced the miscompare (named);
//   late_retry  the block holds this initiator's own set image from an earlier ATS whose status
//               it never saw (aborted, dropped): its retry compares against its own write (VMware
//               KB 2113956);
//   failover    the write that replaced the image the host compared came from the same initiator
//               on another path (another I_T nexus or target port group): a stale in-flight write;
//   contention  that write came from another initiator, after this host's last read of the block
//               (named, with its time and path);
//   stale_read  the host compared an image that had already been replaced when it last read the
//               block: its read was stale (a cache, or a stale_read fault rule, named when so);
//   unknown     the history does not reach back far enough (evicted or dropped notes), and the
//               explanation says which.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace atsarray::forensics {

using SystemTime = std::chrono::system_clock::time_point;

enum class CommandKind : uint8_t { read, write, write_same, unmap, xcopy, ats, other_write };
std::string_view to_string(CommandKind kind);

enum class Outcome : uint8_t {
    good,
    miscompare,           // genuine: the medium differed from the compare image
    injected_miscompare,  // a fault rule answered MISCOMPARE
    error,                // another CHECK CONDITION, BUSY, ...
    aborted,              // ended by task management or I_T nexus loss
};
std::string_view to_string(Outcome outcome);

enum class Cause : uint8_t {
    none,
    injected,
    late_retry,
    failover,
    contention,
    stale_read,
    unknown
};
std::string_view to_string(Cause cause);

// Who sent a command and on which path.
struct Origin {
    std::string initiator_name;         // IQN
    std::string initiator_port;         // "IQN,i,0xISID": the I_T nexus's initiator side
    std::string address;                // peer ip:port
    uint64_t nexus_id = 0;              // unique per I_T nexus in the process
    uint16_t relative_target_port = 1;  // the path: its port (and so its target port group)
};

// One finished command on a tracked block (or an ATS), as the SCSI layer hands it over at status
// time. Images are of the command's first block of interest, at most one block each.
struct CommandNote {
    uint64_t lun_key = 0;  // unique per LUN in the process (scsi::Lun::lock_key)
    std::string target;
    uint64_t lun = 0;
    uint32_t block_size = 512;
    Origin origin;
    uint32_t itt = 0;  // the iSCSI Initiator Task Tag
    uint32_t cmd_sn = 0;
    CommandKind kind = CommandKind::read;
    uint64_t lba = 0;
    uint32_t blocks = 0;
    SystemTime arrived{};   // the SCSI layer received it
    SystemTime started{};   // it got its LBA locks and touched the medium
    SystemTime answered{};  // status handed to the transport
    Outcome outcome = Outcome::good;
    uint32_t miscompare_offset = 0;  // genuine miscompare: the first differing byte
    std::string fault_rule;          // the fault rule that acted on it, when one did
    uint64_t lock_wait_us = 0;
    // The order the command reached the medium in, stamped when it got its LBA locks (increasing
    // over the process; 0: none). Notes are handed over at status time, and a command's status
    // may come after that of a later command on the same block: histories are kept in this
    // order, and a miscompare is explained once the notes of the commands before it are in.
    uint64_t order = 0;
    // False when the initiator never got the status: dropped by a fault, aborted, or its
    // connection closed first.
    bool status_seen = true;
    // ATS: the compare image, what the medium held before (equal to `compare` on success; on a
    // miscompare the medium's image), the set image (written on success). WRITE / WRITE SAME:
    // `data` holds every block written (blocks x block_size; WRITE SAME: one block). READ: the
    // image returned (the first tracked block's, so a stale read is seen). UNMAP: nothing (the
    // blocks read zeros afterwards). XCOPY: nothing (the image is the source's, unknown here).
    std::vector<uint8_t> compare;
    std::vector<uint8_t> on_disk;
    std::vector<uint8_t> set;
    std::vector<uint8_t> data;
};

struct RecorderSettings {
    bool enabled = true;
    size_t max_blocks = 4096;           // tracked blocks, over every LUN
    size_t entries_per_block = 64;      // history entries per block, the oldest dropped first
    size_t max_image_bytes = 64 << 20;  // distinct images kept, over every block
    size_t queue_notes = 16384;         // notes waiting for the recorder thread
};

// An image kept once however many entries refer to it.
using ImageId = uint64_t;  // 0: none

// One command in a block's history.
struct HistoryEntry {
    uint64_t seq = 0;    // the recorder's, in the order the notes came in
    uint64_t order = 0;  // CommandNote::order: the history is sorted by it
    CommandKind kind = CommandKind::read;
    Origin origin;
    uint32_t itt = 0;
    uint32_t cmd_sn = 0;
    uint64_t lba = 0;  // the command's first LBA (the block may lie inside its range)
    uint32_t blocks = 0;
    SystemTime arrived{}, started{}, answered{};
    Outcome outcome = Outcome::good;
    uint32_t miscompare_offset = 0;
    std::string fault_rule;
    uint64_t lock_wait_us = 0;
    bool status_seen = true;
    // This block's images: ATS compare / on-disk / set; a write's new image is `set`; a read's
    // returned image is `on_disk`.
    ImageId compare = 0, on_disk = 0, set = 0;
    // A miscompare's cause, its sentence, and the entry that explains it when there is one: the
    // write that changed the block (contention, failover), late_retry's earlier ATS, stale_read's
    // stale read.
    Cause cause = Cause::none;
    std::string explanation;
    std::optional<uint64_t> culprit_seq;
    // That entry as it was when the miscompare was explained: on a busy block it leaves the
    // history before the miscompare does.
    std::shared_ptr<const HistoryEntry> culprit;
};

struct BlockHistory {
    std::string target;
    uint64_t lun = 0;
    uint64_t lba = 0;
    uint32_t block_size = 512;
    std::vector<HistoryEntry> entries;  // oldest first
    bool truncated = false;             // older entries were dropped (entries_per_block)
};

// A miscompare with its cause, as the recorder thread explained it.
struct Explained {
    std::string target;
    uint64_t lun = 0;
    uint64_t lba = 0;
    HistoryEntry entry;                   // the miscompare
    std::optional<HistoryEntry> culprit;  // the entry that explains it
};

struct RecorderStats {
    uint64_t notes = 0;            // noted and folded in
    uint64_t dropped_notes = 0;    // the queue was full
    uint64_t evicted_blocks = 0;   // max_blocks or max_image_bytes
    uint64_t dropped_entries = 0;  // entries_per_block
    size_t blocks = 0;
    size_t entries = 0;
    size_t images = 0;
    size_t image_bytes = 0;
    std::map<Cause, uint64_t> causes;  // miscompares explained, by cause
};

class FlightRecorder {
  public:
    explicit FlightRecorder(RecorderSettings settings = {});
    ~FlightRecorder();  // stops the thread; notes still queued are folded in first
    FlightRecorder(const FlightRecorder&) = delete;
    FlightRecorder& operator=(const FlightRecorder&) = delete;

    const RecorderSettings& settings() const { return settings_; }

    // The I/O path: true when [lba, lba + blocks) of the LUN holds a tracked block (no lock; a
    // block tracked a moment ago may be missed once, which the history then shows as a gap).
    bool tracks(uint64_t lun_key, uint64_t lba, uint64_t blocks) const;
    // Any thread: queues the note (an ATS always; other commands when tracks() said so). Never
    // blocks on the recorder thread; a full queue drops it and counts it.
    void note(CommandNote note);

    // Called on the recorder thread for every miscompare explained (the daemon logs it and
    // makes an event of it). Set before the first note.
    void on_explained(std::function<void(const Explained&)> callback);

    // Waits until every note queued before the call is folded in (tests, exports), their
    // on_explained calls included; so never from on_explained itself, which would wait for itself.
    void settle();

    std::optional<BlockHistory> history(std::string_view target, uint64_t lun, uint64_t lba) const;
    // The tracked blocks of a LUN (every LUN when `target` is empty), most recently touched first.
    struct BlockSummary {
        std::string target;
        uint64_t lun = 0;
        uint64_t lba = 0;
        size_t entries = 0;
        uint64_t ats = 0;
        uint64_t miscompares = 0;
        SystemTime last{};
    };
    std::vector<BlockSummary> blocks(std::string_view target = {}, size_t limit = 100) const;
    // Miscompares still in the histories, newest first.
    std::vector<Explained> miscompares(size_t limit = 100) const;
    std::optional<std::vector<uint8_t>> image(ImageId id) const;
    RecorderStats stats() const;

    // Persistence ([ats] recorder_persist, issue 16's "optionally persisted with the LUN's data"):
    // a LUN's histories and their images as JSON (flight_recorder_persist.cpp), written next to
    // its data when it closes and read when it opens. save() takes what is folded in (settle()
    // first for the latest notes). restore() puts them back under the key of the LUN that now
    // serves the data, before any entry of this process, within the bounds (the least recently
    // touched blocks go first); it returns the blocks restored and throws std::invalid_argument
    // naming what is wrong with `saved`.
    std::string save(uint64_t lun_key) const;
    size_t restore(uint64_t lun_key, std::string_view saved);
    // Drops a LUN's histories (a LUN no longer served).
    void forget(uint64_t lun_key);

  private:
    struct State;  // flight_recorder.cpp: the histories, the images, the tracked set
    void run();
    // A block's history and the bytes of every image it refers to (save() and restore()).
    struct SavedBlock {
        BlockHistory history;
        std::map<ImageId, std::vector<uint8_t>> images;
    };
    std::vector<SavedBlock> copy_blocks(uint64_t lun_key) const;
    size_t put_back(uint64_t lun_key, std::vector<SavedBlock> saved);

    const RecorderSettings settings_;
    std::unique_ptr<State> state_;
    std::thread thread_;
};

}  // namespace atsarray::forensics
