// The config's schema (config_schema.hpp): each name table covers its enum once and round-trips,
// the messages built from the tables read as before, and the rules shared with the lower layers
// (block size, LUN id, chunk size) accept exactly what those layers accept.

#include "target/daemon/config_schema.hpp"

#include <cstdint>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "backend/rocksdb_store.hpp"
#include "target/daemon/config.hpp"
#include "target/scsi/lun_limits.hpp"

namespace atsarray::daemon {
namespace {

// Every enumerator 0..last has exactly one row, and names and values round-trip.
template <typename Enum, size_t n, typename From>
void expect_table_covers(const std::array<Choice<Enum>, n>& table, Enum last, From from) {
    ASSERT_EQ(n, static_cast<size_t>(last) + 1);
    std::set<std::string_view> names;
    std::set<Enum> values;
    for (const Choice<Enum>& choice : table) {
        EXPECT_TRUE(names.insert(choice.name).second) << choice.name;
        EXPECT_TRUE(values.insert(choice.value).second) << choice.name;
        EXPECT_EQ(to_string(choice.value), choice.name);
        EXPECT_EQ(from(choice.name), choice.value) << choice.name;
    }
    EXPECT_FALSE(from("").has_value());
    EXPECT_FALSE(from("no-such-name").has_value());
}

TEST(ConfigSchemaTest, EveryTableCoversItsEnumOnce) {
    expect_table_covers(backend_kinds, BackendKind::rbd, backend_kind_from);
    expect_table_covers(log_levels, LogLevel::error, log_level_from);
    expect_table_covers(rocksdb_compressions, RocksDbCompression::none, rocksdb_compression_from);
    expect_table_covers(abort_answered_task_answers, AbortAnsweredTask::function_complete,
                        abort_answered_task_from);
    EXPECT_FALSE(backend_kind_from("File").has_value());  // names are case-sensitive
}

TEST(ConfigSchemaTest, FaultChoicesUseTheFaultNames) {
    for (const auto c : fault_command_classes) {
        EXPECT_EQ(fault::command_class_from(fault::to_string(c)), c);
    }
    for (const auto s : fault_delay_stages) {
        EXPECT_EQ(fault::delay_stage_from(fault::to_string(s)), s);
    }
    for (const auto s : fault_status_kinds) {
        EXPECT_EQ(fault::status_kind_from(fault::to_string(s)), s);
    }
    EXPECT_EQ(alternatives(names_of(fault_command_classes)), "ats, read, write or any");
    EXPECT_EQ(alternatives(names_of(fault_delay_stages)), "before_execute or before_status");
    EXPECT_EQ(alternatives(names_of(fault_status_kinds)), "busy, task_set_full or check_condition");
}

TEST(ConfigSchemaTest, Lists) {
    EXPECT_EQ(comma_list(names_of(log_levels)), "trace, debug, info, warn, error");
    EXPECT_EQ(comma_list(names_of(rocksdb_compressions)), "lz4, zstd, snappy, none");
    EXPECT_EQ(alternatives(names_of(backend_kinds), true),
              "\"file\", \"memory\", \"rocksdb\" or \"rbd\"");
    const std::vector<std::string_view> one = {"a"};
    EXPECT_EQ(alternatives(one), "a");
    EXPECT_EQ(alternatives(std::vector<std::string_view>{}), "");
}

TEST(ConfigSchemaTest, IscsiNames) {
    EXPECT_EQ(check_iscsi_name("iqn.2026-11.org.atsarray:lab"), "");
    EXPECT_EQ(check_iscsi_name("eui.02004567A425678D"), "");
    EXPECT_NE(check_iscsi_name("").find("must not be empty"), std::string::npos);
    EXPECT_TRUE(is_printable_ascii("ATSARRAY ~"));
    EXPECT_FALSE(is_printable_ascii("tab\t"));
}

const std::string lun_head =
    "[[target]]\nname = \"iqn.2026-11.org.atsarray:lab\"\n[[target.lun]]\nid = 0\n"
    "backend = \"memory\"\n";

std::string error_of(const std::string& text) {
    try {
        (void)parse_config(text, "t.toml", "/etc/atsarray");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

// The config refuses exactly the block sizes Lun's constructor refuses (one predicate).
TEST(ConfigSchemaTest, BlockSizeRuleIsScsis) {
    for (const uint64_t size : {256u, 512u, 1000u, 1024u, 2048u, 4096u, 8192u, 65536u}) {
        const std::string error =
            error_of(lun_head + "size = \"1MiB\"\nblock_size = " + std::to_string(size) + "\n");
        if (scsi::valid_block_size(size)) {
            EXPECT_EQ(error, "") << size;
        } else {
            EXPECT_EQ(error, "t.toml: target[0].lun[0].block_size: must be 512 or 4096, got " +
                                 std::to_string(size));
        }
    }
}

TEST(ConfigSchemaTest, LunIdRuleIsScsis) {
    const auto with_id = [](uint64_t id) {
        return error_of(
            "[[target]]\nname = \"iqn.2026-11.org.atsarray:lab\"\n[[target.lun]]\nid = " +
            std::to_string(id) + "\nbackend = \"memory\"\nsize = 4096\n");
    };
    EXPECT_EQ(with_id(scsi::max_lun_id), "");
    EXPECT_EQ(with_id(scsi::max_lun_id + 1),
              "t.toml: target[0].lun[0].id: must be between 0 and 16383, got 16384");
}

// The config refuses exactly the chunk sizes RocksDbStore::open refuses (one predicate).
TEST(ConfigSchemaTest, ChunkSizeRuleIsTheStores) {
    for (const uint64_t size : {256u, 512u, 3000u, 4096u, 65536u, 1u << 20, 2u << 20}) {
        const std::string error = error_of("[rocksdb]\nchunk_size = " + std::to_string(size) +
                                           "\n" + lun_head + "size = 4096\n");
        if (backend::valid_chunk_bytes(size)) {
            EXPECT_EQ(error, "") << size;
        } else {
            EXPECT_EQ(error,
                      "t.toml: rocksdb.chunk_size: must be a power of two from 512 to 1MiB, got " +
                          std::to_string(size));
        }
    }
}

TEST(ConfigSchemaTest, AbortAnsweredTask) {
    const std::string minimal = lun_head + "size = 4096\n";
    EXPECT_EQ(parse_config(minimal, "t.toml", "").iscsi.abort_answered_task,
              AbortAnsweredTask::task_does_not_exist);
    EXPECT_EQ(parse_config("[iscsi]\nabort_answered_task = \"function_complete\"\n" + minimal,
                           "t.toml", "")
                  .iscsi.abort_answered_task,
              AbortAnsweredTask::function_complete);
    const std::string message =
        "t.toml: iscsi.abort_answered_task: must be \"task_does_not_exist\" (RFC 7143 §11.5.1) or "
        "\"function_complete\" (what ESXi expects)";
    EXPECT_EQ(error_of("[iscsi]\nabort_answered_task = \"reset\"\n" + minimal), message);
    EXPECT_EQ(error_of("[iscsi]\nabort_answered_task = 1\n" + minimal), message);
}

TEST(ConfigSchemaTest, FaultRuleChoiceMessages) {
    const std::string head = "[fault]\nenabled = true\n[[fault.rule]]\nname = \"x\"\n";
    const std::string lun = lun_head + "size = 4096\n";
    EXPECT_EQ(error_of(head + "action = \"delay\"\ndelay_ms = 5\ncommand = \"trim\"\n" + lun),
              "t.toml: fault.rule[0].command: must be ats, read, write or any");
    EXPECT_EQ(error_of(head + "action = \"delay\"\ndelay_ms = 5\nstage = \"late\"\n" + lun),
              "t.toml: fault.rule[0].stage: must be before_execute or before_status");
    EXPECT_EQ(error_of(head + "action = \"status\"\nstatus = \"gone\"\n" + lun),
              "t.toml: fault.rule[0].status: must be busy, task_set_full or check_condition");
    EXPECT_EQ(error_of(head + "action = \"explode\"\n" + lun),
              "t.toml: fault.rule[0].action: must be one of " + fault::action_names());
    const DaemonConfig c = parse_config(
        head +
            "action = \"delay\"\ndelay_ms = 5\nstage = \"before_status\"\ncommand = \"write\"\n" +
            lun,
        "t.toml", "");
    ASSERT_EQ(c.fault.rules.size(), 1u);
    EXPECT_EQ(c.fault.rules[0].action, fault::Action::delay);
    EXPECT_EQ(c.fault.rules[0].stage, fault::DelayStage::before_status);
    EXPECT_EQ(c.fault.rules[0].command, fault::CommandClass::write);
}

}  // namespace
}  // namespace atsarray::daemon
