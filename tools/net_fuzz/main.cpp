// net-fuzz: a network fuzzer for a running iSCSI target. It logs in over a plain socket, then
// sends valid PDUs (SCSI Command READ/WRITE/COMPARE AND WRITE with immediate data, Data-Out,
// NOP-Out, Text, Task Management, Logout) of which most are mutated: bit flips, opcodes, flags,
// data segment and AHS lengths, CmdSN, Expected Data Transfer Length, LUN, CDB bytes, digests,
// truncation, repetition. It answers R2T and target NOP-Ins so that solicited paths are reached,
// and logs in again whenever the target closes the connection. After each batch it checks that
// the target still accepts connections and that a separate libiscsi session (the bystander, on
// another target or LUN) can WRITE, READ and COMPARE AND WRITE a block whose content it verifies.
// Every iteration's mutations derive from (seed, iteration) alone, so --seed replays a run. Exits
// 1 on a failure, printing the seed and iteration to reproduce it.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>

#include "tools/libiscsi_handles.hpp"
#include "tools/net_fuzz/bystander.hpp"
#include "tools/net_fuzz/connection.hpp"
#include "tools/net_fuzz/mutation.hpp"
#include "tools/net_fuzz/options.hpp"
#include "tools/net_fuzz/seeds.hpp"

namespace atsarray::net_fuzz {
namespace {

using Clock = std::chrono::steady_clock;

bool portal_accepts(const Options& o) {
    Connection probe(o);
    std::mt19937_64 rng(0);
    std::string error;
    // A login, not just a TCP connect: a target that accepts but never answers is not alive.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (probe.login(rng, error)) {
            return true;
        }
        ::usleep(200 * 1000);
    }
    std::fprintf(stderr, "net-fuzz: probe: %s\n", error.c_str());
    return false;
}

void usage() {
    std::fprintf(stderr,
                 "usage: net-fuzz --target IQN [--portal HOST:PORT] [--lun N]\n"
                 "                [--bystander-target IQN] [--bystander-lun N] "
                 "[--bystander-lba N]\n"
                 "                [--seed N] [--duration SECONDS] [--iterations N] [--batch N]\n"
                 "                [--block-size N] [--pid PID] [--verbose]\n"
                 "The fuzzed target must allow a login without CHAP. The bystander's block is\n"
                 "overwritten; give it a target or LUN the fuzzed session cannot reach.\n");
}

bool parse_options(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const auto number = [&](auto& out) {
            const char* v = value();
            if (v == nullptr) {
                return false;
            }
            char* end = nullptr;
            const unsigned long long n = std::strtoull(v, &end, 0);
            out = static_cast<std::remove_reference_t<decltype(out)>>(n);
            return end != v && *end == '\0';
        };
        bool ok = true;
        if (a == "--portal" || a == "--target" || a == "--bystander-target" || a == "--initiator") {
            const char* v = value();
            ok = v != nullptr;
            if (ok) {
                (a == "--portal"             ? o.portal
                 : a == "--target"           ? o.target
                 : a == "--bystander-target" ? o.bystander_target
                                             : o.initiator) = v;
            }
        } else if (a == "--lun") {
            ok = number(o.lun);
        } else if (a == "--bystander-lun") {
            ok = number(o.bystander_lun);
        } else if (a == "--bystander-lba") {
            ok = number(o.bystander_lba);
        } else if (a == "--seed") {
            ok = number(o.seed);
        } else if (a == "--iterations") {
            ok = number(o.iterations);
        } else if (a == "--batch") {
            ok = number(o.batch) && o.batch > 0;
        } else if (a == "--block-size") {
            ok = number(o.block_size) && o.block_size > 0;
        } else if (a == "--pid") {
            ok = number(o.pid);
        } else if (a == "--duration") {
            const char* v = value();
            ok = v != nullptr;
            if (ok) {
                o.duration = std::strtod(v, nullptr);
            }
        } else if (a == "--verbose") {
            o.verbose = true;
        } else {
            ok = false;
        }
        if (!ok) {
            std::fprintf(stderr, "net-fuzz: bad argument %s\n", argv[i]);
            return false;
        }
    }
    if (o.bystander_target.empty()) {
        o.bystander_target = o.target;
    }
    return !o.target.empty() && (o.iterations > 0 || o.duration > 0);
}

