#include "backend/rbd_store.hpp"

#include "backend/rbd_operations.hpp"

#include <rbd/features.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <utility>
#include <vector>

namespace atsarray::backend {

namespace {

// The kernel's MAX_ERRNO (include/linux/err.h): an OSD compare-extent mismatch answers
// -MAX_ERRNO - offset of the first differing byte (librados.h, rados_write_op_cmpext).
constexpr int64_t max_errno = 4095;

// Image features that keep state a plain RADOS write on a data object would not update.
constexpr uint64_t features_unsafe_for_cmpext =
    RBD_FEATURE_OBJECT_MAP | RBD_FEATURE_FAST_DIFF | RBD_FEATURE_JOURNALING;

std::string errno_text(int e) {
    char buf[128] = {};
    return strerror_r(e, buf, sizeof(buf));
}

Status status_for(int64_t result) {
    const int e = static_cast<int>(-result);
    switch (e) {
        case ETIMEDOUT:
            return Status::error(StoreErrc::busy, e);
        case ENOSPC:
        case EDQUOT:
            return Status::error(StoreErrc::no_space, e);
        case EROFS:
            return Status::error(StoreErrc::read_only, e);
        default:
            return Status::error(StoreErrc::io_error, e);
    }
}

bool in_range(uint64_t offset, uint64_t length, uint64_t size) {
    return offset <= size && length <= size - offset;
}

int collect_extent(uint64_t offset, size_t length, int exists, void* arg) {
    if (exists != 0 && length > 0) {
        static_cast<std::vector<std::pair<uint64_t, uint64_t>>*>(arg)->emplace_back(offset, length);
    }
    return 0;
}

int no_progress(uint64_t /*done*/, uint64_t /*total*/, void* /*arg*/) {
    return 0;
}

}  // namespace

namespace {

// The callback of every operation, librbd's or librados' (both completion types are void*).
template <typename P, auto return_value, auto release>
void operation_done(void* completion, void* arg) {
    auto* holder = static_cast<std::shared_ptr<P>*>(arg);
    std::shared_ptr<P> pending = std::move(*holder);
    delete holder;
    const int64_t r = return_value(completion);
    release(completion);
    pending->finish(r);
}

// The answer to COMPARE AND WRITE's operation. On a mismatch cmpext's result and the
// operation's (measured on 16.2: the same value) are -MAX_ERRNO - the offset of the first
// differing byte from the compare's start, which is the request's start (not librbd's
// object-relative mismatch_off of ../shared/CEPH.md: this is RADOS' own cmpext).
Status compare_status(int64_t result, int compare_result, size_t length,
                      uint64_t& first_difference) {
    if (result >= 0) {
        return Status::success();
    }
    if (result == -ETIMEDOUT) {
        return status_for(result);
    }
    const int64_t mismatch = compare_result <= -max_errno ? compare_result : result;
    if (mismatch <= -max_errno) {
        const uint64_t at = static_cast<uint64_t>(-mismatch - max_errno);
        if (at >= length) {
            return Status::error(StoreErrc::io_error, EIO);
        }
        first_difference = at;
        return Status::error(StoreErrc::miscompare, EILSEQ);
    }
    return status_for(result);
}

// A synchronous call's wait for its asynchronous form, which always answers (its deadline).
struct Waiter {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    Status status;
    uint64_t first_difference = 0;

