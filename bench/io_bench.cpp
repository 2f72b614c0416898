// io_bench: one workload against one iSCSI LUN with a fixed number of commands in flight per
// session (libiscsi's asynchronous API), reported as one machine-readable line: IOPS, MB/s and
// the latency of every command (p50, p99). Workloads: 4 KiB-style random and sequential READ(16)
// and WRITE(16) of any size, and COMPARE AND WRITE (ATS, SBC-4 §5.3) on one hot block or on
// distinct blocks. With --passes a sequential workload ends after that many passes over its
// region, and with --data-file a sequential write copies a file onto the region (the prefill of
// LUNs that have no file to write beforehand). bench/run_vs_tgt.sh runs it against atsarray's
// stores and tgt side by side; bench/README.md says what each workload means.
#include <CLI/CLI.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/load_session.hpp"

namespace {

using atsarray::bench::BlockIo;
using atsarray::bench::LoadResult;
using atsarray::bench::LoadSession;
using atsarray::bench::Outcome;
using atsarray::bench::Workload;
using atsarray::initiator::load_le64;
using atsarray::initiator::store_le64;

struct Options {
    std::string portal = "127.0.0.1:3260";
    std::string target = "iqn.2026-11.org.atsarray:lab";
    int lun = 0;
    std::string workload = "randread";
    uint32_t io_bytes = 4096;  // ATS: always one logical block
    int depth = 1;
    int sessions = 1;
    double seconds = 5;
    uint64_t offset = 0;             // bytes: where the workload's region starts
    uint64_t region = 256ull << 20;  // bytes
    std::string label = "target";
    std::string initiator_prefix = "iqn.2026-11.org.atsarray:io-bench";
    int daemon_pid = 0;  // the target's process, for its CPU use; 0 = not measured
    int timeout = 30;
    uint64_t passes = 0;    // sequential workloads: stop after this many passes; 0 = --seconds
    std::string data_file;  // seqwrite: write this file's bytes (byte i at --offset + i)
};

// Distinct ATS blocks are 8 blocks apart so that no two slots share a 4 KiB page.
constexpr uint64_t ats_stride = 8;

// COMPARE AND WRITE of one block, each slot on its own block (distinct) or all slots of all
// sessions on one (hot). A slot knows its block's contents after a READ and after each of its own
// successful ATS, and adds one to the 8-byte counter at offset 0: on distinct blocks every command
// after the first READ is an ATS that succeeds. On the hot block another slot's ATS changes the
// block, the slot's next ATS miscompares and it READs the block again before it retries (that READ
// is not counted, as a host re-reads a lock after a miscompare).
class Ats : public Workload {
  public:
    Ats(bool hot, uint64_t base_lba, uint32_t block_size, int depth, int session)
        : block_size_(block_size) {
        slots_.resize(static_cast<size_t>(depth));
        for (size_t i = 0; i < slots_.size(); ++i) {
            const uint64_t n = static_cast<uint64_t>(session) * slots_.size() + i;
            slots_[i].lba = hot ? base_lba : base_lba + n * ats_stride;
            slots_[i].image.resize(2 * static_cast<size_t>(block_size));
        }
    }

    scsi_task* submit(iscsi_context* ctx, int lun, size_t slot, iscsi_command_cb cb,
                      void* private_data) override {
        Slot& s = slots_[slot];
        const auto bs = static_cast<int>(block_size_);
        s.reading = !s.known;
        if (s.reading) {
            s.iov = scsi_iovec{s.image.data(), block_size_};
            return iscsi_read16_iov_task(ctx, lun, s.lba, block_size_, bs, 0, 0, 0, 0, 0, cb,
                                         private_data, &s.iov, 1);
        }
        // Compare image = the contents the slot knows, write image = the same +1.
        uint8_t* write = s.image.data() + block_size_;
        std::memcpy(write, s.image.data(), block_size_);
        store_le64(write, load_le64(s.image.data()) + 1);
        return iscsi_compareandwrite_task(ctx, lun, s.lba, s.image.data(), 2 * block_size_, bs, 0,
                                          0, 0, 0, 0, cb, private_data);
    }

    Outcome complete(size_t slot, iscsi_context* ctx, int status, scsi_task* task,
                     std::string& error) override {
        Slot& s = slots_[slot];
        if (status == SCSI_STATUS_GOOD) {
            if (s.reading) {
                s.known = true;
                return Outcome::uncounted;
            }
            std::memcpy(s.image.data(), s.image.data() + block_size_, block_size_);
            return Outcome::counted;
        }
        // SBC-4 §5.3: MISCOMPARE, nothing written; the slot's image is stale.
        if (!s.reading && status == SCSI_STATUS_CHECK_CONDITION && task != nullptr &&
            task->sense.key == SCSI_SENSE_MISCOMPARE) {
            s.known = false;
            return Outcome::miscompare;
        }
        return Workload::complete(slot, ctx, status, task, error);
    }

