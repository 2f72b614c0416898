#pragma once
// The replay: one libiscsi session per recorded session, each command sent with its recorded CDB,
// Data-Out, transfer length and direction, timed or ordered (schedule.hpp), asynchronously over
// one poll loop that serves every session's socket: commands overlap as they did, without a
// thread per session.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/trace.hpp"
#include "tools/libiscsi_handles.hpp"
#include "tools/replay/compare.hpp"
#include "tools/replay/options.hpp"
#include "tools/replay/schedule.hpp"
#include "tools/replay/session.hpp"

namespace atsarray::replay {

class Engine {
  public:
    // `trace` must outlive the engine: in-flight commands point at its Data-Out.
    Engine(const trace::Trace& trace, const Options& options);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Logs every session in, clears their unit attentions and, with --seed, writes the seed
    // images; false and error() ("cannot log in session 1 (iqn...,0x...) to ...: why") on failure.
    bool prepare();
    // Sends every replayable command per the schedule and waits for every status.
    void run();

    // Per command of the trace: what the target answered; nullopt when it was not sent.
    const std::vector<std::optional<Outcome>>& outcomes() const { return outcomes_; }
    const std::vector<std::string>& labels() const { return labels_; }
    // What the report should say besides the comparisons (inexact ISIDs, seeded blocks).
    const std::vector<std::string>& notes() const { return notes_; }
    const std::string& error() const { return error_; }

  private:
    struct InFlight {
        Engine* engine = nullptr;
        size_t command = 0;
        initiator::Task task;
    };

    // libiscsi's completion callback; `private_data` is the command's InFlight, whose task
    // libiscsi answered (command_data is the same task, or null when it was cancelled).
    static void on_status(iscsi_context* ctx, int status, void* command_data, void* private_data);
    void complete(size_t command, int status);

    bool login_all();
    bool seed();
    void send(size_t command);
    void fail(size_t command, const std::string& why);
    // Waits up to `timeout_ms` for any session's socket and serves it.
    void pump(int timeout_ms);
    void lose_session(uint32_t session, const std::string& why);
    void run_timed(const std::vector<Scheduled>& schedule);
    void run_ordered(const std::vector<Scheduled>& schedule);

    const trace::Trace& trace_;
    const Options& options_;
    std::vector<std::optional<Outcome>> outcomes_;
    std::vector<std::string> labels_;
    std::vector<std::string> notes_;
    std::string error_;
    size_t pending_ = 0;
    // Declared before sessions_: destroying a session's context cancels its commands through
    // complete(), which still needs their entries.
    std::vector<InFlight> in_flight_;
    std::vector<std::unique_ptr<ReplaySession>> sessions_;
    std::vector<std::string> lost_;  // per session: why it was lost (empty: alive)
};

}  // namespace atsarray::replay
