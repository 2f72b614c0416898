#pragma once
// net-fuzz's command line, read by every part of the fuzzer.

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace atsarray::net_fuzz {

struct Options {
    std::string portal = "127.0.0.1:3260";
    std::string target;
    int lun = 0;
    std::string bystander_target;  // default: the fuzzed target
    int bystander_lun = 1;
    uint64_t bystander_lba = 0;
    std::string initiator = "iqn.2026-11.org.atsarray:net-fuzz";
    uint64_t seed = 1;
    uint64_t iterations = 0;  // 0: until --duration ends
    double duration = 0;      // seconds; 0: until --iterations ends
    uint64_t batch = 200;
    uint32_t block_size = 512;
    pid_t pid = 0;  // the daemon's process id, checked when given
    bool verbose = false;
};

}  // namespace atsarray::net_fuzz
