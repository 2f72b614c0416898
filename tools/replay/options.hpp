#pragma once
// atsarray-replay's command line: the trace, where to replay it, and how.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace atsarray::replay {

struct Options {
    std::string trace_path;
    std::string portal;                    // "host:port" (3260 when the command line named no port)
    std::string target;                    // empty: each session's recorded target
    std::map<uint64_t, uint64_t> lun_map;  // recorded LUN -> the LUN replayed to
    double speed = 1.0;
    bool ordered = false;
    bool seed = false;
    bool json = false;

    uint64_t map_lun(uint64_t recorded) const {
        const auto it = lun_map.find(recorded);
        return it == lun_map.end() ? recorded : it->second;
    }
};

// Exit statuses (README: atsarray-replay).
constexpr int exit_identical = 0;
constexpr int exit_diverged = 1;
constexpr int exit_error = 2;

// Parses the command line into `options`; returns -1 to go on, or the status to exit with
// (0 after --help, exit_error on a usage error, with the message printed).
int parse_options(int argc, char** argv, Options& options);

// "FROM=TO" pairs; throws std::invalid_argument naming the one it cannot read.
std::map<uint64_t, uint64_t> parse_lun_map(const std::vector<std::string>& pairs);

// HOST, HOST:PORT, [V6] or [V6]:PORT -> with the port (iSCSI's 3260 when none, RFC 7143 §13.3).
std::string portal_with_port(const std::string& portal);

}  // namespace atsarray::replay
