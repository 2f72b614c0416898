#include "target/daemon/daemon.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <future>
#include <thread>
#include <utility>

#include "backend/io_pool.hpp"
#include "backend/shared_records.hpp"
#include "target/ats/rate_limit.hpp"
#include "target/daemon/gateway_view.hpp"
#include "target/daemon/live_config.hpp"
#include "target/daemon/live_config_support.hpp"
#include "target/daemon/lun_factory.hpp"
#include "target/daemon/path_fault_controller.hpp"
#include "target/daemon/rbd_console.hpp"
#include "target/daemon/start_checks.hpp"
#include "target/fault/fault.hpp"
#include "target/forensics/capture.hpp"
#include "target/forensics/flight_recorder.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/portal.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/net/io_loop.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"
#include "webui/server/console_server.hpp"

namespace atsarray::daemon {

namespace asio = boost::asio;

namespace {

scsi::AluaState to_alua_state(AluaStateName name) {
    switch (name) {
        case AluaStateName::active_optimized:
            return scsi::AluaState::active_optimized;
        case AluaStateName::active_non_optimized:
            return scsi::AluaState::active_non_optimized;
        case AluaStateName::standby:
            return scsi::AluaState::standby;
        case AluaStateName::unavailable:
            return scsi::AluaState::unavailable;
    }
    return scsi::AluaState::active_optimized;
}

// The target port groups of every target (each target gets a model of its own, so an explicit
// change through one target's LUN does not move another's): one per [[target_port_group]],
// whose single target port is numbered like the group, or the single implicit group.
scsi::AluaConfig alua_config(const DaemonConfig& config) {
    if (config.port_groups.empty()) {
        return scsi::single_group_config();
    }
    scsi::AluaConfig alua;
    alua.explicit_supported = config.alua.explicit_alua;
    alua.explicit_transition_time = std::chrono::milliseconds(config.alua.transition_time_ms);
    alua.implicit_transition_time = std::chrono::seconds(config.alua.implicit_transition_time_s);
    alua.non_optimized_delay = std::chrono::milliseconds(config.alua.non_optimized_delay_ms);
    for (const PortGroupConfig& g : config.port_groups) {
        scsi::TargetPortGroupConfig group;
        group.id = g.id;
        group.name = g.name;
        group.relative_target_ports = {g.id};
        group.state = to_alua_state(g.state);
        group.preferred = g.preferred;
        alua.groups.push_back(std::move(group));
    }
    return alua;
}

// "1 controller-a active_optimized, 2 controller-b standby": every group's state, for the log.
std::string describe_groups(const scsi::AluaSnapshot& snapshot) {
    std::string out;
    for (const scsi::TargetPortGroupState& g : snapshot.groups) {
        out += fmt::format("{}{} {} {}", out.empty() ? "" : ", ", g.id, g.name,
                           scsi::to_string(g.state));
        if (g.pending) {
            out += fmt::format(" (to {})", scsi::to_string(*g.pending));
        }
    }
    return out;
}

}  // namespace

// This daemon as a gateway of a multi-gateway array ([[target_port_group]]s with remote_portals):
// its own group and the [alua] gateway settings; nullopt for a standalone array.
std::optional<GatewaySettings> gateway_settings_of(const DaemonConfig& config) {
    const auto remote = std::find_if(config.port_groups.begin(), config.port_groups.end(),
                                     [](const PortGroupConfig& g) { return g.remote(); });
    if (remote == config.port_groups.end()) {
        return std::nullopt;
    }
    const auto own = std::find_if(config.port_groups.begin(), config.port_groups.end(),
                                  [](const PortGroupConfig& g) { return !g.remote(); });
    GatewaySettings settings;
    settings.own_group = own->id;  // the config has exactly one local group then
    settings.heartbeat = std::chrono::milliseconds(config.alua.gateway_heartbeat_ms);
    settings.dead_after = std::chrono::milliseconds(config.alua.gateway_dead_after_ms);
    settings.failover = config.alua.failover;
    settings.description = fmt::format("{} pid {}", own->name, ::getpid());
    return settings;
}

struct Daemon::Impl {
    DaemonConfig config;
    backend::IoPool io_pool;
    // Shared by every LUN: one lock table (EXTENDED COPY locks blocks of several LUNs at once)
    // and one accounting registry.
    std::shared_ptr<ats::LockTable> locks;
    std::shared_ptr<ats::Registry> accounting = std::make_shared<ats::Registry>();
    std::shared_ptr<ats::EventLog> events = std::make_shared<ats::EventLog>();
    std::shared_ptr<forensics::FlightRecorder> recorder;  // unless [ats] recorder = false
    // Captures started through the console (issue 16); the LUNs check active() per command.
    std::shared_ptr<forensics::Captures> captures = std::make_shared<forensics::Captures>();
    std::shared_ptr<fault::Engine> faults;             // only when [fault] enabled
    std::unique_ptr<PathFaultController> path_faults;  // with faults: path rules applied
    std::unique_ptr<webui::ConsoleModel> console_model;
    std::unique_ptr<webui::ConsoleServer> console;
    std::function<void(int)> shutdown;  // set while run() runs
    iscsi::ServerState state;
    asio::io_context accept_context{1};
    // Installed before anything listens: a SIGHUP or SIGTERM that comes as soon as the portal
    // accepts connections waits for run() instead of killing the process (the default action).
    std::unique_ptr<asio::signal_set> hangup_signal;
    std::unique_ptr<asio::signal_set> stop_signals;
    std::vector<std::unique_ptr<asio::io_context>> io_contexts;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<iscsi::Portal>> portals;
    // Removed live: stopped, kept until the end (a queued accept handler may still run).
    std::vector<std::unique_ptr<iscsi::Portal>> stopped_portals;
    std::atomic<size_t> next_context{0};
    LunList luns;  // every LUN made, as soon as it is made (and not removed live)
    // Each target's port groups with the token of the daemon's listener on them.
    std::vector<std::pair<std::shared_ptr<scsi::TargetPortGroups>, uint64_t>> port_group_listeners;
    // A gateway of a multi-gateway array: per target, the ALUA view shared through an rbd LUN's
    // records (after `luns`: it goes before the stores that hold the records).
    std::vector<std::unique_ptr<GatewayView>> gateways;
    // The console's view of the rbd LUNs (issue 15): after `gateways`, whose views it reads.
    RbdConsole rbd_console;
    // How LUNs are made (start-up and the live configuration), and the live configuration
    // itself (issue 19): after what they refer to.
    std::unique_ptr<LunFactory> factory;
    std::unique_ptr<LiveConfig> live;

