#include "target/forensics/flight_recorder.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <set>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "target/forensics/flight_recorder_causes.hpp"

namespace atsarray::forensics {
namespace {

// How long a miscompare waits for the notes of the commands that reached the medium before it:
// a command's note is taken when it finishes (before any status delay a fault adds), and one that
// released its LBA locks first may finish after a later one on another thread, by microseconds
// to a few milliseconds. On a busy block a miscompare is explained sooner, once half a history of
// newer entries followed it, so that the entries before it are still there.
constexpr std::chrono::milliseconds explain_after{20};
// How often the recorder thread takes the notes while they come.
constexpr std::chrono::milliseconds poll_interval{5};

struct BlockKey {
    uint64_t lun_key = 0;
    uint64_t lba = 0;
    bool operator==(const BlockKey&) const = default;
};

struct BlockKeyHash {
    size_t operator()(const BlockKey& k) const {
        return std::hash<uint64_t>{}(k.lun_key * 0x9e3779b97f4a7c15ULL ^ k.lba);
    }
};

// What tracks() reads: per LUN, the tracked LBAs in order.
using TrackedMap = std::unordered_map<uint64_t, std::vector<uint64_t>>;

struct StoredImage {
    std::vector<uint8_t> bytes;
    uint64_t hash = 0;
    size_t refs = 0;  // history entries' fields referring to it
};

struct Block {
    std::string target;
    uint64_t lun = 0;
    uint64_t lba = 0;
    uint32_t block_size = 512;
    std::deque<HistoryEntry> entries;
    bool truncated = false;
    bool evicted_before = false;
    uint64_t dropped_notes_at_start = 0;  // the queue's drop count when it became tracked
    SystemTime last{};
    std::list<BlockKey>::iterator lru;
    std::vector<uint64_t> waiting;  // seqs of its miscompares not yet explained
};

uint64_t hash_bytes(std::span<const uint8_t> bytes) {
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

bool is_miscompare(Outcome outcome) {
    return outcome == Outcome::miscompare || outcome == Outcome::injected_miscompare;
}

}  // namespace

struct FlightRecorder::State {
    explicit State(const RecorderSettings& s) : settings(s) {}
    const RecorderSettings& settings;

    // The hand-over from the I/O threads (queue_mutex, held only to move a note in or a batch
    // out).
    std::mutex queue_mutex;
    std::condition_variable queue_ready;  // a note arrived, or stopping
    std::condition_variable folded_in;    // a batch was folded in
    std::deque<CommandNote> queue;
    uint64_t queued = 0;  // notes accepted, ever
    uint64_t folded = 0;  // of those, folded in
    bool stopping = false;
    bool sleeping = false;  // the thread waits for a note, not for its next poll
    // settle()'s requests to explain every miscompare still waiting, and how many were served.
    uint64_t explain_requests = 0;
    uint64_t explain_served = 0;
    std::atomic<uint64_t> dropped_notes{0};

    // Replaced whole, never changed in place: tracks() reads it without a lock.
    std::atomic<std::shared_ptr<const TrackedMap>> tracked{std::make_shared<const TrackedMap>()};
    // False while no block is tracked: tracks() answers without touching `tracked` (whose load
    // takes the shared_ptr's lock and reference count), so an array without ATS pays nothing.
    std::atomic<bool> any_tracked{false};

    std::mutex callback_mutex;
    std::function<void(const Explained&)> on_explained;

    // The recorder thread's (state_mutex; queries copy under it).
    mutable std::mutex state_mutex;
    std::unordered_map<BlockKey, Block, BlockKeyHash> blocks;
    std::list<BlockKey> lru;                              // most recently touched first
    std::map<uint64_t, std::set<uint64_t>> tracked_lbas;  // what `tracked` publishes
    bool tracked_changed = false;
    std::unordered_set<BlockKey, BlockKeyHash> evicted;  // bounded: see evict()
    std::unordered_map<ImageId, StoredImage> images;
    std::unordered_multimap<uint64_t, ImageId> images_by_hash;
    ImageId next_image = 1;
    uint64_t next_seq = 1;
    // Miscompares folded in and not yet explained: the notes of commands that reached the medium
    // before them may still be on their way (CommandNote::order).
    struct Waiting {
        BlockKey key;
        uint64_t seq = 0;
        std::chrono::steady_clock::time_point noted;
    };
    std::deque<Waiting> waiting;
    std::vector<Explained> explained;  // for on_explained, outside the lock
    RecorderStats counters;            // notes, evictions, drops, causes, image bytes

