#include "backend/io_pool.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

namespace atsarray::backend {

namespace {

unsigned resolve_threads(unsigned requested) {
    if (requested != 0) {
        return requested;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

struct IoPool::Impl {
    explicit Impl(unsigned threads) : pool(threads) {}

    boost::asio::thread_pool pool;
    std::mutex mutex;       // guards accepting against a concurrent join()
    bool accepting = true;  // false once join() started
    std::once_flag joined;  // the pool is joined exactly once; later callers wait for it
};

IoPool::IoPool(unsigned threads)
    : impl_(std::make_unique<Impl>(resolve_threads(threads))), threads_(resolve_threads(threads)) {}

IoPool::~IoPool() {
    join();
}

void IoPool::submit(std::function<void()> work) {
    // Posting under the lock: a submit racing join() is either queued before join() starts
    // draining or refused, never posted to a pool whose threads are gone.
    std::lock_guard lock(impl_->mutex);
    // Work queued by work already in the pool is part of what join() drains (a completion that
    // submits a follow-up step); anything else after join() is refused.
    if (!impl_->accepting && !impl_->pool.get_executor().running_in_this_thread()) {
        spdlog::warn("io pool: work submitted after join() was dropped");
        return;
    }
    boost::asio::post(impl_->pool, [work = std::move(work)] {
        // An escaping exception would end the worker thread and the process with it.
        try {
            work();
        } catch (const std::exception& e) {
            spdlog::error("io pool: work threw: {}", e.what());
        } catch (...) {
            spdlog::error("io pool: work threw a non-standard exception");
        }
    });
}

void IoPool::join() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->accepting = false;
    }
    // thread_pool::join() without stop() returns once the queue is empty and every thread ended.
    std::call_once(impl_->joined, [this] { impl_->pool.join(); });
}

}  // namespace atsarray::backend
