#pragma once
// The database side of the RocksDB store (rocksdb_store.hpp): one open database and its column
// families (one per LUN), the DBOptions, ColumnFamilyOptions and BlockBasedTableOptions it is
// opened with (built from RocksDbOptions; the block cache sized to the machine when left to it),
// and the per-folder registry that opens a folder once per process and closes it with its last
// LUN. Private to the store: only rocksdb_store.cpp and rocksdb_database.cpp include it, as
// RocksDB is a private dependency of atsarray_backend (backend/CMakeLists.txt).

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "backend/rocksdb_store.hpp"

namespace atsarray::backend {

// One open database and the column families in it. Created, shared and closed under the
// registry's mutex: a folder is opened once per process, and closed when its last LUN closes.
class RocksDatabase {
  public:
    RocksDatabase(std::string dir, std::unique_ptr<rocksdb::DB> db,
                  rocksdb::ColumnFamilyOptions family_options,
                  const std::vector<rocksdb::ColumnFamilyHandle*>& handles);
    ~RocksDatabase();

    RocksDatabase(const RocksDatabase&) = delete;
    RocksDatabase& operator=(const RocksDatabase&) = delete;

    // The registry's lock. A LUN's store holds it from finding its database to recording the
    // LUN's metadata, and while it closes; shared() and release() want it held.
    [[nodiscard]] static std::unique_lock<std::mutex> lock_registry();
    // The database open at `dir` (absolute), or else opened now with `options` and registered.
    // On failure returns nullptr and sets `error_message` to a sentence naming the folder and
    // the cause.
    static std::shared_ptr<RocksDatabase> shared(const std::string& dir,
                                                 const RocksDbOptions& options,
                                                 std::string& error_message);

    rocksdb::DB& db() { return *db_; }
    const std::string& dir() const { return dir_; }

    // The column family `name`, or nullptr when it does not exist.
    rocksdb::ColumnFamilyHandle* family(const std::string& name) const {
        const auto it = families_.find(name);
        return it == families_.end() ? nullptr : it->second;
    }

    rocksdb::Status create_family(const std::string& name, rocksdb::ColumnFamilyHandle*& handle);

    // A LUN is open at most once: false when `name` already is.
    bool claim(const std::string& name) { return open_luns_.insert(name).second; }
    // Gives LUN `name` back. A database no LUN uses any more leaves the registry; it closes with
    // the caller's reference, which the caller drops while it still holds the registry's lock.
    void release(const std::string& name);

  private:
    static std::shared_ptr<RocksDatabase> open(const std::string& dir,
                                               const RocksDbOptions& options,
                                               std::string& error_message);

    std::string dir_;
    std::unique_ptr<rocksdb::DB> db_;
    rocksdb::ColumnFamilyOptions family_options_;
    std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
    std::set<std::string> open_luns_;
};

}  // namespace atsarray::backend
