// The container's filesystem, built inside the child's new mount namespace: the overlay
// root, then /proc, a minimal /dev and a read-only /sys inside it, docker's masks over
// the kernel interfaces in them, then pivot_root, then the spec's extra mounts.
// Paths below the root are relative: the child chdirs into the root after mounting it.
#include "sandbox/child.hpp"
#include "sandbox/privileges.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

int make_dirs_following(const ChildPlan& plan, const char* path, int depth) noexcept;

void must(const ChildPlan& plan, int rc, const char* stage, const char* what, const char* object) noexcept {
    if (rc != 0) child_fail(plan, stage, errno, what, object);
}

void mount_overlay(const ChildPlan& plan) noexcept {
    if (plan.overlay_fd >= 0) {
        must(plan, ::move_mount(plan.overlay_fd, "", AT_FDCWD, plan.root, MOVE_MOUNT_F_EMPTY_PATH), "mount",
             "mount overlay", plan.root);
        ::close(plan.overlay_fd);
        return;
    }
    // mount(2) packs all lowerdirs into one page; relative paths from legacy_dir keep it short.
    if (plan.legacy_dir) must(plan, ::chdir(plan.legacy_dir), "mount", "chdir", plan.legacy_dir);
    must(plan, ::mount("overlay", plan.root, "overlay", 0, plan.legacy_options), "mount", "mount overlay", plan.root);
}

// A host device node bound over an empty file: creating nodes with mknod would not work in
// a user namespace later, and a bind keeps the host's (working) node.
void bind_device(const ChildPlan& plan, const char* host, const char* target) noexcept {
    const int fd = ::open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) child_fail(plan, "dev", errno, "create", target);
    ::close(fd);
    must(plan, ::mount(host, target, nullptr, MS_BIND, nullptr), "dev", "bind mount", host);
}

void mount_dev(const ChildPlan& plan) noexcept {
    must(plan, ::mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, plan.dev_options), "dev", "mount tmpfs", "/dev");
    static const char* const devices[][2] = {{"/dev/null", "dev/null"},       {"/dev/zero", "dev/zero"},
                                             {"/dev/full", "dev/full"},       {"/dev/random", "dev/random"},
                                             {"/dev/urandom", "dev/urandom"}, {"/dev/tty", "dev/tty"}};
    for (const auto& device : devices) bind_device(plan, device[0], device[1]);

    must(plan, ::mkdir("dev/pts", 0755), "dev", "mkdir", "/dev/pts");
    // With a terminal, the devpts the parent made its pty in: the command's tty is then
    // /dev/pts/0 as the container sees it.
    if (plan.devpts_fd >= 0) {
        must(plan, ::move_mount(plan.devpts_fd, "", AT_FDCWD, "dev/pts", MOVE_MOUNT_F_EMPTY_PATH), "dev", "attach devpts",
             "/dev/pts");
    } else {
        must(plan, ::mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
             "dev", "mount devpts", "/dev/pts");
    }
    must(plan, ::mkdir("dev/shm", 01777), "dev", "mkdir", "/dev/shm");
    must(plan, ::mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, plan.shm_options), "dev", "mount tmpfs",
         "/dev/shm");

    static const char* const links[][2] = {{"pts/ptmx", "dev/ptmx"},
                                           {"/proc/self/fd", "dev/fd"},
                                           {"/proc/self/fd/0", "dev/stdin"},
                                           {"/proc/self/fd/1", "dev/stdout"},
                                           {"/proc/self/fd/2", "dev/stderr"}};
    for (const auto& link : links) must(plan, ::symlink(link[0], link[1]), "dev", "symlink", link[1]);
}

void mount_sys(const ChildPlan& plan) noexcept {
    constexpr unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (::mount("sysfs", "sys", "sysfs", flags, nullptr) == 0) return;
    // A fresh sysfs can be refused (it belongs to the network namespace's owner); a
    // read-only bind of the host's is what remains.
    must(plan, ::mount("/sys", "sys", nullptr, MS_BIND | MS_REC, nullptr), "sys", "bind mount", "/sys");
    must(plan, ::mount(nullptr, "sys", nullptr, MS_BIND | MS_REMOUNT | flags, nullptr), "sys", "remount read-only", "/sys");
}