    // --- images ---
    ImageId intern(std::span<const uint8_t> bytes) {
        if (bytes.empty()) {
            return 0;
        }
        const uint64_t hash = hash_bytes(bytes);
        const auto [first, last] = images_by_hash.equal_range(hash);
        for (auto it = first; it != last; ++it) {
            StoredImage& image = images.at(it->second);
            if (std::equal(image.bytes.begin(), image.bytes.end(), bytes.begin(), bytes.end())) {
                ++image.refs;
                return it->second;
            }
        }
        const ImageId id = next_image++;
        images.emplace(id, StoredImage{{bytes.begin(), bytes.end()}, hash, 1});
        images_by_hash.emplace(hash, id);
        counters.image_bytes += bytes.size();
        return id;
    }

    void release(ImageId id) {
        if (id == 0) {
            return;
        }
        const auto it = images.find(id);
        if (it == images.end() || --it->second.refs > 0) {
            return;
        }
        const auto [first, last] = images_by_hash.equal_range(it->second.hash);
        for (auto h = first; h != last; ++h) {
            if (h->second == id) {
                images_by_hash.erase(h);
                break;
            }
        }
        counters.image_bytes -= it->second.bytes.size();
        images.erase(it);
    }

    void release(const HistoryEntry& e) {
        release(e.compare);
        release(e.on_disk);
        release(e.set);
    }

    std::span<const uint8_t> image_bytes(ImageId id) const {
        const auto it = images.find(id);
        if (it == images.end()) {
            return {};
        }
        return it->second.bytes;
    }

    // --- blocks ---
    // By value: callers pass lru.back(), which the erase below frees.
    void evict(const BlockKey key) {
        const auto it = blocks.find(key);
        explain_leaving(it->second, it->second.entries.end());
        for (const HistoryEntry& e : it->second.entries) {
            release(e);
        }
        lru.erase(it->second.lru);
        blocks.erase(it);
        auto lun = tracked_lbas.find(key.lun_key);
        lun->second.erase(key.lba);
        if (lun->second.empty()) {
            tracked_lbas.erase(lun);
        }
        tracked_changed = true;
        ++counters.evicted_blocks;
        // Only to say "evicted" in a later explanation: bounded, forgetting all at once is fine.
        if (evicted.size() >= 4 * settings.max_blocks + 64) {
            evicted.clear();
        }
        evicted.insert(key);
    }

    Block& track(const CommandNote& note) {
        const BlockKey key{note.lun_key, note.lba};
        if (auto it = blocks.find(key); it != blocks.end()) {
            return it->second;
        }
        while (!lru.empty() && blocks.size() >= std::max<size_t>(settings.max_blocks, 1)) {
            evict(lru.back());
        }
        Block& b = blocks[key];
        b.target = note.target;
        b.lun = note.lun;
        b.lba = note.lba;
        b.block_size = note.block_size;
        b.evicted_before = evicted.erase(key) > 0;
        b.dropped_notes_at_start = dropped_notes.load(std::memory_order_relaxed);
        lru.push_front(key);
        b.lru = lru.begin();
        tracked_lbas[key.lun_key].insert(key.lba);
        tracked_changed = true;
        return b;
    }

