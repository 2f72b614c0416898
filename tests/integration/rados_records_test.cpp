// RadosRecords against a real Ceph cluster (the ctest fixture ceph_cluster's, pool "rbd"): read,
// write_if, racing writers on separate cluster connections as separate gateway processes have
// them, list, watch, and persistent reservations made through one connection enforced through
// another.

#include <rados/librados.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/rados_records.hpp"
#include "target/scsi/command_table.hpp"
#include "target/scsi/reservations.hpp"
#include "tests/integration/ceph_cluster.hpp"

namespace atsarray {
namespace {

using backend::RadosRecords;
using backend::Status;

// One cluster connection, as one gateway process has it.
struct Connection {
    rados_t cluster = nullptr;
    rados_ioctx_t ioctx = nullptr;

    explicit Connection(const std::string& ceph_conf) {
        if (rados_create(&cluster, nullptr) != 0) {
            cluster = nullptr;
            return;
        }
        rados_conf_read_file(cluster, ceph_conf.c_str());
        // What RbdStore's owner sets: no call waits for the cluster for ever.
        rados_conf_set(cluster, "rados_osd_op_timeout", "30");
        rados_conf_set(cluster, "rados_mon_op_timeout", "30");
        rados_conf_set(cluster, "client_mount_timeout", "30");
        if (rados_connect(cluster) != 0 || rados_ioctx_create(cluster, "rbd", &ioctx) != 0) {
            ioctx = nullptr;
        }
    }
    ~Connection() {
        if (ioctx != nullptr) {
            rados_ioctx_destroy(ioctx);
        }
        if (cluster != nullptr) {
            rados_shutdown(cluster);
        }
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
};

class RadosRecordsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string conf = testing::ceph_conf_path();
        if (conf.empty()) {
            GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture "
                            "ceph_cluster)";
        }
        a_ = std::make_unique<Connection>(conf);
        b_ = std::make_unique<Connection>(conf);
        ASSERT_NE(a_->ioctx, nullptr) << "no connection to the cluster of " << conf;
        ASSERT_NE(b_->ioctx, nullptr);
        std::random_device rd;
        object_ = "atsarray-test." + std::to_string(::getpid()) + "." +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name() + "." +
                  std::to_string(rd());
    }
    void TearDown() override {
        if (a_ && a_->ioctx != nullptr) {
            rados_remove(a_->ioctx, object_.c_str());
        }
    }

