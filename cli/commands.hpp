#pragma once
// Each subcommand lives in its own file and registers itself on the CLI11 app.
// A subcommand's callback does the work; strata::Error escapes to main(), which prints
// "strata: error: ..." once.
#include "store/gc.hpp"

#include <CLI/CLI.hpp>

#include <string>

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
void add_parse_command(CLI::App& app, GlobalOptions& global);
void add_du_command(CLI::App& app, GlobalOptions& global);     // du.cpp
void add_prune_command(CLI::App& app, GlobalOptions& global);  // prune.cpp

// The store's GC lock in `use` mode for a command that writes or stands on objects
// (build, run, bundle, commit), saying so on stderr when a prune makes it wait.
store::GcLock hold_store_for_use(const store::Store& store);

// "512m" -> 536870912; plain numbers are bytes (docker's units: b, k, m, g).
long long parse_size(const std::string& text);
// 1234567 -> "1.23MB" (docker's decimal units).
std::string format_bytes(long long bytes);

} // namespace strata::cli
