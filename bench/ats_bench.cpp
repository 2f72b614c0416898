// ats_bench: COMPARE AND WRITE (ATS, SBC-4 §5.3) operations per second against one iSCSI target,
// for several session counts, on one hot block and on distinct blocks, next to plain one-block
// WRITE(16)s. One iSCSI session (own initiator name) per thread, synchronous libiscsi calls, so
// each session has exactly one command in flight, like an ESXi host's heartbeat/lock traffic.
// bench/run_ats_bench.sh runs it against atsarray and tgt in the same run; bench/README.md says
// what each case means.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <latch>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "tools/libiscsi_handles.hpp"

namespace {

using atsarray::initiator::Context;
using atsarray::initiator::create_context;
using atsarray::initiator::load_le64;
using atsarray::initiator::store_le64;
using atsarray::initiator::Task;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string portal = "127.0.0.1:3260";
    std::string target = "iqn.2026-11.org.atsarray:lab";
    int lun = 0;
    double seconds = 5;
    std::vector<int> sessions = {1, 8, 32};
    std::string initiator_prefix = "iqn.2026-11.org.atsarray:ats-bench";
    std::string label = "target";  // first CSV column, e.g. "atsarray" or "tgt"
    std::string csv;               // machine-readable results; empty = none
    std::vector<std::string> cases;
    int timeout = 30;  // seconds a command may take before it counts as hung
};

// Each case works on its own LBA region so that no case sees another's data. Distinct-block
// sessions are 8 blocks apart (4 KiB) so that they never share a 4 KiB page or lock stripe key.
struct CaseInfo {
    const char* name;
    bool ats;
    bool hot;
    uint64_t base_lba;
};
constexpr CaseInfo all_cases[] = {
    {"ats-hot", true, true, 1 << 16},
    {"ats-distinct", true, false, 2 << 16},
    {"write-distinct", false, false, 3 << 16},
    {"write-hot", false, true, 4 << 16},
};
constexpr uint64_t stride = 8;

enum class Status { ok, not_supported, error };

struct SessionResult {
    uint64_t ops = 0;  // successful ATS or WRITEs
    uint64_t miscompares = 0;
    std::vector<uint64_t> latency_ns;  // one per COMPARE AND WRITE or WRITE command
    Status status = Status::ok;
    std::string error;
};

struct CaseResult {
    Status status = Status::ok;
    std::string error;
    double ops_per_s = 0;
    double miscompares_per_s = 0;
    double mean_us = 0;
    double p99_us = 0;
    uint64_t ops = 0;
    uint64_t miscompares = 0;
};

Context connect(const Options& o, const std::string& name, std::string& error) {
    Context ctx = create_context(name);
    if (!ctx) {
        error = "iscsi_create_context failed";
        return nullptr;
    }
    iscsi_set_targetname(ctx.get(), o.target.c_str());
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx.get(), ISCSI_HEADER_DIGEST_NONE_CRC32C);
    iscsi_set_timeout(ctx.get(), o.timeout);
    if (iscsi_full_connect_sync(ctx.get(), o.portal.c_str(), o.lun) != 0) {
        error = iscsi_get_error(ctx.get());
        return nullptr;
    }
    return ctx;
}

void logout(Context& ctx) {
    if (ctx && iscsi_is_logged_in(ctx.get()) != 0) {
        iscsi_logout_sync(ctx.get());
    }
}

// A target without ATS answers opcode 0x89 with ILLEGAL REQUEST / INVALID COMMAND OPERATION
// CODE (20/00), as tgt 1.0.85 does (REFERENCES.md).
bool is_invalid_opcode(const scsi_task* t) {
    return t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST &&
           t->sense.ascq == SCSI_SENSE_ASCQ_INVALID_OPERATION_CODE;
}

std::string describe(iscsi_context* ctx, const scsi_task* t, const char* what) {
    if (t == nullptr) {
        return std::string(what) + ": " + iscsi_get_error(ctx);
    }
    char buf[160];
    if (t->status == SCSI_STATUS_CHECK_CONDITION) {
        std::snprintf(buf, sizeof buf, "%s: CHECK CONDITION key 0x%x asc/ascq 0x%04x (%s)", what,
                      static_cast<unsigned>(t->sense.key), static_cast<unsigned>(t->sense.ascq),
                      scsi_sense_ascq_str(t->sense.ascq));
    } else {
        std::snprintf(buf, sizeof buf, "%s: status 0x%x", what, static_cast<unsigned>(t->status));
    }
    return buf;
}