    void set(Status s, uint64_t first = 0) {
        std::lock_guard lock(mutex);
        status = s;
        first_difference = first;
        done = true;
        cv.notify_all();
    }
    Status get() {
        std::unique_lock lock(mutex);
        cv.wait(lock, [this] { return done; });
        return status;
    }
};

}  // namespace

std::shared_ptr<RbdStore> RbdStore::open(const RbdOptions& options, std::string& error) {
    std::shared_ptr<RbdStore> store(new RbdStore());
    store->pool_ = options.pool;
    store->image_name_ = options.image;
    store->read_only_ = options.read_only;
    store->timeout_ = std::chrono::seconds(std::max<uint32_t>(options.timeout_s, 1));
    store->completions_ = std::make_shared<Completions>(store->timeout_ + std::chrono::seconds(1));
    store->completions_->start();
    const std::string where = "rbd image " + options.pool + "/" + options.image;
    const std::string conf_name = options.ceph_conf.empty() ? "the default ceph.conf ($CEPH_CONF "
                                                              "or /etc/ceph/ceph.conf)"
                                                            : options.ceph_conf;
    if (options.pool.empty() || options.image.empty()) {
        error = "rbd store: pool and image are required";
        return nullptr;
    }

    if (int r = rados_create(&store->cluster_, options.client.c_str()); r < 0) {
        error = where + ": cannot create a Ceph client (client." + options.client +
                "): " + errno_text(-r);
        return nullptr;
    }
    if (int r = rados_conf_read_file(
            store->cluster_, options.ceph_conf.empty() ? nullptr : options.ceph_conf.c_str());
        r < 0) {
        error = where + ": cannot read " + conf_name + ": " + errno_text(-r);
        return nullptr;
    }
    if (!options.keyring.empty()) {
        if (int r = rados_conf_set(store->cluster_, "keyring", options.keyring.c_str()); r < 0) {
            error = where + ": bad keyring path " + options.keyring + ": " + errno_text(-r);
            return nullptr;
        }
    }
    // Set after the file so that they win over it: the bounded start and operations, and the
    // uncached writes that make every acknowledged write visible to the other gateways.
    const std::string timeout = std::to_string(std::max<uint32_t>(options.timeout_s, 1));
    const std::pair<const char*, std::string> settings[] = {
        {"client_mount_timeout", timeout},
        {"rados_mon_op_timeout", timeout},
        {"rados_osd_op_timeout", timeout},
        {"rbd_cache", "false"},
        // librbd copies a write's data when it is submitted, so a write that timed out never
        // reads the caller's buffer afterwards.
        {"rbd_disable_zero_copy_writes", "true"},
    };
    for (const auto& [key, value] : settings) {
        if (int r = rados_conf_set(store->cluster_, key, value.c_str()); r < 0) {
            error = where + ": cannot set " + key + ": " + errno_text(-r);
            return nullptr;
        }
    }
    if (int r = rados_connect(store->cluster_); r < 0) {
        error = where + ": cannot connect to the Ceph cluster of " + conf_name + " as client." +
                options.client + " within " + timeout + " s: " + errno_text(-r);
        return nullptr;
    }
    if (int r = rados_ioctx_create(store->cluster_, options.pool.c_str(), &store->io_); r < 0) {
        error = where + ": cannot open pool " + options.pool + ": " + errno_text(-r);
        return nullptr;
    }

    auto open_image = [&] {
        return options.read_only
                   ? rbd_open_read_only(store->io_, options.image.c_str(), &store->image_, nullptr)
                   : rbd_open(store->io_, options.image.c_str(), &store->image_, nullptr);
    };
    int r = open_image();
    if (r == -ENOENT && options.create && !options.read_only) {
        if (options.size_bytes == 0 || options.size_bytes % 512 != 0) {
            error = where + ": does not exist, and creating it needs a size (a multiple of 512)";
            return nullptr;
        }
        int order = 0;  // the default object size (4 MiB)
        r = rbd_create2(store->io_, options.image.c_str(), options.size_bytes, RBD_FEATURE_LAYERING,
                        &order);
        // Another gateway may have created it meanwhile: open what is there.
        if (r < 0 && r != -EEXIST) {
            error = where + ": cannot create it: " + errno_text(-r);
            return nullptr;
        }
        r = open_image();
    }
    if (r < 0) {
        store->image_ = nullptr;
        error = where + (r == -ENOENT ? ": does not exist (create = true creates it)"
                                      : ": cannot open it: " + errno_text(-r));
        return nullptr;
    }

    uint64_t size = 0;
    rbd_image_info_t info{};
    uint8_t old_format = 0;
    uint64_t features = 0;
    uint64_t stripe_unit = 0;
    uint64_t stripe_count = 0;
    char prefix[RBD_MAX_BLOCK_NAME_SIZE] = {};
    if ((r = rbd_get_size(store->image_, &size)) < 0 ||
        (r = rbd_stat(store->image_, &info, sizeof(info))) < 0 ||
        (r = rbd_get_old_format(store->image_, &old_format)) < 0 ||
        (r = rbd_get_features(store->image_, &features)) < 0 ||
        (r = rbd_get_stripe_unit(store->image_, &stripe_unit)) < 0 ||
        (r = rbd_get_stripe_count(store->image_, &stripe_count)) < 0 ||
        (r = rbd_get_block_name_prefix(store->image_, prefix, sizeof(prefix))) < 0) {
        error = where + ": cannot read its header: " + errno_text(-r);
        return nullptr;
    }
    store->size_bytes_ = size;
    store->object_size_ = info.obj_size;
    store->block_name_prefix_ = prefix;
    if (old_format != 0) {
        error = where + ": is a format 1 image; atsarray needs format 2";
        return nullptr;
    }
    if ((features & features_unsafe_for_cmpext) != 0) {
        error = where +
                ": has the object-map, fast-diff or journaling feature, which COMPARE AND WRITE "
                "(a RADOS operation beside librbd) would leave stale; disable them (rbd feature "
                "disable)";
        return nullptr;
    }
    if (stripe_count != 1 || stripe_unit != info.obj_size) {
        error = where + ": uses fancy striping; atsarray needs one object per stripe";
        return nullptr;
    }
    rbd_linked_image_spec_t parent{};
    rbd_snap_spec_t parent_snap{};
    if ((r = rbd_get_parent(store->image_, &parent, &parent_snap)) != -ENOENT) {
        if (r == 0) {
            rbd_linked_image_spec_cleanup(&parent);
            rbd_snap_spec_cleanup(&parent_snap);
        }
        error = where + (r == 0 ? ": is a clone; flatten it first (rbd flatten)"
                                : ": cannot read its parent: " + errno_text(-r));
        return nullptr;
    }
    if (size % 512 != 0 || info.obj_size == 0 || info.obj_size % 512 != 0) {
        error = where + ": its size or object size is not a multiple of 512";
        return nullptr;
    }
    const int64_t data_pool = rbd_get_data_pool_id(store->image_);
    if (data_pool >= 0 && data_pool != rados_ioctx_get_id(store->io_)) {
        if ((r = rados_ioctx_create2(store->cluster_, data_pool, &store->data_io_)) < 0) {
            error = where + ": cannot open its data pool: " + errno_text(-r);
            return nullptr;
        }
    }

    // Named by the image's id, not its name: an image removed and created again under the same
    // name is a new device and must not inherit the old one's identity or reservations.
    char id[64] = {};
    if ((r = rbd_get_id(store->image_, id, sizeof id)) < 0) {
        error = where + ": cannot read its id: " + errno_text(-r);
        return nullptr;
    }
    store->records_ = std::make_unique<RadosRecords>(store->io_, std::string("atsarray.") + id);
    // The first walk runs on the store's thread: a large image must not slow the start.
    store->allocation_wanted_ = true;
    store->allocation_thread_ = std::thread([s = store.get()] { s->refresh_allocation(); });
    return store;
}

RbdStore::~RbdStore() {
    records_.reset();  // unwatches and flushes its watch on io_
    if (allocation_thread_.joinable()) {
        {
            std::lock_guard lock(allocation_mutex_);
            allocation_stop_ = true;
        }
        allocation_wake_.notify_all();
        allocation_thread_.join();
    }
    if (image_ != nullptr) {
        rbd_close(image_);  // waits for the librbd operations in flight
    }
    if (data_io_ != nullptr || io_ != nullptr) {
        // COMPARE AND WRITE's operations in flight: their callbacks come before the context goes.
        rados_aio_flush(data_io_ != nullptr ? data_io_ : io_);
    }
    if (completions_) {
        completions_->stop();
    }
    if (data_io_ != nullptr) {
        rados_ioctx_destroy(data_io_);
    }
    if (io_ != nullptr) {
        rados_ioctx_destroy(io_);
    }
    if (cluster_ != nullptr) {
        rados_shutdown(cluster_);
    }
}

std::string RbdStore::data_object_name(uint64_t offset) const {
    // librbd's format 2 object names (librbd/Utils.cc, data_object_name).
    char number[24] = {};
    std::snprintf(number, sizeof(number), ".%016" PRIx64, offset / object_size_);
    return block_name_prefix_ + number;
}

std::shared_ptr<RbdStore::Pending> RbdStore::start_operation(Then then) const {
    auto pending = std::make_shared<Pending>();
    pending->then = std::move(then);
    pending->completions = completions_;
    completions_->track(pending);
    return pending;
}

rbd_completion_t RbdStore::rbd_completion(const std::shared_ptr<Pending>& pending) const {
    rbd_completion_t completion = nullptr;
    rbd_aio_create_completion(new std::shared_ptr<Pending>(pending),
                              operation_done<Pending, rbd_aio_get_return_value, rbd_aio_release>,
                              &completion);
    return completion;
}

void RbdStore::submitted(const std::shared_ptr<Pending>& pending, int r,
                         rbd_completion_t completion) const {
    if (r >= 0) {
        return;
    }
    // No callback comes for an operation librbd refused.
    delete static_cast<std::shared_ptr<Pending>*>(rbd_aio_get_arg(completion));
    rbd_aio_release(completion);
    completions_->untrack(*pending);
    completions_->post([pending, r] { pending->answer(r, nullptr); });
}

void RbdStore::answer_later(Done done, Status status) const {
    completions_->post([done = std::move(done), status] { done(status); });
}

void RbdStore::read_async(uint64_t offset, std::span<uint8_t> out, Done done) {
    if (!in_range(offset, out.size(), size_bytes())) {
        answer_later(std::move(done), Status::error(StoreErrc::out_of_range));
        return;
    }
    if (out.empty()) {
        answer_later(std::move(done), Status::success());
        return;
    }
    auto pending = start_operation([out, done = std::move(done)](int64_t r, const Pending* p) {
        if (r < 0) {
            done(status_for(r));
        } else if (p == nullptr || static_cast<uint64_t>(r) != out.size()) {
            done(Status::error(StoreErrc::io_error, EIO));
        } else {
            std::memcpy(out.data(), p->buffer.data(), out.size());
            done(Status::success());
        }
    });
    pending->buffer.resize(out.size());
    rbd_completion_t completion = rbd_completion(pending);
    submitted(pending,
              rbd_aio_read(image_, offset, out.size(),
                           reinterpret_cast<char*>(pending->buffer.data()), completion),
              completion);
}

void RbdStore::write_async(uint64_t offset, std::span<const uint8_t> in, bool fua, Done done) {
    if (read_only_) {
        answer_later(std::move(done), Status::error(StoreErrc::read_only));
        return;
    }
    if (!in_range(offset, in.size(), size_bytes())) {
        answer_later(std::move(done), Status::error(StoreErrc::out_of_range));
        return;
    }
    if (in.empty()) {
        answer_later(std::move(done), Status::success());
        return;
    }
    auto pending = start_operation(
        [this, fua, done = std::move(done)](int64_t r, const Pending* /*completed*/) mutable {
            if (r < 0) {
                done(status_for(r));
            } else if (fua) {
                flush_image_async(std::move(done));
            } else {
                done(Status::success());
            }
        });
    rbd_completion_t completion = rbd_completion(pending);
    // librbd copies the data when it is submitted (rbd_disable_zero_copy_writes): the caller's
    // buffer is free again once this returns, whatever the deadline does.
    submitted(pending,
              rbd_aio_write2(image_, offset, in.size(), reinterpret_cast<const char*>(in.data()),
                             completion, 0),
              completion);
}

void RbdStore::flush_image_async(Done done) {
    auto pending = start_operation([done = std::move(done)](int64_t r, const Pending*) {
        done(r < 0 ? status_for(r) : Status::success());
    });
    rbd_completion_t completion = rbd_completion(pending);
    submitted(pending, rbd_aio_flush(image_, completion), completion);
}

void RbdStore::flush_async(Done done) {
    if (read_only_) {
        answer_later(std::move(done), Status::success());
        return;
    }
    flush_image_async(std::move(done));
}

void RbdStore::zero_async(uint64_t offset, uint64_t length, Done done) {
    auto pending = start_operation([done = std::move(done)](int64_t r, const Pending*) {
        done(r < 0 ? status_for(r) : Status::success());
    });
    rbd_completion_t completion = rbd_completion(pending);
    submitted(pending, rbd_aio_write_zeroes(image_, offset, length, completion, 0, 0), completion);
}

Status RbdStore::read(uint64_t offset, std::span<uint8_t> out) {
    auto waiter = std::make_shared<Waiter>();
    read_async(offset, out, [waiter](Status s) { waiter->set(s); });
    return waiter->get();
}

Status RbdStore::write(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    auto waiter = std::make_shared<Waiter>();
    write_async(offset, in, fua, [waiter](Status s) { waiter->set(s); });
    return waiter->get();
}

Status RbdStore::flush() {
    auto waiter = std::make_shared<Waiter>();
    flush_async([waiter](Status s) { waiter->set(s); });
    return waiter->get();
}

Status RbdStore::unmap(uint64_t offset, uint64_t length) {
    if (read_only_) {
        return Status::error(StoreErrc::read_only);
    }
    if (!in_range(offset, length, size_bytes())) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (length == 0) {
        return Status::success();
    }
    // In pieces of unmap_objects objects, each bounded by the timeout on its own: one request
    // per object, so an UNMAP of a whole large LUN would otherwise outlast any bound.
    const uint64_t piece = unmap_objects * object_size_;
    for (uint64_t done = 0; done < length;) {
        const uint64_t at = offset + done;
        const uint64_t n = std::min(length - done, piece - at % piece);
        auto waiter = std::make_shared<Waiter>();
        zero_async(at, n, [waiter](Status s) { waiter->set(s); });
        if (Status s = waiter->get(); !s.ok()) {
            return s;
        }
        done += n;
    }
    return Status::success();
}

Status RbdStore::allocated_extents(uint64_t offset, uint64_t length,
                                   std::vector<std::pair<uint64_t, uint64_t>>& extents) const {
    extents.clear();
    const int r =
        rbd_diff_iterate2(image_, nullptr, offset, length, 1, 0, collect_extent, &extents);
    if (r < 0) {
        return status_for(r);
    }
    std::sort(extents.begin(), extents.end());
    return Status::success();
}

Status RbdStore::mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) {
    const uint64_t size = size_bytes();
    if (offset >= size || limit == 0) {
        return Status::error(StoreErrc::out_of_range);
    }
    limit = std::min(limit, size - offset);
    // Without fast-diff every object costs a request: look at a bounded window, and let the
    // caller (GET LBA STATUS) come back for the rest.
    const uint64_t window_end =
        std::min(offset + limit, (offset / object_size_ + scan_objects) * object_size_);
    std::vector<std::pair<uint64_t, uint64_t>> extents;
    if (Status s = allocated_extents(offset, window_end - offset, extents); !s.ok()) {
        return s;
    }
    uint64_t run_start = window_end;  // the first mapped byte at or after offset
    uint64_t run_end = window_end;
    bool found = false;
    for (const auto& [start, len] : extents) {
        const uint64_t begin = std::max(start, offset);
        const uint64_t end = std::min(start + len, window_end);
        if (end <= begin) {
            continue;
        }
        if (!found) {
            run_start = begin;
            run_end = end;
            found = true;
        } else if (begin <= run_end) {
            run_end = std::max(run_end, end);
        } else {
            break;
        }
    }
    if (found && run_start == offset) {
        mapped = true;
        length = run_end - offset;
    } else {
        mapped = false;
        length = run_start - offset;
    }
    return Status::success();
}

