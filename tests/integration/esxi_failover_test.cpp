// esxi-sim hosts on a dual-controller array while the path presets of issue 14 act on it, at a
// quarter of ESXi's time scale (a 2 s I/O timeout against ESXi's 8 s, lost after 4 s against
// 16 s; the presets' times divided by the same 4, so their ratio to the hosts' timeouts stays):
// - controller-failover: every host moves to controller B and keeps its heartbeat (A's 5 s
//   transition is shorter than the I/O timeout, so no host may lose access), and every ATS
//   miscompare a host logs is one the console counts for it, in the same class (genuine, late
//   retry, injected); once alone, once with an injected miscompare and a lost ATS status per
//   host on top, so that every class shows;
// - failover-stale-write: a heartbeat WRITE held by controller A (a host heartbeating by WRITE,
//   VMFS3.UseATSForHBOnVMFS5 = 0) lands after the hosts failed over to B, over the slot's newer
//   image: the slot's owner meets it as a genuine miscompare on its next heartbeat ATS, and the
//   console says the same; when A's paths are back the hosts return to them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "target/fault/fault.hpp"
#include "tests/integration/esxi_hosts.hpp"
#include "tests/integration/http_client.hpp"
#include "tests/integration/in_process_daemon.hpp"
#include "tools/esxi_sim/records.hpp"
#include "tools/esxi_sim/simulator.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using nlohmann::json;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:esxi-failover";
constexpr const char* admin = "iqn.2026-11.org.atsarray:admin";
constexpr uint32_t block_size = 512;
// ESXi's 8 s I/O timeout and 16 s lost-after become 2 s and 4 s; the presets' times are divided
// by the same factor.
constexpr uint32_t time_scale = 4;

// Controller A (group 1, the daemon's own portal) active/optimized and preferred, controller B
// (group 2, a second portal) active/non-optimized, as configs/default.toml has them; the
// console and fault injection on; `rules`: [[fault.rule]] tables.
class Array {
  public:
    explicit Array(const std::string& rules = "")
        : port_b_(free_port()),
          console_(free_port()),
          daemon_("[[portal]]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_b_) +
                  "\n[[target_port_group]]\nid = 1\nname = \"controller-a\"\n"
                  "portals = [\"127.0.0.1:@PORT@\"]\nstate = \"active_optimized\"\n"
                  "preferred = true\n[[target_port_group]]\nid = 2\nname = \"controller-b\"\n"
                  "portals = [\"127.0.0.1:" +
                  std::to_string(port_b_) +
                  "\"]\nstate = \"active_non_optimized\"\n[console]\nport = " +
                  std::to_string(console_) + "\n[fault]\nenabled = true\n" + rules +
                  "[[target]]\nname = \"" + target_name +
                  "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n") {}

    std::string path_a() const { return daemon_.portal(); }
    std::string path_b() const { return "127.0.0.1:" + std::to_string(port_b_); }
    uint16_t console() const { return console_; }
    std::string token() { return daemon_.daemon().console_token(); }

    uint64_t add_rule(const json& rule) {
        const HttpAnswer a = http_call(console_, "POST", "/api/v1/faults", token(), rule.dump());
        EXPECT_EQ(a.status, 201U) << rule.dump() << " -> " << a.body.dump();
        return a.body.value("id", uint64_t{0});
    }
    uint64_t hits(uint64_t rule) {
        const HttpAnswer a = http_call(console_, "GET", "/api/v1/faults/" + std::to_string(rule));
        return a.status == 200 ? a.body.value("hits", uint64_t{0}) : 0;
    }

  private:
    uint16_t port_b_;
    uint16_t console_;
    InProcessDaemon daemon_;
};

sim::Options scaled_options(const Array& array) {
    sim::Options o;
    o.portals = {array.path_a()};
    o.discover = true;  // SendTargets lists both controllers' portals
    o.target = target_name;
    o.hosts = 3;
    o.heartbeat_interval = 0.2;
    o.io_timeout = 8.0 / time_scale;
    o.lost_after = 16.0 / time_scale;
    o.transition_retry_ms = 1000 / time_scale;
    o.slots = 64;
    o.locks = 4;  // three hosts meet on few locks: genuine miscompares
    o.hold_ms = 300;
    o.think_ms = 100;
    o.seed = 14;
    o.duration = 5;
    return o;
}

// What the console counts, by initiator name.
std::map<std::string, Classes> console_classes(uint16_t console) {
    std::map<std::string, Classes> out;
    add_console_classes(console, out);
    return out;
}

