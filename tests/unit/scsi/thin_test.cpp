// Thin provisioning and the other SBC-4 additions: WRITE SAME(10/16) with and without UNMAP,
// UNMAP parameter list checks, GET LBA STATUS, READ CAPACITY(16) LBPME/LBPRZ, VPD 0x00/B0/B2,
// ORWRITE(16) and PRE-FETCH(10/16).

#include <algorithm>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "backend/memory_store.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

constexpr uint32_t block_count = 2048;  // 1 MiB of 512-byte blocks: 16 memory-store chunks
constexpr uint32_t chunk_blocks = backend::MemoryStore::chunk_size / 512;

void put64(std::vector<uint8_t>& c, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        c[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (56 - 8 * i));
    }
}
void put32(std::vector<uint8_t>& c, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        c[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (24 - 8 * i));
    }
}
uint32_t get32(const std::vector<uint8_t>& d, size_t at) {
    return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) |
           d[at + 3];
}
uint64_t get64(const std::vector<uint8_t>& d, size_t at) {
    return (uint64_t{get32(d, at)} << 32) | get32(d, at + 4);
}

std::vector<uint8_t> write_same16(uint64_t lba, uint32_t blocks, uint8_t flags = 0) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x93;
    c[1] = flags;
    put64(c, 2, lba);
    put32(c, 10, blocks);
    return c;
}

std::vector<uint8_t> write_same10(uint32_t lba, uint16_t blocks, uint8_t flags = 0) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x41;
    c[1] = flags;
    put32(c, 2, lba);
    c[7] = static_cast<uint8_t>(blocks >> 8);
    c[8] = static_cast<uint8_t>(blocks);
    return c;
}

std::vector<uint8_t> unmap_cdb(uint16_t parameter_list_length, uint8_t flags = 0) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x42;
    c[1] = flags;
    c[7] = static_cast<uint8_t>(parameter_list_length >> 8);
    c[8] = static_cast<uint8_t>(parameter_list_length);
    return c;
}

struct Range {
    uint64_t lba;
    uint32_t blocks;
};

std::vector<uint8_t> unmap_list(std::initializer_list<Range> ranges) {
    std::vector<uint8_t> p(8 + 16 * ranges.size(), 0);
    const auto n = static_cast<uint16_t>(p.size());
    p[0] = static_cast<uint8_t>((n - 2) >> 8);
    p[1] = static_cast<uint8_t>(n - 2);
    p[2] = static_cast<uint8_t>((n - 8) >> 8);
    p[3] = static_cast<uint8_t>(n - 8);
    size_t at = 8;
    for (const Range& r : ranges) {
        put64(p, at, r.lba);
        put32(p, at + 8, r.blocks);
        at += 16;
    }
    return p;
}

std::vector<uint8_t> get_lba_status(uint64_t lba, uint32_t allocation_length) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x9E;
    c[1] = 0x12;
    put64(c, 2, lba);
    put32(c, 10, allocation_length);
    return c;
}

std::vector<uint8_t> read16(uint64_t lba, uint32_t blocks) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x88;
    put64(c, 2, lba);
    put32(c, 10, blocks);
    return c;
}

std::vector<uint8_t> write16(uint64_t lba, uint32_t blocks) {
    auto c = read16(lba, blocks);
    c[0] = 0x8A;
    return c;
}

struct LbaStatus {
    uint64_t lba;
    uint32_t blocks;
    uint8_t status;
};

std::vector<LbaStatus> descriptors(const Result& r) {
    std::vector<LbaStatus> out;
    if (r.data.size() < 8) {
        return out;
    }
    EXPECT_EQ(get32(r.data, 0), r.data.size() - 4);
    for (size_t at = 8; at + 16 <= r.data.size(); at += 16) {
        out.push_back({get64(r.data, at), get32(r.data, at + 8),
                       static_cast<uint8_t>(r.data[at + 12] & 0x0F)});
    }
    return out;
}

