// atsarray-chaos: cuts sessions mid-command, cycle after cycle, while writers and ATS run, then
// proves no acknowledged write or ATS was lost and nothing leaked (tools/chaos/workload.hpp).
//
//   atsarray-chaos --portal 127.0.0.1:3260 --target IQN [--lun 0] [--cycles 200]
//                  [--writers 4] [--ats 2] [--seed N] [--first-lba 0] [--first-cmdsn 0xfffffffc]
//                  [--console-port 8080] [--pid PID] [--max-rss-growth-mib 64] [--shared]
//
// Exit status: 0 PASS, 1 a violation (printed), 2 bad arguments.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "tools/chaos/workload.hpp"

namespace {

int usage(const std::string& why) {
    std::cerr << "atsarray-chaos: " << why << "\n"
              << "usage: atsarray-chaos --portal HOST:PORT --target IQN [--lun N] [--cycles N]\n"
                 "         [--writers N] [--ats N] [--seed N] [--first-lba N] [--first-cmdsn N]\n"
                 "         [--console-port PORT] [--pid PID] [--max-rss-growth-mib N] [--shared]\n"
                 "--shared: other initiators use the daemon too (no idle gauges asserted)\n";
    return 2;
}

bool number(std::string_view text, uint64_t max, uint64_t& out) {
    char* end = nullptr;
    const std::string s(text);
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
    if (s.empty() || *end != '\0' || errno != 0 || v > max) {
        return false;
    }
    out = v;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    atsarray::chaos::ChaosOptions o;
    bool have_portal = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--shared") {
            o.expect_idle = false;
            continue;
        }
        if (i + 1 >= argc) {
            return usage("missing value after " + std::string(arg));
        }
        const std::string_view value = argv[++i];
        uint64_t n = 0;
        auto numeric = [&](uint64_t max) {
            if (!number(value, max, n)) {
                std::exit(usage(std::string(arg) + ": not a number up to " + std::to_string(max) +
                                ": " + std::string(value)));
            }
            return n;
        };
        if (arg == "--portal") {
            const size_t colon = value.rfind(':');
            if (colon == std::string_view::npos || !number(value.substr(colon + 1), 65535, n)) {
                return usage("--portal wants HOST:PORT, not " + std::string(value));
            }
            o.portal.host = std::string(value.substr(0, colon));
            o.portal.port = static_cast<uint16_t>(n);
            have_portal = true;
        } else if (arg == "--target") {
            o.target = std::string(value);
        } else if (arg == "--lun") {
            o.lun = static_cast<uint16_t>(numeric(255));
        } else if (arg == "--cycles") {
            o.cycles = static_cast<uint32_t>(numeric(10'000'000));
        } else if (arg == "--writers") {
            o.writers = static_cast<uint32_t>(numeric(64));
        } else if (arg == "--ats") {
            o.ats_workers = static_cast<uint32_t>(numeric(64));
        } else if (arg == "--seed") {
            o.seed = numeric(UINT64_MAX);
        } else if (arg == "--first-lba") {
            o.first_lba = numeric(UINT64_MAX / 2);
        } else if (arg == "--first-cmdsn") {
            o.first_cmd_sn = static_cast<uint32_t>(numeric(UINT32_MAX));
        } else if (arg == "--console-port") {
            o.console_port = static_cast<uint16_t>(numeric(65535));
        } else if (arg == "--pid") {
            o.pid = static_cast<pid_t>(numeric(4'194'304));
        } else if (arg == "--max-rss-growth-mib") {
            o.max_rss_growth = numeric(1 << 20) << 20;
        } else {
            return usage("unknown option " + std::string(arg));
        }
    }
    if (!have_portal || o.target.empty()) {
        return usage("--portal and --target are required");
    }
    if (o.writers + o.ats_workers == 0 || o.cycles == 0) {
        return usage("nothing to do: --cycles, --writers + --ats must be at least 1");
    }
    std::cout << "chaos: " << o.cycles << " cycles, " << o.writers << " writers, " << o.ats_workers
              << " ATS workers, seed " << o.seed << ", first CmdSN " << o.first_cmd_sn << std::endl;
    const atsarray::chaos::ChaosReport report = atsarray::chaos::run_chaos(o);
    std::cout << atsarray::chaos::describe(report) << std::flush;
    return report.violations.empty() ? 0 : 1;
}
