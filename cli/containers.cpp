// Kept containers (strata run --name): commit, rm, ps.
#include "cli/commands.hpp"
#include "runner/runner.hpp"
#include "store/containers.hpp"
#include "store/gc.hpp"
#include "util/error.hpp"

#include <cstdio>
#include <iostream>

namespace strata::cli {

namespace {

struct CommitFlags {
    std::string container;
    std::string tag;
    std::string message;
    CompressionFlags compression;
};

void commit(const CommitFlags& flags, GlobalOptions& global) {
    store::Store store(global.root);
    const store::GcLock writing = hold_store_for_use(store);
    const auto manifest =
        runner::commit_container(store, flags.container, flags.message, now_or_source_date_epoch(), flags.compression.parse());
    if (!flags.tag.empty()) store.tag(flags.tag, manifest);
    std::cout << manifest.digest << "\n";
}

} // namespace

void add_container_commands(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<CommitFlags>();
    auto* commit_cmd = app.add_subcommand("commit", "Make an image of a kept container's changes (strata run --name)");
    commit_cmd->add_option("container", flags->container, "The container's name")->required();
    commit_cmd->add_option("image", flags->tag, "Tag the new image NAME[:TAG]");
    commit_cmd->add_option("-m,--message", flags->message, "A comment for the new layer's history");
    add_compression_options(commit_cmd, flags->compression);
    commit_cmd->callback([flags, &global] { commit(*flags, global); });

    auto names = std::make_shared<std::vector<std::string>>();
    auto* rm_cmd = app.add_subcommand("rm", "Remove kept containers and their writable layers");
    rm_cmd->add_option("container", *names, "Container names")->required();
    rm_cmd->callback([names, &global] {
        store::Store store(global.root);
        for (const auto& name : *names) {
            store::remove_container(store, name);
            std::cout << name << "\n";
        }
    });

    auto* ps_cmd = app.add_subcommand("ps", "List kept containers (strata run --name)");
    auto all = std::make_shared<bool>(false);  // kept containers are all stopped: -a lists the same
    ps_cmd->add_flag("-a,--all", *all, "All containers (accepted for docker's sake: kept ones are all stopped)");
    ps_cmd->callback([all, &global] {
        store::Store store(global.root);
        std::printf("%-24s %-14s %s\n", "NAME", "IMAGE ID", "CREATED");
        for (const auto& c : store::list_containers(store))
            std::printf("%-24s %-14s %s\n", c.name.c_str(), c.image.digest.substr(7, 12).c_str(), c.created.c_str());
    });
}

} // namespace strata::cli
