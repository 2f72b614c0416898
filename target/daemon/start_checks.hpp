#pragma once
// The start-up checks of the file system (README "Configuration"): what the config names must
// be usable as it is before anything is opened or created. The parser checks what the text alone
// decides (types, ranges, a size that is a multiple of the block size); these checks look at the
// disk: a LUN image's folder must exist (atsarray creates an image, never its folder: a typo in
// the path would give the hosts a blank disk with a new identity; data_dir is the exception, made
// with its missing parents below the config's folder), an image path must not be a folder,
// data_dir must be a folder, and a size must fit in one file of the image's file system.

#include "target/daemon/config.hpp"

namespace atsarray::daemon {

// Throws ConfigError "<config file>: <key>: <problem>" (exit status 2) for the first problem;
// creates nothing.
void check_start_paths(const DaemonConfig& config);

// data_dir, the one folder atsarray makes (0777 & ~umask, with missing parents below the
// config's folder), on the first start of a config with a RocksDB LUN or an image in a folder
// that is data_dir or on its way. After check_start_paths.
void create_data_dir(const DaemonConfig& config);

}  // namespace atsarray::daemon
