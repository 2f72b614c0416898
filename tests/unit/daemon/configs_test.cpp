// Every shipped config must load: a config that only fails when an operator starts it is a bug.

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "target/daemon/config.hpp"

namespace atsarray::daemon {
namespace {

const std::filesystem::path configs_dir = std::filesystem::path(ATSARRAY_SOURCE_DIR) / "configs";

std::vector<std::filesystem::path> shipped_configs() {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(configs_dir)) {
        if (entry.is_regular_file() && entry.path().extension() == ".toml") {
            files.push_back(entry.path());
        }
    }
    return files;
}

TEST(ShippedConfigsTest, EveryConfigLoads) {
    const auto files = shipped_configs();
    ASSERT_GE(files.size(), 3u);
    for (const auto& file : files) {
        SCOPED_TRACE(file.string());
        try {
            const DaemonConfig config = load_config(file.string());
            EXPECT_FALSE(config.targets.empty());
            EXPECT_FALSE(config.portals.empty());
        } catch (const ConfigError& e) {
            ADD_FAILURE() << e.what();
        }
    }
}

TEST(ShippedConfigsTest, DefaultServesLabTarget) {
    const DaemonConfig config = load_config((configs_dir / "default.toml").string());
    // A dual-controller array: controller A (group 1, 3260) active/optimized and preferred,
    // controller B (group 2, 3261) active/non-optimized.
    ASSERT_EQ(config.portals.size(), 2u);
    EXPECT_EQ(config.portals[0].address, "0.0.0.0");
    EXPECT_EQ(config.portals[0].port, 3260);
    EXPECT_EQ(config.portals[0].group, 1);
    EXPECT_EQ(config.portals[1].port, 3261);
    EXPECT_EQ(config.portals[1].group, 2);
    ASSERT_EQ(config.port_groups.size(), 2u);
    EXPECT_EQ(config.port_groups[0].name, "controller-a");
    EXPECT_EQ(config.port_groups[0].state, AluaStateName::active_optimized);
    EXPECT_TRUE(config.port_groups[0].preferred);
    EXPECT_EQ(config.port_groups[1].name, "controller-b");
    EXPECT_EQ(config.port_groups[1].state, AluaStateName::active_non_optimized);
    EXPECT_FALSE(config.port_groups[1].preferred);
    EXPECT_TRUE(config.alua.explicit_alua);
    ASSERT_EQ(config.targets.size(), 1u);
    const TargetConfig& target = config.targets[0];
    EXPECT_EQ(target.name, "iqn.2026-11.org.atsarray:lab");
    EXPECT_EQ(target.alias, "atsarray-lab");
    ASSERT_EQ(target.luns.size(), 1u);
    const LunConfig& lun = target.luns[0];
    EXPECT_EQ(lun.id, 0u);
    EXPECT_EQ(lun.backend, BackendKind::file);  // thin, 8 GiB, in data/ next to the config
    EXPECT_EQ(lun.size_bytes, 8ull * 1024 * 1024 * 1024);
    EXPECT_EQ(lun.block_size, 512u);
    const auto expected = (std::filesystem::absolute(configs_dir) / "data").lexically_normal();
    EXPECT_EQ(std::filesystem::absolute(lun.path).lexically_normal(), expected / "lun0.img");
    EXPECT_EQ(config.data_dir, expected.string());
}

TEST(ShippedConfigsTest, FileAndFourKExamples) {
    const DaemonConfig file = load_config((configs_dir / "example-file.toml").string());
    for (const auto& target : file.targets) {
        for (const auto& lun : target.luns) {
            EXPECT_EQ(lun.backend, BackendKind::file);
        }
    }
    const DaemonConfig four_k = load_config((configs_dir / "example-4k.toml").string());
    ASSERT_FALSE(four_k.targets.empty());
    size_t luns = 0;
    for (const auto& target : four_k.targets) {
        for (const auto& lun : target.luns) {
            EXPECT_EQ(lun.block_size, 4096u);
            ++luns;
        }
    }
    EXPECT_EQ(luns, 2u);
}

TEST(ShippedConfigsTest, MultiHasFourKAndMemoryLuns) {
    const DaemonConfig config = load_config((configs_dir / "example-multi.toml").string());
    EXPECT_GE(config.targets.size(), 2u);
    bool four_k = false;
    bool memory = false;
    for (const auto& target : config.targets) {
        for (const auto& lun : target.luns) {
            four_k = four_k || lun.block_size == 4096;
            memory = memory || lun.backend == BackendKind::memory;
        }
    }
    EXPECT_TRUE(four_k);
    EXPECT_TRUE(memory);
}

TEST(ShippedConfigsTest, ChapExampleHasMutualChapAndAcl) {
    const DaemonConfig config = load_config((configs_dir / "example-chap.toml").string());
    ASSERT_FALSE(config.targets.empty());
    const TargetConfig& target = config.targets[0];
    EXPECT_TRUE(target.chap.has_value());
    EXPECT_TRUE(target.mutual_chap.has_value());
    EXPECT_TRUE(target.require_mutual);
    EXPECT_FALSE(target.allowed_initiators.empty());
}

}  // namespace
}  // namespace atsarray::daemon
