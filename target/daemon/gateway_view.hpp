#pragma once
// The ALUA view the gateways of one array share (issue 15): each gateway is a target port group
// of the same target, and the groups' states live in the records of an RBD image (the medium
// every gateway opens), so REPORT TARGET PORT GROUPS answers the same on every gateway.
//
// Records (backend::SharedRecords):
//   "alua.<group>"     the group's state ("active_optimized", ...), written by the gateway that
//                      changed it (SET TARGET PORT GROUPS, the console, a fault rule, failover);
//                      the first gateway to start writes the configured states of the groups
//                      that have none.
//   "gateway.<group>"  the heartbeat of the gateway serving the group: a value that changes on
//                      every beat. Liveness is "it changed within dead_after" on this gateway's
//                      own clock, so the gateways' clocks need not agree.
// Every round (each heartbeat, or at once when a record changed), a gateway applies to its own
// model: a live group gets its shared state, a group whose gateway has not beaten for dead_after
// is unavailable (SPC-4 §5.16.2.4.5). With failover, when no live group is active/optimized, the
// live preferred group (else the lowest id) takes that state over from the dead one, which gets
// the state the survivor had (ceph-iscsi's active/passive failover; ../shared/CEPH.md).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "target/scsi/alua.hpp"

namespace atsarray::backend {
class SharedRecords;
}

namespace atsarray::daemon {

struct GatewaySettings {
    uint16_t own_group = 1;  // the target port group this gateway serves
    std::chrono::milliseconds heartbeat{1000};
    std::chrono::milliseconds dead_after{5000};
    bool failover = true;
    std::string description;  // "gw-a pid 1234 on host": in the heartbeat, for people
};

class GatewayView {
  public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    // Something people should know (a gateway died or came back, a failover): an event line.
    using Note = std::function<void(const std::string& text)>;

    struct Group {
        uint16_t id = 0;
        bool alive = false;
        std::optional<scsi::AluaState> shared;  // nullopt: no record yet
        // When this gateway last saw the group's beat change (its own group: its last beat
        // written), and how long ago that is at view(); nullopt: never seen. A gateway seen for
        // the first time counts from this gateway's start, as liveness does.
        std::optional<std::chrono::steady_clock::time_point> beat_seen;
        std::optional<std::chrono::milliseconds> beat_age;
        std::string description;  // what the gateway wrote in its beat ("gw-a pid 1234")
    };

    // The heartbeat writes of this gateway, each a RADOS write to the image's records: what a
    // gateway sees of the OSDs' latency, without a manager. Durations over the last `window`.
    struct BeatLatency {
        uint64_t rounds = 0;         // rounds since start
        uint64_t failed_rounds = 0;  // rounds the cluster did not answer (or answered an error)
        size_t samples = 0;          // beats written within the window
        size_t failed_in_window = 0;
        std::optional<std::chrono::microseconds> last;  // the last beat's, failed or not
        bool last_failed = false;
        std::chrono::microseconds p50{0};
        std::chrono::microseconds p99{0};
        std::chrono::microseconds max{0};
        std::chrono::seconds window{60};
    };

    GatewayView(std::string target, backend::SharedRecords& records,
                std::shared_ptr<scsi::TargetPortGroups> groups, GatewaySettings settings,
                Note note = {}, Clock clock = {});
    ~GatewayView();
    GatewayView(const GatewayView&) = delete;
    GatewayView& operator=(const GatewayView&) = delete;

    // Runs round() every heartbeat on a thread of its own, and at once when a record changes.
    void start();
    // Stops the thread; the records keep the last beat (the others see this gateway die).
    void stop();

    // One round: publish local changes, beat, read every record, apply the view. Returns false
    // when the cluster did not answer (the model is left as it was). Tests call it directly.
    bool round();

    std::vector<Group> view() const;
    BeatLatency beat_latency() const;
    uint16_t own_group() const { return settings_.own_group; }

  private:
    bool round_once();
    bool publish_local_changes();
    bool beat();
    void apply(const std::map<std::string, std::string>& records);
    bool take_over(const std::vector<Group>& groups);
    bool write_state(uint16_t group, scsi::AluaState state);
    void run();
    // Keeps a beat's duration (and the round's outcome) for beat_latency().
    void note_beat(std::chrono::steady_clock::time_point at,
                   std::chrono::steady_clock::duration took, bool written);
    void note_round(bool ok);

    std::string target_;
    backend::SharedRecords& records_;
    std::shared_ptr<scsi::TargetPortGroups> groups_;
    GatewaySettings settings_;
    Note note_;
    Clock clock_;
    uint64_t listener_ = 0;
    uint64_t watch_ = 0;
    std::string boot_;  // makes this life's beats differ from a previous one's
    uint64_t beats_ = 0;
    uint64_t beat_version_ = 0;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point last_read_ok_;  // the last round that read the records
    bool round_failed_ = false;  // a round failed since last_read_ok_ (round()'s thread only)

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool dirty_ = true;         // local states may differ from the shared ones
    std::thread::id applying_;  // the thread applying the shared view (its changes are not local)
    std::map<uint16_t, scsi::AluaState> applied_;  // what round() last set in the model
    std::map<uint16_t, std::string> last_beat_;
    std::map<uint16_t, std::chrono::steady_clock::time_point> last_beat_at_;
    std::vector<Group> view_;
    struct Beat {
        std::chrono::steady_clock::time_point at;
        std::chrono::microseconds took;
        bool written = false;
    };
    std::deque<Beat> beats_window_;  // the last minute's beats, oldest first
    std::optional<std::chrono::steady_clock::time_point> own_beat_at_;
    uint64_t rounds_ = 0;
    uint64_t failed_rounds_ = 0;
    bool beat_in_round_ = false;  // the round in progress was counted with its beat
    std::thread thread_;
};

}  // namespace atsarray::daemon
