#pragma once
// The fuzzed connection: a login straight into full feature phase over a plain socket, then
// whatever bytes the fuzzer sends. What the target sends back is read only to keep the session
// going: R2Ts are answered, NOP-In pings too, and CmdSN follows ExpCmdSN.

#include <cstdint>
#include <random>
#include <span>
#include <string>

#include "tools/iscsi_wire/wire.hpp"
#include "tools/net_fuzz/options.hpp"

namespace atsarray::net_fuzz {

class Connection {
  public:
    explicit Connection(const Options& o) : o_(o) {}
    ~Connection() { close(); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool open() const { return fd_ >= 0; }
    wire::Digests digests() const { return digests_; }
    uint32_t next_cmd_sn() const { return cmd_sn_; }
    void advance_cmd_sn() { ++cmd_sn_; }
    uint32_t next_itt() { return itt_++; }
    uint32_t exp_stat_sn() const { return exp_stat_sn_; }

    void close();

    // Connects and logs straight into full feature phase (operational stage, no security: the
    // fuzzed target must not require CHAP). Digests and ISID as `rng` says. false: no session.
    bool login(std::mt19937_64& rng, std::string& error);

    // false when the target closed the connection (or stopped reading for 2 s).
    bool send(const wire::Bytes& bytes);

    // Reads what the target sent within `timeout_ms`, answers R2Ts and NOP-In pings, follows
    // ExpCmdSN. false when the connection closed.
    bool drain(int timeout_ms);

  private:
    bool connect_portal(std::string& error);
    bool parse_input();
    void on_pdu(std::span<const uint8_t> bhs);

    const Options& o_;
    int fd_ = -1;
    wire::Digests digests_;
    uint32_t cmd_sn_ = 1;
    uint32_t itt_ = 1;
    uint32_t exp_stat_sn_ = 0;
    wire::Bytes in_;
};

}  // namespace atsarray::net_fuzz