    explicit Impl(const DaemonConfig& c)
        : config(c),
          io_pool(std::max(1U, c.worker_threads)),
          locks(std::make_shared<ats::LockTable>(c.ats.lock_stripes)) {}

    // The target's ALUA view shared with the other gateways, in the records of its first rbd LUN
    // (the config makes sure it has one).
    void add_gateway(const std::string& target,
                     const std::shared_ptr<scsi::TargetPortGroups>& groups,
                     const GatewaySettings& settings) {
        backend::SharedRecords* records = nullptr;
        for (const auto& lun : luns.snapshot()) {
            if (lun->settings().target_name == target &&
                (records = lun->store().shared_records()) != nullptr) {
                break;
            }
        }
        if (records == nullptr) {
            throw ConfigError(config.source_path + ": target " + target +
                              ": no rbd LUN with records to share the gateways' ALUA states in");
        }
        gateways.push_back(std::make_unique<GatewayView>(
            target, *records, groups, settings, [events = events, target](const std::string& text) {
                events->add("gateway", text, target);
            }));
    }

    // Shutdown never waits for a SANITIZE: each stops after its current chunk, kept with its LUN
    // to resume at the next start (SanitizeState).
    void stop_sanitizing() {
        for (const auto& lun : luns.snapshot()) {
            lun->sanitize_state().request_stop();
        }
    }

