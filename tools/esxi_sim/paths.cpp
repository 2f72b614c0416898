#include "tools/esxi_sim/paths.hpp"

#include <algorithm>
#include <cstdio>

namespace atsarray::sim {
namespace {

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// SCSI status and sense keys (SAM-5 §5.3, SPC-4 §4.5.6).
constexpr int status_good = 0x00;
constexpr int status_check_condition = 0x02;
constexpr int status_busy = 0x08;
constexpr int status_task_set_full = 0x28;
constexpr int key_not_ready = 0x2;
constexpr int key_unit_attention = 0x6;
constexpr int key_miscompare = 0xE;

AluaState state_from(uint8_t bits) {
    switch (bits & 0x0f) {
        case 0x0:
            return AluaState::active_optimized;
        case 0x1:
            return AluaState::active_non_optimized;
        case 0x2:
            return AluaState::standby;
        case 0x3:
            return AluaState::unavailable;
        case 0xF:
            return AluaState::transitioning;
        default:
            return AluaState::unknown;  // offline, LBA dependent: not used by this host
    }
}

}  // namespace

const char* tpg_state_name(AluaState state) {
    switch (state) {
        case AluaState::active_optimized:
            return "AO";
        case AluaState::active_non_optimized:
            return "ANO";
        case AluaState::standby:
            return "STBY";
        case AluaState::unavailable:
            return "UNAV";
        case AluaState::transitioning:
            return "TRANS";
        case AluaState::unknown:
            break;
    }
    return "UNKNOWN";
}

const char* path_state_name(PathState state) {
    return state == PathState::on ? "on" : "dead";
}

std::optional<std::vector<PortGroup>> parse_report_target_port_groups(
    std::span<const uint8_t> data) {
    if (data.size() < 4) {
        return std::nullopt;
    }
    // RETURN DATA LENGTH counts the bytes after the 4-byte field; FORMAT TYPE 1h (byte 4 bits
    // 6-4) means the extended header with IMPLICIT TRANSITION TIME (§6.36 Table 261).
    const size_t length = be32(data.data());
    size_t at = 4;
    if (data.size() >= 8 && ((data[4] >> 4) & 0x7) == 0x1) {
        at = 8;
    }
    const size_t end = 4 + length;
    if (end > data.size() || end < at) {
        return std::nullopt;
    }
    std::vector<PortGroup> groups;
    while (at < end) {
        if (at + 8 > end) {
            return std::nullopt;
        }
        const uint8_t* d = data.data() + at;
        PortGroup g;
        g.preferred = (d[0] & 0x80) != 0;
        g.state = state_from(d[0]);
        g.id = be16(d + 2);
        g.status_code = d[5];
        const size_t ports = d[7];
        if (at + 8 + 4 * ports > end) {
            return std::nullopt;
        }
        for (size_t i = 0; i < ports; ++i) {
            g.relative_target_ports.push_back(be16(d + 8 + 4 * i + 2));
        }
        groups.push_back(std::move(g));
        at += 8 + 4 * ports;
    }
    return groups;
}

std::vector<uint8_t> report_target_port_groups_cdb(uint32_t allocation_length) {
    std::vector<uint8_t> cdb(12, 0);
    cdb[0] = 0xA3;         // MAINTENANCE IN
    cdb[1] = 0x20 | 0x0A;  // PARAMETER DATA FORMAT 001b (extended), REPORT TARGET PORT GROUPS
    cdb[6] = static_cast<uint8_t>(allocation_length >> 24);
    cdb[7] = static_cast<uint8_t>(allocation_length >> 16);
    cdb[8] = static_cast<uint8_t>(allocation_length >> 8);
    cdb[9] = static_cast<uint8_t>(allocation_length);
    return cdb;
}

PortIdentity parse_device_identification(std::span<const uint8_t> data) {
    PortIdentity out;
    if (data.size() < 4 || data[1] != 0x83) {
        return out;
    }
    const size_t end = std::min(data.size(), size_t{4} + be16(data.data() + 2));
    for (size_t at = 4; at + 4 <= end;) {
        const uint8_t* d = data.data() + at;
        const size_t len = d[3];
        if (at + 4 + len > end) {
            break;
        }
        const int type = d[1] & 0x0f;
        const int association = (d[1] >> 4) & 0x3;
        if (type == 0x4 && association == 0x1 && len >= 4) {
            out.relative_target_port = be16(d + 4 + 2);
        } else if (type == 0x5 && association == 0x1 && len >= 4) {
            out.target_port_group = be16(d + 4 + 2);
        } else if (type == 0x3 && association == 0x0 && out.naa.empty()) {
            out.naa = "naa.";
            for (size_t i = 0; i < len; ++i) {
                char hex[3];
                std::snprintf(hex, sizeof hex, "%02x", d[4 + i]);
                out.naa += hex;
            }
        }
        at += 4 + len;
    }
    return out;
}

Verdict classify(int status, int sense_key, int asc, int ascq) {
    if (status == status_good) {
        return Verdict::good;
    }
    if (status == status_busy || status == status_task_set_full) {
        return Verdict::queue_full;
    }
    if (status != status_check_condition) {
        return Verdict::failed;
    }
    if (sense_key == key_miscompare) {
        return Verdict::miscompare;
    }
    if (sense_key == key_unit_attention) {
        // SPC-4 §5.16.2.6: ASYMMETRIC ACCESS STATE CHANGED.
        return asc == 0x2A && ascq == 0x06 ? Verdict::state_changed : Verdict::reissue;
    }
    if (sense_key == key_not_ready && asc == 0x04) {
        // SPC-4 §5.16.2.4: LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION
        // (0Ah), TARGET PORT IN STANDBY STATE (0Bh), TARGET PORT IN UNAVAILABLE STATE (0Ch).
        switch (ascq) {
            case 0x0A:
                return Verdict::transitioning;
            case 0x0B:
                return Verdict::standby;
            case 0x0C:
                return Verdict::unavailable;
            default:
                break;
        }
    }
    return Verdict::failed;
}

bool is_alua_failover(Verdict v) {
    return v == Verdict::state_changed || v == Verdict::standby || v == Verdict::unavailable ||
           v == Verdict::transitioning;
}

bool PathSelector::update_groups(const std::vector<PortGroup>& groups) {
    bool changed = groups.size() != groups_.size();
    for (const PortGroup& g : groups) {
        const auto it = std::find_if(groups_.begin(), groups_.end(),
                                     [&g](const PortGroup& o) { return o.id == g.id; });
        changed = changed || it == groups_.end() || it->state != g.state;
    }
    groups_ = groups;
    return changed;
}

const PortGroup* PathSelector::group_of(size_t path) const {
    const auto& id = paths_.at(path).group;
    if (!id) {
        return nullptr;
    }
    const auto it = std::find_if(groups_.begin(), groups_.end(),
                                 [&id](const PortGroup& g) { return g.id == *id; });
    return it == groups_.end() ? nullptr : &*it;
}

AluaState PathSelector::group_state(size_t path) const {
    const PortGroup* g = group_of(path);
    return g == nullptr ? AluaState::unknown : g->state;
}

void PathSelector::set_group_state_of(size_t path, AluaState state) {
    const auto& id = paths_.at(path).group;
    if (!id) {
        return;
    }
    for (PortGroup& g : groups_) {
        if (g.id == *id) {
            g.state = state;
        }
    }
}

// Before RTPG has been read (or on a target without ALUA) a path that is on counts as active.
int PathSelector::rank(size_t path) const {
    if (paths_.at(path).state != PathState::on) {
        return -1;
    }
    switch (group_state(path)) {
        case AluaState::active_optimized:
        case AluaState::unknown:
            return 0;
        case AluaState::active_non_optimized:
            return 1;
        default:
            return -1;
    }
}

bool PathSelector::usable(size_t path) const {
    return rank(path) >= 0;
}

std::optional<size_t> PathSelector::best(std::optional<size_t> excluded) const {
    std::optional<size_t> out;
    auto better = [this](size_t a, size_t b) {
        if (rank(a) != rank(b)) {
            return rank(a) < rank(b);
        }
        const PortGroup* ga = group_of(a);
        const PortGroup* gb = group_of(b);
        const bool pa = ga != nullptr && ga->preferred;
        const bool pb = gb != nullptr && gb->preferred;
        return pa && !pb;
    };
    for (size_t i = 0; i < paths_.size(); ++i) {
        if (usable(i) && i != excluded && (!out || better(i, *out))) {
            out = i;
        }
    }
    return out;
}

std::optional<size_t> PathSelector::select(bool reevaluate) {
    if (active_ && usable(*active_) && !reevaluate) {
        return active_;
    }
    const std::optional<size_t> b = best(std::nullopt);
    if (!b) {
        return std::nullopt;
    }
    // MRU: among paths as good as the best, the one in use stays.
    if (active_ && usable(*active_) && rank(*active_) == rank(*b)) {
        return active_;
    }
    active_ = b;
    return active_;
}

std::optional<size_t> PathSelector::fail_over(size_t from) {
    if (const std::optional<size_t> b = best(from)) {
        active_ = b;
        return active_;
    }
    return select(false);
}

bool PathSelector::only_transitioning() const {
    bool transitioning = false;
    for (size_t i = 0; i < paths_.size(); ++i) {
        if (usable(i)) {
            return false;
        }
        transitioning = transitioning || (paths_[i].state == PathState::on &&
                                          group_state(i) == AluaState::transitioning);
    }
    return transitioning;
}

std::optional<DiscoveredPortal> parse_send_targets_portal(const std::string& text,
                                                          const std::string& discovery_host) {
    // RFC 7143 §13.8 / Appendix C: TargetAddress=domainname[:port][,portal-group-tag].
    DiscoveredPortal out;
    std::string address = text;
    const size_t comma = text.rfind(',');
    if (comma != std::string::npos) {
        address = text.substr(0, comma);
        const std::string tag = text.substr(comma + 1);
        if (tag.empty() || tag.size() > 5 ||
            !std::all_of(tag.begin(), tag.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return std::nullopt;
        }
        const unsigned long v = std::stoul(tag);
        if (v > 65535) {
            return std::nullopt;
        }
        out.tpgt = static_cast<uint16_t>(v);
    }
    std::string host = address;
    std::string port = "3260";
    if (!address.empty() && address.front() == '[') {
        const size_t close = address.find(']');
        if (close == std::string::npos) {
            return std::nullopt;
        }
        host = address.substr(0, close + 1);
        if (close + 1 < address.size()) {
            if (address[close + 1] != ':') {
                return std::nullopt;
            }
            port = address.substr(close + 2);
        }
    } else if (const size_t colon = address.rfind(':'); colon != std::string::npos) {
        host = address.substr(0, colon);
        port = address.substr(colon + 1);
    }
    if (host.empty() || port.empty()) {
        return std::nullopt;
    }
    if (host == "0.0.0.0" || host == "[::]") {
        host = discovery_host;
    }
    out.portal = host + ":" + port;
    return out;
}

}  // namespace atsarray::sim
