// atsarray-replay: replays a command trace the array recorded (issue 16) against any iSCSI target
// and reports where its outcomes differ from the recording (README: atsarray-replay).
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "formats/trace_json.hpp"
#include "tools/replay/engine.hpp"
#include "tools/replay/options.hpp"
#include "tools/replay/report.hpp"

namespace {

using namespace atsarray::replay;

// The trace at `path`; an error message (from_json's, naming the field) when it cannot be read.
bool load_trace(const std::string& path, atsarray::trace::Trace& trace, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot open " + path;
        return false;
    }
    std::stringstream text;
    text << in.rdbuf();
    try {
        trace = atsarray::trace::from_json(text.str());
    } catch (const std::exception& e) {
        error = "bad trace " + path + ": " + e.what();
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (const int status = parse_options(argc, argv, options); status >= 0) {
        return status;
    }
    atsarray::trace::Trace trace;
    std::string error;
    if (!load_trace(options.trace_path, trace, error)) {
        std::cerr << "atsarray-replay: " << error << "\n";
        return exit_error;
    }
    Engine engine(trace, options);
    if (!engine.prepare()) {
        std::cerr << "atsarray-replay: " << engine.error() << "\n";
        return exit_error;
    }
    engine.run();
    Report report = build_report(trace, engine.outcomes(), engine.labels());
    report.notes = engine.notes();
    std::cout << (options.json ? report_json(report) + "\n" : report_text(report));
    return report.summary.diverged == 0 ? exit_identical : exit_diverged;
}
