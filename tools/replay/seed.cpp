// The images --seed writes before a replay (tools/replay/seed.hpp).
#include "tools/replay/seed.hpp"

#include <optional>
#include <set>
#include <utility>

#include "tools/replay/cdb.hpp"
#include "tools/replay/compare.hpp"
#include "tools/replay/schedule.hpp"

namespace atsarray::replay {
namespace {

using BlockKey = std::pair<uint64_t, uint64_t>;  // LUN, LBA

uint32_t block_size_of(const trace::Trace& trace, uint64_t lun) {
    for (const trace::Lun& l : trace.luns) {
        if (l.lun == lun && l.block_size != 0) {
            return l.block_size;
        }
    }
    return 512;
}

class Seeder {
  public:
    explicit Seeder(const trace::Trace& trace) : trace_(trace) {}

    void visit(const trace::Command& c) {
        const std::optional<BlockRange> range = block_range(c.cdb);
        if (!range || range->blocks == 0) {
            return;
        }
        const uint32_t size = block_size_of(trace_, c.lun);
        switch (range->access) {
            case BlockAccess::write:
                if (c.status == status_good) {
                    settle(c.lun, *range);
                }
                break;
            case BlockAccess::read:
                if (c.status == status_good && c.data_in_kept &&
                    c.data_in.size() >= uint64_t{range->blocks} * size) {
                    reveal_all(c.lun, *range, c.data_in.data(), size);
                }
                break;
            case BlockAccess::compare_and_write:
                visit_compare_and_write(c, *range, size);
                break;
            case BlockAccess::none:
                break;
        }
    }

    std::vector<SeedBlock> take() { return std::move(seeds_); }

  private:
    void visit_compare_and_write(const trace::Command& c, const BlockRange& range, uint32_t size) {
        if (c.status == status_good && c.data_out_kept &&
            c.data_out.size() >= 2 * uint64_t{range.blocks} * size) {
            // SBC-4 §5.3: the Data-Out is the compare images, then the write images.
            reveal_all(c.lun, range, c.data_out.data(), size);
            return;
        }
        if (c.outcome == "miscompare" && c.medium_image.size() >= size) {
            reveal(c.lun, range.lba, c.medium_image.data(), size);
        }
    }

    void reveal_all(uint64_t lun, const BlockRange& range, const uint8_t* images, uint32_t size) {
        for (uint32_t i = 0; i < range.blocks; ++i) {
            reveal(lun, range.lba + i, images + uint64_t{i} * size, size);
        }
    }

    void reveal(uint64_t lun, uint64_t lba, const uint8_t* image, uint32_t size) {
        if (known_.emplace(lun, lba).second) {
            seeds_.push_back({lun, lba, std::vector<uint8_t>(image, image + size)});
        }
    }

    // A block written before anything read it: the replay writes it the same way.
    void settle(uint64_t lun, const BlockRange& range) {
        for (uint32_t i = 0; i < range.blocks; ++i) {
            known_.emplace(lun, range.lba + i);
        }
    }

    const trace::Trace& trace_;
    std::set<BlockKey> known_;
    std::vector<SeedBlock> seeds_;
};

}  // namespace

std::vector<SeedBlock> seed_blocks(const trace::Trace& trace) {
    Seeder seeder(trace);
    for (const Scheduled& s : ordered_schedule(trace)) {
        seeder.visit(trace.commands[s.command]);
    }
    return seeder.take();
}

}  // namespace atsarray::replay