// A file disappears under /dev/null, a directory under an empty read-only tmpfs (as runc
// does); a path this kernel does not have is skipped.
void mask_path(const ChildPlan& plan, const char* path) noexcept {
    struct stat st;
    if (::stat(path, &st) != 0) {
        if (errno == ENOENT) return;
        child_fail(plan, "mask", errno, "stat", path);
    }
    if (S_ISDIR(st.st_mode)) {
        must(plan, ::mount("tmpfs", path, "tmpfs", MS_RDONLY, nullptr), "mask", "mount tmpfs over", path);
    } else {
        must(plan, ::mount("/dev/null", path, nullptr, MS_BIND, nullptr), "mask", "bind /dev/null over", path);
    }
}

// A read-only bind of the path onto itself; proc's own flags are repeated, as a bind
// remount must not clear them.
void make_read_only(const ChildPlan& plan, const char* path) noexcept {
    if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        if (errno == ENOENT) return;
        child_fail(plan, "mask", errno, "bind mount", path);
    }
    must(plan, ::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
         "mask", "remount read-only", path);
}

void mask_kernel_interfaces(const ChildPlan& plan) noexcept {
    // privileges.hpp's lists, relative to the root we are in (before pivot_root).
    for (const char* path : read_only_paths) make_read_only(plan, path + 1);
    for (const char* path : masked_paths) mask_path(plan, path + 1);
}

void bring_up_loopback(const ChildPlan& plan) noexcept {
    const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) child_fail(plan, "network", errno, "socket");
    struct ifreq request {};
    std::memcpy(request.ifr_name, "lo", 3);
    if (::ioctl(sock, SIOCGIFFLAGS, &request) != 0) child_fail(plan, "network", errno, "get flags of", "lo");
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(sock, SIOCSIFFLAGS, &request) != 0) child_fail(plan, "network", errno, "bring up", "lo");
    ::close(sock);
}

// As docker does for a container with its own network: any user may bind ports below
// 1024 there. It matters most for a user-namespaced root, whose capabilities do not reach
// a network namespace that the host's root owns. Written before /proc/sys turns read-only.
void allow_low_ports(const ChildPlan& plan) noexcept {
    const char* path = "proc/sys/net/ipv4/ip_unprivileged_port_start";
    const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return;  // before Linux 4.11
        child_fail(plan, "network", errno, "open", path + 4);
    }
    const ssize_t n = ::write(fd, "0", 1);
    const int error = errno;
    ::close(fd);
    if (n != 1) child_fail(plan, "network", error, "write", path + 4);
}

// pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
// the new root, with no directory needed for the old one.
void pivot_into_root(const ChildPlan& plan) noexcept {
    must(plan, static_cast<int>(::syscall(SYS_pivot_root, ".", ".")), "pivot_root", "pivot_root", plan.root);
    must(plan, ::umount2(".", MNT_DETACH), "pivot_root", "detach old root", "/");
    must(plan, ::chdir("/"), "pivot_root", "chdir", "/");
}

// A target the image lacks was made in the sandbox's own bottom lowerdir by the parent, so
// it normally exists already; what remains is a target inside another extra mount (a
// tmpfs, /dev) or behind a symlink, made here. stat first: opening an existing file for
// writing would copy it up into the diff.
void make_mount_target(const ChildPlan& plan, const ChildMount& mount) noexcept {
    if (mount.is_dir) {
        if (const int error = child_make_dirs_in_root(plan, mount.target))
            child_fail(plan, "mount", error, "mkdir", mount.target);
        return;
    }
    const char* parent = nullptr;  // the deepest; its ancestors come with it
    for (auto dir = mount.parents; *dir; ++dir) parent = *dir;
    if (parent) {
        if (const int error = child_make_dirs_in_root(plan, parent)) child_fail(plan, "mount", error, "mkdir", parent);
    }
    struct stat st;
    if (::stat(mount.target, &st) == 0) return;
    if (errno != ENOENT) child_fail(plan, "mount", errno, "stat mount target", mount.target);
    const int fd = ::open(mount.target, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST) child_fail(plan, "mount", errno, "create mount target", mount.target);
    if (fd >= 0) ::close(fd);
}

