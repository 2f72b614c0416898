// esxi-sim hosts on two real atsarray gateway processes exporting one Ceph RBD image (issue 15,
// "How it will be checked"), each gateway its own target port group listing the other's portal
// (remote_portals), as configs/example-ceph-{a,b}.toml have them:
// - no fault, active/active: hosts on gateway A and hosts on gateway B (each host with a path to
//   both) share the VMFS heartbeat region and on-disk locks: no lost heartbeat, every ATS
//   miscompare genuine contention, locks handed over between hosts of different gateways and
//   never owned twice (SBC-4 §5.3: COMPARE AND WRITE atomic in the OSD, across gateways);
// - the ALUA issue's stale_write_after_failover across gateways (the tcmu-runner#420 hazard on an
//   rbd image), active/passive: a heartbeat WRITE held by gateway A lands after the hosts failed
//   over to gateway B (A's paths down) and heartbeated there, over the slot's newer image; the
//   slot's owner reads A's stale image through B on its next heartbeat ATS, a genuine
//   miscompare, and the consoles of both gateways count it in the same class as the host.
// Asserted on what esxi-sim reports (its Report, the log's lines) and the consoles' REST API,
// never on timings. The stale-write test runs at a quarter of ESXi's time scale, like
// esxi_failover_test.cpp (2 s I/O timeout, lost after 4 s, the preset's times divided by 4).

#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "target/fault/fault.hpp"
#include "tests/integration/ceph_cluster.hpp"
#include "tests/integration/daemon_process.hpp"
#include "tests/integration/dual_controller.hpp"
#include "tests/integration/esxi_hosts.hpp"
#include "tests/integration/http_client.hpp"
#include "tools/esxi_sim/ledger.hpp"
#include "tools/esxi_sim/records.hpp"
#include "tools/esxi_sim/simulator.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* hosts_target = "iqn.2026-12.org.atsarray:gateway-hosts";
constexpr const char* admin = "iqn.2026-12.org.atsarray:admin";
constexpr const char* token = "gateway-hosts-token";
constexpr uint32_t block_size = 512;
constexpr uint32_t time_scale = 4;  // for the stale-write test, as esxi_failover_test.cpp

