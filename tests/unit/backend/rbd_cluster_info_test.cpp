// The Ceph cluster's JSON answers as the console's rbd panel reads them (backend/rbd_cluster_info):
// `status`, `osd dump` and `osd perf` of Ceph 16.2 (the shapes measured on the loopback cluster,
// and `osd perf` as a manager answers it, which the test cluster has none of), older shapes, and
// answers that are not what was asked.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/rbd_cluster_info.hpp"

namespace atsarray::backend {
namespace {

// `ceph status -f json` of the loopback cluster with one OSD down (trimmed).
constexpr const char* status_warn = R"({
  "fsid": "502c0236-f850-477f-80a4-3f21eb913adb",
  "health": {"status": "HEALTH_WARN",
             "checks": {"OSD_DOWN": {"severity": "HEALTH_WARN",
                                     "summary": {"message": "1 osds down", "count": 1},
                                     "muted": false}},
             "mutes": []},
  "osdmap": {"epoch": 14, "num_osds": 2, "num_up_osds": 1, "osd_up_since": 1796622486,
             "num_in_osds": 2, "osd_in_since": 1796622485, "num_remapped_pgs": 0},
  "mgrmap": {"available": false, "num_standbys": 0, "modules": ["iostat"], "services": {}}
})";

TEST(RbdClusterInfoParse, StatusGivesHealthChecksOsdsAndManager) {
    ClusterInfo info;
    std::string error;
    ASSERT_TRUE(parse_status(status_warn, info, error)) << error;
    EXPECT_EQ(info.fsid, "502c0236-f850-477f-80a4-3f21eb913adb");
    EXPECT_EQ(info.health, "HEALTH_WARN");
    ASSERT_EQ(info.checks.size(), 1u);
    EXPECT_EQ(info.checks[0].code, "OSD_DOWN");
    EXPECT_EQ(info.checks[0].severity, "HEALTH_WARN");
    EXPECT_EQ(info.checks[0].summary, "1 osds down");
    EXPECT_EQ(info.osds, 2u);
    EXPECT_EQ(info.osds_up, 1u);
    EXPECT_EQ(info.osds_in, 2u);
    EXPECT_FALSE(info.manager);
}

TEST(RbdClusterInfoParse, StatusOfOlderReleasesNestsTheOsdMap) {
    ClusterInfo info;
    std::string error;
    ASSERT_TRUE(parse_status(
        R"({"fsid": "f", "health": {"status": "HEALTH_OK", "checks": {}},
            "osdmap": {"osdmap": {"num_osds": 3, "num_up_osds": 3, "num_in_osds": 3}},
            "mgrmap": {"available": true}})",
        info, error))
        << error;
    EXPECT_EQ(info.health, "HEALTH_OK");
    EXPECT_TRUE(info.checks.empty());
    EXPECT_EQ(info.osds_up, 3u);
    EXPECT_TRUE(info.manager);
}

TEST(RbdClusterInfoParse, AnswersThatAreNotStatusAreRefused) {
    ClusterInfo info;
    std::string error;
    EXPECT_FALSE(parse_status("", info, error));
    EXPECT_FALSE(parse_status("[1, 2]", info, error));
    EXPECT_FALSE(parse_status(R"({"fsid": "f"})", info, error));
    EXPECT_EQ(error, "no health.status");
    std::vector<OsdLatency> osds;
    EXPECT_FALSE(parse_osd_dump("{}", osds, error));
    EXPECT_FALSE(parse_osd_perf(R"({"osdstats": {}})", osds, error));
    EXPECT_TRUE(osds.empty());
}

TEST(RbdClusterInfoParse, OsdDumpThenOsdPerfFillOneRowPerOsd) {
    std::vector<OsdLatency> osds;
    std::string error;
    ASSERT_TRUE(parse_osd_dump(
        R"({"epoch": 14, "osds": [{"osd": 1, "up": 0, "in": 1, "weight": 1},
                                  {"osd": 0, "up": 1, "in": 1, "weight": 1}]})",
        osds, error))
        << error;
    ASSERT_EQ(osds.size(), 2u);
    EXPECT_EQ(osds[0].id, 0);
    EXPECT_TRUE(osds[0].up && osds[0].in);
    EXPECT_EQ(osds[1].id, 1);
    EXPECT_FALSE(osds[1].up);
    EXPECT_TRUE(osds[1].in);
    EXPECT_FALSE(osds[0].commit_latency_ms);

    // 16.2's manager: {"osdstats": {"osd_perf_infos": [...]}}, nanoseconds beside milliseconds.
    ASSERT_TRUE(parse_osd_perf(
        R"({"osdstats": {"osd_perf_infos": [
              {"id": 1, "perf_stats": {"commit_latency_ms": 0, "apply_latency_ms": 0,
                                        "commit_latency_ns": 0, "apply_latency_ns": 0}},
              {"id": 0, "perf_stats": {"commit_latency_ms": 4, "apply_latency_ms": 7,
                                        "commit_latency_ns": 4500000, "apply_latency_ns": 7250000}}
            ]}})",
        osds, error))
        << error;
    ASSERT_EQ(osds.size(), 2u);
    EXPECT_DOUBLE_EQ(*osds[0].commit_latency_ms, 4.5);
    EXPECT_DOUBLE_EQ(*osds[0].apply_latency_ms, 7.25);
    EXPECT_DOUBLE_EQ(*osds[1].commit_latency_ms, 0);  // memstore reports 0

    // Older managers: no wrapper, milliseconds only; an OSD the dump did not list is added.
    ASSERT_TRUE(parse_osd_perf(
        R"({"osd_perf_infos": [{"id": 2, "perf_stats": {"commit_latency_ms": 3,
                                                         "apply_latency_ms": 5}}]})",
        osds, error))
        << error;
    ASSERT_EQ(osds.size(), 3u);
    EXPECT_EQ(osds[2].id, 2);
    EXPECT_DOUBLE_EQ(*osds[2].apply_latency_ms, 5);
}

}  // namespace
}  // namespace atsarray::backend