    // Adds `e` (its images already interned) to the block's history, in medium order, within the
    // bounds; returns its seq.
    uint64_t append(Block& b, HistoryEntry e) {
        e.seq = next_seq++;
        const uint64_t seq = e.seq;
        b.last = std::max(b.last, e.answered);
        auto at = b.entries.end();
        if (e.order != 0) {
            while (at != b.entries.begin() && std::prev(at)->order > e.order) {
                --at;
            }
        }
        b.entries.insert(at, std::move(e));
        explain_crowded(b);
        while (b.entries.size() > std::max<size_t>(settings.entries_per_block, 1)) {
            explain_leaving(b, std::next(b.entries.begin()));
            release(b.entries.front());
            b.entries.pop_front();
            b.truncated = true;
            ++counters.dropped_entries;
        }
        lru.splice(lru.begin(), lru, b.lru);
        // The least recently touched blocks go until the images fit; the block just touched
        // stays (it is at the front), losing its own oldest entries when it alone is too big.
        while (counters.image_bytes > settings.max_image_bytes && lru.size() > 1) {
            evict(lru.back());
        }
        while (counters.image_bytes > settings.max_image_bytes && b.entries.size() > 1) {
            explain_leaving(b, std::next(b.entries.begin()));
            release(b.entries.front());
            b.entries.pop_front();
            b.truncated = true;
            ++counters.dropped_entries;
        }
        return seq;
    }

    void publish() {
        auto map = std::make_shared<TrackedMap>();
        for (const auto& [lun_key, lbas] : tracked_lbas) {
            (*map)[lun_key].assign(lbas.begin(), lbas.end());
        }
        any_tracked.store(!map->empty(), std::memory_order_release);
        tracked.store(std::move(map), std::memory_order_release);
        tracked_changed = false;
    }

    static HistoryEntry entry_of(const CommandNote& note) {
        HistoryEntry e;
        e.kind = note.kind;
        e.origin = note.origin;
        e.itt = note.itt;
        e.cmd_sn = note.cmd_sn;
        e.lba = note.lba;
        e.blocks = note.blocks;
        e.arrived = note.arrived;
        e.started = note.started;
        e.answered = note.answered;
        e.outcome = note.outcome;
        e.miscompare_offset = note.miscompare_offset;
        e.fault_rule = note.fault_rule;
        e.lock_wait_us = note.lock_wait_us;
        e.order = note.order;
        e.status_seen = note.status_seen;
        return e;
    }

    static std::span<const uint8_t> first_block(const std::vector<uint8_t>& v, uint32_t bs) {
        return std::span<const uint8_t>(v).first(std::min<size_t>(v.size(), bs));
    }

    void fold_ats(const CommandNote& note) {
        Block& b = track(note);
        HistoryEntry e = entry_of(note);
        e.compare = intern(first_block(note.compare, note.block_size));
        e.on_disk = intern(first_block(note.on_disk, note.block_size));
        e.set = intern(first_block(note.set, note.block_size));
        const uint64_t seq = append(b, std::move(e));
        if (is_miscompare(note.outcome)) {
            waiting.push_back(
                {BlockKey{note.lun_key, note.lba}, seq, std::chrono::steady_clock::now()});
            blocks.at(BlockKey{note.lun_key, note.lba}).waiting.push_back(seq);
        }
    }

    static bool unexplained(const HistoryEntry& e) {
        return e.kind == CommandKind::ats && is_miscompare(e.outcome) && e.cause == Cause::none;
    }

    // Explains miscompare `m` from its block's history up to it; `explained` takes the answer
    // for on_explained.
    void explain_entry(Block& b, std::deque<HistoryEntry>::iterator m) {
        const std::deque<HistoryEntry> before(b.entries.begin(), std::next(m));
        const CauseContext context{
            before,
            b.truncated,
            settings.entries_per_block,
            b.evicted_before,
            dropped_notes.load(std::memory_order_relaxed) - b.dropped_notes_at_start,
            [this](ImageId id) { return image_bytes(id); }};
        CauseFinding finding = explain_miscompare(context);
        m->cause = finding.cause;
        m->explanation = std::move(finding.explanation);
        m->culprit_seq = finding.culprit_seq;
        if (finding.culprit_seq) {
            for (const HistoryEntry& e : before) {
                if (e.seq == *finding.culprit_seq) {
                    auto copy = std::make_shared<HistoryEntry>(e);
                    copy->culprit.reset();  // one level: no chain of entries kept alive
                    m->culprit = std::move(copy);
                }
            }
        }
        ++counters.causes[m->cause];
        explained.push_back(explain(b, *m));
        std::erase(b.waiting, m->seq);
    }

