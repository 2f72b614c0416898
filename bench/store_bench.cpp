// store_bench: write throughput of the block stores through the whole target, side by side:
// 4 KiB random writes with 32 commands in flight and 128 KiB sequential writes, on every LUN
// given (bench/run_store_bench.sh starts one daemon with RocksDB and file LUNs, write cache on and
// off). Each session is its own iSCSI login driven by asynchronous libiscsi calls, so one session
// keeps several commands in flight. bench/README.md says what each case means.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/load_session.hpp"

namespace {

using atsarray::bench::BlockIo;
using atsarray::bench::LoadResult;
using atsarray::bench::LoadSession;
using atsarray::bench::Workload;

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
constexpr Case all_cases[] = {{"randwrite-4k", 4096, false}, {"seqwrite-128k", 128 * 1024, true}};

struct Row {
    std::string label;
    const Case* c;
    int in_flight;
    LoadResult r;
};

Row run_case(const Options& o, int lun, const std::string& label, const Case& c,
             const std::vector<uint8_t>& data) {
    const int sessions = c.sequential ? 1 : o.random_sessions;
    const int depth = c.sequential ? o.sequential_depth : o.random_depth;
    Row row{label, &c, sessions * depth, {}};
    std::vector<std::unique_ptr<LoadSession>> all;
    std::vector<std::unique_ptr<BlockIo>> workloads;
    for (int i = 0; i < sessions; ++i) {
        all.push_back(std::make_unique<LoadSession>(
            o.portal, o.target,
            "iqn.2026-11.org.atsarray:store-bench-" + std::to_string(lun) + "-" + std::to_string(i),
            lun, o.timeout));
        std::string error;
        if (!all.back()->connect(error)) {
            row.r.errors = 1;
            row.r.first_error = "login: " + error;
            return row;
        }
        // Sequential sessions each own a slice of the region; random ones share it.
        const uint64_t slice = o.region_bytes / static_cast<uint64_t>(sessions);
        BlockIo::Spec spec;
        spec.write = true;
        spec.sequential = c.sequential;
        spec.io_bytes = c.io_bytes;
        spec.block_size = o.block_size;
        spec.begin = c.sequential ? slice * static_cast<uint64_t>(i) : 0;
        spec.end = c.sequential ? spec.begin + slice : o.region_bytes;
        spec.seed = static_cast<uint64_t>(i) * 7919 + 1;
        workloads.push_back(std::make_unique<BlockIo>(spec, data, depth));
    }
    std::vector<LoadSession*> session_ptrs;
    std::vector<Workload*> workload_ptrs;
    for (size_t i = 0; i < all.size(); ++i) {
        session_ptrs.push_back(all[i].get());
        workload_ptrs.push_back(workloads[i].get());
    }
    row.r = atsarray::bench::run_sessions(session_ptrs, workload_ptrs, o.seconds, depth);
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

    const std::vector<uint8_t> data = atsarray::bench::random_data(4u << 20);

    std::vector<Row> rows;
    bool ok = true;
    for (const Case& c : all_cases) {
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
        const double ops = row.r.seconds > 0 ? static_cast<double>(row.r.ops) / row.r.seconds : 0;
        const double mean = row.r.mean_us();
        const double p99 = row.r.percentile_us(99);
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
    for (const Case& c : all_cases) {
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
