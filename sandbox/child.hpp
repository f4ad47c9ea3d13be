#pragma once
// The code between clone() and execve(), and the container's PID 1. All of it runs in the
// cloned child, on data the parent prepared (ChildPlan): it makes syscalls only, never
// allocates or throws, and reports a failure as one ChildReport on the error pipe before
// it calls _exit (as crun's child does).
#include <climits>
#include <cstddef>
#include <cstdint>
#include <sys/types.h>

#include <linux/filter.h>

namespace strata::sandbox {

// One message from the child. Small enough that one write(2) to a pipe is atomic.
struct ChildReport {
    enum class Kind : int {
        setup_failed,  // the sandbox could not be set up: the parent throws
        exec_failed,   // the command could not be executed: Result::exec_error
        exited,        // from PID 1 as it exits: the command's wait status
    };
    Kind kind;
    int error;        // errno, for the failures
    int wait_status;  // for `exited`
    char stage[32];   // "mount", "pivot_root", "exec", ...
    char message[448];  // "mount overlay '/x'"; the parent appends ": <strerror>"
};
static_assert(sizeof(ChildReport) <= PIPE_BUF);

// One of Spec::mounts, ready to attach: a detached mount (a clone of the bind source, or
// a new tmpfs) that the child moves onto its target after pivot_root.
struct ChildMount {
    int tree_fd = -1;
    const char* target = nullptr;                // absolute and clean: "/a/b"
    const char* const* parents = nullptr;        // "/a": made if missing; null-terminated
    bool is_dir = true;                          // a missing target is made as a directory, else as an empty file
};

struct ChildPlan {
    int error_fd = -1;  // write end of the report pipe (close-on-exec)
    int sync_fd = -1;   // read end: one byte arrives once the child is in its cgroups
    // Every fd the child keeps, ascending; all others (another run's pipes, say) are closed.
    const int* keep_fds = nullptr;
    std::size_t keep_count = 0;

    const char* root = nullptr;  // where the overlay is mounted (inside state_dir)
    int overlay_fd = -1;         // detached overlay from fsmount(), or -1 for mount(2)
    const char* legacy_options = nullptr;  // mount(2) data when overlay_fd is -1
    const char* legacy_dir = nullptr;      // chdir here first: lowerdirs are relative to it
    const char* hostname = nullptr;
    bool new_network = false;  // a new network namespace whose loopback must be brought up
    const ChildMount* mounts = nullptr;  // attached in order after pivot_root
    std::size_t mount_count = 0;

    const char* cwd = nullptr;  // absolute and clean; made if missing (child_make_dirs_in_root)
    bool read_only_root = false;  // remounted read-only after the mounts and cwd

    // --userns: the command joins this user namespace before it drops privileges; the
    // directories the child makes for it (the working directory) go to root_owner_*, the
    // container root's host ids. -1: no user namespace.
    int userns_fd = -1;
    std::uint32_t root_owner_uid = 0;
    std::uint32_t root_owner_gid = 0;
    const char* dev_options = nullptr;  // the /dev tmpfs's mount(2) data (its owner with userns)
    const char* shm_options = nullptr;  // /dev/shm's

    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    const std::uint32_t* groups = nullptr;
    std::size_t group_count = 0;

    int stdio[3] = {-1, -1, -1};  // -1: /dev/null
    bool terminal = false;        // stdio is a pty slave: the command's controlling terminal
    int devpts_fd = -1;           // a detached devpts (the terminal's) to attach as /dev/pts; -1: mount one

    // Privileges (privileges.hpp). When privileged, none of these apply: the command keeps
    // every capability, gets no seccomp filter, no no_new_privs, and /proc is not masked.
    bool privileged = false;
    int last_cap = 0;                 // the highest capability number the kernel knows
    std::uint64_t bounding_caps = 0;  // the command's bounding set
    std::uint64_t command_caps = 0;   // its effective and permitted sets (empty for a non-root uid)
    std::uint64_t init_caps = 0;      // init's, after it forked the command: CAP_KILL
    const sock_fprog* seccomp = nullptr;  // loaded last before execve, and by init after the fork

    const char* const* argv = nullptr;
    const char* const* envp = nullptr;
    const char* const* exec_candidates = nullptr;  // full paths to try in order; null-terminated
};

// The child's whole life: never returns.
[[noreturn]] void child_main(const ChildPlan& plan) noexcept;

// Reports {stage, errno, "what 'object'"} and _exits.
[[noreturn]] void child_fail(const ChildPlan& plan, const char* stage, int error, const char* what,
                             const char* object = nullptr) noexcept;
void child_report(const ChildPlan& plan, ChildReport::Kind kind, const char* stage, int error, int wait_status,
                  const char* what, const char* object) noexcept;

// mounts.cpp: mounts the overlay and /proc, /dev, /sys in it, sets the hostname, brings up
// loopback, pivots into it, and attaches the spec's extra mounts.
void child_enter_root(const ChildPlan& plan) noexcept;
// mounts.cpp: mkdir -p of an absolute path inside the root we are in, following symlinks as
// the kernel resolves them there; a dangling link gets its target made (as runc's
// MkdirAllInRoot does), owned by the container's root. Returns 0 or an errno.
int child_make_dirs_in_root(const ChildPlan& plan, const char* path) noexcept;
// init.cpp: PID 1. Forks the command, forwards signals to it, reaps zombies, and exits
// with the command's status.
[[noreturn]] void child_run_init(const ChildPlan& plan) noexcept;
// child.cpp: in the command's process: identity, stdio, capabilities, no_new_privs,
// seccomp, execve.
[[noreturn]] void child_exec_command(const ChildPlan& plan) noexcept;
// child.cpp: init keeps only CAP_KILL (to forward signals to a command running as another
// user) and takes the command's seccomp filter.
void child_confine_init(const ChildPlan& plan) noexcept;
// child.cpp: with a user namespace, init is the container's root too (ps shows it so),
// holding CAP_KILL over the command inside that namespace.
void child_init_join_user_namespace(const ChildPlan& plan) noexcept;

} // namespace strata::sandbox
