// The database side of the RocksDB store (rocksdb_database.hpp): how a folder's database is
// found, created or refused, the options it is opened with, and the per-folder registry of open
// databases. The LUN's blocks are rocksdb_store.cpp's.

#include "backend/rocksdb_database.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <spdlog/spdlog.h>

namespace atsarray::backend {

namespace {

namespace fs = std::filesystem;

struct Compression {
    std::string_view name;
    rocksdb::CompressionType type;
};
constexpr std::array<Compression, 4> compressions = {{{"none", rocksdb::kNoCompression},
                                                      {"lz4", rocksdb::kLZ4Compression},
                                                      {"zstd", rocksdb::kZSTD},
                                                      {"snappy", rocksdb::kSnappyCompression}}};

// Memtables: per LUN, and for all LUNs of the database together (a flush starts when either
// fills). Larger ones absorb rewrites of hot chunks before they reach a table file: 128 MiB
// instead of 64 cost 10% less CPU per 128 KiB random write (in-process, 4 writers).
constexpr uint64_t write_buffer_bytes = 128ull << 20;
constexpr uint64_t db_write_buffer_bytes = 512ull << 20;

// The block cache when the config leaves it to the machine ("auto"): an eighth of the memory
// this process may use (the machine's, or its cgroup's limit when lower), from 64 MiB to 4 GiB.
uint64_t auto_block_cache_bytes() {
    constexpr uint64_t min_bytes = 64ull << 20;
    constexpr uint64_t max_bytes = 4ull << 30;
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGE_SIZE);
    uint64_t memory = pages > 0 && page_size > 0
                          ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size)
                          : 0;
    // cgroup v2 ("max" when unlimited) or v1.
    for (const char* path :
         {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
        std::ifstream in(path);
        uint64_t limit = 0;
        if (in >> limit && limit > 0 && (memory == 0 || limit < memory)) {
            memory = limit;
        }
    }
    return std::clamp(memory / 8, min_bytes, max_bytes);
}

bool is_lock_error(const rocksdb::Status& s) {
    // "While lock file: DIR/LOCK: Resource temporarily unavailable" (another process) or
    // "lock hold by current process ... DIR/LOCK" (this one, outside the registry).
    return s.IsIOError() && s.ToString().find("/LOCK") != std::string::npos;
}

// The per-folder registry of open databases (folders absolute, as RocksDbStore::open() makes them).
struct Registry {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<RocksDatabase>> databases;  // folder -> database
};

// Never destroyed: a store released during static destruction still finds it.
Registry& registry() {
    static auto* r = new Registry;
    return *r;
}

}  // namespace

RocksDatabase::RocksDatabase(std::string dir, std::unique_ptr<rocksdb::DB> db,
                             rocksdb::ColumnFamilyOptions family_options,
                             const std::vector<rocksdb::ColumnFamilyHandle*>& handles)
    : dir_(std::move(dir)), db_(std::move(db)), family_options_(std::move(family_options)) {
    for (auto* handle : handles) {
        families_.emplace(handle->GetName(), handle);
    }
}

RocksDatabase::~RocksDatabase() {
    for (auto& [name, handle] : families_) {
        (void)db_->DestroyColumnFamilyHandle(handle);
    }
    if (const rocksdb::Status s = db_->Close(); !s.ok()) {
        spdlog::warn("rocksdb {}: close: {}", dir_, s.ToString());
    }
}

rocksdb::Status RocksDatabase::create_family(const std::string& name,
                                             rocksdb::ColumnFamilyHandle*& handle) {
    rocksdb::Status s = db_->CreateColumnFamily(family_options_, name, &handle);
    if (s.ok()) {
        families_.emplace(name, handle);
    }
    return s;
}

std::unique_lock<std::mutex> RocksDatabase::lock_registry() {
    return std::unique_lock(registry().mutex);
}

std::shared_ptr<RocksDatabase> RocksDatabase::shared(const std::string& dir,
                                                     const RocksDbOptions& options,
                                                     std::string& error_message) {
    Registry& reg = registry();
    if (auto it = reg.databases.find(dir); it != reg.databases.end()) {
        return it->second;
    }
    std::shared_ptr<RocksDatabase> db = open(dir, options, error_message);
    if (db) {
        reg.databases.emplace(dir, db);
    }
    return db;
}

void RocksDatabase::release(const std::string& name) {
    open_luns_.erase(name);
    if (open_luns_.empty()) {
        // Not the last reference: the caller holds one (release()'s contract).
        registry().databases.erase(dir_);
    }
}

