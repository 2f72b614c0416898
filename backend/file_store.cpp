#include "backend/file_store.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

namespace atsarray::backend {

namespace {

Status from_errno(int e) {
    switch (e) {
        case ENOSPC:
        case EDQUOT:
            return Status::error(StoreErrc::no_space, e);
        case EROFS:
        case EBADF:  // a write on a descriptor opened O_RDONLY
            return Status::error(StoreErrc::read_only, e);
        default:  // EIO and anything else the medium reports
            return Status::error(StoreErrc::io_error, e);
    }
}

std::string errno_text(int e) {
    return std::error_code(e, std::generic_category()).message();
}

// Closes `fd` on every failure path of open() so the flock is never left behind, and removes
// the image open() created (`created`), so that a refused start leaves nothing behind.
struct FdGuard {
    int fd = -1;
    std::string created;
    ~FdGuard() {
        if (fd >= 0) {
            ::close(fd);
        }
        if (!created.empty()) {
            ::unlink(created.c_str());
        }
    }
    int release() {
        created.clear();
        return std::exchange(fd, -1);
    }
};

// The bounce buffer of unaligned direct I/O: at most this much per piece of a larger call.
constexpr size_t bounce_bytes = 1u << 20;
// The largest direct I/O alignment accepted (it must divide bounce_bytes).
constexpr uint32_t max_direct_align = 1u << 16;
// Where the kernel cannot report the alignment: the largest logical block size in common use.
constexpr uint32_t fallback_direct_align = 4096;

struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t[], FreeDeleter>;

// `size` must be a multiple of `alignment` (std::aligned_alloc).
AlignedBuffer allocate_aligned(size_t alignment, size_t size) {
    return AlignedBuffer(static_cast<uint8_t*>(std::aligned_alloc(alignment, size)));
}

uint64_t round_down(uint64_t value, uint64_t alignment) {
    return value - value % alignment;
}

uint64_t round_up(uint64_t value, uint64_t alignment) {
    return round_down(value + alignment - 1, alignment);
}

// O_DIRECT's offset and memory alignment for the open file `fd`. Returns false with `why` set
// when the file system says it cannot do direct I/O on this file.
bool direct_io_alignment(int fd, uint32_t& offset_align, uint32_t& mem_align, std::string& why) {
    offset_align = fallback_direct_align;
    mem_align = fallback_direct_align;
#ifdef STATX_DIOALIGN
    struct statx stx = {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) != 0) {
        if (stx.stx_dio_offset_align == 0) {
            why = "the file system does not support direct I/O on this file";
            return false;
        }
        offset_align = stx.stx_dio_offset_align;
        mem_align = std::max<uint32_t>(stx.stx_dio_mem_align, 1);
    }
#else
    (void)fd;
#endif
    if (!std::has_single_bit(offset_align) || offset_align > max_direct_align ||
        !std::has_single_bit(mem_align) || mem_align > max_direct_align) {
        why = "unsupported direct I/O alignment (offset " + std::to_string(offset_align) +
              ", memory " + std::to_string(mem_align) + ")";
        return false;
    }
    // Any multiple of the offset alignment is valid too; never below the memory alignment, so
    // every block-sized step inside an aligned bounce buffer stays aligned in memory as well.
    offset_align = std::max(offset_align, mem_align);
    return true;
}

}  // namespace

std::unique_ptr<FileStore> FileStore::open(const std::string& path, uint64_t size_bytes,
                                           bool read_only, std::string& error_message) {
    FileStoreOptions options;
    options.read_only = read_only;
    return open(path, size_bytes, options, error_message);
}