    // The block's waiting miscompares that half a history of newer entries followed.
    void explain_crowded(Block& b) {
        const size_t half = std::max<size_t>(settings.entries_per_block / 2, 1);
        const std::vector<uint64_t> seqs = b.waiting;
        for (const uint64_t seq : seqs) {
            const auto m = std::find_if(b.entries.begin(), b.entries.end(),
                                        [&](const HistoryEntry& e) { return e.seq == seq; });
            if (m == b.entries.end() || !unexplained(*m)) {
                std::erase(b.waiting, seq);
            } else if (static_cast<size_t>(std::distance(m, b.entries.end())) > half) {
                explain_entry(b, m);
            }
        }
    }

    // Entries [begin, end) of `b` are about to leave (entries_per_block, image bytes, eviction):
    // a miscompare among them still waiting is explained now, from what the history holds.
    void explain_leaving(Block& b, std::deque<HistoryEntry>::iterator end) {
        for (auto it = b.entries.begin(); it != end; ++it) {
            if (unexplained(*it)) {
                explain_entry(b, it);
            }
        }
    }

    // The miscompares that waited long enough for the notes before them (all of them with
    // `all`), each explained from its block's history up to it.
    void explain_waiting(bool all) {
        const auto now = std::chrono::steady_clock::now();
        while (!waiting.empty() && (all || now - waiting.front().noted >= explain_after)) {
            const Waiting w = waiting.front();
            waiting.pop_front();
            const auto block = blocks.find(w.key);
            if (block == blocks.end()) {
                continue;  // evicted meanwhile, and explained then
            }
            Block& b = block->second;
            const auto m = std::find_if(b.entries.begin(), b.entries.end(),
                                        [&](const HistoryEntry& e) { return e.seq == w.seq; });
            if (m != b.entries.end() && unexplained(*m)) {
                explain_entry(b, m);
            }
        }
    }

    // The new image of block `lba + offset` of a command that is not an ATS (0: unknown).
    ImageId image_of(const CommandNote& note, uint64_t offset, bool first_tracked) {
        const size_t bs = note.block_size;
        const std::span<const uint8_t> data(note.data);
        const bool sliced = data.size() >= (offset + 1) * bs;
        switch (note.kind) {
            case CommandKind::write:
            case CommandKind::other_write:
                return sliced ? intern(data.subspan(offset * bs, bs)) : 0;
            case CommandKind::write_same:
                return data.size() >= bs ? intern(data.first(bs)) : 0;
            case CommandKind::unmap: {
                // The blocks read zeros afterwards: the array reports LBPRZ (READ CAPACITY(16),
                // target/scsi/sbc.cpp) and BlockStore::unmap guarantees it.
                const std::vector<uint8_t> zeros(bs, 0);
                return intern(zeros);
            }
            case CommandKind::read:
                if (sliced) {
                    return intern(data.subspan(offset * bs, bs));
                }
                return first_tracked ? intern(first_block(note.on_disk, note.block_size)) : 0;
            case CommandKind::xcopy:
            case CommandKind::ats:
                break;
        }
        return 0;
    }

