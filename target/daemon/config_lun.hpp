#pragma once
// One [[target.lun]] (config.hpp's LunConfig): its id, backend and medium, size and block size,
// INQUIRY identity and delays; the keys only an rbd LUN takes are config_rbd's. What must be
// unique across the LUNs (ids within a target, image files and rbd images, serials) is checked
// as they are read, in the config's order.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <toml++/toml.h>

#include "target/daemon/config.hpp"
#include "target/daemon/toml_reader.hpp"

namespace atsarray::daemon {

// An integer number of bytes, or a string "<n>" / "<n> KiB|MiB|GiB|TiB" (a LUN's size, and the
// other sizes of a config). Fails for 0 and for sizes of 2^63 bytes or more.
uint64_t parse_size(const TomlReader& reader, const toml::node& node, const std::string& key);

class LunParser {
  public:
    // `reader` fails with the config's name (ConfigError) and must outlive this object; relative
    // image paths are taken from `base_dir`.
    LunParser(const TomlReader& reader, std::filesystem::path base_dir);

    // What every rocksdb LUN gets: the resolved data_dir and [rocksdb].
    void set_rocksdb(std::string data_dir, RocksDbConfig rocksdb);
    // LUN ids are numbered per target: called before each target's first LUN.
    void begin_target();
    // The LUN at `path` of the target named `target_name` (its serial is derived from both
    // when none is configured).
    LunConfig parse(const toml::table& table, const std::string& path,
                    const std::string& target_name);

  private:
    void check_inquiry_text(const std::string& value, const std::string& key, size_t max) const;

    const TomlReader& reader_;
    std::filesystem::path base_dir_;
    std::map<uint64_t, std::string> lun_ids_;     // LUN id -> key, of the current target
    std::map<std::string, std::string> images_;   // resolved image path -> key that uses it
    std::map<std::string, std::string> serials_;  // serial -> key that uses it
    std::string data_dir_;                        // resolved data_dir, for rocksdb LUNs
    RocksDbConfig rocksdb_;                       // [rocksdb], for rocksdb LUNs
};

}  // namespace atsarray::daemon
