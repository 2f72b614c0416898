#pragma once
// What net-fuzz does to a serialized PDU: bit flips, opcodes, flags, data segment and AHS
// lengths, CmdSN, Expected Data Transfer Length, LUN, CDB bytes, digests, truncation,
// repetition.

#include <random>
#include <string>

#include "tools/iscsi_wire/wire.hpp"

namespace atsarray::net_fuzz {

// Mutates one serialized PDU in place; returns what it did, for --verbose. `send_twice` is set
// when the mutation is "send it again".
std::string mutate(wire::Bytes& bytes, bool& send_twice, std::mt19937_64& rng);

// After a mutation of the header or the data, the digests are computed again (most of the time):
// a digest that no longer matches ends the connection at the first check, and the mutated field
// behind it would never be read.
void refresh_digests(wire::Bytes& bytes, wire::Digests digests);

}  // namespace atsarray::net_fuzz
