#pragma once
// The console's view of the daemon's rbd LUNs (issue 15): per LUN, the image, the Ceph cluster's
// health and OSD latency (backend::RbdClusterInfo, refreshed on a thread of its own every
// refresh interval) and, on a gateway of a multi-gateway array, every gateway as the shared ALUA
// view sees it with this gateway's heartbeat write latency. view() only copies what the
// refreshers and the gateway view hold: the console's thread never waits for the cluster.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/rbd_cluster_info.hpp"
#include "webui/server/rbd_view.hpp"

namespace atsarray::backend {
class RbdStore;
}
namespace atsarray::scsi {
class TargetPortGroups;
}

namespace atsarray::daemon {

class GatewayView;

class RbdConsole {
  public:
    explicit RbdConsole(std::chrono::milliseconds refresh = std::chrono::seconds(2))
        : refresh_(refresh) {}
    ~RbdConsole();
    RbdConsole(const RbdConsole&) = delete;
    RbdConsole& operator=(const RbdConsole&) = delete;

    // LUN `lun` of `target` is on `store`; its cluster is asked from start() on, or at once once
    // started (a LUN added live). Replaces an earlier entry of the same LUN.
    void add_lun(const std::string& target, uint64_t lun, std::shared_ptr<backend::RbdStore> store);
    // The LUN is no longer served (removed live): its refresher stops and the store is let go.
    void remove_lun(const std::string& target, uint64_t lun);
    // `target` is served by gateways sharing `view` (which outlives this object's use: stop()
    // first); `portals`: every group's portals, this gateway's and the others'.
    void set_gateway(const std::string& target, const GatewayView* view,
                     std::shared_ptr<scsi::TargetPortGroups> groups,
                     std::map<uint16_t, std::vector<std::string>> portals);

    void start();
    void stop();

    // nullopt: no rbd LUN `lun` of `target`.
    std::optional<webui::RbdLunView> view(std::string_view target, uint64_t lun) const;

  private:
    struct Lun {
        std::string target;
        uint64_t id = 0;
        std::shared_ptr<backend::RbdStore> store;
        std::unique_ptr<backend::RbdClusterInfo> cluster;
        std::string image_id;
    };
    struct Gateway {
        const GatewayView* view = nullptr;
        std::shared_ptr<scsi::TargetPortGroups> groups;
        std::map<uint16_t, std::vector<std::string>> portals;
    };

    std::chrono::milliseconds refresh_;
    // add_lun and remove_lun (the live configuration) and view (the console) may run on different
    // threads; the refreshers are started and stopped outside it.
    mutable std::mutex mutex_;
    bool started_ = false;
    std::vector<Lun> luns_;
    std::map<std::string, Gateway, std::less<>> gateways_;
};

}  // namespace atsarray::daemon
