#include "target/ats/accounting.hpp"

#include <algorithm>
#include <atomic>

namespace atsarray::ats {

std::string_view to_string(Op op) {
    switch (op) {
        case Op::read:
            return "read";
        case Op::write:
            return "write";
        case Op::ats:
            return "ats";
        default:
            return "other";
    }
}

void AtsCounters::merge(const AtsCounters& o) {
    successes += o.successes;
    miscompares += o.miscompares;
    injected_miscompares += o.injected_miscompares;
    late_retry_miscompares += o.late_retry_miscompares;
    errors += o.errors;
    latency_success.merge(o.latency_success);
    latency_failure.merge(o.latency_failure);
    lock_wait.merge(o.lock_wait);
}

void IoCounters::merge(const IoCounters& o) {
    for (size_t i = 0; i < op_count; ++i) {
        commands[i] += o.commands[i];
        errors[i] += o.errors[i];
        latency[i].merge(o.latency[i]);
    }
}

namespace {
void merge_hot(HotBlock& into, const HotBlock& from) {
    into.miscompares += from.miscompares;
    into.successes += from.successes;
    into.late_retries += from.late_retries;
    if (from.last_miscompare > into.last_miscompare) {
        into.last_miscompare = from.last_miscompare;
        into.last_offset = from.last_offset;
        into.last_late_retry = from.last_late_retry;
        into.last_expected = from.last_expected;
        into.last_actual = from.last_actual;
        into.last_initiator = from.last_initiator;
    }
    for (const auto& i : from.initiators) {
        if (std::find(into.initiators.begin(), into.initiators.end(), i) == into.initiators.end()) {
            into.initiators.push_back(i);
        }
    }
}
}  // namespace

// One thread's share. Its mutex is taken by its own thread on every record and by readers only
// while merging, so it is uncontended on the I/O path. Maps look up by string_view and allocate
// only when an initiator, LUN or block shows up for the first time.
struct Registry::Shard {
    struct LunState {
        AtsCounters total;
        std::map<std::string, AtsCounters, std::less<>> per_initiator;
        std::map<uint64_t, HotBlock> hot;  // by LBA; only blocks that miscompared
    };
    std::mutex mutex;
    std::map<std::string, InitiatorIdentity, std::less<>> initiators;
    std::map<std::string, IoCounters, std::less<>> io;
    std::map<std::string, std::map<uint64_t, LunState>, std::less<>> ats;  // target -> LUN
};

namespace {
template <typename Map>
auto& find_or_add(Map& map, std::string_view key) {
    auto it = map.find(key);
    if (it == map.end()) {
        it = map.emplace(std::string(key), typename Map::mapped_type{}).first;
    }
    return it->second;
}

void count_ats(AtsCounters& c, const CommandRecord& r) {
    switch (r.ats_result) {
        case AtsResult::success:
            ++c.successes;
            c.latency_success.record(r.latency_us);
            break;
        case AtsResult::miscompare:
            ++(r.injected ? c.injected_miscompares : c.miscompares);
            c.late_retry_miscompares += !r.injected && r.late_retry ? 1 : 0;
            c.latency_failure.record(r.latency_us);
            break;
        case AtsResult::error:
            ++c.errors;
            c.latency_failure.record(r.latency_us);
            break;
    }
    c.lock_wait.record(r.lock_wait_us);
}

std::vector<uint8_t> image(std::span<const uint8_t> bytes) {
    const size_t n = std::min(bytes.size(), Registry::image_bytes);
    return {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)};
}
}  // namespace

namespace {
std::atomic<uint64_t> next_registry_id{1};
}

Registry::Registry() : id_(next_registry_id.fetch_add(1)) {}
Registry::~Registry() = default;

