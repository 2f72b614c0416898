#pragma once
// The bystander: a separate libiscsi session, on another target or LUN than the fuzzed one, that
// must go on reading and writing its block correctly whatever the fuzzed session does.

#include <cstdint>
#include <string>
#include <vector>

#include "tools/libiscsi_handles.hpp"
#include "tools/net_fuzz/options.hpp"

namespace atsarray::net_fuzz {

class Bystander {
  public:
    explicit Bystander(const Options& o) : o_(o) {}

    // WRITE a block, READ it back, COMPARE AND WRITE it to the next value, READ again: each answer
    // GOOD and each block as written. An empty string when all held.
    std::string check(uint64_t round);

  private:
    std::string read_back(const std::vector<uint8_t>& expected, const char* when);
    std::string fail(const char* what);

    const Options& o_;
    atsarray::initiator::Context ctx_;
};

}  // namespace atsarray::net_fuzz
