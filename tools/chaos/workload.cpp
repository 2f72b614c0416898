#include "tools/chaos/workload.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tools/chaos/probe.hpp"

namespace atsarray::chaos {
namespace {

using namespace std::chrono_literals;
using Cdb = std::array<uint8_t, 16>;

constexpr uint8_t status_check_condition = 0x02;
constexpr uint8_t sense_unit_attention = 0x06;
constexpr uint8_t sense_miscompare = 0x0e;
constexpr char block_magic[8] = {'A', 'T', 'S', 'C', 'H', 'A', 'O', 'S'};
constexpr char counter_magic[8] = {'A', 'T', 'S', 'C', 'O', 'U', 'N', 'T'};

void put64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (56 - 8 * i));
    }
}
uint64_t get64(const std::vector<uint8_t>& b, size_t at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | b[at + static_cast<size_t>(i)];
    }
    return v;
}

Cdb rw16(uint8_t opcode, uint64_t lba, uint32_t blocks, bool fua) {
    Cdb c{};
    c[0] = opcode;
    c[1] = fua ? 0x08 : 0x00;
    for (int i = 0; i < 8; ++i) {
        c[2 + static_cast<size_t>(i)] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    for (int i = 0; i < 4; ++i) {
        c[10 + static_cast<size_t>(i)] = static_cast<uint8_t>(blocks >> (24 - 8 * i));
    }
    return c;
}
Cdb read16(uint64_t lba, uint32_t blocks) {
    return rw16(0x88, lba, blocks, false);
}
Cdb write16(uint64_t lba, uint32_t blocks) {
    return rw16(0x8a, lba, blocks, true);
}
// COMPARE AND WRITE (SBC-4 §5.3) of one block: the data-out is the compare then the write block.
Cdb compare_and_write(uint64_t lba) {
    Cdb c = rw16(0x89, lba, 0, false);
    c[13] = 1;
    return c;
}

// A writer's block: magic, run, worker, LBA, version, then a fill the version determines, so a
// block that is not wholly one version is seen.
std::vector<uint8_t> writer_block(uint32_t size, uint64_t run, uint32_t worker, uint64_t lba,
                                  uint64_t version) {
    std::vector<uint8_t> b(size);
    std::memcpy(b.data(), block_magic, 8);
    put64(b, 8, run);
    put64(b, 16, worker);
    put64(b, 24, lba);
    put64(b, 32, version);
    for (size_t i = 40; i < b.size(); ++i) {
        b[i] = static_cast<uint8_t>(version * 31 + lba + i);
    }
    return b;
}

std::vector<uint8_t> counter_block(uint32_t size, uint64_t run, uint64_t count, uint32_t worker) {
    std::vector<uint8_t> b(size);
    std::memcpy(b.data(), counter_magic, 8);
    put64(b, 8, run);
    put64(b, 16, count);
    put64(b, 24, worker);
    for (size_t i = 32; i < b.size(); ++i) {
        b[i] = static_cast<uint8_t>(count * 7 + i);
    }
    return b;
}

enum class Cut : uint8_t { reset, stall_unread, stall_mid_data, logout };

// What one block may hold: the newest acknowledged version and every version sent.
struct BlockLedger {
    uint64_t acked = 0;
    std::set<uint64_t> sent;
};

struct Shared {
    const ChaosOptions& options;
    uint64_t run = 0;
    uint32_t block_size = 512;
    uint64_t counter_lba = 0;
    std::atomic<uint32_t> cycles_done{0};
    std::mutex mutex;  // guards report
    ChaosReport report;

    void violation(const std::string& what) {
        std::lock_guard lock(mutex);
        if (report.violations.size() < 50) {
            report.violations.push_back(what);
        }
    }
};

// One worker: its own initiator name and ISID, so each of its logins reinstates the last.
class Worker {
  public:
    Worker(Shared& shared, uint32_t index, bool ats, uint32_t cycles)
        : s_(shared),
          index_(index),
          ats_(ats),
          cycles_(cycles),
          rng_(shared.options.seed * 7919 + index) {
        if (!ats_) {
            first_lba_ = s_.options.first_lba + uint64_t{index_} * s_.options.blocks_per_writer;
        }
    }

    void run() {
        for (uint32_t cycle = 0; cycle < cycles_ && !failed_; ++cycle) {
            auto session = log_in();
            if (!session) {
                break;
            }
            check_stalled_closed();
            if (!ats_) {
                verify_blocks(*session);
            }
            const uint32_t ops = 2 + static_cast<uint32_t>(rng_() % 6);
            for (uint32_t i = 0; i < ops && !failed_; ++i) {
                ats_ ? acked_ats(*session) : acked_write(*session);
            }
            // The last cycle logs out: nothing of this worker is left for the idle check.
            const Cut cut = cycle + 1 == cycles_ ? Cut::logout : static_cast<Cut>(rng_() % 4);
            end_session(std::move(*session), cut);
            s_.cycles_done.fetch_add(1, std::memory_order_relaxed);
        }
        if (stalled_fd_ >= 0) {
            ::close(stalled_fd_);
        }
        std::lock_guard lock(s_.mutex);
        ChaosReport& r = s_.report;
        r.cycles += local_.cycles;
        r.resets += local_.resets;
        r.stalls_unread += local_.stalls_unread;
        r.stalls_mid_data += local_.stalls_mid_data;
        r.logouts += local_.logouts;
        r.acked_writes += local_.acked_writes;
        r.acked_ats += local_.acked_ats;
        r.doubtful_ats += local_.doubtful_ats;
        r.ats_miscompares += local_.ats_miscompares;
        r.unit_attentions += local_.unit_attentions;
        r.cmd_sn_wraps += wraps_;
    }

    // After the run: every block of this writer against its ledger.
    void verify_final(Session& session) { verify_blocks(session); }

  private:
    std::string name() const { return (ats_ ? "ats" : "writer") + std::to_string(index_); }

    std::optional<Session> log_in() {
        LoginSpec spec;
        spec.initiator_name = "iqn.2026-12.org.atsarray.chaos:" + name();
        spec.target_name = s_.options.target;
        spec.isid = 0x400000c40000ULL + index_;
        spec.lun = s_.options.lun;
        spec.first_cmd_sn = s_.options.first_cmd_sn - static_cast<uint32_t>(rng_() % 4);
        std::string error;
        // A login racing the target's clean-up of the cut connection may be refused for a
        // moment (session reinstatement in progress); a few tries, then it is a finding.
        for (int attempt = 0; attempt < 50; ++attempt) {
            if (auto session = Session::login(s_.options.portal, spec, error)) {
                return session;
            }
            std::this_thread::sleep_for(100ms);
        }
        fail("login failed 50 times: " + error);
        return std::nullopt;
    }

    void fail(const std::string& what) {
        failed_ = true;
        s_.violation(name() + ": " + what);
    }

    // A command, retried while it reports a unit attention (the first command after a
    // reinstatement reports the I_T nexus loss, SAM-5 §6.3).
    ScsiResult run_command(Session& session, const Cdb& cdb, std::span<const uint8_t> out,
                           uint32_t length, bool read) {
        ScsiResult r;
        for (int attempt = 0; attempt < 4; ++attempt) {
            r = session.execute(cdb, out, length, read, s_.options.command_timeout);
            if (r.status != status_check_condition || r.sense_key != sense_unit_attention) {
                break;
            }
            ++local_.unit_attentions;
        }
        return r;
    }

    static std::string outcome(const ScsiResult& r) {
        if (!r.answered()) {
            return "no answer";
        }
        std::ostringstream o;
        o << "status 0x" << std::hex << int{r.status} << " sense " << int{r.sense_key} << "/"
          << int{r.asc} << "/" << int{r.ascq};
        return o.str();
    }

    void acked_write(Session& session) {
        const uint64_t lba = first_lba_ + rng_() % s_.options.blocks_per_writer;
        const uint64_t version = ++version_;
        BlockLedger& ledger = blocks_[lba];
        ledger.sent.insert(version);
        const auto data = writer_block(s_.block_size, s_.run, index_, lba, version);
        const ScsiResult r = run_command(session, write16(lba, 1), data, s_.block_size, false);
        if (!r.good()) {
            fail("WRITE(16) FUA of LBA " + std::to_string(lba) + ": " + outcome(r));
            return;
        }
        ledger.acked = std::max(ledger.acked, version);
        ++local_.acked_writes;
    }

    // READ the counter, COMPARE AND WRITE it one up; GOOD counts, a miscompare (another
    // worker got there first) reads again.
    void acked_ats(Session& session) {
        for (int attempt = 0; attempt < 200; ++attempt) {
            const ScsiResult current =
                run_command(session, read16(s_.counter_lba, 1), {}, s_.block_size, true);
            if (!current.good() || current.data.size() != s_.block_size) {
                fail("READ of the ATS counter: " + outcome(current));
                return;
            }
            const uint64_t count = get64(current.data, 16);
            std::vector<uint8_t> out = current.data;
            const auto next = counter_block(s_.block_size, s_.run, count + 1, index_);
            out.insert(out.end(), next.begin(), next.end());
            const ScsiResult r = run_command(session, compare_and_write(s_.counter_lba), out,
                                             2 * s_.block_size, false);
            if (r.good()) {
                ++local_.acked_ats;
                return;
            }
            if (r.status == status_check_condition && r.sense_key == sense_miscompare) {
                ++local_.ats_miscompares;
                continue;
            }
            fail("COMPARE AND WRITE of the ATS counter: " + outcome(r));
            return;
        }
        fail("COMPARE AND WRITE miscompared 200 times in a row");
    }

    // Commands sent and never waited for: writes of new versions, or an ATS.
    void send_in_flight(Session& session) {
        const uint32_t n = 1 + static_cast<uint32_t>(rng_() % 3);
        for (uint32_t i = 0; i < n; ++i) {
            if (ats_) {
                // Compare against what was there a moment ago: it may write or miscompare.
                const ScsiResult current = session.execute(
                    read16(s_.counter_lba, 1), {}, s_.block_size, true, s_.options.command_timeout);
                if (!current.good() || current.data.size() != s_.block_size) {
                    return;
                }
                std::vector<uint8_t> out = current.data;
                const auto next =
                    counter_block(s_.block_size, s_.run, get64(current.data, 16) + 1, index_);
                out.insert(out.end(), next.begin(), next.end());
                if (session.send(compare_and_write(s_.counter_lba), out, 2 * s_.block_size,
                                 false) != 0) {
                    ++local_.doubtful_ats;
                }
            } else {
                const uint64_t lba = first_lba_ + rng_() % s_.options.blocks_per_writer;
                const uint64_t version = ++version_;
                blocks_[lba].sent.insert(version);
                const auto data = writer_block(s_.block_size, s_.run, index_, lba, version);
                session.send(write16(lba, 1), data, s_.block_size, false);
            }
        }
    }

    void end_session(Session session, Cut cut) {
        ++local_.cycles;
        end_with(session, cut);
        wraps_ += session.wraps();
    }

    void end_with(Session& session, Cut cut) {
        switch (cut) {
            case Cut::reset:
                send_in_flight(session);
                session.reset();
                ++local_.resets;
                break;
            case Cut::stall_unread: {
                send_in_flight(session);
                // And 4 MiB of READs on top, more than the socket buffers hold: the target's
                // answers back up in its send queue when its peer stops reading.
                const uint32_t blocks = (1U << 20) / s_.block_size;
                for (int i = 0; i < 4; ++i) {
                    session.send(read16(s_.options.first_lba, blocks), {}, blocks * s_.block_size,
                                 true);
                }
                stalled_fd_ = session.release_fd();
                ++local_.stalls_unread;
                break;
            }
            case Cut::stall_mid_data: {
                // Two blocks announced, one sent as immediate data: the target asks for the other
                // with an R2T that never gets its Data-Out, so the command cannot run. A writer's
                // is a WRITE of two of its blocks; an ATS worker's a COMPARE AND WRITE with only
                // its compare block.
                const uint64_t lba = first_lba_ + rng_() % (s_.options.blocks_per_writer - 1);
                std::vector<uint8_t> data(s_.block_size, 0);
                if (!ats_) {
                    for (uint64_t b = lba; b < lba + 2; ++b) {
                        blocks_[b].sent.insert(++version_);
                    }
                    data = writer_block(s_.block_size, s_.run, index_, lba, version_ - 1);
                }
                session.send(ats_ ? compare_and_write(s_.counter_lba) : write16(lba, 2), data,
                             2 * s_.block_size, false);
                stalled_fd_ = session.release_fd();
                ++local_.stalls_mid_data;
                break;
            }
            case Cut::logout:
                if (!session.logout(s_.options.command_timeout)) {
                    fail("logout was not answered");
                }
                ++local_.logouts;
                break;
        }
    }

    // A peer that stalled is closed by the target once its session is reinstated (RFC 7143
    // §6.3.5): read what the target had queued until the connection ends.
    void check_stalled_closed() {
        if (stalled_fd_ < 0) {
            return;
        }
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        char buf[65536];
        bool closed = false;
        while (!closed && std::chrono::steady_clock::now() < deadline) {
            pollfd p{stalled_fd_, POLLIN, 0};
            if (::poll(&p, 1, 200) > 0) {
                const ssize_t n = ::recv(stalled_fd_, buf, sizeof buf, 0);
                closed = n <= 0;
            }
        }
        ::close(stalled_fd_);
        stalled_fd_ = -1;
        if (!closed) {
            fail(
                "the target kept a stalled connection open 10 s after its session was "
                "reinstated");
        }
    }

    void verify_blocks(Session& session) {
        for (auto& [lba, ledger] : blocks_) {
            const ScsiResult r = run_command(session, read16(lba, 1), {}, s_.block_size, true);
            if (!r.good() || r.data.size() != s_.block_size) {
                fail("READ of LBA " + std::to_string(lba) + ": " + outcome(r));
                return;
            }
            {
                std::lock_guard lock(s_.mutex);
                ++s_.report.blocks_checked;
            }
            const bool ours = std::memcmp(r.data.data(), block_magic, 8) == 0 &&
                              get64(r.data, 8) == s_.run && get64(r.data, 16) == index_ &&
                              get64(r.data, 24) == lba;
            const uint64_t version = ours ? get64(r.data, 32) : 0;
            const std::string where = "LBA " + std::to_string(lba) + ": ";
            if (ours && r.data != writer_block(s_.block_size, s_.run, index_, lba, version)) {
                fail(where + "torn block (version " + std::to_string(version) + ")");
            } else if (version < ledger.acked) {
                fail(where + "acknowledged write lost: holds version " + std::to_string(version) +
                     ", version " + std::to_string(ledger.acked) + " was acknowledged");
            } else if (version != 0 && ledger.sent.count(version) == 0) {
                fail(where + "holds version " + std::to_string(version) + ", which was never sent");
            }
        }
    }

    Shared& s_;
    uint32_t index_;
    bool ats_;
    uint32_t cycles_;
    std::mt19937_64 rng_;
    uint64_t first_lba_ = 0;
    uint64_t version_ = 0;
    std::map<uint64_t, BlockLedger> blocks_;
    int stalled_fd_ = -1;
    uint64_t wraps_ = 0;
    bool failed_ = false;
    ChaosReport local_;
};

// READ CAPACITY(16) (SBC-4 §5.20): the block size; 0 when it fails.
uint32_t block_size_of(Session& session, std::chrono::milliseconds timeout) {
    Cdb cdb{};
    cdb[0] = 0x9e;
    cdb[1] = 0x10;
    cdb[13] = 32;
    for (int attempt = 0; attempt < 3; ++attempt) {
        const ScsiResult r = session.execute(cdb, {}, 32, true, timeout);
        if (r.good() && r.data.size() >= 12) {
            return (uint32_t{r.data[8]} << 24) | (uint32_t{r.data[9]} << 16) |
                   (uint32_t{r.data[10]} << 8) | r.data[11];
        }
    }
    return 0;
}

std::optional<Session> admin_session(const ChaosOptions& o, uint32_t isid_low, std::string& error) {
    LoginSpec spec;
    spec.initiator_name = "iqn.2026-12.org.atsarray.chaos:check";
    spec.target_name = o.target;
    spec.isid = 0x400000c4ff00ULL + isid_low;
    spec.lun = o.lun;
    spec.first_cmd_sn = o.first_cmd_sn;
    return Session::login(o.portal, spec, error);
}

// Waits up to 20 s for the gauges of an idle daemon; returns what they said.
void check_idle(const ChaosOptions& o, ChaosReport& report) {
    static constexpr const char* gauges[] = {"atsarray_sessions", "atsarray_connections",
                                             "atsarray_buffer_bytes", "atsarray_lba_ranges_locked"};
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::string error;
    std::map<std::string, double> last;
    while (true) {
        auto samples = scrape_metrics(o.portal.host, *o.console_port, error);
        if (!samples) {
            report.violations.push_back(error);
            return;
        }
        last = *samples;
        bool idle = true;
        for (const char* g : gauges) {
            idle = idle && last.count(g) != 0 && last[g] == 0;
        }
        if (idle || !o.expect_idle || std::chrono::steady_clock::now() > deadline) {
            break;
        }
        std::this_thread::sleep_for(200ms);
    }
    std::ostringstream text;
    for (const char* g : gauges) {
        text << (text.tellp() > 0 ? ", " : "") << g << " "
             << (last.count(g) != 0 ? std::to_string(static_cast<uint64_t>(last[g])) : "absent");
        if (o.expect_idle && (last.count(g) == 0 || last[g] != 0)) {
            report.violations.push_back(std::string("leak: ") + g + " did not return to 0");
        }
    }
    report.idle_gauges = text.str();
}

}  // namespace

