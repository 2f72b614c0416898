// Two real atsarray gateway processes exporting one Ceph RBD image (issue 15, "How it will be
// checked"): each gateway is its own target port group and lists the other's portal
// (remote_portals); what they share lives in the image's records in the cluster, not in either
// process. Checked through real libiscsi sessions on both gateways: one LUN identity (VPD 0x80,
// 0x83), one ALUA view (REPORT TARGET PORT GROUPS), SendTargets naming both portals, the CAS
// counter of 8 initiators over two gateways with 0 lost increments (COMPARE AND WRITE atomic in
// the OSD, SBC-4 §5.3), a gateway SIGKILLed in the middle of that run (the other goes on, every
// acknowledged FUA write is there, the dead one's group turns unavailable, SPC-4 §5.16.2.4.5),
// persistent reservations across gateways (SPC-4 §5.13), SET TARGET PORT GROUPS on one gateway
// seen on the other (SPC-4 §6.39), and a start against a cluster that does not answer (exit 2).
//
// The cluster is the ctest fixture's (tests/ceph/CMakeLists.txt, ceph_conf_path()); each test
// makes fresh small images and removes them. The CAS runs last a fixed time, not a fixed count
// (throughput here varies tenfold with the other builds' load): ATSARRAY_GATEWAY_SECONDS
// (default 12) sets it, ATSARRAY_GATEWAY_INCREMENTS caps the increments per initiator.

#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/ceph_cluster.hpp"
#include "tests/integration/daemon_process.hpp"
#include "tests/integration/dual_controller.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* gateway_target = "iqn.2026-12.org.atsarray:gateways";
constexpr int heartbeat_ms = 200;
constexpr int dead_after_ms = 1000;

double seconds_since(steady_clock::time_point start) {
    return std::chrono::duration<double>(steady_clock::now() - start).count();
}

// One atsarray process on a port chosen by the test (each gateway's config names the other's
// portal, so both ports are known before either starts), spawned without waiting: a gateway test
// reads the exit status of a start that must fail.
using Gateway = DaemonProcess;

std::unique_ptr<Gateway> spawn_gateway(uint16_t port, const std::string& body) {
    return std::make_unique<Gateway>(port, body, Gateway::Start::spawn_only);
}

struct LunSpec {
    int id = 0;
    std::string image;
    uint32_t block_size = 512;
    std::string size = "32MiB";
    std::string extra;  // more keys of [[target.lun]] (serial = ...)
};

std::string lun_section(const LunSpec& lun, const std::string& ceph_conf, int timeout_s = 20) {
    return "[[target.lun]]\nid = " + std::to_string(lun.id) +
           "\nbackend = \"rbd\"\npool = \"rbd\"\nimage = \"" + lun.image + "\"\nceph_conf = \"" +
           ceph_conf + "\"\ncreate = true\nsize = \"" + lun.size +
           "\"\nblock_size = " + std::to_string(lun.block_size) +
           "\ntimeout_s = " + std::to_string(timeout_s) + "\n" + lun.extra + "\n";
}

// The config of the gateway serving group `own` (1: port_a, 2: port_b): both groups listed in the
// same order on both gateways, the other one's as remote_portals; group 1 active/optimized and
// preferred, group 2 active/non-optimized (active/passive with failover, as ceph-iscsi has it).
std::string gateway_body(uint16_t own, uint16_t port_a, uint16_t port_b,
                         const std::vector<LunSpec>& luns, const std::string& ceph_conf,
                         const std::string& target = gateway_target) {
    std::string body;
    for (const uint16_t group : {1, 2}) {
        const uint16_t port = group == 1 ? port_a : port_b;
        body +=
            "[[target_port_group]]\nid = " + std::to_string(group) + "\nname = \"gateway-" +
            (group == 1 ? "a" : "b") + "\"\n" + (group == own ? "portals" : "remote_portals") +
            " = [\"127.0.0.1:" + std::to_string(port) + "\"]\nstate = \"" +
            (group == 1 ? "active_optimized\"\npreferred = true\n" : "active_non_optimized\"\n") +
            "\n";
    }
    body += "[alua]\ngateway_heartbeat_ms = " + std::to_string(heartbeat_ms) +
            "\ngateway_dead_after_ms = " + std::to_string(dead_after_ms) + "\nfailover = true\n\n";
    body += "[[target]]\nname = \"" + target + "\"\n\n";
    for (const LunSpec& lun : luns) {
        body += lun_section(lun, ceph_conf);
    }
    return body;
}

// A plain (not multi-gateway) daemon exporting `luns` as target `target`.
std::string standalone_body(const std::vector<LunSpec>& luns, const std::string& ceph_conf,
                            const std::string& target) {
    std::string body = "[[target]]\nname = \"" + target + "\"\n\n";
    for (const LunSpec& lun : luns) {
        body += lun_section(lun, ceph_conf);
    }
    return body;
}

