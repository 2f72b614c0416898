#include "target/net/accept_backoff.hpp"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <string>
#include <vector>

namespace atsarray::net {
namespace {

using namespace std::chrono_literals;
using Clock = AcceptBackoff::Clock;

boost::system::error_code errno_code(int value) {
    return {value, boost::system::system_category()};
}

class AcceptBackoffTest : public ::testing::Test {
  protected:
    AcceptBackoff make(AcceptBackoff::Settings settings = {}) {
        return AcceptBackoff(ioc.get_executor(), "portal 127.0.0.1:3260", settings,
                             [this](const std::string& line) { lines.push_back(line); });
    }

    boost::asio::io_context ioc;
    std::vector<std::string> lines;
    const Clock::time_point t0 = Clock::now();
};

TEST_F(AcceptBackoffTest, WaitDoublesFrom100msTo1sAndStartsOverAfterAnAccept) {
    auto backoff = make();
    const auto emfile = errno_code(EMFILE);
    std::vector<std::chrono::milliseconds> waits;
    for (int i = 0; i < 7; ++i) {
        waits.push_back(backoff.failed(emfile, t0 + i * 1s));
    }
    EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1000ms,
                                                             1000ms, 1000ms}));
    backoff.accepted();
    EXPECT_EQ(backoff.failed(emfile, t0 + 10s), 100ms);
    EXPECT_EQ(backoff.failures(), 8U);
}

TEST_F(AcceptBackoffTest, OneLineForARunThenOneSummaryPerInterval) {
    // 32 s: a whole number of seconds whose tokens add up exactly.
    auto backoff = make({100ms, 1000ms, 32s});
    const auto enfile = errno_code(ENFILE);
    // A run of failures one second apart for 65 s: the first, then one per 32 s with a count.
    for (int i = 0; i <= 65; ++i) {
        backoff.failed(enfile, t0 + i * 1s);
    }
    ASSERT_EQ(lines.size(), 3U);
    EXPECT_NE(lines[0].find("portal 127.0.0.1:3260: accept failed: "), std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find("waiting 100 ms"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("(31 more failed accepts since the last line)"), std::string::npos)
        << lines[1];
    EXPECT_NE(lines[2].find("(31 more failed accepts since the last line)"), std::string::npos)
        << lines[2];
    backoff.accepted();
    ASSERT_EQ(lines.size(), 4U);
    EXPECT_NE(lines[3].find("accepting again after 66 failed accepts"), std::string::npos)
        << lines[3];
    // Accepts that work say nothing.
    backoff.accepted();
    EXPECT_EQ(lines.size(), 4U);
}

TEST_F(AcceptBackoffTest, AStormOfFailuresIsStillAFewLines) {
    auto backoff = make();
    // What the portal did before: 328,000 failures a second. Here 100,000 in one second.
    for (int i = 0; i < 100000; ++i) {
        backoff.failed(errno_code(EMFILE), t0 + i * 10us);
    }
    EXPECT_EQ(lines.size(), 1U);
}

TEST_F(AcceptBackoffTest, RunsThatComeAndGoAreRateLimitedToo) {
    auto backoff = make({100ms, 1000ms, 30s});
    for (int i = 0; i < 100; ++i) {
        backoff.failed(errno_code(EMFILE), t0 + i * 100ms);
        backoff.accepted();
    }
    // The first run is told and its end; the others within the interval are held back.
    EXPECT_EQ(lines.size(), 2U);
}

TEST_F(AcceptBackoffTest, PeerErrorsAreAcceptedAgainAtOnce) {
    for (const int value : {ECONNABORTED, EPROTO, ENETUNREACH, EHOSTUNREACH, EPERM}) {
        EXPECT_TRUE(AcceptBackoff::peer_error(errno_code(value))) << value;
    }
    for (const int value : {EMFILE, ENFILE, ENOMEM, ENOBUFS, EBADF}) {
        EXPECT_FALSE(AcceptBackoff::peer_error(errno_code(value))) << value;
    }
    auto backoff = make();
    bool retried = false;
    EXPECT_TRUE(backoff.accept_now(errno_code(ECONNABORTED), [&] { retried = true; }));
    EXPECT_TRUE(backoff.accept_now({}, [&] { retried = true; }));
    EXPECT_EQ(backoff.failures(), 0U);
    EXPECT_TRUE(lines.empty());
    EXPECT_FALSE(retried);
}

TEST_F(AcceptBackoffTest, ResourceErrorsRetryOnlyAfterTheTimer) {
    auto backoff = make({1ms, 4ms, 30s});
    int retries = 0;
    int expected = 0;
    for (const int value : {EMFILE, ENFILE, ENOMEM, ENOBUFS}) {
        EXPECT_FALSE(backoff.accept_now(errno_code(value), [&] { ++retries; }));
        EXPECT_TRUE(backoff.waiting());
        EXPECT_EQ(retries, expected);  // not before the timer
        ioc.run();
        ioc.restart();
        EXPECT_FALSE(backoff.waiting());
        EXPECT_EQ(retries, ++expected);
    }
    EXPECT_EQ(retries, 4);
    EXPECT_EQ(backoff.failures(), 4U);
    EXPECT_EQ(lines.size(), 1U);
}

TEST_F(AcceptBackoffTest, AClosedAcceptorEndsTheLoopAndStopCancelsTheRetry) {
    auto backoff = make({1ms, 4ms, 30s});
    bool retried = false;
    EXPECT_FALSE(
        backoff.accept_now(boost::asio::error::operation_aborted, [&] { retried = true; }));
    EXPECT_FALSE(backoff.accept_now(errno_code(EMFILE), [&] { retried = true; }));
    backoff.stop();
    ioc.run();
    EXPECT_FALSE(retried);
    EXPECT_EQ(backoff.failures(), 1U);
}

}  // namespace
}  // namespace atsarray::net
