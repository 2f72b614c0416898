// store_bench: write throughput of the block stores through the whole target, side by side:
// 4 KiB random writes with 32 commands in flight and 128 KiB sequential writes, on every LUN
// given (bench/run_store_bench.sh starts one daemon with RocksDB and file LUNs, write cache on and
// off). Each session is its own iSCSI login driven by asynchronous libiscsi calls, so one session
// keeps several commands in flight. bench/README.md says what each case means.
#include <CLI/CLI.hpp>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tools/libiscsi_handles.hpp"

namespace {

using atsarray::initiator::Context;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string portal = "127.0.0.1:3271";
    std::string target = "iqn.2026-11.org.atsarray:store-bench";
    std::vector<std::string> luns = {"0:lun0"};  // ID:LABEL
    double seconds = 5;
    int random_sessions = 4;  // 4 KiB random: sessions x depth commands in flight
    int random_depth = 8;
    int sequential_depth = 8;            // 128 KiB sequential: one session, this many in flight
    uint64_t region_bytes = 1ull << 30;  // each case writes within the first region_bytes
    uint32_t block_size = 512;
    int timeout = 30;
};

struct Case {
    const char* name;
    uint32_t io_bytes;
    bool sequential;
};
constexpr Case kCases[] = {{"randwrite-4k", 4096, false}, {"seqwrite-128k", 128 * 1024, true}};

struct Result {
    uint64_t ops = 0;
    uint64_t errors = 0;
    std::string first_error;
    std::vector<uint64_t> latency_ns;
    double seconds = 0;
};

// One session with `depth` WRITE(16)s in flight until the deadline.
class Session {
  public:
    Session(const Options& o, int lun, const Case& c, int index, int sessions,
            const std::vector<uint8_t>& data)
        : o_(o), lun_(lun), case_(c), data_(data), rng_(static_cast<uint64_t>(index) * 7919 + 1) {
        // Sequential sessions each own a slice of the region; random ones share it.
        const uint64_t slice = o.region_bytes / static_cast<uint64_t>(sessions);
        next_offset_ = c.sequential ? slice * static_cast<uint64_t>(index) : 0;
        slice_begin_ = next_offset_;
        slice_end_ = c.sequential ? slice_begin_ + slice : o.region_bytes;
        name_ = "iqn.2026-11.org.atsarray:store-bench-" + std::to_string(lun) + "-" +
                std::to_string(index);
    }

    bool connect(std::string& error) {
        ctx_.reset(iscsi_create_context(name_.c_str()));
        iscsi_set_targetname(ctx_.get(), o_.target.c_str());
        iscsi_set_session_type(ctx_.get(), ISCSI_SESSION_NORMAL);
        iscsi_set_timeout(ctx_.get(), o_.timeout);
        if (iscsi_full_connect_sync(ctx_.get(), o_.portal.c_str(), lun_) != 0) {
            error = iscsi_get_error(ctx_.get());
            return false;
        }
        // The power-on unit attention of the new I_T nexus.
        atsarray::initiator::Task(iscsi_testunitready_sync(ctx_.get(), lun_));
        return true;
    }

    void run(Clock::time_point deadline, int depth, Result& r) {
        result_ = &r;
        slots_.resize(static_cast<size_t>(depth));
        for (auto& s : slots_) {
            s.session = this;
        }
        while (true) {
            const bool open = Clock::now() < deadline && result_->errors == 0;
            if (open) {
                for (auto& s : slots_) {
                    if (!s.busy && !submit(s)) {
                        break;
                    }
                }
            }
            if (in_flight_ == 0 && !open) {
                break;
            }
            pollfd p{iscsi_get_fd(ctx_.get()), static_cast<short>(iscsi_which_events(ctx_.get())),
                     0};
            if (::poll(&p, 1, 100) < 0) {
                continue;
            }
            if (iscsi_service(ctx_.get(), p.revents) < 0) {
                fail(iscsi_get_error(ctx_.get()));
                break;
            }
        }
        iscsi_logout_sync(ctx_.get());
    }

  private:
    struct Slot {
        Session* session = nullptr;
        bool busy = false;
        Clock::time_point started;
    };