Context open_session(const std::string& portal, const std::string& name, int lun = 0,
                     const std::string& target = gateway_target) {
    std::string error;
    Context ctx = initiator::login(portal, target, name, lun, 30, error);
    EXPECT_TRUE(ctx) << portal << " as " << name << ": " << error;
    if (ctx) {
        clear_unit_attention(ctx);
    }
    return ctx;
}

// The state of each group by id as REPORT TARGET PORT GROUPS shows it on one gateway.
std::map<uint16_t, uint8_t> states_of(const Context& ctx) {
    std::map<uint16_t, uint8_t> out;
    for (const GroupSeen& g : parse_groups(report_groups(ctx, false))) {
        out[g.id] = g.state;
    }
    return out;
}

std::string describe(const std::map<uint16_t, uint8_t>& states) {
    std::string s;
    for (const auto& [id, state] : states) {
        s += "group " + std::to_string(id) + ": " + std::to_string(state) + "; ";
    }
    return s;
}

// Polls REPORT TARGET PORT GROUPS through `ctx` until `want` holds or `limit` passes; the time it
// took in seconds, or a negative number when it never held.
double wait_for_states(const Context& ctx, const std::map<uint16_t, uint8_t>& want,
                       milliseconds limit, std::map<uint16_t, uint8_t>* last = nullptr) {
    const auto start = steady_clock::now();
    for (;;) {
        const auto seen = states_of(ctx);
        if (last != nullptr) {
            *last = seen;
        }
        bool all = true;
        for (const auto& [id, state] : want) {
            const auto it = seen.find(id);
            all = all && it != seen.end() && it->second == state;
        }
        if (all) {
            return seconds_since(start);
        }
        if (steady_clock::now() - start >= limit) {
            return -1;
        }
        std::this_thread::sleep_for(milliseconds(50));
    }
}

// VPD page `page` (SPC-4 §7.8) through `ctx`.
std::vector<uint8_t> vpd(const Context& ctx, uint8_t page) {
    Task t(iscsi_inquiry_sync(ctx.get(), 0, 1, page, 255));
    if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size < 4) {
        ADD_FAILURE() << "INQUIRY VPD " << int{page} << " failed";
        return {};
    }
    const uint8_t* p = t->datain.data;
    const size_t end = std::min<size_t>(4 + (p[2] << 8 | p[3]), t->datain.size);
    return {p, p + end};
}

// The unit serial number (VPD 0x80, SPC-4 §7.8.15).
std::string unit_serial(const Context& ctx) {
    const std::vector<uint8_t> page = vpd(ctx, 0x80);
    return page.size() > 4 ? std::string(page.begin() + 4, page.end()) : std::string();
}

// The NAA designator of the logical unit (VPD 0x83, association 00b, type 3; SPC-4 §7.8.6).
std::vector<uint8_t> lun_naa(const Context& ctx) {
    const std::vector<uint8_t> page = vpd(ctx, 0x83);
    for (size_t at = 4; at + 4 <= page.size(); at += 4 + page[at + 3]) {
        if ((page[at + 1] & 0x0F) == 0x3 && (page[at + 1] & 0x30) == 0 &&
            at + 4 + page[at + 3] <= page.size()) {
            return {page.begin() + at + 4, page.begin() + at + 4 + page[at + 3]};
        }
    }
    return {};
}

std::vector<std::string> send_targets(const std::string& portal) {
    Context ctx = initiator::create_context("iqn.1998-01.com.vmware:gw-discovery");
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_DISCOVERY);
    std::vector<std::string> portals;
    if (iscsi_connect_sync(ctx.get(), portal.c_str()) != 0 || iscsi_login_sync(ctx.get()) != 0) {
        ADD_FAILURE() << "discovery login at " << portal << ": " << iscsi_get_error(ctx.get());
        return portals;
    }
    iscsi_discovery_address* found = iscsi_discovery_sync(ctx.get());
    for (auto* a = found; a != nullptr; a = a->next) {
        EXPECT_STREQ(a->target_name, gateway_target);
        for (auto* p = a->portals; p != nullptr; p = p->next) {
            portals.emplace_back(p->portal);
        }
    }
    if (found != nullptr) {
        iscsi_free_discovery_data(ctx.get(), found);
    }
    std::sort(portals.begin(), portals.end());
    return portals;
}

// What one command came back with, as an initiator acts on it.
enum class Outcome {
    good,
    miscompare,  // COMPARE AND WRITE found a difference: read again and retry
    retry,       // unit attention, BUSY, TASK SET FULL, ALUA transitioning: the host retries
    lost,        // no answer: the connection is gone (the gateway died)
    failed,      // anything else: a test failure
};

