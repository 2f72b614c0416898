// ats-counter: concurrent COMPARE AND WRITE increments of one block from N sessions, while
// others write the neighbouring blocks (tools/ats_counter_run.hpp says what is checked). Exit
// status 0 when all holds, 1 otherwise, 2 on a usage or connection error.
#include <CLI/CLI.hpp>

#include "tools/ats_counter_run.hpp"

int main(int argc, char** argv) {
    atsarray::initiator::CounterOptions o;
    CLI::App app{"ats-counter: concurrent COMPARE AND WRITE increments of one block"};
    app.add_option("--portal", o.portal, "target portal host:port");
    app.add_option("--target", o.target, "target IQN");
    app.add_option("--lun", o.lun, "LUN");
    app.add_option("--lba", o.lba, "counter block (the neighbours are lba-1 and lba+1)");
    app.add_option("--sessions", o.sessions, "incrementing sessions")->check(CLI::Range(1, 256));
    app.add_option("--writers", o.writers, "sessions writing the neighbouring blocks")
        ->check(CLI::Range(0, 64));
    app.add_option("--increments", o.increments, "successful increments per session")
        ->check(CLI::Range(1, 10000000));
    app.add_option("--initiator-prefix", o.initiator_prefix, "initiator names: PREFIX-N");
    CLI11_PARSE(app, argc, argv);
    return atsarray::initiator::run_ats_counter(o).exit_status;
}