// After pivot_root, so that "/" is the container's root and a symlink on the way to a
// target resolves inside it, never to the host's.
void attach_extra_mounts(const ChildPlan& plan) noexcept {
    for (std::size_t i = 0; i < plan.mount_count; ++i) {
        const ChildMount& mount = plan.mounts[i];
        make_mount_target(plan, mount);
        // A target that is a symlink mounts where it leads (inside the root, as we are in it).
        must(plan, ::move_mount(mount.tree_fd, "", AT_FDCWD, mount.target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS),
             "mount", "mount on", mount.target);
        ::close(mount.tree_fd);
    }
}

// One directory of child_make_dirs_in_root's path; `dir` exists afterwards (as a directory,
// or as a symlink leading to one).
int make_one_dir(const ChildPlan& plan, const char* dir, int depth) noexcept {
    if (::mkdir(dir, 0755) == 0) {
        // The container's root made it, as far as the container can tell.
        if (plan.userns_fd >= 0 && ::lchown(dir, plan.root_owner_uid, plan.root_owner_gid) != 0) return errno;
        return 0;
    }
    if (errno != EEXIST) return errno;
    struct stat st;
    if (::stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (errno != ENOENT) return errno;
    // A dangling symlink: make what it names.
    char link[PATH_MAX];
    const ssize_t n = ::readlink(dir, link, sizeof link - 1);
    if (n < 0) return errno;
    link[n] = '\0';
    char target[PATH_MAX] = "";
    if (link[0] != '/') {  // relative to the link's own directory
        const char* slash = std::strrchr(dir, '/');
        const std::size_t keep = slash ? static_cast<std::size_t>(slash - dir) + 1 : 0;
        if (keep + static_cast<std::size_t>(n) >= sizeof target) return ENAMETOOLONG;
        std::memcpy(target, dir, keep);
        target[keep] = '\0';
    }
    std::strcat(target, link);
    return make_dirs_following(plan, target, depth + 1);
}

int make_dirs_following(const ChildPlan& plan, const char* path, int depth) noexcept {
    if (depth > 40) return ELOOP;  // the kernel's own limit on links in one lookup
    char prefix[PATH_MAX];
    const std::size_t length = std::strlen(path);
    if (length == 0 || length >= sizeof prefix) return ENAMETOOLONG;
    std::memcpy(prefix, path, length + 1);
    for (std::size_t end = 1; end <= length; ++end) {
        if (end < length && prefix[end] != '/') continue;
        const char saved = prefix[end];
        prefix[end] = '\0';
        const int error = make_one_dir(plan, prefix, depth);
        prefix[end] = saved;
        if (error) return error;
    }
    return 0;
}

} // namespace

int child_make_dirs_in_root(const ChildPlan& plan, const char* path) noexcept { return make_dirs_following(plan, path, 0); }

void child_enter_root(const ChildPlan& plan) noexcept {
    // Nothing mounted from here on may propagate back to the host.
    must(plan, ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "make mounts private", "/");
    mount_overlay(plan);
    must(plan, ::chdir(plan.root), "mount", "chdir", plan.root);
    must(plan, ::mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr), "proc", "mount proc", "/proc");
    if (plan.new_network) allow_low_ports(plan);
    mount_dev(plan);
    mount_sys(plan);
    if (!plan.privileged) mask_kernel_interfaces(plan);
    must(plan, ::sethostname(plan.hostname, std::strlen(plan.hostname)), "hostname", "sethostname", plan.hostname);
    if (plan.new_network) bring_up_loopback(plan);
    pivot_into_root(plan);
    attach_extra_mounts(plan);
}

} // namespace strata::sandbox
