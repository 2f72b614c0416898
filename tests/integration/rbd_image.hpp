#pragma once
// Test images on the loopback Ceph cluster (tests/integration/ceph_cluster.hpp) for the tests
// that open RbdStore themselves: the cluster's ceph.conf, removing an image through a client of
// its own (the store has no remove), and a data pattern.

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/integration/ceph_cluster.hpp"

namespace atsarray::testing {

// The cluster's ceph.conf (ceph_conf_path(), looked up once); empty: no cluster.
inline const std::string& rbd_test_conf() {
    static const std::string conf = ceph_conf_path();
    return conf;
}

inline void remove_rbd_image(const std::string& pool, const std::string& image) {
    rados_t cluster = nullptr;
    if (rados_create(&cluster, "admin") < 0) {
        return;
    }
    rados_ioctx_t io = nullptr;
    if (rados_conf_read_file(cluster, rbd_test_conf().c_str()) == 0 &&
        rados_conf_set(cluster, "client_mount_timeout", "10") == 0 && rados_connect(cluster) == 0 &&
        rados_ioctx_create(cluster, pool.c_str(), &io) == 0) {
        rbd_remove(io, image.c_str());
        rados_ioctx_destroy(io);
    }
    rados_shutdown(cluster);
}

// n bytes that differ from block to block and from seed to seed.
inline std::vector<uint8_t> rbd_test_pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
    }
    return v;
}

}  // namespace atsarray::testing
