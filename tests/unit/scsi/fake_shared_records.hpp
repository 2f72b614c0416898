#pragma once
// SharedRecords in memory, standing for the records object several gateways share: write_if is
// atomic under one mutex, change notices reach every watcher before write_if returns (as
// RadosRecords' acknowledged notify does), and a test can lose notices, fail calls as a cluster
// timeout does, or slip another gateway's write in between a reader and its write_if.

#include <cerrno>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backend/shared_records.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi::test {

class FakeSharedRecords : public backend::SharedRecords {
  public:
    backend::Status read(const std::string& key, std::string& value, uint64_t& version) override {
        std::lock_guard lock(mutex_);
        ++reads;
        if (timing_out) {
            return backend::Status::error(backend::StoreErrc::io_error, ETIMEDOUT);
        }
        auto it = records_.find(key);
        value = it == records_.end() ? std::string() : it->second.first;
        version = it == records_.end() ? 0 : it->second.second;
        return backend::Status::success();
    }

    backend::Status write_if(const std::string& key, const std::string& value,
                             uint64_t expected_version, bool& written,
                             uint64_t& new_version) override {
        written = false;
        new_version = 0;
        std::function<void()> hook;
        {
            std::lock_guard lock(mutex_);
            hook = std::move(before_next_write);
            before_next_write = nullptr;
        }
        if (hook) {
            hook();
        }
        {
            std::lock_guard lock(mutex_);
            if (timing_out) {
                return backend::Status::error(backend::StoreErrc::io_error, ETIMEDOUT);
            }
            auto& [stored, version] = records_[key];
            if (version != expected_version) {
                ++conflicts;
                return backend::Status::success();
            }
            stored = value;
            version = expected_version + 1;
            new_version = version;
            written = true;
        }
        if (delivers_notices) {
            notify(key);
        }
        return backend::Status::success();
    }

    backend::Status list(const std::string& prefix,
                         std::map<std::string, std::string>& out) override {
        std::lock_guard lock(mutex_);
        out.clear();
        for (const auto& [key, record] : records_) {
            if (key.starts_with(prefix) && record.second != 0) {
                out.emplace(key, record.first);
            }
        }
        return backend::Status::success();
    }

    uint64_t watch(std::function<void(const std::string& key)> changed) override {
        std::lock_guard lock(mutex_);
        watchers_.emplace(next_id_, std::move(changed));
        return next_id_++;
    }

    void unwatch(uint64_t id) override {
        std::lock_guard lock(mutex_);
        watchers_.erase(id);
    }

    // Delivers a notice for `key` now (a late notice).
    void notify(const std::string& key) {
        std::vector<std::function<void(const std::string&)>> targets;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [id, f] : watchers_) {
                targets.push_back(f);
            }
        }
        for (const auto& f : targets) {
            f(key);
        }
    }

    std::string value_of(const std::string& key) {
        std::lock_guard lock(mutex_);
        return records_[key].first;
    }

    // False: notices are lost (a gateway that did not acknowledge in time).
    bool delivers_notices = true;
    // Every call answers a timeout (the cluster does not answer).
    bool timing_out = false;
    // Runs once, at the start of the next write_if, before it compares the version.
    std::function<void()> before_next_write;
    int reads = 0;
    int conflicts = 0;

  private:
    std::mutex mutex_;
    std::map<std::string, std::pair<std::string, uint64_t>> records_;
    std::map<uint64_t, std::function<void(const std::string&)>> watchers_;
    uint64_t next_id_ = 1;
};

// What the daemon does for an rbd LUN: reservations in the records, unit attentions for
// changes of other gateways queued on this LUN.
inline bool share_reservations(Lun& lun, backend::SharedRecords& records) {
    return lun.reservations().use_shared_records(&records, "persistent-reservations",
                                                 [&lun](uint64_t nexus_id, SenseReason reason) {
                                                     lun.unit_attentions().queue(nexus_id, reason);
                                                 });
}

}  // namespace atsarray::scsi::test