    uint64_t next_offset() {
        const uint64_t io = case_.io_bytes;
        if (case_.sequential) {
            if (next_offset_ + io > slice_end_) {
                next_offset_ = slice_begin_;
            }
            const uint64_t at = next_offset_;
            next_offset_ += io;
            return at;
        }
        std::uniform_int_distribution<uint64_t> pick(0, (slice_end_ - io) / io);
        return pick(rng_) * io;
    }

    bool submit(Slot& s) {
        const uint64_t offset = next_offset();
        // Any window of the random buffer: no block is all zeros (RocksDB would store nothing)
        // and lz4 finds nothing to compress.
        const size_t from = static_cast<size_t>(offset % (data_.size() - case_.io_bytes));
        s.busy = true;
        s.started = Clock::now();
        if (iscsi_write16_task(ctx_.get(), lun_, offset / o_.block_size,
                               const_cast<unsigned char*>(data_.data() + from), case_.io_bytes,
                               static_cast<int>(o_.block_size), 0, 0, 0, 0, 0, &Session::on_done,
                               &s) == nullptr) {
            s.busy = false;
            fail(iscsi_get_error(ctx_.get()));
            return false;
        }
        ++in_flight_;
        return true;
    }

    static void on_done(iscsi_context* ctx, int status, void* command_data, void* private_data) {
        auto* s = static_cast<Slot*>(private_data);
        auto* task = static_cast<scsi_task*>(command_data);
        Session& self = *s->session;
        --self.in_flight_;
        s->busy = false;
        if (status == SCSI_STATUS_GOOD) {
            ++self.result_->ops;
            self.result_->latency_ns.push_back(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s->started)
                    .count()));
        } else {
            const char* ascq = task != nullptr && status == SCSI_STATUS_CHECK_CONDITION
                                   ? scsi_sense_ascq_str(task->sense.ascq)
                                   : nullptr;
            self.fail(ascq != nullptr ? std::string("CHECK CONDITION ") + ascq
                                      : std::string(iscsi_get_error(ctx)));
        }
        if (task != nullptr) {
            scsi_free_scsi_task(task);
        }
    }

    void fail(const std::string& why) {
        if (result_->errors++ == 0) {
            result_->first_error = why;
        }
    }

    const Options& o_;
    int lun_;
    Case case_;
    const std::vector<uint8_t>& data_;
    std::mt19937_64 rng_;
    std::string name_;
    Context ctx_;
    std::vector<Slot> slots_;
    int in_flight_ = 0;
    Result* result_ = nullptr;
    uint64_t next_offset_ = 0;
    uint64_t slice_begin_ = 0;
    uint64_t slice_end_ = 0;
};

struct Row {
    std::string label;
    const Case* c;
    int in_flight;
    Result r;
};