    void fold_other(const CommandNote& note) {
        const auto lun = tracked_lbas.find(note.lun_key);
        if (lun == tracked_lbas.end() || note.blocks == 0) {
            return;
        }
        // Copied first: an eviction while appending may change the set.
        std::vector<uint64_t> lbas;
        for (auto it = lun->second.lower_bound(note.lba);
             it != lun->second.end() && *it - note.lba < note.blocks; ++it) {
            lbas.push_back(*it);
        }
        bool first = true;
        for (const uint64_t lba : lbas) {
            const BlockKey key{note.lun_key, lba};
            const auto it = blocks.find(key);
            if (it == blocks.end()) {
                continue;
            }
            HistoryEntry e = entry_of(note);
            const ImageId image = image_of(note, lba - note.lba, first);
            first = false;
            if (note.kind == CommandKind::read) {
                e.on_disk = image;
            } else {
                e.set = image;
            }
            append(it->second, std::move(e));
        }
    }

    Explained explain(const Block& b, const HistoryEntry& m) const {
        Explained x{b.target, b.lun, b.lba, m, std::nullopt};
        if (m.culprit) {
            x.culprit = *m.culprit;
        } else if (m.culprit_seq) {
            for (const HistoryEntry& e : b.entries) {
                if (e.seq == *m.culprit_seq) {
                    x.culprit = e;
                }
            }
        }
        return x;
    }

    void fold(const CommandNote& note) {
        ++counters.notes;
        if (note.kind == CommandKind::ats) {
            fold_ats(note);
        } else {
            fold_other(note);
        }
    }

