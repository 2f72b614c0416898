#include "target/daemon/lun_identity.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "backend/durable_file.hpp"
#include "backend/shared_records.hpp"
#include "target/daemon/config.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::daemon {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

std::string to_hex(const std::array<uint8_t, 16>& bytes) {
    std::string out;
    for (const uint8_t b : bytes) {
        out += hex_digits[b >> 4];
        out += hex_digits[b & 0xF];
    }
    return out;
}

bool from_hex(std::string_view text, std::array<uint8_t, 16>& out) {
    if (text.size() != 2 * out.size()) {
        return false;
    }
    const auto nibble = [](char c) -> int {
        const char* p = std::strchr(hex_digits, c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        return c != '\0' && p != nullptr ? static_cast<int>(p - hex_digits) : -1;
    };
    for (size_t i = 0; i < out.size(); ++i) {
        const int hi = nibble(text[2 * i]);
        const int lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return true;
}

// NAA 6 (SPC-4 §7.8.6.6.5): the high nibble of the first byte.
bool is_naa6(const std::array<uint8_t, 16>& naa) {
    return (naa[0] >> 4) == 0x6;
}

// Reads an identity from its stored text; ConfigError naming `where` when it is damaged.
LunIdentity parse_identity(const std::string& text, const std::string& where) {
    LunIdentity stored;
    try {
        const toml::table t = toml::parse(text, where);
        stored.serial = t["serial"].value_or(std::string());
        const std::string naa = t["naa"].value_or(std::string());
        const bool printable = std::all_of(stored.serial.begin(), stored.serial.end(),
                                           [](char c) { return c >= 0x20 && c <= 0x7e; });
        if (stored.serial.empty() || stored.serial.size() > 20 || !printable ||
            !from_hex(naa, stored.naa) || !is_naa6(stored.naa)) {
            throw ConfigError(where +
                              ": damaged LUN identity (needs serial, 1..20 characters, and "
                              "naa, 32 hex digits of an NAA 6 designator); restore it from a "
                              "backup: initiators know the LUN by it");
        }
    } catch (const toml::parse_error& e) {
        throw ConfigError(where + ": unreadable LUN identity: " + std::string(e.description()));
    }
    return stored;
}

std::string identity_text(const LunIdentity& identity) {
    return "# atsarray: the identity initiators know this LUN by (VPD 0x80 serial, VPD 0x83 NAA),\n"
           "# made when its data was first served. Keep it with the data; a new one is a new "
           "disk.\n"
           "serial = \"" +
           identity.serial + "\"\nnaa = \"" + to_hex(identity.naa) + "\"\n";
}

void check_configured_serial(const LunIdentity& stored, const std::string& where,
                             const std::string& serial, bool serial_configured,
                             const std::string& remedy) {
    if (serial_configured && serial != stored.serial) {
        throw ConfigError(where + ": the LUN's stored serial is \"" + stored.serial +
                          "\" but the config sets serial = \"" + serial +
                          "\"; initiators know the LUN by the stored one: set it in the "
                          "config or remove the key (" +
                          remedy + ")");
    }
}

}  // namespace

LunIdentity settle_identity(const std::string& path, const std::string& target_name,
                            const std::string& serial, bool serial_configured, bool read_only) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text_stream;
        text_stream << in.rdbuf();
        if (!in) {
            throw ConfigError(path + ": unreadable LUN identity: " + std::strerror(errno));
        }
        const std::string text = text_stream.str();
        LunIdentity stored = parse_identity(text, path);
        check_configured_serial(stored, path, serial, serial_configured,
                                "delete this file only to give the LUN a new identity");
        return stored;
    }
    LunIdentity made{serial, scsi::derive_naa_designator(target_name, serial)};
    if (read_only) {
        return made;  // nothing may be written next to a read-only LUN's data
    }
    if (const int error = backend::write_file_durably(path, identity_text(made)); error != 0) {
        throw ConfigError(path + ": cannot store the LUN's identity: " + std::strerror(error));
    }
    spdlog::info("{}: new LUN identity, serial {} naa {}", path, made.serial, to_hex(made.naa));
    return made;
}

LunIdentity settle_shared_identity(backend::SharedRecords& records, const std::string& where,
                                   const std::string& target_name, const std::string& serial,
                                   bool serial_configured, bool read_only) {
    const LunIdentity made{serial, scsi::derive_naa_designator(target_name, serial)};
    // Two gateways starting at once both find no record: write_if(…, 0) lets exactly one store
    // its identity, and the other reads the winner's on the next round.
    for (int round = 0; round < 2; ++round) {
        std::string text;
        uint64_t version = 0;
        if (const backend::Status st = records.read(identity_record, text, version); !st.ok()) {
            throw ConfigError(where + ": cannot read the LUN's identity from the cluster: " +
                              backend::to_string(st));
        }
        if (version != 0) {
            LunIdentity stored = parse_identity(text, where + " record " + identity_record);
            check_configured_serial(stored, where, serial, serial_configured,
                                    "every gateway of the image answers with the stored one");
            return stored;
        }
        if (read_only) {
            return made;
        }
        bool written = false;
        uint64_t new_version = 0;
        if (const backend::Status st =
                records.write_if(identity_record, identity_text(made), 0, written, new_version);
            !st.ok()) {
            throw ConfigError(where + ": cannot store the LUN's identity in the cluster: " +
                              backend::to_string(st));
        }
        if (written) {
            spdlog::info("{}: new LUN identity, serial {} naa {} (kept in the cluster)", where,
                         made.serial, to_hex(made.naa));
            return made;
        }
    }
    throw ConfigError(where +
                      ": the LUN's identity record changes under this gateway; is another "
                      "gateway rewriting it?");
}
}  // namespace atsarray::daemon
