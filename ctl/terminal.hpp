#pragma once
// The terminal for `atsarrayctl top`: termios raw mode and the alternate screen with plain ANSI
// escapes (no curses: it works in any terminal ssh gives), restored on every way out — return,
// exception, SIGINT, SIGTERM, SIGHUP — and SIGWINCH noticed for a redraw.

#include <termios.h>

#include <chrono>
#include <string>

namespace atsarray::ctl {

class Terminal {
  public:
    // Throws UsageError when standard input or output is not a terminal.
    Terminal();
    ~Terminal();
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    struct Size {
        int rows = 24;
        int columns = 80;
    };
    Size size() const;

    // Waits up to `timeout` for keys or a signal; the keys typed (raw bytes) are appended to
    // `keys`.
    void wait(std::chrono::milliseconds timeout, std::string& keys);
    // SIGINT, SIGTERM or SIGHUP came.
    bool interrupted() const;
    // SIGWINCH came since the last call.
    bool resized();

    // Writes a whole frame at once (one write: no flicker over ssh).
    void write(const std::string& frame) const;

  private:
    termios saved_{};
};

}  // namespace atsarray::ctl
