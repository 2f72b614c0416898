#include "tools/net_fuzz/bystander.hpp"

#include <cstring>
#include <vector>

namespace atsarray::net_fuzz {

using Bytes = std::vector<uint8_t>;

std::string Bystander::check(uint64_t round) {
    if (!ctx_) {
        std::string error;
        ctx_ = atsarray::initiator::login(o_.portal, o_.bystander_target,
                                          o_.initiator + "-bystander", o_.bystander_lun, 10, error);
        if (!ctx_) {
            return "bystander login failed: " + error;
        }
    }
    const uint32_t bs = o_.block_size;
    Bytes first(bs, 0);
    Bytes second(bs, 0);
    for (uint32_t i = 0; i < bs; ++i) {
        first[i] = static_cast<uint8_t>(round + i);
        second[i] = static_cast<uint8_t>(~(round + i));
    }
    const auto good = [](scsi_task* t) {
        atsarray::initiator::Task task(t);
        return task && task->status == SCSI_STATUS_GOOD;
    };
    if (!good(iscsi_write16_sync(ctx_.get(), o_.bystander_lun, o_.bystander_lba, first.data(), bs,
                                 static_cast<int>(bs), 0, 0, 0, 0, 0))) {
        return fail("WRITE(16)");
    }
    if (auto e = read_back(first, "after WRITE"); !e.empty()) {
        return e;
    }
    Bytes ats = first;
    ats.insert(ats.end(), second.begin(), second.end());
    if (!good(iscsi_compareandwrite_sync(ctx_.get(), o_.bystander_lun, o_.bystander_lba, ats.data(),
                                         2 * bs, static_cast<int>(bs), 0, 0, 0, 0, 0))) {
        return fail("COMPARE AND WRITE");
    }
    return read_back(second, "after COMPARE AND WRITE");
}

std::string Bystander::read_back(const Bytes& expected, const char* when) {
    atsarray::initiator::Task t(iscsi_read16_sync(ctx_.get(), o_.bystander_lun, o_.bystander_lba,
                                                  o_.block_size, static_cast<int>(o_.block_size), 0,
                                                  0, 0, 0, 0));
    if (!t || t->status != SCSI_STATUS_GOOD) {
        return fail("READ(16)");
    }
    if (t->datain.size != static_cast<int>(expected.size()) ||
        std::memcmp(t->datain.data, expected.data(), expected.size()) != 0) {
        return std::string("bystander block differs ") + when;
    }
    return {};
}

std::string Bystander::fail(const char* what) {
    std::string e = std::string("bystander ") + what + " failed: " + iscsi_get_error(ctx_.get());
    ctx_.reset();
    return e;
}

}  // namespace atsarray::net_fuzz
