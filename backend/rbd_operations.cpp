#include "backend/rbd_operations.hpp"

#include <iterator>

namespace atsarray::backend {

void RbdStore::Completions::track(const std::shared_ptr<Pending>& pending) {
    bool first = false;
    {
        std::lock_guard lock(mutex_);
        first = tracked_.empty();
        tracked_.emplace_back(Clock::now() + bound_, pending);
        pending->at = std::prev(tracked_.end());
        pending->tracked = true;
    }
    if (first) {
        wake_.notify_one();
    }
}

void RbdStore::Completions::untrack(Pending& pending) {
    std::shared_ptr<Pending> last;  // dropped outside the lock
    std::lock_guard lock(mutex_);
    if (pending.tracked) {
        pending.tracked = false;
        last = std::move(pending.at->second);
        tracked_.erase(pending.at);
    }
}

void RbdStore::Completions::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (!posted_.empty()) {
            std::function<void()> job = std::move(posted_.front());
            posted_.pop_front();
            lock.unlock();
            job();
            job = nullptr;
            lock.lock();
            continue;
        }
        if (stop_) {
            return;
        }
        if (!tracked_.empty() && tracked_.front().first <= Clock::now()) {
            std::shared_ptr<Pending> late = std::move(tracked_.front().second);
            tracked_.pop_front();
            late->tracked = false;
            lock.unlock();
            // librados answers ETIMEDOUT after rados_osd_op_timeout; this bound covers a librbd
            // operation made of several requests, and one that never answers.
            late->answer(-ETIMEDOUT, nullptr);
            late.reset();
            lock.lock();
            continue;
        }
        if (tracked_.empty()) {
            wake_.wait(lock);
        } else {
            // A copy: wait_until reads its time point while the mutex is released, when a
            // callback may erase the front node (untrack).
            const Clock::time_point next = tracked_.front().first;
            wake_.wait_until(lock, next);
        }
    }
}

}  // namespace atsarray::backend
