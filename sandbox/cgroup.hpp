#pragma once
// Per-run cgroups behind a small interface, one implementation per cgroup version (as crun's
// cgroup-*.c). A run gets its own cgroup under the cgroup the current process is in; the
// object owns it: its destructor kills whatever is left inside and removes the directories.
#include "sandbox/sandbox.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace strata::sandbox {

// The file operations the managers need. The real implementation makes plain syscalls;
// tests derive from it to simulate cgroupfs over a temporary directory (control files
// appear on mkdir and vanish on rmdir, as the kernel does), so the managers' own I/O is real.
class CgroupFs {
public:
    virtual ~CgroupFs() = default;
    virtual void make_dir(const std::filesystem::path& dir);
    virtual void remove_dir(const std::filesystem::path& dir);
    virtual std::string read(const std::filesystem::path& file);
    // One write(2) of the whole value to an existing file: cgroupfs parses each write alone.
    virtual void write(const std::filesystem::path& file, std::string_view value);
    virtual bool exists(const std::filesystem::path& path);
};

class RunCgroup {
public:
    virtual ~RunCgroup() = default;
    virtual void add_process(pid_t pid) = 0;
    // True when the kernel's OOM killer killed a process in this cgroup.
    virtual bool oom_killed() = 0;
    // Kills every process still inside and removes the directories; throws on failure.
    // The destructor does the same, best effort, when destroy() was not called.
    virtual void destroy() = 0;
};

// Where a run's cgroup goes: `name` under the current process's cgroup, as /proc/self/cgroup
// gives it, inside the hierarchy mounted at `mount_root` (v2: under <mount_root>/strata
// when the kernel refuses controllers to a cgroup that holds processes).
struct CgroupLocation {
    std::filesystem::path mount_root = "/sys/fs/cgroup";
    std::string proc_self_cgroup;  // the contents of /proc/self/cgroup
    std::string name;
};

// `fs` must outlive the returned object.
std::unique_ptr<RunCgroup> create_cgroup_v2(CgroupFs& fs, const CgroupLocation& where, const Limits& limits);
std::unique_ptr<RunCgroup> create_cgroup_v1(CgroupFs& fs, const CgroupLocation& where, const Limits& limits);

// The cgroup for one run on this machine, by cgroup_version(). nullptr when no hierarchy
// is usable and no limits were requested (a run without limits needs no cgroup).
std::unique_ptr<RunCgroup> create_run_cgroup(const Limits& limits);

// Removes the run cgroups under `parent` that a strata process killed before it could clean
// up left behind: entries named strata-<pid>-... whose pid no longer exists. Returns how many.
std::size_t remove_abandoned_cgroups(CgroupFs& fs, const std::filesystem::path& parent);

// Parsing helpers, shared by the managers and exposed for tests.
// "0::/a/b" -> "/a/b"; throws when /proc/self/cgroup has no unified line.
std::string cgroup_v2_path(std::string_view proc_self_cgroup);
struct V1Membership {
    std::string hierarchy;  // the comma-joined controller list naming the mount ("cpu,cpuacct")
    std::string path;       // "/process_api/x"
};
std::optional<V1Membership> cgroup_v1_membership(std::string_view proc_self_cgroup, std::string_view controller);
// The value of `key` in a flat-keyed file ("oom_kill 3\n" -> 3); nullopt when absent.
std::optional<std::int64_t> flat_keyed_value(std::string_view contents, std::string_view key);
// Throws for a non-positive limit.
void validate_limits(const Limits& limits);
// Kills every process listed in dir/cgroup.procs until it reads empty, then removes dir.
// With `use_kill_file`, a single write to cgroup.kill (v2, Linux 5.14+) does the killing.
void empty_and_remove_cgroup(CgroupFs& fs, const std::filesystem::path& dir, bool use_kill_file);

} // namespace strata::sandbox
