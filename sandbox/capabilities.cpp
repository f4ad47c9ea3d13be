// Capability names and docker's --cap-add/--cap-drop arithmetic, all in the parent.
#include "sandbox/privileges.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace strata::sandbox {
namespace {

// Indexed by capability number, as in linux/capability.h.
constexpr std::array<std::string_view, 41> capability_names = {
    "CHOWN",          "DAC_OVERRIDE", "DAC_READ_SEARCH",    "FOWNER",     "FSETID",      "KILL",
    "SETGID",         "SETUID",       "SETPCAP",            "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
    "NET_BROADCAST",  "NET_ADMIN",    "NET_RAW",            "IPC_LOCK",   "IPC_OWNER",   "SYS_MODULE",
    "SYS_RAWIO",      "SYS_CHROOT",   "SYS_PTRACE",         "SYS_PACCT",  "SYS_ADMIN",   "SYS_BOOT",
    "SYS_NICE",       "SYS_RESOURCE", "SYS_TIME",           "SYS_TTY_CONFIG", "MKNOD",   "LEASE",
    "AUDIT_WRITE",    "AUDIT_CONTROL", "SETFCAP",           "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM",     "BLOCK_SUSPEND", "AUDIT_READ",        "PERFMON",    "BPF",         "CHECKPOINT_RESTORE",
};

// "cap_sys_admin" -> "SYS_ADMIN"; "all" -> "ALL".
std::string normalized(const std::string& name) {
    std::string upper = name;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    if (upper.rfind("CAP_", 0) == 0) upper.erase(0, 4);
    return upper;
}

bool mentions_all(const std::vector<std::string>& names) {
    return std::any_of(names.begin(), names.end(), [](const std::string& name) { return normalized(name) == "ALL"; });
}

// The named capabilities, "ALL" skipped (the caller handles it).
CapabilityMask mask_of(const std::vector<std::string>& names) {
    CapabilityMask mask = 0;
    for (const auto& name : names) {
        if (normalized(name) != "ALL") mask |= capability_bit(capability_number(name));
    }
    return mask;
}

} // namespace

int capability_number(const std::string& name) {
    const auto wanted = normalized(name);
    const auto found = std::find(capability_names.begin(), capability_names.end(), wanted);
    if (found == capability_names.end()) throw Error("unknown capability '" + name + "'");
    return static_cast<int>(found - capability_names.begin());
}

std::string capability_name(int number) {
    if (number < 0 || static_cast<std::size_t>(number) >= capability_names.size())
        throw Error("unknown capability number " + std::to_string(number));
    return "CAP_" + std::string(capability_names[static_cast<std::size_t>(number)]);
}

CapabilityMask docker_default_capabilities() {
    CapabilityMask mask = 0;
    for (const char* name : {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                             "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}) {
        mask |= capability_bit(capability_number(name));
    }
    return mask;
}

int last_capability() {
    const auto text = read_file("/proc/sys/kernel/cap_last_cap");
    try {
        const int last = std::stoi(text);
        // Our names stop at CHECKPOINT_RESTORE; newer capabilities stay dropped.
        return std::clamp(last, 0, static_cast<int>(capability_names.size()) - 1);
    } catch (const std::exception&) {
        throw Error("/proc/sys/kernel/cap_last_cap: not a number: '" + text + "'");
    }
}

CapabilityMask all_capabilities(int last_cap) {
    return last_cap >= 63 ? ~CapabilityMask{0} : capability_bit(last_cap + 1) - 1;
}

CapabilityMask resolve_capabilities(const std::vector<std::string>& add, const std::vector<std::string>& drop,
                                    int last_cap) {
    // Validate every name first, whichever rule applies below.
    const CapabilityMask added = mask_of(add);
    const CapabilityMask dropped = mask_of(drop);
    const CapabilityMask supported = all_capabilities(last_cap);
    if (mentions_all(add)) return supported & ~dropped;
    if (mentions_all(drop)) return added & supported;
    return ((docker_default_capabilities() & ~dropped) | added) & supported;
}

} // namespace strata::sandbox
