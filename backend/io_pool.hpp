#pragma once
// A bounded pool of worker threads for blocking block-store calls (STYLE.md: nothing blocks an
// iSCSI I/O thread). Work is queued; the number of threads is fixed at start.

#include <functional>
#include <memory>

namespace atsarray::backend {

class IoPool {
  public:
    explicit IoPool(unsigned threads);
    ~IoPool();  // stops accepting work, runs what is queued, joins the threads
    IoPool(const IoPool&) = delete;
    IoPool& operator=(const IoPool&) = delete;

    void submit(std::function<void()> work);
    unsigned threads() const { return threads_; }
    void join();  // waits for all queued work; no more work is accepted afterwards

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    unsigned threads_;
};

}  // namespace atsarray::backend