uint64_t RbdStore::allocated_bytes() const {
    {
        std::lock_guard lock(allocation_mutex_);
        allocation_wanted_ = true;
    }
    allocation_wake_.notify_one();
    return allocated_bytes_.load(std::memory_order_relaxed);
}

void RbdStore::refresh_allocation() {
    std::unique_lock lock(allocation_mutex_);
    for (;;) {
        allocation_wake_.wait(lock, [&] { return allocation_stop_ || allocation_wanted_; });
        if (allocation_stop_) {
            return;
        }
        // A walk over the image is one request per object: at most once a second, and on a
        // large image at most a tenth of the time.
        const auto next = allocation_time_ + std::max<std::chrono::steady_clock::duration>(
                                                 std::chrono::seconds(1), 10 * allocation_walk_);
        if (allocation_wake_.wait_until(lock, next, [&] { return allocation_stop_; })) {
            return;
        }
        allocation_wanted_ = false;
        lock.unlock();
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::pair<uint64_t, uint64_t>> extents;
        const bool ok = allocated_extents(0, size_bytes(), extents).ok();
        uint64_t total = 0;
        for (const auto& e : extents) {
            total += e.second;
        }
        lock.lock();
        if (ok) {
            allocated_bytes_.store(total, std::memory_order_relaxed);
        }
        allocation_time_ = std::chrono::steady_clock::now();
        allocation_walk_ = allocation_time_ - start;
    }
}

