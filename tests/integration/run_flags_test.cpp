// strata run's docker flags through the real binary: -v, --mount, --tmpfs, --read-only,
// --network, --env-file, --cpus, on a busybox image built FROM scratch.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

namespace run_flags_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

struct ThisFile;
BusyboxStore& store() { return file_store<ThisFile>(); }

// The directory of this process's cgroup in the hierarchy holding `controller` (v1), or in
// the unified hierarchy (v2); strata's run cgroups are made below it.
std::optional<fs::path> own_cgroup_dir(const std::string& controller) {
    std::ifstream in("/proc/self/cgroup");
    std::optional<fs::path> unified;
    for (std::string line; std::getline(in, line);) {
        const auto first = line.find(':'), second = line.find(':', first + 1);
        const std::string controllers = line.substr(first + 1, second - first - 1);
        const std::string path = line.substr(second + 1);
        if (controllers.empty()) {
            unified = fs::path("/sys/fs/cgroup") / fs::path(path).relative_path();
            continue;
        }
        std::istringstream names(controllers);
        for (std::string name; std::getline(names, name, ',');)
            if (name == controller) return fs::path("/sys/fs/cgroup") / controllers / fs::path(path).relative_path();
    }
    if (unified && fs::exists(*unified / "cgroup.controllers")) return unified;
    return std::nullopt;
}

