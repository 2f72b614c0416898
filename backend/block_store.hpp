#pragma once
// The block store interface: what every LUN backend provides to the SCSI layer.
// Calls may block (file, RocksDB); the SCSI layer runs them on the I/O worker pool, never on an
// iSCSI I/O thread, unless blocking() is false (the memory store) or the store completes_async()
// (rbd: the single-operation commands start on the I/O thread and finish in a callback).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace atsarray::backend {

class SharedRecords;  // backend/shared_records.hpp

enum class StoreErrc : uint8_t {
    ok = 0,
    out_of_range,  // offset/length beyond the store's size
    io_error,      // the medium failed (EIO and friends)
    no_space,      // ENOSPC/EDQUOT while allocating a thin region
    read_only,     // the store was opened read-only
    would_block,   // read_nowait(): the data is not at hand; read() it off the I/O thread
    miscompare,    // compare_and_write() found a difference (nothing written)
    busy,          // the medium did not answer within its timeout (a cluster operation timed
                   // out): the SCSI layer answers BUSY so the host retries
};

// A status value (RocksDB style): no exceptions on the I/O path.
struct [[nodiscard]] Status {
    StoreErrc code = StoreErrc::ok;
    int sys_errno = 0;  // errno of the failing system call, 0 if none

    bool ok() const { return code == StoreErrc::ok; }
    static Status success() { return {}; }
    static Status error(StoreErrc c, int e = 0) { return {c, e}; }
};

std::string to_string(const Status& s);

class BlockStore {
  public:
    virtual ~BlockStore() = default;

    virtual uint64_t size_bytes() const = 0;

    // Reads out.size() bytes at byte offset. Reads of never-written regions return zeros.
    virtual Status read(uint64_t offset, std::span<uint8_t> out) = 0;
    // read() if it can be answered without waiting for the medium (the page cache, the block
    // cache), else would_block, possibly after filling part of `out`. The SCSI layer tries it on
    // an I/O thread before handing a READ to a worker: two thread hand-offs cost more than a
    // cached read. Stores that cannot tell keep the default.
    virtual bool reads_without_waiting() const { return false; }
    virtual Status read_nowait(uint64_t offset, std::span<uint8_t> out);
    // Writes in.size() bytes at byte offset; with fua the data is stable before returning.
    virtual Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) = 0;
    // write() if it can be done without waiting for the medium (into the page cache, the
    // memtable), else would_block having written nothing. The SCSI layer tries it on an I/O
    // thread, under the command's LBA locks, before handing a WRITE to a worker: for a 4 KiB
    // write into memory the two hand-offs cost more than the write (issue 17). Stores that
    // cannot tell keep the default (would_block).
    virtual bool writes_without_waiting() const { return false; }
    virtual Status write_nowait(uint64_t offset, std::span<const uint8_t> in, bool fua);
    // Makes everything written so far stable (SYNCHRONIZE CACHE, shutdown).
    virtual Status flush() = 0;

    // Thin provisioning (SBC-4 §4.7). Deallocates [offset, offset + length): afterwards the
    // range reads as zeros (the SCSI layer reports LBPRZ=1). Parts smaller than allocation_unit()
    // are zeroed in place. The default writes zeros: a store that cannot deallocate stays fully
    // provisioned but keeps the zero-read guarantee. Like write() without FUA, it need not be
    // stable before flush().
    virtual Status unmap(uint64_t offset, uint64_t length);
    // Whether the byte at `offset` is mapped (holds allocated storage), and over how many bytes
    // from `offset` (at least 1, at most `limit`) that state holds (GET LBA STATUS). The
    // default reports everything mapped.
    virtual Status mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length);
    // The store's allocation granularity in bytes (OPTIMAL UNMAP GRANULARITY); 0 when unknown.
    virtual uint64_t allocation_unit() const { return 0; }
    // Bytes of storage the data occupies now (thin provisioning, the console); an estimate where
    // the store only has one. The default: fully provisioned.
    virtual uint64_t allocated_bytes() const { return size_bytes(); }

    // Grows the store to `new_size` bytes (a LUN resized at run time); the new range reads as
    // zeros. Shrinking is refused: it would discard acknowledged data.
    virtual Status grow(uint64_t new_size);

    // COMPARE AND WRITE (SBC-4 §5.3) done by the medium itself, atomic against every other
    // client of the medium (another gateway process), not only against this process's LBA locks.
    virtual bool compares_in_store() const { return false; }
    // compare.size() == data.size(), offset and size multiples of 512. Ok: the data was written
    // (stable before return when fua). Status miscompare: nothing written, first_difference =
    // index of the first differing byte within the request. Default: io_error (callers check
    // compares_in_store() first).
    virtual Status compare_and_write(uint64_t offset, std::span<const uint8_t> compare,
                                     std::span<const uint8_t> data, bool fua,
                                     uint64_t& first_difference);
    // Small records kept in the medium itself and shared by every process that opens it (the
    // LUN's identity, persistent reservations, the gateways' ALUA view); nullptr: the store keeps
    // none.
    virtual SharedRecords* shared_records() { return nullptr; }

    // Asynchronous forms of read, write, flush and compare_and_write: the SCSI layer starts them
    // on an I/O thread, without a worker, when completes_async() is true (a cluster store, whose
    // operations are network round trips: one worker per operation in flight would bound the
    // queue depth by the pool). What a caller may rely on, for every store:
    // - `done` is called exactly once, with what the synchronous call would have returned (for
    //   compare_and_write_async also first_difference, meaningful with miscompare only).
    // - The buffers (`out`, `in`, `compare`, `data`) stay the caller's to keep alive until `done`
    //   is called; `out` is filled before it, and never touched after it.
    // - completes_async() false (the defaults): the synchronous call runs on the calling thread
    //   and `done` is called inline, before the call returns.
    // - completes_async() true: `done` runs on a thread of the store's, never inside the call on
    //   the calling thread, so a caller may hold locks that `done` takes again. It may run before
    //   the call has returned (on that other thread). It must not block: the store's completion
    //   threads serve every operation. It may start the next asynchronous operation.
    using Done = std::function<void(Status)>;
    using CompareDone = std::function<void(Status, uint64_t first_difference)>;
    virtual bool completes_async() const { return false; }
    virtual void read_async(uint64_t offset, std::span<uint8_t> out, Done done);
    virtual void write_async(uint64_t offset, std::span<const uint8_t> in, bool fua, Done done);
    virtual void flush_async(Done done);
    virtual void compare_and_write_async(uint64_t offset, std::span<const uint8_t> compare,
                                         std::span<const uint8_t> data, bool fua, CompareDone done);

    // False when calls never block (memory store): they may then run on the caller's thread.
    virtual bool blocking() const { return true; }
    // "file", "memory", ... for logs and the console.
    virtual std::string kind() const = 0;
};

}  // namespace atsarray::backend