// A LUN of 2048 x 512-byte blocks over a thin memory store.
class Thin : public LunFixture {
  protected:
    void SetUp() override {
        auto s = default_settings(0, block_count);
        mem = std::make_shared<backend::MemoryStore>(uint64_t{block_count} * 512);
        lun = std::make_shared<Lun>(s, mem);
    }
    std::vector<uint8_t> read_blocks(uint64_t lba, uint32_t blocks) {
        const Result r = exec(read16(lba, blocks));
        EXPECT_EQ(r.status, Status::good);
        return r.data;
    }
    std::shared_ptr<backend::MemoryStore> mem;
};

bool all_equal(const std::vector<uint8_t>& v, uint8_t b) {
    return std::all_of(v.begin(), v.end(), [b](uint8_t x) { return x == b; });
}

// --- WRITE SAME -----------------------------------------------------------------------------

TEST_F(Thin, WriteSameRepeatsTheBlock) {
    const auto block = pattern(512, 4);
    const Result r = exec(write_same16(100, 300), block);
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data_out_wanted, 512u);
    const auto data = read_blocks(99, 302);
    EXPECT_TRUE(all_equal(std::vector<uint8_t>(data.begin(), data.begin() + 512), 0));
    for (uint32_t i = 1; i <= 300; ++i) {
        ASSERT_TRUE(std::equal(block.begin(), block.end(), data.begin() + i * 512)) << i;
    }
    EXPECT_TRUE(all_equal(std::vector<uint8_t>(data.end() - 512, data.end()), 0));
    EXPECT_EQ(exec(write_same10(0, 1), block).status, Status::good);
    EXPECT_EQ(read_blocks(0, 1), block);
}

TEST_F(Thin, WriteSameLongerThanOnePieceAndToTheLastBlock) {
    const auto block = pattern(512, 8);
    EXPECT_EQ(exec(write_same16(0, block_count), block).status, Status::good);
    const auto data = read_blocks(block_count - 3, 3);
    EXPECT_TRUE(std::equal(block.begin(), block.end(), data.begin() + 1024));
}

TEST_F(Thin, WriteSameWithUnmapDeallocatesAndReadsZeros) {
    EXPECT_EQ(exec(write16(0, 4 * chunk_blocks), std::vector<uint8_t>(4 * chunk_blocks * 512, 0xFF))
                  .status,
              Status::good);
    EXPECT_EQ(mem->allocated_bytes(), 4 * backend::MemoryStore::chunk_size);
    // UNMAP=1 deallocates whatever the Data-Out block holds (LBPRZ: reads zeros).
    EXPECT_EQ(
        exec(write_same16(chunk_blocks, 2 * chunk_blocks, 0x08), std::vector<uint8_t>(512, 0xFF))
            .status,
        Status::good);
    EXPECT_EQ(mem->allocated_bytes(), 2 * backend::MemoryStore::chunk_size);
    EXPECT_TRUE(all_equal(read_blocks(chunk_blocks, 2 * chunk_blocks), 0));
    EXPECT_TRUE(all_equal(read_blocks(chunk_blocks - 1, 1), 0xFF));
    // WRITE SAME(10) with UNMAP, unaligned: partial chunks are zeroed.
    EXPECT_EQ(exec(write_same10(3, 5, 0x08), std::vector<uint8_t>(512, 0)).status, Status::good);
    EXPECT_TRUE(all_equal(read_blocks(3, 5), 0));
    EXPECT_TRUE(all_equal(read_blocks(2, 1), 0xFF));
    EXPECT_TRUE(all_equal(read_blocks(8, 1), 0xFF));
}

TEST_F(Thin, WriteSame16NdobWritesZerosWithoutDataOut) {
    EXPECT_EQ(exec(write16(10, 2), std::vector<uint8_t>(1024, 0xAB)).status, Status::good);
    const Result r = exec(write_same16(10, 2, 0x01), {}, 0);
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data_out_wanted, 0u);
    EXPECT_TRUE(all_equal(read_blocks(10, 2), 0));
}

