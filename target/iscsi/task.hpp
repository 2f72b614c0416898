#pragma once
// One SCSI command as the iSCSI layer tracks it (SPDK's iscsi task): the CDB, the Data-Out
// sequences being received, the data for Data-In, and the scsi::Command handed to the SCSI layer.
// Tasks are pooled per connection and reused, keeping their buffers' capacity.

#include <array>
#include <cstdint>
#include <vector>

#include "target/scsi/command.hpp"

namespace atsarray::iscsi {

struct R2tState {
    uint32_t ttt = 0;
    uint32_t offset = 0;   // buffer offset the R2T asked for
    uint32_t length = 0;   // desired data transfer length
    uint32_t next = 0;     // next offset expected (DataPDUInOrder=Yes)
    uint32_t data_sn = 0;  // next DataSN expected in this sequence
};

struct Task {
    enum class State : uint8_t { receiving, executing };

    uint32_t itt = 0;
    uint32_t cmd_sn = 0;
    bool immediate = false;
    uint64_t lun_field = 0;
    uint64_t lun = 0;
    std::array<uint8_t, 260> cdb{};
    uint16_t cdb_length = 0;
    uint32_t expected_length = 0;  // Expected Data Transfer Length
    bool read = false;
    bool write = false;
    State state = State::receiving;
    bool aborted = false;
    // Task management requests waiting for this task to end (an ABORT TASK, then a LUN reset).
    std::vector<uint32_t> waiting_tmfs;

    // Data-Out reception (RFC 7143 §10.7, §11.7).
    std::vector<uint8_t> data_out;
    uint32_t received = 0;
    uint32_t unsolicited_end = 0;   // immediate + unsolicited data end here
    uint32_t unsolicited_next = 0;  // next unsolicited offset expected
    uint32_t unsolicited_data_sn = 0;
    uint32_t solicit_next = 0;   // next offset an R2T will ask for
    uint32_t r2t_sn = 0;         // R2Ts sent so far
    std::vector<R2tState> r2ts;  // outstanding

    std::vector<uint8_t> data_in;
    uint32_t data_in_pdus = 0;
    scsi::Command cmd;

    // Memory accounting (TaskManager): admitted to execute or to be sent R2Ts, and the bytes of
    // its buffers it holds against the connection's and the daemon's budgets.
    bool admitted = false;
    uint64_t held = 0;

    void reset() {
        itt = cmd_sn = 0;
        immediate = aborted = read = write = admitted = false;
        held = 0;
        lun_field = lun = 0;
        cdb_length = 0;
        expected_length = received = unsolicited_end = unsolicited_next = 0;
        unsolicited_data_sn = solicit_next = r2t_sn = data_in_pdus = 0;
        waiting_tmfs.clear();
        state = State::receiving;
        // Pooled tasks keep small buffers for the next command and give large ones back: a
        // pool of 8 MiB reads must not stay resident once the burst is over.
        shrink(data_out);
        shrink(data_in);
        r2ts.clear();
        cmd = scsi::Command{};
    }

    static constexpr size_t kept_buffer_capacity = 256 * 1024;
    static void shrink(std::vector<uint8_t>& buffer) {
        if (buffer.capacity() > kept_buffer_capacity) {
            std::vector<uint8_t>().swap(buffer);
        } else {
            buffer.clear();
        }
    }
};

}  // namespace atsarray::iscsi
