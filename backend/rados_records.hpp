#pragma once
// SharedRecords kept in the omap of one RADOS object (e.g. "atsarray.<image>" in the image's
// pool), shared by every gateway process that opens the image.
//
// Layout: record `key` is two omap entries of the object, "d.<key>" (the value) and "v.<key>"
// (the version, decimal text). write_if() is ONE RADOS write operation: create the object if
// absent, compare "v.<key>" with the expected version (omap_cmp), set both entries. The OSD
// applies the whole operation or none of it, in order with every other client's operations on
// the object, so two gateways never both win. A key absent from the omap compares as an empty
// value (measured on Ceph 16.2: omap_cmp answers -ENOENT only when the object itself is absent,
// which the create step rules out), so "only if absent" compares with "" and exactly one of two
// racing creators wins.
//
// Change notices: after a write, write_if() notifies the object (payload: the key) and waits
// for the watchers' acknowledgements for at most notify_timeout. Each watcher runs its callbacks
// on this class's dispatcher thread (never on librados's finisher thread, which also completes
// librbd's I/O) and only then acknowledges, so when write_if() returns, every watcher that
// acknowledged within notify_timeout has seen the change. A watcher that died without
// unwatching delays write_if() by at most notify_timeout, until the OSD drops its watch
// (watch_timeout_s without a ping). A watch that fails (-ENOTCONN, a timeout) is established
// again, and every record is then reported as changed: notices may have been missed meanwhile
// (measured: the OSD stopped for 40 s, the watch error -107 on its return, the watch back and
// every key reported at once).
//
// Timeouts: every read, write, list and watch registration is bounded by the cluster handle's
// rados_osd_op_timeout, which its owner (RbdStore) sets; a timed-out call answers busy with
// sys_errno ETIMEDOUT (measured with the OSD stopped: read, write_if, list and watch each
// answered after rados_osd_op_timeout). Notifies are bounded by notify_timeout (librados rounds it
// down to whole seconds, at least 1 s): the OSD answers when it expires, and write_if() stops
// waiting on its own a second later whatever the OSD does (the notify is then reaped later).
// Measured here (Ceph 16.2, memstore OSD): write_if() with a live watcher in another process 1-2
// ms; after that process is SIGKILLed, 1.0 s per write_if() for 13 s (watch_timeout_s 15), then 1
// ms again.
//
// The ioctx belongs to the caller and must outlive this object.

#include <rados/librados.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/shared_records.hpp"

namespace atsarray::backend {

struct RadosRecordsOptions {
    // How long write_if() waits for the watchers to acknowledge its notice.
    std::chrono::milliseconds notify_timeout{1000};
    // The OSD drops the watch of a process that has not pinged it for this long (librados pings
    // every 5 s, objecter_tick_interval).
    uint32_t watch_timeout_s = 15;
    // While the watch cannot be established, how often it is tried again.
    std::chrono::milliseconds rewatch_interval{1000};
};

class RadosRecords : public SharedRecords {
  public:
    RadosRecords(rados_ioctx_t ioctx, std::string object, RadosRecordsOptions options = {});
    ~RadosRecords() override;
    RadosRecords(const RadosRecords&) = delete;
    RadosRecords& operator=(const RadosRecords&) = delete;

    Status read(const std::string& key, std::string& value, uint64_t& version) override;
    Status write_if(const std::string& key, const std::string& value, uint64_t expected_version,
                    bool& written, uint64_t& new_version) override;
    Status write_if_quiet(const std::string& key, const std::string& value,
                          uint64_t expected_version, bool& written, uint64_t& new_version) override;
    Status list(const std::string& prefix, std::map<std::string, std::string>& out) override;
    uint64_t watch(std::function<void(const std::string& key)> changed) override;
    void unwatch(uint64_t id) override;

    const std::string& object() const { return object_; }
    // Whether the RADOS watch is established now (tests, the console).
    bool watching() const;

  private:
    Status write(const std::string& key, const std::string& value, uint64_t expected_version,
                 bool& written, uint64_t& new_version, bool notify_watchers);
    // One notify in flight (rados_aio_notify): kept until librados has called back, even when
    // write_if() stopped waiting for it.
    struct NotifyWait {
        std::mutex mutex;
        std::condition_variable cv;
        bool done = false;
        rados_completion_t completion = nullptr;
        char* reply = nullptr;
        size_t reply_length = 0;
        ~NotifyWait();
    };
    static void on_notify_complete(rados_completion_t completion, void* arg);
    // Notifies `key` and waits at most notify_timeout (plus a margin) for the acknowledgements.
    void notify(const std::string& key);
    void reap_late_notifies(bool wait);

    struct Event {
        enum class Kind : uint8_t { notify, error } kind = Kind::notify;
        std::string key;
        uint64_t notify_id = 0;
        uint64_t cookie = 0;
    };

    static void on_notify(void* arg, uint64_t notify_id, uint64_t cookie, uint64_t notifier_id,
                          void* data, size_t data_len);
    static void on_watch_error(void* arg, uint64_t cookie, int err);
    void post(Event event);
    void run_dispatcher();
    // Registers the RADOS watch when there is none; false when the cluster refused it.
    bool establish_watch();
    void drop_watch(uint64_t cookie);
    void call_callbacks(const std::string& key);
    Status list_entries(const std::string& omap_prefix, std::map<std::string, std::string>& out);

    rados_ioctx_t ioctx_;
    std::string object_;
    RadosRecordsOptions options_;

    mutable std::mutex watch_mutex_;  // the RADOS watch: establish, drop
    uint64_t watch_cookie_ = 0;       // 0: no watch

    std::mutex callbacks_mutex_;
    std::map<uint64_t, std::function<void(const std::string&)>> callbacks_;
    uint64_t next_callback_id_ = 1;
    // Held while callbacks run, so that unwatch() returns only once its callback is no longer
    // running (unless unwatch() is called from a callback).
    std::mutex dispatch_mutex_;

    std::mutex late_mutex_;
    std::vector<std::unique_ptr<NotifyWait>> late_notifies_;

    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::deque<Event> queue_;
    bool stopping_ = false;
    std::thread dispatcher_;
};

}  // namespace atsarray::backend
