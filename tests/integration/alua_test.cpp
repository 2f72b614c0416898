// A dual-controller array over loopback (issue 14): two target port groups, one portal each, and
// real libiscsi sessions on both paths. What ESXi's VMW_SATP_ALUA and Linux's scsi_dh_alua rely
// on: SendTargets lists both portals with their groups' tags, each path reports its own target
// port and group (VPD 0x83) but the same LUN, REPORT TARGET PORT GROUPS is byte-identical on
// every path, a state change reaches the other nexuses as a unit attention, the per-state sense
// codes, and ATS stays atomic whichever path a command takes.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/in_process_daemon.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;

constexpr const char* target = "iqn.2026-11.org.atsarray:alua";
constexpr const char* host1 = "iqn.1998-01.com.vmware:esx-alua-1";
constexpr const char* host2 = "iqn.1998-01.com.vmware:esx-alua-2";

// ASYMMETRIC ACCESS STATE values (SPC-4 §6.36 Table 263).
constexpr uint8_t active_optimized = 0x0;
constexpr uint8_t active_non_optimized = 0x1;
constexpr uint8_t standby = 0x2;
constexpr uint8_t unavailable = 0x3;

// The in-process daemon's own portal (@PORT@) is controller A, group 1, active/optimized and
// preferred; a second portal is controller B, group 2, active/non-optimized.
std::string dual_controller_config(uint16_t port_b, const std::string& alua) {
    return "[[portal]]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_b) +
           "\n[[target_port_group]]\nid = 1\nname = \"controller-a\"\n"
           "portals = [\"127.0.0.1:@PORT@\"]\nstate = \"active_optimized\"\npreferred = true\n"
           "[[target_port_group]]\nid = 2\nname = \"controller-b\"\nportals = [\"127.0.0.1:" +
           std::to_string(port_b) + "\"]\nstate = \"active_non_optimized\"\n" + alua +
           "\n[[target]]\nname = \"" + target +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n";
}

class DualController {
  public:
    explicit DualController(const std::string& alua = "")
        : port_b_(free_port()), daemon_(dual_controller_config(port_b_, alua)) {}

    std::string path_a() const { return daemon_.portal(); }
    std::string path_b() const { return "127.0.0.1:" + std::to_string(port_b_); }
    uint16_t port_a() const { return daemon_.port(); }
    uint16_t port_b() const { return port_b_; }

  private:
    uint16_t port_b_;
    InProcessDaemon daemon_;
};

Context login(const std::string& portal, const std::string& initiator) {
    std::string error;
    Context ctx = initiator::login(portal, target, initiator, 0, 10, error);
    EXPECT_TRUE(ctx) << portal << ": " << error;
    return ctx;
}

// A command libiscsi has no helper for: `cdb` with `in` bytes to read or `out` to write.
Task command(const Context& ctx, std::vector<uint8_t> cdb, uint32_t in,
             std::vector<uint8_t> out = {}) {
    auto* task = static_cast<scsi_task*>(std::calloc(1, sizeof(scsi_task)));
    std::memcpy(task->cdb, cdb.data(), cdb.size());
    task->cdb_size = static_cast<int>(cdb.size());
    task->xfer_dir = !out.empty() ? SCSI_XFER_WRITE : (in > 0 ? SCSI_XFER_READ : SCSI_XFER_NONE);
    task->expxferlen = !out.empty() ? static_cast<int>(out.size()) : static_cast<int>(in);
    iscsi_data data{static_cast<size_t>(out.size()), out.data()};
    scsi_task* done = iscsi_scsi_command_sync(ctx.get(), 0, task, out.empty() ? nullptr : &data);
    if (done == nullptr) {
        scsi_free_scsi_task(task);
        ADD_FAILURE() << "command failed: " << iscsi_get_error(ctx.get());
        return nullptr;
    }
    return Task(done);
}