// The fewest sessions any of the hosts has at the array (one per path when every path is up).
size_t fewest_sessions(uint16_t console, const sim::Options& o) {
    std::map<std::string, size_t> per_host;
    for (int n = o.first_host; n < o.first_host + o.hosts; ++n) {
        per_host[o.initiator_prefix + "-" + std::to_string(n)] = 0;
    }
    const HttpAnswer a = http_call(console, "GET", "/api/v1/sessions");
    for (const json& s : a.body) {
        const auto it = per_host.find(s.value("initiator_name", ""));
        if (it != per_host.end()) {
            ++it->second;
        }
    }
    size_t fewest = SIZE_MAX;
    for (const auto& [host, n] : per_host) {
        fewest = std::min(fewest, n);
    }
    return fewest;
}

// One line per host for the test's output: its failovers and both sides' classes.
void print_summary(const sim::Report& r, uint16_t console) {
    const std::map<std::string, Classes> seen = console_classes(console);
    for (const sim::HostReport& h : r.hosts) {
        const auto it = seen.find(h.initiator);
        std::cout << h.initiator << ": failovers " << h.counters.failovers << ", heartbeats "
                  << h.counters.heartbeats << ", lost " << h.counters.lost_events
                  << ", miscompares host " << host_classes(h.counters) << " console "
                  << (it != seen.end() ? it->second : Classes{}) << "\n";
    }
}

// Every host and the console agree on each host's miscompares, class by class; every miscompare
// the host saw was classified (it could read the block again). Returns the hosts' total.
Classes expect_hosts_agree_with_console(const sim::Report& r, uint16_t console,
                                        const std::string& log) {
    print_summary(r, console);
    const std::map<std::string, Classes> seen = console_classes(console);
    Classes total;
    for (const sim::HostReport& h : r.hosts) {
        const sim::HostCounters& c = h.counters;
        const Classes mine = host_classes(c);
        EXPECT_EQ(mine.genuine + mine.late_retry + mine.injected, c.ats_miscompares) << h.initiator;
        // An ATS the host timed out on may have miscompared on the array unseen: none here.
        EXPECT_EQ(c.ats_timeouts, 0U) << h.initiator << "\n" << log;
        const auto it = seen.find(h.initiator);
        EXPECT_EQ(it != seen.end() ? it->second : Classes{}, mine) << h.initiator << "\n" << log;
        total.genuine += mine.genuine;
        total.late_retry += mine.late_retry;
        total.injected += mine.injected;
    }
    return total;
}

// The controller-failover preset (A transitioning, then standby; B active/optimized) while
// three hosts heartbeat and take locks through A: every host moves to B at the unit attention
// 2A/06, and A's transition (1.25 s here, 5 s in the preset) is shorter than the hosts' I/O
// timeout (2 s, ESXi's 8 s): nobody loses access, and nobody's heartbeat is restarted.
TEST(EsxiFailover, ControllerFailoverMovesEveryHostToBAndMiscomparesAgree) {
    Array array;
    sim::Log log(nullptr, true);
    const sim::Options o = scaled_options(array);
    Background run(o, log);
    sleep_s(1.5);
    const fault::Preset* p = fault::find_preset("controller-failover");
    ASSERT_NE(p, nullptr);
    for (const fault::RuleSpec& r : p->rules) {
        array.add_rule(scaled_rule(r, time_scale));
    }
    const sim::Report r = run.wait();
    const std::string text = log.text();
    ASSERT_EQ(r.exit_status, 0) << r.error << "\n" << text;
    ASSERT_EQ(r.hosts.size(), 3U);
    for (const sim::HostReport& h : r.hosts) {
        const sim::HostCounters& c = h.counters;
        ASSERT_EQ(h.device.paths.size(), 2U) << h.initiator;
        for (const sim::PathReport& p : h.device.paths) {
            EXPECT_EQ(p.state, "on") << p.name;
            EXPECT_EQ(p.alua, p.group == 1 ? "STBY" : "AO") << h.initiator << " " << p.name;
        }
        const sim::PathReport* now = active(h);
        ASSERT_NE(now, nullptr) << h.initiator;
        EXPECT_EQ(now->group, 2) << h.initiator << "\n" << text;
        EXPECT_EQ(c.failovers, 1U) << h.initiator;
        EXPECT_EQ(c.lost_events, 0U) << h.initiator << "\n" << text;
        EXPECT_EQ(c.hb_restarts, 0U) << h.initiator;
        EXPECT_EQ(c.io_errors, 0U) << h.initiator;
        EXPECT_LT(c.longest_hb_gap_seconds, o.lost_after) << h.initiator;
        EXPECT_GT(c.heartbeats, 10U) << h.initiator;  // 5 s at 5 a second
    }
    EXPECT_EQ(r.ownership_conflicts, 0U);
    const Classes total = expect_hosts_agree_with_console(r, array.console(), text);
    // Nothing was injected, and no ATS was executed without its status reaching the host.
    EXPECT_EQ(total.injected, 0U);
    EXPECT_EQ(total.late_retry, 0U);
    // The unit attention of the change, RTPG through A's transition, then A in standby.
    EXPECT_TRUE(contains(text, "Valid sense data: 0x6 0x2a 0x6. Act:FAILOVER")) << text;
    EXPECT_TRUE(contains(text, "{TPG_id=1,TPG_state=TRANS}")) << text;
    EXPECT_TRUE(contains(text, "{TPG_id=1,TPG_state=STBY}{TPG_id=2,TPG_state=AO}")) << text;
}

