#include "cli/commands.hpp"

#include "util/error.hpp"
#include "util/units.hpp"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>

namespace strata::cli {

store::GcLock hold_store_for_use(const store::Store& store) {
    return store::GcLock(store, store::GcLock::Mode::use,
                         [] { std::cerr << "strata: waiting for a running prune to finish...\n"; });
}

long long parse_size(const std::string& text) {
    const long long value = parse_ram_bytes(text);  // docker's units: 512m, 1g, 64MiB...
    if (value <= 0) throw Error("invalid size '" + text + "': must be positive");
    return value;
}

std::optional<long long> source_date_epoch_from_env() {
    const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
    if (!epoch || !*epoch) return std::nullopt;
    char* end = nullptr;
    const long long value = std::strtoll(epoch, &end, 10);
    if (*end != '\0' || value < 0) throw Error(std::string("SOURCE_DATE_EPOCH='") + epoch + "' is not a non-negative integer");
    return value;
}

long long now_or_source_date_epoch() {
    if (const auto epoch = source_date_epoch_from_env()) return *epoch;
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

store::LayerCompression CompressionFlags::parse() const { return store::parse_layer_compression(name, level); }

void add_compression_options(CLI::App* command, CompressionFlags& flags) {
    command->add_option("--compression", flags.name, "Layer compression: gzip, zstd or uncompressed")->capture_default_str();
    command->add_option_function<int>(
        "--compression-level", [&flags](int level) { flags.level = level; },
        "Compression level (gzip 0-9, default 6; zstd 1-19, default 3)");
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
    add_lock_command(app, global);
    add_run_command(app, global);
    add_bundle_command(app, global);
    add_container_commands(app, global);
    add_images_command(app, global);
    add_image_commands(app, global);
    add_parse_command(app, global);
    add_du_command(app, global);
    add_prune_command(app, global);
    add_fsck_command(app, global);
    add_save_load_commands(app, global);
    add_export_import_commands(app, global);
    add_diff_command(app, global);
    add_registry_commands(app, global);

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
