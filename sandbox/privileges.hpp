#pragma once
// What the container's processes may do, decided in the parent: docker's default
// capability set with --cap-add/--cap-drop applied, and docker's default seccomp policy as
// a finished BPF program. The child only applies the results (it may not allocate).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <linux/filter.h>

namespace strata::sandbox {

// One bit per capability number (CAP_CHOWN = bit 0).
using CapabilityMask = std::uint64_t;

constexpr CapabilityMask capability_bit(int number) { return CapabilityMask{1} << number; }

// "CAP_SYS_ADMIN", "SYS_ADMIN" and "sys_admin" -> 21. Throws strata::Error for an unknown name.
int capability_number(const std::string& name);
// 21 -> "CAP_SYS_ADMIN".
std::string capability_name(int number);

// docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID,
// SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE (0xa80425fb).
CapabilityMask docker_default_capabilities();

// Every capability this kernel knows (0 .. /proc/sys/kernel/cap_last_cap).
int last_capability();
CapabilityMask all_capabilities(int last_cap);

// docker's rules for --cap-add/--cap-drop: add ALL gives every capability but the dropped
// ones; otherwise drop ALL keeps only the added ones; otherwise the defaults minus the
// dropped plus the added. Names are checked here, so a typo fails before anything runs.
CapabilityMask resolve_capabilities(const std::vector<std::string>& add, const std::vector<std::string>& drop,
                                    int last_cap);

// docker's default seccomp profile in effect, for a container holding `capabilities`: the
// syscalls docker allows only with some capability (mount with SYS_ADMIN, reboot with
// SYS_BOOT, ...) fail with EPERM without it; those docker never allows (keyctl, kexec_load,
// userfaultfd, ...) always fail with EPERM; clone with namespace flags fails with EPERM and
// clone3 with ENOSYS (so libc falls back to clone). Everything else is allowed: a default
// of "allow" keeps syscalls newer than this list working.
// The same policy as data, one rule per (syscall, argument condition): "fail with errno
// when these hold". SeccompProgram compiles exactly these; strata bundle writes them into an
// OCI runtime config, so that runc applies the same filter.
struct SeccompArg {
    enum class Op { eq, gt, masked_eq };  // masked_eq: (arg & value) == value_two
    unsigned index = 0;
    Op op = Op::eq;
    std::uint64_t value = 0;
    std::uint64_t value_two = 0;
};
struct SeccompRule {
    std::string syscall;
    int error = 0;  // the errno the call fails with
    std::vector<SeccompArg> args;  // all must hold; none: always
};
std::vector<SeccompRule> seccomp_rules(CapabilityMask capabilities);

// docker's MaskedPaths and ReadonlyPaths (moby oci/defaults.go).
inline constexpr const char* masked_paths[] = {"/proc/asound",      "/proc/acpi",        "/proc/kcore",
                                               "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
                                               "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                               "/sys/firmware"};
inline constexpr const char* read_only_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

class SeccompProgram {
public:
    explicit SeccompProgram(CapabilityMask capabilities);
    SeccompProgram(const SeccompProgram&) = delete;
    SeccompProgram& operator=(const SeccompProgram&) = delete;

    // For prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, get()).
    const sock_fprog* get() const { return &program_; }
    std::size_t instruction_count() const { return instructions_.size(); }

private:
    std::vector<sock_filter> instructions_;
    sock_fprog program_{};
};

} // namespace strata::sandbox
