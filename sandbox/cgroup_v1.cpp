// cgroup v1: one directory per controller hierarchy (memory, pids, cpu), each under the
// current process's cgroup in that hierarchy, with memory.limit_in_bytes, pids.max and
// cpu.cfs_quota_us.
#include "sandbox/cgroup.hpp"

#include "util/error.hpp"

#include <vector>

namespace strata::sandbox {
namespace {

namespace fs = std::filesystem;

class CgroupV1 final : public RunCgroup {
public:
    explicit CgroupV1(CgroupFs& cfs) : fs_(cfs) {}
    ~CgroupV1() override {
        for (const auto& dir : dirs_) {
            try {
                empty_and_remove_cgroup(fs_, dir.path, false);
            } catch (...) {
                // A destructor cannot report; destroy() is the checked path.
            }
        }
    }

    // Creates the cgroup in one hierarchy; it is owned (and removed) from then on.
    void create(const std::string& controller, const fs::path& dir) {
        fs_.make_dir(dir);
        dirs_.push_back({controller, dir});
    }

    void apply(const Limits& limits) {
        if (const auto* memory = find("memory"); memory && limits.memory_bytes) {
            fs_.write(*memory / "memory.limit_in_bytes", std::to_string(*limits.memory_bytes));
            // Without swap accounting (swapaccount=0) there is no memsw file and swap is not
            // limited: the kernel offers nothing more.
            if (fs_.exists(*memory / "memory.memsw.limit_in_bytes")) {
                // memory+swap equal to memory unless asked: the limit must not just push the
                // excess into swap.
                const auto total = limits.memory_swap_bytes.value_or(*limits.memory_bytes);
                fs_.write(*memory / "memory.memsw.limit_in_bytes", std::to_string(total));
            } else if (limits.memory_swap_bytes && *limits.memory_swap_bytes != -1) {
                throw Error("--memory-swap needs swap accounting, which this kernel has off (memory.memsw.* missing)");
            }
        }
        if (const auto* pids = find("pids"); pids && limits.pids) fs_.write(*pids / "pids.max", std::to_string(*limits.pids));
        if (const auto* cpu = find("cpu"); cpu && limits.cpu_quota_us) {
            fs_.write(*cpu / "cpu.cfs_period_us", std::to_string(Limits::cpu_period_us));
            fs_.write(*cpu / "cpu.cfs_quota_us", std::to_string(*limits.cpu_quota_us));
        }
    }

    void add_process(pid_t pid) override {
        for (const auto& dir : dirs_) fs_.write(dir.path / "cgroup.procs", std::to_string(pid));
    }

    bool oom_killed() override {
        const auto* memory = find("memory");
        if (!memory) return false;
        // oom_kill in memory.oom_control exists since Linux 4.13; before that, a hit of the
        // limit (failcnt) is the best evidence there is.
        if (const auto kills = flat_keyed_value(fs_.read(*memory / "memory.oom_control"), "oom_kill")) return *kills > 0;
        return flat_keyed_value("failcnt " + fs_.read(*memory / "memory.failcnt"), "failcnt").value_or(0) > 0;
    }

    void destroy() override {
        while (!dirs_.empty()) {
            empty_and_remove_cgroup(fs_, dirs_.back().path, false);
            dirs_.pop_back();
        }
    }

private:
    struct Dir {
        std::string controller;
        fs::path path;
    };

    const fs::path* find(std::string_view controller) const {
        for (const auto& dir : dirs_) {
            if (dir.controller == controller) return &dir.path;
        }
        return nullptr;
    }

    CgroupFs& fs_;
    std::vector<Dir> dirs_;
};

// The directory of the current process's cgroup in the hierarchy holding `controller`.
// A co-mounted hierarchy is usually mounted under its joined name ("cpu,cpuacct").
std::optional<fs::path> parent_dir(CgroupFs& cfs, const CgroupLocation& where, const std::string& controller) {
    const auto membership = cgroup_v1_membership(where.proc_self_cgroup, controller);
    if (!membership) return std::nullopt;
    for (const auto& mount : {membership->hierarchy, controller}) {
        const auto root = where.mount_root / mount;
        if (cfs.exists(root / "cgroup.procs")) return root / fs::path(membership->path).relative_path();
    }
    return std::nullopt;
}

} // namespace

std::unique_ptr<RunCgroup> create_cgroup_v1(CgroupFs& cfs, const CgroupLocation& where, const Limits& limits) {
    validate_limits(limits);
    auto cgroup = std::make_unique<CgroupV1>(cfs);
    const std::pair<std::string, bool> controllers[] = {{"memory", limits.memory_bytes.has_value()},
                                                        {"pids", limits.pids.has_value()},
                                                        {"cpu", limits.cpu_quota_us.has_value()}};
    for (const auto& [controller, required] : controllers) {
        const auto parent = parent_dir(cfs, where, controller);
        if (!parent) {
            if (required) throw Error("cgroup v1 hierarchy for '" + controller + "' not found under '" + where.mount_root.string() + "'");
            continue;
        }
        remove_abandoned_cgroups(cfs, *parent);
        cgroup->create(controller, *parent / where.name);
    }
    cgroup->apply(limits);
    return cgroup;
}

} // namespace strata::sandbox
