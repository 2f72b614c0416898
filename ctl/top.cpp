// atsarrayctl top: esxtop's disk device view with the VAAI counters, per LUN or per initiator,
// refreshed every second from two polls of GET /api/v1/ats, /latency and /sessions.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>

#include "ctl/commands.hpp"
#include "ctl/terminal.hpp"
#include "ctl/top_model.hpp"

namespace atsarray::ctl {

namespace {

struct ColumnSpec {
    const char* header;
    int width;
};
// After the name; widths fit 80 columns with a 22-character name.
constexpr ColumnSpec value_columns[top_columns] = {
    {"ATS/s", 8}, {"ATSF/s", 7}, {"AAVG/suc", 9}, {"AAVG/f", 8},
    {"MCR%", 6},  {"ACTV", 5},   {"P99", 8},
};
constexpr int min_name_width = 12;
constexpr int header_lines = 5;  // title, totals, keys, message, column header

const char* help_lines[] = {
    "atsarrayctl top: ATS (COMPARE AND WRITE) per LUN or per initiator, as esxtop",
    "",
    "  ATS/s     successful ATS per second over the last interval",
    "  ATSF/s    ATS that miscompared (genuine and injected) per second",
    "  AAVG/suc  mean latency of the interval's successful ATS, ms",
    "  AAVG/f    mean latency of the interval's failed ATS, ms",
    "  MCR%      miscompares / ATS in the interval",
    "  ACTV      commands in flight now (received, not yet answered)",
    "  P99       ATS p99 of the interval, ms (its histogram bucket's bound)",
    "",
    "  l  LUN view          i  initiator view",
    "  s  next sort column  <  >  sort column left / right",
    "  r  reverse the order f  filter: type a substring, Enter; Esc clears",
    "  h  this help (any key closes it)",
    "  q  quit (also Ctrl-C)",
};

std::string fit(const std::string& text, size_t width) {
    if (text.size() <= width) {
        return text + std::string(width - text.size(), ' ');
    }
    return text.substr(0, width);
}

// A long name keeps its end ("..atsarray:lab/0"): where IQNs differ.
std::string fit_left(const std::string& text, size_t width) {
    if (text.size() <= width) {
        return text + std::string(width - text.size(), ' ');
    }
    if (width <= 2) {
        return text.substr(text.size() - width);
    }
    return ".." + text.substr(text.size() - (width - 2));
}

std::string number(double value, int column) {
    if (std::isnan(value)) {
        return "-";
    }
    char text[32];
    switch (column) {
        case 2:
        case 3:
        case 6:
            std::snprintf(text, sizeof text, "%.2f", value / 1000.0);  // us -> ms
            break;
        case 4:
            std::snprintf(text, sizeof text, "%.1f", value * 100.0);
            break;
        case 5:
            std::snprintf(text, sizeof text, "%.0f", value);
            break;
        default:
            std::snprintf(text, sizeof text, "%.1f", value);
            break;
    }
    return text;
}

std::string right(const std::string& text, int width) {
    const auto w = static_cast<size_t>(width);
    return text.size() >= w ? text.substr(0, w) : std::string(w - text.size(), ' ') + text;
}

class Top {
  public:
    Top(Context& c, View view, std::chrono::milliseconds interval)
        : c_(c), view_(view), interval_(interval) {}

    int run() {
        Terminal terminal;
        auto next_poll = std::chrono::steady_clock::now();
        bool dirty = true;
        while (!terminal.interrupted() && !quit_) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= next_poll) {
                poll();
                next_poll = now + interval_;
                dirty = true;
            }
            if (terminal.resized()) {
                dirty = true;
            }
            if (dirty) {
                terminal.write(frame(terminal.size()));
                dirty = false;
            }
            std::string keys;
            terminal.wait(std::chrono::duration_cast<std::chrono::milliseconds>(
                              next_poll - std::chrono::steady_clock::now()),
                          keys);
            for (const char key : keys) {
                on_key(key);
                dirty = true;
            }
        }
        return 0;
    }