ChaosReport run_chaos(const ChaosOptions& o) {
    Shared shared{o};
    shared.run = std::random_device{}() ^ (o.seed << 20);
    std::string error;
    auto admin = admin_session(o, 0, error);
    if (!admin) {
        shared.report.violations.push_back("set-up session: " + error);
        return std::move(shared.report);
    }
    shared.block_size = block_size_of(*admin, o.command_timeout);
    if (shared.block_size == 0) {
        shared.report.violations.push_back("READ CAPACITY(16) failed");
        return std::move(shared.report);
    }
    shared.counter_lba = o.first_lba + uint64_t{o.writers} * o.blocks_per_writer;
    const auto counter = counter_block(shared.block_size, shared.run, 0, 0xffff);
    if (!admin
             ->execute(write16(shared.counter_lba, 1), counter, shared.block_size, false,
                       o.command_timeout)
             .good()) {
        shared.report.violations.push_back("cannot format the ATS counter block");
        return std::move(shared.report);
    }
    admin->logout(o.command_timeout);

    const uint32_t workers = std::max(1U, o.writers + o.ats_workers);
    std::vector<std::unique_ptr<Worker>> pool;
    for (uint32_t i = 0; i < workers; ++i) {
        const uint32_t share = o.cycles / workers + (i < o.cycles % workers ? 1 : 0);
        pool.push_back(std::make_unique<Worker>(shared, i, i >= o.writers, std::max(share, 1U)));
    }
    std::vector<std::thread> threads;
    for (auto& w : pool) {
        threads.emplace_back([&w] { w->run(); });
    }
    // The RSS baseline once a quarter of the cycles ran: pools and caches have their size.
    while (o.pid != 0 && !shared.report.rss_baseline &&
           shared.cycles_done.load() < std::max(1U, o.cycles / 4)) {
        std::this_thread::sleep_for(50ms);
    }
    if (o.pid != 0) {
        shared.report.rss_baseline = resident_bytes(o.pid);
    }
    for (auto& t : threads) {
        t.join();
    }

    // The final state: every writer's blocks and the ATS counter, from a fresh session.
    auto check = admin_session(o, 1, error);
    if (!check) {
        shared.report.violations.push_back("check session: " + error);
        return std::move(shared.report);
    }
    for (uint32_t i = 0; i < o.writers; ++i) {
        pool[i]->verify_final(*check);
    }
    const ScsiResult r = check->execute(read16(shared.counter_lba, 1), {}, shared.block_size, true,
                                        o.command_timeout);
    ChaosReport& report = shared.report;
    if (!r.good() || r.data.size() != shared.block_size ||
        std::memcmp(r.data.data(), counter_magic, 8) != 0 || get64(r.data, 8) != shared.run) {
        report.violations.push_back("the ATS counter block is not ours any more");
    } else {
        const uint64_t count = get64(r.data, 16);
        if (count < report.acked_ats || count > report.acked_ats + report.doubtful_ats) {
            report.violations.push_back("ATS counter " + std::to_string(count) + " outside [" +
                                        std::to_string(report.acked_ats) + ", " +
                                        std::to_string(report.acked_ats + report.doubtful_ats) +
                                        "]");
        }
    }
    check->logout(o.command_timeout);

    if (o.console_port) {
        check_idle(o, report);
    }
    if (o.pid != 0) {
        report.rss_end = resident_bytes(o.pid);
        if (report.rss_baseline && report.rss_end &&
            *report.rss_end > *report.rss_baseline + o.max_rss_growth) {
            report.violations.push_back("RSS grew from " +
                                        std::to_string(*report.rss_baseline >> 20) + " to " +
                                        std::to_string(*report.rss_end >> 20) + " MiB");
        }
    }
    return std::move(report);
}

