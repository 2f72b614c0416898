#include "tools/ats_counter_run.hpp"

#include <atomic>
#include <cstdarg>
#include <cstring>
#include <thread>

#include "tools/libiscsi_handles.hpp"

namespace atsarray::initiator {
namespace {

using Options = CounterOptions;

Context connect(const Options& o, const std::string& name, std::string& error) {
    Context ctx = create_context(name);
    iscsi_set_targetname(ctx.get(), o.target.c_str());
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx.get(), ISCSI_HEADER_DIGEST_NONE_CRC32C);
    if (iscsi_full_connect_sync(ctx.get(), o.portal.c_str(), o.lun) != 0) {
        error = iscsi_get_error(ctx.get());
        return nullptr;
    }
    return ctx;
}

// printf to `out` unless it is nullptr.
void say(std::FILE* out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void say(std::FILE* out, const char* format, ...) {
    if (out == nullptr) {
        return;
    }
    va_list args;
    va_start(args, format);
    std::vfprintf(out, format, args);
    va_end(args);
}

}  // namespace

CounterReport run_ats_counter(const CounterOptions& o, std::FILE* out) {
    CounterReport report;
    std::FILE* err_out = out != nullptr ? stderr : nullptr;
    std::string error;
    Context setup = connect(o, o.initiator_prefix + "-setup", error);
    if (!setup) {
        say(err_out, "ats-counter: cannot log in to %s at %s: %s\n", o.target.c_str(),
            o.portal.c_str(), error.c_str());
        report.exit_status = 2;
        return report;
    }
    Task cap(iscsi_readcapacity16_sync(setup.get(), o.lun));
    scsi_readcapacity16* rc16 =
        cap ? static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(cap.get())) : nullptr;
    if (rc16 == nullptr || o.lba == 0 || o.lba + 1 > rc16->returned_lba) {
        say(err_out, "ats-counter: READ CAPACITY failed or --lba out of range\n");
        report.exit_status = 2;
        return report;
    }
    const int bs = static_cast<int>(rc16->block_length);
    // Start from a zero counter.
    std::vector<uint8_t> zero(static_cast<size_t>(bs), 0);
    Task init(iscsi_write16_sync(setup.get(), o.lun, o.lba, zero.data(), static_cast<uint32_t>(bs),
                                 bs, 0, 0, 1, 0, 0));
    if (!init || init->status != SCSI_STATUS_GOOD) {
        say(err_out, "ats-counter: cannot initialise the counter block\n");
        report.exit_status = 2;
        return report;
    }

