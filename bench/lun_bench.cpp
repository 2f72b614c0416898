// The SCSI layer's hot path in process, through Lun::execute (no transport): READ(16) and WRITE(16)
// of 4 KiB on a MemoryStore, run inline (no worker hook), with no fault engine, an engine without
// rules, and an engine whose one rule scopes another LUN (every command looks at the rules, none
// hits): what the fault hooks cost a command that no rule picks (issue 13: "the hot path without
// rules stays as cheap as today"). Run: build/bench/lun_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "backend/memory_store.hpp"
#include "target/fault/fault.hpp"
#include "target/scsi/command.hpp"
#include "target/scsi/lun.hpp"

namespace {

using namespace atsarray;

enum Engine { none = 0, empty = 1, rule_elsewhere = 2 };

std::shared_ptr<scsi::Lun> make_lun(int engine) {
    scsi::LunSettings s;
    s.block_size = 512;
    s.block_count = 1u << 20;  // 512 MiB
    s.serial = "B0";
    s.target_name = "iqn.2026-12.org.atsarray:bench";
    auto store = std::make_shared<backend::MemoryStore>(uint64_t{512} << 20);
    scsi::LunServices services;
    if (engine != none) {
        services.faults = std::make_shared<fault::Engine>();
        services.schedule_after = [](std::chrono::milliseconds, std::function<void()> job) {
            job();
        };
        if (engine == rule_elsewhere) {
            fault::RuleSpec r;
            r.name = "elsewhere";
            r.action = fault::Action::status;
            r.lun = 99;
            std::string error;
            services.faults->add(r, error);
        }
    }
    return std::make_shared<scsi::Lun>(s, store, scsi::Lun::SubmitBlocking{}, services);
}

void run(benchmark::State& state, uint8_t opcode) {
    auto lun = make_lun(static_cast<int>(state.range(0)));
    scsi::Nexus nexus{7, "iqn.bench:init", "iqn.bench:init,i,0x1", "127.0.0.1:1", 1};
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = opcode;
    cdb[13] = 8;  // 8 blocks = 4 KiB
    std::vector<uint8_t> out(4096, 0x5A);
    std::vector<uint8_t> in;
    in.reserve(4096);
    scsi::Command cmd;
    cmd.cdb = cdb;
    cmd.nexus = &nexus;
    cmd.expected_transfer_length = 4096;
    const bool write = opcode == 0x8A;
    cmd.direction = write ? scsi::DataDirection::to_device : scsi::DataDirection::from_device;
    if (write) {
        cmd.data_out = out;
    }
    cmd.data_in = &in;
    uint64_t lba = 0;
    uint64_t failed = 0;
    const scsi::Completion done = [&failed](scsi::Command& c) {
        failed += c.status != scsi::Status::good;
    };
    for (auto _ : state) {
        lba = (lba + 8) & ((1u << 16) - 1);  // a 32 MiB region
        for (int i = 0; i < 8; ++i) {
            cdb[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
        }
        lun->execute(cmd, done);
    }
    if (failed != 0) {
        state.SkipWithError("a command failed");
    }
}

void read_4k(benchmark::State& state) {
    run(state, 0x88);
}
void write_4k(benchmark::State& state) {
    run(state, 0x8A);
}

}  // namespace

BENCHMARK(read_4k)->Arg(none)->Arg(empty)->Arg(rule_elsewhere);
BENCHMARK(write_4k)->Arg(none)->Arg(empty)->Arg(rule_elsewhere);
BENCHMARK_MAIN();