Outcome classify(const Task& t) {
    if (!t) {
        return Outcome::lost;
    }
    switch (t->status) {
        case SCSI_STATUS_GOOD: {
            return Outcome::good;
        }
        case SCSI_STATUS_BUSY:
        case SCSI_STATUS_TASK_SET_FULL: {
            return Outcome::retry;
        }
        case SCSI_STATUS_CANCELLED:
        case SCSI_STATUS_ERROR:
        case SCSI_STATUS_TIMEOUT: {
            return Outcome::lost;
        }
        case SCSI_STATUS_CHECK_CONDITION: {
            if (t->sense.key == SCSI_SENSE_MISCOMPARE) {
                return Outcome::miscompare;
            }
            if (t->sense.key == SCSI_SENSE_UNIT_ATTENTION ||
                (t->sense.key == SCSI_SENSE_NOT_READY && t->sense.ascq == 0x040A)) {
                return Outcome::retry;
            }
            return Outcome::failed;
        }
        default: {
            return Outcome::failed;
        }
    }
}

std::string what(const Task& t, const char* command) {
    if (!t) {
        return std::string(command) + ": no answer";
    }
    char text[160];
    std::snprintf(text, sizeof text, "%s: status 0x%x key 0x%x asc/ascq 0x%04x", command,
                  static_cast<unsigned>(t->status), static_cast<unsigned>(t->sense.key),
                  static_cast<unsigned>(t->sense.ascq));
    return text;
}

// One initiator of the CAS runs: its own session to one gateway, incrementing the counter block
// by READ + COMPARE AND WRITE (retry on miscompare), optionally each time also a FUA WRITE of
// its own next block (never rewritten, so each acknowledged one has exactly one right content).
struct Worker {
    int index = 0;
    std::string portal;
    bool on_a = false;
    // Results.
    uint64_t successes = 0;
    uint64_t miscompares = 0;
    uint64_t retries = 0;
    uint64_t fua_acked = 0;
    std::atomic<uint64_t> progress{0};  // successes + FUA writes, read while it runs
    bool lost = false;
    bool caw_unanswered = false;  // the connection went with a COMPARE AND WRITE in flight
    std::string error;
};

constexpr uint64_t counter_lba = 8;
constexpr uint64_t fua_base_lba = 1024;
constexpr uint64_t fua_region_blocks = 4096;

// The content of worker `w`'s `seq`-th FUA block.
std::vector<uint8_t> fua_pattern(int w, uint64_t seq, uint32_t block_size) {
    std::vector<uint8_t> data(block_size);
    for (uint32_t at = 0; at + 8 <= block_size; at += 8) {
        initiator::store_le64(data.data() + at,
                              (uint64_t{0xA75} << 52) ^ (uint64_t(w) << 40) ^ (seq << 16) ^ at);
    }
    return data;
}

// Runs a command until it is not answered "retry"; the last answer.
template <typename Send>
Task until_answered(Worker& w, Send send) {
    for (;;) {
        Task t = send();
        if (classify(t) != Outcome::retry) {
            return t;
        }
        ++w.retries;
        std::this_thread::sleep_for(milliseconds(1));
    }
}

void run_worker(Worker& w, uint32_t block_size, uint64_t increments, bool fua_writes,
                const std::atomic<bool>& stop) {
    std::string error;
    Context ctx =
        initiator::login(w.portal, gateway_target,
                         "iqn.1998-01.com.vmware:gw-host-" + std::to_string(w.index), 0, 30, error);
    if (!ctx) {
        w.error = "login at " + w.portal + ": " + error;
        return;
    }
    clear_unit_attention(ctx);
    std::vector<uint8_t> both(2 * block_size);
    while (w.successes < increments && !stop.load()) {
        // One increment: READ, then COMPARE AND WRITE of what was read -> that + 1.
        for (;;) {
            Task r = until_answered(w, [&] {
                return Task(iscsi_read16_sync(ctx.get(), 0, counter_lba, block_size, block_size, 0,
                                              0, 0, 0, 0));
            });
            if (classify(r) == Outcome::lost) {
                w.lost = true;
                return;
            }
            if (classify(r) != Outcome::good || r->datain.size < static_cast<int>(block_size)) {
                w.error = what(r, "READ(16)");
                return;
            }
            std::memcpy(both.data(), r->datain.data, block_size);
            std::memcpy(both.data() + block_size, r->datain.data, block_size);
            initiator::store_le64(both.data() + block_size,
                                  initiator::load_le64(r->datain.data) + 1);
            Task c = until_answered(w, [&] {
                return Task(iscsi_compareandwrite_sync(ctx.get(), 0, counter_lba, both.data(),
                                                       2 * block_size, block_size, 0, 0, 0, 0, 0));
            });
            const Outcome o = classify(c);
            if (o == Outcome::good) {
                ++w.successes;
                ++w.progress;
                break;
            }
            if (o == Outcome::miscompare) {
                ++w.miscompares;
                continue;
            }
            if (o == Outcome::lost) {
                w.lost = true;
                w.caw_unanswered = true;
                return;
            }
            w.error = what(c, "COMPARE AND WRITE");
            return;
        }
        if (fua_writes && w.fua_acked < fua_region_blocks) {
            std::vector<uint8_t> data = fua_pattern(w.index, w.fua_acked, block_size);
            const uint64_t lba = fua_base_lba + uint64_t(w.index) * fua_region_blocks + w.fua_acked;
            Task t = until_answered(w, [&] {
                return Task(iscsi_write16_sync(ctx.get(), 0, lba, data.data(), block_size,
                                               block_size, 0, 0, 1, 0, 0));
            });
            const Outcome o = classify(t);
            if (o == Outcome::lost) {
                w.lost = true;
                return;
            }
            if (o != Outcome::good) {
                w.error = what(t, "WRITE(16) FUA");
                return;
            }
            ++w.fua_acked;
            ++w.progress;
        }
    }
}