Status RbdStore::grow(uint64_t new_size) {
    const uint64_t size = size_bytes();
    if (new_size == size) {
        return Status::success();
    }
    if (new_size < size || new_size % 512 != 0) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (read_only_) {
        return Status::error(StoreErrc::read_only);
    }
    if (int r = rbd_resize2(image_, new_size, false, no_progress, nullptr); r < 0) {
        return status_for(r);
    }
    size_bytes_.store(new_size, std::memory_order_release);
    return Status::success();
}

// SBC-4 §5.3: one RADOS write operation, cmpext then write, on the data object. The OSD applies
// both or neither, atomically against every other client of the object: librbd's writes from
// this and every other gateway go to the same object. A missing object (never written, or
// removed by unmap) compares as zeros and the write creates it, in the same operation.
void RbdStore::compare_and_write_async(uint64_t offset, std::span<const uint8_t> compare,
                                       std::span<const uint8_t> data, bool /*fua*/,
                                       CompareDone done) {
    // fua needs nothing more: a RADOS write is acknowledged once every replica committed it.
    auto refuse = [&](Status s) {
        completions_->post([done = std::move(done), s] { done(s, 0); });
    };
    if (read_only_) {
        refuse(Status::error(StoreErrc::read_only));
        return;
    }
    if (compare.size() != data.size() || data.empty() || data.size() % 512 != 0 ||
        offset % 512 != 0) {
        refuse(Status::error(StoreErrc::io_error, EINVAL));
        return;
    }
    if (!in_range(offset, data.size(), size_bytes())) {
        refuse(Status::error(StoreErrc::out_of_range));
        return;
    }
    const uint64_t in_object = offset % object_size_;
    if (in_object + data.size() > object_size_) {
        // Two objects cannot be one atomic operation.
        refuse(Status::error(StoreErrc::io_error, EINVAL));
        return;
    }
    const std::string object = data_object_name(offset);

    auto pending = start_operation(
        [length = data.size(), done = std::move(done)](int64_t r, const Pending* p) {
            uint64_t first_difference = 0;
            const Status s =
                compare_status(r, p != nullptr ? p->compare_result : 0, length, first_difference);
            done(s, first_difference);
        });
    pending->write_op = rados_create_write_op();
    // Both calls copy the bytes into the operation.
    rados_write_op_cmpext(pending->write_op, reinterpret_cast<const char*>(compare.data()),
                          compare.size(), in_object, &pending->compare_result);
    rados_write_op_write(pending->write_op, reinterpret_cast<const char*>(data.data()), data.size(),
                         in_object);
    auto* holder = new std::shared_ptr<Pending>(pending);
    rados_completion_t completion = nullptr;
    rados_aio_create_completion2(
        holder, operation_done<Pending, rados_aio_get_return_value, rados_aio_release>,
        &completion);
    const int r =
        rados_aio_write_op_operate(pending->write_op, data_io_ != nullptr ? data_io_ : io_,
                                   completion, object.c_str(), nullptr, 0);
    if (r < 0) {
        // No callback comes for an operation librados refused.
        delete holder;
        rados_aio_release(completion);
        rados_release_write_op(pending->write_op);
        pending->write_op = nullptr;
        completions_->untrack(*pending);
        completions_->post([pending, r] { pending->answer(r, nullptr); });
    }
}

Status RbdStore::compare_and_write(uint64_t offset, std::span<const uint8_t> compare,
                                   std::span<const uint8_t> data, bool fua,
                                   uint64_t& first_difference) {
    auto waiter = std::make_shared<Waiter>();
    compare_and_write_async(offset, compare, data, fua,
                            [waiter](Status s, uint64_t first) { waiter->set(s, first); });
    const Status s = waiter->get();
    if (s.code == StoreErrc::miscompare) {
        first_difference = waiter->first_difference;
    }
    return s;
}

}  // namespace atsarray::backend
