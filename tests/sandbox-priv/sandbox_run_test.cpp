// sandbox::run() for real: namespaces, an overlay over a busybox root, /proc, /dev, cgroups.
#include <catch2/catch.hpp>

#include "sandbox/cgroup.hpp"
#include "sandbox/probe.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/sandbox-priv/busybox_root.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <future>
#include <thread>
#include <sstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace sandbox_run_test {  // this file's own names: a folder's tests compile as unity batches

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::sandbox;

namespace {

std::string file_contents(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    ::lseek(fd, 0, SEEK_SET);
    while ((n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size()))) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

// One run's directories, and its stdout and stderr captured in files (a pipe could fill up
// while run() waits for the container).
struct Box {
    TempDir base{"/var/tmp", "strata-sandbox-test-"};
    Spec spec;
    Fd out{::open(base.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)};
    Fd err{::open(base.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)};

    explicit Box(std::vector<std::string> argv) {
        for (const char* dir : {"upper", "work", "state"}) make_dirs(base.path() / dir);
        spec.lower_dirs = {test::busybox_root()};
        spec.upper_dir = base.path() / "upper";
        spec.work_dir = base.path() / "work";
        spec.state_dir = base.path() / "state";
        spec.argv = std::move(argv);
        spec.stdin_fd = -1;
        spec.stdout_fd = out.get();
        spec.stderr_fd = err.get();
    }
    Result run() { return sandbox::run(spec); }
    std::string stdout_text() { return file_contents(out.get()); }
    std::string stderr_text() { return file_contents(err.get()); }
    fs::path upper() const { return spec.upper_dir; }
};

} // namespace

TEST_CASE("a command's output, exit code and signal come back", "[sandbox-priv]") {
    Box box({"sh", "-c", "echo hello; echo oops >&2; exit 42"});
    const auto result = box.run();
    CHECK(result.exit_code == 42);
    CHECK_FALSE(result.signal);
    CHECK(result.exec_error.empty());
    CHECK(box.stdout_text() == "hello\n");
    CHECK(box.stderr_text() == "oops\n");

    Box killed({"sh", "-c", "kill -9 $$"});
    const auto killed_result = killed.run();
    CHECK(killed_result.signal == 9);
    CHECK(killed_result.exit_code == 137);
}

TEST_CASE("a missing command exits 127 with an exec error", "[sandbox-priv]") {
    Box box({"no-such-command", "arg"});
    const auto result = box.run();
    CHECK(result.exit_code == 127);
    CHECK(result.exec_error == "exec 'no-such-command': No such file or directory");
}

TEST_CASE("a file that is not executable exits 126", "[sandbox-priv]") {
    Box box({"/data/script", "arg"});
    TempDir layer("/var/tmp", "strata-sandbox-layer-");
    make_dirs(layer.path() / "data");
    write_file_atomic(layer.path() / "data/script", "#!/bin/sh\necho hi\n", 0644);
    ::chmod(layer.path().c_str(), 0755);
    box.spec.lower_dirs.insert(box.spec.lower_dirs.begin(), layer.path());
    const auto result = box.run();
    CHECK(result.exit_code == 126);
    CHECK(result.exec_error == "exec '/data/script': Permission denied");
}