std::string describe(const ChaosReport& r) {
    std::ostringstream o;
    o << "chaos: " << r.cycles << " cycles (reset " << r.resets << ", stall unread "
      << r.stalls_unread << ", stall mid-data " << r.stalls_mid_data << ", logout " << r.logouts
      << "), " << r.acked_writes << " acknowledged writes, " << r.acked_ats
      << " acknowledged ATS (+" << r.doubtful_ats << " cut in flight, " << r.ats_miscompares
      << " miscompares), " << r.unit_attentions << " unit attentions, " << r.cmd_sn_wraps
      << " CmdSN wraps\n";
    o << "chaos: checked " << r.blocks_checked << " block reads against the ledger\n";
    if (!r.idle_gauges.empty()) {
        o << "chaos: idle: " << r.idle_gauges << "\n";
    }
    if (r.rss_baseline && r.rss_end) {
        o << "chaos: RSS " << (*r.rss_baseline >> 20) << " MiB after a quarter of the cycles, "
          << (*r.rss_end >> 20) << " MiB at the end\n";
    }
    for (const auto& v : r.violations) {
        o << "chaos: VIOLATION: " << v << "\n";
    }
    o << (r.violations.empty() ? "chaos: PASS\n" : "chaos: FAIL\n");
    return o.str();
}

}  // namespace atsarray::chaos
