#pragma once
// A block store in RocksDB, the default backend. One database per daemon data directory holds
// every LUN that uses it, each in a column family of its own ("<target>/lun<id>"). A LUN is a
// sequence of fixed-size chunks keyed by their big-endian index: thin by nature, since a chunk
// that was never written (or was unmapped) has no key and reads as zeros. Every write command is
// one WriteBatch, so it lands whole or not at all after a crash.
//
// Durability (../shared/REFERENCES.md): a write with fua uses WriteOptions::sync (write +
// fdatasync of the WAL; concurrent syncs share one group commit); flush() syncs the WAL. A plain
// write is in the WAL in the page cache when it returns: it survives a crash of the process, not
// of the machine.

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "backend/block_store.hpp"

namespace rocksdb {
class ColumnFamilyHandle;
class Status;
}  // namespace rocksdb

namespace atsarray::backend {

// A chunk (one key) is a power of two from 512 bytes to 1 MiB: at least a logical block, small
// enough for one read-modify-write. The daemon's config checks the same rule (rocksdb.chunk_size).
inline constexpr uint64_t min_chunk_bytes = 512;
inline constexpr uint64_t max_chunk_bytes = 1ull << 20;

constexpr bool valid_chunk_bytes(uint64_t bytes) {
    return std::has_single_bit(bytes) && bytes >= min_chunk_bytes && bytes <= max_chunk_bytes;
}

struct RocksDbOptions {
    // One LRU cache shared by the database's LUNs; 0: sized to the machine (an eighth of its
    // memory, 64 MiB to 4 GiB).
    uint64_t block_cache_bytes = 0;
    // lz4 | zstd | snappy | none. None by default: a chunk of a VM disk compresses little, and
    // a compressed block costs a decompression on every read that misses the cache.
    std::string compression = "none";
    int background_jobs = 2;  // flushes and compactions at once
    // Bytes per chunk (key), valid_chunk_bytes(). Fixed when a LUN is created; a LUN that exists
    // keeps the chunk size it was created with.
    uint64_t chunk_bytes = 4096;
};

class RocksDatabase;  // one open database, shared by the stores of its LUNs (rocksdb_database.hpp)

class RocksDbStore : public BlockStore {
  public:
    // Opens LUN `lun_name` in the database at `db_dir`, creating the database when the folder
    // does not exist or holds no database at all, and the LUN when it is new. A database this
    // process already has open is shared, not opened again; the first open's database options
    // (cache, compression, background jobs) apply to all its LUNs. An existing LUN larger than
    // `size_bytes` is refused; a smaller one is grown (unless read-only). A database held by
    // another process, a damaged database and a LUN already open are refused too. On failure
    // returns nullptr and sets `error_message` to a sentence naming the folder and the cause.
    static std::unique_ptr<RocksDbStore> open(const std::string& db_dir,
                                              const std::string& lun_name, uint64_t size_bytes,
                                              const RocksDbOptions& options, bool read_only,
                                              std::string& error_message);

    ~RocksDbStore() override;  // the database closes with its last LUN
    RocksDbStore(const RocksDbStore&) = delete;
    RocksDbStore& operator=(const RocksDbStore&) = delete;

    uint64_t size_bytes() const override { return size_bytes_.load(); }
    Status grow(uint64_t new_size) override;
    Status read(uint64_t offset, std::span<uint8_t> out) override;
    bool reads_without_waiting() const override { return true; }
    Status read_nowait(uint64_t offset, std::span<uint8_t> out) override;
    Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) override;
    // Into the WAL (page cache) and the memtable, or would_block having written nothing: with
    // fua (a WAL sync), when a partial chunk to merge is not in memory, when a worker's write
    // holds one of its chunk stripes, or when RocksDB would stall the write.
    bool writes_without_waiting() const override { return !read_only_; }
    Status write_nowait(uint64_t offset, std::span<const uint8_t> in, bool fua) override;
    Status flush() override;
    // Deletes whole chunks (DeleteRange for long runs) and zeroes the covered part of partial
    // ones, in one synced batch.
    Status unmap(uint64_t offset, uint64_t length) override;
    // Mapped = the chunk holding the byte has a key.
    Status mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) override;
    uint64_t allocation_unit() const override { return chunk_bytes_; }
    // RocksDB's estimate of the LUN's live data (rocksdb.estimate-live-data-size of its column
    // family, plus what sits in its memtables).
    uint64_t allocated_bytes() const override;
    std::string kind() const override { return "rocksdb"; }

    uint64_t chunk_bytes() const { return chunk_bytes_; }
    const std::string& lun_name() const { return lun_name_; }
    bool read_only() const { return read_only_; }
    // The database's folder as opened (absolute).
    const std::string& db_dir() const;
    // True when both stores use one open database (tests of the per-folder registry).
    bool shares_database_with(const RocksDbStore& other) const { return db_ == other.db_; }

  private:
    // read() and read_nowait() (cached_only).
    Status read_from(uint64_t offset, std::span<uint8_t> out, bool cached_only);
    // write() and write_nowait() (nowait: never wait for a lock, the disk or a write stall).
    Status write_chunks(uint64_t offset, std::span<const uint8_t> in, bool fua, bool nowait);
    // Read-modify-write of a partial chunk must not interleave with another write to the same
    // chunk: two writes to different blocks of one chunk are not ordered by the SCSI layer's
    // LBA locks. Writes take the stripes of every chunk they touch, ascending, for the whole
    // read-modify-write-commit (RocksDB's Striped<CacheAligned<Mutex>> shape).
    static constexpr size_t stripe_count = 256;
    struct alignas(64) Stripe {
        std::mutex mutex;
    };
    class StripeGuard;

    RocksDbStore(std::shared_ptr<RocksDatabase> db, rocksdb::ColumnFamilyHandle* family,
                 std::string lun_name, uint64_t size_bytes, uint64_t chunk_bytes, bool read_only);

    bool in_range(uint64_t offset, uint64_t length) const;
    // Reads chunk `index` into `chunk` (chunk_bytes_ long): its bytes, or zeros when absent.
    // cached_only: from the memtables and the block cache, else would_block.
    Status load_chunk(uint64_t index, std::span<uint8_t> chunk, bool& present,
                      bool cached_only = false);
    // Logs a failed RocksDB call once and maps it to a store status.
    Status failed(const char* operation, const rocksdb::Status& status) const;

    std::shared_ptr<RocksDatabase> db_;
    rocksdb::ColumnFamilyHandle* family_;  // owned by db_
    std::string lun_name_;
    std::atomic<uint64_t> size_bytes_;  // grows at run time (grow())
    uint64_t chunk_bytes_;
    unsigned chunk_shift_;  // log2(chunk_bytes_)
    bool read_only_;
    std::mutex grow_mutex_;
    std::array<Stripe, stripe_count> stripes_;
};

}  // namespace atsarray::backend