    std::unique_ptr<Connection> a_;
    std::unique_ptr<Connection> b_;
    std::string object_;
};

uint64_t write_new(RadosRecords& r, const std::string& key, const std::string& value,
                   uint64_t expected) {
    bool written = false;
    uint64_t version = 0;
    EXPECT_TRUE(r.write_if(key, value, expected, written, version).ok());
    return written ? version : 0;
}

TEST_F(RadosRecordsTest, ReadOfAnAbsentRecord) {
    RadosRecords records(a_->ioctx, object_);
    std::string value = "stale";
    uint64_t version = 7;
    ASSERT_TRUE(records.read("missing", value, version).ok());  // the object does not exist
    EXPECT_EQ(version, 0u);
    EXPECT_EQ(value, "");
    ASSERT_EQ(write_new(records, "other", "x", 0), 1u);
    ASSERT_TRUE(records.read("missing", value, version).ok());  // the object exists
    EXPECT_EQ(version, 0u);
    EXPECT_EQ(value, "");
}

TEST_F(RadosRecordsTest, WriteIfCreatesAndRefusesStaleVersions) {
    RadosRecords one(a_->ioctx, object_);
    RadosRecords two(b_->ioctx, object_);
    EXPECT_EQ(write_new(one, "k", "first", 0), 1u);
    EXPECT_EQ(write_new(two, "k", "again", 0), 0u) << "created twice";
    EXPECT_EQ(write_new(two, "k", "second", 1), 2u);
    EXPECT_EQ(write_new(one, "k", "late", 1), 0u) << "a stale version won";
    EXPECT_EQ(write_new(one, "k", "", 5), 0u) << "a future version won";
    std::string value;
    uint64_t version = 0;
    ASSERT_TRUE(one.read("k", value, version).ok());
    EXPECT_EQ(value, "second");
    EXPECT_EQ(version, 2u);
    // An empty value is a record too.
    EXPECT_EQ(write_new(one, "k", "", 2), 3u);
    ASSERT_TRUE(two.read("k", value, version).ok());
    EXPECT_EQ(value, "");
    EXPECT_EQ(version, 3u);
    // Binary values come back unchanged.
    const std::string binary("a\0b\xff", 4);
    EXPECT_EQ(write_new(two, "bin", binary, 0), 1u);
    ASSERT_TRUE(one.read("bin", value, version).ok());
    EXPECT_EQ(value, binary);
}

// Two processes creating one record at once: exactly one wins, every time.
TEST_F(RadosRecordsTest, RacingCreatorsHaveOneWinner) {
    RadosRecords one(a_->ioctx, object_);
    RadosRecords two(b_->ioctx, object_);
    constexpr int rounds = 20;
    for (int round = 0; round < rounds; ++round) {
        const std::string key = "create." + std::to_string(round);
        std::atomic<int> winners{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            RadosRecords& r = t % 2 == 0 ? one : two;
            threads.emplace_back([&r, &key, &winners, t] {
                bool written = false;
                uint64_t version = 0;
                ASSERT_TRUE(r.write_if(key, std::to_string(t), 0, written, version).ok());
                if (written) {
                    ++winners;
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        EXPECT_EQ(winners.load(), 1) << key;
    }
}

// The CAS counter on records: 2 connections x 4 threads incrementing one record by read +
// write_if. Every successful write_if is one increment: none is lost, none counted twice.
TEST_F(RadosRecordsTest, RacingIncrementsLoseNothing) {
    RadosRecords one(a_->ioctx, object_);
    RadosRecords two(b_->ioctx, object_);
    constexpr int per_thread = 40;
    std::atomic<uint64_t> successes{0};
    std::atomic<uint64_t> conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        RadosRecords& r = t < 4 ? one : two;
        threads.emplace_back([&r, &successes, &conflicts] {
            for (int i = 0; i < per_thread; ++i) {
                for (;;) {
                    std::string value;
                    uint64_t version = 0;
                    ASSERT_TRUE(r.read("counter", value, version).ok());
                    const uint64_t n = value.empty() ? 0 : std::stoull(value);
                    bool written = false;
                    uint64_t new_version = 0;
                    ASSERT_TRUE(
                        r.write_if("counter", std::to_string(n + 1), version, written, new_version)
                            .ok());
                    if (written) {
                        EXPECT_EQ(new_version, version + 1);
                        ++successes;
                        break;
                    }
                    ++conflicts;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    std::string value;
    uint64_t version = 0;
    ASSERT_TRUE(one.read("counter", value, version).ok());
    EXPECT_EQ(successes.load(), 8u * per_thread);
    EXPECT_EQ(std::stoull(value), successes.load());
    EXPECT_EQ(version, successes.load());
    std::printf("counter %s after %llu successes and %llu conflicts\n", value.c_str(),
                static_cast<unsigned long long>(successes.load()),
                static_cast<unsigned long long>(conflicts.load()));
}

TEST_F(RadosRecordsTest, ListsByPrefix) {
    RadosRecords records(a_->ioctx, object_);
    std::map<std::string, std::string> out;
    ASSERT_TRUE(records.list("", out).ok());  // the object does not exist
    EXPECT_TRUE(out.empty());
    write_new(records, "alua.gw1", "active", 0);
    write_new(records, "alua.gw2", "standby", 0);
    write_new(records, "pr", "state", 0);
    write_new(records, "alub", "x", 0);
    ASSERT_TRUE(records.list("alua.", out).ok());
    EXPECT_EQ(
        out, (std::map<std::string, std::string>{{"alua.gw1", "active"}, {"alua.gw2", "standby"}}));
    // More records than one omap page (512).
    for (int i = 0; i < 600; ++i) {
        write_new(records, "many." + std::to_string(1000 + i), std::to_string(i), 0);
    }
    ASSERT_TRUE(records.list("many.", out).ok());
    ASSERT_EQ(out.size(), 600u);
    EXPECT_EQ(out["many.1599"], "599");
    ASSERT_TRUE(records.list("", out).ok());
    EXPECT_EQ(out.size(), 604u);
}

// A change made through one connection reaches the watchers of another.
TEST_F(RadosRecordsTest, WatchSeesAnotherConnectionsWrite) {
    RadosRecords watcher(a_->ioctx, object_);
    RadosRecords writer(b_->ioctx, object_);
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> seen;
    const uint64_t id = watcher.watch([&](const std::string& key) {
        std::lock_guard lock(mutex);
        seen.push_back(key);
        cv.notify_all();
    });
    ASSERT_TRUE(watcher.watching());
    write_new(writer, "pr", "1", 0);
    {
        std::unique_lock lock(mutex);
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return !seen.empty(); }));
        EXPECT_EQ(seen.front(), "pr");
    }
    watcher.unwatch(id);
    write_new(writer, "pr", "2", 1);
    write_new(writer, "other", "3", 0);
    std::lock_guard lock(mutex);
    EXPECT_EQ(seen.size(), 1u) << "a callback ran after unwatch";
}

// A watcher that does not acknowledge (its callback is stuck, as a gateway that stopped or died
// is) delays write_if by the notify timeout at most: write_if returns, the write done, while the
// callback is still stuck.
TEST_F(RadosRecordsTest, StuckWatcherDoesNotHoldWriters) {
    RadosRecords watcher(a_->ioctx, object_);
    RadosRecords writer(b_->ioctx, object_);
    std::mutex mutex;
    std::condition_variable cv;
    bool entered = false;
    bool released = false;
    watcher.watch([&](const std::string&) {
        std::unique_lock lock(mutex);
        entered = true;
        cv.notify_all();
        cv.wait(lock, [&] { return released; });
    });
    EXPECT_EQ(write_new(writer, "k", "1", 0), 1u);
    EXPECT_EQ(write_new(writer, "k", "2", 1), 2u);
    {
        std::unique_lock lock(mutex);
        EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return entered; }));
        released = true;
    }
    cv.notify_all();
    std::string value;
    uint64_t version = 0;
    ASSERT_TRUE(watcher.read("k", value, version).ok());
    EXPECT_EQ(value, "2");
}

const scsi::CommandDescriptor& descriptor_of(std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> cdb(bytes);
    cdb.resize(16, 0);
    scsi::CommandResult error;
    const scsi::CommandDescriptor* d = scsi::find_command(cdb, error);
    EXPECT_NE(d, nullptr);
    return *d;
}

scsi::PrOutcome prout(scsi::Reservations& r, const scsi::Nexus& n, scsi::PrOutAction action,
                      uint64_t key, uint64_t sa_key,
                      scsi::PrType type = scsi::PrType::write_exclusive) {
    scsi::PrOutParameters p;
    p.reservation_key = key;
    p.service_action_reservation_key = sa_key;
    return r.persistent_reserve_out(&n, action, type, p);
}

// Two gateways, each with its own cluster connection and its own Reservations over the same
// records object: what one registers and reserves, the other enforces.
TEST_F(RadosRecordsTest, ReservationMadeThroughOneConnectionConflictsOnTheOther) {
    using scsi::PrOutAction;
    using scsi::PrType;
    using scsi::SenseReason;
    RadosRecords records1(a_->ioctx, object_);
    RadosRecords records2(b_->ioctx, object_);
    std::mutex mutex;
    std::vector<std::pair<uint64_t, SenseReason>> attentions2;
    scsi::Reservations gw1;
    scsi::Reservations gw2;
    ASSERT_TRUE(gw1.use_shared_records(&records1));
    ASSERT_TRUE(gw2.use_shared_records(&records2, "persistent-reservations",
                                       [&](uint64_t id, SenseReason reason) {
                                           std::lock_guard lock(mutex);
                                           attentions2.emplace_back(id, reason);
                                       }));
    const scsi::Nexus a{1, "iqn.test:a", "iqn.test:a,i,0x000000000001", "127.0.0.1:1", 1};
    const scsi::Nexus b{2, "iqn.test:b", "iqn.test:b,i,0x000000000002", "127.0.0.1:2", 2};
    gw1.nexus_added(a);
    gw2.nexus_added(b);
    const scsi::CommandDescriptor& write10 = descriptor_of({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0});
    const scsi::CommandDescriptor& read10 = descriptor_of({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0});

    EXPECT_TRUE(gw2.check(&b, write10).ok());
    ASSERT_TRUE(prout(gw1, a, PrOutAction::register_key, 0, 0xA).result.ok());
    ASSERT_TRUE(prout(gw1, a, PrOutAction::reserve, 0xA, 0, PrType::exclusive_access).result.ok());
    // write_if waited for gateway 2's acknowledgement, which it sends after refreshing: the
    // reservation is enforced there as soon as the command that made it completed. (Should the
    // acknowledgement be late, the check below would see the old state: refresh() as PERSISTENT
    // RESERVE IN does makes the test independent of that timing.)
    ASSERT_TRUE(gw2.refresh().ok());
    EXPECT_EQ(gw2.check(&b, write10).reason, SenseReason::reservation_conflict);
    EXPECT_EQ(gw2.check(&b, read10).reason, SenseReason::reservation_conflict);
    EXPECT_TRUE(gw1.check(&a, write10).ok());
    const scsi::PrSnapshot s2 = gw2.snapshot();
    ASSERT_EQ(s2.registrations.size(), 1u);
    EXPECT_EQ(s2.registrations[0].key, 0xAu);
    ASSERT_TRUE(s2.reservation);
    EXPECT_EQ(s2.reservation->holder, scsi::pr_nexus_of(&a));

    // Gateway 2's host cannot reserve; it preempts instead, and gateway 1 enforces that.
    ASSERT_TRUE(prout(gw2, b, PrOutAction::register_key, 0, 0xB).result.ok());
    EXPECT_EQ(prout(gw2, b, PrOutAction::reserve, 0xB, 0, PrType::write_exclusive).result.reason,
              SenseReason::reservation_conflict);
    ASSERT_TRUE(prout(gw2, b, PrOutAction::preempt, 0xB, 0xA, PrType::write_exclusive).result.ok());
    ASSERT_TRUE(gw1.refresh().ok());
    EXPECT_EQ(gw1.check(&a, write10).reason, SenseReason::reservation_conflict);
    EXPECT_TRUE(gw1.check(&a, read10).ok());
    EXPECT_TRUE(gw2.check(&b, write10).ok());
    EXPECT_EQ(gw1.snapshot().generation, 3u);
    EXPECT_EQ(gw2.snapshot().generation, 3u);
}

// Racing PERSISTENT RESERVE OUT through two connections: every registration lands.
TEST_F(RadosRecordsTest, RacingRegistrationsThroughTwoConnectionsAllLand) {
    RadosRecords records1(a_->ioctx, object_);
    RadosRecords records2(b_->ioctx, object_);
    scsi::Reservations gw1;
    scsi::Reservations gw2;
    ASSERT_TRUE(gw1.use_shared_records(&records1));
    ASSERT_TRUE(gw2.use_shared_records(&records2));
    constexpr int per_gateway = 24;
    std::vector<std::thread> threads;
    std::atomic<int> busy{0};
    for (int g = 0; g < 2; ++g) {
        scsi::Reservations& r = g == 0 ? gw1 : gw2;
        for (int t = 0; t < 2; ++t) {
            threads.emplace_back([&r, &busy, g, t] {
                for (int i = t; i < per_gateway; i += 2) {
                    const scsi::Nexus n{0, "iqn.test:h" + std::to_string(i),
                                        "iqn.test:h" + std::to_string(i) + ",i,0x01", "",
                                        static_cast<uint16_t>(g + 1)};
                    const scsi::PrOutcome out =
                        prout(r, n, scsi::PrOutAction::register_key, 0, 0x1000 + i);
                    if (out.result.reason == scsi::SenseReason::busy) {
                        ++busy;  // 16 lost races in a row: the host would retry
                    } else {
                        EXPECT_TRUE(out.result.ok());
                    }
                }
            });
        }
    }
    for (auto& t : threads) {
        t.join();
    }
    ASSERT_TRUE(gw1.refresh().ok());
    EXPECT_EQ(gw1.snapshot().registrations.size(), 2u * per_gateway - busy.load());
    EXPECT_EQ(gw1.snapshot().generation, 2u * per_gateway - busy.load());
}

}  // namespace
}  // namespace atsarray
