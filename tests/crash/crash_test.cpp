// Crash test (issue 5): libiscsi writers issue FUA writes, plain writes followed by SYNCHRONIZE
// CACHE, and COMPARE AND WRITE, each recording what the target acknowledged; the daemon is killed
// with SIGKILL at a random moment and restarted on the same data; then every block must hold
// what the target promised (SBC-4 and REFERENCES.md "Durability"):
// - FUA=1 GOOD: the data is stable; SYNCHRONIZE CACHE GOOD: every write acknowledged before it
//   is stable; WCE=0 (write_cache = false): every GOOD write is stable.
// - A block holds one whole image (never a torn or mixed block), at least as new as the last
//   stable one and no newer than the last one issued: a later write that was never made stable
//   may or may not have survived (a process crash keeps the page cache, so it usually does).
// Both stores, write cache on and off. ATSARRAY_CRASH_ROUNDS=100 runs the long version,
// ATSARRAY_CRASH_SEED=N repeats a run (the seed is printed).
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::create_context;
using initiator::load_le64;
using initiator::store_le64;
using initiator::Task;
using Clock = std::chrono::steady_clock;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:crash";
constexpr uint32_t block_size = 512;
constexpr int writer_count = 4;
constexpr uint64_t blocks_per_writer = 256;
constexpr uint64_t max_write_blocks = 16;  // spans RocksDB chunks (4 KiB = 8 blocks) both ways
constexpr auto restart_limit = std::chrono::seconds(30);

uint64_t env_u64(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
        return fallback;
    }
    return std::strtoull(v, nullptr, 10);
}

// ---- Self-describing block images -----------------------------------------------------------
// bytes 0..7 magic, 8..15 writer, 16..23 LBA, 24..31 sequence, 32..503 a pattern derived from
// (LBA, sequence), 504..511 FNV-1a over bytes 0..503. A block that is neither all zeros nor a
// valid image of its own LBA is torn, mixed or misplaced.
constexpr uint64_t block_magic = 0x31485352'43535441ull;  // "ATSCRSH1" little-endian
constexpr size_t sum_at = block_size - 8;

uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

void encode(uint8_t* p, uint64_t writer, uint64_t lba, uint64_t seq) {
    store_le64(p, block_magic);
    store_le64(p + 8, writer);
    store_le64(p + 16, lba);
    store_le64(p + 24, seq);
    uint64_t x = lba * 0x9e3779b97f4a7c15ull ^ seq;
    for (size_t i = 32; i < sum_at; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        store_le64(p + i, x);
    }
    store_le64(p + sum_at, fnv1a(p, sum_at));
}

enum class BlockKind { zeros, image, torn };

BlockKind decode(const uint8_t* p, uint64_t lba, uint64_t& writer, uint64_t& seq) {
    if (std::all_of(p, p + block_size, [](uint8_t b) { return b == 0; })) {
        return BlockKind::zeros;
    }
    if (load_le64(p) != block_magic || load_le64(p + 16) != lba ||
        load_le64(p + sum_at) != fnv1a(p, sum_at)) {
        return BlockKind::torn;
    }
    writer = load_le64(p + 8);
    seq = load_le64(p + 24);
    std::vector<uint8_t> expect(block_size);
    encode(expect.data(), writer, lba, seq);
    return std::memcmp(expect.data(), p, block_size) == 0 ? BlockKind::image : BlockKind::torn;
}

// ---- One writer: a session and a block range of its own ------------------------------------
struct BlockState {
    uint64_t stable = 0;   // newest sequence the target promised is stable (0: none)
    uint64_t issued = 0;   // newest sequence sent to the target, answered or not
    uint64_t current = 0;  // what the target holds as far as this writer knows (0: zeros)
};

struct Counts {
    uint64_t fua_writes = 0;    // FUA WRITE(16) GOOD
    uint64_t plain_writes = 0;  // WRITE(16) without FUA, GOOD
    uint64_t ats = 0;           // COMPARE AND WRITE GOOD
    uint64_t syncs = 0;         // SYNCHRONIZE CACHE(16) GOOD
};

