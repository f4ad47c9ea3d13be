#pragma once
// Kernel feature probes, in one place: they gate both the sandbox and the privileged tests.
#include <string>

namespace strata::sandbox {

enum class CgroupVersion { none, v1, v2 };

bool running_as_root();
bool have_overlayfs();           // "overlay" in /proc/filesystems
bool can_create_namespaces();    // unshare mount+pid+uts+ipc in a forked child works
CgroupVersion cgroup_version();  // v2 when /sys/fs/cgroup is cgroup2 (unified), v1 when memory is a v1 hierarchy

// "" when everything the sandbox needs is present; otherwise a human-readable list
// such as "root, overlayfs".
std::string missing_features();

} // namespace strata::sandbox
