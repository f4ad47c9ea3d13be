// strata prune: removes build cache records (--cache, chosen by age and size) and then
// every blob and snapshot that no image in index.json and no remaining record reaches.
#include "builder/cache.hpp"
#include "cli/commands.hpp"
#include "store/gc.hpp"
#include "util/error.hpp"

#include <cctype>
#include <cstdio>
#include <iostream>
#include <optional>

namespace strata::cli {

namespace {

struct PruneFlags {
    bool cache = false;
    bool all = false;
    std::string keep_storage;
    std::vector<std::string> filters;
};

// A Go duration as docker takes it ("24h", "1h30m", "90s", "500ms"), plus "d" for days.
long long parse_duration_seconds(const std::string& text) {
    const auto bad = [&] { return Error("invalid duration '" + text + "': expected e.g. 24h, 1h30m, 90s or 7d"); };
    if (text.empty()) throw bad();
    double seconds = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t used = 0;
        double value = 0;
        try {
            value = std::stod(text.substr(i), &used);
        } catch (const std::exception&) {
            throw bad();
        }
        if (value < 0) throw bad();
        i += used;
        std::size_t unit_end = i;
        while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) ++unit_end;
        const std::string unit = text.substr(i, unit_end - i);
        i = unit_end;
        if (unit == "d") seconds += value * 86400;
        else if (unit == "h") seconds += value * 3600;
        else if (unit == "m") seconds += value * 60;
        else if (unit == "s") seconds += value;
        else if (unit == "ms") seconds += value / 1000;
        else throw bad();
    }
    return static_cast<long long>(seconds);
}

std::optional<long long> until_filter(const std::vector<std::string>& filters) {
    std::optional<long long> until;
    for (const auto& f : filters) {
        const auto eq = f.find('=');
        if (eq == std::string::npos || f.substr(0, eq) != "until")
            throw Error("--filter '" + f + "': only until=DURATION is supported");
        until = parse_duration_seconds(f.substr(eq + 1));
    }
    return until;
}

void run_prune(const PruneFlags& flags, const GlobalOptions& global) {
    store::PruneOptions options;
    if (!flags.cache && (flags.all || !flags.keep_storage.empty() || !flags.filters.empty()))
        throw Error("--all, --keep-storage and --filter choose build cache records: use them with --cache");
    if (flags.cache) {
        options.namespaces = {builder::cache_records_namespace};
        options.all = flags.all;
        options.unused_for_seconds = until_filter(flags.filters);
        if (!flags.keep_storage.empty()) options.keep_bytes = flags.keep_storage == "0" ? 0 : parse_size(flags.keep_storage);
        if (flags.all && !options.keep_bytes && !options.unused_for_seconds) {
            // Everything the cache knows goes: --explain's history and the context stat caches too.
            options.clear_namespaces = {builder::last_steps_namespace};
            options.clear_local_areas = {builder::explain_listings_area, builder::context_stat_area};
        }
    }
    options.on_wait = [] { std::cerr << "strata: waiting for running builds to finish...\n"; };
    store::Store store(global.root);
    const store::PruneResult result = store::prune(store, options);
    std::printf("Deleted %zu cache records, %zu blobs, %zu snapshots\n", result.records_removed, result.blobs_removed,
                result.snapshots_removed);
    std::printf("Total reclaimed space: %s\n", format_bytes(result.bytes_freed).c_str());
}

} // namespace

void add_prune_command(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<PruneFlags>();
    auto* cmd = app.add_subcommand(
        "prune", "Remove unreferenced blobs and snapshots; with --cache, build cache records first");
    cmd->add_flag("--cache", flags->cache, "Remove build cache records (default: those that keep data no image uses)");
    cmd->add_flag("-a,--all", flags->all, "With --cache: any record, also those whose layers images use");
    cmd->add_option("--keep-storage", flags->keep_storage,
                    "With --cache: remove least recently used records only until the cache takes at most SIZE (e.g. 1g)");
    cmd->add_option("--filter", flags->filters, "With --cache: until=DURATION, only records unused for that long (24h, 7d)")
        ->allow_extra_args(false);
    cmd->callback([flags, &global] { run_prune(*flags, global); });
}

} // namespace strata::cli
