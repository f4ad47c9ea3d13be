// strata fsck: one line per problem the store has, then a summary; exit status 0 when the
// store is clean (or --repair fixed every problem found), 1 when problems remain.
#include "cli/commands.hpp"
#include "store/fsck.hpp"

#include <cstdio>
#include <iostream>

namespace strata::cli {

namespace {

struct FsckFlags {
    bool repair = false;
};

void print_summary(const store::FsckReport& report) {
    std::printf("Checked %zu blobs (%s), %zu images, %zu records, %zu containers, %zu snapshots\n", report.blobs,
                format_bytes(report.blob_bytes).c_str(), report.images, report.records, report.containers,
                report.snapshots);
    if (report.unreferenced_blobs || report.unreferenced_snapshots)
        std::printf("Unreferenced: %zu blobs and %zu snapshots (garbage, not damage: strata prune frees them)\n",
                    report.unreferenced_blobs, report.unreferenced_snapshots);
    if (report.problems.empty()) std::printf("No problems found\n");
    else if (report.repaired() == 0) std::printf("%zu problems found (strata fsck --repair removes what cannot resolve)\n", report.problems.size());
    else std::printf("%zu problems found, %zu repaired\n", report.problems.size(), report.repaired());
}

void run_fsck(const FsckFlags& flags, GlobalOptions& global) {
    store::Store store(global.root);
    store::FsckOptions options;
    options.repair = flags.repair;
    options.on_wait = [] { std::cerr << "strata: waiting for running builds and containers to finish...\n"; };
    const store::FsckReport report = store::fsck(store, options);
    for (const auto& problem : report.problems) std::printf("%s\n", store::describe(problem).c_str());
    print_summary(report);
    global.exit_code = report.clean_now() ? 0 : 1;
}

} // namespace

void add_fsck_command(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<FsckFlags>();
    auto* cmd = app.add_subcommand(
        "fsck", "Verify the store: re-hash every blob, check that every tag, record and container resolves");
    cmd->add_flag("--repair", flags->repair,
                  "Remove corrupt blobs, the tags and records that no longer resolve, and leftovers of interrupted writes");
    cmd->callback([flags, &global] { run_fsck(*flags, global); });
}

} // namespace strata::cli