uint64_t read_counter(const Context& ctx, uint32_t block_size) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        Task r(iscsi_read16_sync(ctx.get(), 0, counter_lba, block_size, block_size, 0, 0, 0, 0, 0));
        if (classify(r) == Outcome::good && r->datain.size >= 8) {
            return initiator::load_le64(r->datain.data);
        }
    }
    ADD_FAILURE() << "cannot read the counter";
    return 0;
}

uint64_t from_environment(const char* name, uint64_t fallback) {
    const char* env = std::getenv(name);
    return env != nullptr && std::atoll(env) > 0 ? static_cast<uint64_t>(std::atoll(env))
                                                 : fallback;
}

// How long a CAS run lasts, and the most increments an initiator makes in it.
std::chrono::seconds run_time() {
    return std::chrono::seconds(from_environment("ATSARRAY_GATEWAY_SECONDS", 12));
}
uint64_t increments_cap() {
    return from_environment("ATSARRAY_GATEWAY_INCREMENTS", UINT64_MAX);
}

// Waits until `until` or until every worker has stopped by itself.
void run_until(steady_clock::time_point until, const std::atomic<int>& running) {
    while (steady_clock::now() < until && running.load() > 0) {
        std::this_thread::sleep_for(milliseconds(20));
    }
}

class GatewayTest : public ::testing::Test {
  protected:
    void SetUp() override {
        conf_ = ceph_conf_path();
        if (conf_.empty()) {
            GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture "
                            "ceph_cluster)";
        }
        port_a_ = free_port();
        do {
            port_b_ = free_port();
        } while (port_b_ == port_a_);
    }

    void TearDown() override {
        gateways_.clear();
        for (const std::string& image : images_) {
            remove_gateway_image(conf_, image);
        }
    }

    // A fresh image name for this test (removed at the end).
    std::string image(const std::string& tag) {
        std::string name = std::string("gwt-") +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                           tag + "-" + std::to_string(::getpid());
        for (char& c : name) {
            if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') {
                c = '-';
            }
        }
        images_.push_back(name);
        return name;
    }

    // Starts a gateway; nullptr (and a test failure with its log) when it does not listen.
    Gateway* start(uint16_t port, const std::string& body) {
        gateways_.push_back(spawn_gateway(port, body));
        Gateway* g = gateways_.back().get();
        if (!g->wait_listening(std::chrono::seconds(60))) {
            ADD_FAILURE() << "gateway on port " << port << " did not start (exit "
                          << g->exit_status() << "):\n"
                          << g->log();
            return nullptr;
        }
        return g;
    }

    // Gateways A (group 1) and B (group 2) exporting `luns`, and both agreeing on the configured
    // view (each has seen the other beat). False with test failures when not.
    // `before_b` runs between A's start and B's.
    bool start_pair(const std::vector<LunSpec>& luns, const std::function<void()>& before_b = {}) {
        a_ = start(port_a_, gateway_body(1, port_a_, port_b_, luns, conf_));
        if (a_ == nullptr) {
            return false;
        }
        if (before_b) {
            before_b();
        }
        b_ = start(port_b_, gateway_body(2, port_a_, port_b_, luns, conf_));
        if (b_ == nullptr) {
            return false;
        }
        const std::map<uint16_t, uint8_t> configured{{1, active_optimized},
                                                     {2, active_non_optimized}};
        for (Gateway* g : {a_, b_}) {
            Context ctx = open_session(g->portal(), "iqn.1998-01.com.vmware:gw-monitor");
            if (!ctx) {
                return false;
            }
            std::map<uint16_t, uint8_t> last;
            if (wait_for_states(ctx, configured, milliseconds(20000), &last) < 0) {
                ADD_FAILURE() << g->portal() << " never showed the configured states; last "
                              << describe(last) << "\nA's log:\n"
                              << a_->log() << "\nB's log:\n"
                              << b_->log();
                return false;
            }
        }
        return true;
    }

    std::string conf_;
    uint16_t port_a_ = 0;
    uint16_t port_b_ = 0;
    Gateway* a_ = nullptr;
    Gateway* b_ = nullptr;
    std::vector<std::unique_ptr<Gateway>> gateways_;
    std::vector<std::string> images_;
};