// Fuzzes until --iterations or --duration ends, checking the target after each batch; 0 when
// nothing failed, 1 otherwise.
int run(const Options& o) {
    (void)atsarray::initiator::create_context("net-fuzz");  // SIGPIPE ignored from here on
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.duration));
    Connection conn(o);
    Bystander bystander(o);
    uint64_t logins = 0;
    uint64_t closes = 0;
    uint64_t sent = 0;
    uint64_t batch_start = 0;
    const auto failed = [&](uint64_t iteration, const std::string& what) {
        std::fprintf(stderr,
                     "net-fuzz: FAILED in the batch of iterations %llu..%llu: %s\n"
                     "net-fuzz: reproduce with --seed %llu --iterations %llu --batch %llu\n",
                     static_cast<unsigned long long>(batch_start),
                     static_cast<unsigned long long>(iteration), what.c_str(),
                     static_cast<unsigned long long>(o.seed),
                     static_cast<unsigned long long>(iteration + 1),
                     static_cast<unsigned long long>(o.batch));
        return 1;
    };
    if (auto e = bystander.check(0); !e.empty()) {
        std::fprintf(stderr, "net-fuzz: before fuzzing: %s\n", e.c_str());
        return 1;
    }
    uint64_t i = 0;
    for (;; ++i) {
        const bool more =
            (o.iterations == 0 || i < o.iterations) && (o.duration <= 0 || Clock::now() < deadline);
        if (!more || (i > 0 && i % o.batch == 0)) {
            // The target still logs in, the daemon still runs, the bystander's data holds.
            if (o.pid > 0 && ::kill(o.pid, 0) != 0) {
                return failed(i > 0 ? i - 1 : 0,
                              "the daemon (pid " + std::to_string(o.pid) + ") is gone");
            }
            if (!portal_accepts(o)) {
                return failed(i > 0 ? i - 1 : 0, "the target no longer logs in");
            }
            if (auto e = bystander.check(i); !e.empty()) {
                return failed(i > 0 ? i - 1 : 0, e);
            }
            batch_start = i;
        }
        if (!more) {
            break;
        }
        std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ULL + i);
        if (!conn.open()) {
            std::string error;
            if (!conn.login(rng, error)) {
                if (o.pid > 0 && ::kill(o.pid, 0) != 0) {
                    return failed(i, "the daemon is gone: " + error);
                }
                if (!portal_accepts(o)) {
                    return failed(i, error);
                }
                continue;
            }
            ++logins;
        }
        const bool mutated = rng() % 10 != 0;
        for (const wire::Pdu& p : seed_pdus(conn, o, rng)) {
            wire::Bytes bytes = wire::serialize(p, conn.digests());
            bool twice = false;
            std::string what = "valid";
            if (mutated) {
                what = mutate(bytes, twice, rng);
                if (rng() % 4 == 0) {
                    what += ", " + mutate(bytes, twice, rng);
                }
                if (what.find("digest") == std::string::npos && rng() % 8 != 0) {
                    refresh_digests(bytes, conn.digests());
                }
            }
            if (o.verbose) {
                std::fprintf(stderr, "%llu: opcode %02x %zu bytes: %s\n",
                             static_cast<unsigned long long>(i), bytes.empty() ? 0 : bytes[0],
                             bytes.size(), what.c_str());
            }
            if (bytes.empty() || !conn.send(bytes) || (twice && !conn.send(bytes))) {
                break;
            }
            ++sent;
        }
        if (!conn.drain(i % 16 == 0 ? 5 : 0)) {
            ++closes;
        }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::printf(
        "net-fuzz: %llu iterations, %llu PDUs sent, %llu logins, %llu closed by the target, "
        "%.0f s, seed %llu: no failure\n",
        static_cast<unsigned long long>(i), static_cast<unsigned long long>(sent),
        static_cast<unsigned long long>(logins), static_cast<unsigned long long>(closes), seconds,
        static_cast<unsigned long long>(o.seed));
    return 0;
}

}  // namespace
}  // namespace atsarray::net_fuzz

int main(int argc, char** argv) {
    atsarray::net_fuzz::Options o;
    if (!atsarray::net_fuzz::parse_options(argc, argv, o)) {
        atsarray::net_fuzz::usage();
        return 2;
    }
    return atsarray::net_fuzz::run(o);
}
