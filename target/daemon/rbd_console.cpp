#include "target/daemon/rbd_console.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "backend/rados_records.hpp"
#include "backend/rbd_store.hpp"
#include "target/daemon/gateway_view.hpp"
#include "target/scsi/alua.hpp"

namespace atsarray::daemon {

namespace {

constexpr std::string_view records_prefix = "atsarray.";

double to_ms(std::chrono::microseconds us) {
    return static_cast<double>(us.count()) / 1000.0;
}

}  // namespace

RbdConsole::~RbdConsole() {
    stop();
}

void RbdConsole::add_lun(const std::string& target, uint64_t lun,
                         std::shared_ptr<backend::RbdStore> store) {
    Lun l;
    l.target = target;
    l.id = lun;
    // The image's id names its records object ("atsarray.<image id>", RbdStore::open).
    if (const auto* records = dynamic_cast<const backend::RadosRecords*>(store->shared_records());
        records != nullptr && records->object().starts_with(records_prefix)) {
        l.image_id = records->object().substr(records_prefix.size());
    }
    l.cluster = std::make_unique<backend::RbdClusterInfo>(
        rados_ioctx_get_cluster(store->io_context()), refresh_);
    l.store = std::move(store);
    std::optional<Lun> replaced;
    {
        std::lock_guard lock(mutex_);
        if (started_) {
            l.cluster->start();
        }
        const auto it = std::find_if(luns_.begin(), luns_.end(), [&](const Lun& e) {
            return e.target == target && e.id == lun;
        });
        if (it != luns_.end()) {
            replaced = std::move(*it);
            *it = std::move(l);
        } else {
            luns_.push_back(std::move(l));
        }
    }
    if (replaced) {
        replaced->cluster->stop();
    }
}

void RbdConsole::remove_lun(const std::string& target, uint64_t lun) {
    std::optional<Lun> removed;
    {
        std::lock_guard lock(mutex_);
        const auto it = std::find_if(luns_.begin(), luns_.end(), [&](const Lun& e) {
            return e.target == target && e.id == lun;
        });
        if (it == luns_.end()) {
            return;
        }
        removed = std::move(*it);
        luns_.erase(it);
    }
    removed->cluster->stop();  // joins its thread: outside the lock, which view() takes
}

void RbdConsole::set_gateway(const std::string& target, const GatewayView* view,
                             std::shared_ptr<scsi::TargetPortGroups> groups,
                             std::map<uint16_t, std::vector<std::string>> portals) {
    gateways_[target] = Gateway{view, std::move(groups), std::move(portals)};
}

void RbdConsole::start() {
    std::lock_guard lock(mutex_);
    started_ = true;
    for (Lun& l : luns_) {
        l.cluster->start();
    }
}

void RbdConsole::stop() {
    std::lock_guard lock(mutex_);
    started_ = false;
    for (Lun& l : luns_) {
        l.cluster->stop();
    }
}

std::optional<webui::RbdLunView> RbdConsole::view(std::string_view target, uint64_t lun) const {
    std::lock_guard lock(mutex_);
    const auto it = std::find_if(luns_.begin(), luns_.end(),
                                 [&](const Lun& l) { return l.target == target && l.id == lun; });
    if (it == luns_.end()) {
        return std::nullopt;
    }
    webui::RbdLunView v;
    v.pool = it->store->pool_name();
    v.image = it->store->image_name();
    v.image_id = it->image_id;
    v.object_size = it->store->allocation_unit();

    const backend::ClusterInfo c = it->cluster->latest();
    v.reachable = c.reachable;
    v.error = c.error;
    v.health = c.health;
    for (const backend::ClusterHealthCheck& check : c.checks) {
        v.checks.push_back({check.code, check.severity, check.summary});
    }
    v.fsid = c.fsid;
    v.osds = c.osds;
    v.osds_up = c.osds_up;
    v.osds_in = c.osds_in;
    v.manager = c.manager;
    if (c.refreshes > 0) {
        v.refreshed_ms_ago = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - c.refreshed)
                                 .count();
    }
    v.refresh_took_ms = c.took.count();
    v.refresh_interval_ms = it->cluster->interval().count();
    for (const backend::OsdLatency& o : c.osd_latency) {
        webui::RbdOsd osd;
        osd.id = o.id;
        osd.up = o.up;
        osd.in = o.in;
        osd.commit_latency_ms = o.commit_latency_ms;
        osd.apply_latency_ms = o.apply_latency_ms;
        osd.write_latency_ms = o.write_latency_ms;
        osd.read_latency_ms = o.read_latency_ms;
        osd.writes = o.writes;
        osd.reads = o.reads;
        osd.error = o.error;
        v.osd_latency.push_back(std::move(osd));
    }
    v.latency_error = c.latency_error;

    const auto gateway = gateways_.find(target);
    if (gateway == gateways_.end() || gateway->second.view == nullptr) {
        return v;
    }
    const GatewayView& view = *gateway->second.view;
    const GatewayView::BeatLatency beats = view.beat_latency();
    webui::RbdBeatLatency b;
    b.rounds = beats.rounds;
    b.failed_rounds = beats.failed_rounds;
    b.samples = beats.samples;
    b.failed_in_window = beats.failed_in_window;
    if (beats.last) {
        b.last_ms = to_ms(*beats.last);
    }
    b.last_failed = beats.last_failed;
    b.p50_ms = to_ms(beats.p50);
    b.p99_ms = to_ms(beats.p99);
    b.max_ms = to_ms(beats.max);
    b.window_s = static_cast<uint64_t>(beats.window.count());
    v.heartbeat = b;

    const auto snapshot = gateway->second.groups->snapshot();
    for (const GatewayView::Group& g : view.view()) {
        webui::RbdGatewayRow row;
        row.group = g.id;
        row.alive = g.alive;
        row.self = g.id == view.own_group();
        row.shared_state = g.shared;
        row.description = g.description;
        if (g.beat_age) {
            row.last_beat_age_ms = g.beat_age->count();
        }
        if (const scsi::TargetPortGroupState* s = snapshot->group(g.id); s != nullptr) {
            row.name = s->name;
            row.state = s->state;
        }
        if (const auto p = gateway->second.portals.find(g.id); p != gateway->second.portals.end()) {
            row.portals = p->second;
        }
        v.gateways.push_back(std::move(row));
    }
    return v;
}

}  // namespace atsarray::daemon
