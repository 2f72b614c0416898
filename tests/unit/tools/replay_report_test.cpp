// atsarray-replay's report (tools/replay/report.hpp): what each command's outcome counts as, the
// line of a divergence and of a command not replayable, the summary, and the same as JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/tools/replay_commands.hpp"
#include "tools/replay/report.hpp"

namespace atsarray::replay {
namespace {

using namespace testing;

Outcome good() {
    Outcome o;
    o.answered = true;
    return o;
}

// #0 identical, #1 diverged (recorded MISCOMPARE, replayed GOOD), #2 not compared (its status was
// never seen), #3 not replayable (Data-Out not kept), #4 not sent.
struct Fixture {
    trace::Trace trace;
    std::vector<std::optional<Outcome>> outcomes;

    Fixture() {
        trace.sessions.push_back({"iqn.2026-12.org.test:a", 0x800000000001ULL, "", "", "", 1});
        trace.sessions.push_back({"iqn.2026-12.org.test:b", 0x800000000002ULL, "", "", "", 1});
        trace::Command identical = write16(1, filled(1), 1);
        trace::Command diverged = ats_miscompared(100, 1, 2, 9, 2);
        diverged.session = 1;
        trace::Command unseen = write16(2, filled(2), 3);
        unseen.status_seen = false;
        trace::Command not_kept = write16(3, filled(3), 4);
        not_kept.data_out_kept = false;
        not_kept.data_out.clear();
        trace.commands = {identical, diverged, unseen, not_kept, command({0x00, 0, 0, 0, 0, 0})};
        outcomes = {good(), good(), good(), std::nullopt, std::nullopt};
    }

    Report report() const {
        return build_report(
            trace, outcomes,
            {"iqn.2026-12.org.test:a,0x800000000001", "iqn.2026-12.org.test:b,0x800000000002"});
    }
};

TEST(ReplayReport, Summary) {
    const Summary s = Fixture().report().summary;
    EXPECT_EQ(s.sent, 3U);
    EXPECT_EQ(s.identical, 1U);
    EXPECT_EQ(s.diverged, 1U);
    EXPECT_EQ(s.not_compared, 1U);
    EXPECT_EQ(s.not_replayable, 1U);
}

TEST(ReplayReport, Text) {
    Report r = Fixture().report();
    r.notes.push_back("seeded 2 block(s)");
    EXPECT_EQ(report_text(r),
              "#1 session 1 (iqn.2026-12.org.test:b,0x800000000002) COMPARE AND WRITE lba 100: "
              "recorded MISCOMPARE at offset 0, replayed GOOD\n"
              "#3 session 0 (iqn.2026-12.org.test:a,0x800000000001) WRITE(16) lba 3: not "
              "replayable, its Data-Out was not kept\n"
              "note: seeded 2 block(s)\n"
              "sent 3, identical 1, diverged 1, not compared 1, not replayable 1\n");
}

TEST(ReplayReport, Json) {
    const nlohmann::json j = nlohmann::json::parse(report_json(Fixture().report()));
    ASSERT_EQ(j["divergences"].size(), 1U);
    const nlohmann::json& d = j["divergences"][0];
    EXPECT_EQ(d["command"], 1);
    EXPECT_EQ(d["session"], 1);
    EXPECT_EQ(d["session_label"], "iqn.2026-12.org.test:b,0x800000000002");
    EXPECT_EQ(d["operation"], "COMPARE AND WRITE");
    EXPECT_EQ(d["lba"], 100);
    EXPECT_EQ(d["recorded"], "MISCOMPARE at offset 0");
    EXPECT_EQ(d["replayed"], "GOOD");
    ASSERT_EQ(j["not_replayable"].size(), 1U);
    EXPECT_EQ(j["not_replayable"][0]["command"], 3);
    EXPECT_EQ(j["not_replayable"][0]["reason"], "its Data-Out was not kept");
    EXPECT_EQ(j["summary"], (nlohmann::json{{"sent", 3},
                                            {"identical", 1},
                                            {"diverged", 1},
                                            {"not_compared", 1},
                                            {"not_replayable", 1}}));
}

TEST(ReplayReport, NothingDiverged) {
    Fixture f;
    f.trace.commands.resize(1);
    f.outcomes.resize(1);
    EXPECT_EQ(report_text(f.report()),
              "sent 1, identical 1, diverged 0, not compared 0, not replayable 0\n");
}

}  // namespace
}  // namespace atsarray::replay
