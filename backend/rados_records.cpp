#include "backend/rados_records.hpp"

#include <cerrno>
#include <charconv>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace atsarray::backend {
namespace {

constexpr std::string_view value_prefix = "d.";
constexpr std::string_view version_prefix = "v.";
// Omap entries per page of list().
constexpr uint64_t list_page = 512;

// A failed librados call as a Status. A timeout (rados_osd_op_timeout) is the cluster not
// answering in time.
Status rados_status(int r) {
    return Status::error(r == -ETIMEDOUT ? StoreErrc::busy : StoreErrc::io_error, -r);
}

bool parse_version(const char* text, size_t length, uint64_t& version) {
    const auto [end, ec] = std::from_chars(text, text + length, version);
    return ec == std::errc() && end == text + length && version != 0;
}

// A librados handle (an operation, an omap iterator) that `release` frees when the holder goes
// out of scope, on every path out of the call that made it. nullptr: nothing to free.
template <typename Handle, void (*release)(Handle)>
class RadosHandle {
  public:
    explicit RadosHandle(Handle handle = nullptr) : handle_(handle) {}
    RadosHandle(const RadosHandle&) = delete;
    RadosHandle& operator=(const RadosHandle&) = delete;
    ~RadosHandle() {
        if (handle_ != nullptr) {
            release(handle_);
        }
    }

    Handle get() const { return handle_; }
    // For a call that hands a new handle out (rados_read_op_omap_get_vals2's iterator).
    Handle* out() { return &handle_; }

  private:
    Handle handle_;
};

using WriteOp = RadosHandle<rados_write_op_t, rados_release_write_op>;
using ReadOp = RadosHandle<rados_read_op_t, rados_release_read_op>;
using OmapIter = RadosHandle<rados_omap_iter_t, rados_omap_get_end>;

}  // namespace

RadosRecords::RadosRecords(rados_ioctx_t ioctx, std::string object, RadosRecordsOptions options)
    : ioctx_(ioctx), object_(std::move(object)), options_(options) {
    dispatcher_ = std::thread([this] { run_dispatcher(); });
}

RadosRecords::~RadosRecords() {
    {
        std::lock_guard lock(queue_mutex_);
        stopping_ = true;
    }
    queue_cv_.notify_all();
    dispatcher_.join();
    {
        std::lock_guard lock(watch_mutex_);
        if (watch_cookie_ != 0) {
            rados_unwatch2(ioctx_, watch_cookie_);
            watch_cookie_ = 0;
        }
    }
    reap_late_notifies(true);
    // librados: no callback may still be running on this object once it is gone.
    rados_watch_flush(rados_ioctx_get_cluster(ioctx_));
}

Status RadosRecords::read(const std::string& key, std::string& value, uint64_t& version) {
    value.clear();
    version = 0;
    const std::string version_key = std::string(version_prefix) + key;
    const std::string value_key = std::string(value_prefix) + key;
    const char* keys[] = {version_key.c_str(), value_key.c_str()};
    const size_t key_lengths[] = {version_key.size(), value_key.size()};
    ReadOp op(rados_create_read_op());
    OmapIter it;
    int prval = 0;
    rados_read_op_omap_get_vals_by_keys2(op.get(), keys, 2, key_lengths, it.out(), &prval);
    const int r = rados_read_op_operate(op.get(), ioctx_, object_.c_str(), 0);
    if (r == -ENOENT) {
        return Status::success();  // no record was ever written
    }
    if (r < 0) {
        return rados_status(r);
    }
    std::string found_value;
    bool has_value = false;
    for (;;) {
        char* k = nullptr;
        char* v = nullptr;
        size_t k_length = 0;
        size_t v_length = 0;
        if (rados_omap_get_next2(it.get(), &k, &v, &k_length, &v_length) < 0 || k == nullptr) {
            break;
        }
        const std::string_view name(k, k_length);
        if (name == version_key) {
            if (!parse_version(v, v_length, version)) {
                spdlog::error("rados records {}: bad version of '{}'", object_, key);
                return Status::error(StoreErrc::io_error, EINVAL);
            }
        } else if (name == value_key) {
            found_value.assign(v, v_length);
            has_value = true;
        }
    }
    if (version != 0 && has_value) {
        value = std::move(found_value);
    } else {
        version = 0;
    }
    return Status::success();
}

