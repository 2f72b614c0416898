#pragma once
// The RBD store's operations in flight (backend/rbd_store.cpp's private part): one Pending per
// librbd/librados operation, and the store's completion thread that answers an operation whose
// deadline passed. Only rbd_store.cpp and rbd_operations.cpp include it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "backend/rbd_store.hpp"

namespace atsarray::backend {

// The store's completion thread: it answers an operation whose deadline passed (busy, as the
// synchronous wait did) and every answer that must not run inline on the caller's thread (a
// request refused before it reached the cluster). Deadlines are now + one fixed bound, so the
// list is in deadline order and an operation's own node is removed in O(1) when it completes.
class RbdStore::Completions : public std::enable_shared_from_this<Completions> {
  public:
    using Clock = std::chrono::steady_clock;

    explicit Completions(Clock::duration bound) : bound_(bound) {}
    ~Completions() { stop(); }
    // The thread holds the object: an answer may drop the last reference to the store.
    void start() {
        thread_ = std::thread([self = shared_from_this()] { self->run(); });
    }
    Completions(const Completions&) = delete;
    Completions& operator=(const Completions&) = delete;

    void track(const std::shared_ptr<Pending>& pending);
    void untrack(Pending& pending);
    void post(std::function<void()> job) {
        {
            std::lock_guard lock(mutex_);
            posted_.push_back(std::move(job));
        }
        wake_.notify_one();
    }
    // Answers what was posted, then ends the thread; operations still in flight are answered by
    // their callbacks (rbd_close waits for them).
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_one();
        if (!thread_.joinable()) {
            return;
        }
        if (thread_.get_id() == std::this_thread::get_id()) {
            thread_.detach();  // the store went away inside one of its own answers
        } else {
            thread_.join();
        }
    }

  private:
    void run();

    Clock::duration bound_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::list<std::pair<Clock::time_point, std::shared_ptr<Pending>>> tracked_;
    std::deque<std::function<void()>> posted_;
    bool stop_ = false;
    std::thread thread_;
};

// One operation in flight: shared by the completion callback, which always comes and owns what
// the operation still uses (its buffer, its write op), and the deadline, which may answer first.
struct RbdStore::Pending {
    int64_t result = 0;
    int compare_result = 0;       // cmpext's own result (written by librados)
    std::vector<uint8_t> buffer;  // reads land here, never in a caller's buffer
    rados_write_op_t write_op = nullptr;
    Then then;
    std::atomic<bool> answered{false};  // by the callback or by the deadline, whichever is first
    std::shared_ptr<Completions> completions;
    // Where it is tracked; guarded by the Completions' mutex.
    std::list<std::pair<Completions::Clock::time_point, std::shared_ptr<Pending>>>::iterator at;
    bool tracked = false;

    // Runs `then` unless another answer came first.
    void answer(int64_t r, const Pending* completed) {
        if (!answered.exchange(true)) {
            const Then go_on = std::move(then);
            go_on(r, completed);
        }
    }
    // The callback: the operation is over (and its buffer no longer the cluster's).
    void finish(int64_t r) {
        result = r;
        if (write_op != nullptr) {
            rados_release_write_op(write_op);
            write_op = nullptr;
        }
        completions->untrack(*this);
        answer(r, this);
    }
};

}  // namespace atsarray::backend
