#include "cli/container_flags.hpp"

#include "sandbox/userns.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <cstdint>

namespace strata::cli {

namespace {

// --cpus 1.5 -> 150000 us of CPU time per 100000 us period.
std::int64_t cpu_quota(const std::string& text) {
    std::size_t used = 0;
    double cpus = 0;
    try {
        cpus = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || !(cpus > 0)) throw Error("--cpus '" + text + "': expected a positive number (e.g. 0.5)");
    return static_cast<std::int64_t>(cpus * sandbox::Limits::cpu_period_us + 0.5);
}

// Mount flags in the order given, -v before --mount before --tmpfs as docker merges them
// (a later target over an earlier one still lands inside it).
std::vector<runner::MountRequest> mount_requests(const ContainerFlags& flags) {
    std::vector<runner::MountRequest> requests;
    for (const auto& v : flags.volumes) requests.push_back(runner::parse_volume_flag(v));
    for (const auto& m : flags.mounts) requests.push_back(runner::parse_mount_flag(m));
    for (const auto& t : flags.tmpfs) requests.push_back(runner::parse_tmpfs_flag(t));
    return requests;
}

std::string file_or_empty(const char* path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec) ? read_file(path) : std::string();
}

// --userns=auto takes the range /etc/subuid and /etc/subgid grant to user "strata" (or
// "containers", which podman reads), as docker's userns-remap takes "dockremap"'s.
sandbox::IdMapping automatic_mapping() {
    const auto mapping = sandbox::subordinate_mapping(file_or_empty("/etc/subuid"), file_or_empty("/etc/subgid"),
                                                      {"strata", "containers"}, 65536);
    if (!mapping)
        throw Error("--userns=auto: /etc/subuid and /etc/subgid grant no range to user 'strata' or 'containers' "
                    "(add a line like 'strata:1000000:65536' to both, or give --uidmap 0:1000000:65536)");
    return *mapping;
}

std::optional<sandbox::IdMapping> user_namespace(const ContainerFlags& flags) {
    if (!flags.uidmap.empty() || !flags.gidmap.empty()) {
        if (flags.userns != "host") throw Error("--uidmap/--gidmap cannot be combined with --userns=" + flags.userns);
        if (flags.uidmap.empty()) throw Error("--gidmap needs --uidmap");
        const auto uids = sandbox::parse_id_map("--uidmap", flags.uidmap);
        const auto gids = flags.gidmap.empty() ? uids : sandbox::parse_id_map("--gidmap", flags.gidmap);
        if (gids.size != uids.size) throw Error("--uidmap and --gidmap must map ranges of the same size");
        return sandbox::IdMapping{uids.host, gids.host, uids.size};
    }
    if (flags.userns == "host" || flags.userns.empty()) return std::nullopt;
    if (flags.userns == "auto") return automatic_mapping();
    throw Error("--userns '" + flags.userns + "': expected host or auto (or give --uidmap)");
}

} // namespace

void add_container_flags(CLI::App& cmd, const std::shared_ptr<ContainerFlags>& flags) {
    cmd.add_option("-e,--env", flags->env, "Set an environment variable (KEY=VALUE, or KEY to copy the host's)")
        ->allow_extra_args(false);
    cmd.add_option("--env-file", flags->env_files, "Read environment variables from a file (KEY=VALUE lines)")->allow_extra_args(false);
    cmd.add_option("--entrypoint", flags->entrypoint, "Override the image's ENTRYPOINT")
        ->each([flags](const std::string&) { flags->entrypoint_set = true; });
    cmd.add_option("-w,--workdir", flags->workdir, "Working directory inside the container");
    cmd.add_option("-u,--user", flags->user, "User (name|uid[:group|gid])");
    cmd.add_option("--hostname", flags->hostname, "Container host name");
    cmd.add_option("-v,--volume", flags->volumes, "Bind a host path or a named volume: SRC:DST[:ro]; DST alone: an anonymous volume")
        ->allow_extra_args(false);
    cmd.add_option("--mount", flags->mounts, "Mount: type=bind|volume|tmpfs,source=..,target=..[,readonly]")->allow_extra_args(false);
    cmd.add_option("--tmpfs", flags->tmpfs, "Mount a tmpfs: DST[:size=64m,mode=1777]")->allow_extra_args(false);
    cmd.add_flag("--read-only", flags->read_only, "Mount the container's root filesystem read-only");
    cmd.add_option("--network,--net", flags->network, "Network: host (the default) or none (only loopback)")->capture_default_str();
    cmd.add_option("-m,--memory", flags->memory, "Memory limit (e.g. 512m)");
    cmd.add_option("--memory-swap", flags->memory_swap, "Memory plus swap limit (needs -m; -1: unlimited swap; default: no swap)");
    cmd.add_option("--cpus", flags->cpus, "CPU limit, in CPUs (e.g. 0.5)");
    cmd.add_option("--pids-limit", flags->pids_limit, "Process limit");
    cmd.add_option("--cap-add", flags->cap_add, "Add a Linux capability (e.g. NET_ADMIN, or ALL)")->allow_extra_args(false);
    cmd.add_option("--cap-drop", flags->cap_drop, "Drop a Linux capability (e.g. NET_RAW, or ALL)")->allow_extra_args(false);
    cmd.add_flag("--privileged", flags->privileged, "UNSAFE: all capabilities, no seccomp filter, no masked /proc paths");
    cmd.add_option("--userns", flags->userns,
                   "User namespace: host (the default: container root is host root) or auto (the range "
                   "/etc/subuid and /etc/subgid grant to user strata)")
        ->capture_default_str();
    cmd.add_option("--uidmap", flags->uidmap, "Run in a user namespace mapping container uids 0:HOST:SIZE (e.g. 0:100000:65536)");
    cmd.add_option("--gidmap", flags->gidmap, "The gid range for --uidmap: 0:HOST:SIZE (default: the same as the uids)");
}

runner::RunOptions container_options(const ContainerFlags& flags) {
    runner::RunOptions options;
    if (flags.entrypoint_set) options.entrypoint = flags.entrypoint;
    // --env-file first, -e after: a -e wins over the file for the same name, as docker does.
    for (const auto& file : flags.env_files)
        for (auto& entry : runner::read_env_file(file)) options.env.push_back(std::move(entry));
    options.env.insert(options.env.end(), flags.env.begin(), flags.env.end());
    options.workdir = flags.workdir;
    options.user = flags.user;
    options.hostname = flags.hostname;
    if (!flags.memory.empty()) options.limits.memory_bytes = parse_size(flags.memory);
    if (flags.pids_limit > 0) options.limits.pids = flags.pids_limit;
    if (!flags.memory_swap.empty())
        options.limits.memory_swap_bytes = flags.memory_swap == "-1" ? -1 : parse_size(flags.memory_swap);
    if (!flags.cpus.empty()) options.limits.cpu_quota_us = cpu_quota(flags.cpus);
    options.mounts = mount_requests(flags);
    options.read_only = flags.read_only;
    options.network = flags.network;
    options.cap_add = flags.cap_add;
    options.cap_drop = flags.cap_drop;
    options.privileged = flags.privileged;
    options.userns = user_namespace(flags);
    return options;
}

} // namespace strata::cli