// The two gateways of one image, both with the console and fault injection on.
class GatewayHostsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        conf_ = ceph_conf_path();
        if (conf_.empty()) {
            GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture "
                            "ceph_cluster)";
        }
        image_ = std::string("gwh-") +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                 std::to_string(::getpid());
        for (char& c : image_) {
            if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') {
                c = '-';
            }
        }
        port_a_ = free_port();
        do {
            port_b_ = free_port();
        } while (port_b_ == port_a_);
        console_a_ = free_port();
        console_b_ = free_port();
    }

    void TearDown() override {
        a_.reset();
        b_.reset();
        if (image_.empty() || conf_.empty()) {
            return;
        }
        remove_gateway_image(conf_, image_);
    }

    // The config of gateway `own` (1: A, 2: B). Active/active: both groups active/optimized,
    // neither preferred; else active/passive with failover, A active/optimized and preferred, B
    // active/non-optimized (configs/example-ceph-{a,b}.toml).
    std::string body(uint16_t own, bool active_active) const {
        std::string s = "[console]\nport = " + std::to_string(own == 1 ? console_a_ : console_b_) +
                        "\ntoken = \"" + token + "\"\n\n[fault]\nenabled = true\n\n";
        for (const uint16_t group : {1, 2}) {
            const uint16_t port = group == 1 ? port_a_ : port_b_;
            s += "[[target_port_group]]\nid = " + std::to_string(group) + "\nname = \"gateway-" +
                 (group == 1 ? "a" : "b") + "\"\n" + (group == own ? "portals" : "remote_portals") +
                 " = [\"127.0.0.1:" + std::to_string(port) + "\"]\n";
            if (active_active) {
                s += "state = \"active_optimized\"\n\n";
            } else {
                s += group == 1 ? "state = \"active_optimized\"\npreferred = true\n\n"
                                : "state = \"active_non_optimized\"\n\n";
            }
        }
        s += std::string("[alua]\ngateway_heartbeat_ms = 200\ngateway_dead_after_ms = 2000\n") +
             "failover = " + (active_active ? "false" : "true") + "\n\n";
        s += "[[target]]\nname = \"" + std::string(hosts_target) + "\"\n\n";
        s += "[[target.lun]]\nid = 0\nbackend = \"rbd\"\npool = \"rbd\"\nimage = \"" + image_ +
             "\"\nceph_conf = \"" + conf_ +
             "\"\ncreate = true\nsize = \"32MiB\"\nblock_size = 512\ntimeout_s = 20\n";
        return s;
    }

    // Starts A, then B, and waits until both answer REPORT TARGET PORT GROUPS with the
    // configured states (each has seen the other's heartbeat in the image's records).
    bool start_pair(bool active_active) {
        a_ = start(port_a_, body(1, active_active));
        if (!a_) {
            return false;
        }
        b_ = start(port_b_, body(2, active_active));
        if (!b_) {
            return false;
        }
        const std::map<uint16_t, uint8_t> configured{
            {1, active_optimized}, {2, active_active ? active_optimized : active_non_optimized}};
        for (DaemonProcess* g : {a_.get(), b_.get()}) {
            std::string error;
            Context ctx = initiator::login(g->portal(), hosts_target,
                                           "iqn.1998-01.com.vmware:gwh-monitor", 0, 30, error);
            if (!ctx) {
                ADD_FAILURE() << g->portal() << ": " << error;
                return false;
            }
            clear_unit_attention(ctx);
            std::map<uint16_t, uint8_t> seen;
            const bool agreed = wait_until(20, [&] {
                seen.clear();
                for (const GroupSeen& group : parse_groups(report_groups(ctx, false))) {
                    seen[group.id] = group.state;
                }
                return seen == configured;
            });
            if (!agreed) {
                ADD_FAILURE() << g->portal() << " never showed the configured states\nA's log:\n"
                              << a_->log() << "\nB's log:\n"
                              << b_->log();
                return false;
            }
        }
        return true;
    }

    std::unique_ptr<DaemonProcess> start(uint16_t port, const std::string& config) {
        auto g = std::make_unique<DaemonProcess>(port, config, DaemonProcess::Start::spawn_only);
        if (!g->wait_listening(milliseconds(60000))) {
            ADD_FAILURE() << "gateway on port " << port << " did not start (exit "
                          << g->exit_status() << "):\n"
                          << g->log();
            return nullptr;
        }
        return g;
    }

    // The fewest sessions any host of `o` has over both gateways (one per path when every path
    // is up).
    size_t fewest_sessions(const sim::Options& o) const {
        std::map<std::string, size_t> per_host;
        for (int n = o.first_host; n < o.first_host + o.hosts; ++n) {
            per_host[o.initiator_prefix + "-" + std::to_string(n)] = 0;
        }
        for (const uint16_t console : {console_a_, console_b_}) {
            const HttpAnswer a = http_call(console, "GET", "/api/v1/sessions");
            for (const json& s : a.body) {
                const auto it = per_host.find(s.value("initiator_name", ""));
                if (it != per_host.end()) {
                    ++it->second;
                }
            }
        }
        size_t fewest = SIZE_MAX;
        for (const auto& [host, n] : per_host) {
            fewest = std::min(fewest, n);
        }
        return fewest;
    }

    std::map<std::string, Classes> console_classes() const {
        std::map<std::string, Classes> out;
        add_console_classes(console_a_, out);
        add_console_classes(console_b_, out);
        return out;
    }

    std::string conf_;
    std::string image_;
    uint16_t port_a_ = 0;
    uint16_t port_b_ = 0;
    uint16_t console_a_ = 0;
    uint16_t console_b_ = 0;
    std::unique_ptr<DaemonProcess> a_;
    std::unique_ptr<DaemonProcess> b_;
};

sim::Options host_options(const std::string& first_portal, const std::string& second_portal) {
    sim::Options o;
    o.portals = {first_portal, second_portal};
    o.target = hosts_target;
    o.hosts = 2;
    o.heartbeat_interval = 0.2;  // ESXi's 8 s I/O timeout and 16 s lost-after stay
    o.slots = 64;
    o.locks = 4;  // four hosts meet on few locks: genuine miscompares, handovers
    o.hold_ms = 300;
    o.think_ms = 100;
    o.duration = 5;
    o.transition_retry_ms = 250;
    return o;
}