    // A constructor that throws after a LUN resumed a sanitize must not wait for it either.
    ~Impl() {
        if (faults) {
            faults->on_change(nullptr);
        }
        stop_sanitizing();
        if (factory) {
            for (const auto& lun : luns.snapshot()) {
                factory->keep_forensics(*lun);  // [ats] recorder_persist
            }
        }
        for (const auto& [groups, token] : port_group_listeners) {
            groups->unsubscribe(token);
        }
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    asio::io_context& pick_context() {
        return *io_contexts[next_context.fetch_add(1) % io_contexts.size()];
    }

    // A timer on an I/O context runs `job` later without holding a thread (fault delays).
    void schedule_after(std::chrono::milliseconds delay, std::function<void()> job) {
        auto timer = std::make_shared<asio::steady_timer>(pick_context(), delay);
        timer->async_wait(
            [timer, job = std::move(job)](const boost::system::error_code&) { job(); });
    }

    // Every state change of a target's groups is logged and becomes a console event. The
    // listener only posts: it runs under the model's listener lock.
    void watch_port_groups(const std::string& target,
                           const std::shared_ptr<scsi::TargetPortGroups>& groups) {
        const std::weak_ptr<scsi::TargetPortGroups> weak = groups;
        port_group_listeners.emplace_back(groups, groups->subscribe([this, target, weak](auto) {
            asio::post(accept_context, [this, target, weak] {
                if (auto g = weak.lock()) {
                    const std::string states = describe_groups(*g->snapshot());
                    spdlog::info("target {}: ALUA target port groups now {}", target, states);
                    events->add("alua", "target port groups " + states, target);
                }
            });
        }));
    }

    // Ends transitions that are due though no command arrives to see it (SPC-4 §5.16.2.5: the
    // group leaves transitioning after its transition time, and every nexus hears of it).
    void poll_port_groups() {
        for (const auto& [groups, token] : port_group_listeners) {
            groups->poll();
        }
    }

    // SIGHUP: the config file read again (LiveConfig::reload: a LUN grown there grows).
    void reload() { live->reload(); }

    // Runs `job` where the portals live (accept_context) and waits for its answer; the live
    // configuration calls it from the console's thread. `fallback` when the daemon stops first.
    template <typename T>
    T on_accept_thread(std::function<T()> job, T fallback) {
        auto task = std::make_shared<std::packaged_task<T()>>(std::move(job));
        auto answer = task->get_future();
        asio::post(accept_context, [task] { (*task)(); });
        if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            return fallback;
        }
        return answer.get();
    }

    // A portal added live: listening at once ("" when it is, else why not).
    std::string open_portal(const PortalConfig& pc) {
        try {
            const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(pc.address), pc.port);
            portals.push_back(std::make_unique<iscsi::Portal>(
                accept_context, endpoint, [this]() -> asio::io_context& { return pick_context(); },
                state, pc.group));
        } catch (const boost::system::system_error& e) {
            return e.code().message();
        }
        portals.back()->start();
        state.portals.add(portals.back()->info());
        spdlog::info("iscsi portal listening on {}", portals.back()->address());
        return {};
    }

    // Sessions on the portal named "address:port" ([v6] bracketed), closed when `close` is set.
    size_t portal_sessions(const std::string& name, bool close) {
        size_t sessions = 0;
        for (auto& portal : portals) {
            if (portal->info().address != name && portal->address() != name) {
                continue;
            }
            for (auto& conn : portal->connections()) {
                if (!conn->session_info().target.empty()) {
                    ++sessions;
                    if (close) {
                        conn->post_close("portal removed by the live configuration");
                    }
                }
            }
        }
        return sessions;
    }

    size_t close_portal(const std::string& name, bool force) {
        const size_t closed = portal_sessions(name, force);
        for (auto it = portals.begin(); it != portals.end(); ++it) {
            if ((*it)->info().address == name || (*it)->address() == name) {
                (*it)->stop();
                state.portals.remove((*it)->info().address);
                stopped_portals.push_back(std::move(*it));
                portals.erase(it);
                break;
            }
        }
        return closed;
    }

    std::vector<std::shared_ptr<iscsi::Connection>> all_connections() {
        std::vector<std::shared_ptr<iscsi::Connection>> out;
        for (auto& portal : portals) {
            auto conns = portal->connections();
            out.insert(out.end(), conns.begin(), conns.end());
        }
        return out;
    }
};