Status RadosRecords::write_if(const std::string& key, const std::string& value,
                              uint64_t expected_version, bool& written, uint64_t& new_version) {
    return write(key, value, expected_version, written, new_version, true);
}

Status RadosRecords::write_if_quiet(const std::string& key, const std::string& value,
                                    uint64_t expected_version, bool& written,
                                    uint64_t& new_version) {
    return write(key, value, expected_version, written, new_version, false);
}

Status RadosRecords::write(const std::string& key, const std::string& value,
                           uint64_t expected_version, bool& written, uint64_t& new_version,
                           bool notify_watchers) {
    written = false;
    new_version = 0;
    const std::string version_key = std::string(version_prefix) + key;
    const std::string value_key = std::string(value_prefix) + key;
    // An absent record's version entry is absent, which omap_cmp compares as "".
    const std::string expected =
        expected_version == 0 ? std::string() : std::to_string(expected_version);
    const std::string next = std::to_string(expected_version + 1);
    WriteOp op(rados_create_write_op());
    // omap_cmp answers -ENOENT on an absent object: create it first, in the same operation.
    rados_write_op_create(op.get(), LIBRADOS_CREATE_IDEMPOTENT, nullptr);
    int cmp_result = 0;
    rados_write_op_omap_cmp2(op.get(), version_key.data(), LIBRADOS_CMPXATTR_OP_EQ, expected.data(),
                             version_key.size(), expected.size(), &cmp_result);
    const char* keys[] = {version_key.data(), value_key.data()};
    const char* values[] = {next.data(), value.data()};
    const size_t key_lengths[] = {version_key.size(), value_key.size()};
    const size_t value_lengths[] = {next.size(), value.size()};
    rados_write_op_omap_set2(op.get(), keys, values, key_lengths, value_lengths, 2);
    const int r = rados_write_op_operate(op.get(), ioctx_, object_.c_str(), nullptr, 0);
    if (r == -ECANCELED) {
        return Status::success();  // another writer got there first
    }
    if (r < 0) {
        return rados_status(r);
    }
    written = true;
    new_version = expected_version + 1;
    if (notify_watchers) {
        notify(key);
    }
    return Status::success();
}

RadosRecords::NotifyWait::~NotifyWait() {
    if (completion != nullptr) {
        rados_aio_release(completion);
    }
    if (reply != nullptr) {
        rados_buffer_free(reply);
    }
}

void RadosRecords::on_notify_complete(rados_completion_t /*completion*/, void* arg) {
    auto* wait = static_cast<NotifyWait*>(arg);
    std::lock_guard lock(wait->mutex);
    wait->done = true;
    wait->cv.notify_all();
}

// Best effort, bounded: the change is durable whatever the watchers answer. Waiting for their
// acknowledgements (each watcher acknowledges after its callbacks ran) is what lets a caller
// assume the live watchers have seen the change when write_if() returns.
void RadosRecords::notify(const std::string& key) {
    reap_late_notifies(false);
    auto wait = std::make_unique<NotifyWait>();
    if (rados_aio_create_completion2(wait.get(), &RadosRecords::on_notify_complete,
                                     &wait->completion) != 0) {
        wait->completion = nullptr;
        return;
    }
    const int r = rados_aio_notify(
        ioctx_, object_.c_str(), wait->completion, key.data(), static_cast<int>(key.size()),
        static_cast<uint64_t>(options_.notify_timeout.count()), &wait->reply, &wait->reply_length);
    if (r < 0) {
        spdlog::debug("rados records {}: notify of '{}' failed: {}", object_, key, r);
        return;  // never started: nothing will call back
    }
    bool done = false;
    {
        std::unique_lock lock(wait->mutex);
        // librados rounds the notify timeout down to whole seconds (at least 1); a second more for
        // the OSD's answer to travel.
        done = wait->cv.wait_for(lock, options_.notify_timeout + std::chrono::seconds(1),
                                 [&wait] { return wait->done; });
    }
    if (!done) {
        spdlog::warn("rados records {}: notify of '{}' unanswered; not waiting longer", object_,
                     key);
        std::lock_guard lock(late_mutex_);
        late_notifies_.push_back(std::move(wait));
        return;
    }
    // Release only once the callback has returned (it touches `wait`).
    rados_aio_wait_for_complete_and_cb(wait->completion);
    const int result = rados_aio_get_return_value(wait->completion);
    if (result < 0) {
        spdlog::debug(
            "rados records {}: notify of '{}' answered {} (a watcher did not "
            "acknowledge in time)",
            object_, key, result);
    }
}