    std::vector<CounterSession>& results = report.sessions;
    results.resize(static_cast<size_t>(o.sessions));
    std::atomic<int> incrementers_left{o.sessions};
    std::vector<std::thread> threads;
    for (int i = 0; i < o.sessions; ++i) {
        threads.emplace_back([&, i] {
            CounterSession& r = results[static_cast<size_t>(i)];
            r.initiator_name = o.initiator_prefix + "-" + std::to_string(i);
            std::string err;
            Context ctx = connect(o, r.initiator_name, err);
            if (!ctx) {
                r.error = err;
                --incrementers_left;
                return;
            }
            std::vector<uint8_t> buf(static_cast<size_t>(2 * bs));
            while (r.successes < static_cast<uint64_t>(o.increments)) {
                Task rd(iscsi_read16_sync(ctx.get(), o.lun, o.lba, static_cast<uint32_t>(bs), bs, 0,
                                          0, 0, 0, 0));
                if (!rd || rd->status != SCSI_STATUS_GOOD || rd->datain.size != bs) {
                    ++r.errors;
                    r.error = iscsi_get_error(ctx.get());
                    break;
                }
                std::memcpy(buf.data(), rd->datain.data, static_cast<size_t>(bs));
                std::memcpy(buf.data() + bs, rd->datain.data, static_cast<size_t>(bs));
                const uint64_t seen = load_le64(buf.data());
                store_le64(buf.data() + bs, seen + 1);
                Task caw(iscsi_compareandwrite_sync(ctx.get(), o.lun, o.lba, buf.data(),
                                                    static_cast<uint32_t>(2 * bs), bs, 0, 0, 0, 0,
                                                    0));
                if (!caw) {
                    ++r.errors;
                    r.error = iscsi_get_error(ctx.get());
                    break;
                }
                if (caw->status == SCSI_STATUS_GOOD) {
                    ++r.successes;
                } else if (caw->status == SCSI_STATUS_CHECK_CONDITION &&
                           caw->sense.key == SCSI_SENSE_MISCOMPARE) {
                    ++r.miscompares;
                    // Only the 8 counter bytes ever change, so the first differing byte is one
                    // of them (SBC-4 §5.3: INFORMATION = offset of the first miscompare).
                    const int64_t info = initiator::sense_information(caw.get());
                    if (caw->sense.ascq != SCSI_SENSE_ASCQ_MISCOMPARE_DURING_VERIFY || info < 0 ||
                        info > 7) {
                        ++r.bad_sense;
                    }
                } else {
                    ++r.errors;
                    r.error = "COMPARE AND WRITE status " + std::to_string(caw->status);
                    break;
                }
            }
            --incrementers_left;
        });
    }
    // Writers hammer the neighbours with plain WRITEs until the incrementers are done.
    std::vector<uint64_t> last_written(static_cast<size_t>(o.writers), 0);
    std::vector<std::string> writer_errors(static_cast<size_t>(o.writers));
    for (int w = 0; w < o.writers; ++w) {
        threads.emplace_back([&, w] {
            std::string err;
            Context ctx = connect(o, o.initiator_prefix + "-writer-" + std::to_string(w), err);
            if (!ctx) {
                writer_errors[static_cast<size_t>(w)] = err;
                return;
            }
            const uint64_t lba = w % 2 == 0 ? o.lba - 1 : o.lba + 1;
            std::vector<uint8_t> block(static_cast<size_t>(bs));
            // At least one WRITE, even when the incrementers are done before this session has
            // logged in: the check below compares the block with this writer's last value, and
            // a block this run never wrote holds whatever an earlier run left there.
            for (uint64_t n = 1;; ++n) {
                std::memset(block.data(), static_cast<int>(n & 0xff), block.size());
                store_le64(block.data(), n);
                Task t(iscsi_write16_sync(ctx.get(), o.lun, lba, block.data(),
                                          static_cast<uint32_t>(bs), bs, 0, 0, 0, 0, 0));
                if (!t || t->status != SCSI_STATUS_GOOD) {
                    writer_errors[static_cast<size_t>(w)] = iscsi_get_error(ctx.get());
                    return;
                }
                last_written[static_cast<size_t>(w)] = n;
                if (incrementers_left.load() == 0) {
                    break;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }

    bool ok = true;
    uint64_t successes = 0;
    uint64_t miscompares = 0;
    for (size_t i = 0; i < results.size(); ++i) {
        const CounterSession& r = results[i];
        say(out, "session %zu: %llu successful ATS, %llu miscompares%s%s\n", i,
            static_cast<unsigned long long>(r.successes),
            static_cast<unsigned long long>(r.miscompares),
            r.bad_sense ? ", WRONG MISCOMPARE SENSE" : "",
            r.error.empty() ? "" : (", error: " + r.error).c_str());
        successes += r.successes;
        miscompares += r.miscompares;
        ok = ok && r.bad_sense == 0 && r.errors == 0 && r.error.empty();
    }
    Task final_read(iscsi_read16_sync(setup.get(), o.lun, o.lba - 1, static_cast<uint32_t>(3 * bs),
                                      bs, 0, 0, 0, 0, 0));
    if (!final_read || final_read->status != SCSI_STATUS_GOOD) {
        say(err_out, "ats-counter: final read failed\n");
        report.exit_status = 1;
        return report;
    }
    const uint8_t* blocks = final_read->datain.data;
    const uint64_t counter = load_le64(blocks + bs);
    report.counter = counter;
    report.successes = successes;
    report.miscompares = miscompares;
    say(out, "counter %llu, successful ATS %llu, miscompares %llu\n",
        static_cast<unsigned long long>(counter), static_cast<unsigned long long>(successes),
        static_cast<unsigned long long>(miscompares));
    if (counter != successes) {
        say(out, "LOST OR EXTRA UPDATE: the counter differs from the successful ATS count\n");
        ok = false;
    }
    for (int w = 0; w < o.writers && w < 2; ++w) {
        const uint8_t* nb = blocks + (w % 2 == 0 ? 0 : 2 * bs);
        const uint64_t n = load_le64(nb);
        bool intact = n == last_written[static_cast<size_t>(w)];
        for (int b = 8; b < bs && intact; ++b) {
            intact = nb[b] == static_cast<uint8_t>(n & 0xff);
        }
        say(out, "neighbour %s: %s\n", w % 2 == 0 ? "lba-1" : "lba+1",
            intact ? "intact" : "CORRUPTED");
        ok = ok && intact && writer_errors[static_cast<size_t>(w)].empty();
    }
    say(out, "%s\n", ok ? "OK" : "FAILED");
    report.exit_status = ok ? 0 : 1;
    return report;
}

}  // namespace atsarray::initiator