// REPORT TARGET PORT GROUPS (MAINTENANCE IN, SPC-4 §6.36), length-only or extended header.
std::vector<uint8_t> report_groups(const Context& ctx, bool extended) {
    constexpr uint32_t length = 1024;
    Task t = command(ctx,
                     {0xA3, static_cast<uint8_t>(0x0A | (extended ? 0x20 : 0x00)), 0, 0, 0, 0, 0, 0,
                      length >> 8, length & 0xFF, 0, 0},
                     length);
    if (!t || t->status != SCSI_STATUS_GOOD) {
        ADD_FAILURE() << "REPORT TARGET PORT GROUPS failed";
        return {};
    }
    return {t->datain.data, t->datain.data + t->datain.size};
}

// SET TARGET PORT GROUPS (MAINTENANCE OUT, SPC-4 §6.39): (group, state) pairs.
Task set_groups(const Context& ctx, const std::vector<std::pair<uint16_t, uint8_t>>& groups) {
    std::vector<uint8_t> list(4, 0);
    for (const auto& [group, state] : groups) {
        list.insert(list.end(), {state, 0, static_cast<uint8_t>(group >> 8),
                                 static_cast<uint8_t>(group & 0xFF)});
    }
    const auto n = static_cast<uint32_t>(list.size());
    return command(
        ctx,
        {0xA4, 0x0A, 0, 0, 0, 0, static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
         static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n), 0, 0},
        0, list);
}

struct GroupSeen {
    uint8_t state = 0xFF;
    bool preferred = false;
    uint8_t supported = 0;
    uint16_t id = 0;
    uint8_t status_code = 0;
    std::vector<uint16_t> ports;
};

// The descriptors of REPORT TARGET PORT GROUPS parameter data (SPC-4 §6.36 Tables 260-262).
std::vector<GroupSeen> parse_groups(const std::vector<uint8_t>& d) {
    std::vector<GroupSeen> out;
    if (d.size() < 4) {
        return out;
    }
    const size_t end =
        std::min<size_t>(d.size(), 4 + ((size_t{d[0]} << 24) | (d[1] << 16) | (d[2] << 8) | d[3]));
    size_t at = (d.size() >= 8 && (d[4] & 0x70) == 0x10) ? 8 : 4;
    while (at + 8 <= end) {
        GroupSeen g;
        g.preferred = (d[at] & 0x80) != 0;
        g.state = d[at] & 0x0F;
        g.supported = d[at + 1];
        g.id = static_cast<uint16_t>(d[at + 2] << 8 | d[at + 3]);
        g.status_code = d[at + 5];
        const size_t ports = d[at + 7];
        for (size_t p = 0; p < ports && at + 8 + 4 * p + 4 <= end; ++p) {
            g.ports.push_back(
                static_cast<uint16_t>(d[at + 8 + 4 * p + 2] << 8 | d[at + 8 + 4 * p + 3]));
        }
        out.push_back(g);
        at += 8 + 4 * ports;
    }
    return out;
}

struct SenseSeen {
    int status = -1;
    int key = -1;
    int asc_ascq = -1;  // ASC << 8 | ASCQ
};

SenseSeen outcome(const Task& t) {
    if (!t) {
        return {};
    }
    return {t->status,
            t->status == SCSI_STATUS_CHECK_CONDITION ? static_cast<int>(t->sense.key) : -1,
            t->status == SCSI_STATUS_CHECK_CONDITION ? static_cast<int>(t->sense.ascq) : -1};
}

SenseSeen read_block(const Context& ctx) {
    return outcome(Task(iscsi_read16_sync(ctx.get(), 0, 0, 512, 512, 0, 0, 0, 0, 0)));
}

SenseSeen test_unit_ready(const Context& ctx) {
    return outcome(Task(iscsi_testunitready_sync(ctx.get(), 0)));
}

// Takes the POWER ON unit attention a new nexus gets.
void clear_unit_attention(const Context& ctx) {
    for (int i = 0; i < 3 && test_unit_ready(ctx).status != SCSI_STATUS_GOOD; ++i) {
    }
}

constexpr SenseSeen good{SCSI_STATUS_GOOD, -1, -1};
constexpr SenseSeen state_changed{SCSI_STATUS_CHECK_CONDITION, 0x6, 0x2A06};
constexpr SenseSeen in_standby{SCSI_STATUS_CHECK_CONDITION, 0x2, 0x040B};
constexpr SenseSeen in_unavailable{SCSI_STATUS_CHECK_CONDITION, 0x2, 0x040C};
constexpr SenseSeen in_transition{SCSI_STATUS_CHECK_CONDITION, 0x2, 0x040A};

