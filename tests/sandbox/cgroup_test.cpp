// The cgroup managers against a temporary directory that behaves like cgroupfs: the
// managers do real file I/O, and the fake adds only what the kernel would do.
#include <catch2/catch.hpp>

#include "sandbox/cgroup.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <csignal>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace cgroup_test {  // this file's own names: a folder's tests compile as unity batches

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::sandbox;

namespace {

void put(const fs::path& file, const std::string& text) { std::ofstream(file, std::ios::trunc) << text; }

std::string get(const fs::path& file) { return read_file(file); }

bool listed(const std::string& list, const std::string& word) {
    std::istringstream words(list);
    for (std::string w; words >> w;)
        if (w == word) return true;
    return false;
}

// A process is in a cgroup until it has exited: zombies are no longer listed.
bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto state = line.substr(line.rfind(')') + 2, 1);
    return state != "Z" && state != "X";
}

// Simulates cgroupfs over a temp dir. v2: mkdir creates the core files plus the files of
// the controllers enabled in the parent's cgroup.subtree_control. v1: the hierarchy
// (first path component under the root) decides the files.
class FakeCgroupFs : public CgroupFs {
public:
    FakeCgroupFs(fs::path root, bool v2) : root_(std::move(root)), v2_(v2) {}

    void make_dir(const fs::path& dir) override {
        CgroupFs::make_dir(dir);
        put(dir / "cgroup.procs", "");
        if (v2_) {
            const auto enabled = get(dir.parent_path() / "cgroup.subtree_control");
            put(dir / "cgroup.controllers", enabled);
            put(dir / "cgroup.subtree_control", "");
            put(dir / "cgroup.kill", "");
            if (listed(enabled, "memory")) {
                put(dir / "memory.max", "max\n");
                put(dir / "memory.swap.max", "max\n");
                put(dir / "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
            }
            if (listed(enabled, "pids")) put(dir / "pids.max", "max\n");
            if (listed(enabled, "cpu")) put(dir / "cpu.max", "max 100000\n");
        } else {
            const auto hierarchy = *dir.lexically_relative(root_).begin();
            if (hierarchy == "memory") {
                put(dir / "memory.limit_in_bytes", "9223372036854771712\n");
                put(dir / "memory.memsw.limit_in_bytes", "9223372036854771712\n");
                put(dir / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
                put(dir / "memory.failcnt", "0\n");
            }
            if (hierarchy == "pids") put(dir / "pids.max", "max\n");
            if (hierarchy == "cpu,cpuacct") {
                put(dir / "cpu.cfs_period_us", "100000\n");
                put(dir / "cpu.cfs_quota_us", "-1\n");
            }
        }
    }

    // The kernel refuses to remove a cgroup with processes or children.
    void remove_dir(const fs::path& dir) override {
        if (!read(dir / "cgroup.procs").empty())
            throw_error_code("rmdir", dir.string(), EBUSY);
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (entry.is_directory()) throw_error_code("rmdir", dir.string(), EBUSY);
        }
        for (const auto& entry : fs::directory_iterator(dir)) fs::remove(entry.path());
        CgroupFs::remove_dir(dir);
    }

    std::string read(const fs::path& file) override {
        auto text = CgroupFs::read(file);
        if (file.filename() != "cgroup.procs") return text;
        std::string live;
        std::istringstream pids(text);
        for (pid_t pid; pids >> pid;)
            if (alive(pid)) live += std::to_string(pid) + "\n";
        return live;
    }

    void write(const fs::path& file, std::string_view value) override {
        writes.emplace_back(file, std::string(value));
        const auto name = file.filename();
        if (name == "cgroup.procs") {
            put(file, CgroupFs::read(file) + std::string(value) + "\n");  // a move adds to the list
        } else if (name == "cgroup.kill") {
            std::istringstream pids(read(file.parent_path() / "cgroup.procs"));
            for (pid_t pid; pids >> pid;) ::kill(pid, SIGKILL);
        } else if (name == "cgroup.subtree_control") {
            REQUIRE(value.front() == '+');
            // The no-internal-process rule, from which only the root is exempt.
            if (v2_ && file.parent_path() != root_ && !read(file.parent_path() / "cgroup.procs").empty())
                throw_error_code("write", file.string(), EBUSY);
            put(file, CgroupFs::read(file) + " " + std::string(value.substr(1)));
        } else {
            put(file, "");  // control files replace their value; the base write needs it to exist
            CgroupFs::write(file, value);
        }
    }

    std::vector<std::pair<fs::path, std::string>> writes;

private:
    fs::path root_;
    bool v2_;
};

// A child that waits to be killed.
struct Sleeper {
    pid_t pid = ::fork();
    Sleeper() {
        if (pid == 0) {
            ::pause();
            ::_exit(0);
        }
    }
    int reap() {
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
        return status;
    }
    ~Sleeper() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            reap();
        }
    }
};

