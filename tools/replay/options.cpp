// atsarray-replay's command line (tools/replay/options.hpp), with CLI11.
#include "tools/replay/options.hpp"

#include <charconv>
#include <iostream>
#include <stdexcept>

#include <CLI/CLI.hpp>

namespace atsarray::replay {
namespace {

constexpr const char* description =
    "atsarray-replay: replays a command trace the array recorded (GET\n"
    "/api/v1/captures/{id}/trace) against any iSCSI target, and reports where its outcomes\n"
    "differ from the recording: does this miscompare reproduce on that array?\n"
    "\n"
    "Exit status: 0 nothing diverged; 1 something did; 2 error (bad trace, login failed).";

uint64_t parse_number(std::string_view text, const std::string& pair) {
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        throw std::invalid_argument("--lun-map " + pair + ": expected FROM=TO, two LUN numbers");
    }
    return value;
}

}  // namespace

std::map<uint64_t, uint64_t> parse_lun_map(const std::vector<std::string>& pairs) {
    std::map<uint64_t, uint64_t> map;
    for (const std::string& pair : pairs) {
        const size_t equals = pair.find('=');
        if (equals == std::string::npos) {
            throw std::invalid_argument("--lun-map " + pair + ": expected FROM=TO");
        }
        const std::string_view text(pair);
        map[parse_number(text.substr(0, equals), pair)] =
            parse_number(text.substr(equals + 1), pair);
    }
    return map;
}

std::string portal_with_port(const std::string& portal) {
    const size_t bracket = portal.rfind(']');
    const size_t colon = portal.rfind(':');
    const bool has_port =
        colon != std::string::npos &&
        (bracket == std::string::npos ? portal.find(':') == colon : colon > bracket);
    return has_port ? portal : portal + ":3260";
}

int parse_options(int argc, char** argv, Options& options) {
    CLI::App app{description, "atsarray-replay"};
    std::vector<std::string> lun_map;
    app.add_option("trace", options.trace_path, "the trace, as JSON")->required();
    app.add_option("--portal", options.portal, "HOST[:PORT] of the target to replay against")
        ->required();
    app.add_option("--target", options.target, "target IQN (default: the recorded one)");
    app.add_option("--lun-map", lun_map, "FROM=TO: replay recorded LUN FROM to LUN TO")
        ->allow_extra_args(false);
    auto* speed = app.add_option("--speed", options.speed,
                                 "timed replay at X times the recorded pace (default 1)")
                      ->check(CLI::PositiveNumber);
    app.add_flag("--ordered", options.ordered,
                 "one command at a time in the recorded medium order (deterministic)")
        ->excludes(speed);
    app.add_flag("--seed", options.seed,
                 "first write each block the trace reveals with the image it had then");
    app.add_flag("--json", options.json, "print the report as one JSON object");
    try {
        app.parse(argc, argv);
        options.lun_map = parse_lun_map(lun_map);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : exit_error;
    } catch (const std::invalid_argument& e) {
        std::cerr << "atsarray-replay: " << e.what() << "\n";
        return exit_error;
    }
    options.portal = portal_with_port(options.portal);
    return -1;
}

}  // namespace atsarray::replay