Context login(uint16_t port, const std::string& initiator, std::string& error) {
    Context ctx = create_context(initiator);
    iscsi_set_targetname(ctx.get(), target_name);
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    // A reconnecting initiator would resend a write after the restart: the record of what was
    // acknowledged would no longer match what the target saw.
    iscsi_set_noautoreconnect(ctx.get(), 1);
    iscsi_set_timeout(ctx.get(), 10);
    const std::string portal = "127.0.0.1:" + std::to_string(port);
    if (iscsi_full_connect_sync(ctx.get(), portal.c_str(), 0) != 0) {
        error = iscsi_get_error(ctx.get());
        return nullptr;
    }
    // The new I_T nexus has a power-on unit attention pending: take it.
    Task(iscsi_testunitready_sync(ctx.get(), 0));
    return ctx;
}

std::string describe(iscsi_context* ctx, const scsi_task* t, const char* what) {
    if (t == nullptr || t->status != SCSI_STATUS_CHECK_CONDITION) {
        // No task, or one libiscsi ended itself (connection lost, timeout): its error says why.
        return std::string(what) + ": " + iscsi_get_error(ctx);
    }
    const char* ascq = scsi_sense_ascq_str(t->sense.ascq);
    return std::string(what) + ": CHECK CONDITION sense key " + std::to_string(t->sense.key) + " " +
           (ascq != nullptr ? ascq : std::to_string(t->sense.ascq));
}

class Writer {
  public:
    Writer(uint64_t id, bool write_cache, uint64_t seed)
        : id_(id),
          first_lba_(id * blocks_per_writer),
          write_cache_(write_cache),
          rng_(seed),
          blocks_(blocks_per_writer) {}

    // Issues commands until one fails; a failure after `killed` is set is the crash, before it
    // an error of the test.
    void run(uint16_t port, const std::atomic<bool>& killed) {
        run_round(port, killed);
        done_ = true;
    }

    // Before each round's thread starts (the main thread waits for ready() or done()).
    void start_round() {
        ready_ = false;
        done_ = false;
        error_.clear();
        // Writes acknowledged but not synced before the crash were never promised: forget them.
        pending_.clear();
    }

    // Checks the writer's range as read after a restart; returns the problems found.
    std::vector<std::string> verify(const std::vector<uint8_t>& data, uint64_t& exact,
                                    uint64_t& newer, uint64_t& zeros) {
        std::vector<std::string> problems;
        for (uint64_t i = 0; i < blocks_per_writer; ++i) {
            BlockState& b = blocks_[i];
            const uint64_t lba = first_lba_ + i;
            uint64_t writer = 0;
            uint64_t seq = 0;
            const BlockKind kind = decode(data.data() + i * block_size, lba, writer, seq);
            std::string problem;
            if (kind == BlockKind::torn) {
                problem = "torn or misplaced block";
            } else if (kind == BlockKind::zeros) {
                if (b.stable != 0) {
                    problem = "zeros, but sequence " + std::to_string(b.stable) + " was stable";
                }
                ++zeros;
            } else if (writer != id_) {
                problem = "image of writer " + std::to_string(writer);
            } else if (seq < b.stable) {
                problem = "sequence " + std::to_string(seq) + " older than the stable " +
                          std::to_string(b.stable);
            } else if (seq > b.issued) {
                problem = "sequence " + std::to_string(seq) + " never issued (last " +
                          std::to_string(b.issued) + ")";
            } else {
                ++(seq == b.stable ? exact : newer);
            }
            if (!problem.empty()) {
                problems.push_back("writer " + std::to_string(id_) + " LBA " + std::to_string(lba) +
                                   ": " + problem);
            }
            b.current = kind == BlockKind::image ? seq : 0;
        }
        return problems;
    }

    uint64_t first_lba() const { return first_lba_; }
    // Read by the main thread only after done() or once the thread is joined.
    const std::string& error() const { return error_; }
    bool ready() const { return ready_; }
    bool done() const { return done_; }
    const Counts& counts() const { return counts_; }

