#pragma once
// Runs one process in a fresh container: mount, PID, UTS, IPC namespaces, an overlay
// root made of read-only lower directories plus a writable upper, /proc, a minimal /dev,
// pivot_root, a cgroup with limits, and docker's default confinement (capabilities,
// no_new_privs, seccomp, masked /proc). Knows nothing of images: it is given directories,
// argv, env and a user.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace strata::sandbox {

struct Limits {
    std::optional<std::int64_t> memory_bytes;  // memory limit; nullopt = unlimited
    // Memory plus swap (docker's --memory-swap); needs memory_bytes; -1 = swap unlimited.
    // nullopt: no swap at all, so that the memory limit is not just moved into swap.
    std::optional<std::int64_t> memory_swap_bytes;
    std::optional<std::int64_t> pids;  // pids limit
    // CPU time per period of cpu_period_us (docker's --cpus 0.5 = 50000 per 100000 us).
    std::optional<std::int64_t> cpu_quota_us;
    static constexpr std::int64_t cpu_period_us = 100000;
};

// A user namespace for the command: container ids 0..size-1 are host ids host_uid.. and
// host_gid.. (docker's userns-remap, podman's --uidmap 0:HOST:SIZE).
struct IdMapping {
    std::uint32_t host_uid = 0;
    std::uint32_t host_gid = 0;
    std::uint32_t size = 0;
};

// A filesystem mounted into the container after its root, before the command starts.
// The target resolves inside the container's root as the command would see it (a symlink
// in the image cannot lead outside), and a target missing from the image is made where it
// never reaches the upper directory: the diff holds no trace of the mount.
struct Mount {
    enum class Kind { bind, tmpfs };
    Kind kind = Kind::bind;
    // bind: an absolute host path (a directory, a file or a socket), taken as it is, with
    // everything mounted below it; the last component is not followed if it is a symlink.
    std::filesystem::path source;
    std::string target;      // an absolute path in the container ("/run/secrets/x"); not "/"
    bool read_only = true;   // bind only; a tmpfs is always writable
    std::optional<std::int64_t> size_bytes;  // tmpfs: its size limit; nullopt = the kernel's default
    unsigned mode = 01777;                   // tmpfs: its root's mode
    std::uint32_t uid = 0;                   // tmpfs: its root's owner, in host ids
    std::uint32_t gid = 0;
};

struct Spec {
    // Overlay layers, topmost first. May be empty (a FROM scratch image).
    std::vector<std::filesystem::path> lower_dirs;
    // Writable upper directory and overlay work directory, on one filesystem. The upper
    // directory receives the diff in overlay format (0:0 char devices for deletions).
    std::filesystem::path upper_dir;
    std::filesystem::path work_dir;
    // A private, empty directory for the sandbox's own mount points and files.
    std::filesystem::path state_dir;

    std::vector<std::string> argv;  // argv[0] is resolved through PATH from env if it has no '/'
    std::vector<std::string> env;   // "K=V"
    std::string cwd = "/";          // created in the rootfs if missing
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::uint32_t> groups;
    std::string hostname = "strata";
    Limits limits;
    bool host_network = true;  // false: a new network namespace with only loopback
    // docker's --read-only: the container's root filesystem is mounted read-only once the
    // mounts and the working directory are in place (mounts, /dev, /proc stay as they are).
    bool read_only_root = false;
    // /etc/hosts, /etc/hostname and /etc/resolv.conf made for this run and bind-mounted over
    // the image's (network_files.hpp); they never reach the upper directory.
    bool network_files = true;
    // Mounted in order, each over what the previous ones made: a target below an earlier
    // one lands inside it. Binds and tmpfs mounts are nosuid and nodev.
    std::vector<Mount> mounts;

    // Privileges: by default the command holds docker's default capabilities (none when uid
    // is not 0), runs under no_new_privs and docker's default seccomp profile, and sees
    // docker's masked and read-only /proc and /sys paths. cap_add/cap_drop take docker's
    // names, with or without "CAP_", any case, and "ALL" (docker's rules: add ALL keeps all
    // but the dropped; drop ALL keeps only the added). An unknown name makes run() throw.
    std::vector<std::string> cap_add;
    std::vector<std::string> cap_drop;
    // UNSAFE, for --privileged only: every capability, no seccomp filter, no no_new_privs,
    // nothing masked. Root in such a container can take over the host.
    bool privileged = false;

    // --userns: the command runs in a user namespace with this mapping, so its root is an
    // unprivileged host user. The layers and the sandbox's own mount points are seen through
    // idmapped mounts (root-owned files in the image are the container root's); the upper
    // directory receives host ids (container id + host_uid), and a tmpfs, /dev and the
    // network files belong to the container's root; a bind shows the host's owners, as
    // with docker's userns-remap. The other namespaces stay the host root's, so even with
    // added capabilities the container cannot mount, set the hostname or configure the
    // network. Incompatible with `privileged` (run() throws). Needs Linux 6.8.
    std::optional<IdMapping> userns;

    // SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to this process while the
    // container runs go to the command instead (through init), as `docker run` passes them
    // on; the container then ends as the command decides, and cleanup runs as after any
    // exit. They are taken on the calling thread: other threads must block them.
    bool forward_signals = false;
    // The whole container is killed (SIGKILL) when it runs longer; Result.timed_out says so.
    std::optional<std::chrono::milliseconds> timeout;
    // docker's -t: the command's stdin, stdout and stderr are a new pseudo-terminal, its
    // controlling terminal; run() relays between it and stdin_fd (unless -1) and stdout_fd,
    // with the window size of stdout_fd's terminal (24x80 when it is none), kept current
    // on SIGWINCH, and stdin_fd's terminal in raw mode meanwhile.
    bool terminal = false;
    // Where the container's stdio goes; -1 means /dev/null.
    int stdin_fd = 0;
    int stdout_fd = 1;
    int stderr_fd = 2;
};

struct Result {
    int exit_code = 0;        // the process's exit status, or 128+signal if killed
    std::optional<int> signal;
    bool oom_killed = false;
    bool timed_out = false;  // killed at Spec.timeout
    // Set when the command could not be executed (exit_code is then 127 for "not found",
    // 126 for "cannot execute", as docker reports): "exec 'foo': No such file or directory".
    std::string exec_error;
};

// Runs spec.argv to completion. Throws strata::Error when the sandbox cannot be set up
// (with the stage that failed, e.g. "mount overlay '/x': Invalid argument"), or for an
// unknown capability name ("unknown capability 'SYS_ADMN'").
Result run(const Spec& spec);

// "out of memory (limit 64 MiB)", for reporting an OOM kill the way users read limits.
std::string describe_oom(const Limits& limits);

// Resolves a docker-style user ("", "name", "uid", "name:group", "uid:gid") against
// etc/passwd and etc/group found in the layers (topmost first). Numeric ids need no files.
struct User {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::uint32_t> groups;
};
User resolve_user(const std::string& user, const std::vector<std::filesystem::path>& lower_dirs_topmost_first);

} // namespace strata::sandbox