// Active/active, no fault: hosts 1-2 list gateway A's path first and hosts 3-4 gateway B's (MRU
// takes the lowest path among equally good ones, VMware KB 334611), so each pair works through
// its own gateway with a path to the other in reserve. Two simulators in this process share one
// ownership ledger, so a lock two hosts of different gateways believe they hold would count.
TEST_F(GatewayHostsTest, HostsOnBothGatewaysShareHeartbeatsAndLocks) {
    ASSERT_TRUE(start_pair(true));
    sim::Log log(nullptr, true);
    sim::OwnershipLedger ledger(log);
    sim::Options on_a = host_options(a_->portal(), b_->portal());
    on_a.seed = 151;
    sim::Options on_b = host_options(b_->portal(), a_->portal());
    on_b.first_host = 3;
    on_b.seed = 152;
    Background run_a(on_a, log, &ledger);
    Background run_b(on_b, log, &ledger);
    const sim::Report ra = run_a.wait();
    const sim::Report rb = run_b.wait();
    const std::string text = log.text();
    ASSERT_EQ(ra.exit_status, 0) << ra.error << "\n" << text;
    ASSERT_EQ(rb.exit_status, 0) << rb.error << "\n" << text;
    ASSERT_EQ(ra.hosts.size(), 2U);
    ASSERT_EQ(rb.hosts.size(), 2U);

    const std::map<std::string, Classes> seen = console_classes();
    std::map<int, bool> host_on_a;
    uint64_t miscompares = 0;
    for (const sim::Report* r : {&ra, &rb}) {
        const std::string& expected = r == &ra ? a_->portal() : b_->portal();
        for (const sim::HostReport& h : r->hosts) {
            const sim::HostCounters& c = h.counters;
            host_on_a[h.number] = r == &ra;
            std::cout << h.initiator << " via " << expected << ": heartbeats " << c.heartbeats
                      << ", ATS " << c.ats_successes << " good " << c.ats_miscompares
                      << " miscompared, locks " << c.lock_acquisitions << " taken "
                      << c.lock_failures << " found held\n";
            ASSERT_EQ(h.device.paths.size(), 2U) << h.initiator;
            for (const sim::PathReport& p : h.device.paths) {
                EXPECT_EQ(p.state, "on") << h.initiator << " " << p.name;
                EXPECT_EQ(p.alua, "AO") << h.initiator << " " << p.name;
            }
            const sim::PathReport* now = active(h);
            ASSERT_NE(now, nullptr) << h.initiator;
            EXPECT_EQ(now->portal, expected) << h.initiator << "\n" << text;
            EXPECT_EQ(c.failovers, 0U) << h.initiator << "\n" << text;
            // No lost heartbeat, nobody's heartbeat taken over, no failed or timed-out command.
            EXPECT_EQ(c.lost_events, 0U) << h.initiator << "\n" << text;
            EXPECT_EQ(c.hb_restarts, 0U) << h.initiator << "\n" << text;
            EXPECT_EQ(c.io_errors, 0U) << h.initiator << "\n" << text;
            EXPECT_EQ(c.ats_timeouts, 0U) << h.initiator << "\n" << text;
            EXPECT_GT(c.heartbeats, 0U) << h.initiator;
            // Every miscompare is genuine contention: another host wrote the block.
            EXPECT_EQ(c.miscompares_genuine, c.ats_miscompares) << h.initiator << "\n" << text;
            EXPECT_EQ(c.hb_late_retries, 0U) << h.initiator;
            // Locks: taken and released, never broken (every owner is alive).
            EXPECT_GT(c.lock_acquisitions, 0U) << h.initiator << "\n" << text;
            EXPECT_EQ(c.stale_locks_broken, 0U) << h.initiator << "\n" << text;
            EXPECT_EQ(c.dead_heartbeats_cleared, 0U) << h.initiator << "\n" << text;
            EXPECT_EQ(c.locks_broken_while_held, 0U) << h.initiator << "\n" << text;
            // The consoles of both gateways count the same miscompares for this host.
            const auto it = seen.find(h.initiator);
            EXPECT_EQ(it != seen.end() ? it->second : Classes{}, host_classes(c))
                << h.initiator << "\n"
                << text;
            miscompares += c.ats_miscompares;
        }
    }
    EXPECT_EQ(ledger.conflicts(), 0U) << text;
    EXPECT_EQ(ra.ownership_conflicts + rb.ownership_conflicts, 0U);

    // Locks went from hosts of one gateway to hosts of the other, both ways.
    uint64_t a_to_b = 0;
    uint64_t b_to_a = 0;
    for (const auto& [move, n] : ledger.handovers()) {
        if (host_on_a[move.first] && !host_on_a[move.second]) {
            a_to_b += n;
        }
        if (!host_on_a[move.first] && host_on_a[move.second]) {
            b_to_a += n;
        }
    }
    std::cout << "[ gateway hosts ] " << ledger.acquisitions() << " locks taken, " << a_to_b
              << " handed from A's hosts to B's, " << b_to_a << " from B's to A's, " << miscompares
              << " genuine miscompares\n";
    EXPECT_GT(a_to_b, 0U) << text;
    EXPECT_GT(b_to_a, 0U) << text;
}

