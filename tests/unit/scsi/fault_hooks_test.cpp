// Fault injection at Lun's two hook points (FaultHooks, target/fault rules), fed through
// Lun::execute with raw CDBs: delays before execute and before status (and their abort), dropped
// status and connection, injected status and miscompares (as the accounting and the event log see
// them), and stale reads. Delays run on a hand-fired timer, so nothing here waits on a clock.

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "target/ats/accounting.hpp"
#include "target/ats/event_log.hpp"
#include "target/fault/fault.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

std::vector<uint8_t> lba_cdb(uint8_t opcode, uint64_t lba, uint8_t blocks) {
    std::vector<uint8_t> c(16, 0);
    c[0] = opcode;
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[13] = blocks;
    return c;
}

std::vector<uint8_t> read16(uint64_t lba, uint8_t blocks) {
    return lba_cdb(0x88, lba, blocks);
}
std::vector<uint8_t> write16(uint64_t lba, uint8_t blocks) {
    return lba_cdb(0x8A, lba, blocks);
}
// COMPARE AND WRITE (SBC-4 §5.3): Data-Out is the compare image, then the write image.
std::vector<uint8_t> compare_and_write(uint64_t lba, uint8_t blocks) {
    return lba_cdb(0x89, lba, blocks);
}

// The schedule_after hook of the tests: jobs wait until the test fires them.
class Timers {
  public:
    void schedule(std::chrono::milliseconds delay, std::function<void()> job) {
        std::lock_guard lock(mutex_);
        delays_.push_back(delay);
        jobs_.push_back(std::move(job));
    }
    size_t pending() {
        std::lock_guard lock(mutex_);
        return jobs_.size();
    }
    std::chrono::milliseconds last_delay() {
        std::lock_guard lock(mutex_);
        return delays_.empty() ? std::chrono::milliseconds{0} : delays_.back();
    }
    void fire_all() {
        std::vector<std::function<void()>> jobs;
        {
            std::lock_guard lock(mutex_);
            jobs.swap(jobs_);
        }
        for (auto& job : jobs) {
            job();
        }
    }

  private:
    std::mutex mutex_;
    std::vector<std::chrono::milliseconds> delays_;
    std::vector<std::function<void()>> jobs_;
};

// One command in flight: what it owns and what its completion saw.
struct InFlight {
    std::vector<uint8_t> cdb;
    std::vector<uint8_t> data_out;
    std::vector<uint8_t> data_in;
    Command cmd;
    int completions = 0;
    Status status = Status::good;
    std::vector<uint8_t> sense;
    bool drop_status = false;
    bool drop_connection = false;

    uint8_t key() const { return sense.size() > 2 ? sense[2] & 0x0F : 0xFF; }
    uint8_t asc() const { return sense.size() > 12 ? sense[12] : 0xFF; }
    uint8_t ascq() const { return sense.size() > 13 ? sense[13] : 0xFF; }
};

class FaultHooksTest : public ::testing::Test {
  protected:
    void SetUp() override {
        engine = std::make_shared<fault::Engine>();
        make_lun(engine);
    }

    void make_lun(std::shared_ptr<fault::Engine> faults) {
        store = std::make_shared<FakeStore>(1024 * 512);
        LunServices services;
        services.accounting = accounting;
        services.events = events;
        services.faults = std::move(faults);
        services.schedule_after = [this](std::chrono::milliseconds delay,
                                         std::function<void()> job) {
            timers.schedule(delay, std::move(job));
        };
        lun = std::make_shared<Lun>(default_settings(), store, Lun::SubmitBlocking{}, services);
    }

    uint64_t add(fault::RuleSpec spec) {
        std::string error;
        const uint64_t id = engine->add(spec, error);
        EXPECT_NE(id, 0u) << error;
        return id;
    }

    static fault::RuleSpec rule(fault::Action action, fault::CommandClass command) {
        fault::RuleSpec r;
        r.name = "test-rule";
        r.action = action;
        r.command = command;
        return r;
    }

