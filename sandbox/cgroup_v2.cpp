// cgroup v2: one directory under the current process's cgroup (or <root>/strata, see
// parent_with_controllers), with memory.max, memory.swap.max, pids.max and cpu.max;
// controllers are enabled in the parent's cgroup.subtree_control when missing.
#include "sandbox/cgroup.hpp"

#include "util/error.hpp"

#include <array>

namespace strata::sandbox {
namespace {

namespace fs = std::filesystem;

bool word_listed(std::string_view list, std::string_view word) {
    std::size_t pos = 0;
    while (pos < list.size()) {
        while (pos < list.size() && (list[pos] == ' ' || list[pos] == '\n')) ++pos;
        const auto end = list.find_first_of(" \n", pos);
        if (list.substr(pos, end - pos) == word) return true;
        if (end == std::string_view::npos) break;
        pos = end;
    }
    return false;
}

// Makes `controller` available to the children of `parent`. Only a controller whose limit
// was requested is required; the others (memory also gives OOM reporting) are best effort.
void enable_controller(CgroupFs& cfs, const fs::path& parent, std::string_view controller, bool required) {
    if (!word_listed(cfs.read(parent / "cgroup.controllers"), controller)) {
        if (!required) return;
        throw Error("cgroup v2 controller '" + std::string(controller) + "' is not available in '" + parent.string() + "'");
    }
    if (word_listed(cfs.read(parent / "cgroup.subtree_control"), controller)) return;
    try {
        cfs.write(parent / "cgroup.subtree_control", "+" + std::string(controller));
    } catch (Error& e) {
        if (!required) return;
        e.add_context("enabling the cgroup v2 controller '" + std::string(controller) + "'");
        throw;
    }
}

class CgroupV2 final : public RunCgroup {
public:
    CgroupV2(CgroupFs& cfs, fs::path dir) : fs_(cfs), dir_(std::move(dir)) {}
    ~CgroupV2() override {
        if (removed_) return;
        try {
            empty_and_remove_cgroup(fs_, dir_, true);
        } catch (...) {
            // A destructor cannot report; destroy() is the checked path.
        }
    }

    void apply(const Limits& limits) {
        if (limits.memory_bytes) {
            fs_.write(dir_ / "memory.max", std::to_string(*limits.memory_bytes));
            // v2 limits swap apart from memory: --memory-swap is the sum, as docker has it.
            // Without one, no swap: the limit must not just push the excess into swap.
            std::string swap = "0";
            if (limits.memory_swap_bytes)
                swap = *limits.memory_swap_bytes == -1 ? "max" : std::to_string(*limits.memory_swap_bytes - *limits.memory_bytes);
            if (fs_.exists(dir_ / "memory.swap.max")) fs_.write(dir_ / "memory.swap.max", swap);
            else if (swap != "0" && swap != "max") throw Error("--memory-swap needs the kernel's swap accounting (no memory.swap.max)");
        }
        if (limits.pids) fs_.write(dir_ / "pids.max", std::to_string(*limits.pids));
        if (limits.cpu_quota_us)
            fs_.write(dir_ / "cpu.max", std::to_string(*limits.cpu_quota_us) + " " + std::to_string(Limits::cpu_period_us));
    }

    void add_process(pid_t pid) override { fs_.write(dir_ / "cgroup.procs", std::to_string(pid)); }

    bool oom_killed() override {
        const auto events = dir_ / "memory.events";
        if (!fs_.exists(events)) return false;  // memory controller not enabled: nothing to report
        return flat_keyed_value(fs_.read(events), "oom_kill").value_or(0) > 0;
    }

    void destroy() override {
        empty_and_remove_cgroup(fs_, dir_, true);
        removed_ = true;
    }

private:
    CgroupFs& fs_;
    fs::path dir_;
    bool removed_ = false;
};

} // namespace

namespace {

void enable_controllers(CgroupFs& cfs, const fs::path& parent, const Limits& limits) {
    enable_controller(cfs, parent, "memory", limits.memory_bytes.has_value());
    enable_controller(cfs, parent, "pids", limits.pids.has_value());
    // cpu only when asked: enabling it has a cost for every process below (and fails while
    // realtime tasks run there), and it reports nothing we need otherwise.
    if (limits.cpu_quota_us) enable_controller(cfs, parent, "cpu", true);
}

// Where the run's cgroup goes: below strata's own cgroup, with the controllers its limits
// need. The kernel's no-internal-process rule refuses those to a cgroup that holds
// processes, as strata's own does when it runs in a login session's scope; then, as
// docker's cgroupfs driver does, in <root>/strata, a cgroup of our own under the
// hierarchy's root (which the rule exempts). Throws the first failure if both fail.
fs::path parent_with_controllers(CgroupFs& cfs, const CgroupLocation& where, const Limits& limits) {
    const auto own = where.mount_root / fs::path(cgroup_v2_path(where.proc_self_cgroup)).relative_path();
    try {
        enable_controllers(cfs, own, limits);
        return own;
    } catch (const Error& own_failure) {
        const auto shared = where.mount_root / "strata";
        if (own == where.mount_root || own == shared) throw;
        try {
            enable_controllers(cfs, where.mount_root, limits);
            if (!cfs.exists(shared)) {
                try {
                    cfs.make_dir(shared);
                } catch (const Error&) {
                    if (!cfs.exists(shared)) throw;  // not another strata making it at the same time
                }
            }
            enable_controllers(cfs, shared, limits);
            return shared;
        } catch (const Error&) {
            throw own_failure;
        }
    }
}

} // namespace

std::unique_ptr<RunCgroup> create_cgroup_v2(CgroupFs& cfs, const CgroupLocation& where, const Limits& limits) {
    validate_limits(limits);
    const auto parent = parent_with_controllers(cfs, where, limits);
    remove_abandoned_cgroups(cfs, parent);
    const auto dir = parent / where.name;
    cfs.make_dir(dir);
    auto cgroup = std::make_unique<CgroupV2>(cfs, dir);  // owns dir from here on
    cgroup->apply(limits);
    return cgroup;
}

} // namespace strata::sandbox