bool operator==(const SenseSeen& a, const SenseSeen& b) {
    return a.status == b.status && a.key == b.key && a.asc_ascq == b.asc_ascq;
}
std::ostream& operator<<(std::ostream& o, const SenseSeen& s) {
    return o << "status " << s.status << " key " << s.key << " asc/ascq " << std::hex << s.asc_ascq
             << std::dec;
}

TEST(Alua, DiscoveryListsEveryPortalWithItsGroupsTag) {
    DualController array;
    Context ctx = initiator::create_context(host1);
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_DISCOVERY);
    ASSERT_EQ(iscsi_connect_sync(ctx.get(), array.path_a().c_str()), 0);
    ASSERT_EQ(iscsi_login_sync(ctx.get()), 0) << iscsi_get_error(ctx.get());
    iscsi_discovery_address* found = iscsi_discovery_sync(ctx.get());
    ASSERT_NE(found, nullptr);
    std::vector<std::string> portals;
    for (auto* a = found; a != nullptr; a = a->next) {
        EXPECT_STREQ(a->target_name, target);
        for (auto* p = a->portals; p != nullptr; p = p->next) {
            portals.emplace_back(p->portal);
        }
    }
    iscsi_free_discovery_data(ctx.get(), found);
    EXPECT_EQ(portals, (std::vector<std::string>{array.path_a() + ",1", array.path_b() + ",2"}));
}

TEST(Alua, EachPathNamesItsPortAndGroupAndTheSameLogicalUnit) {
    DualController array;
    std::vector<uint8_t> naa[2];
    for (int path = 0; path < 2; ++path) {
        Context ctx = login(path == 0 ? array.path_a() : array.path_b(), host1);
        ASSERT_TRUE(ctx);
        Task standard(iscsi_inquiry_sync(ctx.get(), 0, 0, 0, 255));
        ASSERT_TRUE(standard && standard->status == SCSI_STATUS_GOOD);
        EXPECT_EQ((standard->datain.data[5] >> 4) & 0x3, 0x3) << "TPGS: implicit and explicit";
        Task ids(iscsi_inquiry_sync(ctx.get(), 0, 1, 0x83, 255));
        ASSERT_TRUE(ids && ids->status == SCSI_STATUS_GOOD);
        const uint8_t* p = ids->datain.data;
        const size_t end = std::min<size_t>(4 + (p[2] << 8 | p[3]), ids->datain.size);
        int relative_port = -1;
        int group = -1;
        for (size_t at = 4; at + 4 <= end; at += 4 + p[at + 3]) {
            const uint8_t type = p[at + 1] & 0x0F;
            if (type == 0x3) {
                naa[path].assign(p + at + 4, p + at + 4 + p[at + 3]);
            } else if (type == 0x4) {
                relative_port = p[at + 6] << 8 | p[at + 7];
            } else if (type == 0x5) {
                group = p[at + 6] << 8 | p[at + 7];
            }
        }
        EXPECT_EQ(relative_port, path + 1);
        EXPECT_EQ(group, path + 1);
    }
    EXPECT_FALSE(naa[0].empty());
    EXPECT_EQ(naa[0], naa[1]) << "one logical unit behind both controllers";
}

TEST(Alua, ReportTargetPortGroupsIsTheSameOnEveryPath) {
    DualController array("[alua]\nimplicit_transition_time_s = 10\n");
    Context a = login(array.path_a(), host1);
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    for (const bool extended : {false, true}) {
        const std::vector<uint8_t> via_a = report_groups(a, extended);
        EXPECT_EQ(via_a, report_groups(b, extended)) << "extended " << extended;
        if (extended) {
            ASSERT_GE(via_a.size(), 8U);
            EXPECT_EQ(via_a[4] & 0x70, 0x10) << "FORMAT TYPE 001b";
            EXPECT_EQ(via_a[5], 10) << "IMPLICIT TRANSITION TIME";
        }
        const auto groups = parse_groups(via_a);
        ASSERT_EQ(groups.size(), 2U);
        EXPECT_EQ(groups[0].id, 1);
        EXPECT_EQ(groups[0].state, active_optimized);
        EXPECT_TRUE(groups[0].preferred);
        EXPECT_EQ(groups[0].supported, 0x8F) << "T, U, S, AN and AO supported";
        EXPECT_EQ(groups[0].ports, std::vector<uint16_t>{1});
        EXPECT_EQ(groups[1].id, 2);
        EXPECT_EQ(groups[1].state, active_non_optimized);
        EXPECT_FALSE(groups[1].preferred);
        EXPECT_EQ(groups[1].ports, std::vector<uint16_t>{2});
    }
    // A tiny allocation length gets what fits, no error (SPC-4 §4.2.5.6).
    Task tiny = command(a, {0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0}, 4);
    ASSERT_TRUE(tiny);
    EXPECT_EQ(tiny->status, SCSI_STATUS_GOOD);
    EXPECT_EQ(tiny->datain.size, 4);
}

