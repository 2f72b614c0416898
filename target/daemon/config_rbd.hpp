#pragma once
// The keys of a LUN with backend "rbd" (config.hpp's RbdLunConfig): an RBD image of a Ceph
// cluster, which several atsarray gateways may export at once.

#include <array>
#include <filesystem>
#include <string_view>

#include <toml++/toml.h>

#include "target/daemon/config.hpp"
#include "target/daemon/toml_reader.hpp"

namespace atsarray::daemon {

// The target.lun keys only an rbd LUN takes.
inline constexpr std::array<std::string_view, 7> rbd_lun_keys = {
    "pool", "image", "ceph_conf", "client", "keyring", "create", "timeout_s"};

// Fills lun.rbd from `table` (the LUN at `path`, whose backend is already read). For an rbd LUN:
// pool and image are required, `size` is required with create = true (the image's size is the
// LUN's otherwise), ceph_conf defaults to $CEPH_CONF, then /etc/ceph/ceph.conf (relative paths
// are taken from `base_dir`). For any other backend, an rbd key fails naming the backend.
void parse_rbd_lun(const TomlReader& reader, const toml::table& table, const std::string& path,
                   const std::filesystem::path& base_dir, LunConfig& lun);

}  // namespace atsarray::daemon