TEST_F(Thin, WriteSameCdbChecks) {
    const auto block = std::vector<uint8_t>(512, 1);
    // WSNZ=1: zero blocks is an invalid field (NUMBER OF LOGICAL BLOCKS).
    Result r = exec(write_same16(0, 0), block);
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 10}));
    r = exec(write_same10(0, 0), block);
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 7}));
    // ... but the LBA is checked first.
    EXPECT_CHECK(exec(write_same10(block_count + 1, 0), block), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(write_same16(block_count - 1, 2), block), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(write_same16(~uint64_t{0}, 1), block), 0x05, 0x21, 0x00);
    // WRPROTECT, ANCHOR (ANC_SUP=0), obsolete PBDATA/LBDATA.
    EXPECT_CHECK(exec(write_same16(0, 1, 0x20), block), 0x05, 0x24, 0x00);
    r = exec(write_same16(0, 1, 0x18), block);
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCC, 0x00, 1}));
    EXPECT_CHECK(exec(write_same10(0, 1, 0x02), block), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(write_same10(0, 1, 0x01), block), 0x05, 0x24, 0x00);  // no NDOB in (10)
}

TEST_F(Thin, WriteSameDataOutMustBeOneBlock) {
    EXPECT_CHECK(exec(write_same10(0, 1, 0x08), std::vector<uint8_t>(256, 0)), 0x05, 0x0E, 0x03);
    EXPECT_CHECK(exec(write_same10(0, 1, 0x08), std::vector<uint8_t>(1024, 0)), 0x05, 0x0E, 0x03);
    EXPECT_CHECK(exec(write_same16(0, 1), {}, 0), 0x05, 0x0E, 0x03);
}

TEST_F(Thin, WriteSameAboveMaximumWriteSameLength) {
    // A LUN big enough to hold more than MAXIMUM WRITE SAME LENGTH.
    auto s = default_settings(0, uint64_t{1} << 20);  // 512 MiB
    lun = std::make_shared<Lun>(s, std::make_shared<backend::MemoryStore>(uint64_t{512} << 20));
    const Result vpd = exec(cdb16({0x12, 0x01, 0xB0, 0x00, 0x40, 0x00}));
    const uint64_t max = get64(vpd.data, 36);
    ASSERT_GT(max, 0u);
    EXPECT_CHECK(
        exec(write_same16(0, static_cast<uint32_t>(max + 1), 0x08), std::vector<uint8_t>(512, 0)),
        0x05, 0x24, 0x00);
    EXPECT_EQ(exec(write_same16(0, static_cast<uint32_t>(max), 0x08), std::vector<uint8_t>(512, 0))
                  .status,
              Status::good);
}

// --- UNMAP ----------------------------------------------------------------------------------

TEST_F(Thin, UnmapDeallocatesEveryDescriptor) {
    EXPECT_EQ(
        exec(write16(0, 6 * chunk_blocks), std::vector<uint8_t>(6 * chunk_blocks * 512, 7)).status,
        Status::good);
    const auto list = unmap_list({{0, chunk_blocks}, {4 * chunk_blocks, chunk_blocks}, {9, 0}});
    const Result r = exec(unmap_cdb(static_cast<uint16_t>(list.size())), list);
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(mem->allocated_bytes(), 4 * backend::MemoryStore::chunk_size);
    EXPECT_TRUE(all_equal(read_blocks(0, chunk_blocks), 0));
    EXPECT_TRUE(all_equal(read_blocks(chunk_blocks, chunk_blocks), 7));
    EXPECT_TRUE(all_equal(read_blocks(4 * chunk_blocks, chunk_blocks), 0));
}