Daemon::Daemon(const DaemonConfig& config) : impl_(std::make_unique<Impl>(config)) {
    Impl& d = *impl_;
    d.hangup_signal = std::make_unique<asio::signal_set>(d.accept_context, SIGHUP);
    d.stop_signals = std::make_unique<asio::signal_set>(d.accept_context, SIGINT, SIGTERM);
    // Before any store is opened or created: a bad path ends the start with nothing made.
    check_start_paths(config);
    create_data_dir(config);
    const IscsiConfig& ic = config.iscsi;
    iscsi::ConnectionSettings& s = d.state.settings;
    s.limits.max_recv_data_segment_length = ic.max_recv_data_segment_length;
    s.limits.max_burst_length = ic.max_burst_length;
    s.limits.first_burst_length = ic.first_burst_length;
    s.limits.max_outstanding_r2t = ic.max_outstanding_r2t;
    s.limits.initial_r2t = ic.initial_r2t;
    s.limits.immediate_data = ic.immediate_data;
    s.queue_depth = ic.queue_depth;
    s.nop_in_interval_s = ic.nop_in_interval_s;
    s.nop_in_timeout_s = ic.nop_in_timeout_s;
    s.login_timeout_s = ic.login_timeout_s;
    s.connection_buffer_bytes = ic.connection_buffer_bytes;
    s.max_immediate_commands = ic.max_immediate_commands;
    s.send_timeout_s = ic.send_timeout_s;
    d.state.buffers.set_limit(ic.buffer_budget_bytes);
    d.state.connection_limits.set_limits(ic.max_connections, ic.max_connections_per_initiator);
    s.discovery_chap = live_detail::to_secret(ic.discovery_chap);
    s.abort_answered_task_function_complete =
        ic.abort_answered_task == AbortAnsweredTask::function_complete;
    d.state.events = d.events;

    auto submit = [&pool = d.io_pool](std::function<void()> work) { pool.submit(std::move(work)); };
    if (config.fault.enabled) {
        d.faults = std::make_shared<fault::Engine>();
        d.faults->on_injection(
            [events = d.events](const fault::RuleState& rule, const fault::CommandView& cmd) {
                events->add("fault",
                            fmt::format("rule {} \"{}\" ({}) hit {} lba {} from {}", rule.id,
                                        rule.spec.name, fault::to_string(rule.spec.action),
                                        fault::to_string(cmd.command), cmd.lba, cmd.initiator),
                            std::string(cmd.target), cmd.lun, std::string(cmd.initiator));
            });
        for (const fault::RuleSpec& spec : config.fault.rules) {
            std::string error;
            d.faults->add(spec, error);  // validated by the config parser
        }
        spdlog::warn("fault injection is ON with {} rule(s): this array lies on purpose",
                     config.fault.rules.size());
    }
    if (config.ats.recorder) {
        forensics::RecorderSettings rs;
        rs.max_blocks = config.ats.recorder_blocks;
        rs.entries_per_block = config.ats.recorder_entries;
        rs.max_image_bytes = size_t{config.ats.recorder_image_mib} << 20;
        d.recorder = std::make_shared<forensics::FlightRecorder>(rs);
        // Each miscompare's cause: a log line and an event (as many a second as the miscompare
        // lines themselves, target/scsi/lun.cpp), on the recorder's thread.
        d.recorder->on_explained([events = d.events,
                                  limit = std::make_shared<ats::RateLimit>(10.0, 20.0)](
                                     const forensics::Explained& e) {
            const auto held_back = limit->admit();
            if (!held_back) {
                return;
            }
            const std::string line =
                fmt::format("ats miscompare lun {} lba {} initiator {}: {}", e.lun, e.lba,
                            e.entry.origin.initiator_name, e.entry.explanation);
            spdlog::warn("{} (target {}){}", line, e.target,
                         *held_back != 0 ? fmt::format(" ({} more not logged)", *held_back) : "");
            events->add("miscompare_cause", line, e.target, e.lun, e.entry.origin.initiator_port);
        });
    }
    scsi::LunServices services{d.locks, d.accounting, d.events, d.faults, nullptr};
    services.recorder = d.recorder;
    services.captures = d.captures;
    services.schedule_after = [&d](std::chrono::milliseconds delay, std::function<void()> job) {
        d.schedule_after(delay, std::move(job));
    };
    d.factory =
        std::make_unique<LunFactory>(LunFactory{d.config, services, submit, &d.rbd_console});
    d.live = std::make_unique<LiveConfig>(
        LiveConfig::Context{d.config, d.state, *d.factory, d.luns, d.events, d.faults});
    d.live->listen = [&d](const PortalConfig& pc) {
        return d.on_accept_thread<std::string>([&d, pc] { return d.open_portal(pc); },
                                               "the daemon is stopping");
    };
    d.live->stop_listening = [&d](const std::string& name, bool force) {
        return d.on_accept_thread<size_t>([&d, name, force] { return d.close_portal(name, force); },
                                          0);
    };
    d.live->portal_sessions = [&d](const std::string& name) {
        return d.on_accept_thread<size_t>([&d, name] { return d.portal_sessions(name, false); }, 0);
    };
    const scsi::AluaConfig alua = alua_config(config);
    const std::optional<GatewaySettings> gateway_settings = gateway_settings_of(config);
    if (!gateway_settings) {
        d.live->make_port_groups = [&d, alua](const std::string& target) {
            auto groups = std::make_shared<scsi::TargetPortGroups>(alua);
            asio::post(d.accept_context,
                       [&d, target, groups] { d.watch_port_groups(target, groups); });
            return groups;
        };
    }
    for (const TargetConfig& tc : config.targets) {
        auto port_groups = std::make_shared<scsi::TargetPortGroups>(alua);
        d.watch_port_groups(tc.name, port_groups);
        auto device = std::make_shared<scsi::TargetDevice>(port_groups);
        for (const LunConfig& lc : tc.luns) {
            auto lun = d.factory->make(tc, lc, port_groups);
            device->add_lun(lc.id, lun, false);
            d.luns.add(lun);
            // SBC-4 §4.11: a sanitize the last run left unfinished goes on, never served as
            // done (SanitizeState keeps it in `<kept>.sanitize`).
            lun->resume_sanitize();
        }
        iscsi::TargetNode node;
        node.info = live_detail::target_info(tc);
        node.device = std::move(device);
        d.state.targets.add(std::move(node));
        if (gateway_settings) {
            d.add_gateway(tc.name, port_groups, *gateway_settings);
            std::map<uint16_t, std::vector<std::string>> group_portals;
            for (const PortGroupConfig& g : config.port_groups) {
                for (const size_t portal : g.portals) {
                    group_portals[g.id].push_back(config.portals[portal].address + ":" +
                                                  std::to_string(config.portals[portal].port));
                }
                for (const std::string& address : g.remote_portals) {
                    group_portals[g.id].push_back(address);
                }
            }
            d.rbd_console.set_gateway(tc.name, d.gateways.back().get(), port_groups,
                                      std::move(group_portals));
        }
    }

    const unsigned threads = config.io_threads != 0
                                 ? config.io_threads
                                 : std::max(1U, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) {
        d.io_contexts.push_back(std::make_unique<asio::io_context>(1));
        d.guards.push_back(asio::make_work_guard(*d.io_contexts.back()));
        // The context's reactor (an epoll, an eventfd, a timerfd) now, while descriptors are to
        // be had: asio makes it with the context's first socket or timer, and a connection that
        // came to a context without one while the daemon was out of descriptors threw EMFILE
        // from the accept handler (and stopped the portal accepting).
        const asio::steady_timer reactor_now(*d.io_contexts.back());
    }
    for (const PortalConfig& pc : config.portals) {
        const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(pc.address), pc.port);
        try {
            d.portals.push_back(std::make_unique<iscsi::Portal>(
                d.accept_context, endpoint,
                [&d]() -> asio::io_context& { return d.pick_context(); }, d.state, pc.group));
        } catch (const boost::system::system_error& e) {
            throw ConfigError(config.source_path + ": portal " + pc.address + ":" +
                              std::to_string(pc.port) + ": cannot listen: " + e.code().message());
        }
        d.state.portals.add(d.portals.back()->info());
    }
    for (const PortGroupConfig& g : config.port_groups) {
        for (const std::string& address : g.remote_portals) {
            d.state.portals.add(iscsi::PortalInfo{address, g.id, true});
        }
    }
    if (d.faults) {
        d.path_faults = std::make_unique<PathFaultController>(
            *d.faults, d.state, [&d] { return d.all_connections(); }, d.events);
        d.faults->on_change([&d] {
            asio::post(d.accept_context, [&d] {
                if (d.path_faults) {
                    d.path_faults->reconcile();
                }
            });
        });
    }
    if (config.console.enabled) {
        d.console_model = std::make_unique<webui::ConsoleModel>(
            webui::ConsoleModel{d.state, *d.accounting, *d.events, d.faults.get(), d.locks.get()});
        d.console_model->keep_ended_sessions =
            std::chrono::seconds(config.console.keep_ended_sessions_s);
        d.console_model->rbd = [&d](std::string_view target, uint64_t lun) {
            return d.rbd_console.view(target, lun);
        };
        d.console_model->config = d.live.get();
        d.console_model->recorder = d.recorder.get();
        d.console_model->captures = d.captures.get();
        webui::ConsoleSettings cs;
        cs.address = config.console.address;
        cs.port = config.console.port;
        cs.token = config.console.token;
        cs.static_dir =
            config.console.static_dir.empty() ? ATSARRAY_STATIC_DIR : config.console.static_dir;
        try {
            d.console = std::make_unique<webui::ConsoleServer>(cs, *d.console_model);
        } catch (const std::runtime_error& e) {
            throw ConfigError(config.source_path + ": " + e.what());
        }
    }
}