  private:
    void poll() {
        try {
            Sample s;
            s.ats = c_.client.get("/api/v1/ats");
            s.latency = c_.client.get("/api/v1/latency");
            s.sessions = c_.client.get("/api/v1/sessions");
            s.targets = c_.client.get("/api/v1/targets");
            s.at = std::chrono::steady_clock::now();
            before_ = std::move(now_);
            now_ = std::move(s);
            message_.clear();
        } catch (const std::exception& e) {
            // The console went away or refused: say so and keep trying every interval.
            message_ = e.what();
        }
    }

    void on_key(char key) {
        if (help_) {
            help_ = false;
            return;
        }
        if (editing_) {
            if (key == '\r' || key == '\n') {
                editing_ = false;
            } else if (key == 27) {
                editing_ = false;
                filter_.clear();
            } else if (key == 127 || key == 8) {
                if (!filter_.empty()) {
                    filter_.pop_back();
                }
            } else if (key >= 32 && key < 127) {
                filter_ += key;
            }
            return;
        }
        switch (key) {
            case 'q':
            case 'Q':
                quit_ = true;
                break;
            case 'l':
            case 'L':
                view_ = View::luns;
                break;
            case 'i':
            case 'I':
                view_ = View::initiators;
                break;
            case 's':
            case '>':
                sort_ = (sort_ + 1) % (top_columns + 1);
                break;
            case '<':
                sort_ = (sort_ + top_columns) % (top_columns + 1);
                break;
            case 'r':
                reverse_ = !reverse_;
                break;
            case 'f':
            case '/':
                editing_ = true;
                filter_.clear();
                break;
            case 'h':
            case '?':
                help_ = true;
                break;
            default:
                break;
        }
    }

    std::string sort_name() const {
        return sort_ == 0 ? std::string(view_ == View::luns ? "LUN" : "INITIATOR")
                          : value_columns[sort_ - 1].header;
    }