Row run_case(const Options& o, int lun, const std::string& label, const Case& c,
             const std::vector<uint8_t>& data) {
    const int sessions = c.sequential ? 1 : o.random_sessions;
    const int depth = c.sequential ? o.sequential_depth : o.random_depth;
    Row row{label, &c, sessions * depth, {}};
    std::vector<std::unique_ptr<Session>> all;
    for (int i = 0; i < sessions; ++i) {
        all.push_back(std::make_unique<Session>(o, lun, c, i, sessions, data));
        std::string error;
        if (!all.back()->connect(error)) {
            row.r.errors = 1;
            row.r.first_error = "login: " + error;
            return row;
        }
    }
    // All sessions logged in before the clock starts.
    std::vector<Result> results(static_cast<size_t>(sessions));
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(o.seconds));
    std::vector<std::thread> threads;
    for (int i = 0; i < sessions; ++i) {
        threads.emplace_back([&, i] {
            all[static_cast<size_t>(i)]->run(deadline, depth, results[static_cast<size_t>(i)]);
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    row.r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& r : results) {
        row.r.ops += r.ops;
        if (r.errors != 0 && row.r.errors == 0) {
            row.r.first_error = r.first_error;
        }
        row.r.errors += r.errors;
        row.r.latency_ns.insert(row.r.latency_ns.end(), r.latency_ns.begin(), r.latency_ns.end());
    }
    return row;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"store_bench: 4 KiB random and 128 KiB sequential write throughput per LUN"};
    app.add_option("--portal", o.portal, "target portal host:port");
    app.add_option("--target", o.target, "target IQN");
    app.add_option("--lun", o.luns, "ID:LABEL, repeatable, e.g. 0:\"rocksdb wce=1\"")
        ->delimiter(',');
    app.add_option("--seconds", o.seconds, "duration of each case")->check(CLI::Range(0.1, 3600.0));
    app.add_option("--random-sessions", o.random_sessions, "sessions of the 4 KiB random case")
        ->check(CLI::Range(1, 64));
    app.add_option("--random-depth", o.random_depth, "commands in flight per random session")
        ->check(CLI::Range(1, 128));
    app.add_option("--sequential-depth", o.sequential_depth,
                   "commands in flight of the 128 KiB sequential case")
        ->check(CLI::Range(1, 128));
    app.add_option("--region", o.region_bytes, "bytes from LBA 0 the cases write within")
        ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 42));
    app.add_option("--block-size", o.block_size, "the LUNs' logical block size")
        ->check(CLI::IsMember({512u, 4096u}));
    app.add_option("--timeout", o.timeout, "seconds before a command counts as hung")
        ->check(CLI::Range(1, 3600));
    CLI11_PARSE(app, argc, argv);

    std::vector<uint8_t> data(4u << 20);
    std::mt19937_64 rng(42);
    for (auto& b : data) {
        b = static_cast<uint8_t>(rng() | 1);
    }

    std::vector<Row> rows;
    bool ok = true;
    for (const Case& c : kCases) {
        for (const std::string& spec : o.luns) {
            const size_t colon = spec.find(':');
            const int lun = std::stoi(spec.substr(0, colon));
            const std::string label = colon == std::string::npos ? spec : spec.substr(colon + 1);
            rows.push_back(run_case(o, lun, label, c, data));
            const Row& row = rows.back();
            if (row.r.errors != 0) {
                ok = false;
                std::fprintf(stderr, "store_bench: %s on %s: %llu errors, first: %s\n", c.name,
                             label.c_str(), static_cast<unsigned long long>(row.r.errors),
                             row.r.first_error.c_str());
            }
        }
    }

    std::printf("%-14s %-16s %9s %10s %9s %9s %9s\n", "case", "lun", "in flight", "ops/s", "MB/s",
                "mean us", "p99 us");
    for (auto& row : rows) {
        auto& lat = row.r.latency_ns;
        std::sort(lat.begin(), lat.end());
        const double ops = row.r.seconds > 0 ? static_cast<double>(row.r.ops) / row.r.seconds : 0;
        double mean = 0;
        for (uint64_t v : lat) {
            mean += static_cast<double>(v);
        }
        mean = lat.empty() ? 0 : mean / static_cast<double>(lat.size()) / 1000;
        const double p99 = lat.empty() ? 0 : static_cast<double>(lat[lat.size() * 99 / 100]) / 1000;
        std::printf("%-14s %-16s %9d %10.0f %9.1f %9.1f %9.1f%s\n", row.c->name, row.label.c_str(),
                    row.in_flight, ops, ops * row.c->io_bytes / 1e6, mean, p99,
                    row.r.errors != 0 ? "  ERRORS" : "");
    }

    // The same figures side by side: IOPS for the 4 KiB case, MB/s for the 128 KiB one.
    std::printf("\n%-20s", "side by side");
    for (const std::string& spec : o.luns) {
        const size_t colon = spec.find(':');
        std::printf(" %16s", (colon == std::string::npos ? spec : spec.substr(colon + 1)).c_str());
    }
    std::printf("\n");
    size_t at = 0;
    for (const Case& c : kCases) {
        std::printf("%-20s", (std::string(c.name) + (c.sequential ? " MB/s" : " IOPS")).c_str());
        for (size_t i = 0; i < o.luns.size(); ++i, ++at) {
            const Row& row = rows[at];
            const double ops =
                row.r.seconds > 0 ? static_cast<double>(row.r.ops) / row.r.seconds : 0;
            std::printf(" %16.0f", c.sequential ? ops * c.io_bytes / 1e6 : ops);
        }
        std::printf("\n");
    }
    return ok ? 0 : 1;
}
