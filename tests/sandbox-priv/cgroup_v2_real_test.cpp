// The cgroup v2 manager against the kernel's own v2 hierarchy (tests/sandbox/cgroup_test.cpp
// has the fake-tree tests): the run cgroup is made under this process's v2 cgroup, a real
// process joins it, and destroy() or the destructor kill it and remove the directory. On a
// hybrid machine the unified tree usually offers no memory/pids/cpu controller; a limit
// for one of them must then fail by name; where they are offered, the limit files are read
// back. A case that does not apply here (no cgroup2 mount, no controllers) WARNs and returns.
#include <catch2/catch.hpp>

#include "sandbox/cgroup.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <csignal>
#include <fstream>
#include <linux/magic.h>
#include <sstream>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cgroup_v2_real_test {  // this file's own names: a folder's tests compile as unity batches

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::sandbox;

namespace {

// Where the kernel's cgroup2 hierarchy is mounted: /sys/fs/cgroup on a pure v2 machine,
// /sys/fs/cgroup/unified on a hybrid one; nullopt when there is none.
std::optional<fs::path> cgroup2_mount() {
    for (const char* candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        struct statfs st {};
        if (::statfs(candidate, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC) return fs::path(candidate);
    }
    // Anywhere else, as /proc/self/mounts lists it ("cgroup2 /path cgroup2 rw 0 0").
    std::ifstream mounts("/proc/self/mounts");
    for (std::string line; std::getline(mounts, line);) {
        std::istringstream fields(line);
        std::string device, point, type;
        if (fields >> device >> point >> type && type == "cgroup2") return fs::path(point);
    }
    return std::nullopt;
}

bool listed(const std::string& list, const std::string& word) {
    std::istringstream words(list);
    for (std::string w; words >> w;)
        if (w == word) return true;
    return false;
}

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

// The unified ("0::") line of a /proc/PID/cgroup file, without the "0::".
std::string unified_path(const fs::path& proc_cgroup) { return cgroup_v2_path(read_file(proc_cgroup)); }

// A name no other test or run uses. It has strata's run-cgroup shape (strata-<pid>-...), so
// that if this process dies before cleaning up, the next run sweeps it as abandoned.
std::string unique_name() {
    static int counter = 0;
    return "strata-" + std::to_string(::getpid()) + "-v2test-" + std::to_string(counter++);
}

// This process's place in the real v2 hierarchy, and a location for a new run cgroup.
struct RealV2 {
    CgroupFs cfs;  // the real one: plain syscalls
    fs::path mount;
    fs::path parent;  // this process's own v2 cgroup
    CgroupLocation where;

    explicit RealV2(fs::path mount_root) : mount(std::move(mount_root)) {
        where.mount_root = mount;
        where.proc_self_cgroup = read_file("/proc/self/cgroup");
        where.name = unique_name();
        parent = mount / fs::path(cgroup_v2_path(where.proc_self_cgroup)).relative_path();
    }
    fs::path dir() const { return parent / where.name; }
    std::string controllers() const { return read_file(parent / "cgroup.controllers"); }
    bool offers(const std::string& controller) const { return listed(controllers(), controller); }
    // The kernel's "no internal process" rule: a non-root cgroup that holds processes (this
    // one holds us) cannot enable domain controllers such as memory and pids for its
    // children (EBUSY), unless they were enabled before it was populated. The hierarchy's
    // root is exempt; it is the only cgroup without cgroup.events.
    bool cannot_delegate(const std::string& controller) const {
        if (!fs::exists(parent / "cgroup.events")) return false;
        return !listed(read_file(parent / "cgroup.subtree_control"), controller);
    }
};

// The hierarchy, or nullopt after a WARN saying why the case does nothing here.
std::optional<RealV2> real_v2_or_warn() {
    const auto mount = cgroup2_mount();
    if (!mount) {
        WARN("no cgroup2 hierarchy is mounted here: the real cgroup v2 path is not tested");
        return std::nullopt;
    }
    std::optional<RealV2> v2;
    v2.emplace(*mount);
    if (!fs::exists(v2->parent / "cgroup.procs")) {
        WARN("this process's v2 cgroup '" << v2->parent.string() << "' is not visible under " << mount->string());
        return std::nullopt;
    }
    return v2;
}

// A child that waits to be killed.
struct Sleeper {
    pid_t pid = ::fork();
    Sleeper() {
        if (pid == 0) {
            for (;;) ::pause();
        }
        REQUIRE(pid > 0);
    }
    int reap() {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        pid = -1;
        return status;
    }
    ~Sleeper() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
};

std::string procs_of(const fs::path& dir) { return read_file(dir / "cgroup.procs"); }

} // namespace

TEST_CASE("cgroup v2 (real): a run cgroup under our own holds a real process; destroy kills it and removes it",
          "[sandbox-priv][cgroup][cgroup-v2]") {
    auto v2 = real_v2_or_warn();
    if (!v2) return;
    const std::string own_before = unified_path("/proc/self/cgroup");

    auto cgroup = create_cgroup_v2(v2->cfs, v2->where, Limits{});
    const auto dir = v2->dir();
    REQUIRE(fs::is_directory(dir));
    struct statfs st {};
    REQUIRE(::statfs(dir.c_str(), &st) == 0);
    CHECK(st.f_type == CGROUP2_SUPER_MAGIC);  // a cgroup the kernel made, not a plain directory
    CHECK(procs_of(dir).empty());

    Sleeper sleeper;
    cgroup->add_process(sleeper.pid);
    CHECK(procs_of(dir) == std::to_string(sleeper.pid) + "\n");
    // As the kernel reports the child's membership: our own cgroup path plus the run's name.
    const std::string expected = (fs::path(own_before) / v2->where.name).string();
    CHECK(unified_path("/proc/" + std::to_string(sleeper.pid) + "/cgroup") == expected);
    CHECK(unified_path("/proc/self/cgroup") == own_before);  // only the child moved
    // No memory limit was asked for; OOM reporting reads memory.events only where it exists.
    CHECK_FALSE(cgroup->oom_killed());

    cgroup->destroy();
    CHECK_FALSE(fs::exists(dir));
    const int status = sleeper.reap();
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    cgroup.reset();  // the destructor after destroy() has nothing left to do
    CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("cgroup v2 (real): the destructor alone kills what is inside and removes the cgroup",
          "[sandbox-priv][cgroup][cgroup-v2]") {
    auto v2 = real_v2_or_warn();
    if (!v2) return;
    Sleeper first, second;
    {
        auto cgroup = create_cgroup_v2(v2->cfs, v2->where, Limits{});
        cgroup->add_process(first.pid);
        cgroup->add_process(second.pid);
        const auto procs = procs_of(v2->dir());
        CHECK(listed(procs, std::to_string(first.pid)));
        CHECK(listed(procs, std::to_string(second.pid)));
    }
    CHECK_FALSE(fs::exists(v2->dir()));
    for (Sleeper* s : {&first, &second}) {
        const int status = s->reap();
        CHECK(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGKILL);
    }
    CHECK(fs::is_directory(v2->parent));

    // An empty one goes as well.
    v2->where.name = unique_name();
    create_cgroup_v2(v2->cfs, v2->where, Limits{}).reset();
    CHECK_FALSE(fs::exists(v2->dir()));
}

TEST_CASE("cgroup v2 (real): a limit whose controller the hierarchy lacks fails by name and leaves nothing",
          "[sandbox-priv][cgroup][cgroup-v2]") {
    auto v2 = real_v2_or_warn();
    if (!v2) return;
    const auto controllers = trimmed(v2->controllers());
    Limits limits;
    std::string missing;
    if (!listed(controllers, "memory")) {
        missing = "memory";
        limits.memory_bytes = 64 << 20;
    } else if (!listed(controllers, "pids")) {
        missing = "pids";
        limits.pids = 10;
    } else if (!listed(controllers, "cpu")) {
        missing = "cpu";
        limits.cpu_quota_us = 50000;
    } else {
        WARN("the v2 hierarchy offers memory, pids and cpu (" << controllers << "): no missing controller to ask for");
        return;
    }
    INFO("cgroup.controllers of " << v2->parent.string() << ": " << controllers);
    CHECK_THROWS_WITH(create_cgroup_v2(v2->cfs, v2->where, limits),
                      Catch::Contains("cgroup v2 controller '" + missing + "' is not available") &&
                          Catch::Contains(v2->parent.string()));
    CHECK_FALSE(fs::exists(v2->dir()));
    // Without that limit the same location works (the controller is then best effort).
    create_cgroup_v2(v2->cfs, v2->where, Limits{}).reset();
    CHECK_FALSE(fs::exists(v2->dir()));
}

TEST_CASE("cgroup v2 (real): where memory and pids are offered, the limit files get the exact values",
          "[sandbox-priv][cgroup][cgroup-v2]") {
    auto v2 = real_v2_or_warn();
    if (!v2) return;
    if (!v2->offers("memory") || !v2->offers("pids")) {
        WARN("the v2 hierarchy offers only '" << trimmed(v2->controllers()) << "': memory and pids limits are not written for real");
        return;
    }
    if (v2->cannot_delegate("memory") || v2->cannot_delegate("pids")) {
        WARN("this process's v2 cgroup '" << v2->parent.string() << "' holds processes and is not the root, so the kernel "
             "refuses to enable memory/pids below it: the next case covers it");
        return;
    }
    Limits limits;
    limits.memory_bytes = 48 << 20;
    limits.pids = 9;
    const bool cpu = v2->offers("cpu");
    if (cpu) limits.cpu_quota_us = 50000;
    auto cgroup = create_cgroup_v2(v2->cfs, v2->where, limits);
    const auto dir = v2->dir();
    const auto subtree = read_file(v2->parent / "cgroup.subtree_control");
    CHECK(listed(subtree, "memory"));
    CHECK(listed(subtree, "pids"));
    CHECK(read_file(dir / "memory.max") == std::to_string(48 << 20) + "\n");
    if (fs::exists(dir / "memory.swap.max")) CHECK(read_file(dir / "memory.swap.max") == "0\n");
    CHECK(read_file(dir / "pids.max") == "9\n");
    if (cpu) CHECK(read_file(dir / "cpu.max") == "50000 100000\n");

    // The kernel counts what joins: the pids controller is live in the run cgroup.
    Sleeper sleeper;
    cgroup->add_process(sleeper.pid);
    CHECK(read_file(dir / "pids.current") == "1\n");
    CHECK_FALSE(cgroup->oom_killed());
    cgroup->destroy();
    CHECK_FALSE(fs::exists(dir));
    CHECK(WTERMSIG(sleeper.reap()) == SIGKILL);
}

// The kernel's "no internal process" rule (Documentation/admin-guide/cgroup-v2.rst) refuses
// "+memory"/"+pids" in the cgroup.subtree_control of a populated non-root cgroup, as
// strata's own is in a systemd session scope on a pure-v2 machine. create_cgroup_v2 then
// makes the run cgroup under <root>/strata, as docker's cgroupfs driver does (the fake-tree
// test in tests/sandbox/cgroup_test.cpp covers the same logic everywhere).
TEST_CASE("cgroup v2 (real): limits apply when this process's own cgroup is a populated non-root one",
          "[sandbox-priv][cgroup][cgroup-v2]") {
    auto v2 = real_v2_or_warn();
    if (!v2) return;
    if (!v2->offers("memory") || !v2->offers("pids") ||
        !(v2->cannot_delegate("memory") || v2->cannot_delegate("pids"))) {
        WARN("not this machine's case (memory and pids offered to a populated non-root cgroup that has not "
             "enabled them): '" << v2->parent.string() << "' offers '" << trimmed(v2->controllers()) << "'");
        return;
    }
    Limits limits;
    limits.memory_bytes = 48 << 20;
    limits.pids = 9;
    std::unique_ptr<RunCgroup> cgroup;
    REQUIRE_NOTHROW(cgroup = create_cgroup_v2(v2->cfs, v2->where, limits));
    const auto dir = v2->where.mount_root / "strata" / v2->where.name;
    CHECK(read_file(dir / "memory.max") == std::to_string(48 << 20) + "\n");
    CHECK(read_file(dir / "pids.max") == "9\n");
    cgroup->destroy();
    CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("cgroup v2 (real): a run cgroup a dead strata left behind is removed by the next one",
          "[sandbox-priv][cgroup][cgroup-v2]") {
    auto v2 = real_v2_or_warn();
    if (!v2) return;
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    REQUIRE(::waitpid(dead, nullptr, 0) == dead);
    const auto abandoned = v2->parent / ("strata-" + std::to_string(dead) + "-0-v2test");
    v2->cfs.make_dir(abandoned);  // a real cgroup, with the kernel's control files
    REQUIRE(fs::exists(abandoned / "cgroup.procs"));

    auto cgroup = create_cgroup_v2(v2->cfs, v2->where, Limits{});
    CHECK_FALSE(fs::exists(abandoned));
    CHECK(fs::is_directory(v2->dir()));
    cgroup->destroy();
    CHECK_FALSE(fs::exists(v2->dir()));
}

} // namespace cgroup_v2_real_test
