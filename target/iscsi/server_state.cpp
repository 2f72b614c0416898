#include "target/iscsi/server_state.hpp"

#include <algorithm>

#include "target/iscsi/connection.hpp"

namespace atsarray::iscsi {

void TargetCatalog::add(TargetNode node) {
    auto access = std::make_shared<const TargetInfo>(node.info);
    std::lock_guard lock(mu_);
    entries_.push_back({std::make_shared<TargetNode>(std::move(node)), std::move(access)});
}

const TargetCatalog::Entry* TargetCatalog::entry_locked(std::string_view name) const {
    for (const Entry& e : entries_) {
        const std::string& own = e.node->info.name;
        // iSCSI names compare case-insensitively after stringprep; our names are lower case
        // (RFC 3722), so a plain compare of the lower-cased request suffices.
        if (own.size() == name.size() &&
            std::equal(name.begin(), name.end(), own.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == b;
            })) {
            return &e;
        }
    }
    return nullptr;
}

std::shared_ptr<TargetNode> TargetCatalog::remove(std::string_view name) {
    std::lock_guard lock(mu_);
    const Entry* e = entry_locked(name);
    if (e == nullptr) {
        return nullptr;
    }
    auto node = e->node;
    entries_.erase(entries_.begin() + (e - entries_.data()));
    return node;
}

std::shared_ptr<const TargetInfo> TargetCatalog::find(std::string_view name) const {
    std::lock_guard lock(mu_);
    const Entry* e = entry_locked(name);
    return e != nullptr ? e->access : nullptr;
}

std::shared_ptr<const TargetInfo> TargetCatalog::access(const TargetNode& node) const {
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) {
        if (e.node.get() == &node) {
            return e.access;
        }
    }
    return std::make_shared<const TargetInfo>(node.info);  // removed: as it was added
}

bool TargetCatalog::set_access(std::string_view name, const TargetInfo& info) {
    std::lock_guard lock(mu_);
    auto* e = const_cast<Entry*>(entry_locked(name));
    if (e == nullptr) {
        return false;
    }
    auto next = std::make_shared<TargetInfo>(*e->access);
    next->allowed_initiators = info.allowed_initiators;
    next->chap = info.chap;
    next->mutual_chap = info.mutual_chap;
    next->require_mutual = info.require_mutual;
    e->access = std::move(next);
    return true;
}

std::shared_ptr<TargetNode> TargetCatalog::node(std::string_view name) const {
    std::lock_guard lock(mu_);
    const Entry* e = entry_locked(name);
    return e != nullptr ? e->node : nullptr;
}

std::vector<std::shared_ptr<TargetNode>> TargetCatalog::nodes() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<TargetNode>> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) {
        out.push_back(e.node);
    }
    return out;
}

void PortalList::assign(std::vector<PortalInfo> portals) {
    auto next = std::make_shared<const std::vector<PortalInfo>>(std::move(portals));
    std::lock_guard lock(mu_);
    list_ = std::move(next);
}

void PortalList::add(PortalInfo portal) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<std::vector<PortalInfo>>(*list_);
    // This daemon's own portals first, the other gateways' (remote) after them.
    const auto at =
        std::find_if(next->begin(), next->end(), [](const PortalInfo& p) { return p.remote; });
    next->insert(portal.remote ? next->end() : at, std::move(portal));
    list_ = std::move(next);
}

bool PortalList::remove(std::string_view address) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<std::vector<PortalInfo>>(*list_);
    if (std::erase_if(*next, [&](const PortalInfo& p) { return p.address == address; }) == 0) {
        return false;
    }
    list_ = std::move(next);
    return true;
}

uint16_t SessionTable::allocate_tsih() {
    std::lock_guard lock(mu_);
    for (;;) {
        const uint16_t tsih = next_tsih_++;
        if (next_tsih_ == 0) {
            next_tsih_ = 1;  // TSIH 0 is reserved for "new session" (RFC 7143 §11.12.6)
        }
        const bool used = std::any_of(entries_.begin(), entries_.end(),
                                      [tsih](const Entry& e) { return e.tsih == tsih; });
        if (tsih != 0 && !used) {
            return tsih;
        }
    }
}

std::shared_ptr<Connection> SessionTable::add(const std::string& initiator_name, uint64_t isid,
                                              const std::string& target_name,
                                              uint16_t portal_group_tag, uint16_t tsih,
                                              const std::shared_ptr<Connection>& conn) {
    std::lock_guard lock(mu_);
    std::shared_ptr<Connection> previous;
    for (auto it = entries_.begin(); it != entries_.end();) {
        if ((it->initiator_name == initiator_name && it->isid == isid &&
             it->target_name == target_name && it->portal_group_tag == portal_group_tag) ||
            it->tsih == tsih) {
            previous = it->conn.lock();
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    entries_.push_back({initiator_name, isid, target_name, portal_group_tag, tsih, conn});
    return previous;
}

void SessionTable::remove(uint16_t tsih, const Connection* conn) {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [&](const Entry& e) {
        const auto live = e.conn.lock();
        return e.tsih == tsih && (live == nullptr || live.get() == conn);
    });
}

std::shared_ptr<Connection> SessionTable::find(uint16_t tsih) const {
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) {
        if (e.tsih == tsih) {
            return e.conn.lock();
        }
    }
    return nullptr;
}

std::vector<std::shared_ptr<Connection>> SessionTable::snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Connection>> out;
    for (const Entry& e : entries_) {
        if (auto c = e.conn.lock()) {
            out.push_back(std::move(c));
        }
    }
    return out;
}

size_t SessionTable::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

}  // namespace atsarray::iscsi