double children_cpu_seconds() {
    rusage usage {};
    ::getrusage(RUSAGE_CHILDREN, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// A flat-keyed value ("nr_throttled 12") of a cgroup file; -1 when absent.
long long keyed(const fs::path& file, const std::string& key) {
    std::ifstream in(file);
    for (std::string k; in >> k;) {
        long long v = 0;
        in >> v;
        if (k == key) return v;
    }
    return -1;
}

} // namespace

TEST_CASE("-v binds a host directory read-write or read-only, and makes a missing one", "[integration][run]") {
    auto& s = store();
    ScratchDir host;
    const std::string dir = host.path().string();
    write_text(host.path() / "from-host", "hello\n");
    CHECK(s.strata("run -v " + quote(dir) + ":/data busybox sh -c 'cat /data/from-host; echo back > /data/from-container'")
              .output == "hello\n");
    CHECK(read_text(host.path() / "from-container") == "back\n");

    const auto ro = s.strata("run -v " + quote(dir) + ":/data:ro busybox sh -c 'echo x > /data/nope'");
    CHECK(ro.exit_code != 0);
    CHECK(ro.output.find("Read-only file system") != std::string::npos);
    CHECK_FALSE(fs::exists(host.path() / "nope"));

    const fs::path made = host.path() / "made" / "by" / "v";
    CHECK(s.strata("run -v " + quote(made.string()) + ":/m busybox true").exit_code == 0);
    CHECK(fs::is_directory(made));

    const auto missing = s.strata("run --mount type=bind,source=" + quote((host.path() / "absent").string()) +
                                  ",target=/m busybox true");
    CHECK(missing.exit_code == 125);
    CHECK(missing.output.find("bind source path does not exist") != std::string::npos);
    CHECK(s.strata("run --mount type=bind,src=" + quote(dir) + ",dst=/m,readonly busybox cat /m/from-host").output == "hello\n");
}

TEST_CASE("a named volume outlives its container; an anonymous one does not", "[integration][run]") {
    auto& s = store();
    REQUIRE(s.strata("run -v notes:/notes busybox sh -c 'echo kept > /notes/n'").exit_code == 0);
    CHECK(s.strata("run --mount type=volume,source=notes,target=/again busybox cat /again/n").output == "kept\n");
    CHECK(read_text(s.root / "volumes" / "notes" / "_data" / "n") == "kept\n");
    CHECK(s.strata("run -v ../escape:/x busybox true").exit_code == 125);

    // A new volume starts with what the image has at its target, as docker's do (unless nocopy).
    CHECK(s.strata("run -v etc-copy:/etc busybox head -n1 /etc/passwd").output == "root:x:0:0:root:/root:/bin/sh\n");
    CHECK(fs::exists(s.root / "volumes" / "etc-copy" / "_data" / "group"));
    CHECK(s.strata("run -v etc-empty:/etc:nocopy busybox ls /etc").output.empty());
    CHECK(s.strata("run -v /etc busybox cat /etc/group").output.find("root:x:0:") == 0);

    REQUIRE(s.strata("run -v /scratch busybox sh -c 'echo tmp > /scratch/t && cat /scratch/t'").output == "tmp\n");
    CHECK(s.strata("run -v /scratch busybox ls /scratch").output.empty());  // a new one each run
}

TEST_CASE("--tmpfs and --read-only: a read-only root with writable mounts on it", "[integration][run]") {
    auto& s = store();
    const auto sized = s.strata("run --tmpfs /t:size=1m,mode=1770 busybox sh -c "
                                "'stat -c %a /t; grep \" /t \" /proc/mounts; dd if=/dev/zero of=/t/big bs=1k count=2048'");
    CHECK(sized.output.rfind("1770\n", 0) == 0);
    CHECK(sized.output.find("tmpfs /t tmpfs") != std::string::npos);
    CHECK(sized.output.find("size=1024k") != std::string::npos);
    CHECK(sized.output.find("No space left on device") != std::string::npos);

    const auto ro = s.strata("run --read-only busybox sh -c 'touch /new'");
    CHECK(ro.exit_code != 0);
    CHECK(ro.output.find("Read-only file system") != std::string::npos);
    // What docker leaves writable under --read-only: /dev, and the mounts asked for.
    CHECK(s.strata("run --read-only --tmpfs /tmp busybox sh -c 'echo ok > /tmp/x && cat /tmp/x && echo > /dev/null'")
              .output == "ok\n");
    CHECK(s.strata("run --read-only --mount type=tmpfs,target=/w,tmpfs-size=64k busybox sh -c 'echo w > /w/f && cat /w/f'")
              .output == "w\n");
}

TEST_CASE("--network none leaves only loopback; host is the default", "[integration][run]") {
    auto& s = store();
    const auto none = s.strata("run --network none busybox cat /proc/net/dev");
    REQUIRE(none.exit_code == 0);
    CHECK(none.output.find("lo:") != std::string::npos);
    CHECK(count_occurrences(none.output, ":") == 1);  // one "name:" per interface; the header has none
    // The host's interfaces (this machine has more than loopback) are what the default sees.
    std::ifstream host_dev("/proc/net/dev");
    const std::string host_text((std::istreambuf_iterator<char>(host_dev)), {});
    CHECK(count_occurrences(s.strata("run busybox cat /proc/net/dev").output, ":") == count_occurrences(host_text, ":"));
    CHECK(s.strata("run --network bridge busybox true").exit_code == 125);
}

TEST_CASE("--env-file sets variables; -e wins over it; bad lines name file:line", "[integration][run]") {
    auto& s = store();
    ScratchDir dir;
    write_text(dir.path() / "env", "# a comment\n\nA=from-file\nB=\"quoted stays\"\n  C=indented\n");
    const std::string file = quote((dir.path() / "env").string());
    CHECK(s.strata("run --env-file " + file + " -e A=from-flag busybox sh -c 'echo \"$A|$B|$C\"'").output ==
          "from-flag|\"quoted stays\"|indented\n");
    write_text(dir.path() / "bad", "OK=1\nBAD KEY=2\n");
    const auto bad = s.strata("run --env-file " + quote((dir.path() / "bad").string()) + " busybox true");
    CHECK(bad.exit_code == 125);
    CHECK(bad.output.find("bad:2:") != std::string::npos);
}

TEST_CASE("--cpus 0.5 sets the CFS quota and the kernel throttles a busy loop", "[integration][run]") {
    auto& s = store();
    const auto parent = own_cgroup_dir("cpu");
    if (!parent) {
        WARN("no cpu cgroup hierarchy here: --cpus not measured");
        return;
    }
    std::atomic<bool> done{false};
    CommandResult result;
    const double cpu_before = children_cpu_seconds();
    std::thread runner([&] {
        // Three loops: they want more than the quota even on a machine busy with other work.
        result = s.strata("run --cpus 0.5 busybox sh -c 'for j in 1 2 3; do "
                          "(i=0; while [ $i -lt 500000 ]; do i=$((i+1)); done) & done; wait'");
        done = true;
    });
    // While it runs, read the run's cgroup as the kernel keeps it.
    long long throttled = -1;
    double used_seconds = 0;  // CPU time the container has had
    std::string quota;
    const auto start = std::chrono::steady_clock::now();
    while (!done) {
        for (const auto& entry : fs::directory_iterator(*parent)) {
            if (entry.path().filename().string().rfind("strata-", 0) != 0) continue;
            const auto dir = entry.path();
            const bool v2 = fs::exists(dir / "cpu.max");
            const auto q = v2 ? read_text(dir / "cpu.max") : read_text(dir / "cpu.cfs_quota_us");
            // Other strata runs (another test binary at the same time) have no quota.
            if (q.empty() || q == "-1\n" || q.rfind("max", 0) == 0) continue;
            quota = q;
            throttled = std::max(throttled, keyed(dir / "cpu.stat", "nr_throttled"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    runner.join();
    // Every process of the container was waited for down the chain, so its CPU time is in
    // our children's (strata's own share is small).
    used_seconds = children_cpu_seconds() - cpu_before;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(result.output << "CPU " << used_seconds << " s in " << wall << " s, throttled " << throttled << " times");
    CHECK(result.exit_code == 0);
    CHECK((quota == "50000\n" || quota == "50000 100000\n"));
    // Never more than half a CPU (with a margin for the last period), and throttled to get
    // there, unless a machine busy with other work gave it less than the quota anyway.
    CHECK(used_seconds <= 0.6 * wall);
    if (used_seconds < 0.4 * wall) {
        WARN("the machine gave the container only " << used_seconds / wall << " CPUs: throttling not observable");
    } else {
        CHECK(throttled > 0);
    }
}

TEST_CASE("--timeout kills the container and says so", "[integration][run]") {
    auto& s = store();
    const auto started = std::chrono::steady_clock::now();
    const auto r = s.strata("run --timeout 0.5 busybox sleep 30");
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(r.exit_code == 137);
    CHECK(r.output.find("longer than --timeout") != std::string::npos);
    CHECK(took < std::chrono::seconds(20));  // killed, not left to sleep its 30 s
    CHECK(s.strata("run --timeout 30 busybox true").exit_code == 0);
}

TEST_CASE("SIGTERM and SIGINT to strata run reach the command, and nothing is left behind", "[integration][run]") {
    auto& s = store();
    std::vector<std::string> strata_pids;
    for (const std::string sig : {"TERM", "INT"}) {
        ScratchDir dir;
        const std::string out = quote((dir.path() / "out").string());
        // The command says when its trap is set, then waits; strata gets the signal.
        const auto r = sh(s.cmd("run busybox sh -c 'trap \"echo got-" + sig + "; exit 3\" " + sig +
                                "; echo ready; while true; do sleep 0.1; done'") +
                          " > " + out + " 2>&1 & pid=$!; "
                          "for i in $(seq 200); do grep -q ready " + out + " && break; sleep 0.05; done; "
                          "kill -" + sig + " $pid; wait $pid; echo \"status=$? pid=$pid\"; cat " + out);
        INFO(r.output);
        const auto at = r.output.find("pid=");
        REQUIRE(at != std::string::npos);
        strata_pids.push_back(r.output.substr(at + 4, r.output.find('\n', at) - at - 4));
        CHECK(r.output.find("status=3") != std::string::npos);
        CHECK(r.output.find("got-" + sig) != std::string::npos);
    }
    // No mount of the store's is left (a container's overlay, its binds), nor a run cgroup
    // of those strata processes (named strata-<pid>-...; other test programs may run now).
    std::ifstream mountinfo("/proc/self/mountinfo");
    const std::string mounts((std::istreambuf_iterator<char>(mountinfo)), {});
    CHECK(mounts.find(s.root.string()) == std::string::npos);
    for (const char* controller : {"memory", "pids", "cpu"}) {
        const auto parent = own_cgroup_dir(controller);
        if (!parent) continue;
        for (const auto& entry : fs::directory_iterator(*parent))
            for (const auto& pid : strata_pids) CHECK(entry.path().filename().string().rfind("strata-" + pid + "-", 0) != 0);
    }
}

TEST_CASE("strata bundle writes a bundle that runc runs as strata run would", "[integration][bundle]") {
    auto& s = store();
    if (sh("command -v runc").exit_code != 0) {
        WARN("runc is not installed: the bundle is not run");
        return;
    }
    ScratchDir dir;
    const fs::path bundle = dir.path() / "bundle";
    // What the command sees of itself: identity, environment, privileges, filesystem, masks.
    // One stream (2>&1 inside): runc copies the container's stdout and stderr apart.
    const std::string probe = "sh -c '{ id; hostname; echo $HELLO $PATH; pwd; "
                              "grep -E \"^(CapBnd|CapEff|NoNewPrivs|Seccomp):\" /proc/self/status; "
                              "ls /; stat -c %s /proc/kcore; grep -c \" /tmp tmpfs\" /proc/mounts; "
                              "echo > /proc/sysrq-trigger || echo ro-sysrq; } 2>&1'";
    const std::string flags = "-u 65534:65534 -e HELLO=world -w /tmp --tmpfs /tmp:size=1m";
    const auto made = s.strata("bundle " + flags + " busybox " + quote(bundle.string()) + " " + probe);
    INFO(made.output);
    REQUIRE(made.exit_code == 0);
    std::ifstream config_file(bundle / "config.json");
    const auto config = nlohmann::json::parse(config_file);
    CHECK(config["process"]["args"][0] == "sh");
    CHECK(config["process"]["user"]["uid"] == 65534);
    CHECK(config["root"]["path"] == "rootfs");
    CHECK(fs::exists(bundle / "rootfs" / "bin" / "busybox"));
    CHECK(fs::is_symlink(bundle / "rootfs" / "bin" / "sh"));

    const auto with_runc = sh("runc --root " + quote((dir.path() / "runc-state").string()) + " run --bundle " +
                              quote(bundle.string()) + " strata-bundle-test-" + std::to_string(::getpid()));
    const auto with_strata = s.strata("run " + flags + " busybox " + probe);
    INFO("runc:\n" << with_runc.output << "strata:\n" << with_strata.output);
    CHECK(with_runc.exit_code == 0);
    CHECK(with_strata.exit_code == 0);
    CHECK(with_runc.output == with_strata.output);
    CHECK(with_strata.output.find("uid=65534(nobody)") != std::string::npos);
    CHECK(with_strata.output.find("ro-sysrq") != std::string::npos);

    CHECK(s.strata("bundle busybox " + quote(bundle.string())).exit_code != 0);  // not over a bundle
}

TEST_CASE("strata run killed with SIGKILL leaves nothing the next run does not clear", "[integration][run]") {
    auto& s = store();
    ScratchDir dir;
    const std::string out = quote((dir.path() / "out").string());
    // strata itself is killed, not the container: init dies with it (PDEATHSIG), and the
    // cgroup and container directory it made are left for the next strata to remove.
    const auto r = sh(s.cmd("run -m 64m busybox sh -c 'echo ready; sleep 31'") + " > " + out + " 2>&1 & pid=$!; " +
                      "for i in $(seq 200); do grep -q ready " + out + " && break; sleep 0.05; done; " +
                      "kill -KILL $pid; wait $pid; echo \"status=$? pid=$pid\"");
    INFO(r.output);
    REQUIRE(r.output.find("status=137") != std::string::npos);
    const auto at = r.output.find("pid=");
    const std::string killed = r.output.substr(at + 4, r.output.find('\n', at) - at - 4);
    REQUIRE(s.strata("run busybox true").exit_code == 0);  // the next run sweeps
    for (const char* controller : {"memory", "pids"}) {
        const auto parent = own_cgroup_dir(controller);
        if (!parent) continue;
        for (const auto& entry : fs::directory_iterator(*parent))
            CHECK(entry.path().filename().string().rfind("strata-" + killed + "-", 0) != 0);
    }
    // No process of that container is left either: its sleep died with init.
    bool sleeper_left = false;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        std::ifstream cmdline(entry.path() / "cmdline");
        const std::string text((std::istreambuf_iterator<char>(cmdline)), {});
        if (text == std::string("sleep\0" "31\0", 9)) sleeper_left = true;
    }
    CHECK_FALSE(sleeper_left);
    std::size_t leftovers = 0;
    for (const auto& entry : fs::recursive_directory_iterator(s.root / "tmp"))
        if (entry.path().filename().string().rfind("container-", 0) == 0) ++leftovers;
    CHECK(leftovers == 0);
}

TEST_CASE("-t gives the command a terminal of its own; -i -t relays input to it", "[integration][run]") {
    auto& s = store();
    // Not a terminal here (a pipe): 24x80, as docker uses then. Terminal output ends lines with CRLF.
    const auto t = s.strata("run -t busybox sh -c 'test -t 0 && test -t 1 && echo both-ttys; stty size; tty'");
    INFO(t.output);
    CHECK(t.exit_code == 0);
    CHECK(t.output.find("both-ttys\r\n") != std::string::npos);
    CHECK(t.output.find("24 80\r\n") != std::string::npos);
    CHECK(t.output.find("/dev/pts/0\r\n") != std::string::npos);  // the container's own devpts

    const auto it = sh("printf 'typed-line\\n' | " + s.cmd("run -i -t busybox sh -c 'read line; echo got:$line'"));
    INFO(it.output);
    CHECK(it.exit_code == 0);
    CHECK(it.output.find("got:typed-line\r\n") != std::string::npos);
    CHECK(s.strata("run -t busybox sh -c 'exit 5'").exit_code == 5);
}

TEST_CASE("run --name keeps the container; commit makes an image of its changes; rm removes it", "[integration][run]") {
    auto& s = store();
    REQUIRE(s.strata("run --name keeper busybox sh -c 'echo kept > /made; rm /etc/group'").exit_code == 0);
    const auto taken = s.strata("run --name keeper busybox true");
    CHECK(taken.exit_code == 125);
    CHECK(taken.output.find("already in use") != std::string::npos);
    CHECK(s.strata("ps -a").output.find("keeper ") != std::string::npos);

    const auto committed = s.strata_stdout("commit -m 'from a test' keeper committed:v1");
    REQUIRE(committed.exit_code == 0);
    CHECK(committed.output.rfind("sha256:", 0) == 0);
    CHECK(s.strata("run committed:v1 cat /made").output == "kept\n");
    CHECK(s.strata("run committed:v1 ls /etc/group").exit_code != 0);  // the deletion is in the layer
    CHECK(s.strata("run committed:v1 cat /etc/passwd").exit_code == 0);
    // As docker commit records it: the command the container ran becomes Cmd.
    const auto config = s.config("committed:v1");
    CHECK(config["config"]["Cmd"] == nlohmann::json::array({"sh", "-c", "echo kept > /made; rm /etc/group"}));
    CHECK(config["history"].back()["comment"] == "from a test");
    CHECK(config["rootfs"]["diff_ids"].size() == s.config("busybox:latest")["rootfs"]["diff_ids"].size() + 1);
    // --compression: the same layer (diff id) in another codec.
    REQUIRE(s.strata("commit --compression zstd --compression-level 9 keeper committed:zstd").exit_code == 0);
    const auto zstd_layer = s.manifest("committed:zstd")["layers"].back();
    CHECK(zstd_layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd");
    CHECK(s.config("committed:zstd")["rootfs"]["diff_ids"].back() == config["rootfs"]["diff_ids"].back());
    CHECK(s.strata("run committed:zstd cat /made").output == "kept\n");
    CHECK(s.strata("commit --compression lz4 keeper").exit_code != 0);

    REQUIRE(s.strata("rm keeper").exit_code == 0);
    CHECK(s.strata("ps").output.find("keeper ") == std::string::npos);
    CHECK(s.strata("commit keeper").exit_code != 0);
    CHECK(s.strata("run --rm --name gone busybox true").exit_code == 0);  // --rm with --name: removed after all
    CHECK(s.strata("ps").output.find("gone ") == std::string::npos);
    CHECK(s.strata("run --name ../bad busybox true").exit_code == 125);
}

} // namespace run_flags_test