// The same failover with one injected false miscompare and one lost ATS status per host on top
// (so that every class shows): each host's injected miscompare (its block held the test image)
// and its late retry (the block held its own set image) are the console's injected and late
// retry miscompares for that initiator.
TEST(EsxiFailover, ControllerFailoverWithInjectedAndLostAtsMiscomparesAgree) {
    sim::Options o;
    std::string rules;
    for (int n = 1; n <= 3; ++n) {
        const std::string host = o.initiator_prefix + "-" + std::to_string(n);
        rules += "[[fault.rule]]\nname = \"false-" + std::to_string(n) +
                 "\"\naction = \"false_miscompare\"\ncommand = \"ats\"\ninitiator = \"" + host +
                 "\"\nevery = 4\nmax_hits = 1\n";
        // A heartbeat ATS executed and never answered: the host times out, aborts and reissues
        // it, and the reissue meets its own image (KB 2113956).
        rules += "[[fault.rule]]\nname = \"lost-status-" + std::to_string(n) +
                 "\"\naction = \"drop_status\"\ncommand = \"ats\"\ninitiator = \"" + host +
                 "\"\nlba_first = " + std::to_string(o.heartbeat_lba) +
                 "\nlba_last = " + std::to_string(o.heartbeat_lba + 63) +
                 "\nevery = 6\nmax_hits = 1\n";
    }
    Array array(rules);
    sim::Log log(nullptr, true);
    o = scaled_options(array);
    Background run(o, log);
    sleep_s(1.5);
    const fault::Preset* p = fault::find_preset("controller-failover");
    ASSERT_NE(p, nullptr);
    for (const fault::RuleSpec& r : p->rules) {
        array.add_rule(scaled_rule(r, time_scale));
    }
    const sim::Report r = run.wait();
    const std::string text = log.text();
    ASSERT_EQ(r.exit_status, 0) << r.error << "\n" << text;
    ASSERT_EQ(r.hosts.size(), 3U);
    print_summary(r, array.console());
    const std::map<std::string, Classes> seen = console_classes(array.console());
    for (const sim::HostReport& h : r.hosts) {
        const sim::HostCounters& c = h.counters;
        const sim::PathReport* now = active(h);
        ASSERT_NE(now, nullptr) << h.initiator;
        EXPECT_EQ(now->group, 2) << h.initiator << "\n" << text;
        EXPECT_EQ(c.lost_events, 0U) << h.initiator << "\n" << text;
        EXPECT_EQ(c.hb_restarts, 0U) << h.initiator;
        EXPECT_EQ(c.ats_timeouts, 1U) << h.initiator << "\n" << text;  // the lost status
        const Classes mine = host_classes(c);
        EXPECT_EQ(mine.injected, 1U) << h.initiator << "\n" << text;
        EXPECT_EQ(mine.late_retry, 1U) << h.initiator << "\n" << text;
        EXPECT_EQ(mine.genuine + mine.late_retry + mine.injected, c.ats_miscompares) << h.initiator;
        const auto it = seen.find(h.initiator);
        EXPECT_EQ(it != seen.end() ? it->second : Classes{}, mine) << h.initiator << "\n" << text;
    }
}

