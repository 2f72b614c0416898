#pragma once
// The ats-counter workload (tools/ats-counter, the ATS integration tests, bench/): N iSCSI
// sessions, each with its own initiator name, increment one counter block by read, +1, COMPARE
// AND WRITE, retrying on miscompare, while other sessions write the neighbouring blocks. At the
// end the counter must equal the number of successful COMPARE AND WRITEs, the neighbours must
// hold what their writers wrote last, and every miscompare must have carried exact sense
// (MISCOMPARE, 1D/00, INFORMATION = first differing byte).

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace atsarray::initiator {

struct CounterOptions {
    std::string portal = "127.0.0.1:3260";
    std::string target = "iqn.2026-11.org.atsarray:lab";
    int lun = 0;
    uint64_t lba = 1024;
    int sessions = 4;
    int writers = 2;
    int increments = 100;  // successful increments per session
    std::string initiator_prefix = "iqn.2026-11.org.atsarray:ats-counter";
};

// What one incrementing session saw.
struct CounterSession {
    std::string initiator_name;
    uint64_t successes = 0;
    uint64_t miscompares = 0;
    uint64_t bad_sense = 0;
    uint64_t errors = 0;
    std::string error;
};

struct CounterReport {
    int exit_status = 2;  // 0 all held, 1 a check failed, 2 usage or connection error
    std::vector<CounterSession> sessions;
    uint64_t successes = 0;
    uint64_t miscompares = 0;
    uint64_t counter = 0;  // the counter block's final value
};

// Runs the workload; prints a line per session and the verdict to `out` (nullptr: silent).
CounterReport run_ats_counter(const CounterOptions& o, std::FILE* out = stdout);

}  // namespace atsarray::initiator
