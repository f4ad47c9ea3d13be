#include "cli/commands.hpp"

#include "util/error.hpp"

#include <cctype>
#include <cstdlib>
#include <iostream>

namespace strata::cli {

long long parse_size(const std::string& text) {
    std::size_t used = 0;
    long long value = 0;
    try {
        value = std::stoll(text, &used);
    } catch (const std::exception&) {
        throw Error("invalid size '" + text + "': expected a number with an optional unit b, k, m or g");
    }
    const std::string unit = text.substr(used);
    long long scale = 1;
    if (unit.empty() || unit == "b" || unit == "B") scale = 1;
    else if (unit == "k" || unit == "K" || unit == "kb" || unit == "KiB") scale = 1LL << 10;
    else if (unit == "m" || unit == "M" || unit == "mb" || unit == "MiB") scale = 1LL << 20;
    else if (unit == "g" || unit == "G" || unit == "gb" || unit == "GiB") scale = 1LL << 30;
    else throw Error("invalid size '" + text + "': unknown unit '" + unit + "'");
    if (value <= 0) throw Error("invalid size '" + text + "': must be positive");
    return value * scale;
}

} // namespace strata::cli

int main(int argc, char** argv) {
    using namespace strata::cli;
    CLI::App app{"strata: a daemonless, reproducible container image builder"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "strata version " STRATA_VERSION);
    GlobalOptions global;
    const char* env_root = std::getenv("STRATA_ROOT");
    // Absolute, because the sandbox is given paths inside the store and changes directory.
    global.root = std::filesystem::absolute(env_root && *env_root ? env_root : "/var/lib/strata").lexically_normal();
    app.add_option_function<std::string>(
        "--root", [&global](const std::string& root) { global.root = std::filesystem::absolute(root).lexically_normal(); },
        "Store root (default $STRATA_ROOT or /var/lib/strata)");
    add_build_command(app, global);
    add_run_command(app, global);
    add_images_command(app, global);
    add_parse_command(app, global);
    add_du_command(app, global);
    add_prune_command(app, global);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        // A usage error, with docker's status for one (125), not CLI11's own numbers.
        std::cerr << "strata: error: " << e.what() << "\nSee 'strata --help' or 'strata COMMAND --help'.\n";
        return 125;
    } catch (const strata::Error& e) {
        std::cerr << "strata: error: " << e.what() << "\n";
        return global.exit_code ? global.exit_code : 1;
    } catch (const std::exception& e) {
        std::cerr << "strata: error: " << e.what() << "\n";
        return 1;
    }
    return global.exit_code;
}