TEST_CASE("the upper dir receives exactly the diff, in overlay format", "[sandbox-priv]") {
    TempDir layer("/var/tmp", "strata-sandbox-layer-");
    make_dirs(layer.path() / "etc");
    write_file_atomic(layer.path() / "etc/doomed", "bye\n");
    write_file_atomic(layer.path() / "etc/kept", "stay\n");
    ::chmod(layer.path().c_str(), 0750);
    ::chown(layer.path().c_str(), 0, 12);

    Box box({"sh", "-c", "echo data > /new-file && rm /etc/doomed && cat /etc/kept && ls /proc/self/ >/dev/null"});
    box.spec.lower_dirs.insert(box.spec.lower_dirs.begin(), layer.path());
    const auto result = box.run();
    REQUIRE(result.exit_code == 0);
    CHECK(box.stdout_text() == "stay\n");

    CHECK(read_file(box.upper() / "new-file") == "data\n");
    struct stat st;
    REQUIRE(::lstat((box.upper() / "etc/doomed").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    CHECK_FALSE(fs::exists(box.upper() / "etc/kept"));
    // Mount points and the root's attributes come from the layers, not from the run.
    for (const char* name : {"proc", "dev", "sys"}) CHECK_FALSE(fs::exists(box.upper() / name));
    REQUIRE(::stat(box.upper().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    CHECK(st.st_gid == 12);
}

TEST_CASE("a scratch root (no layers) still mounts", "[sandbox-priv]") {
    Box box({"/bin/sh"});
    box.spec.lower_dirs.clear();
    const auto result = box.run();
    CHECK(result.exit_code == 127);
    CHECK(result.exec_error == "exec '/bin/sh': No such file or directory");
    for (const char* name : {"proc", "dev", "sys"}) CHECK_FALSE(fs::exists(box.upper() / name));
}

TEST_CASE("the command runs as PID 2 under init, with its own /proc", "[sandbox-priv]") {
    Box box({"sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"});
    box.spec.lower_dirs.clear();
    box.spec.lower_dirs.push_back(test::busybox_root());
    // grep is not among the applets: use busybox directly.
    box.spec.argv = {"sh", "-c", "echo $$; ls -d /proc/[0-9]* | /bin/busybox wc -l"};
    const auto result = box.run();
    REQUIRE(result.exit_code == 0);
    // init, sh and ls (and wc): a handful of processes, not the host's.
    const auto out = box.stdout_text();
    REQUIRE(out.rfind("2\n", 0) == 0);
    const int processes = std::stoi(out.substr(2));
    CHECK(processes >= 3);
    CHECK(processes <= 5);
}

TEST_CASE("hostname, environment, PATH lookup and cwd come from the spec", "[sandbox-priv]") {
    Box box({"sh", "-c", "hostname; echo \"$FOO\"; pwd"});
    box.spec.hostname = "box-one";
    box.spec.env = {"FOO=bar baz", "PATH=/nowhere:/bin"};
    box.spec.cwd = "/work/dir/";
    const auto result = box.run();
    REQUIRE(result.exit_code == 0);
    CHECK(box.stdout_text() == "box-one\nbar baz\n/work/dir\n");
    struct stat st;
    REQUIRE(::stat((box.upper() / "work/dir").c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0755);
}

TEST_CASE("/dev holds the standard devices and /sys is read-only", "[sandbox-priv]") {
    Box box({"sh", "-c",
             "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; ls /dev/pts/ptmx /dev/shm >/dev/null && "
             "echo pts-ok; readlink /dev/fd; touch /sys/x 2>/dev/null || echo sys-ro"});
    const auto result = box.run();
    REQUIRE(result.exit_code == 0);
    CHECK(box.stdout_text() == "4\nnull-ok\npts-ok\n/proc/self/fd\nsys-ro\n");
}

TEST_CASE("uid, gid and supplementary groups are switched", "[sandbox-priv]") {
    Box box({"sh", "-c", "id -u; id -g; id -G"});
    box.spec.uid = 1000;
    box.spec.gid = 1001;
    box.spec.groups = {1002, 1003};
    const auto result = box.run();
    REQUIRE(result.exit_code == 0);
    CHECK(box.stdout_text() == "1000\n1001\n1001 1002 1003\n");
}

TEST_CASE("stdin is passed through, and -1 means /dev/null", "[sandbox-priv]") {
    TempDir dir("/var/tmp", "strata-sandbox-in-");
    write_file_atomic(dir.path() / "in", "from stdin\n");
    Fd in(::open((dir.path() / "in").c_str(), O_RDONLY | O_CLOEXEC));
    Box box({"cat"});
    box.spec.stdin_fd = in.get();
    REQUIRE(box.run().exit_code == 0);
    CHECK(box.stdout_text() == "from stdin\n");

    Box empty({"cat"});
    REQUIRE(empty.run().exit_code == 0);
    CHECK(empty.stdout_text().empty());
}

TEST_CASE("without host networking only loopback exists, and it is up", "[sandbox-priv]") {
    Box box({"sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"});
    box.spec.host_network = false;
    const auto result = box.run();
    REQUIRE(result.exit_code == 0);
    const auto out = box.stdout_text();
    REQUIRE(out.rfind("lo\n", 0) == 0);
    const auto flags = std::stoul(out.substr(3), nullptr, 16);
    CHECK((flags & 1) == 1);  // IFF_UP
}

// This process's cgroups that a run left behind, in every hierarchy the sandbox uses.
std::vector<fs::path> leftover_cgroups() {
    const auto self = read_file("/proc/self/cgroup");
    std::vector<fs::path> parents;
    if (cgroup_version() == CgroupVersion::v2) {
        parents.push_back(fs::path("/sys/fs/cgroup") / fs::path(cgroup_v2_path(self)).relative_path());
    } else {
        for (const char* controller : {"memory", "pids"}) {
            if (const auto member = cgroup_v1_membership(self, controller))
                parents.push_back(fs::path("/sys/fs/cgroup") / controller / fs::path(member->path).relative_path());
        }
    }
    const auto prefix = "strata-" + std::to_string(::getpid()) + "-";
    std::vector<fs::path> left;
    for (const auto& parent : parents) {
        for (const auto& entry : fs::directory_iterator(parent)) {
            if (entry.path().filename().string().rfind(prefix, 0) == 0) left.push_back(entry.path());
        }
    }
    return left;
}

std::vector<std::string> leftover_mounts() {
    std::vector<std::string> left;
    std::istringstream lines(read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(lines, line);) {
        if (line.find("strata-sandbox-") != std::string::npos) left.push_back(line);
    }
    return left;
}

TEST_CASE("a process beyond the memory limit is OOM-killed, and the run says so", "[sandbox-priv][cgroup]") {
    REQUIRE(cgroup_version() != CgroupVersion::none);
    Box box({"sh", "-c", "x=$(yes | head -c 200000000); echo survived ${#x}"});
    box.spec.limits.memory_bytes = 32 << 20;
    const auto result = box.run();
    CHECK(result.oom_killed);
    CHECK(result.exit_code != 0);
    CHECK(box.stdout_text().find("survived") == std::string::npos);

    Box small({"sh", "-c", "x=$(yes | head -c 1000000); echo survived ${#x}"});
    small.spec.limits.memory_bytes = 32 << 20;
    const auto small_result = small.run();
    CHECK_FALSE(small_result.oom_killed);
    CHECK(small_result.exit_code == 0);
    CHECK(small.stdout_text() == "survived 999999\n");  // $(...) drops the last newline
}

TEST_CASE("the pids limit stops a fork bomb", "[sandbox-priv][cgroup]") {
    REQUIRE(cgroup_version() != CgroupVersion::none);
    const char* script = "i=0; while [ $i -lt 10 ]; do sleep 1 & i=$((i+1)); done; wait; echo all-started";
    Box limited({"sh", "-c", script});
    limited.spec.limits.pids = 5;
    const auto result = limited.run();
    CHECK(result.exit_code != 0);
    CHECK(limited.stderr_text().find("can't fork") != std::string::npos);
    CHECK(limited.stdout_text().empty());

    Box unlimited({"sh", "-c", script});
    REQUIRE(unlimited.run().exit_code == 0);
    CHECK(unlimited.stdout_text() == "all-started\n");
}

TEST_CASE("a sandbox that cannot be set up throws, naming the stage", "[sandbox-priv]") {
    Box box({"true"});
    box.spec.limits.pids = 10;
    box.spec.work_dir = box.base.path() / "missing-work";
    try {
        box.run();
        FAIL("run() did not throw");
    } catch (const Error& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find("mount overlay '" + (box.base.path() / "state/root").string() + "'") !=
              std::string::npos);
    }
    CHECK(leftover_cgroups().empty());
}

TEST_CASE("a failure inside the child comes back as an error with its errno", "[sandbox-priv]") {
    Box box({"true"});
    box.spec.cwd = "/bin/busybox/sub";
    try {
        box.run();
        FAIL("run() did not throw");
    } catch (const Error& e) {
        CHECK(std::string(e.what()) == "sandbox cwd: mkdir '/bin/busybox/sub': Not a directory");
    }
    CHECK(leftover_mounts().empty());
}

TEST_CASE("runs leave no mounts and no cgroups behind", "[sandbox-priv][cgroup]") {
    {
        Box box({"sh", "-c", "sleep 30 & sleep 30 & echo started"});  // background processes outlive the command
        box.spec.limits.memory_bytes = 64 << 20;
        box.spec.limits.pids = 20;
        box.spec.host_network = false;
        REQUIRE(box.run().exit_code == 0);
        CHECK(box.stdout_text() == "started\n");
        CHECK(leftover_cgroups().empty());
        CHECK(leftover_mounts().empty());
    }
    CHECK(leftover_mounts().empty());
}

// The container's init among this process's children: the one that is PID 1 in its namespace.
pid_t find_container_init() {
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
        std::istringstream children(read_file(task.path() / "children"));
        for (pid_t pid; children >> pid;) {
            const auto status = read_file("/proc/" + std::to_string(pid) + "/status");
            const auto line = status.substr(status.find("NSpid:"));
            if (line.substr(0, line.find('\n')).ends_with("\t1")) return pid;
        }
    }
    return 0;
}

// Runs the box in the background until its command prints "ready" on stderr (or ends),
// however long that takes; no timing is asserted.
static std::future<Result> start_until_ready(Box& box) {
    auto running = std::async(std::launch::async, [&] { return box.run(); });
    while (box.stderr_text() != "ready\n" &&
           running.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
    }
    REQUIRE(box.stderr_text() == "ready\n");
    return running;
}

TEST_CASE("init forwards SIGTERM to the command and exits with its status", "[sandbox-priv]") {
    Box box({"sh", "-c", "trap 'echo got-term; exit 3' TERM; sleep 30 & echo ready >&2; wait"});
    auto running = start_until_ready(box);
    const pid_t init = find_container_init();
    REQUIRE(init > 0);
    REQUIRE(::kill(init, SIGTERM) == 0);
    const auto result = running.get();
    CHECK(result.exit_code == 3);
    CHECK(box.stdout_text() == "got-term\n");
}

// Privileges: docker's capabilities, no_new_privs, seccomp, masked /proc.

namespace {

// "CapEff" -> "00000000a80425fb", from a /proc/<pid>/status text.
std::string status_field(const std::string& status, const std::string& name) {
    const auto start = status.find("\n" + name + ":");
    if (start == std::string::npos) return "<missing " + name + ">";
    const auto value = status.find_first_not_of(" \t", start + name.size() + 2);
    return status.substr(value, status.find('\n', value) - value);
}

// The command's own /proc/self/status (cat is exec'd by the command's shell, with its privileges).
std::string container_status(Box& box) {
    box.spec.argv = {"cat", "/proc/self/status"};
    const auto result = box.run();
    REQUIRE(result.exit_code == 0);
    return "\n" + box.stdout_text();
}

constexpr const char* docker_caps = "00000000a80425fb";

} // namespace

TEST_CASE("root in the container holds docker's default capabilities only", "[sandbox-priv][privileges]") {
    Box box({});
    const auto status = container_status(box);
    CHECK(status_field(status, "CapEff") == docker_caps);
    CHECK(status_field(status, "CapPrm") == docker_caps);
    CHECK(status_field(status, "CapBnd") == docker_caps);
    CHECK(status_field(status, "CapInh") == "0000000000000000");
    CHECK(status_field(status, "CapAmb") == "0000000000000000");
    CHECK(status_field(status, "NoNewPrivs") == "1");
    CHECK(status_field(status, "Seccomp") == "2");
}

TEST_CASE("cap_drop ALL leaves nothing, cap_add adds on top", "[sandbox-priv][privileges]") {
    Box none({});
    none.spec.cap_drop = {"ALL"};
    const auto dropped = container_status(none);
    CHECK(status_field(dropped, "CapEff") == "0000000000000000");
    CHECK(status_field(dropped, "CapBnd") == "0000000000000000");

    Box admin({});
    admin.spec.cap_add = {"SYS_ADMIN"};
    admin.spec.cap_drop = {"cap_net_raw"};
    const auto added = container_status(admin);
    CHECK(status_field(added, "CapEff") == "00000000a82405fb");  // + bit 21, - bit 13
    CHECK(status_field(added, "CapBnd") == "00000000a82405fb");
}

TEST_CASE("an unknown capability name fails before anything runs", "[sandbox-priv][privileges]") {
    Box box({"true"});
    box.spec.cap_add = {"SYS_ADMN"};
    CHECK_THROWS_WITH(box.run(), "unknown capability 'SYS_ADMN'");
    CHECK(leftover_mounts().empty());
}

TEST_CASE("a non-root user keeps no effective capabilities", "[sandbox-priv][privileges]") {
    Box box({});
    box.spec.uid = 1000;
    box.spec.gid = 1000;
    const auto status = container_status(box);
    CHECK(status_field(status, "CapEff") == "0000000000000000");
    CHECK(status_field(status, "CapPrm") == "0000000000000000");
    CHECK(status_field(status, "CapBnd") == docker_caps);
    CHECK(status_field(status, "NoNewPrivs") == "1");
    CHECK(status_field(status, "Seccomp") == "2");

    // --cap-drop ALL must not stop the switch to the user (runc switches before dropping).
    Box dropped({"id", "-u"});
    dropped.spec.uid = 1000;
    dropped.spec.cap_drop = {"ALL"};
    REQUIRE(dropped.run().exit_code == 0);
    CHECK(dropped.stdout_text() == "1000\n");
}

TEST_CASE("the container cannot mount or make namespaces", "[sandbox-priv][privileges]") {
    Box box({"sh", "-c", "mkdir -p /mnt; mount -t tmpfs x /mnt || echo mount-failed; unshare -m true || echo unshare-failed"});
    const auto result = box.run();
    CHECK(result.exit_code == 0);
    CHECK(box.stdout_text() == "mount-failed\nunshare-failed\n");
    const auto errors = box.stderr_text();
    INFO(errors);
    CHECK(errors.find("mount: permission denied") != std::string::npos);  // busybox's words for EPERM
    CHECK(errors.find("unshare(0x20000): Operation not permitted") != std::string::npos);

    // With CAP_SYS_ADMIN, as docker's profile does, both go through.
    Box admin({"sh", "-c", "mkdir -p /mnt; mount -t tmpfs x /mnt && unshare -m true && echo both-worked"});
    admin.spec.cap_add = {"SYS_ADMIN"};
    REQUIRE(admin.run().exit_code == 0);
    CHECK(admin.stdout_text() == "both-worked\n");
}

TEST_CASE("the container cannot reboot, load modules or set the host's clock", "[sandbox-priv][privileges]") {
    // As root in the container, with docker's default capabilities: each call is refused
    // with EPERM (not "not found": the check below needs the kernel's answer).
    Box box({"sh", "-c",
             "reboot -f -n; insmod /bin/busybox; date -s 2001-01-01 >/dev/null; echo still-running"});
    const auto before = std::time(nullptr);
    const auto result = box.run();
    CHECK(result.exit_code == 0);
    CHECK(box.stdout_text() == "still-running\n");
    const auto errors = box.stderr_text();
    INFO(errors);
    CHECK(errors.find("reboot: (null): Operation not permitted") != std::string::npos);
    CHECK(errors.find("insmod: can't insert '/bin/busybox': Operation not permitted") != std::string::npos);
    CHECK(errors.find("date: can't set date: Operation not permitted") != std::string::npos);
    CHECK(std::time(nullptr) >= before);  // the host's clock did not go back to 2001
}

TEST_CASE("kernel files are masked and /proc/sys is read-only", "[sandbox-priv][privileges]") {
    Box box({"sh", "-c",
             "stat -c %F /proc/keys; wc -c < /proc/timer_list; stat -f -c %T /proc/acpi; "
             "echo h > /proc/sysrq-trigger || echo sysrq-refused; "
             "echo other > /proc/sys/kernel/hostname || echo sysctl-refused"});
    const auto result = box.run();
    CHECK(result.exit_code == 0);
    // (No /proc/kcore on this kernel: masks of missing paths are skipped.)
    CHECK(box.stdout_text() == "character special file\n0\ntmpfs\nsysrq-refused\nsysctl-refused\n");
    CHECK(box.stderr_text().find("Read-only file system") != std::string::npos);
}

TEST_CASE("privileged keeps every capability, no seccomp, nothing masked", "[sandbox-priv][privileges]") {
    const auto own = "\n" + read_file("/proc/self/status");
    Box box({});
    box.spec.privileged = true;
    box.spec.cap_drop = {"ALL"};  // ignored, as docker ignores it with --privileged
    const auto status = container_status(box);
    CHECK(status_field(status, "CapEff") == status_field(own, "CapEff"));
    CHECK(status_field(status, "CapBnd") == status_field(own, "CapBnd"));
    CHECK(status_field(status, "Seccomp") == "0");
    CHECK(status_field(status, "NoNewPrivs") == "0");

    Box proc({"sh", "-c", "stat -c %F /proc/keys; stat -f -c %T /proc/acpi; wc -c < /proc/timer_list"});
    proc.spec.privileged = true;
    REQUIRE(proc.run().exit_code == 0);
    const auto out = proc.stdout_text();
    CHECK(out.rfind("regular empty file\nproc\n", 0) == 0);
    CHECK(std::stoul(out.substr(out.rfind('\n', out.size() - 2) + 1)) > 0);
}

TEST_CASE("init keeps only CAP_KILL and still forwards signals to a non-root command", "[sandbox-priv][privileges]") {
    Box box({"sh", "-c", "trap 'echo got-term; exit 3' TERM; sleep 30 & echo ready >&2; wait"});
    box.spec.uid = 1000;
    box.spec.gid = 1000;
    auto running = start_until_ready(box);
    const pid_t init = find_container_init();
    REQUIRE(init > 0);
    // init confines itself just after the fork, which may be a moment after "ready".
    std::string status;
    do {
        status = "\n" + read_file("/proc/" + std::to_string(init) + "/status");
    } while (status_field(status, "Seccomp") != "2" &&
             running.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready);
    CHECK(status_field(status, "CapEff") == "0000000000000020");
    CHECK(status_field(status, "Seccomp") == "2");
    REQUIRE(::kill(init, SIGTERM) == 0);
    const auto result = running.get();
    CHECK(result.exit_code == 3);
    CHECK(box.stdout_text() == "got-term\n");
}

} // namespace sandbox_run_test