    std::vector<TopRow> visible_rows() const {
        std::vector<TopRow> rows;
        if (!now_) {
            return rows;
        }
        for (TopRow& row : top_rows(before_ ? &*before_ : nullptr, *now_, view_)) {
            if (filter_.empty() || row.name.find(filter_) != std::string::npos) {
                rows.push_back(std::move(row));
            }
        }
        // Names ascending, values descending (the busiest first); unknown values last.
        std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
            if (sort_ == 0) {
                return reverse_ ? b.name < a.name : a.name < b.name;
            }
            const double x = top_value(a, sort_ - 1);
            const double y = top_value(b, sort_ - 1);
            if (std::isnan(x) || std::isnan(y)) {
                return !std::isnan(x) && std::isnan(y);
            }
            return reverse_ ? x < y : x > y;
        });
        return rows;
    }

    std::string frame(Terminal::Size size) const {
        const auto width = static_cast<size_t>(std::max(size.columns, 20));
        std::vector<std::string> lines;
        char clock[16];
        const std::time_t t = std::time(nullptr);
        std::tm utc{};
        ::gmtime_r(&t, &utc);
        std::strftime(clock, sizeof clock, "%H:%M:%S", &utc);
        lines.push_back(std::string(clock) + " UTC  atsarrayctl top  " +
                        (view_ == View::luns ? "LUN view" : "initiator view") + "  " +
                        c_.client.url().text);
        if (now_) {
            const AtsTotals totals = ats_totals(*now_);
            lines.push_back("ATS total: " + std::to_string(totals.successes) + " ok, " +
                            std::to_string(totals.miscompares) + " miscompares, " +
                            std::to_string(totals.injected_miscompares) + " injected, " +
                            std::to_string(totals.errors) + " errors; " +
                            std::to_string(now_->sessions.size()) + " sessions");
        } else {
            lines.emplace_back("ATS total: waiting for the console");
        }
        if (editing_) {
            lines.push_back("filter (Enter applies, Esc clears): " + filter_ + "_");
        } else {
            lines.push_back("sort " + sort_name() + (reverse_ ? " (reversed)" : "") +
                            "  filter: " + (filter_.empty() ? "-" : filter_) +
                            "  l/i view s/</> sort f filter h help q quit");
        }
        lines.push_back(message_.empty() ? "" : "! " + message_);

        // The columns that fit, the name taking what is left.
        int shown = top_columns;
        int values_width = 0;
        for (int col = 0; col < shown; ++col) {
            values_width += value_columns[col].width + 1;
        }
        while (shown > 0 && static_cast<int>(width) - values_width < min_name_width) {
            --shown;
            values_width -= value_columns[shown].width + 1;
        }
        const auto name_width =
            static_cast<size_t>(std::max<int>(1, static_cast<int>(width) - values_width));
        std::string header = fit(view_ == View::luns ? "TARGET/LUN" : "INITIATOR", name_width);
        for (int col = 0; col < shown; ++col) {
            header += " " + right(value_columns[col].header, value_columns[col].width);
        }
        lines.push_back("\x1b[7m" + fit(header, width) + "\x1b[0m");  // reverse video

        const size_t room = size.rows > header_lines ? size.rows - header_lines : 0;
        if (help_) {
            for (const char* line : help_lines) {
                lines.emplace_back(line);
            }
        } else {
            const std::vector<TopRow> rows = visible_rows();
            for (size_t r = 0; r < rows.size() && r < room; ++r) {
                const bool last_line = r + 1 == room && rows.size() > room;
                if (last_line) {
                    lines.push_back("(" + std::to_string(rows.size() - r) +
                                    " more: f filters, a taller terminal shows them)");
                    break;
                }
                std::string line = fit_left(rows[r].name, name_width);
                for (int col = 0; col < shown; ++col) {
                    line +=
                        " " + right(number(top_value(rows[r], col), col), value_columns[col].width);
                }
                lines.push_back(line);
            }
        }

        std::string out = "\x1b[H";
        for (size_t l = 0; l < lines.size() && l < static_cast<size_t>(size.rows); ++l) {
            // The column header is already as wide as the screen, with its escapes.
            out += l == header_lines - 1 ? lines[l] : fit(lines[l], width);
            out += "\x1b[K";
            if (l + 1 < static_cast<size_t>(size.rows) && l + 1 < lines.size()) {
                out += "\r\n";
            }
        }
        out += "\x1b[J";
        return out;
    }

    Context& c_;
    View view_;
    std::chrono::milliseconds interval_;
    std::optional<Sample> before_;
    std::optional<Sample> now_;
    std::string message_;
    std::string filter_;
    int sort_ = 1;  // ATS/s
    bool reverse_ = false;
    bool editing_ = false;
    bool help_ = false;
    bool quit_ = false;
};

}  // namespace

void add_top_command(CLI::App& app, Registry& registry) {
    struct Options {
        std::string view = "luns";
        double interval_s = 1.0;
    };
    auto o = std::make_shared<Options>();
    auto* top = app.add_subcommand(
        "top", "full-screen ATS view per LUN or initiator, as esxtop (keys: h in it)");
    top->add_option("--view", o->view, "luns | initiators at the start")
        ->check(CLI::IsMember({"luns", "initiators"}))
        ->capture_default_str();
    top->add_option("--interval", o->interval_s, "seconds between polls")
        ->check(CLI::Range(0.2, 60.0))
        ->capture_default_str();
    registry.on(top, [o](Context& c) {
        Top view(c, o->view == "luns" ? View::luns : View::initiators,
                 std::chrono::milliseconds(static_cast<int64_t>(o->interval_s * 1000)));
        return view.run();
    });
}

}  // namespace atsarray::ctl
