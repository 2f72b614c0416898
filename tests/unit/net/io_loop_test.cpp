// The I/O threads' run loop (target/net/io_loop.hpp): how the poll window follows the gaps, and
// the loop on a real io_context: handlers run, a throwing handler does not end it, stop() does,
// and a thread with nothing to do sleeps rather than polling.
#include <time.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "target/net/io_loop.hpp"

namespace atsarray::net {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

TEST(PollWindow, StartsClosedAndOpensOnAGapItCouldHaveCaught) {
    PollWindow w(50us);
    EXPECT_EQ(w.window(), 0ns);
    w.woken(0ns, 20us);  // slept 20 us: polling would have caught it
    EXPECT_EQ(w.window(), 50us);
    w.woken(50us, 1ms);  // a pause: the window halves
    EXPECT_EQ(w.window(), 25us);
    w.woken(25us, 20us);  // 45 us idle, under the cap: open again
    EXPECT_EQ(w.window(), 50us);
}

TEST(PollWindow, GapsLongerThanTheCapCloseIt) {
    PollWindow w(50us);
    w.woken(0ns, 40us);
    EXPECT_EQ(w.window(), 50us);
    w.woken(50us, 1ms);  // the connection paused: polling was wasted
    EXPECT_EQ(w.window(), 25us);
    w.woken(25us, 1ms);
    w.woken(12500ns, 1ms);
    w.woken(6250ns, 1ms);
    w.woken(3125ns, 1ms);  // below 2 us: closed, a quiet thread sleeps at once
    EXPECT_EQ(w.window(), 0ns);
    w.woken(0ns, 5s);
    EXPECT_EQ(w.window(), 0ns);
}

nanoseconds thread_cpu(std::thread& t) {
    clockid_t clock{};
    EXPECT_EQ(pthread_getcpuclockid(t.native_handle(), &clock), 0);
    timespec ts{};
    EXPECT_EQ(clock_gettime(clock, &ts), 0);
    return std::chrono::seconds(ts.tv_sec) + nanoseconds(ts.tv_nsec);
}

TEST(IoLoop, RunsHandlersSurvivesAThrowAndEndsOnStop) {
    boost::asio::io_context context;
    auto guard = boost::asio::make_work_guard(context);
    std::atomic<int> ran{0};
    IoLoopCounts counts;
    std::thread loop([&] { counts = run_io_loop(context, 50us, "test"); });
    boost::asio::post(context, [] { throw std::runtime_error("one request's failure"); });
    // Commands one at a time, with a gap between each answer and the next, as at queue depth 1.
    for (int i = 0; i < 200; ++i) {
        std::atomic<bool> done{false};
        boost::asio::post(context, [&] {
            ran.fetch_add(1);
            done.store(true);
        });
        while (!done.load()) {
            std::this_thread::yield();
        }
        std::this_thread::sleep_for(10us);
    }
    EXPECT_EQ(ran.load(), 200);
    context.stop();
    loop.join();
    // Each handler ended at most one idle time (a handler the loop found before it went idle
    // ended none; the one that threw is not counted).
    EXPECT_GT(counts.caught + counts.woken, 0u);
    EXPECT_LE(counts.caught + counts.woken, 200u);
}

TEST(IoLoop, AThreadWithNothingToDoSleeps) {
    boost::asio::io_context context;
    auto guard = boost::asio::make_work_guard(context);
    std::atomic<int> ran{0};
    std::thread loop([&] { run_io_loop(context, 20ms, "test"); });
    // Work with 1 ms gaps opens the window to the cap, 20 ms; then silence, of which the thread
    // polls the first 20 ms at most before it sleeps.
    for (int i = 0; i < 20; ++i) {
        boost::asio::post(context, [&] { ran.fetch_add(1); });
        std::this_thread::sleep_for(1ms);
    }
    const nanoseconds before = thread_cpu(loop);
    std::this_thread::sleep_for(300ms);
    const nanoseconds used = thread_cpu(loop) - before;
    EXPECT_LT(used, 100ms) << "the I/O thread kept polling while idle";
    EXPECT_EQ(ran.load(), 20);
    context.stop();
    loop.join();
}

TEST(IoLoop, ZeroIsRunItself) {
    boost::asio::io_context context;
    int ran = 0;
    boost::asio::post(context, [&] { ++ran; });
    const IoLoopCounts counts = run_io_loop(context, 0us, "test");  // out of work: returns
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(counts.caught + counts.woken, 0u);
}

TEST(IoLoop, ReturnsWhenOutOfWorkWhilePolling) {
    boost::asio::io_context context;
    int ran = 0;
    boost::asio::post(context, [&] { ++ran; });
    run_io_loop(context, 50us, "test");
    EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace atsarray::net