TEST_F(Thin, UnmapParameterListLengths) {
    // 0: nothing to do.
    EXPECT_EQ(exec(unmap_cdb(0), {}, 0).status, Status::good);
    // 1..7: PARAMETER LIST LENGTH ERROR.
    EXPECT_CHECK(exec(unmap_cdb(7), std::vector<uint8_t>(7, 0)), 0x05, 0x1A, 0x00);
    // Header only: no descriptors, not an error.
    EXPECT_EQ(exec(unmap_cdb(8), unmap_list({})).status, Status::good);
    // Block descriptor data length beyond the list.
    auto list = unmap_list({{0, 1}});
    list[3] = 32;
    Result r = exec(unmap_cdb(static_cast<uint16_t>(list.size())), list);
    EXPECT_CHECK(r, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0x8F, 0x00, 2}));
    // UNMAP data length beyond the list.
    list = unmap_list({{0, 1}});
    list[1] = 60;
    r = exec(unmap_cdb(static_cast<uint16_t>(list.size())), list);
    EXPECT_CHECK(r, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0x8F, 0x00, 0}));
    // An incomplete last descriptor is ignored.
    EXPECT_EQ(exec(write16(0, 1), std::vector<uint8_t>(512, 5)).status, Status::good);
    list = unmap_list({{0, 1}});
    list[3] = 8;  // half a descriptor
    EXPECT_EQ(exec(unmap_cdb(static_cast<uint16_t>(list.size())), list).status, Status::good);
    EXPECT_TRUE(all_equal(read_blocks(0, 1), 5));
    // Data-Out shorter than the EDTL says.
    EXPECT_CHECK(exec(unmap_cdb(24), std::vector<uint8_t>(16, 0), 24), 0x05, 0x0E, 0x03);
    // ANCHOR with ANC_SUP=0.
    list = unmap_list({{0, 1}});
    EXPECT_CHECK(exec(unmap_cdb(static_cast<uint16_t>(list.size()), 0x01), list), 0x05, 0x24, 0x00);
}

TEST_F(Thin, UnmapLimitsAndRange) {
    EXPECT_EQ(exec(write16(0, 1), std::vector<uint8_t>(512, 5)).status, Status::good);
    // LBA out of range in any descriptor: nothing is unmapped.
    auto list = unmap_list({{0, 1}, {block_count - 1, 2}});
    EXPECT_CHECK(exec(unmap_cdb(static_cast<uint16_t>(list.size())), list), 0x05, 0x21, 0x00);
    EXPECT_TRUE(all_equal(read_blocks(0, 1), 5));
    list = unmap_list({{block_count, 0}});
    EXPECT_EQ(exec(unmap_cdb(static_cast<uint16_t>(list.size())), list).status, Status::good);
    // More descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
    const Result vpd = exec(cdb16({0x12, 0x01, 0xB0, 0x00, 0x40, 0x00}));
    const uint32_t max_descriptors = get32(vpd.data, 24);
    std::vector<uint8_t> many(8 + 16 * (size_t{max_descriptors} + 1), 0);
    many[2] = static_cast<uint8_t>((many.size() - 8) >> 8);
    many[3] = static_cast<uint8_t>(many.size() - 8);
    many[0] = static_cast<uint8_t>((many.size() - 2) >> 8);
    many[1] = static_cast<uint8_t>(many.size() - 2);
    EXPECT_CHECK(exec(unmap_cdb(static_cast<uint16_t>(many.size())), many), 0x05, 0x26, 0x00);
}

TEST_F(Thin, UnmapAboveMaximumUnmapLbaCount) {
    auto s = default_settings(0, uint64_t{4} << 20);  // 2 GiB, thin
    lun = std::make_shared<Lun>(s, std::make_shared<backend::MemoryStore>(uint64_t{2} << 30));
    const Result vpd = exec(cdb16({0x12, 0x01, 0xB0, 0x00, 0x40, 0x00}));
    const uint32_t max = get32(vpd.data, 20);
    auto list = unmap_list({{0, max}, {max, 1}});
    const Result r = exec(unmap_cdb(static_cast<uint16_t>(list.size())), list);
    EXPECT_CHECK(r, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0x8F, 0x00, 8 + 16 + 8}));
    list = unmap_list({{0, max}});
    EXPECT_EQ(exec(unmap_cdb(static_cast<uint16_t>(list.size())), list).status, Status::good);
}

// --- GET LBA STATUS -------------------------------------------------------------------------