  private:
    void run_round(uint16_t port, const std::atomic<bool>& killed) {
        std::string why;
        Context ctx = login(port, "iqn.2026-11.org.atsarray:crash-w" + std::to_string(id_), why);
        if (!ctx) {
            error_ = "login: " + why;
            return;
        }
        ready_ = true;
        std::uniform_int_distribution<int> pick(0, 99);
        while (true) {
            const int p = pick(rng_);
            std::string failure;
            if (p < 35) {
                failure = write(ctx.get(), true);
            } else if (p < 70) {
                failure = write(ctx.get(), false);
            } else if (p < 90) {
                failure = compare_and_write(ctx.get());
            } else {
                failure = synchronize_cache(ctx.get());
            }
            if (!failure.empty()) {
                if (!killed.load()) {
                    error_ = failure;
                }
                return;
            }
        }
    }

    // Records a GOOD write of `seq` to blocks [first, first + n) (indexes in the range):
    // stable now when forced to the medium, else once a SYNCHRONIZE CACHE succeeds.
    void acknowledged(uint64_t first, uint64_t n, uint64_t seq, bool stable_now) {
        for (uint64_t i = first; i < first + n; ++i) {
            blocks_[i].current = seq;
            if (stable_now) {
                blocks_[i].stable = seq;
            } else {
                pending_.emplace_back(i, seq);
            }
        }
    }

    std::string write(iscsi_context* ctx, bool fua) {
        std::uniform_int_distribution<uint64_t> start(0, blocks_per_writer - 1);
        const uint64_t first = start(rng_);
        std::uniform_int_distribution<uint64_t> len(
            1, std::min(max_write_blocks, blocks_per_writer - first));
        const uint64_t n = len(rng_);
        const uint64_t seq = ++seq_;
        std::vector<uint8_t> data(n * block_size);
        for (uint64_t i = 0; i < n; ++i) {
            encode(data.data() + i * block_size, id_, first_lba_ + first + i, seq);
            blocks_[first + i].issued = seq;
        }
        Task t(iscsi_write16_sync(ctx, 0, first_lba_ + first, data.data(),
                                  static_cast<uint32_t>(data.size()), block_size, 0, 0, fua ? 1 : 0,
                                  0, 0));
        if (!t || t->status != SCSI_STATUS_GOOD) {
            return describe(ctx, t.get(), fua ? "WRITE(16) FUA" : "WRITE(16)");
        }
        ++(fua ? counts_.fua_writes : counts_.plain_writes);
        // SBC-4 §5.40: FUA=1 writes to the medium; WCE=0 makes every write write-through.
        acknowledged(first, n, seq, fua || !write_cache_);
        return {};
    }

    // One-block COMPARE AND WRITE (SBC-4 §5.3) from the image this writer last left there. The
    // writer owns its blocks, so a miscompare means the target changed them on its own.
    std::string compare_and_write(iscsi_context* ctx) {
        std::uniform_int_distribution<uint64_t> pick(0, blocks_per_writer - 1);
        const uint64_t i = pick(rng_);
        const bool fua = (rng_() & 1) != 0;
        const uint64_t seq = ++seq_;
        std::vector<uint8_t> both(2 * block_size, 0);
        if (blocks_[i].current != 0) {
            encode(both.data(), id_, first_lba_ + i, blocks_[i].current);
        }
        encode(both.data() + block_size, id_, first_lba_ + i, seq);
        blocks_[i].issued = seq;
        Task t(iscsi_compareandwrite_sync(ctx, 0, first_lba_ + i, both.data(), 2 * block_size,
                                          block_size, 0, 0, fua ? 1 : 0, 0, 0));
        if (!t || t->status != SCSI_STATUS_GOOD) {
            return describe(ctx, t.get(), "COMPARE AND WRITE");
        }
        ++counts_.ats;
        // Stable as a write is (target/scsi/sbc_vaai.cpp: stable = fua || !WCE).
        acknowledged(i, 1, seq, fua || !write_cache_);
        return {};
    }