// The failover-stale-write preset: a heartbeat WRITE of one host's slot through controller A
// (the slot's image of now) is held by A, whose paths then go down; the hosts fail over to B and
// heartbeat on, and A's write lands over the slot's newer image. The slot's owner meets it on its
// next heartbeat ATS: a genuine miscompare (another image than its own), after which it reclaims
// its slot; the console counts the same miscompare for that host and names the slot's block.
// When A's paths come back (active/optimized) every host moves back to them.
TEST(EsxiFailover, StaleWriteOfControllerAIsAGenuineMiscompareOnTheSlotsOwner) {
    Array array;
    sim::Log log(nullptr, true);
    sim::Options o = scaled_options(array);
    o.duration = 0;  // until A's paths are back
    Background run(o, log);
    sleep_s(1.5);

    // The administrator's session through A (its commands given 1 s, as a host's I/O timeout),
    // and the first heartbeat slot in use.
    std::string error;
    initiator::Context a = initiator::login(array.path_a(), target_name, admin, 0, 1, error);
    ASSERT_TRUE(a) << error;
    uint64_t slot_lba = 0;
    std::vector<uint8_t> stale;
    for (int attempt = 0; attempt < 3 && stale.empty(); ++attempt) {  // past the unit attention
        initiator::Task t(iscsi_read16_sync(a.get(), 0, o.heartbeat_lba, o.slots * block_size,
                                            block_size, 0, 0, 0, 0, 0));
        if (!t || t->status != SCSI_STATUS_GOOD) {
            continue;
        }
        for (int i = 0; i < o.slots && stale.empty(); ++i) {
            const uint8_t* p = t->datain.data + i * block_size;
            if (sim::decode_heartbeat(p).in_use()) {
                slot_lba = o.heartbeat_lba + static_cast<uint64_t>(i);
                stale.assign(p, p + block_size);
            }
        }
    }
    ASSERT_FALSE(stale.empty()) << "no heartbeat slot in use\n" << log.text();

    // The preset's rules, scaled: A's next write is held and lands late; A's paths go down.
    const uint64_t late = array.add_rule(
        scaled_rule(preset_rule("failover-stale-write", fault::Action::stale_write_after_failover),
                    time_scale));
    std::thread writer([&] {
        initiator::Task t(iscsi_write16_sync(a.get(), 0, slot_lba, stale.data(), block_size,
                                             block_size, 0, 0, 0, 0, 0));
        EXPECT_TRUE(!t || t->status != SCSI_STATUS_GOOD) << "never answered";
    });
    for (int i = 0; i < 100 && array.hits(late) == 0; ++i) {
        sleep_s(0.01);
    }
    EXPECT_EQ(array.hits(late), 1U) << "the write reached controller A";
    array.add_rule(
        scaled_rule(preset_rule("failover-stale-write", fault::Action::path_down), time_scale));
    writer.join();
    // A's sessions are reset and its logins refused for 3 s (10 s in the preset), then every
    // host logs in there again; a few heartbeats later the run ends.
    EXPECT_TRUE(wait_until(10, [&] { return fewest_sessions(array.console(), o) < 2; }));
    EXPECT_TRUE(wait_until(20, [&] { return fewest_sessions(array.console(), o) == 2; }));
    sleep_s(1);
    run.stop();

    const sim::Report r = run.wait();
    const std::string text = log.text();
    ASSERT_EQ(r.exit_status, 0) << r.error << "\n" << text;
    ASSERT_EQ(r.hosts.size(), 3U);
    const sim::HostReport* owner = nullptr;
    for (const sim::HostReport& h : r.hosts) {
        const sim::HostCounters& c = h.counters;
        const sim::PathReport* now = active(h);
        ASSERT_NE(now, nullptr) << h.initiator;
        // To B when A's paths went down, back to A (active/optimized) when they came back.
        EXPECT_EQ(now->group, 1) << h.initiator << "\n" << text;
        EXPECT_EQ(c.failovers, 2U) << h.initiator << "\n" << text;
        EXPECT_EQ(c.paths_dead, 1U) << h.initiator;
        EXPECT_EQ(c.paths_restored, 1U) << h.initiator;
        EXPECT_EQ(c.lost_events, 0U) << h.initiator << "\n" << text;
        // Its heartbeat stays in the slot it had (reclaimed by its UUID after the stale write).
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
    const Classes total = expect_hosts_agree_with_console(r, array.console(), text);
    EXPECT_EQ(total.injected, 0U);
    // The console names the slot's block among those that miscompared, and the owner on it.
    const HttpAnswer ats = http_call(array.console(), "GET", "/api/v1/ats");
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
    EXPECT_TRUE(contains(text, "was changed by another host")) << text;
}

}  // namespace
}  // namespace atsarray::testing
