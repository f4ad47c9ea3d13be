// run(): the parent's side of a container run, as a linear list of passes.
#include "sandbox/sandbox.hpp"

#include "sandbox/cgroup.hpp"
#include "sandbox/child.hpp"
#include "sandbox/extra_mounts.hpp"
#include "sandbox/network_files.hpp"
#include "sandbox/overlay.hpp"
#include "sandbox/privileges.hpp"
#include "sandbox/userns.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <chrono>
#include <linux/capability.h>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

namespace fs = std::filesystem;

constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Strings for the child, owned here, with the null-terminated pointer arrays execve wants.
class CStringArray {
public:
    explicit CStringArray(std::vector<std::string> strings) : strings_(std::move(strings)) {
        for (const auto& s : strings_) pointers_.push_back(s.c_str());
        pointers_.push_back(nullptr);
    }
    CStringArray(const CStringArray&) = delete;
    CStringArray& operator=(const CStringArray&) = delete;
    const char* const* get() const { return pointers_.data(); }

private:
    std::vector<std::string> strings_;
    std::vector<const char*> pointers_;
};

std::string path_variable(const std::vector<std::string>& env) {
    std::optional<std::string> path;
    for (const auto& entry : env) {
        if (entry.rfind("PATH=", 0) == 0) path = entry.substr(5);  // the last one wins, as in getenv after putenv
    }
    return path.value_or(default_path);
}

// What execvp would try, computed here so the child only loops over it.
std::vector<std::string> exec_candidates(const Spec& spec) {
    const auto& command = spec.argv.front();
    if (command.find('/') != std::string::npos) return {command};
    std::vector<std::string> candidates;
    const std::string path_value = path_variable(spec.env);
    std::string_view path = path_value;
    for (;;) {
        const auto end = path.find(':');
        const auto dir = path.substr(0, end);
        candidates.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + command);
        if (end == std::string_view::npos) break;
        path.remove_prefix(end + 1);
    }
    return candidates;
}

fs::path normalized_cwd(const std::string& cwd) {
    auto path = (fs::path("/") / cwd).lexically_normal();
    // lexically_normal keeps a leading "/.." ; the container's root is its own parent.
    std::string text = path.string();
    while (text.rfind("/..", 0) == 0) text.erase(0, 3);
    if (text.empty()) text = "/";
    if (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
}

void check_spec(const Spec& spec) {
    if (spec.argv.empty()) throw Error("sandbox: no command to run");
    for (const auto* dir : {&spec.upper_dir, &spec.work_dir, &spec.state_dir}) {
        if (!dir->is_absolute()) throw Error("sandbox: '" + dir->string() + "' is not an absolute path");
    }
    for (const auto& dir : spec.lower_dirs) {
        if (!dir.is_absolute()) throw Error("sandbox: '" + dir.string() + "' is not an absolute path");
    }
}

// The cloned child, killed and reaped if the run is abandoned before it exits.
class ChildProcess {
public:
    explicit ChildProcess(pid_t pid) : pid_(pid) {}
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int status;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    pid_t pid() const { return pid_; }
    int wait() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0) {
            if (errno != EINTR) throw_errno("waitpid", "sandbox init");
        }
        pid_ = 0;
        return status;
    }

private:
    pid_t pid_;
};

// Reads reports until every holder of the write end is gone, i.e. until PID 1 exits.
// Reports arrive whole or in pieces; read_some() takes what one read(2) gives.
class ReportReader {
public:
    // False at EOF: init and the command hold the write end no longer.
    bool read_some(int fd) {
        const ssize_t n = ::read(fd, reinterpret_cast<char*>(&report_) + have_, sizeof report_ - have_);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) return true;
            throw_errno("read", "sandbox report pipe");
        }
        if (n == 0) return false;
        have_ += static_cast<std::size_t>(n);
        if (have_ == sizeof report_) {
            report_.stage[sizeof report_.stage - 1] = '\0';
            report_.message[sizeof report_.message - 1] = '\0';
            reports.push_back(report_);
            have_ = 0;
        }
        return true;
    }
    std::vector<ChildReport> reports;

private:
    ChildReport report_;
    std::size_t have_ = 0;
};