uint64_t add_rule(uint16_t console, const json& rule) {
    const HttpAnswer a = http_call(console, "POST", "/api/v1/faults", token, rule.dump());
    EXPECT_EQ(a.status, 201U) << rule.dump() << " -> " << a.body.dump();
    return a.body.value("id", uint64_t{0});
}

uint64_t hits(uint16_t console, uint64_t rule) {
    const HttpAnswer a = http_call(console, "GET", "/api/v1/faults/" + std::to_string(rule));
    return a.status == 200 ? a.body.value("hits", uint64_t{0}) : 0;
}

// The failover-stale-write preset across gateways (active/passive): a heartbeat WRITE of one
// host's slot through gateway A (the slot's image of now) is held by A, whose paths then go
// down; the hosts fail over to gateway B and heartbeat on through it (ATS in the OSD), and A's
// write lands on the image over the slot's newer image. The slot's owner meets it on its next
// heartbeat ATS through B: a genuine miscompare; reading the block again through B it finds
// exactly A's stale image, and reclaims its slot. The consoles count the same miscompare for that
// host and B's names the slot's block. When A's paths are back every host returns to them.
TEST_F(GatewayHostsTest, StaleWriteOfGatewayALandsAfterFailoverToB) {
    ASSERT_TRUE(start_pair(false));
    sim::Log log(nullptr, true);
    sim::Options o;
    o.portals = {a_->portal()};
    o.discover = true;  // SendTargets on A lists both gateways' portals
    o.target = hosts_target;
    o.hosts = 3;
    o.heartbeat_interval = 0.2;
    o.io_timeout = 8.0 / time_scale;
    o.lost_after = 16.0 / time_scale;
    o.transition_retry_ms = 1000 / time_scale;
    o.slots = 64;
    o.locks = 4;
    o.hold_ms = 300;
    o.think_ms = 100;
    o.seed = 153;
    o.duration = 0;  // until A's paths are back
    Background run(o, log);

    // The administrator's session through A (its commands given 1 s, as a host's I/O timeout),
    // and the first heartbeat slot in use once the hosts have taken theirs.
    std::string error;
    initiator::Context a = initiator::login(a_->portal(), hosts_target, admin, 0, 1, error);
    ASSERT_TRUE(a) << error;
    uint64_t slot_lba = 0;
    std::vector<uint8_t> stale;
    wait_until(20, [&] {
        initiator::Task t(iscsi_read16_sync(a.get(), 0, o.heartbeat_lba, o.slots * block_size,
                                            block_size, 0, 0, 0, 0, 0));
        if (!t || t->status != SCSI_STATUS_GOOD) {
            return false;  // the unit attention of the login, or a busy gateway
        }
        int in_use = 0;
        for (int i = 0; i < o.slots; ++i) {
            const uint8_t* p = t->datain.data + i * block_size;
            if (sim::decode_heartbeat(p).in_use() && ++in_use == 1) {
                slot_lba = o.heartbeat_lba + static_cast<uint64_t>(i);
                stale.assign(p, p + block_size);
            }
        }
        if (in_use < o.hosts) {
            stale.clear();
            return false;
        }
        return true;
    });
    ASSERT_FALSE(stale.empty()) << "no heartbeat slot in use\n" << log.text();

    // The preset's rules on gateway A, scaled: A's next write (the administrator's: only its
    // writes are scoped) is held and lands late; A's paths go down.
    json late_rule = scaled_rule(
        preset_rule("failover-stale-write", fault::Action::stale_write_after_failover), time_scale);
    late_rule["initiator"] = admin;
    const uint64_t late = add_rule(console_a_, late_rule);
    std::thread writer([&] {
        initiator::Task t(iscsi_write16_sync(a.get(), 0, slot_lba, stale.data(), block_size,
                                             block_size, 0, 0, 0, 0, 0));
        EXPECT_TRUE(!t || t->status != SCSI_STATUS_GOOD) << "never answered";
    });
    EXPECT_TRUE(wait_until(2, [&] { return hits(console_a_, late) == 1; }))
        << "the write reached gateway A";
    add_rule(console_a_, scaled_rule(preset_rule("failover-stale-write", fault::Action::path_down),
                                     time_scale));
    writer.join();
    // A's sessions are reset and its logins refused for 3 s (10 s in the preset), then every
    // host logs in there again; a few heartbeats later the run ends.
    EXPECT_TRUE(wait_until(10, [&] { return fewest_sessions(o) < 2; }));
    EXPECT_TRUE(wait_until(20, [&] { return fewest_sessions(o) == 2; }));
    sleep_s(1);
    run.stop();

    const sim::Report r = run.wait();
    const std::string text = log.text();
    ASSERT_EQ(r.exit_status, 0) << r.error << "\n" << text;
    ASSERT_EQ(r.hosts.size(), 3U);
    EXPECT_EQ(hits(console_a_, late), 1U);
    const sim::HostReport* owner = nullptr;
    for (const sim::HostReport& h : r.hosts) {
        const sim::HostCounters& c = h.counters;
        ASSERT_EQ(h.device.paths.size(), 2U) << h.initiator;
        const sim::PathReport* now = active(h);
        ASSERT_NE(now, nullptr) << h.initiator;
        // To B when A's paths went down, back to A (active/optimized) when they came back.
        EXPECT_EQ(now->group, 1) << h.initiator << "\n" << text;
        EXPECT_EQ(c.failovers, 2U) << h.initiator << "\n" << text;
        EXPECT_EQ(c.paths_dead, 1U) << h.initiator;
        EXPECT_EQ(c.paths_restored, 1U) << h.initiator;
        EXPECT_EQ(c.lost_events, 0U) << h.initiator << "\n" << text;
        if (h.heartbeat_offset == slot_lba * block_size) {
            owner = &h;
        }
    }
    ASSERT_NE(owner, nullptr) << "slot at LBA " << slot_lba << "\n" << text;
    for (const sim::HostReport& h : r.hosts) {
        // Only the owner's heartbeat met the stale image.
        EXPECT_EQ(h.counters.hb_restarts, &h == owner ? 1U : 0U) << h.initiator << "\n" << text;
    }
    EXPECT_GE(owner->counters.miscompares_genuine, 1U) << text;
    // A's write landed on the image: what the owner read again through B after its miscompare
    // is A's stale image, to the byte (its owner, gen and stamp).
    const std::string landed =
        "HB at offset " + std::to_string(slot_lba * block_size) + " on vol '" + o.volume +
        "' was changed by another host: " + sim::describe(sim::decode_heartbeat(stale.data()));
    EXPECT_TRUE(contains(text, landed)) << landed << "\n" << text;

    // Both gateways' consoles together count each host's miscompares in the host's classes.
    const std::map<std::string, Classes> seen = console_classes();
    Classes total;
    for (const sim::HostReport& h : r.hosts) {
        const sim::HostCounters& c = h.counters;
        const Classes mine = host_classes(c);
        std::cout << h.initiator << ": failovers " << c.failovers << ", heartbeats " << c.heartbeats
                  << ", miscompares " << mine << "\n";
        EXPECT_EQ(mine.genuine + mine.late_retry + mine.injected, c.ats_miscompares) << h.initiator;
        EXPECT_EQ(c.ats_timeouts, 0U) << h.initiator << "\n" << text;
        const auto it = seen.find(h.initiator);
        EXPECT_EQ(it != seen.end() ? it->second : Classes{}, mine) << h.initiator << "\n" << text;
        total.injected += mine.injected;
    }
    EXPECT_EQ(total.injected, 0U);
    // B's console names the slot's block among those that miscompared, and the owner on it.
    const HttpAnswer ats = http_call(console_b_, "GET", "/api/v1/ats");
    bool named = false;
    for (const json& b : ats.body["hot_blocks"]) {
        if (b["lba"].get<uint64_t>() == slot_lba) {
            named = true;
            EXPECT_GE(b["miscompares"].get<uint64_t>(), 1U);
            EXPECT_FALSE(b["last_late_retry"].get<bool>());
            EXPECT_TRUE(contains(b["last_initiator"].get<std::string>(), owner->initiator))
                << b.dump();
        }
    }
    EXPECT_TRUE(named) << ats.body.dump();
}

}  // namespace
}  // namespace atsarray::testing