Daemon::~Daemon() = default;

int Daemon::run() {
    Impl& d = *impl_;
    for (auto& ctx : d.io_contexts) {
        d.threads.emplace_back([&ctx, poll = std::chrono::microseconds(d.config.io_poll_us)] {
            net::run_io_loop(*ctx, poll, "iscsi I/O");
        });
    }
    for (auto& portal : d.portals) {
        portal->start();
        spdlog::info("iscsi portal listening on {}", portal->address());
    }
    if (d.console) {
        d.console->start();
        spdlog::info("console on http://{}/", d.console->address());
    }
    for (const auto& node : d.state.targets.nodes()) {
        spdlog::info("target {} ready with {} LUN(s)", node->info.name,
                     node->device->lun_ids().size());
    }

    // Shutdown: stop accepting, ask every session to log out (Async Message, RFC 7143 §11.9),
    // give them a few seconds, close what is left, then flush every LUN.
    // cancel() does not reach a wait that has completed and whose handler is queued: the
    // handlers below check the flag, or one that ran after shutdown began would re-arm its wait
    // and accept_context would never run out of work (a stop hung so in a path fault test).
    bool shutting_down = false;
    asio::signal_set& hangup = *d.hangup_signal;
    std::function<void()> wait_for_hangup = [&] {
        hangup.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec || shutting_down) {
                return;
            }
            d.reload();
            wait_for_hangup();
        });
    };
    wait_for_hangup();
    asio::steady_timer alua_poll(d.accept_context);
    std::function<void()> poll_alua = [&] {
        alua_poll.expires_after(std::chrono::milliseconds(100));
        alua_poll.async_wait([&](const boost::system::error_code& ec) {
            if (ec || shutting_down) {
                return;
            }
            d.poll_port_groups();
            if (d.path_faults) {
                d.path_faults->reconcile();
            }
            poll_alua();
        });
    };
    if (d.path_faults) {
        d.path_faults->reconcile();  // the config's path rules
    }
    if (!d.config.port_groups.empty() || d.path_faults) {
        poll_alua();
    }
    for (auto& gateway : d.gateways) {
        gateway->start();
    }
    d.rbd_console.start();
    asio::signal_set& signals = *d.stop_signals;
    asio::steady_timer drain(d.accept_context);
    int polls = 0;
    std::function<void()> wait_for_sessions = [&] {
        drain.expires_after(std::chrono::milliseconds(100));
        drain.async_wait([&](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            auto left = d.all_connections();
            if (left.empty() || ++polls > 40) {
                for (auto& conn : left) {
                    conn->post_close("daemon shutting down");
                }
                return;  // accept_context runs out of work and run() returns
            }
            wait_for_sessions();
        });
    };
    d.shutdown = [&](int signal) {
        if (std::exchange(shutting_down, true)) {
            return;
        }
        if (signal != 0) {
            spdlog::info("signal {}: shutting down", signal);
        } else {
            spdlog::info("stop requested: shutting down");
        }
        signals.cancel();
        hangup.cancel();
        alua_poll.cancel();
        d.stop_sanitizing();
        for (auto& portal : d.portals) {
            portal->stop();
        }
        for (auto& conn : d.all_connections()) {
            conn->post_request_logout(2);
        }
        wait_for_sessions();
    };
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (!ec) {
            d.shutdown(signal);
        }
    });
    net::run_io_loop(d.accept_context, std::chrono::microseconds(0), "accept");
    d.shutdown = nullptr;
    // The other gateways see this one stop beating and report its group unavailable.
    for (auto& gateway : d.gateways) {
        gateway->stop();
    }
    if (d.console) {
        d.console->stop();
    }
    d.rbd_console.stop();

    // Let the I/O threads finish what the closes started, then stop them.
    for (int i = 0; i < 50 && !d.all_connections().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    d.stop_sanitizing();
    d.guards.clear();
    for (auto& ctx : d.io_contexts) {
        ctx->stop();
    }
    for (auto& t : d.threads) {
        t.join();
    }
    d.io_pool.join();
    for (const auto& node : d.state.targets.nodes()) {
        node->device->flush_all();
    }
    spdlog::info("atsarray stopped; all LUNs flushed");
    return 0;
}

void Daemon::stop() {
    asio::post(impl_->accept_context, [&d = *impl_] {
        if (d.shutdown) {
            d.shutdown(0);
        }
    });
}

const ats::Registry& Daemon::accounting() const {
    return *impl_->accounting;
}

uint16_t Daemon::console_port() const {
    return impl_->console ? impl_->console->port() : 0;
}

std::string Daemon::console_token() const {
    return impl_->console ? impl_->console->token() : std::string();
}

}  // namespace atsarray::daemon
