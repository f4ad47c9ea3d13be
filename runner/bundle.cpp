#include "runner/bundle.hpp"

#include "sandbox/network_files.hpp"
#include "sandbox/privileges.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <sys/utsname.h>

namespace strata::runner {

namespace {

using json = nlohmann::json;

json capability_list(sandbox::CapabilityMask mask, int last_cap) {
    json names = json::array();
    for (int n = 0; n <= last_cap; ++n)
        if (mask & sandbox::capability_bit(n)) names.push_back(sandbox::capability_name(n));
    return names;
}

json capabilities(const sandbox::Spec& spec) {
    const int last = sandbox::last_capability();
    const auto mask = spec.privileged ? sandbox::all_capabilities(last)
                                      : sandbox::resolve_capabilities(spec.cap_add, spec.cap_drop, last);
    // A non-root command holds none, as the sandbox leaves it; the bounding set is the same.
    const json held = spec.uid == 0 ? capability_list(mask, last) : json::array();
    return {{"bounding", capability_list(mask, last)}, {"effective", held}, {"permitted", held}};
}

json mount_entry(const sandbox::Mount& mount) {
    if (mount.kind == sandbox::Mount::Kind::tmpfs) {
        char mode[16];
        std::snprintf(mode, sizeof mode, "mode=%o", mount.mode & 07777);
        json options = {"nosuid", "nodev", mode};
        if (mount.size_bytes) options.push_back("size=" + std::to_string(*mount.size_bytes));
        return {{"destination", mount.target}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", options}};
    }
    return {{"destination", mount.target},
            {"type", "bind"},
            {"source", mount.source.string()},
            {"options", {"rbind", mount.read_only ? "ro" : "rw", "nosuid", "nodev"}}};
}

// The kernel interfaces the sandbox mounts (sandbox/mounts.cpp), in runc's words.
// A fresh sysfs belongs to the network namespace's owner: a user-namespaced container on
// the host's network gets a read-only bind of the host's (as the sandbox falls back to).
json sys_mount(const sandbox::Spec& spec) {
    if (spec.userns && spec.host_network)
        return {{"destination", "/sys"}, {"type", "bind"}, {"source", "/sys"}, {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
    return {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"nosuid", "noexec", "nodev", "ro"}}};
}

json standard_mounts(const sandbox::Spec& spec) {
    return json::array({
        {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
         {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        sys_mount(spec),
    });
}

std::string seccomp_op(sandbox::SeccompArg::Op op) {
    switch (op) {
    case sandbox::SeccompArg::Op::eq: return "SCMP_CMP_EQ";
    case sandbox::SeccompArg::Op::gt: return "SCMP_CMP_GT";
    case sandbox::SeccompArg::Op::masked_eq: return "SCMP_CMP_MASKED_EQ";
    }
    return "SCMP_CMP_EQ";
}

json seccomp(const sandbox::Spec& spec) {
    const int last = sandbox::last_capability();
    json syscalls = json::array();
    for (const auto& rule : sandbox::seccomp_rules(sandbox::resolve_capabilities(spec.cap_add, spec.cap_drop, last))) {
        json args = json::array();
        for (const auto& arg : rule.args)
            args.push_back({{"index", arg.index}, {"value", arg.value}, {"valueTwo", arg.value_two}, {"op", seccomp_op(arg.op)}});
        json entry = {{"names", {rule.syscall}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", rule.error}};
        if (!args.empty()) entry["args"] = args;
        syscalls.push_back(entry);
    }
    struct utsname host {};
    ::uname(&host);
    json architectures = json::array();
    if (std::string(host.machine) == "x86_64") architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
    return {{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", architectures}, {"syscalls", syscalls}};
}

json resources(const sandbox::Limits& limits) {
    json out = json::object();
    if (limits.memory_bytes) {
        out["memory"]["limit"] = *limits.memory_bytes;
        // runc's swap is memory+swap, as docker's --memory-swap; strata's default is no swap.
        out["memory"]["swap"] = limits.memory_swap_bytes.value_or(*limits.memory_bytes);
    }
    if (limits.pids) out["pids"]["limit"] = *limits.pids;
    if (limits.cpu_quota_us) out["cpu"] = {{"quota", *limits.cpu_quota_us}, {"period", sandbox::Limits::cpu_period_us}};
    return out;
}

} // namespace

json runtime_config(const sandbox::Spec& spec) {
    json mounts = standard_mounts(spec);
    for (const auto& mount : spec.mounts) mounts.push_back(mount_entry(mount));
    json namespaces = json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}},
                                   {{"type", "cgroup"}}});
    if (!spec.host_network) namespaces.push_back({{"type", "network"}});
    json linux_section = {{"namespaces", namespaces}, {"resources", resources(spec.limits)}};
    if (spec.userns) {
        linux_section["namespaces"].push_back({{"type", "user"}});
        linux_section["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", spec.userns->host_uid}, {"size", spec.userns->size}}});
        linux_section["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", spec.userns->host_gid}, {"size", spec.userns->size}}});
    }
    if (!spec.privileged) {
        linux_section["maskedPaths"] = sandbox::masked_paths;
        linux_section["readonlyPaths"] = sandbox::read_only_paths;
        linux_section["seccomp"] = seccomp(spec);
    }
    return {
        {"ociVersion", "1.0.2"},
        {"process",
         {{"terminal", false},
          {"user", {{"uid", spec.uid}, {"gid", spec.gid}, {"additionalGids", spec.groups}}},
          {"args", spec.argv},
          {"env", spec.env},
          {"cwd", spec.cwd},
          {"capabilities", capabilities(spec)},
          {"noNewPrivileges", !spec.privileged}}},
        {"root", {{"path", "rootfs"}, {"readonly", spec.read_only_root}}},
        {"hostname", spec.hostname},
        {"mounts", mounts},
        {"linux", linux_section},
    };
}

