#pragma once
// What the daemon's start (daemon.cpp) and its live changes (live_config.cpp, live_targets.cpp)
// share: names and texts of the configuration's parts
// for messages, the log and the TOML a change is made to.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "target/daemon/config.hpp"
#include "target/iscsi/login_negotiation.hpp"

namespace atsarray::daemon::live_detail {

// Targets and initiators are iSCSI names, which compare without case (RFC 3722).
bool same_name(std::string_view a, std::string_view b);

// "1 GiB", "512 MiB", "4096 bytes": a size for the log and the console.
std::string size_text(uint64_t bytes);

// Where a LUN's data is, for the log: "file /x.img", "rocksdb data/rocksdb", "memory".
std::string medium_text(const LunConfig& lun);

// The [[target.lun]] array of the `target`-th [[target]] of a configuration's TOML.
toml::array& lun_array(toml::table& root, size_t target);

// "target[1].lun[2]": where a LUN is in the configuration, as its messages say.
std::string lun_key(size_t target, size_t lun);

// The index of LUN `id` in target.luns; npos when it has none.
size_t lun_position(const TargetConfig& target, uint64_t id);

std::optional<iscsi::ChapSecret> to_secret(const std::optional<ChapCredentials>& c);

// What logins to the target are checked against (its ACL and CHAP credentials) and what
// SendTargets and the login answer name.
iscsi::TargetInfo target_info(const TargetConfig& tc);

}  // namespace atsarray::daemon::live_detail
