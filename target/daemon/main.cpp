// atsarray: a user-space iSCSI target for reproducing and observing VMware ATS miscompares.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "target/daemon/config.hpp"
#include "target/daemon/daemon.hpp"

int main(int argc, char** argv) {
    CLI::App app{"atsarray - iSCSI target for ATS (COMPARE AND WRITE) labs"};
    std::string config_path;
    std::string log_level;
    app.add_option("-c,--config", config_path, "TOML configuration file")->required();
    app.add_option("--log-level", log_level, "trace|debug|info|warn|error (overrides the config)");
    app.set_version_flag("--version", std::string("atsarray 0.1.0"));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        atsarray::daemon::DaemonConfig config = atsarray::daemon::load_config(config_path);
        if (!log_level.empty()) {
            config.log_level = log_level;
        }
        spdlog::set_level(spdlog::level::from_str(config.log_level));
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
        atsarray::daemon::Daemon daemon(config);
        return daemon.run();
    } catch (const atsarray::daemon::ConfigError& e) {
        std::fprintf(stderr, "atsarray: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "atsarray: cannot start: %s\n", e.what());
        return 2;
    }
}
