#pragma once
// --seed: the blocks whose content the trace reveals before anything writes them, and the image
// each had then, so an array that starts empty starts as the recording's did for every block the
// replay reads or compares.

#include <cstdint>
#include <vector>

#include "formats/trace.hpp"

namespace atsarray::replay {

struct SeedBlock {
    uint64_t lun = 0;  // as recorded (before --lun-map)
    uint64_t lba = 0;
    std::vector<uint8_t> image;  // one block
};

// Walks the commands in the order they reached the medium (ordered_schedule). A block's first
// command that succeeded decides: a COMPARE AND WRITE that succeeded reveals its compare image; one
// that miscompared reveals its medium_image (the first block only: the trace keeps no more); a READ
// whose Data-In was kept reveals that data; a write reveals nothing (what it wrote is what the
// replay writes too), and the block needs no seed. An injected miscompare reveals nothing either:
// the medium may have matched.
std::vector<SeedBlock> seed_blocks(const trace::Trace& trace);

}  // namespace atsarray::replay