  private:
    struct Slot {
        uint64_t lba = 0;
        std::vector<uint8_t> image;  // compare image, then write image
        scsi_iovec iov{};
        bool known = false;
        bool reading = false;
    };
    uint32_t block_size_;
    std::vector<Slot> slots_;
};

// utime + stime of process `pid` (all its threads) in seconds; -1 if unreadable.
double process_cpu_seconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (pid <= 0 || !std::getline(in, line)) {
        return -1;
    }
    // Fields after the parenthesised command name (which may hold spaces): state is field 3,
    // utime field 14, stime field 15 (proc(5)).
    const size_t close = line.rfind(')');
    if (close == std::string::npos) {
        return -1;
    }
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int n = 3; n <= 15 && fields >> field; ++n) {
        if (n >= 14) {
            ticks += std::stod(field);
        }
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    const auto secs = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return secs(u.ru_utime) + secs(u.ru_stime);
}

// Values are ours or libiscsi's error texts; keep the line one line and the quotes balanced.
std::string quoted(std::string s) {
    std::replace(s.begin(), s.end(), '"', '\'');
    std::replace(s.begin(), s.end(), '\n', ' ');
    return "\"" + s + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"io_bench: one workload with a fixed queue depth, one result line"};
    app.add_option("--portal", o.portal, "target portal host:port");
    app.add_option("--target", o.target, "target IQN");
    app.add_option("--lun", o.lun, "LUN");
    app.add_option("--workload", o.workload, "what each slot issues")
        ->check(CLI::IsMember(
            {"randread", "randwrite", "seqread", "seqwrite", "ats-hot", "ats-distinct"}));
    app.add_option("--bs", o.io_bytes, "bytes per READ or WRITE (ATS: one logical block)")
        ->check(CLI::Range(512u, 8u << 20));
    app.add_option("--qd", o.depth, "commands in flight per session")->check(CLI::Range(1, 256));
    app.add_option("--sessions", o.sessions, "sessions (logins), each on its own thread")
        ->check(CLI::Range(1, 64));
    app.add_option("--seconds", o.seconds, "duration")->check(CLI::Range(0.1, 3600.0));
    app.add_option("--offset", o.offset, "byte offset of the workload's region");
    app.add_option("--region", o.region, "bytes of the region (random and sequential I/O)")
        ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 44));
    app.add_option("--label", o.label, "the target's name in the result line");
    app.add_option("--initiator-prefix", o.initiator_prefix, "initiator names: PREFIX-N");
    app.add_option("--daemon-pid", o.daemon_pid, "the target's pid: report its CPU use");
    app.add_option("--timeout", o.timeout, "seconds before a command counts as hung")
        ->check(CLI::Range(1, 3600));
    app.add_option("--passes", o.passes,
                   "seqread/seqwrite: end after this many passes over the region (--seconds "
                   "is then a limit: not finishing in time is an error); 0 = run --seconds");
    app.add_option("--data-file", o.data_file,
                   "seqwrite: write this file's first --region bytes, byte i at --offset + i")
        ->check(CLI::ExistingFile);
    CLI11_PARSE(app, argc, argv);

    const bool sequential = o.workload.rfind("seq", 0) == 0;
    if ((o.passes != 0 || !o.data_file.empty()) && !sequential) {
        std::fprintf(stderr, "io_bench: --passes and --data-file need seqread or seqwrite\n");
        return 2;
    }
    if (!o.data_file.empty() && o.workload != "seqwrite") {
        std::fprintf(stderr, "io_bench: --data-file needs seqwrite\n");
        return 2;
    }
    if (o.passes != 0 && o.region % (static_cast<uint64_t>(o.sessions) * o.io_bytes) != 0) {
        std::fprintf(stderr,
                     "io_bench: with --passes, --region must be a multiple of --bs x "
                     "--sessions (every byte once per pass)\n");
        return 2;
    }

    std::vector<std::unique_ptr<LoadSession>> sessions;
    for (int i = 0; i < o.sessions; ++i) {
        sessions.push_back(std::make_unique<LoadSession>(
            o.portal, o.target, o.initiator_prefix + "-" + std::to_string(i), o.lun, o.timeout));
        std::string error;
        if (!sessions.back()->connect(error)) {
            std::fprintf(stderr, "io_bench: cannot log in to %s at %s: %s\n", o.target.c_str(),
                         o.portal.c_str(), error.c_str());
            return 2;
        }
    }
    atsarray::initiator::Task capacity(
        iscsi_readcapacity16_sync(sessions.front()->context(), o.lun));
    auto* rc16 = capacity
                     ? static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(capacity.get()))
                     : nullptr;
    if (rc16 == nullptr) {
        std::fprintf(stderr, "io_bench: READ CAPACITY(16) failed\n");
        return 2;
    }
    const uint32_t bs = rc16->block_length;
    const uint64_t lun_bytes = (rc16->returned_lba + 1) * bs;
    const bool ats = o.workload.rfind("ats-", 0) == 0;
    const uint32_t io_bytes = ats ? bs : o.io_bytes;
    const uint64_t total_slots = static_cast<uint64_t>(o.sessions) * static_cast<uint64_t>(o.depth);
    const uint64_t needed = ats ? total_slots * ats_stride * bs : o.region;
    if (io_bytes % bs != 0 || o.offset % bs != 0 || o.offset + needed > lun_bytes ||
        (!ats && io_bytes > o.region)) {
        std::fprintf(stderr,
                     "io_bench: --bs and --offset must be multiples of the %u-byte block and "
                     "--offset + %" PRIu64 " bytes within the LUN's %" PRIu64 "\n",
                     bs, needed, lun_bytes);
        return 2;
    }

    std::vector<uint8_t> data;
    if (o.data_file.empty()) {
        data = atsarray::bench::random_data(4u << 20);
    } else {
        std::ifstream in(o.data_file, std::ios::binary);
        data.resize(o.region);
        if (!in.read(reinterpret_cast<char*>(data.data()),
                     static_cast<std::streamsize>(o.region))) {
            std::fprintf(stderr, "io_bench: %s holds fewer than --region (%" PRIu64 ") bytes\n",
                         o.data_file.c_str(), o.region);
            return 2;
        }
    }
    std::vector<std::unique_ptr<Workload>> workloads;
    for (int i = 0; i < o.sessions; ++i) {
        if (ats) {
            workloads.push_back(
                std::make_unique<Ats>(o.workload == "ats-hot", o.offset / bs, bs, o.depth, i));
            continue;
        }
        // Sequential sessions each own a slice of the region; random ones share it.
        const uint64_t slice = o.region / static_cast<uint64_t>(o.sessions);
        BlockIo::Spec spec;
        spec.write = o.workload.find("write") != std::string::npos;
        spec.sequential = sequential;
        spec.io_bytes = io_bytes;
        spec.block_size = bs;
        spec.begin = o.offset + (sequential ? slice * static_cast<uint64_t>(i) : 0);
        spec.end = sequential ? spec.begin + slice : o.offset + o.region;
        spec.seed = static_cast<uint64_t>(i) * 7919 + 1;
        spec.passes = o.passes;
        spec.data_follows_offset = !o.data_file.empty();
        spec.data_origin = o.offset;
        workloads.push_back(std::make_unique<BlockIo>(spec, data, o.depth));
    }
    std::vector<LoadSession*> session_ptrs;
    std::vector<Workload*> workload_ptrs;
    for (size_t i = 0; i < sessions.size(); ++i) {
        session_ptrs.push_back(sessions[i].get());
        workload_ptrs.push_back(workloads[i].get());
    }

    const double target_cpu_before = process_cpu_seconds(o.daemon_pid);
    const double own_cpu_before = own_cpu_seconds();
    LoadResult r = atsarray::bench::run_sessions(session_ptrs, workload_ptrs, o.seconds, o.depth);
    const double target_cpu_after = process_cpu_seconds(o.daemon_pid);
    const double own_cpu = own_cpu_seconds() - own_cpu_before;
    if (o.passes != 0 && r.errors == 0 && !r.not_supported) {
        const uint64_t expected = o.passes * (o.region / io_bytes);
        if (r.ops < expected) {
            r.errors = 1;
            r.first_error = "--seconds ended the run after " + std::to_string(r.ops) + " of " +
                            std::to_string(expected) + " commands (--passes " +
                            std::to_string(o.passes) + ")";
        }
    }

    const char* status = r.errors != 0 ? "error" : r.not_supported ? "not-supported" : "ok";
    const double iops = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0;
    const double target_cpu_pct = target_cpu_before >= 0 && target_cpu_after >= 0
                                      ? 100 * (target_cpu_after - target_cpu_before) / r.seconds
                                      : -1;
    // One line, key=value, the error text last and quoted.
    std::printf(
        "io_bench label=%s workload=%s bs=%u qd=%d sessions=%d status=%s seconds=%.2f ops=%" PRIu64
        " iops=%.0f mb_s=%.1f p50_us=%.1f p99_us=%.1f mean_us=%.1f miscompares_per_s=%.0f "
        "client_cpu_pct=%.0f target_cpu_pct=%.0f error=%s\n",
        o.label.c_str(), o.workload.c_str(), io_bytes, o.depth, o.sessions, status, r.seconds,
        r.ops, iops, iops * io_bytes / 1e6, r.percentile_us(50), r.percentile_us(99), r.mean_us(),
        r.seconds > 0 ? static_cast<double>(r.miscompares) / r.seconds : 0,
        100 * own_cpu / r.seconds, target_cpu_pct, quoted(r.first_error).c_str());
    return r.errors != 0 ? 1 : 0;
}
