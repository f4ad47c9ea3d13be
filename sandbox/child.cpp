// The cloned child up to PID 1, and the command's process from fork to execve.
#include "sandbox/child.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

static_assert(sizeof(gid_t) == sizeof(std::uint32_t));

// Appends src to the fixed buffer, always leaving it terminated.
void append(char* buf, std::size_t size, const char* src) noexcept {
    std::size_t used = std::strlen(buf);
    while (*src && used + 1 < size) buf[used++] = *src++;
    buf[used] = '\0';
}

// Closes every fd that is not listed: the parent's other descriptors must not stay open
// for the container's lifetime (PID 1 never execs, so close-on-exec does not help).
void close_other_fds(const ChildPlan& plan) noexcept {
    unsigned next = 0;
    for (std::size_t i = 0; i < plan.keep_count; ++i) {
        const auto keep = static_cast<unsigned>(plan.keep_fds[i]);
        if (keep > next) ::close_range(next, keep - 1, 0);
        next = keep + 1;
    }
    ::close_range(next, ~0U, 0);
}

void wait_for_parent(const ChildPlan& plan) noexcept {
    char byte;
    ssize_t n;
    do {
        n = ::read(plan.sync_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    // EOF: the parent gave up (it could not place us in the cgroups) and reports why itself.
    if (n != 1) ::_exit(125);
    ::close(plan.sync_fd);
}

void make_cwd(const ChildPlan& plan) noexcept {
    if (const int error = child_make_dirs_in_root(plan, plan.cwd)) child_fail(plan, "cwd", error, "mkdir", plan.cwd);
    if (::chdir(plan.cwd) != 0) child_fail(plan, "cwd", errno, "chdir", plan.cwd);
}

void reset_signals() noexcept {
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &action, nullptr);  // EINVAL for KILL, STOP: fine
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Moves the requested fds to 0, 1, 2 without one clobbering another (stdout may be fd 0).
void setup_stdio(const ChildPlan& plan) noexcept {
    // Every source is first copied above 2, so that no dup2 below is a no-op that would
    // leave a close-on-exec flag in place.
    int sources[3];
    for (int i = 0; i < 3; ++i) {
        int fd = plan.stdio[i];
        if (fd < 0) fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0) child_fail(plan, "stdio", errno, "open", "/dev/null");
        sources[i] = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (sources[i] < 0) child_fail(plan, "stdio", errno, "set up stdio");
    }
    for (int i = 0; i < 3; ++i) {
        if (::dup2(sources[i], i) < 0) child_fail(plan, "stdio", errno, "set up stdio");
    }
}

// Raw system calls, not glibc's wrappers: those apply the change to every thread of the
// process (setxid broadcast), and a child cloned from a multi-threaded strata still has
// glibc's list of the parent's threads, so the wrapper waits for threads that do not
// exist here and never returns.
void switch_identity(const ChildPlan& plan) noexcept {
    const auto* groups = reinterpret_cast<const gid_t*>(plan.groups);
    if (::syscall(SYS_setgroups, plan.group_count, groups) != 0) child_fail(plan, "user", errno, "setgroups");
    if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) child_fail(plan, "user", errno, "setgid");
    if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) child_fail(plan, "user", errno, "setuid");
}

// Joining grants every capability in the namespace and a full bounding set, which the
// caller then cuts down. The ids stay the host's (unmapped there) until switched.
void join_user_namespace(const ChildPlan& plan) noexcept {
    if (plan.userns_fd >= 0 && ::setns(plan.userns_fd, CLONE_NEWUSER) != 0)
        child_fail(plan, "user namespace", errno, "join the user namespace");
}

// Drops from the bounding set everything the command may not hold, so that no execve (of
// a setuid-root or file-capability program) can ever give it back.
void limit_bounding_set(const ChildPlan& plan) noexcept {
    for (int cap = 0; cap <= plan.last_cap; ++cap) {
        if ((plan.bounding_caps >> cap) & 1) continue;
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) child_fail(plan, "capabilities", errno, "drop from bounding set");
    }
}

// Sets effective = permitted = caps and an empty inheritable set (docker since
// CVE-2022-24769), and clears the ambient set, with raw syscalls: libcap would allocate.
void set_capabilities(const ChildPlan& plan, std::uint64_t caps) noexcept {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<std::uint32_t>(caps >> (32 * i));
        data[i].permitted = data[i].effective;
        data[i].inheritable = 0;
    }
    if (::syscall(SYS_capset, &header, data) != 0) child_fail(plan, "capabilities", errno, "capset");
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        child_fail(plan, "capabilities", errno, "clear ambient capabilities");
}

