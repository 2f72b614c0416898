// atsarrayctl: the array from a shell, through the console's REST API (webui/API.md and the live
// configuration of issue 19). Exit status: 0 ok, 1 the API refused, 2 usage, 3 no console.
#include <iostream>

#include <CLI/CLI.hpp>

#include "ctl/client.hpp"
#include "ctl/commands.hpp"
#include "ctl/token.hpp"

namespace {

constexpr int exit_refused = 1;
constexpr int exit_usage = 2;
constexpr int exit_no_console = 3;

constexpr const char* description =
    "atsarrayctl: the atsarray iSCSI array from a shell, through its console's REST API.\n"
    "\n"
    "The access token (needed by every change, by `config show`, and by every request when the\n"
    "console listens beyond loopback) comes from --token, --token-file, $ATSARRAY_TOKEN or\n"
    "$ATSARRAY_TOKEN_FILE, in that order; a token file must be readable by its owner only\n"
    "(chmod 600). Without one, on a loopback URL, atsarrayctl fetches the console's token from\n"
    "GET /api/v1/session-token as the console's own page does.\n"
    "\n"
    "Exit status: 0 done; 1 the API refused (its message is printed); 2 usage error;\n"
    "3 cannot connect to the console.";

}  // namespace

int main(int argc, char** argv) {
    using namespace atsarray::ctl;
    CLI::App app{description, "atsarrayctl"};
    app.fallthrough();  // --json and --url after the command, too

    std::string url = "http://127.0.0.1:8080";
    std::string token;
    std::string token_file;
    bool json = false;
    app.add_option("--url", url, "the console (default http://127.0.0.1:8080)")
        ->envname("ATSARRAY_URL")
        ->capture_default_str();
    app.add_option("--token", token, "the console's access token (or $ATSARRAY_TOKEN)");
    app.add_option("--token-file", token_file,
                   "a file holding the token, mode 0600 (or $ATSARRAY_TOKEN_FILE)");
    app.add_flag("--json", json, "print the API's JSON answer unchanged instead of a table");

    Registry registry;
    add_status_commands(app, registry);
    add_target_commands(app, registry);
    add_lun_commands(app, registry);
    add_ats_commands(app, registry);
    add_event_commands(app, registry);
    add_fault_commands(app, registry);
    add_config_commands(app, registry);
    add_top_command(app, registry);
    add_forensics_commands(app, registry);
    add_capture_commands(app, registry);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : exit_usage;
    }
    if (!registry.chosen()) {
        std::cerr << app.help();
        return exit_usage;
    }
    try {
        Client client(parse_url(url), resolve_token(token, token_file));
        Context context{client, json, std::cout};
        return registry.run(context);
    } catch (const UsageError& e) {
        std::cerr << "atsarrayctl: " << e.what() << "\n";
        return exit_usage;
    } catch (const ConnectError& e) {
        std::cerr << "atsarrayctl: " << e.what() << "\n";
        return exit_no_console;
    } catch (const ApiError& e) {
        std::cerr << "atsarrayctl: " << e.what() << "\n";
        if (e.status == 401) {
            std::cerr << "hint: give the console's access token with --token, --token-file, "
                         "$ATSARRAY_TOKEN or $ATSARRAY_TOKEN_FILE (the [console] token of the "
                         "daemon's config)\n";
        }
        return exit_refused;
    }
}