void write_bundle(store::Store& store, const RunOptions& options, const fs::path& dir) {
    if (fs::exists(dir) && !fs::is_empty(dir)) throw Error("bundle directory '" + dir.string() + "' is not empty");
    sandbox::Spec spec = container_spec(store, options);
    const fs::path rootfs = dir / "rootfs";
    make_dirs(rootfs);
    {
        // An empty bottom layer makes it an overlay even for a one-layer image, so that the
        // layers' whiteouts and opaque markers are applied, not copied.
        TempDir scratch(store.tmp_dir(), "bundle-");
        const fs::path empty = scratch.path() / "empty", merged = scratch.path() / "merged";
        make_dirs(empty);
        make_dirs(merged);
        auto lowers = spec.lower_dirs;
        lowers.push_back(empty);
        // With a user namespace the copy takes the host ids its files have in the container.
        const sandbox::ReadOnlyView view(lowers, merged, spec.userns);
        copy_tree(view.path(), rootfs);
        struct stat st {};
        if (::lstat(view.path().c_str(), &st) != 0) throw_errno("lstat", view.path().string());
        copy_attributes(view.path(), rootfs, st);
    }
    const fs::path anonymous_volumes = dir / "volumes";
    make_dirs(anonymous_volumes);
    for (const auto& request : options.mounts)
        spec.mounts.push_back(resolve_mount(request, store, anonymous_volumes, rootfs, spec.userns));
    if (spec.network_files) {
        auto identity = sandbox::network_identity_mounts(spec, fs::absolute(dir) / "etc");
        for (const auto& file : identity)
            if (spec.userns && ::chown(file.source.c_str(), spec.userns->host_uid, spec.userns->host_gid) != 0)
                throw_errno("chown", file.source.string());
        spec.mounts.insert(spec.mounts.begin(), identity.begin(), identity.end());
    }
    write_file_atomic(dir / "config.json", runtime_config(spec).dump(2) + "\n", 0644);
}

} // namespace strata::runner
