#pragma once
// Where a test finds the loopback Ceph cluster (tests/ceph/CMakeLists.txt, scripts/ceph-cluster).
//
//   const std::string conf = atsarray::testing::ceph_conf_path();
//   if (conf.empty()) {
//       GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture ceph_cluster)";
//   }
//
// Under ctest and scripts/test the fixture `ceph_cluster` always provides one (or fails), so the
// skip only happens when a test binary is run by hand without a cluster.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace atsarray::testing {

// The ceph.conf of the test cluster: the environment's CEPH_CONF first, then the path the
// fixture's setup wrote to <build>/tests/ceph/ceph_conf_path (ATSARRAY_CEPH_CONF_PATH_FILE when
// the target was declared with atsarray_ceph_gtest(); else found from this executable's build
// folder, the nearest parent holding CMakeCache.txt). That file's second line is a CEPH_CONF the
// setup found not answering (it started a cluster of its own then): an environment naming that
// one gets the fixture's cluster. Empty when nothing names an existing file.
inline std::string ceph_conf_path() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path path_file;
#ifdef ATSARRAY_CEPH_CONF_PATH_FILE
    path_file = ATSARRAY_CEPH_CONF_PATH_FILE;
#else
    for (fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
         !ec && !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
        if (fs::exists(dir / "CMakeCache.txt", ec)) {
            path_file = dir / "tests" / "ceph" / "ceph_conf_path";
            break;
        }
    }
#endif
    std::string fixture_conf;
    std::string not_answering;
    if (!path_file.empty()) {
        std::ifstream in(path_file);
        std::getline(in, fixture_conf);
        std::getline(in, not_answering);
    }
    const char* env = std::getenv("CEPH_CONF");
    if (env != nullptr && *env != '\0' && env != not_answering && fs::is_regular_file(env, ec)) {
        return env;
    }
    if (!fixture_conf.empty() && fs::is_regular_file(fixture_conf, ec)) {
        return fixture_conf;
    }
    return {};
}

}  // namespace atsarray::testing
