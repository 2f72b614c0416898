// libFuzzer harness for the TOML config parser (target/daemon/config.cpp): the input is a config
// file's text. A bad config is a ConfigError naming the key, thrown at start-up (STYLE.md: the
// daemon prints it and exits 2); any other exception, a crash or UB is a finding. Nothing is
// created or opened: parse_config only reads the text and resolves paths against base_dir.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "target/daemon/config.hpp"

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer names the entry point
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const atsarray::daemon::DaemonConfig config =
            atsarray::daemon::parse_config(text, "fuzz.toml", "/nonexistent/atsarray-fuzz");
        // A config that parsed is one the daemon would start with: it names its portals.
        if (config.portals.empty()) {
            std::abort();
        }
    } catch (const atsarray::daemon::ConfigError& e) {
        // A message that says nothing would leave the operator guessing.
        if (e.what()[0] == '\0') {
            std::abort();
        }
    }
    return 0;
}