void RadosRecords::reap_late_notifies(bool wait) {
    std::lock_guard lock(late_mutex_);
    std::erase_if(late_notifies_, [wait](const std::unique_ptr<NotifyWait>& n) {
        if (wait) {
            rados_aio_wait_for_complete_and_cb(n->completion);
            return true;
        }
        std::lock_guard l(n->mutex);
        if (!n->done) {
            return false;
        }
        rados_aio_wait_for_complete_and_cb(n->completion);
        return true;
    });
}

Status RadosRecords::list(const std::string& prefix, std::map<std::string, std::string>& out) {
    out.clear();
    std::map<std::string, std::string> values;
    if (Status s = list_entries(std::string(value_prefix) + prefix, values); !s.ok()) {
        return s;
    }
    for (auto& [k, v] : values) {
        out.emplace(k.substr(value_prefix.size()), std::move(v));
    }
    return Status::success();
}

Status RadosRecords::list_entries(const std::string& omap_prefix,
                                  std::map<std::string, std::string>& out) {
    std::string start_after;
    for (;;) {
        ReadOp op(rados_create_read_op());
        OmapIter it;
        unsigned char more = 0;
        int prval = 0;
        rados_read_op_omap_get_vals2(op.get(), start_after.c_str(), omap_prefix.c_str(), list_page,
                                     it.out(), &more, &prval);
        const int r = rados_read_op_operate(op.get(), ioctx_, object_.c_str(), 0);
        if (r == -ENOENT) {
            return Status::success();
        }
        if (r < 0) {
            return rados_status(r);
        }
        size_t count = 0;
        for (;;) {
            char* k = nullptr;
            char* v = nullptr;
            size_t k_length = 0;
            size_t v_length = 0;
            if (rados_omap_get_next2(it.get(), &k, &v, &k_length, &v_length) < 0 || k == nullptr) {
                break;
            }
            start_after.assign(k, k_length);
            out[start_after].assign(v, v_length);
            ++count;
        }
        if (more == 0 || count == 0) {
            return Status::success();
        }
    }
}

uint64_t RadosRecords::watch(std::function<void(const std::string& key)> changed) {
    uint64_t id = 0;
    {
        std::lock_guard lock(callbacks_mutex_);
        id = next_callback_id_++;
        callbacks_.emplace(id, std::move(changed));
    }
    // When the cluster refuses now, the dispatcher tries again every rewatch_interval.
    establish_watch();
    return id;
}

void RadosRecords::unwatch(uint64_t id) {
    {
        std::lock_guard lock(callbacks_mutex_);
        callbacks_.erase(id);
    }
    if (std::this_thread::get_id() != dispatcher_.get_id()) {
        // Wait for a dispatch that may be calling it right now.
        std::lock_guard wait(dispatch_mutex_);
    }
}

bool RadosRecords::watching() const {
    std::lock_guard lock(watch_mutex_);
    return watch_cookie_ != 0;
}

