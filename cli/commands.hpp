#pragma once
// Each subcommand lives in its own file and registers itself on the CLI11 app.
// A subcommand's callback does the work; strata::Error escapes to main(), which prints
// "strata: error: ..." once.
#include "store/compress.hpp"
#include "store/gc.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace strata::cli {

struct GlobalOptions {
    std::string root;  // --root, STRATA_ROOT, or /var/lib/strata
    int exit_code = 0; // set by a subcommand that has its own exit status (run)
};

void add_build_command(CLI::App& app, GlobalOptions& global);
void add_run_command(CLI::App& app, GlobalOptions& global);
void add_bundle_command(CLI::App& app, GlobalOptions& global);  // bundle.cpp
void add_container_commands(CLI::App& app, GlobalOptions& global);  // containers.cpp: commit, rm, ps
void add_images_command(CLI::App& app, GlobalOptions& global);
void add_image_commands(CLI::App& app, GlobalOptions& global);  // image_commands.cpp: inspect, history, tag, rmi
void add_parse_command(CLI::App& app, GlobalOptions& global);
void add_du_command(CLI::App& app, GlobalOptions& global);     // du.cpp
void add_prune_command(CLI::App& app, GlobalOptions& global);  // prune.cpp
void add_fsck_command(CLI::App& app, GlobalOptions& global);   // fsck.cpp
void add_save_load_commands(CLI::App& app, GlobalOptions& global);  // save_load.cpp: save, load

// build --output (save_load.cpp), BuildKit's syntax: type=oci,dest=DIR (tar=true: an
// archive) | type=oci-archive,dest=FILE|- | type=docker,dest=FILE|- | type=local,dest=DIR,
// or just a path (type=local). name= names the exported image (default: build's -t tags).
struct BuildOutput {
    std::string type;
    std::string dest;
    std::vector<std::string> names;
    bool tar = false;
};
BuildOutput parse_build_output(const std::string& spec);
bool writes_archive(const BuildOutput& output);  // a tar, so dest=- is standard output
void write_build_output(store::Store& store, const BuildOutput& output, const store::Descriptor& manifest,
                        const std::vector<std::string>& tags);
void add_export_import_commands(CLI::App& app, GlobalOptions& global);  // export_import.cpp: export, import
void add_diff_command(CLI::App& app, GlobalOptions& global);            // diff.cpp
void add_registry_commands(CLI::App& app, GlobalOptions& global);       // registry.cpp: pull, push, login, logout

// build's and lock's -f: given, else Buildfile in the context, else Dockerfile (what
// docker users have); "-" is stdin.
struct Buildfile {
    std::string text;
    std::string name;  // for error positions
    std::filesystem::path path;  // empty for stdin
};
Buildfile read_buildfile(const std::string& file, const std::string& context);
// --build-arg K=V, or a bare K taking its value from the environment (as docker does).
std::map<std::string, std::string> parse_build_args(const std::vector<std::string>& list);
void add_lock_command(CLI::App& app, GlobalOptions& global);  // lock.cpp

// The store's GC lock in `use` mode for a command that writes or stands on objects
// (build, run, bundle, commit), saying so on stderr when a prune makes it wait.
store::GcLock hold_store_for_use(const store::Store& store);

// SOURCE_DATE_EPOCH from the environment: none when unset or empty; throws when malformed.
std::optional<long long> source_date_epoch_from_env();
// SOURCE_DATE_EPOCH when set (reproducible, as builds are), else the current time, in seconds.
long long now_or_source_date_epoch();

// --compression gzip|zstd|uncompressed and --compression-level N, for every command that
// writes layers (build, commit, import).
struct CompressionFlags {
    std::string name = "gzip";
    std::optional<int> level;
    store::LayerCompression parse() const;
};
void add_compression_options(CLI::App* command, CompressionFlags& flags);

// "512m" -> 536870912; plain numbers are bytes (docker's units: b, k, m, g).
long long parse_size(const std::string& text);
// 1234567 -> "1.23MB" (docker's decimal units).
std::string format_bytes(long long bytes);

} // namespace strata::cli
