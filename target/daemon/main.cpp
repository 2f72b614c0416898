// atsarray: a user-space iSCSI target for reproducing and observing VMware ATS miscompares.
#include <spdlog/spdlog.h>

#include <malloc.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "target/daemon/config.hpp"
#include "target/daemon/daemon.hpp"
#include "target/scsi/command_table.hpp"

namespace {

// The README's table of supported commands, printed from the command table itself so that the two
// cannot disagree (tests/docs/check_readme_commands.sh compares them).
void print_command_table() {
    std::printf("| opcode | service action | command | CDB bytes |\n|---|---|---|---|\n");
    for (const auto& d : atsarray::scsi::all_commands()) {
        std::string sa = "-";
        if (d.service_action) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "0x%02X", *d.service_action);
            sa = buf;
        }
        std::printf("| 0x%02X | %s | %.*s | %u |\n", d.opcode, sa.c_str(),
                    static_cast<int>(d.name.size()), d.name.data(), d.cdb_length);
    }
}

namespace daemon = atsarray::daemon;

spdlog::level::level_enum spdlog_level(daemon::LogLevel level) {
    using daemon::LogLevel;
    switch (level) {
        case LogLevel::trace: {
            return spdlog::level::trace;
        }
        case LogLevel::debug: {
            return spdlog::level::debug;
        }
        case LogLevel::info: {
            return spdlog::level::info;
        }
        case LogLevel::warn: {
            return spdlog::level::warn;
        }
        case LogLevel::error: {
            return spdlog::level::err;
        }
    }
    return spdlog::level::info;
}

}  // namespace

int main(int argc, char** argv) {
    // Buffers of 1 MiB and more (large READs and WRITEs) come from mmap and go back to the system
    // when freed. glibc's default raises this threshold after the first such free, and then a
    // burst of 8 MiB commands leaves the heap at its peak for good.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    CLI::App app{"atsarray - iSCSI target for ATS (COMPARE AND WRITE) labs"};
    std::string config_path;
    std::string log_level;
    auto* config_option = app.add_option("-c,--config", config_path, "TOML configuration file");
    std::string levels;
    for (const auto& choice : daemon::log_levels) {
        levels += (levels.empty() ? "" : "|") + std::string(choice.name);
    }
    app.add_option("--log-level", log_level, levels + " (overrides the config)");
    app.set_version_flag("--version", std::string("atsarray 0.1.0"));
    bool list_commands = false;
    app.add_flag("--list-commands", list_commands,
                 "print the supported SCSI commands as a Markdown table and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (list_commands) {
        print_command_table();
        return 0;
    }
    if (config_option->count() == 0) {
        std::fprintf(stderr, "atsarray: --config FILE is required\n%s", app.help().c_str());
        return 2;
    }
    try {
        daemon::DaemonConfig config = daemon::load_config(config_path);
        if (!log_level.empty()) {
            const auto level = daemon::log_level_from(log_level);
            if (!level) {
                throw daemon::ConfigError("--log-level: must be one of " +
                                          daemon::comma_list(daemon::names_of(daemon::log_levels)) +
                                          ", got " + daemon::in_quotes(log_level));
            }
            config.log_level = *level;
        }
        // Before the first file is created: RocksDB creates its own files, so the umask is what
        // keeps them (and every image, identity and reservation file) from other users.
        ::umask(static_cast<mode_t>(config.umask));
        spdlog::set_level(spdlog_level(config.log_level));
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
        daemon::Daemon array(config);
        return array.run();
    } catch (const daemon::ConfigError& e) {
        std::fprintf(stderr, "atsarray: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "atsarray: cannot start: %s\n", e.what());
        return 2;
    }
}