uint64_t since_ns(Clock::time_point start) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
}

// One session's loop until `deadline`. ATS: read the block, +1 on the 8-byte counter at offset
// 0, COMPARE AND WRITE (compare image = what was read), retry on miscompare. WRITE: one block.
void run_session(const Options& o, const CaseInfo& c, int bs, uint64_t lba, iscsi_context* ctx,
                 std::latch& ready, const Clock::time_point& start_at,
                 const std::atomic<bool>& stop, SessionResult& r) {
    const auto ubs = static_cast<uint32_t>(bs);
    std::vector<uint8_t> buf(2 * static_cast<size_t>(bs));
    r.latency_ns.reserve(1 << 16);
    ready.arrive_and_wait();
    std::this_thread::sleep_until(start_at);
    for (uint64_t n = 1; !stop.load(std::memory_order_relaxed); ++n) {
        if (!c.ats) {
            std::memset(buf.data(), static_cast<int>(n & 0xff), ubs);
            store_le64(buf.data(), n);
            const Clock::time_point t0 = Clock::now();
            Task t(iscsi_write16_sync(ctx, o.lun, lba, buf.data(), ubs, bs, 0, 0, 0, 0, 0));
            r.latency_ns.push_back(since_ns(t0));
            if (!t || t->status != SCSI_STATUS_GOOD) {
                r.status = Status::error;
                r.error = describe(ctx, t.get(), "WRITE(16)");
                return;
            }
            ++r.ops;
            continue;
        }
        Task rd(iscsi_read16_sync(ctx, o.lun, lba, ubs, bs, 0, 0, 0, 0, 0));
        if (!rd || rd->status != SCSI_STATUS_GOOD || rd->datain.size != bs) {
            r.status = Status::error;
            r.error = describe(ctx, rd.get(), "READ(16)");
            return;
        }
        std::memcpy(buf.data(), rd->datain.data, ubs);
        std::memcpy(buf.data() + bs, rd->datain.data, ubs);
        store_le64(buf.data() + bs, load_le64(buf.data()) + 1);
        const Clock::time_point t0 = Clock::now();
        Task caw(
            iscsi_compareandwrite_sync(ctx, o.lun, lba, buf.data(), 2 * ubs, bs, 0, 0, 0, 0, 0));
        r.latency_ns.push_back(since_ns(t0));
        if (caw && caw->status == SCSI_STATUS_GOOD) {
            ++r.ops;
        } else if (caw && caw->status == SCSI_STATUS_CHECK_CONDITION &&
                   caw->sense.key == SCSI_SENSE_MISCOMPARE) {
            ++r.miscompares;
        } else if (caw && is_invalid_opcode(caw.get())) {
            r.status = Status::not_supported;
            return;
        } else {
            r.status = Status::error;
            r.error = describe(ctx, caw.get(), "COMPARE AND WRITE");
            return;
        }
    }
}

// Reads the hot ATS counter into `value`; false on failure.
bool read_counter(const Options& o, iscsi_context* ctx, int bs, uint64_t lba, uint64_t& value) {
    Task rd(iscsi_read16_sync(ctx, o.lun, lba, static_cast<uint32_t>(bs), bs, 0, 0, 0, 0, 0));
    if (!rd || rd->status != SCSI_STATUS_GOOD || rd->datain.size != bs) {
        return false;
    }
    value = load_le64(rd->datain.data);
    return true;
}

