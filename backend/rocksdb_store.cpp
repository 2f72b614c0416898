// The LUN side of the RocksDB store (rocksdb_store.hpp): opening a LUN in its column family and
// keeping its metadata (size, chunk size), and its block operations: read/read_nowait (one Get,
// or one MultiGet for several chunks), write/write_nowait (one WriteBatch per command, partial
// chunks merged under chunk stripes), unmap, mapped_extent, grow and flush. The database they
// share (options, block cache, the per-folder registry) is rocksdb_database.cpp's.

#include "backend/rocksdb_store.hpp"

#include <algorithm>
#include <bit>
#include <bitset>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "backend/rocksdb_database.hpp"

namespace atsarray::backend {

namespace {

namespace fs = std::filesystem;

// Runs of whole chunks longer than this are unmapped with one DeleteRange; shorter ones with
// point deletes, which cost readers nothing once compacted (range tombstones are checked by
// every read that overlaps them until then).
constexpr uint64_t delete_range_min_chunks = 64;
// Deleted chunks keep their space until a compaction drops them, and RocksDB picks compactions
// by level size, not by what was deleted: an UNMAP of at least this many bytes of whole chunks
// compacts its key range at once, so the space a thin LUN gives back shows on disk.
constexpr uint64_t compact_after_unmap_bytes = 8ull << 20;
// mapped_extent() walks keys to measure a mapped run; it stops after this many chunks (the
// caller asks again from there), so one GET LBA STATUS reads a bounded amount of data.
constexpr uint64_t max_mapped_scan_chunks = 512;

// Keys. A chunk's key is its index as 8 big-endian bytes, so keys sort like indexes and a range
// of chunks is a range of keys. Sizes stay below 2^63 bytes and chunks are at least 2^9 bytes,
// so an index is below 2^54 and its key starts with a zero byte; the metadata keys start with
// 'M' and never fall inside a range of chunks.
using ChunkKey = std::array<char, 8>;

ChunkKey chunk_key(uint64_t index) {
    ChunkKey key;
    for (int i = 7; i >= 0; --i) {
        key[static_cast<size_t>(i)] = static_cast<char>(index & 0xff);
        index >>= 8;
    }
    return key;
}

// Whether a Get answered a chunk RocksDB could not read without I/O: Incomplete, or, from a
// memory-only read (kBlockCacheTier), OK with a value of the wrong size. Debian's RocksDB 7.8.3
// answers some memory-only reads that way (read_from() says when); the worker reads again.
bool not_in_memory(const rocksdb::Status& s, bool cached_only, size_t got, size_t chunk_bytes) {
    return s.IsIncomplete() || (cached_only && s.ok() && got != chunk_bytes);
}

rocksdb::Slice slice(const ChunkKey& key) {
    return rocksdb::Slice(key.data(), key.size());
}

bool decode_chunk_key(const rocksdb::Slice& key, uint64_t& index) {
    if (key.size() != 8) {
        return false;
    }
    index = 0;
    for (size_t i = 0; i < 8; ++i) {
        index = (index << 8) | static_cast<uint8_t>(key[i]);
    }
    return true;
}

// The LUN's metadata, kept in its column family: its size in bytes (so a restart with a smaller
// configured size is caught) and the chunk size its keys were written with.
const rocksdb::Slice meta_format_key("M/format");
const rocksdb::Slice meta_size_key("M/size");
const rocksdb::Slice meta_chunk_key("M/chunk_bytes");
constexpr uint64_t format_version = 1;

bool decode_u64(const std::string& value, uint64_t& out) {
    if (value.size() != 8) {
        return false;
    }
    out = 0;
    for (char c : value) {
        out = (out << 8) | static_cast<uint8_t>(c);
    }
    return true;
}

bool all_zero(const uint8_t* p, size_t n) {
    return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

}  // namespace

// Locks the stripes of chunks [first, last], ascending, each once. With `try_only` it takes none
// it would have to wait for: owns() then tells whether it holds them all (or none).
class RocksDbStore::StripeGuard {
  public:
    StripeGuard(std::array<Stripe, stripe_count>& stripes, uint64_t first, uint64_t last,
                bool try_only = false)
        : stripes_(stripes) {
        if (last - first + 1 >= stripe_count) {
            held_.set();
        } else {
            for (uint64_t index = first; index <= last; ++index) {
                held_.set(static_cast<size_t>(index % stripe_count));
            }
        }
        for (size_t i = held_._Find_first(); i < stripe_count; i = held_._Find_next(i)) {
            if (!try_only) {
                stripes_[i].mutex.lock();
            } else if (!stripes_[i].mutex.try_lock()) {
                // Give back the ones taken so far (all below i).
                for (size_t j = held_._Find_first(); j < i; j = held_._Find_next(j)) {
                    stripes_[j].mutex.unlock();
                }
                held_.reset();
                owns_ = false;
                return;
            }
        }
    }
    ~StripeGuard() {
        for (size_t i = held_._Find_first(); i < stripe_count; i = held_._Find_next(i)) {
            stripes_[i].mutex.unlock();
        }
    }
    StripeGuard(const StripeGuard&) = delete;
    StripeGuard& operator=(const StripeGuard&) = delete;