// The signals `docker run` passes on to the container. While one run is supervised they
// are blocked on this thread and read from a signalfd instead of being delivered; the
// destructor drops any that came after the container ended and restores the old mask.
class ForwardedSignals {
public:
    // window_changes: SIGWINCH too, for a terminal's size (not forwarded: see Terminal).
    explicit ForwardedSignals(bool window_changes) {
        sigemptyset(&set_);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set_, sig);
        if (window_changes) sigaddset(&set_, SIGWINCH);
        if (const int rc = ::pthread_sigmask(SIG_BLOCK, &set_, &old_); rc != 0) throw_error_code("pthread_sigmask", "run", rc);
        fd_ = Fd(::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!fd_) {
            const int error = errno;
            ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
            throw_error_code("signalfd", "run", error);
        }
    }
    ForwardedSignals(const ForwardedSignals&) = delete;
    ForwardedSignals& operator=(const ForwardedSignals&) = delete;
    ~ForwardedSignals() {
        while (next() != 0) {
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    int fd() const { return fd_.get(); }
    // The next signal received, or 0 when none is pending.
    int next() {
        signalfd_siginfo info {};
        return ::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
    }

private:
    sigset_t set_, old_;
    Fd fd_;
};

// Spec.terminal: a pty whose slave is the command's stdio, relayed to ours.
class Terminal {
public:
    // The pty comes from a devpts instance made here and attached as the container's
    // /dev/pts (as runc's console socket arranges), so that the command's terminal is a
    // device the container can name (/dev/pts/0), not one of the host's.
    Terminal(int in_fd, int out_fd) : in_(in_fd), out_(out_fd) {
        Fd context(::fsopen("devpts", FSOPEN_CLOEXEC));
        if (!context) throw_errno("fsopen", "devpts");
        for (const auto& [key, value] : {std::pair{"ptmxmode", "0666"}, {"mode", "0620"}, {"gid", "5"}})
            if (::fsconfig(context.get(), FSCONFIG_SET_STRING, key, value, 0) != 0) throw_errno("fsconfig", std::string("devpts ") + key);
        if (::fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) throw_errno("fsconfig", "create devpts");
        devpts_ = Fd(::fsmount(context.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC));
        if (!devpts_) throw_errno("fsmount", "devpts");
        master_ = Fd(::openat(devpts_.get(), "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!master_) throw_errno("open", "devpts/ptmx");
        int unlock = 0;
        if (::ioctl(master_.get(), TIOCSPTLCK, &unlock) != 0) throw_errno("unlockpt", "devpts/ptmx");
        slave_ = Fd(::ioctl(master_.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!slave_) throw_errno("open the pty's peer", "devpts");
        update_window_size();
        // Keys go to the container as typed (Ctrl-C included, which its terminal turns
        // into SIGINT), as docker run -it does; restored afterwards.
        if (in_ >= 0 && ::isatty(in_) && ::tcgetattr(in_, &saved_) == 0) {
            termios raw = saved_;
            ::cfmakeraw(&raw);
            restore_ = ::tcsetattr(in_, TCSANOW, &raw) == 0;
        }
    }
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;
    ~Terminal() {
        if (restore_) ::tcsetattr(in_, TCSANOW, &saved_);
    }

    int slave() const { return slave_.get(); }
    int devpts() const { return devpts_.get(); }
    // The child has its copies: EIO at the master once the command and its children are gone.
    void close_child_ends() {
        slave_.reset();
        devpts_.reset();
    }
    int master() const { return master_open_ ? master_.get() : -1; }
    int input() const { return in_open_ ? in_ : -1; }

    void update_window_size() {
        winsize size {};
        if (::ioctl(out_, TIOCGWINSZ, &size) != 0 || size.ws_row == 0) {
            size.ws_row = 24;
            size.ws_col = 80;
        }
        ::ioctl(master_.get(), TIOCSWINSZ, &size);
    }

    // The container's output to ours.
    void pump_output() {
        char buf[65536];
        const ssize_t n = ::read(master_.get(), buf, sizeof buf);
        if (n > 0) return write_all(out_, buf, static_cast<std::size_t>(n), "container terminal output");
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        master_open_ = false;  // EIO: no process has the terminal open any more
    }

    // Our input to the container; at its end, the terminal's end-of-file character.
    void pump_input() {
        char buf[4096];
        const ssize_t n = ::read(in_, buf, sizeof buf);
        if (n > 0) return write_all(master_.get(), buf, static_cast<std::size_t>(n), "container terminal input");
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        in_open_ = false;
        const char eof = 4;  // ^D, VEOF in a cooked terminal
        (void)!::write(master_.get(), &eof, 1);
    }

    // What the command wrote before it ended.
    void drain() {
        pollfd ready{master_.get(), POLLIN, 0};
        while (master_open_ && ::poll(&ready, 1, 0) > 0 && (ready.revents & (POLLIN | POLLHUP))) pump_output();
    }

private:
    int in_, out_;
    Fd devpts_, master_, slave_;
    bool master_open_ = true, in_open_ = true;
    termios saved_ {};
    bool restore_ = false;
};

struct Supervised {
    std::vector<ChildReport> reports;
    bool timed_out = false;
};

// Until the report pipe closes (init has exited): collects reports, forwards signals to
// init (which passes them to the command), relays a terminal, and kills the whole
// container at the deadline.
Supervised supervise(int report_fd, pid_t init, ForwardedSignals* signals, Terminal* terminal,
                     std::optional<std::chrono::milliseconds> timeout) {
    ReportReader reader;
    Supervised out;
    const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
    for (;;) {
        pollfd fds[4] = {{report_fd, POLLIN, 0},
                         {signals ? signals->fd() : -1, POLLIN, 0},
                         {terminal ? terminal->master() : -1, POLLIN, 0},
                         {terminal ? terminal->input() : -1, POLLIN, 0}};
        int wait_ms = -1;
        if (timeout && !out.timed_out) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            wait_ms = static_cast<int>(std::max<long long>(0, left.count()));
        }
        const int ready = ::poll(fds, 4, wait_ms);
        if (ready < 0) {
            if (errno == EINTR) continue;
            throw_errno("poll", "sandbox report pipe");
        }
        if (ready == 0) {
            out.timed_out = true;
            ::kill(init, SIGKILL);  // init's death ends every process in its PID namespace
            continue;
        }
        if (signals && (fds[1].revents & POLLIN)) {
            while (const int sig = signals->next()) {
                if (sig == SIGWINCH) {
                    if (terminal) terminal->update_window_size();  // the kernel tells the command
                } else {
                    ::kill(init, sig);
                }
            }
        }
        if (terminal && fds[2].revents != 0) terminal->pump_output();
        if (terminal && fds[3].revents != 0) terminal->pump_input();
        if (fds[0].revents != 0 && !reader.read_some(report_fd)) break;
    }
    if (terminal) terminal->drain();
    out.reports = std::move(reader.reports);
    return out;
}

std::string describe(const ChildReport& report) {
    return std::string(report.message) + ": " + std::strerror(report.error);
}

void set_status(Result& result, int status) {
    if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
        result.exit_code = 128 + WTERMSIG(status);
    } else {
        result.exit_code = WEXITSTATUS(status);
    }
}

// Turns what the child said, and how PID 1 ended, into a Result, or throws for a sandbox
// that could not be set up.
Result interpret(const std::vector<ChildReport>& reports, int init_status) {
    Result result;
    bool have_status = false;
    for (const auto& report : reports) {
        switch (report.kind) {
        case ChildReport::Kind::setup_failed:
            throw Error(describe(report)).add_context(std::string("sandbox ") + report.stage);
        case ChildReport::Kind::exec_failed:
            result.exec_error = describe(report);
            break;
        case ChildReport::Kind::exited:
            set_status(result, report.wait_status);
            have_status = true;
            break;
        }
    }
    if (!have_status) {
        // PID 1 itself was killed (SIGKILL from outside, or the OOM killer chose it).
        if (WIFEXITED(init_status) && WEXITSTATUS(init_status) == 125)
            throw Error("sandbox: the container's init exited before reporting");
        set_status(result, init_status);
    }
    return result;
}

// The capabilities this process can hand on: a container cannot get what strata lacks.
CapabilityMask own_permitted_capabilities() {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) throw_errno("capget", "strata");
    return CapabilityMask{data[0].permitted} | (CapabilityMask{data[1].permitted} << 32);
}

// Capabilities and the seccomp program, settled before anything is mounted, so that a bad
// --cap-add name fails early.
struct Privileges {
    int last_cap = 0;
    CapabilityMask capabilities = 0;
    CapabilityMask init_capabilities = 0;
    std::optional<SeccompProgram> seccomp;
};

void plan_privileges(const Spec& spec, Privileges& privileges) {
    privileges.last_cap = last_capability();
    if (spec.privileged) {
        privileges.capabilities = all_capabilities(privileges.last_cap);
        return;
    }
    const CapabilityMask own = own_permitted_capabilities();
    privileges.capabilities = resolve_capabilities(spec.cap_add, spec.cap_drop, privileges.last_cap) & own;
    // init only signals the command, which may run as another user.
    privileges.init_capabilities = capability_bit(CAP_KILL) & own;
    privileges.seccomp.emplace(privileges.capabilities);
}

pid_t clone_child(bool new_network) {
    // Without a new stack, clone() behaves like fork(): the child continues on a copy of ours.
    unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
    if (new_network) flags |= CLONE_NEWNET;
    const long pid = ::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr);
    if (pid < 0) throw_errno("clone", "sandbox namespaces");
    return static_cast<pid_t>(pid);
}

