#include "target/iscsi/path_faults.hpp"

#include <fnmatch.h>

namespace atsarray::iscsi {

void PathFaults::set(std::vector<PathFault> faults) {
    std::vector<std::shared_ptr<const PathFault>> next;
    next.reserve(faults.size());
    for (PathFault& f : faults) {
        next.push_back(std::make_shared<const PathFault>(std::move(f)));
    }
    std::lock_guard lock(mu_);
    faults_ = std::move(next);
}

std::shared_ptr<const PathFault> PathFaults::find(PathFault::Kind kind, uint16_t group,
                                                  std::string_view initiator,
                                                  std::string_view target) const {
    std::lock_guard lock(mu_);
    for (const auto& f : faults_) {
        if (f->kind != kind || (f->group != 0 && f->group != group)) {
            continue;
        }
        if (!f->target.empty() && f->target != target) {
            continue;
        }
        if (!f->initiator.empty() &&
            fnmatch(f->initiator.c_str(), std::string(initiator).c_str(), 0) != 0) {
            continue;
        }
        return f;
    }
    return nullptr;
}

bool PathFaults::empty() const {
    std::lock_guard lock(mu_);
    return faults_.empty();
}

}  // namespace atsarray::iscsi
