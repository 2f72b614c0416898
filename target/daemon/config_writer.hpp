#pragma once
// The running configuration written back as TOML (issue 19: `config save`, GET /api/v1/config):
// what load_config() reads back into the same DaemonConfig. Every key is written with its value,
// defaults included, paths resolved (absolute); comments and the order of the original file do
// not survive. A fault preset is written as the rules it added.

#include <string>

#include <toml++/toml.h>

#include "target/daemon/config.hpp"

namespace atsarray::daemon {

// One [[target.lun]] as the config file writes it.
toml::table lun_table(const LunConfig& lun);
// One [[target]] with its LUNs; `groups`: the config has [[target_port_group]]s (then the target
// has no portal_group_tag).
toml::table target_table(const TargetConfig& target, bool groups);
// The whole configuration.
toml::table config_table(const DaemonConfig& config);
// The TOML text of config_table(), with a header line saying where it came from.
std::string write_config(const DaemonConfig& config);

// Writes `text` to `path` atomically: a temporary file in the same folder, fsync, the previous
// file renamed to `<path>.bak`, the new one renamed into place, the folder fsynced. Returns an
// empty string, or what failed (the file at `path` is then unchanged).
std::string save_file_atomically(const std::string& path, const std::string& text);

}  // namespace atsarray::daemon