    // SBC-4 §5.28: GOOD once every write to the range acknowledged before it is stable.
    std::string synchronize_cache(iscsi_context* ctx) {
        Task t(iscsi_synchronizecache16_sync(ctx, 0, first_lba_,
                                             static_cast<uint32_t>(blocks_per_writer), 0, 0));
        if (!t || t->status != SCSI_STATUS_GOOD) {
            return describe(ctx, t.get(), "SYNCHRONIZE CACHE(16)");
        }
        ++counts_.syncs;
        for (const auto& [i, seq] : pending_) {
            blocks_[i].stable = std::max(blocks_[i].stable, seq);
        }
        pending_.clear();
        return {};
    }

    uint64_t id_;
    uint64_t first_lba_;
    bool write_cache_;
    std::mt19937_64 rng_;
    std::vector<BlockState> blocks_;
    std::vector<std::pair<uint64_t, uint64_t>> pending_;  // (block index, sequence) not yet synced
    uint64_t seq_ = 0;                                    // this writer's, across rounds
    std::string error_;
    std::atomic<bool> ready_{false};  // logged in and writing
    std::atomic<bool> done_{false};   // run() returned
    Counts counts_;
};

// ---- The test -------------------------------------------------------------------------------
struct CrashCase {
    const char* backend;
    bool write_cache;
};

std::string case_name(const ::testing::TestParamInfo<CrashCase>& info) {
    return std::string(info.param.backend) + (info.param.write_cache ? "_wce1" : "_wce0");
}

std::string config_body(const CrashCase& c) {
    std::string lun = std::string("[[target.lun]]\nid = 0\nbackend = \"") + c.backend + "\"\n";
    if (std::string(c.backend) == "file") {
        lun += "path = \"lun0.img\"\n";
    }
    lun +=
        "size = \"16MiB\"\nwrite_cache = " + std::string(c.write_cache ? "true" : "false") + "\n";
    return "[[target]]\nname = \"" + std::string(target_name) + "\"\n" + lun;
}

class CrashTest : public ::testing::TestWithParam<CrashCase> {};

