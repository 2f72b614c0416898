#pragma once
// A block store on a Ceph RBD image (librbd's and librados' C API, Ceph 16.2), shared by every
// gateway that opens the same image: the scale-out LUN of issue 15.
//
// - Uncached (rbd_cache = false): every acknowledged write is in the OSDs, so what one gateway
//   acknowledged another one reads. FUA and flush() still call rbd_aio_flush, which costs
//   nothing without a cache and keeps them right if an operator turns the cache back on.
// - Never hangs: the cluster connection and every operation are bounded by `timeout_s`
//   (client_mount_timeout, rados_mon_op_timeout, rados_osd_op_timeout, and a bounded wait on
//   each completion). An operation that runs out of time answers StoreErrc::busy (ETIMEDOUT):
//   the SCSI layer answers BUSY and the host retries. Such an operation may still land later
//   (the stale write hazard of tcmu-runner#420); the buffers it uses belong to it until then.
// - COMPARE AND WRITE is one RADOS write operation (cmpext + write) on the image's data object,
//   applied by the OSD atomically against every client of the image: librbd 16.2's
//   rbd_aio_compare_and_write only works inside one 512-byte sector (../shared/CEPH.md). A
//   request that straddles two data objects (4 MiB by default, so only one that crosses a 4 MiB
//   boundary) cannot be one operation and is refused (io_error, EINVAL).
// - The image must let a plain RADOS write land beside librbd's: no object-map, fast-diff or
//   journaling (they would not see it), not a clone (a missing object would read from the
//   parent, not as zeros), one object per stripe. open() refuses other images with a sentence
//   that says why. Images it creates have the layering feature only: no exclusive-lock, as
//   several gateways write the same image at once (with it every write moves the lock).

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend/block_store.hpp"
#include "backend/rados_records.hpp"

namespace atsarray::backend {

struct RbdOptions {
    std::string pool;
    std::string image;
    std::string ceph_conf;         // empty: $CEPH_CONF, else /etc/ceph/ceph.conf (librados' search)
    std::string client = "admin";  // the cephx name without "client."
    std::string keyring;           // empty: the one ceph.conf names
    bool create = false;           // create a thin image of size_bytes when it does not exist
    uint64_t size_bytes = 0;       // required with create; else the image's size is used
    uint32_t timeout_s = 30;       // connect and per-operation timeout
    bool read_only = false;
};

class RbdStore : public BlockStore {
  public:
    // Connects to the cluster and opens (or creates) the image. On failure returns nullptr and
    // sets `error` to a sentence naming the cluster, pool or image and the cause; a cluster that
    // is down fails within about timeout_s.
    static std::shared_ptr<RbdStore> open(const RbdOptions& options, std::string& error);

    ~RbdStore() override;
    RbdStore(const RbdStore&) = delete;
    RbdStore& operator=(const RbdStore&) = delete;

    uint64_t size_bytes() const override { return size_bytes_.load(std::memory_order_acquire); }
    Status read(uint64_t offset, std::span<uint8_t> out) override;
    Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) override;
    Status flush() override;
    // rbd_aio_write_zeroes: whole objects are removed, parts of objects zeroed in place. Not
    // rbd_aio_discard, which skips every part smaller than rbd_discard_granularity_bytes and
    // would break the zero-read guarantee.
    Status unmap(uint64_t offset, uint64_t length) override;
    // rbd_diff_iterate2 (whole_object = false) over at most scan_objects objects from `offset`:
    // an object is mapped from its start to its length; holes inside an object are not seen.
    Status mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) override;
    // The object size: RBD allocates and frees whole objects (a zeroed part of one stays
    // allocated), and GET LBA STATUS sees objects, so a smaller unit would promise what unmap
    // cannot keep. tcmu-runner's rbd handler advertises the object size too.
    uint64_t allocation_unit() const override { return object_size_; }
    // The sum of the objects' lengths (rbd_diff_iterate2 over the image), refreshed on a thread
    // of the store's while callers ask, at most once a second (and at most a tenth of the time
    // on a large image, where a walk is one request per object): never blocks the caller. 0
    // until the first walk after open() ended.
    uint64_t allocated_bytes() const override;
    // rbd_resize2 without shrink.
    Status grow(uint64_t new_size) override;
    bool compares_in_store() const override { return true; }
    Status compare_and_write(uint64_t offset, std::span<const uint8_t> compare,
                             std::span<const uint8_t> data, bool fua,
                             uint64_t& first_difference) override;
    // The image's records (RadosRecords on the object "atsarray.<image id>" in its pool):
    // the LUN's identity, persistent reservations and the gateways' ALUA view, shared by every
    // gateway that opens the image. Made by open(), destroyed before the I/O context they use.
    SharedRecords* shared_records() override { return records_.get(); }
    bool blocking() const override { return true; }
    std::string kind() const override { return "rbd"; }

    // The image's pool (where the shared records object lives), valid while the store lives.
    rados_ioctx_t io_context() const { return io_; }
    const std::string& pool_name() const { return pool_; }
    const std::string& image_name() const { return image_name_; }
    bool read_only() const { return read_only_; }
    // The RADOS object holding the image's bytes at `offset` (rbd_data.<id>.<object number>).
    std::string data_object_name(uint64_t offset) const;

    // Objects rbd_diff_iterate2 looks at per mapped_extent() call: one RADOS request each
    // without the fast-diff feature.
    static constexpr uint64_t scan_objects = 64;
    // Objects per rbd_aio_write_zeroes of unmap(), each piece waited for on its own.
    static constexpr uint64_t unmap_objects = 256;

  private:
    struct Pending;
    RbdStore() = default;

    Status wait(const std::shared_ptr<Pending>& pending) const;
    Status submit_rbd(const std::shared_ptr<Pending>& pending, int submitted, void* holder,
                      rbd_completion_t completion) const;
    Status flush_image();
    Status allocated_extents(uint64_t offset, uint64_t length,
                             std::vector<std::pair<uint64_t, uint64_t>>& extents) const;
    void refresh_allocation();

    rados_t cluster_ = nullptr;
    rados_ioctx_t io_ = nullptr;       // the image's pool
    rados_ioctx_t data_io_ = nullptr;  // the pool of its data objects (io_ without a data pool)
    rbd_image_t image_ = nullptr;
    std::string pool_;
    std::string image_name_;
    std::string block_name_prefix_;  // rbd_data.<image id>
    std::atomic<uint64_t> size_bytes_{0};
    uint64_t object_size_ = 0;
    bool read_only_ = false;
    std::chrono::milliseconds timeout_{30000};
    std::unique_ptr<RadosRecords> records_;

    // allocated_bytes(): the cached sum, and the thread that refreshes it on demand.
    mutable std::mutex allocation_mutex_;
    mutable std::condition_variable allocation_wake_;
    mutable bool allocation_wanted_ = false;
    bool allocation_stop_ = false;
    std::atomic<uint64_t> allocated_bytes_{0};
    std::chrono::steady_clock::time_point allocation_time_{};  // the last walk's end
    std::chrono::steady_clock::duration allocation_walk_{};    // and how long it took
    std::thread allocation_thread_;
};

}  // namespace atsarray::backend