// One device behind both gateways: the identity is the image's (its records), not derived from
// each gateway's config; a gateway configured with another serial does not start.
TEST_F(GatewayTest, SameDeviceOnBothGateways) {
    const LunSpec lun{0, image("lun"), 512, "16MiB", ""};
    // Gateway B first started with another serial configured: it stops at the start (exit 2),
    // naming the serial the image holds (A's); then B as configured.
    std::string wrong_serial_log;
    int wrong_serial_exit = -1;
    ASSERT_TRUE(start_pair({lun}, [&] {
        LunSpec wrong = lun;
        wrong.extra = "serial = \"NOTTHESTOREDONE\"\n";
        Gateway wrong_b(port_b_, gateway_body(2, port_a_, port_b_, {wrong}, conf_),
                        Gateway::Start::spawn_only);
        wrong_serial_exit = wrong_b.wait_exit(milliseconds(60000));
        wrong_serial_log = wrong_b.log();
    }));
    Context via_a = open_session(a_->portal(), "iqn.1998-01.com.vmware:gw-host-1");
    Context via_b = open_session(b_->portal(), "iqn.1998-01.com.vmware:gw-host-2");
    ASSERT_TRUE(via_a && via_b);

    const std::string serial = unit_serial(via_a);
    const std::vector<uint8_t> naa = lun_naa(via_a);
    EXPECT_FALSE(serial.empty());
    ASSERT_EQ(naa.size(), 16U) << "NAA 6 registered extended";
    EXPECT_EQ(naa[0] >> 4, 0x6);
    EXPECT_EQ(unit_serial(via_b), serial);
    EXPECT_EQ(lun_naa(via_b), naa);

    // Both gateways answer REPORT TARGET PORT GROUPS with the same groups, states, preference
    // and ports. (The STATUS CODE of a descriptor tells what last changed a group on that
    // gateway, so it is not compared.)
    for (const bool extended : {false, true}) {
        const auto groups = parse_groups(report_groups(via_a, extended));
        const auto groups_b = parse_groups(report_groups(via_b, extended));
        ASSERT_EQ(groups.size(), 2U);
        ASSERT_EQ(groups_b.size(), 2U);
        for (size_t i = 0; i < 2; ++i) {
            EXPECT_EQ(groups_b[i].id, groups[i].id);
            EXPECT_EQ(groups_b[i].state, groups[i].state) << "group " << groups[i].id;
            EXPECT_EQ(groups_b[i].preferred, groups[i].preferred) << "group " << groups[i].id;
            EXPECT_EQ(groups_b[i].supported, groups[i].supported) << "group " << groups[i].id;
            EXPECT_EQ(groups_b[i].ports, groups[i].ports) << "group " << groups[i].id;
        }
        EXPECT_EQ(groups[0].id, 1);
        EXPECT_EQ(groups[0].state, active_optimized);
        EXPECT_TRUE(groups[0].preferred);
        EXPECT_EQ(groups[0].ports, std::vector<uint16_t>{1});
        EXPECT_EQ(groups[1].id, 2);
        EXPECT_EQ(groups[1].state, active_non_optimized);
        EXPECT_FALSE(groups[1].preferred);
        EXPECT_EQ(groups[1].ports, std::vector<uint16_t>{2});
    }

    // SendTargets on either gateway names both portals, each with its group's tag.
    std::vector<std::string> both{a_->portal() + ",1", b_->portal() + ",2"};
    std::sort(both.begin(), both.end());  // as send_targets() sorts
    EXPECT_EQ(send_targets(a_->portal()), both);
    EXPECT_EQ(send_targets(b_->portal()), both);

    // A third daemon exporting the image under another target name (whose derived serial would
    // differ) answers with the image's identity.
    const std::string other_target = "iqn.2026-12.org.atsarray:another-name";
    Gateway* c = start(free_port(), standalone_body({lun}, conf_, other_target));
    ASSERT_NE(c, nullptr);
    Context via_c = open_session(c->portal(), "iqn.1998-01.com.vmware:gw-host-3", 0, other_target);
    ASSERT_TRUE(via_c);
    EXPECT_EQ(unit_serial(via_c), serial);
    EXPECT_EQ(lun_naa(via_c), naa);

    EXPECT_EQ(wrong_serial_exit, 2) << wrong_serial_log;
    EXPECT_NE(wrong_serial_log.find("stored serial is \"" + serial + "\""), std::string::npos)
        << "the message names the stored serial " << serial << ":\n"
        << wrong_serial_log;
}

