#include "target/daemon/config_rbd.hpp"

#include <cstdlib>
#include <filesystem>

namespace atsarray::daemon {

namespace {

// A pool or image name as Ceph takes it: no '/' or '@' (rbd's pool/image@snap syntax), no
// whitespace, not empty.
bool valid_rbd_name(const std::string& name) {
    if (name.empty() || name.size() > 255) {
        return false;
    }
    for (const char c : name) {
        if (c == '/' || c == '@' || c <= ' ' || c > '~') {
            return false;
        }
    }
    return true;
}

std::string resolve(const std::filesystem::path& base_dir, const std::string& value) {
    std::filesystem::path p(value);
    if (p.is_relative() && !base_dir.empty()) {
        p = base_dir / p;
    }
    return p.lexically_normal().string();
}

}  // namespace

void parse_rbd_lun(const TomlReader& reader, const toml::table& table, const std::string& path,
                   const std::filesystem::path& base_dir, LunConfig& lun) {
    if (lun.backend != BackendKind::rbd) {
        for (const std::string_view key : rbd_lun_keys) {
            if (table.contains(key)) {
                reader.fail(join_path(path, key), "only for backend \"rbd\", not \"" +
                                                      std::string(to_string(lun.backend)) + "\"");
            }
        }
        return;
    }
    RbdLunConfig& rbd = lun.rbd;
    for (const std::string_view key : {std::string_view("pool"), std::string_view("image")}) {
        const std::string value = reader.require_string(table, path, key);
        if (!valid_rbd_name(value)) {
            reader.fail(join_path(path, key),
                        "must be a Ceph " + std::string(key) +
                            " name (printable, no spaces, '/' or '@'), got \"" + value + "\"");
        }
        (key == "pool" ? rbd.pool : rbd.image) = value;
    }
    if (auto conf = reader.get_string(table, path, "ceph_conf")) {
        if (conf->empty()) {
            reader.fail(join_path(path, "ceph_conf"), "must not be empty");
        }
        rbd.ceph_conf = resolve(base_dir, *conf);
    } else if (const char* env = std::getenv("CEPH_CONF"); env != nullptr && *env != '\0') {
        rbd.ceph_conf = env;
    } else {
        rbd.ceph_conf = "/etc/ceph/ceph.conf";
    }
    if (auto client = reader.get_string(table, path, "client")) {
        if (!valid_rbd_name(*client) || client->starts_with("client.")) {
            reader.fail(join_path(path, "client"),
                        "must be the cephx name without \"client.\" (e.g. \"admin\"), got \"" +
                            *client + "\"");
        }
        rbd.client = *client;
    }
    if (auto keyring = reader.get_string(table, path, "keyring")) {
        rbd.keyring = keyring->empty() ? "" : resolve(base_dir, *keyring);
    }
    rbd.create = reader.get_bool(table, path, "create", rbd.create);
    rbd.timeout_s = static_cast<uint32_t>(reader.get_uint(table, path, "timeout_s", 1, 3600, 30));
    if (rbd.create && !table.contains("size")) {
        reader.fail(join_path(path, "size"),
                    "required with create = true (the size of the image to create)");
    }
}

}  // namespace atsarray::daemon
