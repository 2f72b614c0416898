#include "tools/net_fuzz/seeds.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <utility>

namespace atsarray::net_fuzz {
namespace {

using wire::Pdu;
using wire::put32;

namespace op = wire::op;

// A request numbered on `c`: the next ITT, the current CmdSN (advanced by the caller when the
// request is not immediate, RFC 7143 §3.2.2.1) and ExpStatSN.
Pdu request(Connection& c, uint8_t opcode, uint8_t flags) {
    Pdu p;
    p.header[0] = opcode;
    p.header[1] = flags;
    put32(p.header, 16, c.next_itt());
    put32(p.header, 24, c.next_cmd_sn());
    put32(p.header, 28, c.exp_stat_sn());
    return p;
}

Pdu scsi_command(Connection& c, const Options& o, std::initializer_list<uint8_t> cdb, uint8_t flags,
                 uint32_t edtl, wire::Bytes immediate = {}) {
    Pdu p = request(c, op::scsi_command, flags);
    p.header[9] = static_cast<uint8_t>(o.lun);
    put32(p.header, 20, edtl);
    size_t i = 32;
    for (uint8_t b : cdb) {
        p.header[i++] = b;
    }
    p.data = std::move(immediate);
    c.advance_cmd_sn();
    return p;
}

}  // namespace

std::vector<Pdu> seed_pdus(Connection& c, const Options& o, std::mt19937_64& rng) {
    const uint32_t bs = o.block_size;
    const uint8_t blocks = static_cast<uint8_t>(1 + rng() % 8);
    const uint8_t lba = static_cast<uint8_t>(8 + rng() % 64);  // away from block 0
    std::vector<Pdu> out;
    switch (rng() % 10) {
        case 0:  // READ(10)
            out.push_back(
                scsi_command(c, o, {0x28, 0, 0, 0, 0, lba, 0, 0, blocks, 0}, 0xC1, blocks * bs));
            break;
        case 1:  // WRITE(10), all immediate
            out.push_back(scsi_command(c, o, {0x2A, 0, 0, 0, 0, lba, 0, 0, blocks, 0}, 0xA1,
                                       blocks * bs, wire::Bytes(blocks * bs, lba)));
            break;
        case 2: {  // WRITE(10), one block immediate, the rest unsolicited Data-Out
            const uint8_t n = static_cast<uint8_t>(blocks + 1);
            Pdu cmd = scsi_command(c, o, {0x2A, 0, 0, 0, 0, lba, 0, 0, n, 0}, 0x21, n * bs,
                                   wire::Bytes(bs, 0x11));
            Pdu data;
            data.header[0] = op::data_out;
            data.header[1] = wire::final_bit;
            data.header[9] = static_cast<uint8_t>(o.lun);
            std::copy_n(cmd.header.begin() + 16, 4, data.header.begin() + 16);  // ITT
            put32(data.header, 20, wire::reserved_tag);
            put32(data.header, 24, c.exp_stat_sn());
            put32(data.header, 40, bs);
            data.data.assign(static_cast<size_t>(n - 1) * bs, 0x22);
            out.push_back(std::move(cmd));
            out.push_back(std::move(data));
            break;
        }
        case 3: {  // COMPARE AND WRITE, one block: verify and write data
            wire::Bytes data(2 * bs, 0);
            out.push_back(scsi_command(c, o, {0x89, 0, 0, 0, 0, 0, 0, 0, 0, lba, 0, 0, 0, 1, 0, 0},
                                       0xA1, 2 * bs, std::move(data)));
            break;
        }
        case 4: {  // NOP-Out ping, immediate
            Pdu p = request(c, op::nop_out | wire::immediate, wire::final_bit);
            put32(p.header, 20, wire::reserved_tag);
            p.data.assign(rng() % 64, 0x5A);
            out.push_back(std::move(p));
            break;
        }
        case 5: {  // Text: SendTargets=All
            Pdu p = request(c, op::text, wire::final_bit);
            put32(p.header, 20, wire::reserved_tag);
            p.data = wire::text_keys({"SendTargets=All"});
            c.advance_cmd_sn();
            out.push_back(std::move(p));
            break;
        }
        case 6: {  // Task Management: ABORT TASK, ABORT TASK SET, LUN RESET, QUERY TASK...
            static constexpr std::array<uint8_t, 6> functions{1, 2, 3, 5, 8, 9};
            const uint8_t function = functions[rng() % functions.size()];
            Pdu p = request(c, op::task_management | wire::immediate, wire::final_bit | function);
            p.header[9] = static_cast<uint8_t>(o.lun);
            put32(p.header, 20, static_cast<uint32_t>(rng() % 16));  // Referenced Task Tag
            out.push_back(std::move(p));
            break;
        }
        case 7: {  // Logout: close the session (rarely: a login follows)
            const uint8_t reason = static_cast<uint8_t>(rng() % 3);
            Pdu p = request(c, op::logout | wire::immediate, wire::final_bit | reason);
            c.advance_cmd_sn();
            out.push_back(std::move(p));
            break;
        }
        case 8:  // WRITE SAME(10): one block of data for several
            out.push_back(scsi_command(c, o, {0x41, 0, 0, 0, 0, lba, 0, 0, blocks, 0}, 0xA1, bs,
                                       wire::Bytes(bs, 0x33)));
            break;
        default:  // READ(16)
            out.push_back(scsi_command(c, o,
                                       {0x88, 0, 0, 0, 0, 0, 0, 0, 0, lba, 0, 0, 0, blocks, 0, 0},
                                       0xC1, blocks * bs));
            break;
    }
    return out;
}

}  // namespace atsarray::net_fuzz
