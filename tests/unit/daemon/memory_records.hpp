#pragma once
// backend::SharedRecords in memory, for tests of what several gateways share: one object stands
// for the cluster's records, every "gateway" of the test holds a reference to it. Writers are
// compare-and-set on the version, as in RADOS; watchers are called synchronously after a write.

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "backend/shared_records.hpp"

namespace atsarray::test {

class MemoryRecords : public backend::SharedRecords {
  public:
    backend::Status read(const std::string& key, std::string& value, uint64_t& version) override {
        std::lock_guard lock(mutex_);
        if (down) {
            return backend::Status::error(backend::StoreErrc::busy, 110);
        }
        const auto it = records_.find(key);
        value = it == records_.end() ? std::string() : it->second.first;
        version = it == records_.end() ? 0 : it->second.second;
        return backend::Status::success();
    }
    backend::Status write_if(const std::string& key, const std::string& value,
                             uint64_t expected_version, bool& written,
                             uint64_t& new_version) override {
        std::map<uint64_t, std::function<void(const std::string&)>> watchers;
        {
            std::lock_guard lock(mutex_);
            if (down) {
                return backend::Status::error(backend::StoreErrc::busy, 110);
            }
            auto& record = records_[key];
            written = record.second == expected_version;
            if (!written) {
                if (record.second == 0) {
                    records_.erase(key);
                }
                return backend::Status::success();
            }
            record = {value, ++next_version_};
            new_version = record.second;
            watchers = watchers_;
        }
        for (const auto& [id, changed] : watchers) {
            changed(key);
        }
        return backend::Status::success();
    }
    backend::Status list(const std::string& prefix,
                         std::map<std::string, std::string>& out) override {
        std::lock_guard lock(mutex_);
        if (down) {
            return backend::Status::error(backend::StoreErrc::busy, 110);
        }
        out.clear();
        for (const auto& [key, record] : records_) {
            if (key.starts_with(prefix)) {
                out[key] = record.first;
            }
        }
        return backend::Status::success();
    }
    uint64_t watch(std::function<void(const std::string& key)> changed) override {
        std::lock_guard lock(mutex_);
        watchers_[++next_watch_] = std::move(changed);
        return next_watch_;
    }
    void unwatch(uint64_t id) override {
        std::lock_guard lock(mutex_);
        watchers_.erase(id);
    }

    bool down = false;  // every call answers busy (the cluster does not answer)

  private:
    std::mutex mutex_;
    std::map<std::string, std::pair<std::string, uint64_t>> records_;
    std::map<uint64_t, std::function<void(const std::string&)>> watchers_;
    uint64_t next_version_ = 0;
    uint64_t next_watch_ = 0;
};

}  // namespace atsarray::test
