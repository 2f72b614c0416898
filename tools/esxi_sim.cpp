// esxi-sim: N simulated ESXi hosts sharing one LUN the way VMFS does, with ATS heartbeats and
// on-disk locks (tools/esxi_sim/, ../shared/VMFS-ATS.md). The log (stderr) speaks ESXi's words;
// the report (stdout, table or --json) counts per host. Exit status 0 when no host lost its
// heartbeat for longer than --lost-after, 1 otherwise, 2 on a usage or connection error.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>

#include "tools/esxi_sim/simulator.hpp"

namespace {

std::atomic<atsarray::sim::Simulator*> running{nullptr};

extern "C" void on_signal(int) {
    if (atsarray::sim::Simulator* s = running.load(); s != nullptr) {
        s->stop();
    }
}

}  // namespace

int main(int argc, char** argv) {
    atsarray::sim::Options o;
    bool json = false;
    bool quiet = false;
    CLI::App app{"esxi-sim: simulated ESXi hosts heartbeating and locking on a LUN with ATS"};
    app.add_option("--portal", o.portals,
                   "target portal host:port; repeat it for every path (one session per host and "
                   "portal), or give one with --discover")
        ->capture_default_str();
    app.add_flag("--discover", o.discover,
                 "SendTargets on the first --portal: log in on every portal it lists for the "
                 "target (every portal of every target port group)");
    app.add_option("--target", o.target, "target IQN")->capture_default_str();
    app.add_option("--lun", o.lun, "LUN")->check(CLI::Range(0, 255));
    app.add_option("--hosts", o.hosts, "simulated hosts, each with one session per path")
        ->capture_default_str();
    app.add_option("--first-host", o.first_host,
                   "number of the first host (initiator PREFIX-<n>, MAC 00:50:56:a7:hh:ll); give "
                   "each simulator sharing a LUN its own range")
        ->capture_default_str();
    app.add_option("--initiator-prefix", o.initiator_prefix, "initiator names: PREFIX-<n>")
        ->capture_default_str();
    app.add_option("--volume", o.volume, "the volume name the log uses")->capture_default_str();
    app.add_option("--duration", o.duration, "seconds to run (0: until SIGINT/SIGTERM)")
        ->capture_default_str();
    app.add_option("--heartbeat-interval", o.heartbeat_interval,
                   "seconds between heartbeat refreshes (ESXi: about 3)")
        ->capture_default_str();
    app.add_option("--io-timeout", o.io_timeout,
                   "seconds before an ATS is aborted and reissued (ESXi: about 8)")
        ->capture_default_str();
    app.add_option("--lost-after", o.lost_after,
                   "seconds without a heartbeat before 'Lost access to volume', and how long a "
                   "lock owner's stamp must stand still before it is declared dead (ESXi: 16)")
        ->capture_default_str();
    app.add_option("--heartbeat-lba", o.heartbeat_lba, "first block of the heartbeat region")
        ->capture_default_str();
    app.add_option("--slots", o.slots, "heartbeat slots (one block each; VMFS5 has 2048)")
        ->capture_default_str();
    app.add_option("--lock-lba", o.lock_lba, "first block of the on-disk locks")
        ->capture_default_str();
    app.add_option("--locks", o.locks, "on-disk locks (one block each)")->capture_default_str();
    app.add_option("--hold-ms", o.hold_ms, "how long a lock is held (x 0.5..1.5)")
        ->capture_default_str();
    app.add_option("--think-ms", o.think_ms, "pause between lock attempts (x 0.5..1.5)")
        ->capture_default_str();
    app.add_option("--seed", o.seed, "random seed (0: random, reported)");
    app.add_flag("--format", o.format,
                 "initialise both regions whatever they hold (zeroed regions are always "
                 "formatted)");
    app.add_option("--report-every", o.report_every, "seconds between progress reports (0: off)");
    app.add_option("--crash-host", o.crash_host,
                   "host number that loses power (drops its session without logout) as soon as "
                   "it holds a lock after --crash-after seconds");
    app.add_option("--crash-after", o.crash_after, "see --crash-host");
    app.add_option("--transition-retry-ms", o.transition_retry_ms,
                   "while a path's target port group is transitioning (or no path is usable), "
                   "REPORT TARGET PORT GROUPS is asked again after this long")
        ->capture_default_str();
    app.add_option("--dqlen", o.dqlen, "ESXi's device queue depth per host (DQLEN)")
        ->capture_default_str();
    app.add_option("--qfull-sample-size", o.qfull_sample_size,
                   "BUSY/TASK SET FULL answers that halve the queue depth (ESXi's "
                   "QFullSampleSize, 0..64; 0 turns the adaptive queue depth off)")
        ->capture_default_str();
    app.add_option("--qfull-threshold", o.qfull_threshold,
                   "good answers that raise a reduced queue depth by one (QFullThreshold, 1..16)")
        ->capture_default_str();
    app.add_option("--vm-io-qd", o.vm_io_qd,
                   "VM I/O commands each host keeps outstanding on the device (0: none); they "
                   "share the device queue with the heartbeat and lock ATS")
        ->capture_default_str();
    app.add_option("--vm-io-size", o.vm_io_size, "bytes per VM I/O command")->capture_default_str();
    app.add_option("--vm-io-read-pct", o.vm_io_read_pct, "share of VM I/O that reads (percent)")
        ->capture_default_str();
    app.add_option("--vm-io-lba", o.vm_io_lba, "first block of the VM I/O region")
        ->capture_default_str();
    app.add_option("--vm-io-blocks", o.vm_io_blocks,
                   "blocks in the VM I/O region (0: to the end of the LUN)")
        ->capture_default_str();
    app.add_flag("--json", json, "machine-readable report");
    app.add_flag("--quiet", quiet, "no log lines, only the report");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }

    atsarray::sim::Log log(quiet ? nullptr : stderr);
    auto print = [json](const atsarray::sim::Report& r) {
        if (json) {
            atsarray::sim::print_json(r, stdout);
        } else {
            atsarray::sim::print_text(r, stdout);
        }
        std::fflush(stdout);
    };
    atsarray::sim::Simulator simulator(o, log, print);
    running = &simulator;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const atsarray::sim::Report report = simulator.run();
    running = nullptr;
    if (json || !report.hosts.empty()) {
        print(report);
    }
    if (report.exit_status == 2) {
        std::fprintf(stderr, "esxi-sim: %s\n", report.error.c_str());
    }
    return report.exit_status;
}