bool RadosRecords::establish_watch() {
    std::lock_guard lock(watch_mutex_);
    if (watch_cookie_ != 0) {
        return true;
    }
    // A watch needs the object: create it (empty) when no record was written yet.
    WriteOp op(rados_create_write_op());
    rados_write_op_create(op.get(), LIBRADOS_CREATE_IDEMPOTENT, nullptr);
    int r = rados_write_op_operate(op.get(), ioctx_, object_.c_str(), nullptr, 0);
    if (r >= 0) {
        r = rados_watch3(ioctx_, object_.c_str(), &watch_cookie_, &RadosRecords::on_notify,
                         &RadosRecords::on_watch_error, options_.watch_timeout_s, this);
    }
    if (r < 0) {
        watch_cookie_ = 0;
        spdlog::warn("rados records {}: watch failed ({}); trying again", object_, r);
        return false;
    }
    return true;
}

void RadosRecords::drop_watch(uint64_t cookie) {
    std::lock_guard lock(watch_mutex_);
    if (cookie == 0 || cookie != watch_cookie_) {
        return;
    }
    rados_unwatch2(ioctx_, cookie);
    watch_cookie_ = 0;
}

void RadosRecords::on_notify(void* arg, uint64_t notify_id, uint64_t cookie,
                             uint64_t /*notifier_id*/, void* data, size_t data_len) {
    // On librados's finisher thread, which also completes the image's I/O: hand over at once.
    auto* self = static_cast<RadosRecords*>(arg);
    Event e;
    e.kind = Event::Kind::notify;
    e.key.assign(static_cast<const char*>(data), data_len);
    e.notify_id = notify_id;
    e.cookie = cookie;
    self->post(std::move(e));
}

void RadosRecords::on_watch_error(void* arg, uint64_t cookie, int err) {
    auto* self = static_cast<RadosRecords*>(arg);
    spdlog::warn("rados records {}: watch error {}; watching again", self->object_, err);
    Event e;
    e.kind = Event::Kind::error;
    e.cookie = cookie;
    self->post(std::move(e));
}

void RadosRecords::post(Event event) {
    {
        std::lock_guard lock(queue_mutex_);
        if (stopping_) {
            return;
        }
        queue_.push_back(std::move(event));
    }
    queue_cv_.notify_one();
}

void RadosRecords::call_callbacks(const std::string& key) {
    std::lock_guard dispatching(dispatch_mutex_);
    std::vector<std::function<void(const std::string&)>> targets;
    {
        std::lock_guard lock(callbacks_mutex_);
        for (const auto& [id, f] : callbacks_) {
            targets.push_back(f);
        }
    }
    for (const auto& f : targets) {
        f(key);
    }
}

void RadosRecords::run_dispatcher() {
    // Set when the watch was lost: notices may have been missed, so once it is back every
    // record is reported changed.
    bool missed = false;
    std::unique_lock lock(queue_mutex_);
    for (;;) {
        queue_cv_.wait_for(lock, options_.rewatch_interval,
                           [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) {
            return;
        }
        if (queue_.empty()) {
            lock.unlock();
            bool wanted = false;
            {
                std::lock_guard c(callbacks_mutex_);
                wanted = !callbacks_.empty();
            }
            if (wanted && (!watching() || missed) && establish_watch()) {
                std::map<std::string, std::string> all;
                if (missed && list("", all).ok()) {
                    missed = false;
                    for (const auto& [key, value] : all) {
                        call_callbacks(key);
                    }
                }
            }
            lock.lock();
            continue;
        }
        Event e = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        if (e.kind == Event::Kind::notify) {
            call_callbacks(e.key);
            // The notifier waits for this (bounded by its timeout): acknowledging after the
            // callbacks ran means the change has been seen when write_if() returns.
            rados_notify_ack(ioctx_, object_.c_str(), e.notify_id, e.cookie, nullptr, 0);
        } else {
            drop_watch(e.cookie);
            missed = true;
            if (establish_watch()) {
                std::map<std::string, std::string> all;
                if (list("", all).ok()) {
                    missed = false;
                    for (const auto& [key, value] : all) {
                        call_callbacks(key);
                    }
                }
            }
        }
        lock.lock();
    }
}

}  // namespace atsarray::backend
