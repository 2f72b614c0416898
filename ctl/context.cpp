#include <ostream>

#include "ctl/commands.hpp"

namespace atsarray::ctl {

void Context::print_json(const nlohmann::json& value) const {
    out << value.dump(2) << '\n';
}

}  // namespace atsarray::ctl
