#pragma once
// A LUN's identity, kept with its data: the unit serial number (VPD 0x80) and the NAA designator
// (VPD 0x83) by which ESXi and multipath initiators know the device. Derived from the config the
// first time the LUN's data is created, then read back on every start, so renaming the target
// or upgrading the derivation never turns an existing datastore into a "new" device
// (REFERENCES.md: keep them stable across restarts).

#include <array>
#include <cstdint>
#include <string>

namespace atsarray::backend {
class SharedRecords;
}

namespace atsarray::daemon {

// The record an rbd LUN's identity is kept in (backend::SharedRecords of the image).
inline constexpr char identity_record[] = "identity";

struct LunIdentity {
    std::string serial;
    std::array<uint8_t, 16> naa{};
};

// The identity kept in `path` (a small TOML file next to the image or the database), or, when
// there is none, the one made from `serial` (the config's or the derived one) and `target_name`,
// stored there before the LUN serves anything. `serial_configured`: the config set the serial;
// then it must equal the stored one. `read_only`: the identity is not stored when missing.
// Throws ConfigError (exit status 2) for a stored identity that is unreadable or damaged, a
// configured serial that differs from it, or one that cannot be stored.
LunIdentity settle_identity(const std::string& path, const std::string& target_name,
                            const std::string& serial, bool serial_configured, bool read_only);

// The same, kept in the records of a medium that several gateways share (an RBD image): the first
// gateway that serves the LUN stores its identity there, atomically; every other one answers
// with it, whatever target name or derived serial it has. `where` names the LUN in messages.
LunIdentity settle_shared_identity(backend::SharedRecords& records, const std::string& where,
                                   const std::string& target_name, const std::string& serial,
                                   bool serial_configured, bool read_only);

}  // namespace atsarray::daemon