    void run() {
        bool has_waiting = false;
        bool idle = false;  // the last poll found nothing
        while (true) {
            std::deque<CommandNote> batch;
            bool all = false;
            uint64_t serving = 0;
            {
                std::unique_lock lock(queue_mutex);
                const auto ready = [this] { return stopping || explain_requests > explain_served; };
                // While notes come, the thread looks every poll_interval and no I/O thread wakes
                // it (a wake-up per note cost a futex call and a context switch per ATS: a tenth
                // of the daemon's CPU). Idle, it sleeps until a note wakes it.
                if (idle && !has_waiting && queue.empty()) {
                    sleeping = true;
                    queue_ready.wait(lock, [&] { return ready() || !queue.empty(); });
                    sleeping = false;
                } else if (!ready()) {
                    queue_ready.wait_for(lock, poll_interval, [&] {
                        return ready() || queue.size() >= settings.queue_notes / 2;
                    });
                }
                idle = queue.empty();
                if (queue.empty() && stopping && !has_waiting) {
                    return;  // everything queued is folded in and explained
                }
                batch.swap(queue);
                serving = explain_requests;
                all = stopping || serving > explain_served;
            }
            std::vector<Explained> ready;
            {
                std::lock_guard lock(state_mutex);
                for (const CommandNote& note : batch) {
                    fold(note);
                }
                explain_waiting(all);
                ready.swap(explained);
                has_waiting = !waiting.empty();
                // Once per batch: tracks() readers copy nothing, the thread builds one map.
                if (tracked_changed) {
                    publish();
                }
            }
            if (!ready.empty()) {
                std::function<void(const Explained&)> callback;
                {
                    std::lock_guard lock(callback_mutex);
                    callback = on_explained;
                }
                if (callback) {
                    for (const Explained& x : ready) {
                        callback(x);
                    }
                }
            }
            {
                std::lock_guard lock(queue_mutex);
                folded += batch.size();
                explain_served = std::max(explain_served, serving);
            }
            folded_in.notify_all();
        }
    }
};

FlightRecorder::FlightRecorder(RecorderSettings settings)
    : settings_(std::move(settings)), state_(std::make_unique<State>(settings_)) {
    if (settings_.enabled) {
        thread_ = std::thread([this] { run(); });
    }
}

FlightRecorder::~FlightRecorder() {
    {
        std::lock_guard lock(state_->queue_mutex);
        state_->stopping = true;
    }
    state_->queue_ready.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
}

bool FlightRecorder::tracks(uint64_t lun_key, uint64_t lba, uint64_t blocks) const {
    if (!settings_.enabled || blocks == 0) {
        return false;
    }
    if (!state_->any_tracked.load(std::memory_order_acquire)) {
        return false;
    }
    const std::shared_ptr<const TrackedMap> map = state_->tracked.load(std::memory_order_acquire);
    const auto lun = map->find(lun_key);
    if (lun == map->end()) {
        return false;
    }
    const auto it = std::lower_bound(lun->second.begin(), lun->second.end(), lba);
    // Written as a difference: lba + blocks may overflow at the top of a 64-bit LBA space.
    return it != lun->second.end() && *it - lba < blocks;
}

void FlightRecorder::note(CommandNote note) {
    if (!settings_.enabled) {
        return;
    }
    bool wake = false;
    {
        std::lock_guard lock(state_->queue_mutex);
        if (state_->queue.size() >= settings_.queue_notes) {
            state_->dropped_notes.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        state_->queue.push_back(std::move(note));
        ++state_->queued;
        // The thread polls while notes come: wake it only from its idle sleep, or when the queue
        // fills up faster than it looks.
        wake = state_->sleeping || state_->queue.size() == settings_.queue_notes / 2;
    }
    if (wake) {
        state_->queue_ready.notify_one();
    }
}

void FlightRecorder::on_explained(std::function<void(const Explained&)> callback) {
    std::lock_guard lock(state_->callback_mutex);
    state_->on_explained = std::move(callback);
}

void FlightRecorder::settle() {
    if (!settings_.enabled) {
        return;
    }
    std::unique_lock lock(state_->queue_mutex);
    const uint64_t target = state_->queued;
    const uint64_t request = ++state_->explain_requests;
    state_->queue_ready.notify_one();
    state_->folded_in.wait(
        lock, [&] { return state_->folded >= target && state_->explain_served >= request; });
}

std::optional<BlockHistory> FlightRecorder::history(std::string_view target, uint64_t lun,
                                                    uint64_t lba) const {
    std::lock_guard lock(state_->state_mutex);
    for (const auto& [lun_key, lbas] : state_->tracked_lbas) {
        if (!lbas.contains(lba)) {
            continue;
        }
        const Block& b = state_->blocks.at(BlockKey{lun_key, lba});
        if (b.target != target || b.lun != lun) {
            continue;
        }
        BlockHistory h{b.target, b.lun, b.lba, b.block_size, {}, b.truncated};
        h.entries.assign(b.entries.begin(), b.entries.end());
        return h;
    }
    return std::nullopt;
}

std::vector<FlightRecorder::BlockSummary> FlightRecorder::blocks(std::string_view target,
                                                                 size_t limit) const {
    std::vector<BlockSummary> out;
    std::lock_guard lock(state_->state_mutex);
    for (const BlockKey& key : state_->lru) {
        if (out.size() >= limit) {
            break;
        }
        const Block& b = state_->blocks.at(key);
        if (!target.empty() && b.target != target) {
            continue;
        }
        BlockSummary s{b.target, b.lun, b.lba, b.entries.size(), 0, 0, b.last};
        for (const HistoryEntry& e : b.entries) {
            s.ats += e.kind == CommandKind::ats ? 1 : 0;
            s.miscompares += is_miscompare(e.outcome) ? 1 : 0;
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<Explained> FlightRecorder::miscompares(size_t limit) const {
    std::vector<Explained> out;
    std::lock_guard lock(state_->state_mutex);
    std::vector<std::pair<uint64_t, std::pair<const Block*, const HistoryEntry*>>> found;
    for (const auto& [key, b] : state_->blocks) {
        for (const HistoryEntry& e : b.entries) {
            // Explained ones only: a miscompare waits a moment for the notes before it.
            if (e.kind == CommandKind::ats && is_miscompare(e.outcome) && e.cause != Cause::none) {
                found.push_back({e.seq, {&b, &e}});
            }
        }
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < found.size() && i < limit; ++i) {
        out.push_back(state_->explain(*found[i].second.first, *found[i].second.second));
    }
    return out;
}

std::optional<std::vector<uint8_t>> FlightRecorder::image(ImageId id) const {
    std::lock_guard lock(state_->state_mutex);
    const auto it = state_->images.find(id);
    if (it == state_->images.end()) {
        return std::nullopt;
    }
    return it->second.bytes;
}

RecorderStats FlightRecorder::stats() const {
    RecorderStats s;
    {
        std::lock_guard lock(state_->state_mutex);
        s = state_->counters;
        s.blocks = state_->blocks.size();
        s.entries = 0;
        for (const auto& [key, b] : state_->blocks) {
            s.entries += b.entries.size();
        }
        s.images = state_->images.size();
    }
    s.dropped_notes = state_->dropped_notes.load(std::memory_order_relaxed);
    return s;
}

void FlightRecorder::run() {
    state_->run();
}

std::vector<FlightRecorder::SavedBlock> FlightRecorder::copy_blocks(uint64_t lun_key) const {
    std::vector<SavedBlock> out;
    std::lock_guard lock(state_->state_mutex);
    for (const auto& [key, b] : state_->blocks) {
        if (key.lun_key != lun_key) {
            continue;
        }
        SavedBlock saved{{b.target, b.lun, b.lba, b.block_size, {}, b.truncated}, {}};
        saved.history.entries.assign(b.entries.begin(), b.entries.end());
        for (const HistoryEntry& e : b.entries) {
            for (const ImageId id : {e.compare, e.on_disk, e.set}) {
                if (const auto bytes = state_->image_bytes(id); !bytes.empty()) {
                    saved.images.emplace(id, std::vector<uint8_t>(bytes.begin(), bytes.end()));
                }
            }
        }
        out.push_back(std::move(saved));
    }
    return out;
}

size_t FlightRecorder::put_back(uint64_t lun_key, std::vector<SavedBlock> saved) {
    std::lock_guard lock(state_->state_mutex);
    size_t restored = 0;
    for (SavedBlock& s : saved) {
        const BlockHistory& h = s.history;
        if (state_->blocks.contains(BlockKey{lun_key, h.lba})) {
            continue;  // already noted in this process: its history is newer
        }
        CommandNote where;
        where.lun_key = lun_key;
        where.target = h.target;
        where.lun = h.lun;
        where.lba = h.lba;
        where.block_size = h.block_size;
        Block& b = state_->track(where);
        b.truncated = h.truncated;
        const auto image = [&](ImageId id) -> ImageId {
            const auto it = s.images.find(id);
            return it == s.images.end() ? 0 : state_->intern(it->second);
        };
        std::map<uint64_t, uint64_t> seq_of;  // saved seq -> this process's
        for (HistoryEntry e : h.entries) {
            const uint64_t saved_seq = e.seq;
            e.order = 0;  // before every command of this process (their orders start at 1)
            e.compare = image(e.compare);
            e.on_disk = image(e.on_disk);
            e.set = image(e.set);
            seq_of[saved_seq] = state_->append(b, std::move(e));
        }
        // Culprits by this process's seqs; a culprit's own copy refers to no stored image
        // (its ids would outlive the images they named).
        for (HistoryEntry& e : b.entries) {
            if (e.culprit_seq) {
                const auto it = seq_of.find(*e.culprit_seq);
                e.culprit_seq = it == seq_of.end() ? std::nullopt : std::optional(it->second);
            }
            if (e.culprit) {
                auto copy = std::make_shared<HistoryEntry>(*e.culprit);
                copy->seq = e.culprit_seq.value_or(0);
                copy->compare = copy->on_disk = copy->set = 0;
                e.culprit = std::move(copy);
            }
        }
        ++restored;
    }
    state_->publish();
    return restored;
}

void FlightRecorder::forget(uint64_t lun_key) {
    std::lock_guard lock(state_->state_mutex);
    const auto lun = state_->tracked_lbas.find(lun_key);
    if (lun == state_->tracked_lbas.end()) {
        return;
    }
    const std::vector<uint64_t> lbas(lun->second.begin(), lun->second.end());
    for (const uint64_t lba : lbas) {
        state_->evict(BlockKey{lun_key, lba});
    }
    state_->publish();
}

}  // namespace atsarray::forensics
