// Thin provisioning end to end (issue 5): on a file LUN and on a RocksDB LUN, 16 MiB written over
// iSCSI takes space; UNMAP of it reads back zeros, GET LBA STATUS reports it deallocated, and
// the space the store holds on disk shrinks (SBC-4 §4.7; REFERENCES.md "Thin provisioning").
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::create_context;
using initiator::Task;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:thin";
constexpr uint32_t block_size = 512;
constexpr uint64_t data_bytes = 16ull << 20;
constexpr uint64_t data_blocks = data_bytes / block_size;
constexpr uint32_t piece_blocks = 2048;  // 1 MiB per command

std::string config(const std::string& lun) {
    return "[[target]]\nname = \"" + std::string(target_name) + "\"\n[[target.lun]]\nid = 0\n" +
           lun + "size = \"64MiB\"\nblock_size = 512\n";
}

Context connect(const DaemonProcess& d) {
    Context ctx = create_context("iqn.2026-11.org.atsarray:thin-test");
    iscsi_set_targetname(ctx.get(), target_name);
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    iscsi_set_timeout(ctx.get(), 30);
    if (iscsi_full_connect_sync(ctx.get(), d.portal().c_str(), 0) != 0) {
        ADD_FAILURE() << iscsi_get_error(ctx.get());
        return nullptr;
    }
    Task(iscsi_testunitready_sync(ctx.get(), 0));  // the power-on unit attention
    return ctx;
}

// Incompressible data (RocksDB compresses with lz4), no block all zeros.
void write_data(iscsi_context* ctx) {
    std::mt19937_64 rng(5);
    std::vector<uint8_t> piece(size_t{piece_blocks} * block_size);
    for (uint64_t lba = 0; lba < data_blocks; lba += piece_blocks) {
        for (size_t i = 0; i < piece.size(); i += 8) {
            initiator::store_le64(piece.data() + i, rng() | 1);
        }
        Task t(iscsi_write16_sync(ctx, 0, lba, piece.data(), static_cast<uint32_t>(piece.size()),
                                  block_size, 0, 0, 0, 0, 0));
        ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << "WRITE(16) at " << lba;
    }
    Task sync(iscsi_synchronizecache16_sync(ctx, 0, 0, 0, 0, 0));
    ASSERT_TRUE(sync && sync->status == SCSI_STATUS_GOOD);
}

void expect_zeros(iscsi_context* ctx) {
    for (uint64_t lba = 0; lba < data_blocks; lba += piece_blocks) {
        Task t(
            iscsi_read16_sync(ctx, 0, lba, piece_blocks * block_size, block_size, 0, 0, 0, 0, 0));
        ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD &&
                    t->datain.size == static_cast<int>(piece_blocks * block_size));
        const uint8_t* p = t->datain.data;
        ASSERT_TRUE(std::all_of(p, p + t->datain.size, [](uint8_t b) { return b == 0; }))
            << "non-zero data after UNMAP in the 1 MiB at LBA " << lba;
    }
}

// The first GET LBA STATUS descriptor at LBA 0 (SBC-4 §5.8).
scsi_lba_status_descriptor first_status(iscsi_context* ctx) {
    Task t(iscsi_get_lba_status_sync(ctx, 0, 0, 256));
    if (!t || t->status != SCSI_STATUS_GOOD) {
        ADD_FAILURE() << "GET LBA STATUS failed";
        return {};
    }
    auto* status = static_cast<scsi_get_lba_status*>(scsi_datain_unmarshall(t.get()));
    if (status == nullptr || status->num_descriptors == 0) {
        ADD_FAILURE() << "GET LBA STATUS: no descriptor";
        return {};
    }
    return status->descriptors[0];
}

void unmap_data(iscsi_context* ctx) {
    unmap_list range{0, static_cast<uint32_t>(data_blocks)};
    Task t(iscsi_unmap_sync(ctx, 0, 0, 0, &range, 1));
    ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << "UNMAP";
}