// A cgroup2 tree whose current cgroup is /a/b, with memory, pids and cpu available to it.
struct V2Tree {
    TempDir root{fs::temp_directory_path(), "cgroup2-"};
    FakeCgroupFs cfs{root.path(), true};
    fs::path parent = root.path() / "a/b";
    CgroupLocation where;

    V2Tree() {
        make_dirs(parent);
        put(parent / "cgroup.controllers", "cpu memory pids\n");
        put(parent / "cgroup.subtree_control", "");
        put(parent / "cgroup.procs", "");
        where.mount_root = root.path();
        where.proc_self_cgroup = "0::/a/b\n";
        where.name = "run-1";
    }
};

// A v1 tree: memory co-located at /process_api/x, pids at the root, cpu,cpuacct co-mounted.
struct V1Tree {
    TempDir root{fs::temp_directory_path(), "cgroup1-"};
    FakeCgroupFs cfs{root.path(), false};
    fs::path memory_parent = root.path() / "memory/process_api/x";
    fs::path pids_parent = root.path() / "pids";
    fs::path cpu_parent = root.path() / "cpu,cpuacct";
    CgroupLocation where;

    V1Tree() {
        make_dirs(memory_parent);
        make_dirs(pids_parent);
        make_dirs(cpu_parent);
        for (const auto& dir : {root.path() / "memory", memory_parent, pids_parent, cpu_parent}) put(dir / "cgroup.procs", "");
        where.mount_root = root.path();
        where.proc_self_cgroup = "8:pids:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/\n";
        where.name = "run-1";
    }
};

} // namespace

TEST_CASE("cgroup v2: controllers are enabled and limits written with exact values", "[cgroup]") {
    V2Tree tree;
    Limits limits;
    limits.memory_bytes = 32 << 20;
    limits.pids = 7;
    auto cgroup = create_cgroup_v2(tree.cfs, tree.where, limits);
    const auto dir = tree.parent / "run-1";
    CHECK(listed(get(tree.parent / "cgroup.subtree_control"), "memory"));
    CHECK(listed(get(tree.parent / "cgroup.subtree_control"), "pids"));
    CHECK_FALSE(listed(get(tree.parent / "cgroup.subtree_control"), "cpu"));
    CHECK(get(dir / "memory.max") == "33554432");
    CHECK(get(dir / "memory.swap.max") == "0");
    CHECK(get(dir / "pids.max") == "7");
}

