#pragma once
// How the file store keeps a LUN image's page cache in small folios (issue 17).
//
// Since Linux 6.x ext4 (and XFS) cache a file in large folios when a buffered write or a
// readahead covers a large range: a 1 MiB pwrite of uncached data, or `cat` reading the image,
// leaves folios of up to 2 MiB. A later 4 KiB write into such a folio costs CPU in proportion to
// the folio's size, measured on ext4, Linux 6.18 (CPU time per random 4 KiB pwrite into a 256 MiB
// cached file): 2.0 us into folios a 4 KiB write made, 2.3 into 16 KiB ones, 3.9 into 64 KiB,
// 6.4 into 128 KiB, 19-34 into 1 MiB. A LUN image is a random-access medium whose typical write
// is 4 KiB (VMFS metadata, ATS, guest file systems), so the store
// - writes buffered data in pieces that never cross a max_buffered_piece boundary of the file:
//   the kernel then allocates folios of at most that size (a folio is naturally aligned, and a
//   write asks for one no larger than the write), at a measured cost of about 25% more CPU for a
//   1 MiB host write (16 pwrites of 64 KiB) against 5-8x less for every 4 KiB write after it;
// - opens the image with POSIX_FADV_RANDOM: no readahead, so a read of uncached blocks fills
//   small folios, and reads only what the host asked for (the host runs its own readahead);
// - drops the image's clean cached pages when it opens it (POSIX_FADV_DONTNEED): what another
//   process left there (a cp or cat of the image) may be large folios; the first reads after a
//   start then come from the disk, as from a real array's cold cache.
// O_DIRECT images have no page cache and write in one piece.

#include <cstddef>
#include <cstdint>

namespace atsarray::backend {

inline constexpr uint64_t max_buffered_piece = 64 * 1024;

// The length of the next buffered pwrite of `remaining` bytes at file offset `offset`: up to the
// next multiple of max_buffered_piece.
constexpr size_t buffered_piece(uint64_t offset, size_t remaining) {
    const uint64_t to_boundary = max_buffered_piece - offset % max_buffered_piece;
    return remaining < to_boundary ? remaining : static_cast<size_t>(to_boundary);
}

}  // namespace atsarray::backend
