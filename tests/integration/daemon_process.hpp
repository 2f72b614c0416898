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

// A free TCP port on 127.0.0.1 (bound once with port 0, then released).
inline uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
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
    // `config_body` is everything but the portal, which the fixture adds on a free port.
    explicit DaemonProcess(const std::string& config_body) : port_(free_port()) {
        config_path_ = dir_.path() / "atsarray.toml";
        write_config(config_body);
        start();
    }
    ~DaemonProcess() { stop(); }

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

    void start() {
        log_path_ = dir_.path() / "daemon.log";
        pid_ = ::fork();
        if (pid_ == 0) {
            const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execl(ATSARRAY_BINARY, ATSARRAY_BINARY, "--config", config_path_.c_str(),
                    "--log-level", "debug", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        for (int i = 0; i < 200; ++i) {
            if (can_connect(port_)) {
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("daemon exited at start:\n" + log());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        throw std::runtime_error("daemon did not listen:\n" + log());
    }

    // SIGTERM and wait; returns the exit status (or -1).
    int stop(int signal = SIGTERM) {
        if (pid_ <= 0) {
            return -1;
        }
        ::kill(pid_, signal);
        int status = 0;
        for (int i = 0; i < 300; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
    }

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
    TempDir dir_;
    uint16_t port_;
    std::filesystem::path config_path_;
    std::filesystem::path log_path_;
    pid_t pid_ = -1;
};

// Runs a shell command, returns its exit status and output.
inline int run_command(const std::string& cmd, std::string& output) {
    output.clear();
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
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

}  // namespace atsarray::testing