TEST_F(Thin, GetLbaStatusReportsMappedAndDeallocatedExtents) {
    // Fresh: one deallocated extent to the end.
    auto d = descriptors(exec(get_lba_status(5, 1024)));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].lba, 5u);
    EXPECT_EQ(d[0].blocks, block_count - 5);
    EXPECT_EQ(d[0].status, 1);

    EXPECT_EQ(exec(write16(2 * chunk_blocks, 1), std::vector<uint8_t>(512, 1)).status,
              Status::good);
    d = descriptors(exec(get_lba_status(0, 1024)));
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].lba, 0u);
    EXPECT_EQ(d[0].blocks, 2 * chunk_blocks);
    EXPECT_EQ(d[0].status, 1);
    EXPECT_EQ(d[1].lba, 2 * chunk_blocks);
    EXPECT_EQ(d[1].blocks, chunk_blocks);
    EXPECT_EQ(d[1].status, 0);
    EXPECT_EQ(d[2].lba, 3 * chunk_blocks);
    EXPECT_EQ(d[2].blocks, block_count - 3 * chunk_blocks);
    EXPECT_EQ(d[2].status, 1);

    // The first descriptor starts at the requested LBA, even inside an extent.
    d = descriptors(exec(get_lba_status(2 * chunk_blocks + 1, 24)));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].lba, 2 * chunk_blocks + 1);
    EXPECT_EQ(d[0].blocks, chunk_blocks - 1);
    EXPECT_EQ(d[0].status, 0);

    // Unmapped again after UNMAP.
    const auto list = unmap_list({{2 * chunk_blocks, chunk_blocks}});
    EXPECT_EQ(exec(unmap_cdb(static_cast<uint16_t>(list.size())), list).status, Status::good);
    d = descriptors(exec(get_lba_status(0, 1024)));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].status, 1);
}

TEST_F(Thin, GetLbaStatusRangeAndAllocationLength) {
    EXPECT_CHECK(exec(get_lba_status(block_count, 24)), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(get_lba_status(~uint64_t{0}, 24)), 0x05, 0x21, 0x00);
    EXPECT_EQ(exec(get_lba_status(block_count - 1, 24)).status, Status::good);
    // Truncated to the allocation length; 0 is not an error.
    EXPECT_EQ(exec(get_lba_status(0, 4)).data.size(), 4u);
    EXPECT_EQ(exec(get_lba_status(0, 0)).data.size(), 0u);
    // Room for one descriptor: one, though more extents follow.
    EXPECT_EQ(exec(write16(chunk_blocks, 1), std::vector<uint8_t>(512, 1)).status, Status::good);
    EXPECT_EQ(descriptors(exec(get_lba_status(0, 24))).size(), 1u);
    EXPECT_EQ(descriptors(exec(get_lba_status(0, 40))).size(), 2u);
}

TEST_F(Thin, GetLbaStatusOverAStoreWithoutThinSupportIsAllMapped) {
    LunFixture::SetUp();  // the FakeStore: BlockStore defaults
    const auto d = descriptors(exec(get_lba_status(10, 100)));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].lba, 10u);
    EXPECT_EQ(d[0].blocks, 1014u);
    EXPECT_EQ(d[0].status, 0);
    // UNMAP still reads back zeros there (LBPRZ holds).
    std::fill(store->data().begin(), store->data().end(), 0xEE);
    const auto list = unmap_list({{1, 2}});
    EXPECT_EQ(exec(unmap_cdb(static_cast<uint16_t>(list.size())), list).status, Status::good);
    EXPECT_EQ(store->data()[511], 0xEE);
    EXPECT_EQ(store->data()[512], 0);
    EXPECT_EQ(store->data()[3 * 512 - 1], 0);
    EXPECT_EQ(store->data()[3 * 512], 0xEE);
}

// --- what the LUN reports -------------------------------------------------------------------

TEST_F(Thin, ReadCapacity16ReportsLbpmeAndLbprz) {
    const Result r = exec(cdb16({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}));
    ASSERT_EQ(r.status, Status::good);
    ASSERT_EQ(r.data.size(), 32u);
    EXPECT_EQ(r.data[14] & 0xC0, 0xC0);
    EXPECT_EQ(r.data[13], 0);  // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT
}