    static fault::RuleSpec delay(fault::DelayStage stage, uint32_t ms) {
        fault::RuleSpec r = rule(fault::Action::delay, fault::CommandClass::write);
        r.stage = stage;
        r.delay_ms = ms;
        return r;
    }

    // Starts a command; it may complete before start() returns, or later.
    std::unique_ptr<InFlight> start(std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {}) {
        auto f = std::make_unique<InFlight>();
        f->cdb = std::move(cdb);
        f->data_out = std::move(data_out);
        f->cmd.cdb = f->cdb;
        f->cmd.nexus = &nexus;
        f->cmd.data_out = f->data_out;
        f->cmd.expected_transfer_length =
            f->data_out.empty() ? 65536u : static_cast<uint32_t>(f->data_out.size());
        f->cmd.data_in = &f->data_in;
        InFlight* out = f.get();
        lun->execute(f->cmd, [out](Command& c) {
            ++out->completions;
            out->status = c.status;
            const auto v = c.sense.view();
            out->sense.assign(v.begin(), v.end());
            out->drop_status = c.drop_status;
            out->drop_connection = c.drop_connection;
        });
        return f;
    }

    ats::AtsCounters ats_counters() const {
        const ats::Snapshot s = accounting->snapshot();
        const auto it = s.ats_per_lun.find({default_settings().target_name, 0});
        return it == s.ats_per_lun.end() ? ats::AtsCounters{} : it->second;
    }

    Nexus nexus{7, "iqn.test:init", "iqn.test:init,i,0x1", "127.0.0.1:1", 1};
    Timers timers;
    std::shared_ptr<ats::Registry> accounting = std::make_shared<ats::Registry>();
    std::shared_ptr<ats::EventLog> events = std::make_shared<ats::EventLog>();
    std::shared_ptr<fault::Engine> engine;
    std::shared_ptr<FakeStore> store;
    std::shared_ptr<Lun> lun;
};

TEST_F(FaultHooksTest, WithoutRulesNothingChanges) {
    const auto data = pattern(512, 3);
    auto w = start(write16(4, 1), data);
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::good);
    auto r = start(read16(4, 1));
    EXPECT_EQ(r->completions, 1);
    EXPECT_EQ(r->data_in, data);
    EXPECT_EQ(timers.pending(), 0u);
    EXPECT_FALSE(w->drop_status || w->drop_connection);
}

TEST_F(FaultHooksTest, RuleOfAnotherLunLeavesThisOneAlone) {
    fault::RuleSpec r = rule(fault::Action::status, fault::CommandClass::any);
    r.lun = 3;
    add(r);
    auto c = start(read16(0, 1));
    EXPECT_EQ(c->status, Status::good);
    EXPECT_EQ(engine->rules().front().hits, 0u);
}

TEST_F(FaultHooksTest, DelayBeforeExecuteHoldsTheCommandUntilItsTime) {
    add(delay(fault::DelayStage::before_execute, 40));
    auto w = start(write16(2, 1), pattern(512, 1));
    EXPECT_EQ(w->completions, 0);
    EXPECT_EQ(store->writes, 0);
    ASSERT_EQ(timers.pending(), 1u);
    EXPECT_EQ(timers.last_delay(), std::chrono::milliseconds(40));
    timers.fire_all();
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::good);
    EXPECT_EQ(store->writes, 1);
}

TEST_F(FaultHooksTest, DelayBeforeExecuteAbortedEndsInTaskAbortedWithoutExecuting) {
    add(delay(fault::DelayStage::before_execute, 40));
    auto w = start(write16(2, 1), pattern(512, 1));
    ASSERT_EQ(w->completions, 0);
    ASSERT_TRUE(w->cmd.abort);
    w->cmd.abort();
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::task_aborted);
    // The timer finds the command answered: nothing executes, nothing completes twice.
    timers.fire_all();
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(store->writes, 0);
}

