#include "target/daemon/lun_factory.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include "backend/delay_store.hpp"
#include "backend/file_store.hpp"
#include "backend/memory_store.hpp"
#include "backend/rbd_store.hpp"
#include "backend/rocksdb_store.hpp"
#include "backend/shared_records.hpp"
#include "target/daemon/lun_identity.hpp"
#include "target/daemon/rbd_console.hpp"
#include "target/forensics/flight_recorder.hpp"

namespace atsarray::daemon {

namespace {

std::shared_ptr<backend::BlockStore> open_medium(const DaemonConfig& config,
                                                 const TargetConfig& target, const LunConfig& lun) {
    std::string error;
    std::shared_ptr<backend::BlockStore> store;
    switch (lun.backend) {
        case BackendKind::memory: {
            return std::make_shared<backend::MemoryStore>(lun.size_bytes);
        }
        case BackendKind::rocksdb: {
            // One database per data_dir, shared by the daemon's LUNs; a column family per LUN.
            backend::RocksDbOptions options;
            options.block_cache_bytes = lun.rocksdb.block_cache_bytes;
            options.compression = std::string(to_string(lun.rocksdb.compression));
            options.background_jobs = static_cast<int>(lun.rocksdb.background_jobs);
            options.chunk_bytes = lun.rocksdb.chunk_bytes;
            store = backend::RocksDbStore::open(lun.data_dir + "/rocksdb",
                                                target.name + "/lun" + std::to_string(lun.id),
                                                lun.size_bytes, options, lun.read_only, error);
            break;
        }
        case BackendKind::file: {
            backend::FileStoreOptions options;
            options.read_only = lun.read_only;
            options.direct = lun.direct;
            store = backend::FileStore::open(lun.path, lun.size_bytes, options, error);
            break;
        }
        case BackendKind::rbd: {
            // The image is the LUN: its size when it exists, `size` when create makes it. A
            // cluster that does not answer within timeout_s stops the start (exit 2).
            backend::RbdOptions options;
            options.pool = lun.rbd.pool;
            options.image = lun.rbd.image;
            options.ceph_conf = lun.rbd.ceph_conf;
            options.client = lun.rbd.client;
            options.keyring = lun.rbd.keyring;
            options.create = lun.rbd.create;
            options.size_bytes = lun.size_bytes;
            options.timeout_s = lun.rbd.timeout_s;
            options.read_only = lun.read_only;
            store = backend::RbdStore::open(options, error);
            break;
        }
    }
    if (!store) {
        const std::string key = lun.backend == BackendKind::file  ? lun.key + ".path"
                                : lun.backend == BackendKind::rbd ? lun.key + ".image"
                                                                  : "data_dir";
        throw ConfigError(config.source_path + ": " + key + ": target " + target.name + " lun " +
                          std::to_string(lun.id) + ": " + error);
    }
    return store;
}

// Where a LUN keeps what outlives the daemon next to its data (persistent reservations, its
// identity): beside the image or the database; a memory LUN has nothing that survives a restart.
// The LUN's flight recorder histories kept from its last run ([ats] recorder_persist), put back.
// A file that cannot be read is logged and left alone: the LUN starts without them.
void restore_forensics(forensics::FlightRecorder& recorder, const scsi::Lun& lun) {
    const std::string& path = lun.settings().forensics_path;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return;  // none kept yet
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
        const size_t blocks = recorder.restore(lun.lock_key(), text);
        spdlog::info(
            "target {} lun {}: the flight recorder's histories of {} blocks restored from {}",
            lun.settings().target_name, lun.id(), blocks, path);
    } catch (const std::invalid_argument& e) {
        spdlog::warn("target {} lun {}: {} not restored: {}", lun.settings().target_name, lun.id(),
                     path, e.what());
    }
}

std::string kept_with_data(const TargetConfig& target, const LunConfig& lun) {
    switch (lun.backend) {
        case BackendKind::file: {
            return lun.path;
        }
        case BackendKind::rocksdb: {
            return lun.data_dir + "/" + target.name + "-lun" + std::to_string(lun.id);
        }
        case BackendKind::memory:
        case BackendKind::rbd: {
            break;  // rbd: kept in the image's records, shared by every gateway
        }
    }
    return {};
}

}  // namespace

