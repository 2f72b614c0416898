#pragma once
// Test support for the SCSI layer: a vector-backed BlockStore that records what it was asked,
// and a harness that runs raw CDBs through a Lun or TargetDevice synchronously.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "backend/block_store.hpp"
#include "target/scsi/command.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::scsi::test {

class FakeStore : public backend::BlockStore {
  public:
    // claimed_size > size: a store that reports more capacity than it holds (capacity tests).
    explicit FakeStore(uint64_t size, bool blocking = false, uint64_t claimed_size = 0)
        : data_(size), blocking_(blocking), claimed_size_(claimed_size) {}

    uint64_t size_bytes() const override {
        return claimed_size_ != 0 ? claimed_size_ : data_.size();
    }
    backend::Status read(uint64_t offset, std::span<uint8_t> out) override {
        ++reads;
        if (fail_next) {
            return take_failure();
        }
        if (offset + out.size() > data_.size()) {
            return backend::Status::error(backend::StoreErrc::out_of_range);
        }
        std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
        return backend::Status::success();
    }
    backend::Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) override {
        ++writes;
        last_fua = fua;
        last_write_offset = offset;
        last_write_size = in.size();
        if (fail_next) {
            return take_failure();
        }
        if (offset + in.size() > data_.size()) {
            return backend::Status::error(backend::StoreErrc::out_of_range);
        }
        std::copy(in.begin(), in.end(), data_.begin() + static_cast<std::ptrdiff_t>(offset));
        return backend::Status::success();
    }
    backend::Status flush() override {
        ++flushes;
        if (fail_next) {
            return take_failure();
        }
        return backend::Status::success();
    }
    bool blocking() const override { return blocking_; }
    std::string kind() const override { return "fake"; }

    std::vector<uint8_t>& data() { return data_; }

    int reads = 0;
    int writes = 0;
    int flushes = 0;
    bool last_fua = false;
    uint64_t last_write_offset = 0;
    size_t last_write_size = 0;
    std::optional<backend::StoreErrc> fail_next;

  private:
    backend::Status take_failure() {
        auto c = *fail_next;
        fail_next.reset();
        return backend::Status::error(c, 5);
    }
    std::vector<uint8_t> data_;
    bool blocking_;
    uint64_t claimed_size_;
};

inline LunSettings default_settings(uint64_t id = 0, uint64_t blocks = 1024) {
    LunSettings s;
    s.id = id;
    s.block_size = 512;
    s.block_count = blocks;
    s.vendor = "ATSARRAY";
    s.product = "VIRTUAL-DISK";
    s.revision = "0001";
    s.serial = "SER" + std::to_string(id);
    s.target_name = "iqn.2024-01.org.atsarray:test";
    s.write_cache = true;
    s.read_only = false;
    return s;
}

// The outcome of one command, copied out of the Command.
struct Result {
    Status status = Status::good;
    std::vector<uint8_t> sense;
    std::vector<uint8_t> data;
    uint32_t data_out_wanted = 0;
    int completions = 0;

    uint8_t key() const { return sense.size() > 2 ? sense[2] & 0x0F : 0xFF; }
    uint8_t asc() const { return sense.size() > 12 ? sense[12] : 0xFF; }
    uint8_t ascq() const { return sense.size() > 13 ? sense[13] : 0xFF; }
};

struct Request {
    std::vector<uint8_t> cdb;
    uint64_t lun = 0;
    const Nexus* nexus = nullptr;
    std::optional<uint32_t> edtl;  // defaults to data_out.size() for writes, 64 KiB otherwise
    std::vector<uint8_t> data_out;
};

inline std::vector<uint8_t> cdb16(std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> c(bytes);
    c.resize(16, 0);  // iSCSI carries 16 CDB bytes; the rest is padding
    return c;
}

// Runs one command and waits for its completion: a command that queued for its LBA locks
// completes on the thread of the command that released them.
template <typename Target>
Result run(Target& target, const Request& r) {
    Command cmd;
    std::vector<uint8_t> data_in;
    cmd.cdb = r.cdb;
    cmd.lun = r.lun;
    cmd.nexus = r.nexus;
    cmd.data_out = r.data_out;
    cmd.expected_transfer_length =
        r.edtl ? *r.edtl : (r.data_out.empty() ? 65536u : static_cast<uint32_t>(r.data_out.size()));
    cmd.data_in = &data_in;
    Result out;
    std::mutex mutex;
    std::condition_variable cv;
    target.execute(cmd, [&](Command& c) {
        std::lock_guard lock(mutex);
        ++out.completions;
        out.status = c.status;
        auto v = c.sense.view();
        out.sense.assign(v.begin(), v.end());
        out.data_out_wanted = c.data_out_wanted;
        cv.notify_all();
    });
    std::unique_lock lock(mutex);
    cv.wait(lock, [&out] { return out.completions > 0; });
    out.data = data_in;
    return out;
}

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<uint8_t>(seed + i * 7);
    }
    return v;
}

}  // namespace atsarray::scsi::test

namespace atsarray::scsi::test {

// A LUN of 1024 x 512-byte blocks over a FakeStore; commands come from `nexus`.
class LunFixture : public ::testing::Test {
  protected:
    void SetUp() override { make_lun(default_settings()); }

    void make_lun(const LunSettings& s) {
        store = std::make_shared<FakeStore>(s.block_count * s.block_size);
        lun = std::make_shared<Lun>(s, store);
    }

    Result exec(std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {},
                std::optional<uint32_t> edtl = std::nullopt) {
        Request r;
        r.cdb = std::move(cdb);
        r.nexus = &nexus;
        r.data_out = std::move(data_out);
        r.edtl = edtl;
        Result res = run(*lun, r);
        EXPECT_EQ(res.completions, 1);
        return res;
    }

    Nexus nexus{7, "iqn.test:init", "iqn.test:init,i,0x1", "127.0.0.1:1", 1};
    std::shared_ptr<FakeStore> store;
    std::shared_ptr<Lun> lun;
};

// Expects CHECK CONDITION with fixed-format sense of the given key/ASC/ASCQ.
#define EXPECT_CHECK(res, k, a, q)                        \
    do {                                                  \
        const ::atsarray::scsi::test::Result& r_ = (res); \
        EXPECT_EQ(r_.status, Status::check_condition);    \
        EXPECT_EQ(r_.key(), (k));                         \
        EXPECT_EQ(r_.asc(), (a));                         \
        EXPECT_EQ(r_.ascq(), (q));                        \
    } while (false)

// Expects the fixed-format SENSE KEY SPECIFIC bytes 15..17.
inline std::vector<uint8_t> sks(const Result& r) {
    if (r.sense.size() < 18) {
        return {};
    }
    return {r.sense[15], r.sense[16], r.sense[17]};
}

}  // namespace atsarray::scsi::test
