#pragma once
// What a connection knows of the portal it came in on.

#include <cstdint>
#include <optional>
#include <string>

namespace atsarray::iscsi {

// A network portal as sessions see it: where it listens and which target port it is.
struct PortalInfo {
    std::string address;  // "address:port"
    // The target port group (ALUA, SPC-4 §5.16) it belongs to, which is also its iSCSI portal
    // group tag and its relative target port identifier. nullopt without configured groups:
    // the target's own portal_group_tag and relative target port 1.
    std::optional<uint16_t> group;
    // A portal of another gateway of the same array (a remote target port group): this daemon
    // does not listen on it, but SendTargets lists it so that initiators find every path.
    bool remote = false;

    uint16_t portal_group_tag(uint16_t target_tag) const { return group.value_or(target_tag); }
    uint16_t relative_target_port() const { return group.value_or(1); }
};

}  // namespace atsarray::iscsi
