// Kernel feature probes: each checks the real thing on this machine, once per call.
#include "sandbox/probe.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

#include <cerrno>

#include <linux/magic.h>
#include <sched.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

bool filesystem_is(const char* path, long magic) {
    struct statfs st;
    return ::statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

} // namespace

bool running_as_root() { return ::geteuid() == 0; }

bool have_overlayfs() {
    try {
        // Lines look like "nodev\toverlay".
        return read_file("/proc/filesystems").find("\toverlay\n") != std::string::npos;
    } catch (const Error&) {
        return false;
    }
}

bool can_create_namespaces() {
    // Unshare in a throwaway child: the namespaces must not touch this process.
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        const int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
        ::_exit(::unshare(flags) == 0 ? 0 : 1);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

CgroupVersion cgroup_version() {
    if (filesystem_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC)) return CgroupVersion::v2;
    if (filesystem_is("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC)) return CgroupVersion::v1;
    return CgroupVersion::none;
}

std::string missing_features() {
    std::string missing;
    const auto add = [&](const char* feature) {
        if (!missing.empty()) missing += ", ";
        missing += feature;
    };
    if (!running_as_root()) add("root");
    if (!have_overlayfs()) add("overlayfs");
    if (!can_create_namespaces()) add("namespaces");
    return missing;
}

} // namespace strata::sandbox