std::unique_ptr<FileStore> FileStore::open(const std::string& path, uint64_t size_bytes,
                                           const FileStoreOptions& options,
                                           std::string& error_message) {
    const bool read_only = options.read_only;
    if (size_bytes == 0) {
        error_message = "image " + path + ": LUN size must be greater than 0";
        return nullptr;
    }
    if (size_bytes > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
        error_message = "image " + path + ": LUN size " + std::to_string(size_bytes) +
                        " is too large for a file";
        return nullptr;
    }

    std::error_code ec;
    const bool existed = std::filesystem::exists(path, ec);
    if (!existed && !read_only) {
        // The image is created, its folder never: a folder that is not there is a typo in the
        // path, and creating it would give the hosts a blank disk with a new identity.
        const auto parent = std::filesystem::path(path).parent_path();
        if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
            error_message = "image " + path + ": folder " + parent.string() + " does not exist";
            return nullptr;
        }
    }

    FdGuard guard;
    int flags = read_only ? (O_RDONLY | O_CLOEXEC) : (O_RDWR | O_CREAT | O_CLOEXEC);
    if (options.direct) {
        flags |= O_DIRECT;
    }
    do {
        // 0666: the process umask (the config's, 0077 by default) decides who else may read.
        guard.fd = ::open(path.c_str(), flags, 0666);
    } while (guard.fd < 0 && errno == EINTR);
    if (guard.fd < 0) {
        const int e = errno;
        if (e == EINVAL && options.direct) {
            // The file system has no O_DIRECT (tmpfs before Linux 6.6, some FUSE): buffered I/O
            // instead would be a different medium than the one configured.
            error_message = "image " + path +
                            ": the file system refuses O_DIRECT (direct = true): " + errno_text(e) +
                            " (set direct = false or move the image)";
            return nullptr;
        }
        error_message = "image " + path + ": cannot open: " + errno_text(e);
        if (e == ENOENT && read_only) {
            error_message += " (a read-only LUN needs an existing image)";
        }
        return nullptr;
    }

    if (!existed && !read_only) {
        guard.created = path;
    }

    // The lock goes with the open file description: a second open, in this process or another,
    // fails here rather than interleaving writes to one image.
    int rc = 0;
    do {
        rc = ::flock(guard.fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        const int e = errno;
        if (e == EWOULDBLOCK) {
            error_message =
                "image " + path + ": in use by another process or LUN (exclusive flock is held)";
        } else {
            error_message = "image " + path + ": cannot lock: " + errno_text(e);
        }
        return nullptr;
    }

    struct stat st = {};
    if (::fstat(guard.fd, &st) != 0) {
        error_message = "image " + path + ": cannot stat: " + errno_text(errno);
        return nullptr;
    }
    if (!S_ISREG(st.st_mode)) {
        error_message = "image " + path + ": not a regular file";
        return nullptr;
    }
    uint32_t direct_align = 0;
    uint32_t direct_mem_align = 0;
    if (options.direct) {
        std::string why;
        if (!direct_io_alignment(guard.fd, direct_align, direct_mem_align, why)) {
            error_message = "image " + path + ": direct = true: " + why;
            return nullptr;
        }
        // A partial aligned block at the end of the image cannot be written with O_DIRECT
        // without writing past the LUN's end.
        if (size_bytes % direct_align != 0) {
            error_message = "image " + path + ": direct = true: LUN size " +
                            std::to_string(size_bytes) +
                            " is not a multiple of the file system's direct I/O alignment " +
                            std::to_string(direct_align);
            return nullptr;
        }
    }
    const auto existing = static_cast<uint64_t>(st.st_size);
    if (existing > size_bytes) {
        error_message = "image " + path + ": LUN size " + std::to_string(size_bytes) +
                        " is smaller than existing image " + std::to_string(existing) +
                        " (shrinking would lose data; raise size or use another path)";
        return nullptr;
    }
    if (existing < size_bytes) {
        if (read_only) {
            error_message = "image " + path + ": existing image " + std::to_string(existing) +
                            " is smaller than LUN size " + std::to_string(size_bytes) +
                            " and the LUN is read-only, so it cannot be grown";
            return nullptr;
        }
        // ftruncate extends with a hole: the new range costs no blocks until written.
        do {
            rc = ::ftruncate(guard.fd, static_cast<off_t>(size_bytes));
        } while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            error_message = "image " + path + ": cannot set size to " + std::to_string(size_bytes) +
                            ": " + errno_text(errno);
            return nullptr;
        }
        if (existed) {
            spdlog::info("image {}: grown from {} to {} bytes", path, existing, size_bytes);
        } else {
            spdlog::info("image {}: created sparse, {} bytes", path, size_bytes);
        }
    }

    auto store =
        std::unique_ptr<FileStore>(new FileStore(guard.release(), path, size_bytes, options));
    store->allocation_unit_ = st.st_blksize > 0 ? static_cast<uint64_t>(st.st_blksize) : 0;
    store->direct_align_ = direct_align;
    store->direct_mem_align_ = direct_mem_align;
    if (const long page = ::sysconf(_SC_PAGESIZE); page > 0) {
        store->page_bytes_ = static_cast<uint64_t>(page);
    }
    if (struct statfs sfs = {}; ::fstatfs(store->fd_, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
        store->pages_in_memory_ = true;
    }
    if (options.direct) {
        spdlog::info("image {}: O_DIRECT, offset alignment {} bytes, memory alignment {}", path,
                     direct_align, direct_mem_align);
    } else {
        // The image's clean pages another process left in the page cache (a cp, a cat, a dd of
        // the image) may sit in large folios: they go, as an array's cache starts cold, and this
        // store's own I/O fills it in small ones (backend/page_cache_pieces.hpp). Only advice:
        // dirty pages are never dropped, and where it fails nothing else changes.
        for (const int advice : {POSIX_FADV_DONTNEED, POSIX_FADV_RANDOM}) {
            if (const int e = ::posix_fadvise(store->fd_, 0, 0, advice); e != 0) {
                spdlog::warn("image {}: posix_fadvise({}): {}", path, advice, errno_text(e));
            }
        }
    }
    return store;
}