std::shared_ptr<scsi::Lun> LunFactory::make(
    const TargetConfig& tc, const LunConfig& lc,
    std::shared_ptr<scsi::TargetPortGroups> port_groups) const {
    auto store = open_medium(config, tc, lc);
    auto rbd = std::dynamic_pointer_cast<backend::RbdStore>(store);
    // A slow medium (SPDK's bdev_delay): the store behind a DelayStore.
    if (lc.read_delay_us != 0 || lc.write_delay_us != 0) {
        store = std::make_shared<backend::DelayStore>(std::move(store),
                                                      std::chrono::microseconds(lc.read_delay_us),
                                                      std::chrono::microseconds(lc.write_delay_us));
    }
    if (store->size_bytes() % lc.block_size != 0) {
        throw ConfigError(config.source_path + ": " + lc.key + ".block_size: the image's " +
                          std::to_string(store->size_bytes()) +
                          " bytes are not a multiple of block_size " +
                          std::to_string(lc.block_size));
    }
    scsi::LunSettings ls;
    ls.id = lc.id;
    ls.block_size = lc.block_size;
    ls.block_count = store->size_bytes() / lc.block_size;
    ls.vendor = lc.vendor;
    ls.product = lc.product;
    ls.serial = lc.serial;
    ls.target_name = tc.name;
    ls.write_cache = lc.write_cache;
    ls.read_only = lc.read_only;
    ls.removable = lc.removable;
    // Persistent reservations with APTPL (SPC-4 §5.13.4) and the LUN's identity live next to the
    // image or the database; a memory LUN refuses APTPL and derives its identity at each start.
    const std::string kept = kept_with_data(tc, lc);
    ls.state_path = kept.empty() ? std::string() : kept + ".pr";
    ls.sanitize_state_path = kept.empty() ? std::string() : kept + ".sanitize";
    if (config.ats.recorder_persist && services.recorder && !kept.empty()) {
        ls.forensics_path = kept + ".forensics";
    }
    backend::SharedRecords* records = store->shared_records();
    if (records != nullptr) {
        const LunIdentity identity =
            settle_shared_identity(*records, config.source_path + ": " + lc.key, tc.name, lc.serial,
                                   lc.serial_configured, lc.read_only);
        ls.serial = identity.serial;
        ls.naa = identity.naa;
    } else if (!kept.empty()) {
        const LunIdentity identity = settle_identity(kept + ".identity", tc.name, lc.serial,
                                                     lc.serial_configured, lc.read_only);
        ls.serial = identity.serial;
        ls.naa = identity.naa;
    }
    spdlog::info("target {} lun {}: {} store, {} blocks of {} bytes{}", tc.name, lc.id,
                 store->kind(), ls.block_count, ls.block_size, lc.read_only ? ", read-only" : "");
    scsi::LunServices lun_services = services;
    lun_services.port_groups = std::move(port_groups);
    auto lun = std::make_shared<scsi::Lun>(ls, std::move(store), submit, lun_services);
    // Several gateways of one image: persistent reservations live in its records, so a
    // reservation made through one gateway is enforced by every other (SPC-4 §5.13).
    if (records != nullptr &&
        !lun->reservations().use_shared_records(
            records, "persistent-reservations",
            [weak = std::weak_ptr<scsi::Lun>(lun)](uint64_t nexus, scsi::SenseReason r) {
                if (auto l = weak.lock()) {
                    l->unit_attentions().queue(nexus, r);
                }
            })) {
        throw ConfigError(config.source_path + ": " + lc.key +
                          ": cannot read the persistent reservations kept in the cluster (see "
                          "the log)");
    }
    if (!ls.forensics_path.empty()) {
        restore_forensics(*services.recorder, *lun);
    }
    if (rbd && rbd_console != nullptr) {
        rbd_console->add_lun(tc.name, lc.id, std::move(rbd));
    }
    return lun;
}

void LunFactory::forget(const scsi::Lun& lun) const {
    if (rbd_console != nullptr) {
        rbd_console->remove_lun(lun.settings().target_name, lun.id());
    }
    keep_forensics(lun);
    if (services.recorder) {
        services.recorder->forget(lun.lock_key());
    }
}

void LunFactory::keep_forensics(const scsi::Lun& lun) const {
    const std::string& path = lun.settings().forensics_path;
    if (path.empty() || !services.recorder) {
        return;
    }
    services.recorder->settle();
    const std::string text = services.recorder->save(lun.lock_key());
    // Written aside and renamed: a crash while writing leaves the last complete file.
    const std::string aside = path + ".new";
    {
        std::ofstream out(aside, std::ios::binary | std::ios::trunc);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        out.flush();
        if (!out) {
            spdlog::warn(
                "target {} lun {}: cannot write {}: the flight recorder's histories are "
                "not kept",
                lun.settings().target_name, lun.id(), aside);
            return;
        }
    }
    if (std::rename(aside.c_str(), path.c_str()) != 0) {
        spdlog::warn("target {} lun {}: cannot rename {} to {}", lun.settings().target_name,
                     lun.id(), aside, path);
    }
}

void LunList::add(std::shared_ptr<scsi::Lun> lun) {
    std::lock_guard lock(mutex_);
    luns_.push_back(std::move(lun));
}

void LunList::remove(const scsi::Lun* lun) {
    std::lock_guard lock(mutex_);
    std::erase_if(luns_, [lun](const auto& l) { return l.get() == lun; });
}

std::vector<std::shared_ptr<scsi::Lun>> LunList::snapshot() const {
    std::lock_guard lock(mutex_);
    return luns_;
}

}  // namespace atsarray::daemon
