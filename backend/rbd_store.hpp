#pragma once
// A block store on a Ceph RBD image (librbd's and librados' C API, Ceph 16.2), shared by every
// gateway that opens the same image: the scale-out LUN of issue 15.
//
// - Uncached (rbd_cache = false): every acknowledged write is in the OSDs, so what one gateway
//   acknowledged another one reads. FUA and flush() still call rbd_aio_flush, which costs
//   nothing without a cache and keeps them right if an operator turns the cache back on.
// - Asynchronous (completes_async()): reads, writes, FUA, flush and COMPARE AND WRITE are
//   librbd/librados aio operations whose callbacks answer the caller, so the SCSI layer keeps
//   no worker per operation in flight. The synchronous calls start the same operations and
//   wait for them (worker path: UNMAP, GET LBA STATUS, commands made of several store calls).
// - Never hangs: the cluster connection and every operation are bounded by `timeout_s`
//   (client_mount_timeout, rados_mon_op_timeout, rados_osd_op_timeout, and a deadline of the
//   store's own on each operation, timeout_s + 1 s, kept by its completion thread for a librbd
//   operation made of several requests and one that never answers). An operation that runs
//   out of time answers StoreErrc::busy (ETIMEDOUT):
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
#include <functional>
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
    // Each answers on a librbd/librados callback thread, or on the store's completion thread (a
    // request refused before it reached the cluster, a deadline passed): never inline.
    bool completes_async() const override { return true; }
    void read_async(uint64_t offset, std::span<uint8_t> out, Done done) override;
    // rbd_aio_write2, then with fua rbd_aio_flush.
    void write_async(uint64_t offset, std::span<const uint8_t> in, bool fua, Done done) override;
    void flush_async(Done done) override;
    void compare_and_write_async(uint64_t offset, std::span<const uint8_t> compare,
                                 std::span<const uint8_t> data, bool fua,
                                 CompareDone done) override;
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
    class Completions;
    // What a Pending's owner does with its result: `completed` is null when the operation did not
    // complete (refused, or its deadline passed); its result is then `result` alone.
    using Then = std::function<void(int64_t result, const Pending* completed)>;
    RbdStore() = default;

    // An operation about to be submitted, under its deadline; `then` runs exactly once.
    std::shared_ptr<Pending> start_operation(Then then) const;
    rbd_completion_t rbd_completion(const std::shared_ptr<Pending>& pending) const;
    // After the submit call: a refused operation gets no callback, so it is answered here.
    void submitted(const std::shared_ptr<Pending>& pending, int r, rbd_completion_t c) const;
    // Answers `done` on the completion thread: a request refused before the cluster saw it.
    void answer_later(Done done, Status status) const;
    void flush_image_async(Done done);
    void zero_async(uint64_t offset, uint64_t length, Done done);
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
    // Deadlines of operations in flight and answers that must not run inline (rbd_store.cpp);
    // shared with the operations, whose callbacks may outlive the store.
    std::shared_ptr<Completions> completions_;

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