    bool owns() const { return owns_; }

  private:
    std::array<Stripe, stripe_count>& stripes_;
    std::bitset<stripe_count> held_;
    bool owns_ = true;
};

std::unique_ptr<RocksDbStore> RocksDbStore::open(const std::string& db_dir,
                                                 const std::string& lun_name, uint64_t size_bytes,
                                                 const RocksDbOptions& options, bool read_only,
                                                 std::string& error_message) {
    std::error_code ec;
    const std::string dir = fs::absolute(fs::path(db_dir), ec).lexically_normal().string();
    const std::string where = "RocksDB database " + dir + ", LUN " + lun_name;
    if (size_bytes == 0) {
        error_message = where + ": LUN size must be greater than 0";
        return nullptr;
    }
    if (size_bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        error_message = where + ": LUN size " + std::to_string(size_bytes) + " is too large";
        return nullptr;
    }
    if (!valid_chunk_bytes(options.chunk_bytes)) {
        error_message = where + ": chunk size " + std::to_string(options.chunk_bytes) +
                        " is not a power of two from " + std::to_string(min_chunk_bytes) + " to " +
                        std::to_string(max_chunk_bytes);
        return nullptr;
    }
    if (lun_name.empty() || lun_name == rocksdb::kDefaultColumnFamilyName) {
        error_message = where + ": invalid LUN name";
        return nullptr;
    }

    const std::unique_lock<std::mutex> lock = RocksDatabase::lock_registry();
    const std::shared_ptr<RocksDatabase> db = RocksDatabase::shared(dir, options, error_message);
    if (!db) {
        return nullptr;
    }
    if (!db->claim(lun_name)) {
        error_message = where + ": already open (two LUNs cannot share one column family)";
        return nullptr;
    }
    // Every failure below: give the LUN back, and close a database no LUN uses any more.
    const auto fail = [&](std::string message) -> std::unique_ptr<RocksDbStore> {
        db->release(lun_name);
        error_message = std::move(message);
        return nullptr;  // `db` is released while the registry is still locked
    };

    rocksdb::WriteOptions synced;
    synced.sync = true;
    rocksdb::ColumnFamilyHandle* family = db->family(lun_name);
    uint64_t stored_size = 0;
    uint64_t chunk_bytes = options.chunk_bytes;
    if (family == nullptr) {
        if (read_only) {
            return fail(where +
                        ": does not exist, and a read-only LUN needs existing data "
                        "(start it writable once)");
        }
        if (rocksdb::Status s = db->create_family(lun_name, family); !s.ok()) {
            return fail(where + ": cannot create the column family: " + s.ToString());
        }
        spdlog::info("{}: created, {} bytes in chunks of {} bytes", where, size_bytes, chunk_bytes);
    } else {
        std::string value;
        rocksdb::Status s = db->db().Get(rocksdb::ReadOptions(), family, meta_size_key, &value);
        if (s.ok() && !decode_u64(value, stored_size)) {
            s = rocksdb::Status::Corruption("bad size record");
        }
        if (s.ok()) {
            s = db->db().Get(rocksdb::ReadOptions(), family, meta_chunk_key, &value);
            if (s.ok() && (!decode_u64(value, chunk_bytes) || !valid_chunk_bytes(chunk_bytes))) {
                s = rocksdb::Status::Corruption("bad chunk size record");
            }
        }
        if (s.IsNotFound()) {
            // The column family was created but its metadata never written (a crash between
            // the two): nothing was acknowledged in it yet.
            stored_size = 0;
            chunk_bytes = options.chunk_bytes;
        } else if (!s.ok()) {
            return fail(where + ": cannot read the LUN's metadata: " + s.ToString() +
                        "; atsarray does not reformat it");
        }
        if (stored_size > size_bytes) {
            return fail(where + ": configured size " + std::to_string(size_bytes) +
                        " is smaller than the " + std::to_string(stored_size) +
                        " bytes the LUN had; refusing to discard data (raise size, or use "
                        "another LUN)");
        }
        if (stored_size != 0 && stored_size < size_bytes && read_only) {
            return fail(where + ": holds " + std::to_string(stored_size) +
                        " bytes, less than the configured size " + std::to_string(size_bytes) +
                        ", and the LUN is read-only, so it cannot be grown");
        }
        if (chunk_bytes != options.chunk_bytes) {
            spdlog::info("{}: keeps the chunk size it was created with, {} bytes", where,
                         chunk_bytes);
        }
        if (stored_size != 0 && stored_size < size_bytes) {
            spdlog::info("{}: grown from {} to {} bytes", where, stored_size, size_bytes);
        }
    }
    if (stored_size != size_bytes && !read_only) {
        rocksdb::WriteBatch batch;
        rocksdb::Status s = batch.Put(family, meta_format_key, slice(chunk_key(format_version)));
        if (s.ok()) {
            s = batch.Put(family, meta_size_key, slice(chunk_key(size_bytes)));
        }
        if (s.ok()) {
            s = batch.Put(family, meta_chunk_key, slice(chunk_key(chunk_bytes)));
        }
        if (s.ok()) {
            s = db->db().Write(synced, &batch);
        }
        if (!s.ok()) {
            return fail(where + ": cannot record the LUN's size: " + s.ToString());
        }
    }
    return std::unique_ptr<RocksDbStore>(
        new RocksDbStore(db, family, lun_name, size_bytes, chunk_bytes, read_only));
}

RocksDbStore::RocksDbStore(std::shared_ptr<RocksDatabase> db, rocksdb::ColumnFamilyHandle* family,
                           std::string lun_name, uint64_t size_bytes, uint64_t chunk_bytes,
                           bool read_only)
    : db_(std::move(db)),
      family_(family),
      lun_name_(std::move(lun_name)),
      size_bytes_(size_bytes),
      chunk_bytes_(chunk_bytes),
      chunk_shift_(static_cast<unsigned>(std::countr_zero(chunk_bytes))),
      read_only_(read_only) {}

RocksDbStore::~RocksDbStore() {
    const std::unique_lock<std::mutex> lock = RocksDatabase::lock_registry();
    db_->release(lun_name_);
    db_.reset();  // the last LUN closes the database, under the registry's lock
}

const std::string& RocksDbStore::db_dir() const {
    return db_->dir();
}

bool RocksDbStore::in_range(uint64_t offset, uint64_t length) const {
    const uint64_t size = size_bytes_.load();
    return offset <= size && length <= size - offset;
}

Status RocksDbStore::failed(const char* operation, const rocksdb::Status& status) const {
    spdlog::error("rocksdb {} lun {}: {}: {}", db_->dir(), lun_name_, operation, status.ToString());
    if (status.IsNoSpace()) {
        return Status::error(StoreErrc::no_space, ENOSPC);
    }
    return Status::error(StoreErrc::io_error, EIO);
}

Status RocksDbStore::load_chunk(uint64_t index, std::span<uint8_t> chunk, bool& present,
                                bool cached_only) {
    const ChunkKey key = chunk_key(index);
    rocksdb::ReadOptions options;
    if (cached_only) {
        options.read_tier = rocksdb::kBlockCacheTier;
    }
    rocksdb::PinnableSlice value;
    const rocksdb::Status s = db_->db().Get(options, family_, slice(key), &value);
    if (s.IsNotFound()) {
        present = false;
        std::memset(chunk.data(), 0, chunk.size());
        return Status::success();
    }
    if (not_in_memory(s, cached_only, value.size(), chunk.size())) {
        return Status::error(StoreErrc::would_block);
    }
    if (!s.ok()) {
        return failed("read", s);
    }
    if (value.size() != chunk.size()) {
        return failed("read",
                      rocksdb::Status::Corruption("chunk of " + std::to_string(index) + " has " +
                                                  std::to_string(value.size()) + " bytes"));
    }
    present = true;
    std::memcpy(chunk.data(), value.data(), chunk.size());
    return Status::success();
}

Status RocksDbStore::read(uint64_t offset, std::span<uint8_t> out) {
    return read_from(offset, out, false);
}

Status RocksDbStore::read_nowait(uint64_t offset, std::span<uint8_t> out) {
    return read_from(offset, out, true);
}

Status RocksDbStore::read_from(uint64_t offset, std::span<uint8_t> out, bool cached_only) {
    rocksdb::ReadOptions options;
    if (cached_only) {
        // The memtables and the block cache only: a read that needs a file block is Incomplete.
        options.read_tier = rocksdb::kBlockCacheTier;
    }
    if (!in_range(offset, out.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (out.empty()) {
        return Status::success();
    }
    const uint64_t end = offset + out.size();
    const uint64_t first = offset >> chunk_shift_;
    const uint64_t last = (end - 1) >> chunk_shift_;
    // Copies the part of chunk `index` that the read covers from `data` (zeros when null).
    const auto place = [&](uint64_t index, const char* data) {
        const uint64_t chunk_start = index << chunk_shift_;
        const uint64_t from = std::max(offset, chunk_start);
        const uint64_t to = std::min(end, chunk_start + chunk_bytes_);
        uint8_t* dst = out.data() + (from - offset);
        if (data == nullptr) {
            std::memset(dst, 0, to - from);
        } else {
            std::memcpy(dst, data + (from - chunk_start), to - from);
        }
    };

    // A memory-only read (kBlockCacheTier) that RocksDB cannot answer from memory should end
    // Incomplete. Debian's RocksDB 7.8.3 does not always say so: after a compaction, a
    // memory-only read now and then came back OK with an empty value (bench/run_vs_tgt.sh's
    // read-back of a rocksdb LUN failed with "chunk of wrong size" in two runs of two; RocksDB
    // fixed such cases later: #12443, and a swallowed Incomplete in TableCache::MultiGet noted on
    // #12462). So a memory-only read takes a wrong-sized answer for Incomplete (not_in_memory(),
    // the worker reads again, with I/O), and a read of several chunks, whose MultiGet is where the
    // answer was wrong, never runs memory-only: it goes to a worker.
    if (cached_only && first != last) {
        return Status::error(StoreErrc::would_block);
    }
    if (first == last) {
        const ChunkKey key = chunk_key(first);
        rocksdb::PinnableSlice value;
        const rocksdb::Status s = db_->db().Get(options, family_, slice(key), &value);
        if (s.IsNotFound()) {
            place(first, nullptr);
            return Status::success();
        }
        if (not_in_memory(s, cached_only, value.size(), chunk_bytes_)) {
            return Status::error(StoreErrc::would_block);
        }
        if (!s.ok()) {
            return failed("read", s);
        }
        if (value.size() != chunk_bytes_) {
            return failed("read", rocksdb::Status::Corruption("chunk of wrong size"));
        }
        place(first, value.data());
        return Status::success();
    }

    // Several chunks: one MultiGet (one consistent view of them, the table lookups batched);
    // chunks that were never written are NotFound and read as zeros.
    const uint64_t count = last - first + 1;
    std::vector<ChunkKey> keys(count);
    std::vector<rocksdb::Slice> key_slices(count);
    for (uint64_t i = 0; i < count; ++i) {
        keys[i] = chunk_key(first + i);
        key_slices[i] = slice(keys[i]);
    }
    std::vector<rocksdb::PinnableSlice> values(count);
    std::vector<rocksdb::Status> statuses(count);
    db_->db().MultiGet(options, family_, count, key_slices.data(), values.data(), statuses.data(),
                       true);
    for (uint64_t i = 0; i < count; ++i) {
        const rocksdb::Status& s = statuses[i];
        if (s.IsNotFound()) {
            place(first + i, nullptr);
        } else if (!s.ok()) {
            return failed("read", s);
        } else if (values[i].size() != chunk_bytes_) {
            return failed("read", rocksdb::Status::Corruption("chunk of wrong size"));
        } else {
            place(first + i, values[i].data());
        }
    }
    return Status::success();
}

Status RocksDbStore::write(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    return write_chunks(offset, in, fua, false);
}

Status RocksDbStore::write_nowait(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    if (fua) {
        return Status::error(StoreErrc::would_block);  // a WAL sync waits for the disk
    }
    return write_chunks(offset, in, false, true);
}

Status RocksDbStore::write_chunks(uint64_t offset, std::span<const uint8_t> in, bool fua,
                                  bool nowait) {
    if (!in_range(offset, in.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (read_only_) {
        return Status::error(StoreErrc::read_only, EBADF);
    }
    if (in.empty()) {
        return fua ? flush() : Status::success();
    }
    const uint64_t end = offset + in.size();
    const uint64_t first = offset >> chunk_shift_;
    const uint64_t last = (end - 1) >> chunk_shift_;
    // Without waiting: a stripe held by a worker's write is left to that worker's turn.
    const StripeGuard guard(stripes_, first, last, nowait);
    if (!guard.owns()) {
        return Status::error(StoreErrc::would_block);
    }

    // One batch for the whole command: after a crash it is all there or not at all. Sized up
    // front (a record is about a chunk and its key), so a long write is not copied as it grows.
    rocksdb::WriteBatch batch(static_cast<size_t>((last - first + 1) * (chunk_bytes_ + 32) + 16));
    std::vector<uint8_t> merged;
    for (uint64_t index = first; index <= last; ++index) {
        const uint64_t chunk_start = index << chunk_shift_;
        const uint64_t from = std::max(offset, chunk_start);
        const uint64_t to = std::min(end, chunk_start + chunk_bytes_);
        const uint8_t* data = in.data() + (from - offset);
        if (to - from != chunk_bytes_) {
            // A partial chunk: read, modify, write (under its stripe, until the batch commits).
            // Without waiting it is read from the memtables and the block cache only.
            merged.resize(chunk_bytes_);
            bool present = false;
            if (Status st = load_chunk(index, merged, present, nowait); !st.ok()) {
                return st;
            }
            std::memcpy(merged.data() + (from - chunk_start), data, to - from);
            data = merged.data();
        }
        const ChunkKey key = chunk_key(index);
        // A chunk of zeros needs no key: it reads as zeros without one (WRITE SAME of zeros,
        // eager zeroing, stays thin).
        const rocksdb::Status s =
            all_zero(data, chunk_bytes_)
                ? batch.Delete(family_, slice(key))
                : batch.Put(family_, slice(key),
                            rocksdb::Slice(reinterpret_cast<const char*>(data), chunk_bytes_));
        if (!s.ok()) {
            return failed("write", s);
        }
    }
    rocksdb::WriteOptions options;
    options.sync = fua;
    // A write that would stall (too many memtables or L0 files) is refused with Incomplete
    // before anything of it reaches the WAL or a memtable: it is retried on a worker.
    options.no_slowdown = nowait;
    if (const rocksdb::Status s = db_->db().Write(options, &batch); !s.ok()) {
        if (nowait && s.IsIncomplete()) {
            return Status::error(StoreErrc::would_block);
        }
        return failed("write", s);
    }
    return Status::success();
}

Status RocksDbStore::flush() {
    if (read_only_) {
        return Status::success();  // nothing of ours can be unsynced
    }
    // Syncs the WAL: every write acknowledged before this call is stable after it.
    if (const rocksdb::Status s = db_->db().FlushWAL(true); !s.ok()) {
        return failed("flush", s);
    }
    return Status::success();
}

Status RocksDbStore::unmap(uint64_t offset, uint64_t length) {
    if (!in_range(offset, length)) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (read_only_) {
        return Status::error(StoreErrc::read_only, EBADF);
    }
    if (length == 0) {
        return Status::success();
    }
    const uint64_t end = offset + length;
    const uint64_t first = offset >> chunk_shift_;
    const uint64_t last = (end - 1) >> chunk_shift_;
    std::optional<StripeGuard> guard(std::in_place, stripes_, first, last);

    rocksdb::WriteBatch batch;
    std::vector<uint8_t> chunk(chunk_bytes_);
    // Zeroes the covered part of a partial chunk; a chunk left all zeros loses its key.
    const auto zero_part = [&](uint64_t index) -> Status {
        bool present = false;
        if (Status st = load_chunk(index, chunk, present); !st.ok() || !present) {
            return st;
        }
        const uint64_t chunk_start = index << chunk_shift_;
        const uint64_t from = std::max(offset, chunk_start);
        const uint64_t to = std::min(end, chunk_start + chunk_bytes_);
        std::memset(chunk.data() + (from - chunk_start), 0, to - from);
        const ChunkKey key = chunk_key(index);
        const rocksdb::Status s =
            all_zero(chunk.data(), chunk.size())
                ? batch.Delete(family_, slice(key))
                : batch.Put(
                      family_, slice(key),
                      rocksdb::Slice(reinterpret_cast<const char*>(chunk.data()), chunk.size()));
        return s.ok() ? Status::success() : failed("unmap", s);
    };

    // A chunk is whole when the range covers all of it that lies inside the LUN (the last chunk
    // may reach past the end; those bytes are zeros and never written).
    const uint64_t size = size_bytes_.load();
    const auto covers_whole = [&](uint64_t index) {
        const uint64_t chunk_start = index << chunk_shift_;
        return offset <= chunk_start && end >= std::min(chunk_start + chunk_bytes_, size);
    };
    uint64_t whole_first = first;  // the whole chunks are [whole_first, whole_end)
    uint64_t whole_end = last + 1;
    if (!covers_whole(first)) {
        if (Status st = zero_part(first); !st.ok()) {
            return st;
        }
        whole_first = first + 1;
    }
    if (last >= whole_first && !covers_whole(last)) {
        if (Status st = zero_part(last); !st.ok()) {
            return st;
        }
        whole_end = last;
    }
    if (whole_first < whole_end) {
        rocksdb::Status s;
        if (whole_end - whole_first >= delete_range_min_chunks) {
            s = batch.DeleteRange(family_, slice(chunk_key(whole_first)),
                                  slice(chunk_key(whole_end)));
        } else {
            for (uint64_t index = whole_first; s.ok() && index < whole_end; ++index) {
                s = batch.Delete(family_, slice(chunk_key(index)));
            }
        }
        if (!s.ok()) {
            return failed("unmap", s);
        }
    }
    // Not synced, like a write without FUA: with the write cache off (WCE=0) the SCSI layer
    // calls flush() once the command's ranges are unmapped (sbc_vaai.cpp).
    if (const rocksdb::Status s = db_->db().Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
        return failed("unmap", s);
    }
    guard.reset();  // writes may go on while the range compacts: theirs are newer and stay
    if (whole_first < whole_end &&
        (whole_end - whole_first) << chunk_shift_ >= compact_after_unmap_bytes) {
        rocksdb::CompactRangeOptions compact;
        compact.exclusive_manual_compaction = false;  // automatic compactions keep running
        const ChunkKey from = chunk_key(whole_first);
        const ChunkKey to = chunk_key(whole_end);
        const rocksdb::Slice from_slice = slice(from);
        const rocksdb::Slice to_slice = slice(to);
        // The unmap is done and stable either way: a failed compaction only delays the reclaim.
        if (const rocksdb::Status s =
                db_->db().CompactRange(compact, family_, &from_slice, &to_slice);
            !s.ok()) {
            spdlog::warn("rocksdb {} lun {}: compaction after unmap: {}", db_->dir(), lun_name_,
                         s.ToString());
        }
    }
    return Status::success();
}

Status RocksDbStore::mapped_extent(uint64_t offset, uint64_t limit, bool& mapped,
                                   uint64_t& length) {
    const uint64_t size = size_bytes_.load();
    if (offset >= size || limit == 0) {
        return Status::error(StoreErrc::out_of_range);
    }
    const uint64_t end = offset + std::min(limit, size - offset);
    const uint64_t first = offset >> chunk_shift_;
    const uint64_t last = (end - 1) >> chunk_shift_;
    const ChunkKey upper = chunk_key(last + 1);
    const rocksdb::Slice upper_slice = slice(upper);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper_slice;
    options.fill_cache = false;  // a scan of keys, not data anyone asked to read
    std::unique_ptr<rocksdb::Iterator> it(db_->db().NewIterator(options, family_));
    it->Seek(slice(chunk_key(first)));
    uint64_t index = 0;
    if (!it->Valid()) {
        if (!it->status().ok()) {
            return failed("get lba status", it->status());
        }
        mapped = false;  // no key up to the end of the range
        length = end - offset;
        return Status::success();
    }
    if (!decode_chunk_key(it->key(), index)) {
        return failed("get lba status", rocksdb::Status::Corruption("unexpected key"));
    }
    if (index > first) {
        mapped = false;
        length = std::min(index << chunk_shift_, end) - offset;
        return Status::success();
    }
    // A mapped run: count consecutive keys.
    uint64_t next = first + 1;
    for (it->Next(); next <= last && next - first < max_mapped_scan_chunks && it->Valid();
         it->Next()) {
        if (!decode_chunk_key(it->key(), index) || index != next) {
            break;
        }
        ++next;
    }
    if (!it->status().ok()) {
        return failed("get lba status", it->status());
    }
    mapped = true;
    length = std::min(next << chunk_shift_, end) - offset;
    return Status::success();
}

Status RocksDbStore::grow(uint64_t new_size) {
    if (read_only_) {
        return Status::error(StoreErrc::read_only);
    }
    const std::lock_guard lock(grow_mutex_);
    const uint64_t size = size_bytes_.load();
    if (new_size < size || new_size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (new_size == size) {
        return Status::success();
    }
    // The new size is recorded (synced) before it is used, so a restart never finds data
    // beyond the recorded size. The bytes past the old end read as zeros: no write reached them.
    rocksdb::WriteOptions options;
    options.sync = true;
    const ChunkKey value = chunk_key(new_size);
    if (const rocksdb::Status s = db_->db().Put(options, family_, meta_size_key, slice(value));
        !s.ok()) {
        return failed("grow", s);
    }
    size_bytes_.store(new_size);
    return Status::success();
}

uint64_t RocksDbStore::allocated_bytes() const {
    uint64_t live = 0;
    uint64_t memtables = 0;
    db_->db().GetIntProperty(family_, "rocksdb.estimate-live-data-size", &live);
    db_->db().GetIntProperty(family_, "rocksdb.cur-size-all-mem-tables", &memtables);
    return live + memtables;
}

}  // namespace atsarray::backend