TEST_CASE("cgroup v2: processes are added, OOM kills read, and destroy kills and removes", "[cgroup]") {
    V2Tree tree;
    Limits limits;
    limits.memory_bytes = 1 << 20;
    auto cgroup = create_cgroup_v2(tree.cfs, tree.where, limits);
    const auto dir = tree.parent / "run-1";
    Sleeper sleeper;
    cgroup->add_process(sleeper.pid);
    CHECK(get(dir / "cgroup.procs") == std::to_string(sleeper.pid) + "\n");

    CHECK_FALSE(cgroup->oom_killed());
    put(dir / "memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
    CHECK(cgroup->oom_killed());

    cgroup->destroy();
    CHECK_FALSE(fs::exists(dir));
    const int status = sleeper.reap();
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(tree.cfs.writes.back().first == dir / "cgroup.kill");
}

TEST_CASE("cgroup v2: the destructor removes the cgroup too", "[cgroup]") {
    V2Tree tree;
    create_cgroup_v2(tree.cfs, tree.where, {}).reset();
    CHECK_FALSE(fs::exists(tree.parent / "run-1"));
    CHECK(fs::exists(tree.parent));
}

TEST_CASE("cgroup v2: a requested controller that is unavailable is an error", "[cgroup]") {
    V2Tree tree;
    put(tree.parent / "cgroup.controllers", "cpu memory\n");
    Limits limits;
    limits.pids = 3;
    CHECK_THROWS_WITH(create_cgroup_v2(tree.cfs, tree.where, limits),
                      "cgroup v2 controller 'pids' is not available in '" + tree.parent.string() + "'");
    CHECK_FALSE(fs::exists(tree.parent / "run-1"));
    // Without a pids limit, the missing controller does not matter.
    auto cgroup = create_cgroup_v2(tree.cfs, tree.where, {});
    CHECK(fs::exists(tree.parent / "run-1"));
    CHECK_FALSE(cgroup->oom_killed());
}

TEST_CASE("cgroup v1: one directory per controller under the process's own cgroups", "[cgroup]") {
    V1Tree tree;
    Limits limits;
    limits.memory_bytes = 64 << 20;
    limits.pids = 12;
    auto cgroup = create_cgroup_v1(tree.cfs, tree.where, limits);
    const auto memory = tree.memory_parent / "run-1";
    const auto pids = tree.pids_parent / "run-1";
    CHECK(get(memory / "memory.limit_in_bytes") == "67108864");
    CHECK(get(memory / "memory.memsw.limit_in_bytes") == "67108864");
    CHECK(get(pids / "pids.max") == "12");

    Sleeper sleeper;
    cgroup->add_process(sleeper.pid);
    CHECK(get(memory / "cgroup.procs") == std::to_string(sleeper.pid) + "\n");
    CHECK(get(pids / "cgroup.procs") == std::to_string(sleeper.pid) + "\n");

    CHECK_FALSE(cgroup->oom_killed());
    put(memory / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    CHECK(cgroup->oom_killed());

    cgroup->destroy();
    CHECK_FALSE(fs::exists(memory));
    CHECK_FALSE(fs::exists(pids));
    const int status = sleeper.reap();
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("cgroup v1: without oom_kill in oom_control, failcnt is the evidence", "[cgroup]") {
    V1Tree tree;
    Limits limits;
    limits.memory_bytes = 1 << 20;
    auto cgroup = create_cgroup_v1(tree.cfs, tree.where, limits);
    const auto memory = tree.memory_parent / "run-1";
    put(memory / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
    CHECK_FALSE(cgroup->oom_killed());
    put(memory / "memory.failcnt", "3\n");
    CHECK(cgroup->oom_killed());
}

TEST_CASE("cgroup v1: a missing hierarchy matters only when its limit is requested", "[cgroup]") {
    V1Tree tree;
    remove_tree(tree.pids_parent);
    Limits limits;
    limits.pids = 5;
    CHECK_THROWS_WITH(create_cgroup_v1(tree.cfs, tree.where, limits),
                      "cgroup v1 hierarchy for 'pids' not found under '" + tree.root.path().string() + "'");
    CHECK_FALSE(fs::exists(tree.memory_parent / "run-1"));  // the memory cgroup made first is removed again

    limits.pids.reset();
    limits.memory_bytes = 1 << 20;
    {
        auto cgroup = create_cgroup_v1(tree.cfs, tree.where, limits);
        CHECK(fs::exists(tree.memory_parent / "run-1"));
    }
    CHECK_FALSE(fs::exists(tree.memory_parent / "run-1"));
}

TEST_CASE("cgroup v2: --cpus and --memory-swap become cpu.max and memory.swap.max", "[cgroup]") {
    V2Tree tree;
    Limits limits;
    limits.cpu_quota_us = 50000;
    limits.memory_bytes = 64 << 20;
    limits.memory_swap_bytes = 96 << 20;
    auto cgroup = create_cgroup_v2(tree.cfs, tree.where, limits);
    const auto dir = tree.parent / "run-1";
    CHECK(listed(get(tree.parent / "cgroup.subtree_control"), "cpu"));
    CHECK(get(dir / "cpu.max") == "50000 100000");
    CHECK(get(dir / "memory.swap.max") == std::to_string(32 << 20));  // v2 counts swap apart
    cgroup.reset();

    limits.memory_swap_bytes = -1;
    cgroup = create_cgroup_v2(tree.cfs, tree.where, limits);
    CHECK(get(dir / "memory.swap.max") == "max");
}

TEST_CASE("cgroup v1: --cpus and --memory-swap become the CFS quota and memsw", "[cgroup]") {
    V1Tree tree;
    Limits limits;
    limits.cpu_quota_us = 150000;  // --cpus 1.5
    limits.memory_bytes = 64 << 20;
    limits.memory_swap_bytes = 96 << 20;
    auto cgroup = create_cgroup_v1(tree.cfs, tree.where, limits);
    const auto cpu = tree.cpu_parent / "run-1";
    CHECK(get(cpu / "cpu.cfs_period_us") == "100000");
    CHECK(get(cpu / "cpu.cfs_quota_us") == "150000");
    CHECK(get(tree.memory_parent / "run-1" / "memory.memsw.limit_in_bytes") == std::to_string(96 << 20));
    cgroup->destroy();
    CHECK_FALSE(fs::exists(cpu));
}

TEST_CASE("memory+swap limits follow docker's rules", "[cgroup]") {
    V2Tree tree;
    Limits limits;
    limits.memory_swap_bytes = 1 << 30;
    CHECK_THROWS_WITH(create_cgroup_v2(tree.cfs, tree.where, limits), Catch::Contains("needs a memory limit"));
    limits.memory_bytes = 2 << 20;
    limits.memory_swap_bytes = 1 << 20;
    CHECK_THROWS_WITH(create_cgroup_v2(tree.cfs, tree.where, limits), Catch::Contains("at least the memory limit"));
    limits = {};
    limits.cpu_quota_us = 10;
    CHECK_THROWS_WITH(create_cgroup_v2(tree.cfs, tree.where, limits), Catch::Contains("at least 0.01 CPUs"));
}

TEST_CASE("limits must be positive", "[cgroup]") {
    V2Tree tree;
    Limits limits;
    limits.memory_bytes = 0;
    CHECK_THROWS_WITH(create_cgroup_v2(tree.cfs, tree.where, limits), "memory limit must be positive");
}

TEST_CASE("/proc/self/cgroup and flat-keyed files are parsed", "[cgroup]") {
    CHECK(cgroup_v2_path("0::/user.slice/session-2.scope\n") == "/user.slice/session-2.scope");
    CHECK(cgroup_v2_path("4:memory:/x\n0::/\n") == "/");
    CHECK_THROWS_AS(cgroup_v2_path("4:memory:/x\n"), Error);

    const std::string v1 = "9:name=systemd:/\n4:memory:/process_api/c4\n2:cpu,cpuacct:/a\n0::/\n";
    const auto memory = cgroup_v1_membership(v1, "memory");
    REQUIRE(memory);
    CHECK(memory->hierarchy == "memory");
    CHECK(memory->path == "/process_api/c4");
    const auto cpuacct = cgroup_v1_membership(v1, "cpuacct");
    REQUIRE(cpuacct);
    CHECK(cpuacct->hierarchy == "cpu,cpuacct");
    CHECK(cpuacct->path == "/a");
    CHECK_FALSE(cgroup_v1_membership(v1, "pids"));
    CHECK_FALSE(cgroup_v1_membership(v1, "systemd"));

    CHECK(flat_keyed_value("oom 4\noom_kill 3\noom_group_kill 0\n", "oom_kill") == 3);
    CHECK(flat_keyed_value("oom 4\n", "oom_kill") == std::nullopt);
    CHECK(flat_keyed_value("oom_kill x\n", "oom_kill") == std::nullopt);
}

TEST_CASE("run cgroups left by a killed strata are removed by the next run; live ones are kept", "[cgroup]") {
    V2Tree tree;
    // A pid that surely no longer exists: a child that has exited and been reaped.
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    REQUIRE(::waitpid(dead, nullptr, 0) == dead);
    const fs::path abandoned = tree.parent / ("strata-" + std::to_string(dead) + "-0-abc");
    const fs::path live = tree.parent / ("strata-" + std::to_string(::getpid()) + "-9-def");
    const fs::path foreign = tree.parent / "not-ours";
    for (const auto& dir : {abandoned, live, foreign}) tree.cfs.make_dir(dir);

    auto cgroup = create_cgroup_v2(tree.cfs, tree.where, Limits{});
    CHECK_FALSE(fs::exists(abandoned));
    CHECK(fs::exists(live));
    CHECK(fs::exists(foreign));
    CHECK(fs::exists(tree.parent / "run-1"));
    CHECK(remove_abandoned_cgroups(tree.cfs, tree.parent) == 0);
}

TEST_CASE("cgroup v2: when strata's own cgroup holds processes, limits go to <root>/strata", "[cgroup]") {
    V2Tree tree;
    put(tree.root.path() / "cgroup.controllers", "cpu memory pids\n");
    put(tree.root.path() / "cgroup.subtree_control", "");
    Sleeper sibling;  // a login shell beside strata in its session's cgroup
    put(tree.parent / "cgroup.procs", std::to_string(sibling.pid) + "\n");
    Limits limits;
    limits.memory_bytes = 64 << 20;
    limits.pids = 20;

    auto cgroup = create_cgroup_v2(tree.cfs, tree.where, limits);
    const fs::path dir = tree.root.path() / "strata" / "run-1";
    REQUIRE(fs::is_directory(dir));
    CHECK_FALSE(fs::exists(tree.parent / "run-1"));
    CHECK(get(dir / "memory.max") == std::to_string(64 << 20));
    CHECK(get(dir / "pids.max") == "20");
    CHECK(listed(get(tree.root.path() / "strata" / "cgroup.subtree_control"), "memory"));
    cgroup->destroy();
    CHECK_FALSE(fs::exists(dir));

    // Without limits nothing needs enabling: the run stays under strata's own cgroup.
    auto plain = create_cgroup_v2(tree.cfs, tree.where, Limits{});
    CHECK(fs::is_directory(tree.parent / "run-1"));
    plain->destroy();

    // Where the root cannot give them either, the first refusal is what the user sees.
    put(tree.root.path() / "cgroup.controllers", "cpu\n");
    CHECK_THROWS_WITH(create_cgroup_v2(tree.cfs, tree.where, limits), Catch::Contains(tree.parent.string()));
}

} // namespace cgroup_test
