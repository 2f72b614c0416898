// The daemon's log level as the config's log_level and --log-level set it, seen in what the real
// binary prints: a level above info leaves out the start and stop lines, which are info.
// (main.cpp once compiled spdlog's headers without the compiled library's definitions, and its
// set_level reached a logger nobody logged through: every level printed info.)

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/daemon_process.hpp"

namespace atsarray::testing {
namespace {

// Starts the daemon with `log_level` in its config and `extra` arguments, waits until it
// listens, stops it with SIGTERM and returns everything it printed.
std::string run_daemon(const std::string& log_level, const std::vector<std::string>& extra = {}) {
    TempDir dir;
    const uint16_t port = free_port();
    const auto config = dir.path() / "atsarray.toml";
    std::ofstream(config) << "log_level = \"" << log_level << "\"\n"
                          << "data_dir = \"data\"\n[[portal]]\naddress = \"127.0.0.1\"\nport = "
                          << port << "\n[[target]]\nname = \"iqn.2026-12.org.atsarray:log\"\n"
                          << "[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n";
    const auto log_path = dir.path() / "daemon.log";
    std::vector<std::string> args = {ATSARRAY_BINARY, "--config", config.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execv(ATSARRAY_BINARY, argv.data());
        ::_exit(127);
    }
    bool listening = false;
    for (int i = 0; i < 200 && !listening; ++i) {
        listening = can_connect(port);
        if (!listening) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_TRUE(listening) << text.str();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text.str();
    return text.str();
}

// Whether a line of `log` is at `level`. main.cpp's pattern is "<date> <time> <level> <message>";
// spdlog's default one, "[<date> <time>] [<level>] <message>", counts too, so that a daemon whose
// pattern was not applied is judged by its levels all the same.
bool has_level(const std::string& log, const std::string& level) {
    std::istringstream lines(log);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string date;
        std::string time;
        std::string name;
        if (fields >> date >> time >> name && (name == level || name == "[" + level + "]")) {
            return true;
        }
    }
    return false;
}

// main.cpp's pattern: the first line starts "<yyyy>-<mm>-<dd> ", with no bracket.
bool has_configured_pattern(const std::string& log) {
    return log.size() > 11 && log[0] >= '0' && log[0] <= '9' && log[4] == '-' && log[10] == ' ';
}

TEST(LogLevel, InfoPrintsTheStartAndStopLines) {
    const std::string log = run_daemon("info");
    EXPECT_TRUE(has_level(log, "info")) << log;
    EXPECT_TRUE(has_configured_pattern(log)) << log;
}

TEST(LogLevel, WarnInTheConfigLeavesOutInfoLines) {
    const std::string log = run_daemon("warn");
    EXPECT_FALSE(has_level(log, "info")) << log;
}

TEST(LogLevel, CommandLineOverridesTheConfig) {
    const std::string quiet = run_daemon("info", {"--log-level", "error"});
    EXPECT_FALSE(has_level(quiet, "info")) << quiet;
    const std::string verbose = run_daemon("warn", {"--log-level", "info"});
    EXPECT_TRUE(has_level(verbose, "info")) << verbose;
}

}  // namespace
}  // namespace atsarray::testing