TEST(Alua, SetTargetPortGroupsFailsOverAndTellsTheOtherNexuses) {
    DualController array;
    Context a = login(array.path_a(), host1);      // host 1's path through controller A
    Context b = login(array.path_b(), host1);      // host 1's path through controller B
    Context other = login(array.path_a(), host2);  // host 2 on controller A
    ASSERT_TRUE(a && b && other);
    for (const Context* c : {&a, &b, &other}) {
        clear_unit_attention(*c);
        EXPECT_EQ(read_block(*c), good);
    }

    // Controller A hands the LUN to B, as an explicit failover.
    Task moved = set_groups(a, {{1, standby}, {2, active_optimized}});
    ASSERT_TRUE(moved);
    EXPECT_EQ(outcome(moved), good);

    // The nexus that asked gets no unit attention; its path is standby now.
    EXPECT_EQ(read_block(a), in_standby);
    // Every other nexus hears of it once, then sees its own path's new state.
    EXPECT_EQ(read_block(b), state_changed);
    EXPECT_EQ(read_block(b), good);
    EXPECT_EQ(test_unit_ready(other), state_changed);
    EXPECT_EQ(read_block(other), in_standby);
    // Standby still answers what a host needs to find another path (SPC-4 §5.16.2.4.4).
    EXPECT_EQ(outcome(Task(iscsi_inquiry_sync(other.get(), 0, 0, 0, 255))), good);
    EXPECT_EQ(outcome(Task(iscsi_reportluns_sync(other.get(), 0, 64))), good);

    const auto groups = parse_groups(report_groups(other, false));
    ASSERT_EQ(groups.size(), 2U);
    EXPECT_EQ(groups[0].state, standby);
    EXPECT_EQ(groups[0].status_code, 0x01) << "altered by SET TARGET PORT GROUPS";
    EXPECT_EQ(groups[1].state, active_optimized);
    EXPECT_EQ(groups[1].status_code, 0x01);

    // B becomes unavailable: 04/0C on its path.
    EXPECT_EQ(outcome(set_groups(other, {{2, unavailable}})), good);
    EXPECT_EQ(read_block(b), state_changed);
    EXPECT_EQ(read_block(b), in_unavailable);
}

TEST(Alua, BadSetTargetPortGroupsChangesNothing) {
    DualController array;
    Context a = login(array.path_a(), host1);
    ASSERT_TRUE(a);
    clear_unit_attention(a);
    const std::vector<uint8_t> before = report_groups(a, false);
    // An unknown group and an illegal state: ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST.
    EXPECT_EQ(outcome(set_groups(a, {{9, standby}})),
              (SenseSeen{SCSI_STATUS_CHECK_CONDITION, 0x5, 0x2600}));
    EXPECT_EQ(outcome(set_groups(a, {{1, standby}, {2, 0x7}})),
              (SenseSeen{SCSI_STATUS_CHECK_CONDITION, 0x5, 0x2600}));
    // A parameter list cut inside a descriptor: PARAMETER LIST LENGTH ERROR.
    Task cut = command(a, {0xA4, 0x0A, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0}, 0, {0, 0, 0, 0, 2, 0});
    EXPECT_EQ(outcome(cut), (SenseSeen{SCSI_STATUS_CHECK_CONDITION, 0x5, 0x1A00}));
    EXPECT_EQ(report_groups(a, false), before);
    EXPECT_EQ(read_block(a), good);
}

