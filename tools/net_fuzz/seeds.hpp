#pragma once
// The valid PDUs a mutation starts from: SCSI commands (READ, WRITE with immediate and
// unsolicited data, COMPARE AND WRITE, WRITE SAME), NOP-Out, Text, Task Management, Logout.

#include <random>
#include <vector>

#include "tools/iscsi_wire/wire.hpp"
#include "tools/net_fuzz/connection.hpp"
#include "tools/net_fuzz/options.hpp"

namespace atsarray::net_fuzz {

// One or two PDUs, numbered (ITT, CmdSN) on `c`, chosen and filled as `rng` says.
std::vector<wire::Pdu> seed_pdus(Connection& c, const Options& o, std::mt19937_64& rng);

}  // namespace atsarray::net_fuzz
