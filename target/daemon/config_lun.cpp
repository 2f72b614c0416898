#include "target/daemon/config_lun.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "target/daemon/config_rbd.hpp"
#include "target/scsi/lun_limits.hpp"

namespace atsarray::daemon {

namespace {

using scsi::max_lun_id;

// 64-bit FNV-1a: stable across compilers and runs, unlike std::hash.
uint64_t fnv1a(std::string_view s) {
    uint64_t h = 14695981039346656037ull;
    for (char c : s) {
        h ^= static_cast<uint8_t>(c);
        h *= 1099511628211ull;
    }
    return h;
}

// "ATS" + 16 hex digits: 19 characters, within the 20 of the unit serial number VPD page.
std::string derive_serial(const std::string& target_name, uint64_t lun_id) {
    const uint64_t h = fnv1a(target_name + '\0' + std::to_string(lun_id));
    static constexpr std::array<char, 16> digits = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                    '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};
    std::string serial = "ATS";
    for (int shift = 60; shift >= 0; shift -= 4) {
        serial += digits[(h >> shift) & 0xf];
    }
    return serial;
}

}  // namespace

uint64_t parse_size(const TomlReader& reader, const toml::node& node, const std::string& key) {
    if (node.is_integer()) {
        const int64_t v = node.as_integer()->get();
        if (v <= 0) {
            reader.fail(key, "must be greater than 0, got " + std::to_string(v));
        }
        return static_cast<uint64_t>(v);
    }
    if (!node.is_string()) {
        reader.fail(key,
                    "expected an integer or a string like \"1GiB\", got " + type_name(node.type()));
    }
    const std::string& text = node.as_string()->get();
    const std::string bad = "invalid size " + in_quotes(text) +
                            ": expected bytes or a whole number with suffix KiB, MiB, GiB "
                            "or TiB";
    uint64_t number = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(begin, end, number);
    if (ptr == begin) {
        reader.fail(key, bad);
    }
    if (ec == std::errc::result_out_of_range) {
        reader.fail(key, "size " + in_quotes(text) + " is too large");
    }
    std::string_view suffix(ptr, static_cast<size_t>(end - ptr));
    while (!suffix.empty() && suffix.front() == ' ') {
        suffix.remove_prefix(1);
    }
    static constexpr std::array<std::pair<std::string_view, unsigned>, 5> units = {
        {{"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}}};
    const auto unit =
        std::find_if(units.begin(), units.end(), [&](const auto& u) { return u.first == suffix; });
    if (unit == units.end()) {
        reader.fail(key, bad);
    }
    if (number == 0) {
        reader.fail(key, "must be greater than 0, got " + in_quotes(text));
    }
    // Sizes become file offsets (off_t): keep them below 2^63.
    const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (number > (limit >> unit->second)) {
        reader.fail(key, "size " + in_quotes(text) + " is too large");
    }
    return number << unit->second;
}

LunParser::LunParser(const TomlReader& reader, std::filesystem::path base_dir)
    : reader_(reader), base_dir_(std::move(base_dir)) {}

void LunParser::set_rocksdb(std::string data_dir, RocksDbConfig rocksdb) {
    data_dir_ = std::move(data_dir);
    rocksdb_ = std::move(rocksdb);
}

void LunParser::begin_target() {
    lun_ids_.clear();
}

void LunParser::check_inquiry_text(const std::string& value, const std::string& key,
                                   size_t max) const {
    if (value.size() > max) {
        reader_.fail(key, "must be at most " + std::to_string(max) + " characters, got " +
                              std::to_string(value.size()) + " (" + in_quotes(value) + ")");
    }
    if (!is_printable_ascii(value)) {
        reader_.fail(key, "must be printable ASCII (0x20..0x7e)");
    }
}

LunConfig LunParser::parse(const toml::table& table, const std::string& path,
                           const std::string& target_name) {
    reader_.check_keys(table, path,
                       {"id",         "backend",   "path",          "direct",         "size",
                        "block_size", "serial",    "vendor",        "product",        "write_cache",
                        "read_only",  "removable", "read_delay_us", "write_delay_us", "pool",
                        "image",      "ceph_conf", "client",        "keyring",        "create",
                        "timeout_s"});
    LunConfig lun;
    lun.key = path;
    const auto id = reader_.get_optional_uint(table, path, "id", 0, max_lun_id);
    if (!id) {
        reader_.fail(join_path(path, "id"), "required key is missing");
    }
    lun.id = *id;
    if (const auto [it, inserted] = lun_ids_.emplace(lun.id, path); !inserted) {
        reader_.fail(join_path(path, "id"),
                     "duplicate LUN id " + std::to_string(lun.id) + " (also " + it->second + ")");
    }

    if (auto backend = reader_.get_string(table, path, "backend")) {
        const auto kind = backend_kind_from(*backend);
        if (!kind) {
            reader_.fail(join_path(path, "backend"),
                         "must be " + alternatives(names_of(backend_kinds), true) + ", got " +
                             in_quotes(*backend));
        }
        lun.backend = *kind;
    }

    const std::string path_key = join_path(path, "path");
    auto image = reader_.get_string(table, path, "path");
    if (lun.backend == BackendKind::file) {
        if (!image || image->empty()) {
            reader_.fail(path_key, "required for backend " + in_quotes(to_string(lun.backend)));
        }
        std::filesystem::path p(*image);
        if (p.is_relative() && !base_dir_.empty()) {
            p = base_dir_ / p;
        }
        lun.path = p.lexically_normal().string();
        const auto [it, inserted] = images_.emplace(lun.path, path_key);
        if (!inserted) {
            reader_.fail(path_key,
                         "image " + in_quotes(lun.path) + " is already used by " + it->second);
        }
    } else if (image) {
        reader_.fail(
            path_key,
            "not allowed for backend " + in_quotes(to_string(lun.backend)) +
                (lun.backend == BackendKind::rocksdb ? " (its data lives in data_dir)"
                 : lun.backend == BackendKind::rbd   ? " (its data is the image named by pool "
                                                       "and image)"
                                                     : " (it keeps data in RAM)"));
    }
    if (lun.backend == BackendKind::rocksdb) {
        lun.data_dir = data_dir_;
        lun.rocksdb = rocksdb_;
    }
    if (lun.backend != BackendKind::file && table.contains("direct")) {
        reader_.fail(join_path(path, "direct"), "not allowed for backend " +
                                                    in_quotes(to_string(lun.backend)) +
                                                    " (O_DIRECT applies to image files)");
    }
    lun.direct = reader_.get_bool(table, path, "direct", lun.direct);
    parse_rbd_lun(reader_, table, path, base_dir_, lun);
    if (lun.backend == BackendKind::rbd) {
        // One image is one LUN of this gateway: two LUNs on it would be two devices with
        // one medium and one identity.
        const std::string image = "rbd " + lun.rbd.pool + "/" + lun.rbd.image;
        const auto [it, inserted] = images_.emplace(image, join_path(path, "image"));
        if (!inserted) {
            reader_.fail(join_path(path, "image"),
                         "image " + in_quotes(lun.rbd.pool + "/" + lun.rbd.image) +
                             " is already used by " + it->second);
        }
    }

    // An rbd LUN that opens an existing image takes the image's size (size_bytes 0 here).
    const std::string size_key = join_path(path, "size");
    const toml::node* size = table.get("size");
    if (size == nullptr && lun.backend != BackendKind::rbd) {
        reader_.fail(size_key, "required key is missing");
    }
    if (size != nullptr) {
        lun.size_bytes = parse_size(reader_, *size, size_key);
    }

    const auto block_size = reader_.get_optional_uint(table, path, "block_size", 0,
                                                      std::numeric_limits<int64_t>::max());
    if (block_size) {
        if (!scsi::valid_block_size(*block_size)) {
            std::vector<std::string> sizes;
            for (const uint32_t size : scsi::block_sizes) {
                sizes.push_back(std::to_string(size));
            }
            reader_.fail(
                join_path(path, "block_size"),
                "must be " +
                    alternatives(std::vector<std::string_view>(sizes.begin(), sizes.end())) +
                    ", got " + std::to_string(*block_size));
        }
        lun.block_size = static_cast<uint32_t>(*block_size);
    }
    if (lun.size_bytes % lun.block_size != 0) {
        reader_.fail(size_key, "size " + std::to_string(lun.size_bytes) +
                                   " is not a multiple of block_size " +
                                   std::to_string(lun.block_size));
    }

    lun.serial = reader_.get_string(table, path, "serial").value_or("");
    check_inquiry_text(lun.serial, join_path(path, "serial"), 20);
    lun.serial_configured = !lun.serial.empty();
    if (lun.serial.empty()) {
        lun.serial = derive_serial(target_name, lun.id);
    }
    // Two LUNs with one serial look like two paths to one disk to a multipath initiator.
    const auto [it, inserted] = serials_.emplace(lun.serial, join_path(path, "serial"));
    if (!inserted) {
        reader_.fail(join_path(path, "serial"),
                     "serial " + in_quotes(lun.serial) + " is already used by " + it->second);
    }

    if (auto vendor = reader_.get_string(table, path, "vendor")) {
        lun.vendor = *vendor;
    }
    check_inquiry_text(lun.vendor, join_path(path, "vendor"), 8);
    if (auto product = reader_.get_string(table, path, "product")) {
        lun.product = *product;
    }
    check_inquiry_text(lun.product, join_path(path, "product"), 16);
    if (lun.vendor.empty() || lun.product.empty()) {
        reader_.fail(join_path(path, lun.vendor.empty() ? "vendor" : "product"),
                     "must not be empty");
    }

    lun.write_cache = reader_.get_bool(table, path, "write_cache", lun.write_cache);
    lun.read_only = reader_.get_bool(table, path, "read_only", lun.read_only);
    lun.removable = reader_.get_bool(table, path, "removable", lun.removable);
    lun.read_delay_us =
        static_cast<uint32_t>(reader_.get_uint(table, path, "read_delay_us", 0, 10'000'000, 0));
    lun.write_delay_us =
        static_cast<uint32_t>(reader_.get_uint(table, path, "write_delay_us", 0, 10'000'000, 0));
    return lun;
}
}  // namespace atsarray::daemon