TEST(Alua, AnExplicitChangeIsTransitioningForItsTimeThenEndsByItself) {
    DualController array("[alua]\ntransition_time_ms = 300\n");
    Context a = login(array.path_a(), host1);
    Context b = login(array.path_b(), host2);
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    EXPECT_EQ(outcome(set_groups(b, {{1, standby}})), good);
    EXPECT_EQ(read_block(a), in_transition);
    // The daemon's timer ends the transition; the unit attention then waits for each nexus.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    const auto groups = parse_groups(report_groups(b, false));
    ASSERT_EQ(groups.size(), 2U);
    EXPECT_EQ(groups[0].state, standby);
    EXPECT_EQ(read_block(a), state_changed);
    EXPECT_EQ(read_block(a), in_standby);
}

TEST(Alua, TheSameIsidThroughTwoControllersIsTwoSessions) {
    DualController array;
    Context a = initiator::create_context(host1);
    Context b = initiator::create_context(host1);
    for (Context* c : {&a, &b}) {
        iscsi_set_isid_random(c->get(), 0x123456, 0);
        iscsi_set_targetname(c->get(), target);
        iscsi_set_session_type(c->get(), ISCSI_SESSION_NORMAL);
        iscsi_set_noautoreconnect(c->get(), 1);
        iscsi_set_timeout(c->get(), 10);
    }
    ASSERT_EQ(iscsi_full_connect_sync(a.get(), array.path_a().c_str(), 0), 0);
    ASSERT_EQ(iscsi_full_connect_sync(b.get(), array.path_b().c_str(), 0), 0);
    // RFC 7143 §4.4.1: the I_T nexus includes the target portal group; no reinstatement.
    clear_unit_attention(a);
    clear_unit_attention(b);
    EXPECT_EQ(read_block(a), good);
    EXPECT_EQ(read_block(b), good);
}

TEST(Alua, AtsIsAtomicAcrossPaths) {
    DualController array;
    constexpr int rounds = 300;
    std::atomic<int> successes{0};
    auto counter = [&](const std::string& portal, const char* initiator) {
        Context ctx = login(portal, initiator);
        if (!ctx) {
            return;
        }
        clear_unit_attention(ctx);
        for (int i = 0; i < rounds; ++i) {
            Task r(iscsi_read16_sync(ctx.get(), 0, 7, 512, 512, 0, 0, 0, 0, 0));
            if (!r || r->status != SCSI_STATUS_GOOD) {
                ADD_FAILURE() << "READ failed";
                return;
            }
            std::vector<uint8_t> buf(1024);
            std::memcpy(buf.data(), r->datain.data, 512);
            std::memcpy(buf.data() + 512, r->datain.data, 512);
            initiator::store_le64(buf.data() + 512, initiator::load_le64(buf.data()) + 1);
            Task ats(
                iscsi_compareandwrite_sync(ctx.get(), 0, 7, buf.data(), 1024, 512, 0, 0, 0, 0, 0));
            if (ats && ats->status == SCSI_STATUS_GOOD) {
                successes.fetch_add(1);
            }
        }
    };
    std::thread via_a(counter, array.path_a(), host1);
    std::thread via_b(counter, array.path_b(), host2);
    via_a.join();
    via_b.join();
    Context check = login(array.path_a(), host1);
    ASSERT_TRUE(check);
    clear_unit_attention(check);
    Task r(iscsi_read16_sync(check.get(), 0, 7, 512, 512, 0, 0, 0, 0, 0));
    ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD);
    EXPECT_GT(successes.load(), 0);
    EXPECT_EQ(initiator::load_le64(r->datain.data), static_cast<uint64_t>(successes.load()))
        << "every successful ATS, on either path, counted exactly once";
}

TEST(Alua, NonOptimizedPathServesTheMediumAfterItsDelay) {
    DualController array("[alua]\nnon_optimized_delay_ms = 250\n");
    Context b = login(array.path_b(), host1);
    ASSERT_TRUE(b);
    clear_unit_attention(b);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(read_block(b), good);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250))
        << "the secondary controller's configured detour";
}

}  // namespace
}  // namespace atsarray::testing
