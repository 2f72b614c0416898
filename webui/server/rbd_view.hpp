#pragma once
// What the console shows of an rbd LUN (issue 15): its image, the Ceph cluster's health as this
// gateway last saw it, the OSDs' latency, and every gateway of the array. Plain values filled by
// the daemon (which owns the store and the gateways' shared view): the console never names a
// store. Rendered as the `rbd` object of a LUN in webui/openapi.json.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "target/scsi/alua.hpp"

namespace atsarray::webui {

struct RbdHealthCheck {
    std::string code;
    std::string severity;
    std::string summary;
};

struct RbdOsd {
    int64_t id = 0;
    bool up = false;
    bool in = false;
    std::optional<double> commit_latency_ms;  // osd perf (needs a manager)
    std::optional<double> apply_latency_ms;
    std::optional<double> write_latency_ms;  // perf dump, mean since the previous refresh
    std::optional<double> read_latency_ms;
    uint64_t writes = 0;
    uint64_t reads = 0;
    std::string error;
};

// This gateway's heartbeat writes (one RADOS write per round) over the last window.
struct RbdBeatLatency {
    uint64_t rounds = 0;
    uint64_t failed_rounds = 0;
    uint64_t samples = 0;
    uint64_t failed_in_window = 0;
    std::optional<double> last_ms;
    bool last_failed = false;
    double p50_ms = 0;
    double p99_ms = 0;
    double max_ms = 0;
    uint64_t window_s = 60;
};

struct RbdGatewayRow {
    uint16_t group = 0;
    std::string name;
    std::vector<std::string> portals;
    scsi::AluaState state = scsi::AluaState::unavailable;  // this gateway's model of the group
    std::optional<scsi::AluaState> shared_state;  // the state in the image's records, if any
    bool alive = false;
    bool self = false;  // the group this gateway serves
    std::optional<int64_t> last_beat_age_ms;
    std::string description;
};

struct RbdLunView {
    std::string pool;
    std::string image;
    std::string image_id;
    uint64_t object_size = 0;

    // The cluster as the last refresh saw it.
    bool reachable = false;
    std::string error;  // "unreachable: ...", or "not asked yet"
    std::string health;
    std::vector<RbdHealthCheck> checks;
    std::string fsid;
    uint32_t osds = 0;
    uint32_t osds_up = 0;
    uint32_t osds_in = 0;
    bool manager = false;
    std::optional<int64_t> refreshed_ms_ago;  // nullopt: no refresh has ended yet
    int64_t refresh_took_ms = 0;
    int64_t refresh_interval_ms = 0;

    std::vector<RbdOsd> osd_latency;
    std::string latency_error;
    std::optional<RbdBeatLatency> heartbeat;  // only on a gateway of a multi-gateway array
    std::vector<RbdGatewayRow> gateways;      // empty on a standalone array
};

// The daemon's answer for LUN `lun` of `target`: nullopt when it is not an rbd LUN.
using RbdViewSource =
    std::function<std::optional<RbdLunView>(std::string_view target, uint64_t lun)>;

namespace api {
nlohmann::json rbd_lun(const RbdLunView& view);
}

}  // namespace atsarray::webui
