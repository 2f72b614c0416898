#pragma once
// [[target_port_group]] and [alua] (config.hpp's PortGroupConfig and AluaSettings): read after
// the portals, since a group names its portals by "address:port".

#include <toml++/toml.h>

#include "target/daemon/config.hpp"
#include "target/daemon/toml_reader.hpp"

namespace atsarray::daemon {

// Fills config.port_groups, config.alua and each portal's group. Fails (ConfigError) for a group
// without portals, a portal that is no [[portal]] or in two groups, a portal in no group, a
// duplicate id or name, and [alua] without groups.
void parse_target_port_groups(const TomlReader& reader, const toml::table& root,
                              DaemonConfig& config);

}  // namespace atsarray::daemon