CaseResult run_case(const Options& o, const CaseInfo& c, int sessions, int bs,
                    iscsi_context* setup) {
    CaseResult result;
    std::vector<Context> contexts;
    for (int i = 0; i < sessions; ++i) {
        std::string error;
        const std::string name = o.initiator_prefix + "-" + c.name + "-" + std::to_string(i);
        contexts.push_back(connect(o, name, error));
        if (!contexts.back()) {
            result.status = Status::error;
            result.error = "login of " + name + " failed: " + error;
            for (Context& ctx : contexts) {
                logout(ctx);
            }
            return result;
        }
    }
    uint64_t counter_before = 0;
    const bool check_counter =
        c.ats && c.hot && read_counter(o, setup, bs, c.base_lba, counter_before);

    std::vector<SessionResult> per_session(static_cast<size_t>(sessions));
    std::latch ready(sessions + 1);
    std::atomic<bool> stop{false};
    Clock::time_point start_at;
    std::vector<std::thread> threads;
    for (int i = 0; i < sessions; ++i) {
        const uint64_t lba = c.hot ? c.base_lba : c.base_lba + stride * static_cast<uint64_t>(i);
        threads.emplace_back([&, i, lba] {
            run_session(o, c, bs, lba, contexts[static_cast<size_t>(i)].get(), ready, start_at,
                        stop, per_session[static_cast<size_t>(i)]);
        });
    }
    // Every session is logged in and its thread running before the clock starts.
    start_at = Clock::now() + std::chrono::milliseconds(20);
    ready.arrive_and_wait();
    std::this_thread::sleep_until(start_at + std::chrono::duration<double>(o.seconds));
    stop = true;
    for (std::thread& t : threads) {
        t.join();
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_at).count();
    for (Context& ctx : contexts) {
        logout(ctx);
    }

    std::vector<uint64_t> latency;
    for (const SessionResult& r : per_session) {
        result.ops += r.ops;
        result.miscompares += r.miscompares;
        latency.insert(latency.end(), r.latency_ns.begin(), r.latency_ns.end());
        if (r.status == Status::not_supported && result.status == Status::ok) {
            result.status = Status::not_supported;
        }
        if (r.status == Status::error && result.status != Status::error) {
            result.status = Status::error;
            result.error = r.error;
        }
    }
    result.ops_per_s = static_cast<double>(result.ops) / elapsed;
    result.miscompares_per_s = static_cast<double>(result.miscompares) / elapsed;
    if (!latency.empty()) {
        result.mean_us =
            static_cast<double>(std::accumulate(latency.begin(), latency.end(), uint64_t{0})) /
            static_cast<double>(latency.size()) / 1000.0;
        const size_t p99 = latency.size() * 99 / 100;
        std::nth_element(latency.begin(), latency.begin() + static_cast<ptrdiff_t>(p99),
                         latency.end());
        result.p99_us = static_cast<double>(latency[p99]) / 1000.0;
    }
    // A sanity check, not a test: on the hot block every successful ATS added exactly one.
    if (check_counter && result.status == Status::ok) {
        uint64_t after = 0;
        const bool read = read_counter(o, setup, bs, c.base_lba, after);
        if (!read || after - counter_before != result.ops) {
            result.status = Status::error;
            result.error = "hot counter moved by " +
                           (read ? std::to_string(after - counter_before) : "?") + ", but " +
                           std::to_string(result.ops) + " ATS succeeded (lost or extra update)";
        }
    }
    return result;
}

const char* status_name(Status s) {
    switch (s) {
        case Status::ok:
            return "ok";
        case Status::not_supported:
            return "not-supported";
        case Status::error:
            return "error";
    }
    return "error";
}