Registry::Shard& Registry::local_shard() {
    // A small per-thread cache of this thread's shard in each registry.
    thread_local std::vector<std::pair<uint64_t, Shard*>> cache;
    for (const auto& [id, shard] : cache) {
        if (id == id_) {
            return *shard;
        }
    }
    std::lock_guard lock(shards_mutex_);
    shards_.push_back(std::make_unique<Shard>());
    cache.emplace_back(id_, shards_.back().get());
    return *shards_.back();
}

void Registry::record(const CommandRecord& r) {
    Shard& shard = local_shard();
    std::lock_guard lock(shard.mutex);
    if (shard.initiators.find(r.initiator_port) == shard.initiators.end()) {
        shard.initiators.emplace(
            std::string(r.initiator_port),
            InitiatorIdentity{std::string(r.initiator_name), std::string(r.initiator_port),
                              std::string(r.address)});
    }
    IoCounters& io = find_or_add(shard.io, r.initiator_port);
    const auto op = static_cast<size_t>(r.op);
    ++io.commands[op];
    io.errors[op] += r.failed ? 1 : 0;
    io.latency[op].record(r.latency_us);
    if (r.op != Op::ats) {
        return;
    }
    Shard::LunState& lun = find_or_add(shard.ats, r.target)[r.lun];
    count_ats(lun.total, r);
    count_ats(find_or_add(lun.per_initiator, r.initiator_port), r);
    auto hot = lun.hot.find(r.lba);
    if (hot == lun.hot.end() && r.ats_result == AtsResult::miscompare) {
        hot = lun.hot.emplace(r.lba, HotBlock{}).first;
    }
    if (hot == lun.hot.end()) {
        return;
    }
    HotBlock& h = hot->second;
    if (std::find(h.initiators.begin(), h.initiators.end(), r.initiator_port) ==
        h.initiators.end()) {
        h.initiators.emplace_back(r.initiator_port);
    }
    if (r.ats_result == AtsResult::success) {
        ++h.successes;
    } else if (r.ats_result == AtsResult::miscompare) {
        ++h.miscompares;
        h.last_offset = r.miscompare_offset;
        h.last_late_retry = r.late_retry;
        h.late_retries += r.late_retry ? 1 : 0;
        h.last_expected = image(r.expected);
        h.last_actual = image(r.actual);
        h.last_initiator = std::string(r.initiator_port);
        h.last_miscompare = std::chrono::system_clock::now();
    }
}

Snapshot Registry::snapshot(size_t hot_block_limit) const {
    Snapshot out;
    std::map<std::tuple<std::string, uint64_t, uint64_t>, HotBlock> hot;
    std::lock_guard lock(shards_mutex_);
    for (const auto& shard : shards_) {
        std::lock_guard shard_lock(shard->mutex);
        for (const auto& [port, identity] : shard->initiators) {
            out.initiators.emplace(port, identity);
        }
        for (const auto& [port, io] : shard->io) {
            out.io_per_initiator[port].merge(io);
        }
        for (const auto& [target, luns] : shard->ats) {
            for (const auto& [lun, state] : luns) {
                out.ats_per_lun[{target, lun}].merge(state.total);
                for (const auto& [port, c] : state.per_initiator) {
                    out.ats_per_initiator[{target, lun, port}].merge(c);
                }
                for (const auto& [lba, h] : state.hot) {
                    auto [it, fresh] = hot.emplace(std::make_tuple(target, lun, lba), h);
                    if (!fresh) {
                        merge_hot(it->second, h);
                    }
                }
            }
        }
    }
    for (auto& [key, h] : hot) {
        h.target = std::get<0>(key);
        h.lun = std::get<1>(key);
        h.lba = std::get<2>(key);
        out.hot_blocks.push_back(std::move(h));
    }
    std::sort(out.hot_blocks.begin(), out.hot_blocks.end(),
              [](const HotBlock& a, const HotBlock& b) { return a.miscompares > b.miscompares; });
    if (out.hot_blocks.size() > hot_block_limit) {
        out.hot_blocks.resize(hot_block_limit);
    }
    return out;
}

}  // namespace atsarray::ats