// Waits (bounded) for `space` to fall to at most `limit`: obsolete table files are deleted just
// after the compaction that made them so. Returns the last value seen.
uint64_t wait_for_space(const std::function<uint64_t()>& space, uint64_t limit) {
    uint64_t now = space();
    for (int i = 0; i < 100 && now > limit; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        now = space();
    }
    return now;
}

// The steps both stores share: write, check mapped, UNMAP, zeros, deallocated.
void write_then_unmap(DaemonProcess& d, const std::function<uint64_t()>& space,
                      const std::function<void()>& after_write, uint64_t& before, uint64_t& after) {
    {
        Context ctx = connect(d);
        ASSERT_TRUE(ctx);
        write_data(ctx.get());
        iscsi_logout_sync(ctx.get());
    }
    after_write();
    Context ctx = connect(d);
    ASSERT_TRUE(ctx);
    const scsi_lba_status_descriptor mapped = first_status(ctx.get());
    EXPECT_EQ(mapped.lba, 0u);
    EXPECT_EQ(mapped.provisioning, SCSI_PROVISIONING_TYPE_MAPPED);
    before = space();
    EXPECT_GE(before, data_bytes) << "16 MiB written should take at least 16 MiB";

    unmap_data(ctx.get());
    expect_zeros(ctx.get());
    const scsi_lba_status_descriptor gone = first_status(ctx.get());
    EXPECT_EQ(gone.lba, 0u);
    EXPECT_EQ(gone.provisioning, SCSI_PROVISIONING_TYPE_DEALLOCATED);
    EXPECT_GE(gone.num_blocks, data_blocks);
    after = wait_for_space(space, before / 8);
    EXPECT_LE(after, before / 8) << "space did not shrink after UNMAP: " << before << " -> "
                                 << after << " bytes";
    iscsi_logout_sync(ctx.get());
}

TEST(ThinSpace, FileLunSpaceShrinksAfterUnmap) {
    DaemonProcess d(config("backend = \"file\"\npath = \"lun0.img\"\n"));
    const auto image = d.dir() / "lun0.img";
    const auto space = [&] {
        struct stat st {};
        return ::stat(image.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
    };
    uint64_t before = 0;
    uint64_t after = 0;
    write_then_unmap(
        d, space, [] {}, before, after);
    std::printf(
        "[ thin     ] file LUN: %llu bytes allocated after 16 MiB written, %llu after "
        "UNMAP\n",
        static_cast<unsigned long long>(before), static_cast<unsigned long long>(after));
}

// The database's table files and write-ahead logs (not RocksDB's own info LOG files).
uint64_t rocksdb_bytes(const std::filesystem::path& dir) {
    uint64_t total = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto ext = it->path().extension();
        if (ext == ".sst" || ext == ".log") {
            total += it->file_size(ec);
        }
    }
    return total;
}

TEST(ThinSpace, RocksDbLunSpaceShrinksAfterUnmap) {
    DaemonProcess d(config("backend = \"rocksdb\"\n"));
    const auto db = d.dir() / "data" / "rocksdb";
    const auto space = [&] { return rocksdb_bytes(db); };
    // A restart moves the written data from the write-ahead log into table files (RocksDB flushes
    // what it recovers), as on a LUN that has run for a while: UNMAP must then reclaim table
    // files, not just a memtable.
    const auto restart = [&] {
        ASSERT_EQ(d.stop(), 0);
        d.start();
    };
    uint64_t before = 0;
    uint64_t after = 0;
    write_then_unmap(d, space, restart, before, after);
    std::printf(
        "[ thin     ] rocksdb LUN: %llu bytes of table files and logs after 16 MiB "
        "written, %llu after UNMAP\n",
        static_cast<unsigned long long>(before), static_cast<unsigned long long>(after));
    // The unmap is durable: still zeros after another restart.
    restart();
    Context ctx = connect(d);
    ASSERT_TRUE(ctx);
    expect_zeros(ctx.get());
    EXPECT_EQ(first_status(ctx.get()).provisioning, SCSI_PROVISIONING_TYPE_DEALLOCATED);
}

}  // namespace
}  // namespace atsarray::testing
