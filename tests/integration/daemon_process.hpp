#pragma once
// Starts the real atsarray binary on a loopback port with a config written for the test, and
// stops it. Shared by the integration tests.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

// The sanitizer build (ASan holds freed memory in its quarantine, so RSS bounds differ there).
#if defined(__SANITIZE_ADDRESS__)
#define ATSARRAY_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATSARRAY_UNDER_ASAN 1
#endif
#endif

namespace atsarray::testing {

// A free TCP port on 127.0.0.1 for a daemon the test starts next: one that binds now, chosen at
// random below the kernel's ephemeral range (ip_local_port_range). A port bound with port 0 and
// released comes from that range, where any process's next outgoing connection (librados, a
// libiscsi session of a test running beside) may take it before the daemon binds it: the daemon
// then fails with "Address already in use".
inline uint16_t free_port() {
    uint32_t ephemeral_low = 32768;
    std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
    const uint32_t low = ephemeral_low > 12000 ? ephemeral_low - 11000 : 1024;
    const uint32_t span = ephemeral_low > low ? ephemeral_low - low : 1;
    static std::mt19937 random(std::random_device{}() ^ static_cast<uint32_t>(::getpid()));
    static std::mutex random_mutex;
    // Ports handed out before: a test that asks twice before binding either (two portals of one
    // config) must not get one port twice (an ASan run drew 25675 for both).
    static std::set<uint32_t> handed_out;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        uint32_t candidate = 0;
        {
            std::lock_guard lock(random_mutex);
            candidate = low + random() % span;
            if (!handed_out.insert(candidate).second) {
                continue;
            }
        }
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(candidate));
        const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (bound) {
            return static_cast<uint16_t>(candidate);
        }
    }
    throw std::runtime_error("no free TCP port on 127.0.0.1 below the ephemeral range");
}

inline bool can_connect(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

class TempDir {
  public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "atsarray-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

class DaemonProcess {
  public:
    // How the constructor starts the daemon: until it listens (throws when it exits or does not
    // listen within 10 s), or only spawned (wait_listening() or wait_exit() tell what became of
    // it: a test of a start that must fail reads its exit status).
    enum class Start { listening, spawn_only };

    // `config_body` is everything but the portal, which the fixture adds on a free port.
    explicit DaemonProcess(const std::string& config_body) : DaemonProcess(0, config_body) {}
    // The same on `port` (0: a free one), which a test picks when configs name each other's
    // portal before either daemon starts (gateways listing the other's group).
    DaemonProcess(uint16_t port, const std::string& config_body, Start how = Start::listening)
        : port_(port != 0 ? port : free_port()) {
        config_path_ = dir_.path() / "atsarray.toml";
        log_path_ = dir_.path() / "daemon.log";
        write_config(config_body);
        if (how == Start::listening) {
            start();
        } else {
            spawn();
        }
    }
    ~DaemonProcess() { stop(); }
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;

    // Replaces the config file (the portal stays; `@PORT@` in the body stands for its port);
    // the daemon reads it on start and on SIGHUP.
    void write_config(std::string config_body) {
        for (size_t at = config_body.find("@PORT@"); at != std::string::npos;
             at = config_body.find("@PORT@", at)) {
            config_body.replace(at, 6, std::to_string(port_));
        }
        std::ofstream(config_path_)
            << "[[portal]]\naddress = \"127.0.0.1\"\nport = " << port_ << "\n\n"
            << config_body;
    }

    void signal(int sig) const {
        if (pid_ > 0) {
            ::kill(pid_, sig);
        }
    }

    // Spawns the daemon and waits until it listens; throws (with its log) when it exits first
    // or does not listen within 10 s.
    void start() {
        spawn();
        if (wait_listening(std::chrono::milliseconds(10000))) {
            return;
        }
        if (pid_ <= 0) {
            throw std::runtime_error("daemon exited at start:\n" + log());
        }
        throw std::runtime_error("daemon did not listen:\n" + log());
    }

    // Forks and execs the daemon (log to daemon.log, --log-level debug), without waiting.
    void spawn() {
        exit_status_ = -1;
        pid_ = ::fork();
        if (pid_ == 0) {
            const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execl(ATSARRAY_BINARY, ATSARRAY_BINARY, "--config", config_path_.c_str(),
                    "--log-level", "debug", static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }

    // Until it listens (true) or exits (false; exit_status() tells how) or `limit` passes.
    bool wait_listening(std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (reaped()) {
                return false;
            }
            if (can_connect(port_)) {
                return true;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    // Until it exits: its exit status (128 + signal when killed), or -1 when it still runs
    // after `limit`.
    int wait_exit(std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!reaped()) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return exit_status_;
    }

    // SIGKILL and reap at once (a gateway dying mid-run).
    void kill_now() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
            exit_status_ = 128 + SIGKILL;
        }
    }

    // `signal` (SIGTERM) and wait, SIGKILL after 15 s; returns the exit status, or -1 when it
    // had to be killed or was not running.
    int stop(int signal = SIGTERM) {
        if (pid_ <= 0) {
            return -1;
        }
        ::kill(pid_, signal);
        const int status = wait_exit(std::chrono::milliseconds(15000));
        if (status < 0) {
            kill_now();
        }
        return status;
    }

    // The exit status of a daemon that exited (-1 while it runs or before it ran).
    int exit_status() const { return exit_status_; }
    bool alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }
    pid_t pid() const { return pid_; }
    uint16_t port() const { return port_; }
    std::string portal() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string url(const std::string& target, int lun) const {
        return "iscsi://" + portal() + "/" + target + "/" + std::to_string(lun);
    }
    const std::filesystem::path& dir() const { return dir_.path(); }
    std::string log() const {
        std::ifstream in(log_path_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

  private:
    // True when the daemon is not running (it exited and was reaped now or before).
    bool reaped() {
        if (pid_ <= 0) {
            return true;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) {
            return false;
        }
        pid_ = -1;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
    }

    TempDir dir_;
    uint16_t port_;
    std::filesystem::path config_path_;
    std::filesystem::path log_path_;
    pid_t pid_ = -1;
    int exit_status_ = -1;
};

// Runs a shell command: its exit status, its standard output in `output` (standard error goes
// where the test's does).
inline int run_command_stdout(const std::string& cmd, std::string& output) {
    output.clear();
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
        return -1;
    }
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        output.append(buf, n);
    }
    const int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs a shell command, returns its exit status and output (standard output and error).
inline int run_command(const std::string& cmd, std::string& output) {
    return run_command_stdout(cmd + " 2>&1", output);
}

// Removes a gateway test's rbd image (pool "rbd") and its records object ("atsarray.<image id>",
// backend/rados_records.hpp) with the rbd and rados tools of the cluster of `conf`. An image a
// SIGKILLed gateway had open keeps that watcher until the OSD drops it: rbd rm refuses it then,
// and it stays in the cluster (small and thin).
inline void remove_gateway_image(const std::string& conf, const std::string& image) {
    std::string output;
    run_command("timeout 30 rbd -c " + conf + " info rbd/" + image, output);
    const size_t at = output.find("\tid: ");
    const std::string id =
        at == std::string::npos ? "" : output.substr(at + 5, output.find('\n', at) - at - 5);
    run_command("timeout 60 rbd -c " + conf + " rm rbd/" + image, output);
    if (!id.empty()) {
        run_command("timeout 30 rados -c " + conf + " -p rbd rm atsarray." + id, output);
    }
}

}  // namespace atsarray::testing
