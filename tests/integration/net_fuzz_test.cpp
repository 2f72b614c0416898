// tools/net-fuzz against the real daemon for a short while: mutated PDUs on one target while a
// bystander session on another target keeps writing, reading and ATS-ing a block it verifies.
// The long runs are scripts/fuzz-campaign's (README: Fuzzing).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/integration/daemon_process.hpp"

namespace atsarray::testing {
namespace {

const char* env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : fallback;
}

TEST(NetFuzz, ShortRunLeavesTheDaemonAndABystanderWorking) {
    DaemonProcess d(
        "[[target]]\nname = \"iqn.2026-11.org.atsarray:fuzzed\"\n"
        "[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n"
        "[[target.lun]]\nid = 1\nbackend = \"memory\"\nsize = \"16MiB\"\n"
        "[[target]]\nname = \"iqn.2026-11.org.atsarray:bystander\"\n"
        "[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n");
    // A fixed seed keeps the test deterministic; ATSARRAY_NET_FUZZ_SEED tries another.
    const std::string cmd = std::string(NET_FUZZ_BINARY) + " --portal " + d.portal() +
                            " --target iqn.2026-11.org.atsarray:fuzzed" +
                            " --bystander-target iqn.2026-11.org.atsarray:bystander" +
                            " --bystander-lun 0 --pid " + std::to_string(d.pid()) + " --seed " +
                            env_or("ATSARRAY_NET_FUZZ_SEED", "12") + " --duration " +
                            env_or("ATSARRAY_NET_FUZZ_SECONDS", "15");
    std::string out;
    const int rc = run_command(cmd, out);
    EXPECT_EQ(rc, 0) << cmd << "\n"
                     << out << "\ndaemon log (tail):\n"
                     << d.log().substr(d.log().size() > 8000 ? d.log().size() - 8000 : 0);
    EXPECT_TRUE(d.alive());
    EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace atsarray::testing