// The CAS counter of issue 15: 8 initiators, 4 per gateway, each its own session; the final
// counter equals the successful COMPARE AND WRITEs (none lost, none doubled).
class GatewayCasTest : public GatewayTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(GatewayCasTest, CasCounterAcrossGateways) {
    const uint32_t block_size = GetParam();
    ASSERT_TRUE(start_pair({{0, image("cas" + std::to_string(block_size)), block_size, "16MiB"}}));
    const uint64_t increments = increments_cap();
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < 8; ++i) {
        auto w = std::make_unique<Worker>();
        w->index = i;
        w->on_a = i % 2 == 0;
        w->portal = w->on_a ? a_->portal() : b_->portal();
        workers.push_back(std::move(w));
    }
    std::atomic<bool> stop{false};
    std::atomic<int> running{8};
    const auto start = steady_clock::now();
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back([&, wp = w.get()] {
            run_worker(*wp, block_size, increments, false, stop);
            --running;
        });
    }
    run_until(start + run_time(), running);
    stop = true;
    for (auto& t : threads) {
        t.join();
    }
    const double took = seconds_since(start);

    uint64_t successes = 0;
    uint64_t miscompares = 0;
    uint64_t retries = 0;
    for (const auto& w : workers) {
        EXPECT_TRUE(w->error.empty()) << "initiator " << w->index << ": " << w->error;
        EXPECT_FALSE(w->lost) << "initiator " << w->index << " lost its session";
        EXPECT_GT(w->successes, 0U) << "initiator " << w->index << " never got its ATS in";
        successes += w->successes;
        miscompares += w->miscompares;
        retries += w->retries;
    }
    Context check = open_session(b_->portal(), "iqn.1998-01.com.vmware:gw-check");
    ASSERT_TRUE(check);
    const uint64_t counter = read_counter(check, block_size);
    EXPECT_EQ(counter, successes) << "lost or doubled increments";
    std::printf(
        "[ gateways ] %u-byte blocks, 8 initiators: counter %llu, %llu ATS "
        "successes, %llu miscompares, %llu retried commands, %.1f s (%.0f ATS/s)\n",
        block_size, static_cast<unsigned long long>(counter),
        static_cast<unsigned long long>(successes), static_cast<unsigned long long>(miscompares),
        static_cast<unsigned long long>(retries), took, successes / took);
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, GatewayCasTest, ::testing::Values(512U, 4096U),
                         [](const auto& info) { return "Block" + std::to_string(info.param); });