// no_new_privs first: the kernel only lets a process without CAP_SYS_ADMIN load a filter
// under it, and it keeps setuid programs from undoing the capability drop.
void load_seccomp(const ChildPlan& plan) noexcept {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(plan, "no_new_privs", errno, "prctl NO_NEW_PRIVS");
    if (plan.seccomp && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, plan.seccomp) != 0)
        child_fail(plan, "seccomp", errno, "load seccomp filter");
}

} // namespace

void child_report(const ChildPlan& plan, ChildReport::Kind kind, const char* stage, int error, int wait_status,
                  const char* what, const char* object) noexcept {
    ChildReport report{};
    report.kind = kind;
    report.error = error;
    report.wait_status = wait_status;
    append(report.stage, sizeof report.stage, stage);
    append(report.message, sizeof report.message, what);
    if (object) {
        append(report.message, sizeof report.message, " '");
        append(report.message, sizeof report.message, object);
        append(report.message, sizeof report.message, "'");
    }
    ssize_t n;
    do {
        n = ::write(plan.error_fd, &report, sizeof report);
    } while (n < 0 && errno == EINTR);
}

void child_fail(const ChildPlan& plan, const char* stage, int error, const char* what, const char* object) noexcept {
    child_report(plan, ChildReport::Kind::setup_failed, stage, error, 0, what, object);
    ::_exit(125);
}

void child_main(const ChildPlan& plan) noexcept {
    close_other_fds(plan);
    // A session of its own: a terminal's Ctrl-C reaches strata, which passes it on once,
    // not every process of the container directly as well.
    ::setsid();
    // If strata dies, the container must not outlive it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    wait_for_parent(plan);
    // Now that we are in the run's cgroup, a cgroup namespace makes it the container's root.
    if (::unshare(CLONE_NEWCGROUP) != 0) child_fail(plan, "namespaces", errno, "unshare cgroup namespace");
    ::umask(022);
    child_enter_root(plan);
    make_cwd(plan);
    // A bind remount changes the flags of the root mount alone: the mounts on it keep theirs.
    if (plan.read_only_root && ::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
        child_fail(plan, "mount", errno, "remount read-only", "/");
    child_run_init(plan);
}

void child_init_join_user_namespace(const ChildPlan& plan) noexcept {
    if (plan.userns_fd < 0) return;
    join_user_namespace(plan);
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) child_fail(plan, "user", errno, "setgroups");
    if (::syscall(SYS_setresgid, 0, 0, 0) != 0) child_fail(plan, "user", errno, "setgid");
    if (::syscall(SYS_setresuid, 0, 0, 0) != 0) child_fail(plan, "user", errno, "setuid");
}

void child_confine_init(const ChildPlan& plan) noexcept {
    if (plan.privileged) return;
    set_capabilities(plan, plan.init_caps);
    load_seccomp(plan);
}

void child_exec_command(const ChildPlan& plan) noexcept {
    reset_signals();
    setup_stdio(plan);
    if (plan.terminal) {
        // A session of its own whose controlling terminal is the pty: job control and
        // Ctrl-C inside the container work as on any terminal.
        if (::setsid() < 0) child_fail(plan, "terminal", errno, "setsid");
        if (::ioctl(0, TIOCSCTTY, 0) != 0) child_fail(plan, "terminal", errno, "make the pty the controlling terminal");
    }
    // The bounding set first, while CAP_SETPCAP is still held; the identity switch next,
    // while CAP_SETUID/SETGID are (even with --cap-drop ALL); then the final sets. A switch
    // to a non-root uid has already emptied permitted and effective, as runc leaves them.
    join_user_namespace(plan);
    if (!plan.privileged) limit_bounding_set(plan);
    switch_identity(plan);
    if (!plan.privileged) {
        set_capabilities(plan, plan.uid == 0 ? plan.command_caps : 0);
        // The filter is the last thing before execve: from here on the child only execs,
        // writes its report and exits.
        load_seccomp(plan);
    }

    // As execvp: a missing candidate moves on to the next; EACCES is remembered and reported
    // only if nothing else runs; any other error stops the search.
    int error = ENOENT;
    bool saw_eacces = false;
    for (auto path = plan.exec_candidates; *path; ++path) {
        ::execve(*path, const_cast<char* const*>(plan.argv), const_cast<char* const*>(plan.envp));
        error = errno;
        if (error == EACCES) {
            saw_eacces = true;
        } else if (error != ENOENT && error != ENOTDIR) {
            break;
        }
    }
    if ((error == ENOENT || error == ENOTDIR) && saw_eacces) error = EACCES;
    child_report(plan, ChildReport::Kind::exec_failed, "exec", error, 0, "exec", plan.argv[0]);
    ::_exit(error == ENOENT || error == ENOTDIR ? 127 : 126);
}

} // namespace strata::sandbox