std::shared_ptr<RocksDatabase> RocksDatabase::open(const std::string& dir,
                                                   const RocksDbOptions& options,
                                                   std::string& error_message) {
    const std::string where = "RocksDB database " + dir;
    std::error_code ec;
    const bool has_database = fs::exists(fs::path(dir) / "CURRENT", ec);
    if (!has_database) {
        // Create only where there is no database at all. Data lives in WAL (*.log) and table
        // (*.sst) files: a folder holding some but no CURRENT is a damaged database, and a new
        // one over it would silently lose what it holds.
        if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
            error_message = where + ": exists and is not a folder";
            return nullptr;
        }
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            const auto extension = it->path().extension();
            if (extension == ".sst" || extension == ".log") {
                error_message = where + " is damaged: it holds " + it->path().filename().string() +
                                " but no CURRENT file; atsarray does not reformat it (restore "
                                "CURRENT, or move the folder away to start empty)";
                return nullptr;
            }
        }
        fs::create_directories(dir, ec);
        if (ec) {
            error_message = where + ": cannot create the folder: " + ec.message();
            return nullptr;
        }
    }

    Compression compression = compressions[0];
    const auto known =
        std::find_if(compressions.begin(), compressions.end(),
                     [&](const Compression& c) { return c.name == options.compression; });
    if (known == compressions.end()) {
        error_message = where + ": unknown compression \"" + options.compression +
                        "\" (lz4, zstd, snappy or none)";
        return nullptr;
    }
    const auto supported = rocksdb::GetSupportedCompressions();
    if (known->type == rocksdb::kNoCompression ||
        std::find(supported.begin(), supported.end(), known->type) != supported.end()) {
        compression = *known;
    } else {
        spdlog::warn("{}: this RocksDB library lacks {} compression; storing uncompressed", where,
                     options.compression);
    }

    const uint64_t cache_bytes =
        options.block_cache_bytes != 0 ? options.block_cache_bytes : auto_block_cache_bytes();
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = !has_database;
    db_options.max_background_jobs = std::max(1, options.background_jobs);
    // A torn WAL tail after a crash is dropped; every write synced before it is recovered.
    db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    db_options.db_write_buffer_size = db_write_buffer_bytes;  // all LUNs' memtables together
    db_options.bytes_per_sync = 1ull << 20;  // table files reach the disk as they grow
    db_options.keep_log_file_num = 4;        // RocksDB's own info LOG files
    db_options.max_log_file_size = 8ull << 20;
    // The WAL write of one group and the memtable inserts of the previous one overlap; a write
    // still returns only once both are done (write() and write_nowait() wait for nothing else).
    db_options.enable_pipelined_write = true;
    // Deleting obsolete WAL and table files, and freeing memtables, happen on a background
    // thread, never in a write on an I/O thread (write_nowait()).
    db_options.avoid_unnecessary_blocking_io = true;

    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(static_cast<size_t>(cache_bytes));
    // Four 4 KiB chunks per data block. Measured against one chunk per block: multi-chunk
    // reads and flushes cost less, and a cache miss warms the neighbours too.
    table.block_size = 16 * 1024;
    // Reads of chunks that were never written are common on a thin LUN: answer them without
    // touching table files.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    // Index and filter blocks live in the cache (bounded by it, at a high priority), those of
    // L0 files pinned there: every read consults them.
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    // A flush leaves the chunks it writes in the cache: what was just written is still read
    // on the I/O thread (read_nowait()) once its memtable is gone.
    table.prepopulate_block_cache =
        rocksdb::BlockBasedTableOptions::PrepopulateBlockCache::kFlushOnly;
    rocksdb::ColumnFamilyOptions family_options;
    family_options.compression = compression.type;
    family_options.write_buffer_size = write_buffer_bytes;
    family_options.max_write_buffer_number = 4;
    // A bloom filter on the memtable's keys: a read of a chunk the memtable does not hold skips
    // its skiplist.
    family_options.memtable_whole_key_filtering = true;
    family_options.memtable_prefix_bloom_size_ratio = 0.02;
    family_options.level_compaction_dynamic_level_bytes = true;
    family_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

    std::vector<std::string> names;
    if (has_database) {
        const rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, dir, &names);
        if (!s.ok()) {
            const bool damaged = s.IsCorruption() || s.IsPathNotFound();  // e.g. no MANIFEST
            error_message = where + (damaged ? " is damaged: " : ": cannot read: ") + s.ToString() +
                            "; atsarray does not reformat it";
            return nullptr;
        }
    } else {
        names.push_back(rocksdb::kDefaultColumnFamilyName);
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) {
        descriptors.emplace_back(name, family_options);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &handles, &raw);
    if (!s.ok()) {
        if (is_lock_error(s)) {
            error_message = where +
                            " is in use by another process (its LOCK file is held): stop "
                            "the other atsarray or give this one another data_dir";
        } else if (s.IsCorruption()) {
            error_message = where + " is damaged: " + s.ToString() +
                            "; atsarray does not reformat it (restore it, or move the folder "
                            "away to start empty)";
        } else {
            error_message = where + ": cannot open: " + s.ToString();
        }
        return nullptr;
    }
    spdlog::info("{}: {} ({} LUN column families, block cache {} MiB, {} compression)", where,
                 has_database ? "opened" : "created", names.size() - 1, cache_bytes >> 20,
                 compression.name);
    return std::make_shared<RocksDatabase>(dir, std::unique_ptr<rocksdb::DB>(raw),
                                           std::move(family_options), handles);
}

}  // namespace atsarray::backend