// Gateway A is SIGKILLed in the middle of the CAS run with FUA writes: the initiators on B go on,
// those on A lose their sessions, every acknowledged FUA write reads back through B, and B
// reports A's group unavailable, then (failover) its own group active/optimized.
TEST_F(GatewayTest, GatewayKilledMidRun) {
    constexpr uint32_t block_size = 512;
    ASSERT_TRUE(start_pair({{0, image("kill"), block_size, "64MiB"}}));
    const uint64_t increments = increments_cap();
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < 8; ++i) {
        auto w = std::make_unique<Worker>();
        w->index = i;
        w->on_a = i % 2 == 0;
        w->portal = w->on_a ? a_->portal() : b_->portal();
        workers.push_back(std::move(w));
    }
    Context monitor = open_session(b_->portal(), "iqn.1998-01.com.vmware:gw-monitor");
    ASSERT_TRUE(monitor);

    std::atomic<bool> stop{false};
    std::atomic<int> running{8};
    const auto start = steady_clock::now();
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back([&, wp = w.get()] {
            run_worker(*wp, block_size, increments, true, stop);
            --running;
        });
    }
    // A dies a third into the run.
    run_until(start + run_time() / 3, running);
    std::vector<uint64_t> progress_at_kill;
    for (const auto& w : workers) {
        progress_at_kill.push_back(w->progress.load());
    }
    a_->kill_now();
    const auto killed = steady_clock::now();

    // B reports group 1 unavailable within dead_after and a margin for a busy machine, then its
    // own group active/optimized (failover: no live group was).
    std::map<uint16_t, uint8_t> last;
    const double unavailable_after =
        wait_for_states(monitor, {{1, unavailable}}, milliseconds(dead_after_ms + 10000), &last);
    EXPECT_GE(unavailable_after, 0)
        << "B never reported group 1 unavailable; last " << describe(last) << "\nB's log:\n"
        << b_->log();
    const double optimized_after = wait_for_states(
        monitor, {{1, unavailable}, {2, active_optimized}}, milliseconds(10000), &last);
    EXPECT_GE(optimized_after, 0) << "B never took active/optimized over; last " << describe(last);

    run_until(start + run_time(), running);
    stop = true;
    for (auto& t : threads) {
        t.join();
    }
    const double took = seconds_since(start);

    uint64_t successes = 0;
    uint64_t miscompares = 0;
    uint64_t unanswered = 0;
    uint64_t fua = 0;
    for (size_t i = 0; i < workers.size(); ++i) {
        const Worker& w = *workers[i];
        EXPECT_TRUE(w.error.empty()) << "initiator " << w.index << ": " << w.error;
        if (w.on_a) {
            // A's initiators lose their sessions with A (and only then).
            EXPECT_TRUE(w.lost || w.successes == increments) << "initiator " << w.index;
        } else {
            // B's initiators go on: no session lost, and commands acknowledged after A died.
            EXPECT_FALSE(w.lost) << "initiator " << w.index << " (on B) lost its session";
            EXPECT_GT(w.progress.load(), progress_at_kill[i])
                << "initiator " << w.index << " did nothing after A died";
        }
        successes += w.successes;
        miscompares += w.miscompares;
        unanswered += w.caw_unanswered ? 1 : 0;
        fua += w.fua_acked;
    }

    // The counter holds every acknowledged increment; a COMPARE AND WRITE that A never answered
    // may or may not have landed.
    Context check = open_session(b_->portal(), "iqn.1998-01.com.vmware:gw-check");
    ASSERT_TRUE(check);
    const uint64_t counter = read_counter(check, block_size);
    EXPECT_GE(counter, successes) << "an acknowledged increment was lost";
    EXPECT_LE(counter, successes + unanswered) << "more increments than COMPARE AND WRITEs";

    // Every acknowledged FUA write, through either gateway, reads back through B.
    uint64_t missing = 0;
    for (const auto& w : workers) {
        const uint64_t base = fua_base_lba + uint64_t(w->index) * fua_region_blocks;
        constexpr uint64_t chunk = 128;
        for (uint64_t seq = 0; seq < w->fua_acked; seq += chunk) {
            const uint64_t n = std::min(chunk, w->fua_acked - seq);
            Task r(iscsi_read16_sync(check.get(), 0, base + seq, n * block_size, block_size, 0, 0,
                                     0, 0, 0));
            ASSERT_EQ(classify(r), Outcome::good) << what(r, "READ(16)");
            ASSERT_GE(r->datain.size, static_cast<int>(n * block_size));
            for (uint64_t k = 0; k < n; ++k) {
                const auto want = fua_pattern(w->index, seq + k, block_size);
                if (std::memcmp(r->datain.data + k * block_size, want.data(), block_size) != 0) {
                    ++missing;
                    ADD_FAILURE() << "initiator " << w->index << " FUA write " << seq + k
                                  << " (acknowledged through " << (w->on_a ? "A" : "B")
                                  << ") is not there";
                }
            }
        }
    }
    EXPECT_EQ(missing, 0U);
    std::printf(
        "[ gateways ] A killed at %.1f s: counter %llu, %llu ATS successes, %llu "
        "miscompares, %llu unanswered at the kill, %llu acknowledged FUA writes all "
        "read back; B: group 1 unavailable %.2f s after the kill, group 2 "
        "active/optimized %.2f s later; %.1f s in all\n",
        std::chrono::duration<double>(killed - start).count(),
        static_cast<unsigned long long>(counter), static_cast<unsigned long long>(successes),
        static_cast<unsigned long long>(miscompares), static_cast<unsigned long long>(unanswered),
        static_cast<unsigned long long>(fua), unavailable_after, optimized_after, took);
}

// PERSISTENT RESERVE OUT (SPC-4 §6.15) through A is enforced by B: the reservation lives in the
// image's records.
TEST_F(GatewayTest, ReservationAcrossGateways) {
    ASSERT_TRUE(start_pair({{0, image("pr"), 512, "16MiB"}}));
    Context x = open_session(a_->portal(), "iqn.1998-01.com.vmware:gw-host-x");
    Context y = open_session(b_->portal(), "iqn.1998-01.com.vmware:gw-host-y");
    ASSERT_TRUE(x && y);
    constexpr uint64_t key = 0xA75A75A7;

    scsi_persistent_reserve_out_basic registration{};
    registration.service_action_reservation_key = key;
    Task reg(iscsi_persistent_reserve_out_sync(x.get(), 0, SCSI_PERSISTENT_RESERVE_REGISTER,
                                               SCSI_PERSISTENT_RESERVE_SCOPE_LU, 0, &registration));
    ASSERT_EQ(classify(reg), Outcome::good) << what(reg, "PR OUT REGISTER");
    scsi_persistent_reserve_out_basic reservation{};
    reservation.reservation_key = key;
    Task res(iscsi_persistent_reserve_out_sync(
        x.get(), 0, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_SCOPE_LU,
        SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE, &reservation));
    ASSERT_EQ(classify(res), Outcome::good) << what(res, "PR OUT RESERVE");

    // Y, not registered, writes through B: RESERVATION CONFLICT (SPC-4 §5.13.1 Table 55); it may
    // still read (write exclusive).
    std::vector<uint8_t> data(512, 0x5A);
    Task write(iscsi_write16_sync(y.get(), 0, 0, data.data(), 512, 512, 0, 0, 0, 0, 0));
    ASSERT_TRUE(write);
    EXPECT_EQ(write->status, SCSI_STATUS_RESERVATION_CONFLICT) << what(write, "WRITE(16) of Y");
    Task read(iscsi_read16_sync(y.get(), 0, 0, 512, 512, 0, 0, 0, 0, 0));
    EXPECT_EQ(classify(read), Outcome::good) << what(read, "READ(16) of Y");
    // X, the holder, writes through A.
    Task own(iscsi_write16_sync(x.get(), 0, 0, data.data(), 512, 512, 0, 0, 0, 0, 0));
    EXPECT_EQ(classify(own), Outcome::good) << what(own, "WRITE(16) of X");

    // PERSISTENT RESERVE IN READ RESERVATION through B (SPC-4 §6.14.3): X's key, write exclusive.
    Task in(
        iscsi_persistent_reserve_in_sync(y.get(), 0, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 64));
    ASSERT_EQ(classify(in), Outcome::good) << what(in, "PR IN READ RESERVATION");
    ASSERT_GE(in->datain.size, 24);
    const uint8_t* p = in->datain.data;
    EXPECT_EQ((p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7], 16) << "ADDITIONAL LENGTH";
    uint64_t held = 0;
    for (int i = 8; i < 16; ++i) {
        held = held << 8 | p[i];
    }
    EXPECT_EQ(held, key);
    EXPECT_EQ(p[21] & 0x0F, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE);
}

