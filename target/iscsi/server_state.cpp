#include "target/iscsi/server_state.hpp"

#include <algorithm>

#include "target/iscsi/connection.hpp"

namespace atsarray::iscsi {

void TargetCatalog::add(TargetNode node) {
    nodes_.push_back(std::make_unique<TargetNode>(std::move(node)));
}

const TargetInfo* TargetCatalog::find(std::string_view name) const {
    const TargetNode* n = node(name);
    return n != nullptr ? &n->info : nullptr;
}

TargetNode* TargetCatalog::node(std::string_view name) const {
    for (const auto& n : nodes_) {
        // iSCSI names compare case-insensitively after stringprep; our names are lower case
        // (RFC 3722), so a plain compare of the lower-cased request suffices.
        if (n->info.name.size() == name.size() &&
            std::equal(name.begin(), name.end(), n->info.name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == b;
            })) {
            return n.get();
        }
    }
    return nullptr;
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