TEST_F(Thin, VpdPagesAreConsistent) {
    const Result supported = exec(cdb16({0x12, 0x01, 0x00, 0x00, 0xFF, 0x00}));
    const std::vector<uint8_t> pages(supported.data.begin() + 4, supported.data.end());
    EXPECT_NE(std::find(pages.begin(), pages.end(), 0xB2), pages.end());
    EXPECT_TRUE(std::is_sorted(pages.begin(), pages.end()));

    const Result lbp = exec(cdb16({0x12, 0x01, 0xB2, 0x00, 0xFF, 0x00}));
    ASSERT_EQ(lbp.status, Status::good);
    ASSERT_EQ(lbp.data.size(), 8u);
    EXPECT_EQ(lbp.data[1], 0xB2);
    EXPECT_EQ(lbp.data[3], 4);
    EXPECT_EQ(lbp.data[5] & 0xE0, 0xE0);         // LBPU, LBPWS, LBPWS10
    EXPECT_EQ((lbp.data[5] >> 2) & 0x07, 0x01);  // LBPRZ
    EXPECT_EQ(lbp.data[5] & 0x02, 0);            // ANC_SUP
    EXPECT_EQ(lbp.data[6] & 0x07, 0x02);         // thin

    const Result bl = exec(cdb16({0x12, 0x01, 0xB0, 0x00, 0x40, 0x00}));
    ASSERT_EQ(bl.data.size(), 64u);
    EXPECT_EQ(bl.data[3], 0x3C);
    EXPECT_EQ(bl.data[4] & 0x01, 1);  // WSNZ
    EXPECT_EQ(bl.data[5], 1);         // MAXIMUM COMPARE AND WRITE LENGTH
    const uint32_t max_unmap = get32(bl.data, 20);
    EXPECT_GT(max_unmap, 0u);
    EXPECT_LE(max_unmap, 1024u * 1024);
    EXPECT_GT(get32(bl.data, 24), 0u);
    EXPECT_EQ(get32(bl.data, 28), chunk_blocks);  // OPTIMAL UNMAP GRANULARITY
    EXPECT_GT(get64(bl.data, 36), 0u);            // MAXIMUM WRITE SAME LENGTH
}

// --- ORWRITE, PRE-FETCH ---------------------------------------------------------------------

std::vector<uint8_t> orwrite(uint64_t lba, uint32_t blocks, uint8_t flags = 0) {
    auto c = read16(lba, blocks);
    c[0] = 0x8B;
    c[1] = flags;
    return c;
}

TEST_F(Thin, OrWriteOrsDataIntoTheMedium) {
    EXPECT_EQ(exec(write16(4, 2), std::vector<uint8_t>(1024, 0x0F)).status, Status::good);
    const Result r = exec(orwrite(4, 2), std::vector<uint8_t>(1024, 0x30));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data_out_wanted, 1024u);
    EXPECT_TRUE(all_equal(read_blocks(4, 2), 0x3F));
    EXPECT_EQ(exec(orwrite(4, 0), {}, 0).status, Status::good);
    EXPECT_CHECK(exec(orwrite(block_count - 1, 2), std::vector<uint8_t>(1024, 0)), 0x05, 0x21,
                 0x00);
    EXPECT_CHECK(exec(orwrite(0, 1, 0x20), std::vector<uint8_t>(512, 0)), 0x05, 0x24, 0x00);
}

TEST_F(Thin, PrefetchChecksTheRangeAndIsGood) {
    EXPECT_EQ(exec(cdb16({0x34, 0, 0, 0, 0, 0, 0, 0, 10, 0})).status, Status::good);
    EXPECT_EQ(exec(cdb16({0x34, 0x02, 0, 0, 0, 0, 0, 0, 10, 0})).status, Status::good);
    EXPECT_EQ(exec(cdb16({0x34, 0, 0, 0, 0x07, 0xFF, 0, 0, 1, 0})).status, Status::good);
    EXPECT_CHECK(exec(cdb16({0x34, 0, 0, 0, 0x08, 0x00, 0, 0, 1, 0})), 0x05, 0x21, 0x00);
    auto p16 = read16(block_count - 1, 2);
    p16[0] = 0x90;
    EXPECT_CHECK(exec(p16), 0x05, 0x21, 0x00);
    p16 = read16(0, 0);
    p16[0] = 0x90;
    EXPECT_EQ(exec(p16).status, Status::good);
    p16[1] = 0x01;  // reserved
    EXPECT_CHECK(exec(p16), 0x05, 0x24, 0x00);
}

}  // namespace
}  // namespace atsarray::scsi::test