// What a user-namespaced container must own itself: its tmpfs mounts and the network
// files it may edit (docker's container root can write /etc/hosts).
void give_to_container_root(std::vector<Mount>& mounts, std::size_t network_file_count, const IdMapping& userns) {
    for (std::size_t i = 0; i < mounts.size(); ++i) {
        Mount& mount = mounts[i];
        if (mount.kind == Mount::Kind::tmpfs) {
            mount.uid = userns.host_uid;
            mount.gid = userns.host_gid;
        } else if (i < network_file_count && ::chown(mount.source.c_str(), userns.host_uid, userns.host_gid) != 0) {
            throw_errno("chown", mount.source.string());
        }
    }
}

// mount(2) data for a tmpfs the child mounts, owned by the container's root.
std::string tmpfs_options(const char* base, const std::optional<IdMapping>& userns) {
    if (!userns) return base;
    return std::string(base) + ",uid=" + std::to_string(userns->host_uid) + ",gid=" + std::to_string(userns->host_gid);
}

void release_child(Fd& sync_write) {
    const char go = 1;
    write_all(sync_write.get(), &go, 1, "sandbox sync pipe");
    sync_write.reset();
}

} // namespace

Result run(const Spec& spec) {
    check_spec(spec);
    if (spec.userns && spec.privileged)
        throw Error("--privileged cannot be combined with a user namespace (--userns=host turns it off)");
    Privileges privileges;
    plan_privileges(spec, privileges);
    // Created first and destroyed last: its destructor kills whatever is left in it.
    const auto cgroup = create_run_cgroup(spec.limits);

    // Everything the child needs, prepared while we can still allocate and throw.
    const StateLayout state = prepare_state_dir(spec.state_dir);
    const Fd userns = spec.userns ? make_user_namespace(*spec.userns) : Fd();
    std::vector<Mount> all_mounts;
    if (spec.network_files) all_mounts = network_identity_mounts(spec, spec.state_dir / "etc");
    const std::size_t network_file_count = all_mounts.size();
    all_mounts.insert(all_mounts.end(), spec.mounts.begin(), spec.mounts.end());  // the spec's own may cover them
    if (spec.userns) give_to_container_root(all_mounts, network_file_count, *spec.userns);
    PreparedMounts mounts(all_mounts, state.mountpoints);
    const auto lowers = overlay_lower_dirs(spec, state);
    copy_root_attributes(lowers.front(), spec.upper_dir, spec.userns);
    OverlayMount overlay = prepare_overlay(lowers, spec.upper_dir, spec.work_dir, state.root, userns.get());
    const std::string dev_options = tmpfs_options("mode=755,size=65536k", spec.userns);
    const std::string shm_options = tmpfs_options("mode=1777,size=65536k", spec.userns);
    const std::string root = state.root.string();
    const CStringArray argv(spec.argv);
    const CStringArray envp(spec.env);
    const CStringArray candidates(exec_candidates(spec));
    const auto cwd = normalized_cwd(spec.cwd);
    const std::string cwd_string = cwd.string();
    Pipe reports = make_pipe();
    Pipe sync = make_pipe();

    ChildPlan plan;
    plan.error_fd = reports.write.get();
    plan.sync_fd = sync.read.get();
    plan.root = root.c_str();
    plan.overlay_fd = overlay.mount_fd.get();
    plan.legacy_options = overlay.legacy_options.c_str();
    plan.legacy_dir = overlay.legacy_dir.empty() ? nullptr : overlay.legacy_dir.c_str();
    plan.hostname = spec.hostname.c_str();
    plan.new_network = !spec.host_network;
    plan.read_only_root = spec.read_only_root;
    plan.mounts = mounts.data();
    plan.mount_count = mounts.size();
    plan.cwd = cwd_string.c_str();
    plan.userns_fd = userns.get();
    if (spec.userns) {
        plan.root_owner_uid = spec.userns->host_uid;
        plan.root_owner_gid = spec.userns->host_gid;
    }
    plan.dev_options = dev_options.c_str();
    plan.shm_options = shm_options.c_str();
    plan.uid = spec.uid;
    plan.gid = spec.gid;
    plan.groups = spec.groups.data();
    plan.group_count = spec.groups.size();
    std::optional<Terminal> terminal;
    if (spec.terminal) terminal.emplace(spec.stdin_fd, spec.stdout_fd);
    plan.stdio[0] = terminal ? terminal->slave() : spec.stdin_fd;
    plan.stdio[1] = terminal ? terminal->slave() : spec.stdout_fd;
    plan.stdio[2] = terminal ? terminal->slave() : spec.stderr_fd;
    plan.terminal = spec.terminal;
    plan.devpts_fd = terminal ? terminal->devpts() : -1;
    plan.privileged = spec.privileged;
    plan.last_cap = privileges.last_cap;
    plan.bounding_caps = privileges.capabilities;
    plan.command_caps = privileges.capabilities;
    plan.init_caps = privileges.init_capabilities;
    plan.seccomp = privileges.seccomp ? privileges.seccomp->get() : nullptr;
    plan.argv = argv.get();
    plan.envp = envp.get();
    plan.exec_candidates = candidates.get();
    std::vector<int> keep = {plan.error_fd, plan.sync_fd, plan.overlay_fd, plan.stdio[0], plan.stdio[1], plan.stdio[2],
                             plan.devpts_fd, plan.userns_fd};
    for (int fd : mounts.fds()) keep.push_back(fd);
    keep.erase(std::remove(keep.begin(), keep.end(), -1), keep.end());
    std::sort(keep.begin(), keep.end());
    keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    plan.keep_fds = keep.data();
    plan.keep_count = keep.size();

    std::optional<ForwardedSignals> signals;
    if (spec.forward_signals) signals.emplace(spec.terminal);  // before clone: none may slip past
    ChildProcess child(clone_child(!spec.host_network));
    if (child.pid() == 0) child_main(plan);

    // Our copies of the child's ends go, so that EOF means the child is gone; the overlay
    // fd goes too, so the mount dies with the child's mount namespace.
    reports.write.reset();
    sync.read.reset();
    overlay.mount_fd.reset();
    mounts.close_fds();
    if (terminal) terminal->close_child_ends();
    if (cgroup) cgroup->add_process(child.pid());
    release_child(sync.write);

    const Supervised supervised =
        supervise(reports.read.get(), child.pid(), signals ? &*signals : nullptr, terminal ? &*terminal : nullptr, spec.timeout);
    Result result = interpret(supervised.reports, child.wait());
    result.timed_out = supervised.timed_out;
    if (cgroup) {
        result.oom_killed = cgroup->oom_killed();
        cgroup->destroy();
    }
    return result;
}

std::string describe_oom(const Limits& limits) {
    if (!limits.memory_bytes) return "out of memory";
    const std::int64_t mib = *limits.memory_bytes >> 20;
    if (mib > 0 && (*limits.memory_bytes & ((1 << 20) - 1)) == 0) return "out of memory (limit " + std::to_string(mib) + " MiB)";
    return "out of memory (limit " + std::to_string(*limits.memory_bytes) + " bytes)";
}

} // namespace strata::sandbox
