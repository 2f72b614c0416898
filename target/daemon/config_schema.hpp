#pragma once
// The config's schema: each string-valued choice is an enum with one name table, read by the
// parser, by its error messages and by whatever prints the value; the fault rule's choices use
// target/fault's own names. Rules that a lower layer also enforces (block size, LUN id, chunk
// size) come from that layer (target/scsi/lun_limits.hpp, backend/rocksdb_store.hpp), so each is
// stated once; the config adds the file, the key and the message.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "target/fault/fault.hpp"

namespace atsarray::daemon {

// target.lun.backend: where a LUN keeps its blocks.
enum class BackendKind : uint8_t {
    file,     // an image file (path)
    memory,   // RAM, lost at exit (tests, labs)
    rocksdb,  // a column family of the daemon's database in data_dir
    rbd,      // an RBD image of a Ceph cluster, shared by every gateway that exports it
};
// log_level, and the --log-level option that overrides it.
enum class LogLevel : uint8_t { trace, debug, info, warn, error };
// rocksdb.compression.
enum class RocksDbCompression : uint8_t { lz4, zstd, snappy, none };
// iscsi.abort_answered_task: the answer to ABORT TASK for a command the target already answered.
// RFC 7143 §11.5.1 c) says TASK DOES NOT EXIST (libiscsi checks it); ESXi escalates to a reset on
// that answer and wants FUNCTION COMPLETE (../shared/REFERENCES.md).
enum class AbortAnsweredTask : uint8_t { task_does_not_exist, function_complete };

// target_port_group.state: the ALUA state a group starts in (SPC-4 §6.36; the daemon maps it to
// scsi::AluaState). Transitioning is never a start state.
enum class AluaStateName : uint8_t { active_optimized, active_non_optimized, standby, unavailable };

template <typename Enum>
struct Choice {
    Enum value;
    std::string_view name;
};

// The name tables, in the order messages list them.
inline constexpr std::array<Choice<BackendKind>, 4> backend_kinds = {{
    {BackendKind::file, "file"},
    {BackendKind::memory, "memory"},
    {BackendKind::rocksdb, "rocksdb"},
    {BackendKind::rbd, "rbd"},
}};
inline constexpr std::array<Choice<LogLevel>, 5> log_levels = {{
    {LogLevel::trace, "trace"},
    {LogLevel::debug, "debug"},
    {LogLevel::info, "info"},
    {LogLevel::warn, "warn"},
    {LogLevel::error, "error"},
}};
inline constexpr std::array<Choice<RocksDbCompression>, 4> rocksdb_compressions = {{
    {RocksDbCompression::lz4, "lz4"},
    {RocksDbCompression::zstd, "zstd"},
    {RocksDbCompression::snappy, "snappy"},
    {RocksDbCompression::none, "none"},
}};
inline constexpr std::array<Choice<AluaStateName>, 4> alua_state_names = {{
    {AluaStateName::active_optimized, "active_optimized"},
    {AluaStateName::active_non_optimized, "active_non_optimized"},
    {AluaStateName::standby, "standby"},
    {AluaStateName::unavailable, "unavailable"},
}};
inline constexpr std::array<Choice<AbortAnsweredTask>, 2> abort_answered_task_answers = {{
    {AbortAnsweredTask::task_does_not_exist, "task_does_not_exist"},
    {AbortAnsweredTask::function_complete, "function_complete"},
}};

// The values of target/fault's enums that a [[fault.rule]] may name (their names are fault's:
// fault::to_string and fault::*_from), in the order messages list them.
inline constexpr std::array<fault::CommandClass, 4> fault_command_classes = {
    fault::CommandClass::ats, fault::CommandClass::read, fault::CommandClass::write,
    fault::CommandClass::any};
inline constexpr std::array<fault::DelayStage, 2> fault_delay_stages = {
    fault::DelayStage::before_execute, fault::DelayStage::before_status};
inline constexpr std::array<fault::PortState, 4> fault_port_states = {
    fault::PortState::active_optimized, fault::PortState::active_non_optimized,
    fault::PortState::standby, fault::PortState::unavailable};
inline constexpr std::array<fault::StatusKind, 3> fault_status_kinds = {
    fault::StatusKind::busy, fault::StatusKind::task_set_full, fault::StatusKind::check_condition};

// Lookups in a name table; the functions below are these over the tables above.
template <typename Enum, size_t n>
constexpr std::string_view name_in(const std::array<Choice<Enum>, n>& table, Enum value) {
    for (const Choice<Enum>& choice : table) {
        if (choice.value == value) {
            return choice.name;
        }
    }
    return "?";  // not reached: every enumerator has a row (config_schema_test checks it)
}
template <typename Enum, size_t n>
constexpr std::optional<Enum> value_in(const std::array<Choice<Enum>, n>& table,
                                       std::string_view name) {
    for (const Choice<Enum>& choice : table) {
        if (choice.name == name) {
            return choice.value;
        }
    }
    return std::nullopt;
}

std::string_view to_string(BackendKind kind);
std::string_view to_string(LogLevel level);
std::string_view to_string(RocksDbCompression compression);
std::string_view to_string(AbortAnsweredTask answer);
std::optional<BackendKind> backend_kind_from(std::string_view name);
std::optional<LogLevel> log_level_from(std::string_view name);
std::optional<RocksDbCompression> rocksdb_compression_from(std::string_view name);
std::optional<AbortAnsweredTask> abort_answered_task_from(std::string_view name);

// The names of a table, in its order.
template <typename Enum, size_t n>
std::vector<std::string_view> names_of(const std::array<Choice<Enum>, n>& table) {
    std::vector<std::string_view> names;
    for (const Choice<Enum>& choice : table) {
        names.push_back(choice.name);
    }
    return names;
}
// The names of fault enum values (fault::to_string), in the order given.
template <typename Enum, size_t n>
std::vector<std::string_view> names_of(const std::array<Enum, n>& values) {
    std::vector<std::string_view> names;
    for (const Enum value : values) {
        names.push_back(fault::to_string(value));
    }
    return names;
}

// Lists for messages: "a, b, c" and "a, b or c"; quoted: "\"a\", \"b\" or \"c\"".
std::string comma_list(std::span<const std::string_view> names);
std::string alternatives(std::span<const std::string_view> names, bool quoted = false);

// Checks an iSCSI name against RFC 3720 §3.2.6; returns what is wrong, empty when valid.
std::string check_iscsi_name(std::string_view name);
// 0x20..0x7e only.
bool is_printable_ascii(std::string_view s);
std::string in_quotes(std::string_view s);

}  // namespace atsarray::daemon
