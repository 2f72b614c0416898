#pragma once
// What the console shows, read from the running daemon and turned into the JSON of
// webui/openapi.json: targets and LUNs, portals, sessions, ATS statistics, latency, events.
// Everything here only reads (snapshots, the session table's copy), from the console's thread;
// the Paths view's tracker (paths.hpp) is the one thing it keeps between two requests.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "target/ats/accounting.hpp"
#include "target/ats/event_log.hpp"
#include "target/ats/lock_table.hpp"
#include "target/fault/fault.hpp"
#include "webui/server/config_control.hpp"
#include "webui/server/paths.hpp"
#include "webui/server/rbd_view.hpp"

namespace atsarray::iscsi {
struct ServerState;
}
namespace atsarray::forensics {
class FlightRecorder;
class Captures;
}  // namespace atsarray::forensics

namespace atsarray::webui {

struct ConsoleModel {
    const iscsi::ServerState& state;
    const ats::Registry& accounting;
    ats::EventLog& events;
    fault::Engine* faults = nullptr;        // nullptr: fault injection is off in the config
    const ats::LockTable* locks = nullptr;  // the LBA lock table every LUN shares
    std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
    // How long a session that ended stays in the per-initiator tables, the chart legends and the
    // Paths view ([console] keep_ended_sessions_s), so a few reconnects do not bury live hosts.
    std::chrono::seconds keep_ended_sessions{60};
    // What the Paths view saw a moment ago (the console's one thread reads and updates it).
    mutable PathTracker paths;
    // The `rbd` object of an rbd LUN (its cluster and gateways, issue 15); empty: none.
    RbdViewSource rbd;
    // The live configuration (targets, LUNs, ACLs, CHAP, portals changed through the API, and
    // `config save`); nullptr: those requests answer 501.
    ConfigControl* config = nullptr;
    // The ATS flight recorder (issue 16); nullptr: off ([ats] recorder = false).
    const forensics::FlightRecorder* recorder = nullptr;
    // Captures of whole commands for trace exports (issue 16); nullptr: none.
    forensics::Captures* captures = nullptr;
};

namespace api {

using nlohmann::json;

std::string rfc3339(std::chrono::system_clock::time_point t);
// The text of a JSON answer. Strings that come from the network (an initiator name, a request's
// path) need not be UTF-8, and json::dump() throws on those: on the console's thread that ends
// the daemon. Invalid bytes become U+FFFD instead.
std::string dump(const json& j);
// Lower-case hex, two digits a byte (block images).
std::string hex(const std::vector<uint8_t>& bytes);
// {"count", "mean_us", "p50_us", "p99_us", "p999_us", "max_us"}
json latency_summary(const ats::Histogram& h);

json overview(const ConsoleModel& m, const ats::Snapshot& snap);
json targets(const ConsoleModel& m);
// nullopt: no such target or LUN.
std::optional<json> lun(const ConsoleModel& m, std::string_view target, uint64_t id);
json portals(const ConsoleModel& m);
json sessions(const ConsoleModel& m);
// Logged-in I_T nexuses (sessions to a target; discovery sessions are not counted).
size_t session_count(const ConsoleModel& m);
json ats(const ats::Snapshot& snap);
json latency(const ats::Snapshot& snap);
json event(const ats::Event& e);
json events(const ConsoleModel& m, uint64_t since, size_t limit);
json fault_rule(const fault::RuleState& r);
// A rule spec from JSON; nullopt and an error sentence naming the field when it is not one.
std::optional<fault::RuleSpec> fault_spec(const json& j, std::string& error);

}  // namespace api
}  // namespace atsarray::webui
