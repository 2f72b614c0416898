// Google Benchmark: the LBA lock table's acquire/release, uncontended (one block, distinct blocks
// per thread) and contended (every thread on one hot block, as VMFS heartbeats of many hosts on
// one LUN would be if they shared a slot).
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

#include "target/ats/lock_table.hpp"

namespace {

using atsarray::ats::LockGuard;
using atsarray::ats::LockTable;

LockTable& table() {
    static LockTable t(4096);
    return t;
}

// Acquire and release synchronously; under contention the grant arrives on the releasing thread,
// so the caller spins on a flag (the I/O path posts instead).
void lock_unlock(LockTable& t, uint64_t lba, uint64_t blocks) {
    std::atomic<bool> granted{false};
    LockGuard held;
    t.acquire(0, lba, blocks, [&](LockGuard g) {
        held = std::move(g);
        granted.store(true, std::memory_order_release);
    });
    while (!granted.load(std::memory_order_acquire)) {
        std::this_thread::yield();
    }
    held.release();
}

void BM_UncontendedOneBlock(benchmark::State& state) {
    const auto lba = static_cast<uint64_t>(state.thread_index()) * 1000003;
    for (auto _ : state) {
        lock_unlock(table(), lba, 1);
    }
}
BENCHMARK(BM_UncontendedOneBlock)->Threads(1)->Threads(2)->Threads(4);

void BM_UncontendedRange(benchmark::State& state) {
    const auto lba = static_cast<uint64_t>(state.thread_index()) * 1000003;
    for (auto _ : state) {
        lock_unlock(table(), lba, static_cast<uint64_t>(state.range(0)));
    }
}
BENCHMARK(BM_UncontendedRange)->Arg(8)->Arg(256)->Arg(2048);

void BM_ContendedHotBlock(benchmark::State& state) {
    for (auto _ : state) {
        lock_unlock(table(), 42, 1);
    }
}
BENCHMARK(BM_ContendedHotBlock)->Threads(2)->Threads(4)->Threads(8);

}  // namespace

BENCHMARK_MAIN();
