#pragma once
// A command trace (trace.hpp) as pcapng (draft-ietf-opsawg-pcapng) that Wireshark's and tshark's
// iSCSI dissector reads: one synthesized TCP stream per session, from the initiator's address to
// the portal it reached (IPv4 over Ethernet; a session whose addresses are not IPv4 gets
// 127.0.0.x addresses of its own and says so in a packet comment), with a three-way handshake,
// then per command, at its recorded times:
//   - a SCSI Command PDU (ITT, CmdSN, LUN, CDB, Expected Data Transfer Length, W/R flags), its
//     Data-Out in Data-Out PDUs (at most 64 KiB each; DataSN, Buffer Offset, F on the last);
//   - at answered_us, its Data-In in Data-In PDUs, and a SCSI Response PDU with the status and
//     the sense data (a response the initiator never saw gets a packet comment saying so).
// Sequence and acknowledgement numbers are consistent, IPv4 and TCP checksums are valid, TCP
// segments carry at most 65,000 bytes (a PDU may span several). Data that the trace did not keep
// (data_out_kept / data_in_kept false) is written as zeros of the recorded length, with a packet
// comment saying so.

#include <string>

#include "formats/trace.hpp"

namespace atsarray::trace {

// The whole file: a Section Header Block, one Interface Description Block (LINKTYPE_ETHERNET,
// microsecond timestamps), an Enhanced Packet Block per segment.
std::string to_pcapng(const Trace& trace);

}  // namespace atsarray::trace
