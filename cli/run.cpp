#include "cli/commands.hpp"
#include "store/gc.hpp"
#include "runner/runner.hpp"
#include "util/error.hpp"

#include <iostream>

namespace strata::cli {

namespace {

// docker reports its own failures (bad flags, missing image) with exit status 125.
constexpr int strata_failure_exit = 125;

struct RunFlags {
    bool rm = true;
    std::vector<std::string> env;
    std::string entrypoint;
    bool entrypoint_set = false;
    std::string workdir;
    std::string user;
    std::string hostname;
    std::string memory;
    long long pids_limit = 0;
    std::vector<std::string> cap_add;
    std::vector<std::string> cap_drop;
    bool privileged = false;
};

void run_container(CLI::App& cmd, const RunFlags& flags, GlobalOptions& global) {
    global.exit_code = strata_failure_exit;  // until the container itself has run
    const auto rest = cmd.remaining();
    if (rest.empty()) throw Error("run: an image name is required (strata run [OPTIONS] IMAGE [COMMAND] [ARG...])");
    runner::RunOptions options;
    options.image = rest.front();
    options.command.assign(rest.begin() + 1, rest.end());
    if (flags.entrypoint_set) options.entrypoint = flags.entrypoint;
    options.env = flags.env;
    options.workdir = flags.workdir;
    options.user = flags.user;
    options.hostname = flags.hostname;
    if (!flags.memory.empty()) options.limits.memory_bytes = parse_size(flags.memory);
    if (flags.pids_limit > 0) options.limits.pids = flags.pids_limit;
    options.cap_add = flags.cap_add;
    options.cap_drop = flags.cap_drop;
    options.privileged = flags.privileged;

    store::Store store(global.root);
    // The container stands on the image's snapshots: no prune may remove them while it runs.
    const store::GcLock running(store, store::GcLock::Mode::use,
                                [] { std::cerr << "strata: waiting for a running prune to finish...\n"; });
    global.exit_code = runner::run(store, options, std::cerr);
}

} // namespace

void add_run_command(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<RunFlags>();
    auto* cmd = app.add_subcommand("run", "Run a command in a new container from an image");
    // Everything from the image name on belongs to the container, as with docker.
    cmd->prefix_command();
    cmd->add_flag("--rm", flags->rm, "Remove the container when it exits (the default)");
    cmd->add_option("-e,--env", flags->env, "Set an environment variable (KEY=VALUE, or KEY to copy the host's)")
        ->allow_extra_args(false);
    cmd->add_option("--entrypoint", flags->entrypoint, "Override the image's ENTRYPOINT")
        ->each([flags](const std::string&) { flags->entrypoint_set = true; });
    cmd->add_option("-w,--workdir", flags->workdir, "Working directory inside the container");
    cmd->add_option("-u,--user", flags->user, "User (name|uid[:group|gid])");
    cmd->add_option("--hostname", flags->hostname, "Container host name");
    cmd->add_option("-m,--memory", flags->memory, "Memory limit (e.g. 512m)");
    cmd->add_option("--pids-limit", flags->pids_limit, "Process limit");
    cmd->add_option("--cap-add", flags->cap_add, "Add a Linux capability (e.g. NET_ADMIN, or ALL)")->allow_extra_args(false);
    cmd->add_option("--cap-drop", flags->cap_drop, "Drop a Linux capability (e.g. NET_RAW, or ALL)")->allow_extra_args(false);
    cmd->add_flag("--privileged", flags->privileged,
                  "UNSAFE: all capabilities, no seccomp filter, no masked /proc paths");
    cmd->callback([cmd, flags, &global] { run_container(*cmd, *flags, global); });
}

} // namespace strata::cli
