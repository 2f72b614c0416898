#pragma once
// Small records kept in the medium itself and shared by every process that opens it: the LUN's
// identity, persistent reservations, the gateways' ALUA view. Each record has a key, a value and
// a version that only write_if() changes, so that read-modify-write cycles of several processes
// (several gateways exporting one RBD image) never lose an update: the compare-and-swap of
// ceph-iscsi's gateway config object, per record.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "backend/block_store.hpp"

namespace atsarray::backend {

class SharedRecords {
  public:
    virtual ~SharedRecords() = default;
    // The record's value and version; version 0 and empty value when absent.
    virtual Status read(const std::string& key, std::string& value, uint64_t& version) = 0;
    // Writes `value` only if the record's version is still `expected_version` (0: only if the
    // record is absent), atomically against every other process: `written` false when another
    // writer got there first (read again and retry). The new version is returned in
    // `new_version`.
    virtual Status write_if(const std::string& key, const std::string& value,
                            uint64_t expected_version, bool& written, uint64_t& new_version) = 0;
    // Every record whose key starts with `prefix`: key -> value.
    // write_if() without telling the watchers: for a record written often that nobody waits on
    // (a gateway's heartbeat), so a dead watcher's lingering watch never slows its writer.
    virtual Status write_if_quiet(const std::string& key, const std::string& value,
                                  uint64_t expected_version, bool& written, uint64_t& new_version) {
        return write_if(key, value, expected_version, written, new_version);
    }
    virtual Status list(const std::string& prefix, std::map<std::string, std::string>& out) = 0;
    // Calls `changed(key)` (on a thread of the store's) after any process wrote `key` through
    // write_if (rados watch/notify); returns an id for unwatch. Best effort: readers that must
    // be exact read the record again.
    virtual uint64_t watch(std::function<void(const std::string& key)> changed) = 0;
    virtual void unwatch(uint64_t id) = 0;
};

}  // namespace atsarray::backend
