#include "ctl/terminal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "ctl/client.hpp"

namespace atsarray::ctl {

namespace {

volatile std::sig_atomic_t got_quit = 0;
volatile std::sig_atomic_t got_resize = 0;
int wake_pipe[2] = {-1, -1};

// Async-signal-safe: a flag and one byte into the pipe wait() polls.
void on_signal(int sig) {
    const int saved_errno = errno;
    if (sig == SIGWINCH) {
        got_resize = 1;
    } else {
        got_quit = 1;
    }
    if (wake_pipe[1] >= 0) {
        const char byte = 0;
        [[maybe_unused]] const ssize_t n = ::write(wake_pipe[1], &byte, 1);
    }
    errno = saved_errno;
}

void write_all(const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        done += static_cast<size_t>(n);
    }
}

constexpr const char* enter_screen = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";  // alternate screen
constexpr const char* leave_screen = "\x1b[0m\x1b[?25h\x1b[?1049l";

}  // namespace

Terminal::Terminal() {
    if (::isatty(STDIN_FILENO) == 0 || ::isatty(STDOUT_FILENO) == 0) {
        throw UsageError("top needs a terminal on standard input and output");
    }
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0) {
        throw UsageError("top: cannot read the terminal's settings");
    }
    if (::pipe(wake_pipe) == 0) {
        for (const int fd : wake_pipe) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    struct sigaction action {};
    action.sa_handler = on_signal;
    ::sigemptyset(&action.sa_mask);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) {
        ::sigaction(sig, &action, nullptr);
    }
    // Keys one by one, unechoed; ISIG stays so Ctrl-C is a SIGINT (which quits), OPOST stays so
    // the frame's "\r\n" need no care.
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);
    raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    write_all(enter_screen);
}

Terminal::~Terminal() {
    write_all(leave_screen);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    ::sigemptyset(&action.sa_mask);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) {
        ::sigaction(sig, &action, nullptr);
    }
    for (int& fd : wake_pipe) {
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
    }
}

Terminal::Size Terminal::size() const {
    winsize ws{};
    Size s;
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        s.rows = ws.ws_row;
        s.columns = ws.ws_col;
    }
    return s;
}

void Terminal::wait(std::chrono::milliseconds timeout, std::string& keys) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
    const int n = ::poll(fds, wake_pipe[0] >= 0 ? 2 : 1,
                         static_cast<int>(std::max<int64_t>(0, timeout.count())));
    if (n <= 0) {
        return;
    }
    if ((fds[1].revents & POLLIN) != 0) {
        char drain[64];
        while (::read(wake_pipe[0], drain, sizeof drain) > 0) {
        }
    }
    if ((fds[0].revents & POLLIN) != 0) {
        char buffer[64];
        const ssize_t got = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (got > 0) {
            keys.append(buffer, static_cast<size_t>(got));
        }
    }
    if ((fds[0].revents & (POLLHUP | POLLERR)) != 0) {
        got_quit = 1;  // the terminal went away (ssh closed)
    }
}

bool Terminal::interrupted() const {
    return got_quit != 0;
}

bool Terminal::resized() {
    const bool r = got_resize != 0;
    got_resize = 0;
    return r;
}

void Terminal::write(const std::string& frame) const {
    write_all(frame);
}

}  // namespace atsarray::ctl