TEST_F(FaultHooksTest, DelayBeforeStatusExecutesAtOnceAndAnswersLate) {
    add(delay(fault::DelayStage::before_status, 40));
    auto w = start(write16(2, 1), pattern(512, 1));
    EXPECT_EQ(store->writes, 1);
    EXPECT_EQ(w->completions, 0);
    // Accounted before the delay: the delay is the target answering late, not the command.
    EXPECT_EQ(accounting->snapshot()
                  .io_per_initiator.at(nexus.initiator_port)
                  .commands[static_cast<size_t>(ats::Op::write)],
              1u);
    ASSERT_EQ(timers.pending(), 1u);
    timers.fire_all();
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::good);
}

TEST_F(FaultHooksTest, AbortDuringDelayBeforeStatusSendsTheStatusAtOnce) {
    add(delay(fault::DelayStage::before_status, 40));
    auto w = start(write16(2, 1), pattern(512, 1));
    ASSERT_EQ(w->completions, 0);
    w->cmd.abort();
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::good);
    timers.fire_all();
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(store->writes, 1);
}

TEST_F(FaultHooksTest, DelayWithoutASchedulerIsIgnored) {
    LunServices services;
    services.faults = engine;
    lun = std::make_shared<Lun>(default_settings(), store, Lun::SubmitBlocking{}, services);
    add(delay(fault::DelayStage::before_execute, 40));
    add(delay(fault::DelayStage::before_status, 40));
    auto w = start(write16(2, 1), pattern(512, 1));
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::good);
}

TEST_F(FaultHooksTest, DropStatusExecutesAndTellsTheTransportToSendNothing) {
    add(rule(fault::Action::drop_status, fault::CommandClass::write));
    auto w = start(write16(2, 1), pattern(512, 1));
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::good);
    EXPECT_TRUE(w->drop_status);
    EXPECT_FALSE(w->drop_connection);
    EXPECT_EQ(store->writes, 1);
}

TEST_F(FaultHooksTest, DropConnectionAnswersUnexecuted) {
    add(rule(fault::Action::drop_connection, fault::CommandClass::write));
    auto w = start(write16(2, 1), pattern(512, 1));
    EXPECT_EQ(w->completions, 1);
    EXPECT_TRUE(w->drop_connection);
    EXPECT_FALSE(w->drop_status);
    EXPECT_EQ(store->writes, 0);
}

TEST_F(FaultHooksTest, StatusBusyAnswersWithoutExecutingOrSense) {
    add(rule(fault::Action::status, fault::CommandClass::read));
    auto r = start(read16(0, 1));
    EXPECT_EQ(r->completions, 1);
    EXPECT_EQ(r->status, Status::busy);
    EXPECT_TRUE(r->sense.empty());
    EXPECT_EQ(store->reads, 0);
    // Only reads are in the rule's scope.
    auto w = start(write16(0, 1), pattern(512, 1));
    EXPECT_EQ(w->status, Status::good);
}

TEST_F(FaultHooksTest, StatusTaskSetFull) {
    fault::RuleSpec r = rule(fault::Action::status, fault::CommandClass::any);
    r.status = fault::StatusKind::task_set_full;
    add(r);
    EXPECT_EQ(start(read16(0, 1))->status, Status::task_set_full);
}

TEST_F(FaultHooksTest, StatusCheckConditionCarriesTheRulesSense) {
    fault::RuleSpec r = rule(fault::Action::status, fault::CommandClass::any);
    r.status = fault::StatusKind::check_condition;
    r.sense_key = 0x06;  // UNIT ATTENTION
    r.asc = 0x29;
    r.ascq = 0x07;
    add(r);
    auto c = start(read16(0, 1));
    EXPECT_EQ(c->status, Status::check_condition);
    EXPECT_EQ(c->key(), 0x06);
    EXPECT_EQ(c->asc(), 0x29);
    EXPECT_EQ(c->ascq(), 0x07);
    EXPECT_EQ(store->reads, 0);
}