// SET TARGET PORT GROUPS through A (SPC-4 §6.39) changes the array's view: B reports it too.
TEST_F(GatewayTest, StpgOnOneGatewayShowsOnTheOther) {
    ASSERT_TRUE(start_pair({{0, image("stpg"), 512, "16MiB"}}));
    Context via_a = open_session(a_->portal(), "iqn.1998-01.com.vmware:gw-host-1");
    Context via_b = open_session(b_->portal(), "iqn.1998-01.com.vmware:gw-host-2");
    ASSERT_TRUE(via_a && via_b);
    Task moved = set_groups(via_a, {{2, active_optimized}, {1, standby}});
    ASSERT_EQ(classify(moved), Outcome::good) << what(moved, "SET TARGET PORT GROUPS");
    const std::map<uint16_t, uint8_t> want{{1, standby}, {2, active_optimized}};
    std::map<uint16_t, uint8_t> last;
    EXPECT_GE(wait_for_states(via_a, want, milliseconds(2000), &last), 0) << describe(last);
    const double seen_after = wait_for_states(via_b, want, milliseconds(5000), &last);
    EXPECT_GE(seen_after, 0) << "B never showed the change; last " << describe(last)
                             << "\nA's log:\n"
                             << a_->log() << "\nB's log:\n"
                             << b_->log();
    std::printf("[ gateways ] SET TARGET PORT GROUPS through A seen through B after %.2f s\n",
                seen_after);
    // Stable: a few heartbeats later both still say so.
    std::this_thread::sleep_for(milliseconds(3 * heartbeat_ms));
    EXPECT_EQ(states_of(via_a), want);
    EXPECT_EQ(states_of(via_b), want);
}

// A cluster that does not answer at the start stops it: exit 2 within about timeout_s, with a
// message naming the cluster (its ceph.conf).
TEST_F(GatewayTest, ClusterDownAtStart) {
    TempDir dir;
    const std::string closed_conf = (dir.path() / "ceph.conf").string();
    // Nothing listens on a port just released.
    std::ofstream(closed_conf) << "[global]\nmon host = 127.0.0.1:" << free_port()
                               << "\nauth cluster required = none\nauth service required = none\n"
                                  "auth client required = none\nms bind ipv6 = false\n";
    const std::string body =
        "[[target]]\nname = \"" + std::string(gateway_target) + "\"\n\n" +
        "[[target.lun]]\nid = 0\nbackend = \"rbd\"\npool = \"rbd\"\nimage = \"" + image("down") +
        "\"\nceph_conf = \"" + closed_conf +
        "\"\ncreate = true\nsize = \"16MiB\"\nblock_size = 512\ntimeout_s = 2\n";
    const auto start = steady_clock::now();
    gateways_.push_back(spawn_gateway(port_a_, body));
    Gateway& g = *gateways_.back();
    const int status = g.wait_exit(milliseconds(30000));
    const double took = seconds_since(start);
    EXPECT_EQ(status, 2) << g.log();
    EXPECT_LT(took, 2 + 10.0) << "timeout_s = 2";
    EXPECT_NE(g.log().find(closed_conf), std::string::npos) << "the message names the cluster:\n"
                                                            << g.log();
    EXPECT_FALSE(can_connect(port_a_));
    std::printf("[ gateways ] cluster down: exit %d after %.1f s\n", status, took);
}

}  // namespace
}  // namespace atsarray::testing