// CSV fields hold no commas or quotes: error texts are ours or libiscsi's; replace to be safe.
std::string csv_field(std::string s) {
    std::replace(s.begin(), s.end(), ',', ';');
    std::replace(s.begin(), s.end(), '"', '\'');
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"ats_bench: COMPARE AND WRITE and WRITE operations per second"};
    app.add_option("--portal", o.portal, "target portal host:port");
    app.add_option("--target", o.target, "target IQN");
    app.add_option("--lun", o.lun, "LUN");
    app.add_option("--seconds", o.seconds, "duration of each case")->check(CLI::Range(0.1, 3600.0));
    app.add_option("--sessions", o.sessions, "session counts, e.g. 1,8,32")
        ->delimiter(',')
        ->check(CLI::Range(1, 256));
    app.add_option("--initiator-prefix", o.initiator_prefix, "initiator names: PREFIX-CASE-N");
    app.add_option("--label", o.label, "the target's name in the CSV output");
    app.add_option("--csv", o.csv, "write one CSV line per case to this file");
    app.add_option("--cases", o.cases, "cases to run (default all)")
        ->delimiter(',')
        ->check(CLI::IsMember({"ats-hot", "ats-distinct", "write-distinct", "write-hot"}));
    app.add_option("--timeout", o.timeout, "seconds before a command counts as hung")
        ->check(CLI::Range(1, 3600));
    CLI11_PARSE(app, argc, argv);

    std::string error;
    Context setup = connect(o, o.initiator_prefix + "-setup", error);
    if (!setup) {
        std::fprintf(stderr, "ats_bench: cannot log in to %s at %s: %s\n", o.target.c_str(),
                     o.portal.c_str(), error.c_str());
        return 2;
    }
    Task cap(iscsi_readcapacity16_sync(setup.get(), o.lun));
    auto* rc16 =
        cap ? static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(cap.get())) : nullptr;
    const int max_sessions = *std::max_element(o.sessions.begin(), o.sessions.end());
    const uint64_t needed = all_cases[3].base_lba + stride * static_cast<uint64_t>(max_sessions);
    if (rc16 == nullptr || rc16->returned_lba < needed) {
        std::fprintf(stderr,
                     "ats_bench: READ CAPACITY(16) failed or the LUN is under %" PRIu64 " blocks\n",
                     needed + 1);
        return 2;
    }
    const int bs = static_cast<int>(rc16->block_length);

    // Probe ATS once: compare and write the hot block's own contents (a no-op when it matches).
    bool ats_supported = true;
    {
        Task rd(iscsi_read16_sync(setup.get(), o.lun, all_cases[0].base_lba,
                                  static_cast<uint32_t>(bs), bs, 0, 0, 0, 0, 0));
        if (rd && rd->status == SCSI_STATUS_GOOD && rd->datain.size == bs) {
            std::vector<uint8_t> both(2 * static_cast<size_t>(bs));
            std::memcpy(both.data(), rd->datain.data, static_cast<size_t>(bs));
            std::memcpy(both.data() + bs, rd->datain.data, static_cast<size_t>(bs));
            Task caw(iscsi_compareandwrite_sync(setup.get(), o.lun, all_cases[0].base_lba,
                                                both.data(), static_cast<uint32_t>(2 * bs), bs, 0,
                                                0, 0, 0, 0));
            ats_supported = !(caw && is_invalid_opcode(caw.get()));
        }
    }

    std::FILE* csv = nullptr;
    if (!o.csv.empty()) {
        csv = std::fopen(o.csv.c_str(), "w");
        if (csv == nullptr) {
            std::fprintf(stderr, "ats_bench: cannot write %s\n", o.csv.c_str());
            return 2;
        }
        std::fprintf(csv,
                     "label,case,sessions,status,ops_per_s,miscompares_per_s,mean_us,p99_us,ops,"
                     "miscompares,error\n");
    }
    std::printf("%s at %s, LUN %d, %d-byte blocks, %.1f s per case\n", o.target.c_str(),
                o.portal.c_str(), o.lun, bs, o.seconds);
    std::printf("%-15s %8s %12s %14s %10s %10s\n", "case", "sessions", "ops/s", "miscompares/s",
                "mean us", "p99 us");
    std::fflush(stdout);
    int exit_status = 0;
    for (const CaseInfo& c : all_cases) {
        if (!o.cases.empty() &&
            std::find(o.cases.begin(), o.cases.end(), c.name) == o.cases.end()) {
            continue;
        }
        for (const int sessions : o.sessions) {
            CaseResult r;
            if (c.ats && !ats_supported) {
                r.status = Status::not_supported;
            } else {
                r = run_case(o, c, sessions, bs, setup.get());
            }
            if (r.status == Status::ok) {
                std::printf("%-15s %8d %12.0f %14.0f %10.1f %10.1f\n", c.name, sessions,
                            r.ops_per_s, r.miscompares_per_s, r.mean_us, r.p99_us);
            } else if (r.status == Status::not_supported) {
                std::printf("%-15s %8d %12s   (COMPARE AND WRITE: invalid operation code)\n",
                            c.name, sessions, "not supported");
            } else {
                std::printf("%-15s %8d %12s   %s\n", c.name, sessions, "ERROR", r.error.c_str());
                exit_status = 1;
            }
            std::fflush(stdout);
            if (csv != nullptr) {
                std::fprintf(csv, "%s,%s,%d,%s,%.1f,%.1f,%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%s\n",
                             csv_field(o.label).c_str(), c.name, sessions, status_name(r.status),
                             r.ops_per_s, r.miscompares_per_s, r.mean_us, r.p99_us, r.ops,
                             r.miscompares, csv_field(r.error).c_str());
                std::fflush(csv);
            }
        }
    }
    if (csv != nullptr) {
        std::fclose(csv);
    }
    logout(setup);
    return exit_status;
}
