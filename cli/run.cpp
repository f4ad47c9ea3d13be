#include "cli/container_flags.hpp"
#include "store/gc.hpp"
#include "runner/runner.hpp"
#include "util/error.hpp"

#include <chrono>
#include <iostream>

namespace strata::cli {

namespace {

// docker reports its own failures (bad flags, missing image) with exit status 125.
constexpr int strata_failure_exit = 125;

struct RunFlags {
    bool rm = true;
    bool interactive = false;
    bool tty = false;
    double timeout_seconds = 0;
    std::string name;
};

void run_container(CLI::App& cmd, const ContainerFlags& container, const RunFlags& flags, GlobalOptions& global) {
    global.exit_code = strata_failure_exit;  // until the container itself has run
    const auto rest = cmd.remaining();
    if (rest.empty()) throw Error("run: an image name is required (strata run [OPTIONS] IMAGE [COMMAND] [ARG...])");
    runner::RunOptions options = container_options(container);
    options.image = rest.front();
    options.command.assign(rest.begin() + 1, rest.end());
    options.interactive = flags.interactive;
    options.tty = flags.tty;
    options.name = flags.name;
    options.remove = cmd.count("--rm") > 0;
    if (flags.timeout_seconds < 0) throw Error("--timeout must not be negative");
    if (flags.timeout_seconds > 0)
        options.timeout = std::chrono::milliseconds(static_cast<long long>(flags.timeout_seconds * 1000 + 0.5));

    store::Store store(global.root);
    // The container stands on the image's snapshots: no prune may remove them while it runs.
    const store::GcLock running = hold_store_for_use(store);
    global.exit_code = runner::run(store, options, std::cerr);
}

} // namespace

void add_run_command(CLI::App& app, GlobalOptions& global) {
    auto container = std::make_shared<ContainerFlags>();
    auto flags = std::make_shared<RunFlags>();
    auto* cmd = app.add_subcommand("run", "Run a command in a new container from an image");
    // Everything from the image name on belongs to the container, as with docker.
    cmd->prefix_command();
    cmd->add_flag("--rm", flags->rm, "Remove the container when it exits (the default without --name)");
    cmd->add_option("--name", flags->name, "Keep the container under this name after it exits (strata commit, strata rm)");
    cmd->add_flag("-i,--interactive", flags->interactive, "Keep stdin open (without it the container reads /dev/null)");
    cmd->add_flag("-t,--tty", flags->tty, "Give the command a pseudo-terminal (with -i, typed keys go to it raw)");
    cmd->add_option("--timeout", flags->timeout_seconds, "Kill the container after this many seconds (0: never)");
    add_container_flags(*cmd, container);
    cmd->callback([cmd, container, flags, &global] { run_container(*cmd, *container, *flags, global); });
}

} // namespace strata::cli