TEST_F(FaultHooksTest, FalseMiscompareWritesNothingAndIsCountedAsInjected) {
    fault::RuleSpec r = rule(fault::Action::false_miscompare, fault::CommandClass::ats);
    r.name = "liar";
    const uint64_t id = add(r);
    const auto old_image = std::vector<uint8_t>(512, 0);  // the medium: zeros
    const auto new_image = pattern(512, 9);
    std::vector<uint8_t> data_out(old_image);
    data_out.insert(data_out.end(), new_image.begin(), new_image.end());
    auto c = start(compare_and_write(5, 1), data_out);
    EXPECT_EQ(c->status, Status::check_condition);
    EXPECT_EQ(c->key(), 0x0E);  // MISCOMPARE
    EXPECT_EQ(c->asc(), 0x1D);
    EXPECT_EQ(store->writes, 0);
    const ats::AtsCounters counters = ats_counters();
    EXPECT_EQ(counters.injected_miscompares, 1u);
    EXPECT_EQ(counters.miscompares, 0u);
    // The log line (and the console's event) names the rule.
    const auto logged = events->since(0, 10);
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_EQ(logged[0].kind, "miscompare");
    EXPECT_EQ(logged[0].message,
              "ats miscompare lun 0 lba 5 initiator iqn.test:init injected by "
              "fault rule " +
                  std::to_string(id) + " \"liar\"");
}

TEST_F(FaultHooksTest, MiscompareAfterWriteWritesTheNewImageAndAnswersMiscompare) {
    add(rule(fault::Action::miscompare_after_write, fault::CommandClass::ats));
    const auto new_image = pattern(512, 9);
    std::vector<uint8_t> data_out(512, 0);
    data_out.insert(data_out.end(), new_image.begin(), new_image.end());
    auto c = start(compare_and_write(5, 1), data_out);
    EXPECT_EQ(c->status, Status::check_condition);
    EXPECT_EQ(c->key(), 0x0E);
    EXPECT_TRUE(std::equal(new_image.begin(), new_image.end(), store->data().begin() + 5 * 512));
    EXPECT_EQ(ats_counters().injected_miscompares, 1u);
}

TEST_F(FaultHooksTest, StaleReadServesTheImageFromBeforeTheLastWrite) {
    const auto before = pattern(1024, 1);
    std::copy(before.begin(), before.end(), store->data().begin() + 10 * 512);
    fault::RuleSpec r = rule(fault::Action::stale_read, fault::CommandClass::read);
    r.stale_ms = 60'000;
    const uint64_t id = add(r);
    // Before any write in the rule's range there is nothing stale to serve.
    auto first = start(read16(10, 2));
    EXPECT_EQ(first->data_in, before);
    EXPECT_EQ(engine->rule(id)->hits, 0u);

    const auto after = pattern(1024, 2);
    EXPECT_EQ(start(write16(10, 2), after)->status, Status::good);
    auto stale = start(read16(10, 2));
    EXPECT_EQ(stale->status, Status::good);
    EXPECT_EQ(stale->data_in, before);
    EXPECT_EQ(engine->rule(id)->hits, 1u);

    // A read that only partly meets the kept images gets the old image of those blocks alone.
    auto partial = start(read16(11, 2));
    ASSERT_EQ(partial->data_in.size(), 1024u);
    EXPECT_TRUE(std::equal(before.begin() + 512, before.end(), partial->data_in.begin()));

    // Deleting the rule restores exact behaviour at once.
    ASSERT_TRUE(engine->remove(id));
    EXPECT_EQ(start(read16(10, 2))->data_in, after);
}

TEST_F(FaultHooksTest, WithoutAnEngineTheHooksDoNothing) {
    make_lun(nullptr);
    auto w = start(write16(2, 1), pattern(512, 1));
    EXPECT_EQ(w->completions, 1);
    EXPECT_EQ(w->status, Status::good);
    EXPECT_EQ(timers.pending(), 0u);
}

}  // namespace
}  // namespace atsarray::scsi::test