FileStore::FileStore(int fd, std::string path, uint64_t size_bytes, const FileStoreOptions& options)
    : fd_(fd),
      path_(std::move(path)),
      size_bytes_(size_bytes),
      read_only_(options.read_only),
      inline_policy_(options, path_) {}

FileStore::~FileStore() {
    // ~InlineWritePolicy logs the inline write counts after the close.
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool FileStore::in_range(uint64_t offset, size_t length) const {
    return offset <= size_bytes_ && length <= size_bytes_ - offset;
}

bool FileStore::direct_ready(uint64_t offset, const void* buffer, size_t length) const {
    if (direct_align_ == 0) {
        return true;
    }
    return offset % direct_align_ == 0 && length % direct_align_ == 0 &&
           reinterpret_cast<uintptr_t>(buffer) % direct_mem_align_ == 0;
}

std::array<std::unique_lock<std::mutex>, 2> FileStore::lock_partial_edges(uint64_t offset,
                                                                          uint64_t end) {
    std::array<std::unique_lock<std::mutex>, 2> held;
    if (direct_align_ == 0 || end <= offset) {
        return held;
    }
    const uint64_t a = direct_align_;
    std::array<size_t, 2> stripes = {};
    size_t count = 0;
    if (offset % a != 0) {
        stripes[count++] = static_cast<size_t>((offset / a) % edge_stripes);
    }
    if (end % a != 0) {
        stripes[count++] = static_cast<size_t>((end / a) % edge_stripes);
    }
    // Ascending order, each stripe once (STYLE.md): two writers never wait on each other.
    if (count == 2 && stripes[1] < stripes[0]) {
        std::swap(stripes[0], stripes[1]);
    }
    if (count == 2 && stripes[0] == stripes[1]) {
        count = 1;
    }
    for (size_t i = 0; i < count; ++i) {
        held[i] = std::unique_lock(edge_locks_[stripes[i]]);
    }
    return held;
}

Status FileStore::read(uint64_t offset, std::span<uint8_t> out) {
    if (!in_range(offset, out.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (!direct_ready(offset, out.data(), out.size())) {
        return read_bounced(offset, out);
    }
    return read_all(offset, out);
}

Status FileStore::read_nowait(uint64_t offset, std::span<uint8_t> out) {
    if (!in_range(offset, out.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (!reads_without_waiting()) {
        return Status::error(StoreErrc::would_block);
    }
    size_t done = 0;
    while (done < out.size()) {
        iovec iov{out.data() + done, out.size() - done};
        const ssize_t n = ::preadv2(fd_, &iov, 1, static_cast<off_t>(offset + done), RWF_NOWAIT);
        if (n > 0) {
            done += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EOPNOTSUPP) {
            nowait_reads_.store(false, std::memory_order_relaxed);  // an old kernel: never again
        }
        // EAGAIN: a page is not cached; a short count at the end of file: read() tells.
        return Status::error(StoreErrc::would_block);
    }
    return Status::success();
}

Status FileStore::read_bounced(uint64_t offset, std::span<uint8_t> out) {
    const uint64_t a = direct_align_;
    const uint64_t end = offset + out.size();
    // The image size is a multiple of `a` (open, grow), so the covering blocks lie inside it.
    const uint64_t span_bytes = round_up(end, a) - round_down(offset, a);
    const auto bounce_size = static_cast<size_t>(std::min<uint64_t>(span_bytes, bounce_bytes));
    AlignedBuffer bounce = allocate_aligned(std::max(a, uint64_t{direct_mem_align_}), bounce_size);
    if (!bounce) {
        return Status::error(StoreErrc::io_error, ENOMEM);
    }
    uint64_t pos = offset;
    while (pos < end) {
        const uint64_t lo = round_down(pos, a);
        const uint64_t hi = std::min(round_up(end, a), lo + bounce_size);
        if (Status s = read_all(lo, std::span(bounce.get(), static_cast<size_t>(hi - lo)));
            !s.ok()) {
            return s;
        }
        const uint64_t n = std::min(end, hi) - pos;
        std::memcpy(out.data() + (pos - offset), bounce.get() + (pos - lo), static_cast<size_t>(n));
        pos += n;
    }
    return Status::success();
}

Status FileStore::read_all(uint64_t offset, std::span<uint8_t> out) {
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n =
            ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return from_errno(errno);
        }
        if (n == 0) {
            // End of file inside the LUN: someone shrank the image under us. Zeros would hide
            // lost data, so report a medium error.
            return Status::error(StoreErrc::io_error, EIO);
        }
        done += static_cast<size_t>(n);
    }
    return Status::success();
}

Status FileStore::write_all(uint64_t offset, std::span<const uint8_t> in) {
    size_t done = 0;
    while (done < in.size()) {
        const ssize_t n = ::pwrite(fd_, in.data() + done, piece(offset + done, in.size() - done),
                                   static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return from_errno(errno);
        }
        if (n == 0) {
            return Status::error(StoreErrc::io_error, EIO);  // no progress: do not spin
        }
        done += static_cast<size_t>(n);
    }
    return Status::success();
}

Status FileStore::write_all_dsync(uint64_t offset, std::span<const uint8_t> in, bool& unsupported) {
    unsupported = false;
    size_t done = 0;
    while (done < in.size()) {
        iovec iov = {};
        iov.iov_base = const_cast<uint8_t*>(in.data() + done);
        iov.iov_len = piece(offset + done, in.size() - done);
        const ssize_t n = ::pwritev2(fd_, &iov, 1, static_cast<off_t>(offset + done), RWF_DSYNC);
        if (n < 0) {
            const int e = errno;
            if (e == EINTR) {
                continue;
            }
            if (done == 0 && (e == EOPNOTSUPP || e == ENOSYS || e == EINVAL)) {
                unsupported = true;  // old kernel or file system: caller falls back
                return Status::success();
            }
            return from_errno(e);
        }
        if (n == 0) {
            return Status::error(StoreErrc::io_error, EIO);
        }
        done += static_cast<size_t>(n);
    }
    return Status::success();
}

Status FileStore::write(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    if (!in_range(offset, in.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (read_only_) {
        return Status::error(StoreErrc::read_only, EBADF);
    }
    // Guard (b) counts the writes that can hold the inode lock long: a sync, O_DIRECT, a partial
    // page read from the disk. One into cached pages holds it for microseconds; counting those
    // too would keep a busy LUN's writes on the workers for good once one went there (each in
    // flight sends the next ones after it).
    std::optional<BlockingCall> counted;
    if (fua || direct() || !partial_pages_cached(offset, offset + in.size())) {
        counted.emplace(inline_policy_);
    }
    if (!direct_ready(offset, in.data(), in.size())) {
        return write_bounced(offset, in, fua);
    }
    return write_through(offset, in, fua);
}

Status FileStore::write_nowait(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    if (!in_range(offset, in.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    using Reason = InlineWritePolicy::Reason;
    if (!writes_without_waiting() || fua) {
        return inline_policy_.would_block(Reason::waits);
    }
    if (!inline_policy_.fits(in.size())) {
        return inline_policy_.would_block(Reason::large);
    }
    NowaitWrites mode = nowait_writes();
    if (mode == NowaitWrites::guarded && inline_policy_.busy()) {
        return inline_policy_.would_block(Reason::busy);  // guard (b)
    }
    const std::optional<InlineWritePolicy::Mark> start = inline_policy_.start_inline_write();
    if (!start) {
        return inline_policy_.would_block(Reason::backing_off);  // guard (c)
    }
    const uint64_t end = offset + in.size();
    if (!partial_pages_cached(offset, end)) {
        inline_policy_.note_inline_write(*start);
        return inline_policy_.would_block(Reason::uncached_page);  // guard (a)
    }
    Status s;
    if (mode != NowaitWrites::guarded) {
        bool unsupported = false;
        s = write_kernel_nowait(offset, in, unsupported);
        if (unsupported) {
            mode = NowaitWrites::guarded;
            if (nowait_writes_.exchange(mode, std::memory_order_relaxed) != mode) {
                spdlog::info(
                    "image {}: the file system refuses pwritev2(RWF_NOWAIT) on buffered "
                    "writes; the I/O thread writes with guards (issue 17)",
                    path_);
            }
            if (inline_policy_.busy()) {
                return inline_policy_.would_block(Reason::busy);
            }
        } else if (mode == NowaitWrites::untried) {
            nowait_writes_.store(NowaitWrites::kernel, std::memory_order_relaxed);
        }
    }
    if (mode == NowaitWrites::guarded) {
        s = write_all(offset, in);
    }
    inline_policy_.note_inline_write(*start);
    if (s.code == StoreErrc::would_block) {
        return inline_policy_.would_block(Reason::kernel);
    }
    if (s.ok()) {
        inline_policy_.count_inline_write();
    }
    return s;
}

bool FileStore::partial_pages_cached(uint64_t offset, uint64_t end) {
    if (pages_in_memory_) {
        return true;
    }
    const auto cached = [this](uint64_t at) {
        if (!nowait_reads_.load(std::memory_order_relaxed)) {
            return false;  // no way to tell: partial pages go to the worker
        }
        uint8_t byte = 0;
        iovec iov{&byte, 1};
        ssize_t n = 0;
        do {
            n = ::preadv2(fd_, &iov, 1, static_cast<off_t>(at), RWF_NOWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EOPNOTSUPP) {
            nowait_reads_.store(false, std::memory_order_relaxed);
        }
        // EAGAIN: not in the page cache (the probe starts reading it in).
        return n == 1;
    };
    const bool head_partial = offset % page_bytes_ != 0;
    const bool tail_partial = end % page_bytes_ != 0;
    if (head_partial && !cached(offset)) {
        return false;
    }
    // One page holding both ends: the head's probe answered for it.
    if (tail_partial && !(head_partial && (end - 1) / page_bytes_ == offset / page_bytes_) &&
        !cached(end - 1)) {
        return false;
    }
    return true;
}

Status FileStore::write_kernel_nowait(uint64_t offset, std::span<const uint8_t> in,
                                      bool& unsupported) {
    unsupported = false;
    iovec iov{const_cast<uint8_t*>(in.data()), piece(offset, in.size())};
    ssize_t n = 0;
    do {
        n = ::pwritev2(fd_, &iov, 1, static_cast<off_t>(offset), RWF_NOWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(in.size())) {
        return Status::success();
    }
    if (n == static_cast<ssize_t>(iov.iov_len)) {
        // The first piece is in: the rest (the range crosses a piece boundary) as a plain write.
        return write_all(offset + iov.iov_len, in.subspan(iov.iov_len));
    }
    if (n > 0) {
        // Stopped short where it would have waited (a folio to read, dirty throttling): the rest
        // is written here, since would_block promises nothing written (COMPARE AND WRITE's worker
        // retry compares again). The stall detector times it.
        inline_policy_.count_kernel_short_finished();
        return write_all(offset + static_cast<uint64_t>(n), in.subspan(static_cast<size_t>(n)));
    }
    if (n == 0) {
        return Status::error(StoreErrc::would_block);  // no progress: the worker's write() tells
    }
    const int e = errno;
    if (e == EAGAIN) {
        return Status::error(StoreErrc::would_block);
    }
    if (e == EOPNOTSUPP || e == EINVAL || e == ENOSYS) {
        unsupported = true;  // EINVAL: a kernel older than RWF_NOWAIT writes (4.13)
        return Status::success();
    }
    return from_errno(e);
}

Status FileStore::write_bounced(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    const uint64_t a = direct_align_;
    const uint64_t end = offset + in.size();
    const uint64_t span_bytes = round_up(end, a) - round_down(offset, a);
    const auto bounce_size = static_cast<size_t>(std::min<uint64_t>(span_bytes, bounce_bytes));
    AlignedBuffer bounce = allocate_aligned(std::max(a, uint64_t{direct_mem_align_}), bounce_size);
    if (!bounce) {
        return Status::error(StoreErrc::io_error, ENOMEM);
    }
    // Held from the first read of a partial block to its write-back.
    const auto edges = lock_partial_edges(offset, end);
    uint64_t pos = offset;
    while (pos < end) {
        const uint64_t lo = round_down(pos, a);
        const uint64_t hi = std::min(round_up(end, a), lo + bounce_size);
        // Only the first piece can start inside a block and only the last can end inside one:
        // read those blocks so the bytes around ours are written back unchanged.
        if (lo < pos) {
            if (Status s = read_all(lo, std::span(bounce.get(), static_cast<size_t>(a))); !s.ok()) {
                return s;
            }
        }
        if (end < hi && !(lo < pos && hi - lo == a)) {
            if (Status s = read_all(
                    hi - a, std::span(bounce.get() + (hi - a - lo), static_cast<size_t>(a)));
                !s.ok()) {
                return s;
            }
        }
        const uint64_t n = std::min(end, hi) - pos;
        std::memcpy(bounce.get() + (pos - lo), in.data() + (pos - offset), static_cast<size_t>(n));
        if (Status s =
                write_through(lo, std::span(bounce.get(), static_cast<size_t>(hi - lo)), fua);
            !s.ok()) {
            return s;
        }
        pos += n;
    }
    return Status::success();
}

Status FileStore::write_through(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    if (fua && native_fua()) {
        bool unsupported = false;
        Status s = write_all_dsync(offset, in, unsupported);
        if (!unsupported) {
            return s;
        }
        spdlog::warn("image {}: pwritev2(RWF_DSYNC) unsupported, FUA falls back to fdatasync",
                     path_);
        disable_native_fua();
    }
    Status s = write_all(offset, in);
    if (!s.ok() || !fua) {
        return s;
    }
    return flush();
}

Status FileStore::flush() {
    if (read_only_) {
        return Status::success();  // nothing of ours can be dirty
    }
    const BlockingCall counted = blocking_call();
    int rc = 0;
    do {
        rc = ::fdatasync(fd_);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        return from_errno(errno);
    }
    return Status::success();
}

Status FileStore::unmap(uint64_t offset, uint64_t length) {
    if (!in_range(offset, 0) || length > size_bytes_ - offset) {
        return Status::error(StoreErrc::out_of_range);
    }
    if (read_only_) {
        return Status::error(StoreErrc::read_only, EBADF);
    }
    if (length == 0) {
        return Status::success();
    }
    const BlockingCall counted = blocking_call();
    if (can_punch_.load(std::memory_order_relaxed)) {
        bool unsupported = false;
        Status s = punch(offset, length, unsupported);
        if (!unsupported) {
            return s;
        }
        spdlog::warn("image {}: hole punching unsupported, UNMAP writes zeros", path_);
        can_punch_.store(false, std::memory_order_relaxed);
    }
    // Zeros through write(), which aligns them for O_DIRECT (and takes the edge locks itself).
    return BlockStore::unmap(offset, length);
}

Status FileStore::punch(uint64_t offset, uint64_t length, bool& unsupported) {
    unsupported = false;
    // Zeroing part of an aligned block must not interleave with a read-modify-write of the same
    // block, which would write the old bytes back.
    const auto edges = lock_partial_edges(offset, offset + length);
    int rc = 0;
    do {
        // Punching zeroes partial file-system blocks and frees whole ones; KEEP_SIZE keeps
        // the image at the LUN's size.
        rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         static_cast<off_t>(offset), static_cast<off_t>(length));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
        return Status::success();
    }
    const int e = errno;
    if (e == EOPNOTSUPP || e == ENOSYS) {
        unsupported = true;
        return Status::success();
    }
    return from_errno(e);
}

Status FileStore::mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) {
    if (offset >= size_bytes_ || limit == 0) {
        return Status::error(StoreErrc::out_of_range);
    }
    const uint64_t end = offset + std::min(limit, size_bytes_ - offset);
    const BlockingCall counted = blocking_call();  // SEEK_DATA takes the inode lock shared
    const off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0) {
        if (errno == ENXIO) {  // no data at or after offset: a hole to the end of the file
            mapped = false;
            length = end - offset;
            return Status::success();
        }
        if (errno == EINVAL || errno == EOPNOTSUPP) {  // the file system cannot tell
            return BlockStore::mapped_extent(offset, limit, mapped, length);
        }
        return from_errno(errno);
    }
    if (static_cast<uint64_t>(data) > offset) {
        mapped = false;
        length = std::min(static_cast<uint64_t>(data), end) - offset;
        return Status::success();
    }
    const off_t hole = ::lseek(fd_, static_cast<off_t>(offset), SEEK_HOLE);
    if (hole < 0) {
        return from_errno(errno);
    }
    mapped = true;
    length = std::min(std::max(static_cast<uint64_t>(hole), offset + 1), end) - offset;
    return Status::success();
}

Status FileStore::grow(uint64_t new_size) {
    if (read_only_) {
        return Status::error(StoreErrc::read_only);
    }
    if (new_size < size_bytes_ || (direct_align_ != 0 && new_size % direct_align_ != 0)) {
        return Status::error(StoreErrc::out_of_range);
    }
    // ftruncate extends with a hole: the new range reads zeros and costs no space until written.
    const BlockingCall counted = blocking_call();
    if (::ftruncate(fd_, static_cast<off_t>(new_size)) != 0) {
        return Status::error(errno == ENOSPC ? StoreErrc::no_space : StoreErrc::io_error, errno);
    }
    size_bytes_ = new_size;
    return Status::success();
}

uint64_t FileStore::allocated_bytes() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        return size_bytes();
    }
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace atsarray::backend