// Starts the daemon again after a kill and logs in; returns the time from the start until the
// portal accepted a login, or a negative value when it did not within restart_limit.
double restart(DaemonProcess& d) {
    const auto t0 = Clock::now();
    try {
        d.start();
    } catch (const std::runtime_error&) {
        if (!d.alive()) {
            throw;  // it exited: the message holds the daemon's log
        }
        // Still starting after DaemonProcess's own 10 s: keep waiting up to restart_limit.
    }
    while (Clock::now() - t0 < restart_limit) {
        std::string why;
        if (Context ctx = login(d.port(), "iqn.2026-11.org.atsarray:crash-probe", why)) {
            iscsi_logout_sync(ctx.get());
            return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

TEST_P(CrashTest, AcknowledgedStableWritesSurviveSigkill) {
    const CrashCase c = GetParam();
    const uint64_t rounds = env_u64("ATSARRAY_CRASH_ROUNDS", 3);
    const uint64_t seed = env_u64("ATSARRAY_CRASH_SEED", std::random_device{}());
    std::printf("[ crash    ] %s write_cache=%d: %llu rounds, ATSARRAY_CRASH_SEED=%llu\n",
                c.backend, c.write_cache ? 1 : 0, static_cast<unsigned long long>(rounds),
                static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);

    DaemonProcess d(config_body(c));
    std::vector<std::unique_ptr<Writer>> writers;
    for (int w = 0; w < writer_count; ++w) {
        writers.push_back(std::make_unique<Writer>(w, c.write_cache, rng()));
    }
    uint64_t verified = 0;
    uint64_t exact = 0;
    uint64_t newer = 0;
    uint64_t zeros = 0;
    std::vector<double> restart_ms;

    for (uint64_t round = 1; round <= rounds; ++round) {
        std::atomic<bool> killed{false};
        std::vector<std::thread> threads;
        for (auto& w : writers) {
            w->start_round();
        }
        for (auto& w : writers) {
            threads.emplace_back([&, writer = w.get()] { writer->run(d.port(), killed); });
        }
        // A random moment once every writer is logged in and writing.
        const auto login_deadline = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < login_deadline &&
               !std::all_of(writers.begin(), writers.end(),
                            [](const auto& w) { return w->ready() || w->done(); })) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        std::uniform_int_distribution<int> wait_ms(20, 700);
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
        killed = true;
        d.stop(SIGKILL);
        for (auto& t : threads) {
            t.join();
        }
        for (const auto& w : writers) {
            ASSERT_TRUE(w->error().empty()) << "round " << round << ": " << w->error();
        }

        const double ms = restart(d);
        ASSERT_GE(ms, 0) << "round " << round << ": no login within 30 s of the restart\n"
                         << d.log();
        restart_ms.push_back(ms);

        std::string why;
        Context ctx = login(d.port(), "iqn.2026-11.org.atsarray:crash-verify", why);
        ASSERT_TRUE(ctx) << why;
        std::vector<std::string> problems;
        for (auto& w : writers) {
            Task t(iscsi_read16_sync(ctx.get(), 0, w->first_lba(),
                                     static_cast<uint32_t>(blocks_per_writer * block_size),
                                     block_size, 0, 0, 0, 0, 0));
            ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD &&
                        t->datain.size == static_cast<int>(blocks_per_writer * block_size))
                << describe(ctx.get(), t.get(), "READ(16)");
            const std::vector<uint8_t> data(t->datain.data, t->datain.data + t->datain.size);
            const auto found = w->verify(data, exact, newer, zeros);
            problems.insert(problems.end(), found.begin(), found.end());
            verified += blocks_per_writer;
        }
        iscsi_logout_sync(ctx.get());
        for (size_t i = 0; i < std::min<size_t>(problems.size(), 20); ++i) {
            ADD_FAILURE() << "round " << round << ": " << problems[i];
        }
        ASSERT_TRUE(problems.empty())
            << problems.size() << " bad blocks in round " << round << " (seed " << seed << ")";
    }

    Counts total;
    for (const auto& w : writers) {
        total.fua_writes += w->counts().fua_writes;
        total.plain_writes += w->counts().plain_writes;
        total.ats += w->counts().ats;
        total.syncs += w->counts().syncs;
    }
    std::sort(restart_ms.begin(), restart_ms.end());
    const double mean =
        restart_ms.empty()
            ? 0
            : std::accumulate(restart_ms.begin(), restart_ms.end(), 0.0) / restart_ms.size();
    std::printf(
        "[ crash    ] %s write_cache=%d: %llu rounds, %llu blocks verified (%llu the "
        "stable image, %llu newer unsynced, %llu zeros); acknowledged %llu FUA writes, "
        "%llu plain writes, %llu ATS, %llu SYNCHRONIZE CACHE; restart to login ms "
        "min %.0f mean %.0f max %.0f\n",
        c.backend, c.write_cache ? 1 : 0, static_cast<unsigned long long>(rounds),
        static_cast<unsigned long long>(verified), static_cast<unsigned long long>(exact),
        static_cast<unsigned long long>(newer), static_cast<unsigned long long>(zeros),
        static_cast<unsigned long long>(total.fua_writes),
        static_cast<unsigned long long>(total.plain_writes),
        static_cast<unsigned long long>(total.ats), static_cast<unsigned long long>(total.syncs),
        restart_ms.empty() ? 0 : restart_ms.front(), mean,
        restart_ms.empty() ? 0 : restart_ms.back());
    // Every round wrote something that had to be made stable, or the test proved nothing.
    EXPECT_GT(total.fua_writes + total.ats, 0u);
    EXPECT_GT(exact, 0u);
}

INSTANTIATE_TEST_SUITE_P(Stores, CrashTest,
                         ::testing::Values(CrashCase{"rocksdb", true}, CrashCase{"rocksdb", false},
                                           CrashCase{"file", true}, CrashCase{"file", false}),
                         case_name);

}  // namespace
}  // namespace atsarray::testing
